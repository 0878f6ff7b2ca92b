"""The ready queue respects the DAG and turns failures into recorded drops."""
from conftest import tiny_spec
from engine.config import build_spec
from engine.plan import build_plan
from engine.scheduler import Scheduler


def fresh(plan):
    return Scheduler(plan, set(), set(), list(plan.queries))


def drain(sched, fail_key=None):
    """Run every job in dispatch order, checking each job's inputs exist when it starts."""
    order = []
    while not sched.finished():
        job = sched.next_job()
        assert job is not None, "nothing ready but not finished: the DAG is stuck"
        for model_id in job.models:
            node = sched.plan.nodes[model_id]
            if node.parent_id:
                assert node.parent_id in sched.models
            if model_id not in sched.models:
                assert node.source_id in sched.models | set(job.models), "built before the source it is compared with"
        if job.kind == "query":
            assert {q.fingerprint_id for q in job.queries} <= sched.fingerprints
        if job.key == fail_key:
            sched.fail(job, "boom")
        else:
            sched.complete(job)
        order.append(job)
    return order


def test_everything_runs_once_parents_first():
    plan = build_plan(build_spec(tiny_spec()))
    order = drain(fresh(plan))
    queried = [j.key for j in order if j.kind == "query"]
    assert sorted(queried) == sorted(n.model_id for n in plan.suspects())
    assert order[0].key == plan.fingerprints[0].source_id  # the source unblocks everything
    assert sum(j.kind == "fingerprint" for j in order) == 1


def test_finished_work_is_not_scheduled_again():
    plan = build_plan(build_spec(tiny_spec()))
    done = {n.model_id for n in plan.nodes.values()}
    pending = plan.queries[:2]
    sched = Scheduler(plan, done, {f.fingerprint_id for f in plan.fingerprints}, pending)
    order = drain(sched)
    assert [j.kind for j in order] == ["query", "query"]


def test_a_failed_parent_drops_its_descendants_only():
    plan = build_plan(build_spec(tiny_spec()))
    pruned = next(n.model_id for n in plan.nodes.values() if n.role == "intermediate")
    sched = fresh(plan)
    order = drain(sched, fail_key=pruned)
    children = {n.model_id for n in plan.nodes.values() if n.parent_id == pruned}
    assert children and children <= set(sched.failed)
    assert all("needs train" in sched.failed[c] for c in children)
    queried = {j.key for j in order if j.kind == "query"} - {pruned}
    assert queried == {n.model_id for n in plan.suspects()} - children


def test_a_failed_source_fails_the_whole_run_cleanly():
    plan = build_plan(build_spec(tiny_spec()))
    sched = fresh(plan)
    source = plan.fingerprints[0].source_id
    drain(sched, fail_key=source)
    assert plan.fingerprints[0].fingerprint_id in sched.failed
    assert sched.finished()
    assert sched.failed[source] == "boom"  # its own reason, not "needs ..." from its query job dropped with it


def test_models_wait_for_the_source_they_are_compared_with():
    """Every model's agreement is measured against its source, so nothing is built before it:
    a second worker that did would train the source a second time."""
    plan = build_plan(build_spec(tiny_spec()))
    sched = fresh(plan)
    source = sched.next_job()
    assert source.key == plan.fingerprints[0].source_id and sched.next_job() is None
    sched.complete(source)
    fingerprint, second = sched.next_job(), sched.next_job()
    assert fingerprint.kind == "fingerprint"
    assert second.kind == "train"  # the second worker builds a suspect while the fingerprint is made


def test_a_lost_source_is_rebuilt_before_models_that_need_it():
    plan = build_plan(build_spec(tiny_spec()))
    source = plan.fingerprints[0].source_id
    independent = next(n.model_id for n in plan.suspects() if n.lineage == "independent")
    stored = {n.model_id for n in plan.nodes.values()} - {source, independent}
    pending = [q for q in plan.queries if q.model_id == independent]
    order = drain(Scheduler(plan, stored, {f.fingerprint_id for f in plan.fingerprints}, pending))
    assert [(j.kind, j.key) for j in order] == [("train", source), ("query", independent)]


def test_multi_step_owner_models_get_their_intermediates_trained(monkeypatch):
    import methods
    from methods.ipguard import IPGuard

    class WithOwners(IPGuard):
        def owner_models(self, source_id):
            return [f"{source_id}->prune(rate=0.3,rep=7)->finetune(data=defender)"]

    monkeypatch.setattr(methods, "get_method", lambda name: WithOwners)
    plan = build_plan(build_spec(tiny_spec()))
    order = drain(fresh(plan))
    owner = plan.fingerprints[0].owner_ids[0]
    trained = [j.key for j in order if j.kind == "train"]
    assert plan.nodes[owner].parent_id in trained and owner in trained


def test_the_longest_expected_job_goes_first_once_its_kind_is_measured():
    """An MLP suspect costs 5 s here and a CNN one 1 s: as soon as every ready suspect's kind
    has been seen, the scheduler learns the means and hands out the slow ones first."""
    plan = build_plan(build_spec(tiny_spec()))
    sched = fresh(plan)
    cost = {"mlp": 5.0, "cnn": 1.0}
    informed = 0
    while not sched.finished():
        ready = [j for j in sched.ready() if j.kind == "query"]
        job = sched.next_job()
        expected = [sched.expected_seconds(j) for j in ready]
        if job.kind == "query" and ready and max(expected) < float("inf"):
            informed += 1
            assert sched.expected_seconds(job) == max(expected)
            assert sched.expected_seconds(job) in cost.values()  # the mean of what was measured
        seconds = cost[plan.nodes[job.key].arch] if job.kind != "fingerprint" else 3.0
        sched.complete(job, seconds=seconds)
    assert informed >= 3


def test_models_a_fingerprint_waits_for_go_before_other_models():
    plan = build_plan(build_spec(tiny_spec(methods=[{"name": "cae"}])))
    order = drain(fresh(plan))
    owner = [i for i, j in enumerate(order) if j.kind == "train" and plan.nodes[j.key].role == "owner"]
    others = [i for i, j in enumerate(order) if j.kind == "train" and plan.nodes[j.key].role == "intermediate"]
    fingerprint = next(i for i, j in enumerate(order) if j.kind == "fingerprint")
    assert owner and others and max(owner) < fingerprint < min(others)
