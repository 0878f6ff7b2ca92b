"""`fpbench status` reads a run from its directory alone: a run killed half-way shows what it did."""
from __future__ import annotations

import contextlib
import io
import json
import re
from collections import Counter

import pytest
from conftest import tiny_spec

from engine.cli import main
from engine.config import build_spec
from engine.plan import build_plan
from engine.rundir import LOCK, PROGRESS
from engine.run import run_spec
from engine.status import run_status

STOP_AFTER = 5  # jobs done before the run is killed


def small_spec():
    return build_spec(tiny_spec(name="status", source={"arch": "cnn", "epochs": 5},
                                attacks={"list": ["finetune(mode=ftal,epochs=2)", "finetune(mode=ftll,epochs=2)",
                                                  "prune(rate=0.5)->finetune(mode=ftal,epochs=2)"]},
                                negatives={"archs": ["mlp"], "seeds": [1, 2, 3]},
                                methods=[{"name": "ipguard", "params": {"n": 20, "steps": 50}}],
                                executor={"device": "cpu", "workers": 1}))


def status_cli(where) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(["status", str(where)])
    return code, out.getvalue()


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """A run interrupted after STOP_AFTER jobs, and what the driver had seen done by then."""
    from engine.progress import RunProgress

    out = tmp_path_factory.mktemp("status") / "run"
    seen: Counter = Counter()
    original = RunProgress.job_done

    def killed_after(self, result):
        original(self, result)
        seen.update(result.events)
        if self.jobs_done == STOP_AFTER:
            raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RunProgress, "job_done", killed_after)
        with pytest.raises(KeyboardInterrupt):
            run_spec(small_spec(), out=out, show_progress=False)
    return out, seen, build_plan(small_spec())


def test_status_of_a_run_killed_half_way_counts_what_it_did(killed):
    out, seen, plan = killed
    status = run_status(str(out))
    assert status.state == "stopped" and status.run_id == plan.run_id
    assert status.total == {"models": len(plan.nodes), "fingerprints": len(plan.fingerprints),
                            "queries": len(plan.queries)}
    assert status.done == {"models": seen["trained"], "fingerprints": seen["fingerprinted"],
                           "queries": seen["queried"]}
    assert 0 < status.done["models"] < status.total["models"] and status.done["queries"] < status.total["queries"]
    assert status.failed == 0 and status.eta_s is None  # nothing runs: no ETA is claimed
    code, text = status_cli(out)
    assert code == 0 and "stopped before it finished" in text
    assert re.search(rf"models +{seen['trained']} / {len(plan.nodes)}\n", text)


def test_status_reads_a_run_at_a_uri(killed):
    out, _, _ = killed
    assert run_status(f"file://{out}").done == run_status(str(out)).done


def test_a_stale_heartbeat_under_a_held_lock_is_reported_as_stalled(killed, tmp_path):
    import shutil

    out, _, _ = killed
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    beat = json.loads((copy / PROGRESS).read_text())
    (copy / PROGRESS).write_text(json.dumps({**beat, "updated_at": "2026-01-01T00:00:00+00:00"}))
    (copy / LOCK).write_text(json.dumps({"host": "elsewhere", "pid": 1, "started": "2026-01-01T00:00:00+00:00"}))
    status = run_status(str(copy))
    assert status.state == "stalled" and status.eta_s is None
    (copy / PROGRESS).write_text("[1, 2")  # a damaged heartbeat: counts still come from the files
    damaged = run_status(str(copy))
    assert damaged.done == status.done and damaged.total is None and "not readable" in damaged.note


def test_status_after_the_run_is_resumed_says_finished(killed, tmp_path):
    import shutil

    out, _, plan = killed
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    run_spec(small_spec(), out=copy, show_progress=False)
    status = run_status(str(copy))
    assert status.state == "finished" and status.done == status.total and status.failed == 0
    assert status.total["queries"] == len(plan.queries) and status.workers


def test_status_of_a_directory_that_is_no_run_is_bad_input(tmp_path):
    code, text = status_cli(tmp_path)
    assert code == 2 and "not a run directory" in " ".join(text.split())


def test_status_while_the_run_goes_reports_it_running_with_an_eta(tmp_path, monkeypatch):
    """Asked from inside the run (as another shell would, from the files), after the third job."""
    from engine.progress import RunProgress

    out, seen, asked = tmp_path / "run", Counter(), []
    original = RunProgress.job_done

    def ask_status(self, result):
        original(self, result)
        seen.update(result.events)
        if self.jobs_done == 3:
            asked.append((run_status(str(out)), dict(seen)))

    monkeypatch.setattr(RunProgress, "job_done", ask_status)
    run_spec(small_spec(), out=out, show_progress=False)
    status, seen_then = asked[0]
    assert status.state == "running" and status.eta_s is not None and set(status.workers) == {"local"}
    assert status.done == {"models": seen_then.get("trained", 0), "fingerprints": seen_then.get("fingerprinted", 0),
                           "queries": seen_then.get("queried", 0)}
    assert status.total["queries"] == len(build_plan(small_spec()).queries)
