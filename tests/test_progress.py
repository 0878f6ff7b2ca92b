"""Progress off a terminal: plain lines with an ETA while the run goes, and the end-of-run summary."""
from __future__ import annotations

import contextlib
import io
import json
import re
from types import SimpleNamespace

import pytest

from engine.cli import main
from engine.config import load_spec
from engine.eta import Estimator
from engine.plan import build_plan
from engine.progress import Counts, RunProgress
from engine.scheduler import Job

SMALL = """
name = "small"
seed = 0
[dataset]
name = "digits"
[source]
arch = "cnn"
epochs = 5
[attacks]
list = ["finetune(mode=ftal,epochs=2)", "prune(rate=0.5)->finetune(mode=ftal,epochs=2)"]
[negatives]
archs = ["mlp"]
seeds = [1, 2]
[[methods]]
name = "ipguard"
params = {n = 20, steps = 50}
[executor]
device = "cpu"
workers = 1
"""
LINE = re.compile(r"progress: models (\d+)/(\d+), fingerprints (\d+)/(\d+), queries (\d+)/(\d+), "
                  r"failed (\d+), elapsed \S+, ETA (\S+)$")


def run_cli(argv: list[str]) -> tuple[int, str]:
    """main(argv) with stdout captured: not a terminal, as under `nohup`, in CI or piped to a file."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(argv)
    return code, out.getvalue()


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("spec") / "small.toml"
    path.write_text(SMALL)
    return path


@pytest.fixture(scope="module")
def piped_run(spec_file):
    run = spec_file.parent / "run"
    code, stdout = run_cli(["run", str(spec_file), "--out", str(run)])
    return code, stdout, run, build_plan(load_spec(spec_file))


def test_a_piped_run_prints_progress_lines_with_an_eta(piped_run):
    code, stdout, _, plan = piped_run
    assert code == 0
    lines = [m.groups() for m in map(LINE.search, stdout.splitlines()) if m]
    totals = (len(plan.nodes), len(plan.fingerprints), len(plan.queries))
    assert lines and all((int(g[1]), int(g[3]), int(g[5])) == totals for g in lines)
    before_end = [g for g in lines if int(g[4]) < int(g[5])]
    assert any(re.fullmatch(r"\d+(\.\d)?s|\d+m\d\ds|\d+h\d\dm", g[7]) for g in before_end)  # an ETA while work was left
    last = lines[-1]
    assert (int(last[0]), int(last[2]), int(last[4])) == totals and last[6] == "0"
    assert "\x1b[" not in stdout  # no live view's escape codes in a log


def test_the_summary_is_printed_and_kept_in_run_json(piped_run):
    _, stdout, run, plan = piped_run
    summary = json.loads((run / "run.json").read_text())["summary"]
    jobs = summary["jobs"]
    assert jobs >= 1 + len(plan.fingerprints) + len(plan.suspects()) - 2  # pairs of siblings may train in a pack
    assert summary["methods"]["ipguard"]["queries"] == len(plan.queries)
    assert len(summary["slowest_jobs"]) == min(10, jobs)
    seconds = [j["seconds"] for j in summary["slowest_jobs"]]
    assert seconds == sorted(seconds, reverse=True)
    assert sum(summary["busy_s_by_worker"].values()) == pytest.approx(summary["busy_s"], abs=0.05)
    families = {node.attack for node in plan.nodes.values()}
    assert set(summary["train_s_by_family"]) <= families and "source" in summary["train_s_by_family"]
    assert [c["at_share"] for c in summary["eta"]["predicted"]] == [0.25, 0.5, 0.75]
    assert summary["eta"]["actual_total_s"] == pytest.approx(summary["wall_s"], abs=0.1)
    assert "wall time" in stdout and "slowest jobs:" in stdout and "ETA check:" in stdout


def test_a_finished_run_run_again_prints_no_progress_and_keeps_its_summary(piped_run, spec_file):
    _, _, run, _ = piped_run
    before = (run / "run.json").read_bytes()
    code, stdout = run_cli(["run", str(spec_file), "--out", str(run)])
    assert code == 0 and not LINE.search(stdout) and (run / "run.json").read_bytes() == before


class StubScheduler(SimpleNamespace):
    """What the estimator reads of a scheduler: the jobs left and the learned seconds per kind."""

    def expected_seconds(self, job: Job) -> float:
        return self.learned.get(job.key, float("inf"))

    def jobs_left(self) -> int:
        return len(self.fp_jobs) + len(self.train_jobs) + len(self.query_jobs)


def stub(**learned) -> StubScheduler:
    train = {k: Job("train", k) for k in ("a", "b")}
    query = {"q": Job("query", "q")}
    return StubScheduler(fp_jobs={}, train_jobs=train, query_jobs=query, running={query["q"]}, models={"q"},
                         failed={}, learned=learned)


def test_the_eta_is_learned_seconds_times_the_work_left_over_the_workers():
    estimator = Estimator()
    assert estimator.eta(stub(), 2) is None  # nothing measured yet
    assert estimator.eta(stub(a=10.0, b=10.0, q=4.0), 2) == pytest.approx((10 + 10 + 4 / 2) / 2)
    assert estimator.eta(stub(a=30.0, b=1.0, q=1.0), 4) == pytest.approx(30.0)  # the longest job bounds it
    estimator.measured("train", True, 6.0)
    estimator.measured("query", False, 2.0)
    assert estimator.eta(stub(), 1) == pytest.approx(6 + 6 + 2 / 2)  # unseen kinds: their coarse kind's mean


def test_the_live_view_and_the_heartbeat_carry_the_eta():
    sched = stub(a=8.0, b=8.0, q=2.0)
    counts = Counts(total={"models": 3, "fingerprints": 0, "queries": 1}, done={"models": 0, "fingerprints": 0,
                                                                              "queries": 0})
    beats = []
    with RunProgress(counts, enabled=False) as progress:
        progress.track(sched, 2)
        progress.heartbeat(3600.0, beats.append)
        notes = [t.fields.get("note") for t in progress.progress.tasks]
        assert notes[0] == "run ETA 8.5s"  # (8 + 8 + 2/2) / 2
        progress.finish()
    assert beats[0]["eta_s"] == pytest.approx(8.5, abs=0.2) and not beats[0]["finished"]
    assert beats[-1]["finished"] and beats[-1]["eta_s"] == 0.0 and beats[-1]["total"] == counts.total
