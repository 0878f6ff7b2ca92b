"""Content-addressed artifact store: model weights and fingerprints.

Each artifact is a safetensors file plus a JSON sidecar, named by a hash of its id
(`engine.rundir.artefact_files`). Both are written to a temporary name and moved
into place, sidecar last, so an artifact exists only once it is complete; the
sidecar records the sha256 of the data file, and every load checks it, so a
damaged file raises `DamagedFile` instead of changing a result. Weights are only ever read with
safetensors: a suspect file that is a pickle (what `torch.save` writes) is refused,
since unpickling an untrusted file can run arbitrary code.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.numpy import load as load_numpy
from safetensors.numpy import save as save_numpy
from safetensors.torch import load as load_torch
from safetensors.torch import save as save_torch

from engine.fs import Location
from engine.rundir import DamagedFile, artefact_files, digest, verified
from zoo.archs import build_arch


class UntrustedFileError(ValueError):
    """A model file that is not plain safetensors (e.g. a pickle) or does not match its sidecar."""


def check_not_pickle(data: bytes, name: str) -> None:
    """Refuse anything that is not laid out as safetensors before a parser touches it.

    A safetensors file starts with an 8-byte little-endian header length and then a
    JSON header; pickles (0x80...) and torch.save zip archives (PK...) do not.
    """
    head = data[:9]
    if len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") <= len(data) - 8:
        return
    if head[:1] == b"\x80" or head[:2] == b"PK":
        kind = "a pickle" if head[:1] == b"\x80" else "a torch.save/zip archive (pickle inside)"
        raise UntrustedFileError(
            f"{name} is {kind}; fpbench never unpickles model files. "
            "Save the state_dict with safetensors.torch.save_file instead."
        )
    raise UntrustedFileError(f"{name} is not a safetensors file")


def weights_from_bytes(data: bytes, name: str) -> dict[str, torch.Tensor]:
    check_not_pickle(data, name)
    try:
        return load_torch(data)
    except (SafetensorError, ValueError) as err:
        raise UntrustedFileError(f"{name} is not a valid safetensors file: {err}") from None


def model_from_weights(state: dict[str, torch.Tensor], name: str, arch: str, input_shape, num_classes: int,
                       device="cpu"):
    model = build_arch(arch, tuple(input_shape), num_classes)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise UntrustedFileError(f"{name} does not hold a {arch} for {tuple(input_shape)}: {err}") from None
    return model.to(device).eval()


def load_model_file(path: str | Path, arch: str, input_shape, num_classes: int, device="cpu"):
    """Build `arch` and load untrusted weights from a local safetensors file into it."""
    state = weights_from_bytes(Path(path).read_bytes(), str(path))
    return model_from_weights(state, str(path), arch, input_shape, num_classes, device)


class ArtifactStore:
    """`models/<hash>.{safetensors,json}` and `fingerprints/<hash>.{safetensors,json}` under `root`."""

    def __init__(self, root: Location | str | Path):
        self.root = root if isinstance(root, Location) else Location(root)

    def _path(self, name: str) -> str:
        return f"{self.root}/{name}"

    def _save(self, kind: str, key: str, data: bytes, sidecar: dict[str, Any]) -> None:
        data_name, sidecar_name = artefact_files(kind, key)
        self.root.write_bytes(data_name, data)
        self.root.write_text(sidecar_name, json.dumps({**sidecar, "sha256": digest(data)}, indent=1, sort_keys=True))

    def sidecar(self, kind: str, key: str) -> dict[str, Any]:
        """The sidecar of a stored artefact, checked to be one and to name `key`."""
        id_field = "model_id" if kind == "models" else "fingerprint_id"
        name = artefact_files(kind, key)[1]
        try:
            record = json.loads(self.root.read_text(name))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise DamagedFile(self._path(name), "not a JSON sidecar") from None
        if not isinstance(record, dict) or record.get(id_field) != key:
            raise DamagedFile(self._path(name), f"does not describe {key!r}")
        return record

    def _load(self, kind: str, key: str) -> tuple[bytes, dict[str, Any]]:
        """The data file's bytes, verified against the checksum in its sidecar, and the sidecar."""
        record = self.sidecar(kind, key)
        name = artefact_files(kind, key)[0]
        if not self.root.exists(name):
            raise DamagedFile(self._path(name), "missing, though its sidecar exists")
        return verified(self.root.read_bytes(name), record.get("sha256"), self._path(name)), record

    def has_model(self, model_id: str) -> bool:
        return self.root.exists(artefact_files("models", model_id)[1])

    def save_model(self, model_id: str, model: torch.nn.Module, info: dict[str, Any]) -> None:
        state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
        self._save("models", model_id, save_torch(state), {"model_id": model_id, **info})

    def model_info(self, model_id: str) -> dict[str, Any]:
        return self.sidecar("models", model_id)

    def load_model(self, model_id: str, device="cpu"):
        data, info = self._load("models", model_id)
        name = self._path(artefact_files("models", model_id)[0])
        state = weights_from_bytes(data, name)
        return model_from_weights(state, name, info["arch"], info["input_shape"], info["num_classes"], device)

    def has_fingerprint(self, fingerprint_id: str) -> bool:
        return self.root.exists(artefact_files("fingerprints", fingerprint_id)[1])

    def save_fingerprint(self, fingerprint_id: str, tensors: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self._save("fingerprints", fingerprint_id, save_numpy(tensors), {"fingerprint_id": fingerprint_id, "meta": meta})

    def load_fingerprint(self, fingerprint_id: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        raw, record = self._load("fingerprints", fingerprint_id)
        check_not_pickle(raw, self._path(artefact_files("fingerprints", fingerprint_id)[0]))
        return load_numpy(raw), record["meta"]

    def verify(self, kind: str, key: str) -> None:
        """Raise `DamagedFile` unless the artefact reads back exactly as it was recorded."""
        self._load(kind, key)
