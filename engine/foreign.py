"""Suspects fpbench did not train: a weights file, an ONNX file, or a live prediction API.

Each is untrusted. Weights are read with safetensors only and must fit a registered
architecture exactly (`engine.store.load_model_file`); ONNX files run in
onnxruntime on the CPU (or CUDA when present); a size bound refuses anything larger
than a model should be, and a pickle or `torch.save` archive is refused with how to
convert it. An HTTP suspect receives JSON batches `{"inputs": [...]}` (N x C x H x W
floats) and answers `{"logits": [[...], ...]}` or `{"labels": [...]}`; requests time
out, are retried with exponential back-off, are spaced to a request-rate limit, and
stop at a maximum number of queries; any failure is a `SuspectError` naming the
endpoint and the reason, never a hang.

What a suspect reveals sets which methods can judge it: weights give white-box
access, ONNX files and logit APIs give logits, a label API labels only
(`applicable`). A suspect's id is the SHA-256 of its file (or of its URL), so a
result names exactly the weights it came from.
"""
from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.safe_files import read_bytes
from engine.store import UntrustedFileError, check_not_pickle

MAX_MODEL_BYTES = 2 << 30  # 2 GiB: larger than any model the papers use
ACCESS_ORDER = ("labels", "logits", "white-box")  # each level reveals everything the ones before it do


class SuspectError(ValueError):
    """A suspect that cannot be read or queried; the message names it and says why."""


def applicable(method_access: str, suspect_access: str) -> bool:
    """Whether a method needing `method_access` can judge a suspect that reveals `suspect_access`."""
    return ACCESS_ORDER.index(method_access) <= ACCESS_ORDER.index(suspect_access)


@dataclass
class WeightsSuspect:
    """A safetensors state dict of a registered architecture: white-box."""

    path: str
    arch: str
    access: str = "white-box"

    @property
    def suspect_id(self) -> str:
        return f"weights({self.arch},sha256={file_sha256(self.path)})"

    def model(self, input_shape, num_classes: int, device="cpu"):
        from engine.store import model_from_weights, weights_from_bytes

        data = read_bytes(self.path, MAX_MODEL_BYTES)
        try:
            state = weights_from_bytes(data, self.path)
            return model_from_weights(state, self.path, self.arch, input_shape, num_classes, device)
        except UntrustedFileError as err:
            raise SuspectError(str(err)) from None


@dataclass
class OnnxSuspect:
    """Any framework's model exported to ONNX: logits only."""

    path: str
    access: str = "logits"
    _session: object = field(default=None, repr=False)

    @property
    def suspect_id(self) -> str:
        return f"onnx(sha256={file_sha256(self.path)})"

    def predict(self, x: np.ndarray) -> np.ndarray:
        session = self._session or self._open()
        name = session.get_inputs()[0].name
        try:
            out = session.run(None, {name: np.ascontiguousarray(x, dtype=np.float32)})[0]
        except Exception as err:  # onnxruntime raises its own exception types
            raise SuspectError(f"{self.path}: the ONNX model failed on inputs of shape {x.shape}: {err}") from None
        return check_answers(np.asarray(out), len(x), self.path, "logits")

    def _open(self):
        try:
            import onnxruntime
        except ImportError:
            raise SuspectError("ONNX suspects need onnxruntime: pip install 'fpbench[onnx]'") from None
        data = read_bytes(self.path, MAX_MODEL_BYTES)
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                     if p in onnxruntime.get_available_providers()]
        try:
            self._session = onnxruntime.InferenceSession(data, providers=providers)
        except Exception as err:
            raise SuspectError(f"{self.path} is not a readable ONNX model: {err}") from None
        return self._session


@dataclass
class HttpSuspect:
    """A live prediction API: logits or labels, over JSON."""

    url: str
    returns: str = "logits"  # what the API answers: logits | labels
    timeout_s: float = 10.0
    retries: int = 3
    backoff_s: float = 0.5
    max_rate: float = 20.0  # requests per second
    max_queries: int = 10_000
    batch: int = 64
    queried: int = 0
    _last: float = 0.0

    @property
    def access(self) -> str:
        return self.returns

    @property
    def suspect_id(self) -> str:
        return f"url(sha256={hashlib.sha256(self.url.encode()).hexdigest()})"

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.queried + len(x) > self.max_queries:
            raise SuspectError(f"{self.url}: {len(x)} more queries would pass the limit of {self.max_queries}")
        answers = [self._post(x[i:i + self.batch]) for i in range(0, len(x), self.batch)]
        self.queried += len(x)
        return np.concatenate(answers) if answers else np.empty((0,))

    def _post(self, x: np.ndarray) -> np.ndarray:
        body = json.dumps({"inputs": np.asarray(x, dtype=np.float32).tolist()}).encode()
        error = "no attempt"
        for attempt in range(self.retries + 1):
            wait = self._last + 1.0 / self.max_rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last = time.monotonic()
            request = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    reply = json.loads(response.read(64 << 20))
                return check_answers(np.asarray(reply[self.returns]), len(x), self.url, self.returns)
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as err:
                error = f"unreachable ({getattr(err, 'reason', err)})"
            except (ValueError, KeyError, TypeError) as err:
                raise SuspectError(f"{self.url}: malformed answer ({err}); expected JSON with {self.returns!r}") \
                    from None
            if attempt < self.retries:
                time.sleep(self.backoff_s * 2 ** attempt)
        raise SuspectError(f"{self.url}: {error} after {self.retries + 1} attempts")


def check_answers(answers: np.ndarray, n: int, where: str, kind: str) -> np.ndarray:
    """Logits as (n, classes) float32, or labels as (n,) int64; else a SuspectError naming `where`."""
    if kind == "labels":
        if answers.shape != (n,) or not np.issubdtype(answers.dtype, np.integer):
            raise SuspectError(f"{where}: expected {n} integer labels, got shape {answers.shape} {answers.dtype}")
        return answers.astype(np.int64)
    if answers.ndim != 2 or len(answers) != n or not np.issubdtype(answers.dtype, np.number):
        raise SuspectError(f"{where}: expected {n} rows of logits, got shape {answers.shape}")
    return answers.astype(np.float32)


def file_sha256(path: str) -> str:
    data = read_bytes(path, MAX_MODEL_BYTES)
    return hashlib.sha256(data).hexdigest()


def open_suspect(where: str, arch: str | None = None, returns: str = "logits"):
    """A suspect from a path or URL: *.safetensors (needs `arch`), *.onnx, or http(s)://."""
    if where.startswith(("http://", "https://")):
        return HttpSuspect(where, returns=returns)
    path = Path(where)
    if not path.is_file():
        raise SuspectError(f"{where}: no such file")
    with path.open("rb") as handle:
        head = handle.read(2)
    if head[:1] == b"\x80" or head[:2] == b"PK":  # a pickle or a torch.save archive: say how to convert it
        try:
            check_not_pickle(head, where)
        except UntrustedFileError as err:
            raise SuspectError(str(err)) from None
    if path.suffix == ".onnx":
        return OnnxSuspect(where)
    if path.suffix == ".safetensors":
        if not arch:
            raise SuspectError(f"{where}: a weights file needs its architecture (--arch)")
        return WeightsSuspect(where, arch)
    raise SuspectError(f"{where}: expected a .safetensors weights file, an .onnx model or an http(s):// URL")
