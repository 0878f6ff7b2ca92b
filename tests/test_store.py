"""The artifact store round-trips weights, never unpickles a model file, never loads a damaged one."""
import json
import pickle

import numpy as np
import pytest
import torch

from engine.rundir import DamagedFile, digest
from engine.store import ArtifactStore, UntrustedFileError, load_model_file
from zoo.archs import build_arch

INFO = {"arch": "cnn", "input_shape": [1, 8, 8], "num_classes": 10}


def test_model_round_trip(tmp_path):
    store = ArtifactStore(tmp_path)
    torch.manual_seed(0)
    model = build_arch("cnn", (1, 8, 8), 10).eval()
    store.save_model("m1", model, INFO)
    assert store.has_model("m1") and not store.has_model("m2")
    loaded = store.load_model("m1")
    x = torch.rand(4, 1, 8, 8)
    assert torch.equal(model(x), loaded(x))
    assert not list(tmp_path.rglob("*.tmp"))


class Boom:
    def __reduce__(self):
        import os

        return (os.system, ("touch /tmp/fpbench-pwned",))


@pytest.mark.parametrize("writer", ["pickle", "torch.save", "garbage"])
def test_untrusted_model_files_are_refused(tmp_path, writer):
    path = tmp_path / "suspect.safetensors"
    if writer == "pickle":
        path.write_bytes(pickle.dumps({"weight": Boom()}))
    elif writer == "torch.save":
        torch.save(build_arch("cnn", (1, 8, 8), 10).state_dict(), path)
    else:
        path.write_bytes(b"not a model at all, just bytes")
    with pytest.raises(UntrustedFileError) as err:
        load_model_file(path, "cnn", (1, 8, 8), 10)
    assert str(path) in str(err.value)
    if writer != "garbage":
        assert "never unpickles" in str(err.value)


def test_weights_of_another_architecture_are_refused(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "mlp.safetensors"
    save_file(build_arch("mlp", (1, 8, 8), 10).state_dict(), str(path))
    with pytest.raises(UntrustedFileError, match="does not hold a cnn"):
        load_model_file(path, "cnn", (1, 8, 8), 10)


def test_a_pickle_swapped_into_the_store_is_refused(tmp_path):
    store = ArtifactStore(tmp_path)
    store.save_model("m1", build_arch("cnn", (1, 8, 8), 10), INFO)
    weights = next((tmp_path / "models").glob("*.safetensors"))
    weights.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(DamagedFile, match="checksum mismatch"):
        store.load_model("m1")
    sidecar = weights.with_suffix(".json")  # a forger who also rewrites the recorded checksum
    record = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**record, "sha256": digest(weights.read_bytes())}))
    with pytest.raises(UntrustedFileError, match="is a pickle"):
        store.load_model("m1")


@pytest.mark.parametrize("damage", ["flip", "truncate", "no checksum", "missing"])
def test_a_damaged_artefact_is_never_loaded(tmp_path, damage):
    store = ArtifactStore(tmp_path)
    store.save_model("m1", build_arch("cnn", (1, 8, 8), 10), INFO)
    store.save_fingerprint("f", {"inputs": np.zeros((2, 1, 8, 8), np.float32)}, {})
    for kind, load in (("models", lambda: store.load_model("m1")), ("fingerprints", lambda: store.load_fingerprint("f"))):
        data = next((tmp_path / kind).glob("*.safetensors"))
        raw = bytearray(data.read_bytes())
        if damage == "flip":
            raw[len(raw) // 2] ^= 0x01
            data.write_bytes(bytes(raw))
        elif damage == "truncate":
            data.write_bytes(bytes(raw[:-4]))
        elif damage == "missing":
            data.unlink()
        else:
            sidecar = data.with_suffix(".json")
            sidecar.write_text(json.dumps({k: v for k, v in json.loads(sidecar.read_text()).items() if k != "sha256"}))
        with pytest.raises(DamagedFile, match=str(data.name)):
            load()


def test_fingerprint_round_trip(tmp_path):
    store = ArtifactStore(tmp_path)
    tensors = {"inputs": np.random.rand(3, 1, 8, 8).astype(np.float32), "labels": np.arange(3)}
    store.save_fingerprint("f", tensors, {"k": 1.0})
    loaded, meta = store.load_fingerprint("f")
    assert np.array_equal(loaded["inputs"], tensors["inputs"]) and meta == {"k": 1.0}
