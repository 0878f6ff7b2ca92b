"""The plan's packs: which siblings train together, and how the scheduler runs them."""
from conftest import tiny_spec
from test_scheduler import drain

from engine.config import build_spec, load_spec
from engine.packs import balanced_chunks, pack_key
from engine.plan import build_plan
from engine.scheduler import Scheduler

REPLICATED = [
    "finetune(mode=ftal)",
    "prune(rate=0.5)->finetune(mode=ftal)",
    "prune(rate=0.8)->finetune(mode=ftal)",
    "distill(arch=mlp,epochs=3)",
    "distill(arch=mlp,epochs=3,rep=1)",
    "distill(arch=mlp,epochs=3,rep=2)",
    "distill(arch=cnn,epochs=3)",
    "advtrain(fraction=0.5,epochs=1,steps=2)",
    "advtrain(fraction=0.5,epochs=1,steps=2,rep=1)",
]


def packed_plan(pack=4, **overrides):
    return build_plan(build_spec(tiny_spec(attacks={"list": REPLICATED}, **overrides)), pack=pack)


def test_packs_hold_siblings_that_train_alike_and_never_an_ancestor():
    plan = packed_plan()
    packs = set(plan.packs.values())
    assert packs, "replicated students and the independents must pack"
    for pack in packs:
        assert 2 <= len(pack) <= 4 and list(pack) == sorted(pack)
        assert len({pack_key(plan.nodes[m]) for m in pack}) == 1
        for member in pack:
            assert not set(plan.ancestors(member)) & set(pack)
    distilled = {m for m in plan.nodes if "->distill(arch=mlp," in m}
    assert len(distilled) == 3 and len({plan.packs[m] for m in distilled}) == 1  # replicates pack together
    refined = sorted(m for m in plan.nodes if "->prune(" in m and m.endswith("->finetune(batch=64,data=finetune,"
                                                                             "epochs=10,lr=0.005,mode=ftal,opt=sgd)"))
    assert len(refined) == 2 and plan.packs[refined[0]] == tuple(refined)  # same step on different parents
    assert not any("advtrain" in m for m in plan.packs)  # a per-batch PGD loss trains alone
    assert not any("->distill(arch=cnn," in m for m in plan.packs)  # no sibling to pack with


def test_packs_are_a_function_of_the_spec_and_pack_size():
    assert packed_plan().packs == packed_plan().packs
    assert packed_plan(pack=1).packs == {}
    assert all(len(p) <= 2 for p in packed_plan(pack=2).packs.values())


def test_balanced_chunks_differ_by_at_most_one():
    ids = [str(i) for i in range(9)]
    assert [len(c) for c in balanced_chunks(ids, 4)] == [3, 3, 3]
    assert [len(c) for c in balanced_chunks(ids[:5], 4)] == [3, 2]
    assert sum(balanced_chunks(ids, 4), ()) == tuple(ids)


def test_default_zoo_packs_its_replicates():
    plan = build_plan(load_spec("fingerbench"), pack=4)
    knockoff_cnn = [m for m in plan.nodes if m.endswith(")->knockoff(arch=cnn,batch=64,data=patches,epochs=30,"
                                                        "labels=soft,lr=0.001,opt=adam,queries=2000)")]
    assert knockoff_cnn and all(m in plan.packs for m in knockoff_cnn)


def test_a_pack_trains_each_member_once_after_every_members_inputs():
    plan = packed_plan()
    sched = Scheduler(plan, set(), set(), list(plan.queries))
    order = drain(sched)
    packs = [job for job in order if job.members]
    assert packs and all(set(job.members) == set(plan.packs[job.members[0]]) for job in packs)
    trained_by_packs = [m for job in packs for m in job.members]
    assert len(trained_by_packs) == len(set(trained_by_packs))
    queried = [job.key for job in order if job.kind == "query"]
    assert sorted(queried) == sorted(n.model_id for n in plan.suspects())
    for job in order:  # a packed suspect is queried only after its pack ran
        if job.kind == "query" and job.key in plan.packs:
            pack_at = next(i for i, j in enumerate(order) if job.key in j.members)
            assert pack_at < order.index(job)


def test_a_resumed_pack_trains_only_its_missing_members():
    plan = packed_plan()
    pack = next(p for p in plan.packs.values() if len(p) >= 3)
    done = {pack[0], *[a for m in pack for a in plan.ancestors(m)], plan.fingerprints[0].source_id}
    sched = Scheduler(plan, done, set(), list(plan.queries))
    jobs = [j for j in sched.train_jobs.values() if set(j.members) & set(pack)]
    assert [j.members for j in jobs] == [pack[1:]]


def test_a_failed_parent_drops_its_own_child_but_not_its_pack_mates():
    plan = packed_plan()
    pruned = next(m for m, n in plan.nodes.items() if n.role == "intermediate" and "rate=0.5" in m)
    child = next(m for m, n in plan.nodes.items() if n.parent_id == pruned)
    mates = set(plan.packs[child]) - {child}
    sched = Scheduler(plan, set(), set(), list(plan.queries))
    order = drain(sched, fail_key=pruned)
    assert child in sched.failed and "needs train" in sched.failed[child]
    assert mates and not mates & set(sched.failed)
    assert mates <= {m for job in order for m in job.models if job.kind == "query"}


def test_a_failing_pack_dissolves_and_only_the_member_that_fails_alone_is_dropped():
    plan = packed_plan()
    sched = Scheduler(plan, set(), set(), list(plan.queries))
    pack = next(p for p in plan.packs.values() if any("->distill(arch=mlp," in m for m in p))
    culprit, mates = pack[0], set(pack[1:])
    built = set()
    while not sched.finished():
        job = sched.next_job()
        if job.members == pack:
            assert sched.fail(job, "one member is broken") == []  # nothing is dropped yet
        elif culprit in job.models:
            dropped = sched.fail(job, "broken alone")
            assert {m for j in dropped for m in j.models} == {culprit}
        else:
            built.update(job.models)
            sched.complete(job)
    assert mates <= built and culprit not in built
    assert sched.failed[culprit] == "broken alone"
