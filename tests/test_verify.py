"""`fpbench verify`: one suspect from a weights file, an ONNX file or a live API, judged with a run's fingerprint."""
from __future__ import annotations

import json
import pickle
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import torch
from conftest import tiny_spec
from safetensors.torch import save_file

from engine.cli import main
from engine.config import build_spec
from engine.foreign import HttpSuspect, SuspectError, applicable, open_suspect
from engine.fs import Location
from engine.run import run_spec
from engine.store import ArtifactStore
from engine.verify import verify
from zoo.archs import build_arch


FTAL = "finetune(batch=64,data=finetune,epochs=10,lr=0.005,mode=ftal,opt=sgd)"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished tiny run, and its fine-tuned copy's model as the owner would find it in the wild."""
    out = tmp_path_factory.mktemp("verify") / "run"
    spec = build_spec(tiny_spec(attacks={"list": ["finetune(mode=ftal)", "finetune(mode=ftll)"]},
                                negatives={"archs": ["cnn", "mlp"], "seeds": [1, 2, 3, 4]}))
    run_spec(spec, out=out, show_progress=False)
    stolen = ArtifactStore(Location(str(out)) / "store").load_model(f"{spec.source_id}->{FTAL}")
    return out, stolen


def stolen_copy(run):
    return run[1]


def write_weights(model, path):
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return str(path)


def innocent():
    torch.manual_seed(99)
    return build_arch("cnn", (1, 8, 8), 10).eval()


def test_a_stolen_weights_file_is_caught_and_an_innocent_one_is_not(run, tmp_path):
    out, _ = run
    stolen = verify(out, "ipguard", write_weights(stolen_copy(run), tmp_path / "copy.safetensors"), arch="cnn")
    assert stolen.verdict == "stolen" and stolen.score > stolen.threshold and stolen.n_cal_neg >= 1
    assert stolen.suspect_id.startswith("weights(cnn,sha256=") and stolen.access == "white-box"
    clean = verify(out, "ipguard", write_weights(innocent(), tmp_path / "other.safetensors"), arch="cnn")
    assert clean.verdict == "not shown stolen" and clean.score <= clean.threshold
    assert clean.threshold == stolen.threshold  # the run's calibrated threshold, whatever the suspect


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the TorchScript exporter: onnxscript is not installed
def test_onnx_and_http_suspects_get_the_weights_files_score(run, tmp_path):
    out, _ = run
    model = stolen_copy(run)
    weights = verify(out, "ipguard", write_weights(model, tmp_path / "copy.safetensors"), arch="cnn")
    onnx_path = tmp_path / "copy.onnx"
    torch.onnx.export(model, torch.zeros(1, 1, 8, 8), str(onnx_path), dynamo=False, input_names=["x"],
                      dynamic_axes={"x": {0: "n"}})
    onnx = verify(out, "ipguard", str(onnx_path))
    assert onnx.access == "logits" and onnx.score == pytest.approx(weights.score) and onnx.verdict == "stolen"
    with serve(model) as url:
        http = verify(out, "ipguard", url)
        labels = verify(out, "ipguard", url + "?labels", returns="labels")
    assert http.score == pytest.approx(weights.score) and labels.score == pytest.approx(weights.score)
    assert labels.access == "labels" and http.suspect_id.startswith("url(sha256=")


def test_cli_prints_json_and_refuses_pickles(run, tmp_path, capsys):
    out, _ = run
    path = write_weights(stolen_copy(run), tmp_path / "copy.safetensors")
    assert main(["verify", str(out), "--method", "ipguard", "--suspect", path, "--arch", "cnn", "--json"]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["verdict"] == "stolen" and verdict["target_fpr"] == 0.05 and 0 <= verdict["score"] <= 1
    pickled = tmp_path / "model.safetensors"
    pickled.write_bytes(pickle.dumps({"weight": [1.0]}))
    assert main(["verify", str(out), "--method", "ipguard", "--suspect", str(pickled), "--arch", "cnn"]) == 2
    assert "never unpickles" in " ".join(capsys.readouterr().err.split())
    assert main(["verify", str(out), "--method", "nope", "--suspect", path, "--arch", "cnn"]) == 2
    assert "ipguard" in capsys.readouterr().err


def test_access_levels_decide_what_applies():
    assert applicable("labels", "logits") and applicable("logits", "white-box") and applicable("labels", "labels")
    assert not applicable("logits", "labels") and not applicable("white-box", "logits")


def test_unreachable_and_malformed_endpoints_fail_fast_with_their_reason():
    dead = HttpSuspect("http://127.0.0.1:9/predict", timeout_s=0.5, retries=1, backoff_s=0.01)
    with pytest.raises(SuspectError, match="unreachable.*2 attempts"):
        dead.predict(np.zeros((2, 1, 8, 8), np.float32))
    with serve(None) as url:  # answers garbage
        with pytest.raises(SuspectError, match="malformed"):
            HttpSuspect(url, retries=0).predict(np.zeros((2, 1, 8, 8), np.float32))
    limited = HttpSuspect("http://127.0.0.1:9/predict", max_queries=3)
    with pytest.raises(SuspectError, match="limit of 3"):
        limited.predict(np.zeros((4, 1, 8, 8), np.float32))
    with pytest.raises(SuspectError, match="no such file"):
        open_suspect("/nonexistent/model.onnx")


class serve:
    """A prediction API on 127.0.0.1 for the test: logits of `model` (labels with ?labels), or garbage."""

    def __init__(self, model):
        self.model = model

    def __enter__(self) -> str:
        model = self.model

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if model is None:
                    reply = b"not json"
                else:
                    with torch.no_grad():
                        logits = model(torch.tensor(body["inputs"]))
                    answer = {"labels": logits.argmax(1).tolist()} if "labels" in self.path else \
                        {"logits": logits.tolist()}
                    reply = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_port}/predict"

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
