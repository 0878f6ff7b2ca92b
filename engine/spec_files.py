"""The parts of a spec that name things outside fpbench: model files and other data sets' copies.

A model file (`[source] file`, `[[suspects]]`) is untrusted: it must be safetensors,
under a size bound, and is never unpickled; its id is a `weights` root step naming the
file's SHA-256, so a result is tied to exactly those bytes. `[dataset] pools` names
other registered data sets' local copies an attack may draw images from.
"""
from __future__ import annotations

import hashlib

from engine.spec_errors import SpecError, choice
from zoo.spec import Derivation, Step, canonical

MAX_MODEL_FILE_BYTES = 2 << 30  # 2 GiB: larger than any model the papers use
SUSPECT_LABELS = ("positive", "negative", "unknown")  # unknown: scored, never counted in AUC/ARUC


def model_file_sha256(path: str, where: str) -> str:
    """The sha256 of a model file a spec names: a safetensors file, size-bounded, never a pickle."""
    from engine.safe_files import UnsafeFileError, read_bytes

    try:
        data = read_bytes(path, MAX_MODEL_FILE_BYTES)
    except (UnsafeFileError, OSError) as err:
        raise SpecError(where, str(err)) from None
    head = data[:9]
    if not (len(head) == 9 and head[8:9] == b"{"):
        kind = "a pickle or torch.save archive" if data[:1] == b"\x80" or data[:2] == b"PK" else "not safetensors"
        raise SpecError(where, f"{path} is {kind}; fpbench never unpickles model files: save the "
                               "state_dict with safetensors.torch.save_file")
    return hashlib.sha256(data).hexdigest()


def weights_id(arch: str, dataset: str, sha256: str, seed: int) -> str:
    """The id of a model loaded from a file (zoo.weights_file)."""
    params = {"arch": arch, "dataset": dataset, "sha256": sha256, "seed": seed}
    return str(canonical(Derivation((Step.of("weights", params),))))


def external_suspects(entries: list, dataset: str, seed: int) -> tuple[tuple[tuple[str, str], ...], dict[str, str]]:
    """`[[suspects]]`: models fpbench did not train, each (id, role), and {sha256: path}."""
    from zoo.archs import list_archs

    out, files = [], {}
    for i, entry in enumerate(entries):
        where = f"suspects[{i}]"
        if not isinstance(entry, dict):
            raise SpecError(where, 'expected a table like { file = "model.safetensors", arch = "cnn", label = "positive" }')
        if "onnx" in entry or "url" in entry:
            kind = "onnx" if "onnx" in entry else "url"
            raise SpecError(f"{where}.{kind}", "ONNX files and HTTP endpoints are judged one at a time with "
                                               "`fpbench verify RUN_DIR --method M --suspect ...`; a spec lists "
                                               "weights files (file = ..., arch = ...)")
        unknown = sorted(set(entry) - {"file", "arch", "label"})
        if unknown:
            raise SpecError(f"{where}.{unknown[0]}", "unknown field; allowed: arch, file, label")
        for key in ("file", "arch"):
            if not isinstance(entry.get(key), str):
                raise SpecError(f"{where}.{key}", f"a weights file and its architecture are needed, got {entry.get(key)!r}")
        arch = choice(f"{where}.arch", entry["arch"], list_archs())
        role = choice(f"{where}.label", entry.get("label", "unknown"), list(SUSPECT_LABELS))
        sha256 = model_file_sha256(entry["file"], f"{where}.file")
        model_id = weights_id(arch, dataset, sha256, seed)
        if model_id in {m for m, _ in out}:
            raise SpecError(f"{where}.file", f"{entry['file']} holds the same weights as an earlier entry")
        out.append((model_id, role))
        files[sha256] = entry["file"]
    return tuple(out), files


def pools(table: dict, dataset: str) -> dict[str, str]:
    """`[dataset] pools`: registered data set name -> its local copy, other than the run's own."""
    from zoo.datasets import list_datasets

    for name, root in table.items():
        choice(f"dataset.pools.{name}", name, [d for d in list_datasets() if d != dataset])
        if not isinstance(root, str) or not root.strip():
            raise SpecError(f"dataset.pools.{name}", f"expected the path of a local copy, got {root!r}")
    return dict(table)
