"""`weights(arch,dataset,sha256=...)`: a source the owner already has, loaded from a safetensors file.

An owner benchmarks the methods around *their* model: the spec names the file
(`[source] file`, `arch`), the id names its content (SHA-256), and every attack of
the suite is applied to it as to a trained source. The file is read with safetensors
only, checked against the id's hash when it is loaded (a file changed since the spec
was read is refused), and must fit the architecture exactly. The step keeps `train`'s
recipe parameters (the data set's recipe by default): they say how owner-side models
and mirror negatives are trained, since no recipe of the file's own is known.
"""
from __future__ import annotations

import hashlib
import re

from zoo.spec import DerivationError
from zoo.steps import StepContext
from zoo.train import Train

MAX_WEIGHTS_BYTES = 2 << 30  # 2 GiB: larger than any model the papers use
_SHA256 = re.compile(r"[0-9a-f]{64}")


class WeightsFile(Train):
    name = "weights"
    required = ("arch", "dataset", "sha256")
    summary = "an existing model loaded from a safetensors file ([source] file); its id names the file's sha256"

    @classmethod
    def check(cls, params):
        super().check(params)
        if not isinstance(params["sha256"], str) or not _SHA256.fullmatch(params["sha256"]):
            raise DerivationError(f"weights(sha256={params['sha256']!r}) must be 64 lower-case hex digits")

    @classmethod
    def packable(cls, params) -> bool:
        return False  # nothing trains

    def apply(self, parent, params, ctx: StepContext):
        from engine.safe_files import read_bytes
        from engine.store import UntrustedFileError, model_from_weights, weights_from_bytes

        self.check_data(params, ctx.data)
        path = ctx.files.get(params["sha256"])
        if path is None:
            raise DerivationError(f"weights(sha256={params['sha256'][:12]}...): the spec gives no such file "
                                  "([source] file)")
        data = read_bytes(path, MAX_WEIGHTS_BYTES)
        if hashlib.sha256(data).hexdigest() != params["sha256"]:
            raise UntrustedFileError(f"{path} changed since the spec was read (its sha256 is not the id's)")
        state = weights_from_bytes(data, path)
        return model_from_weights(state, path, params["arch"], ctx.data.input_shape, ctx.data.num_classes, ctx.device)
