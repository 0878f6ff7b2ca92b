"""A method with a `source_recipe` gets its own source and attack suite; negatives are shared."""
from conftest import tiny_spec
from engine.config import build_spec
from engine.plan import build_plan
from methods.ipguard import IPGuard


class MarkedIPGuard(IPGuard):
    """IPGuard on a differently trained source: stands in for a watermark method."""

    def source_recipe(self, source_id):
        return source_id.replace("epochs=15", "epochs=16")


def test_marked_source_has_its_own_lineage(request):
    from methods import METHODS

    METHODS.add("marked", "test_plan_watermark:MarkedIPGuard")
    request.addfinalizer(lambda: METHODS.remove("marked"))
    raw = tiny_spec(methods=[{"name": "ipguard"}, {"name": "marked"}])
    plan = build_plan(build_spec(raw))
    sources = [n for n in plan.suspects() if n.role == "source"]
    assert len(sources) == 2
    clean, marked = (f.source_id for f in plan.fingerprints)
    assert clean != marked and "epochs=16" in marked
    by_method = {f.label: {q.model_id for q in plan.queries if q.method == f.label} for f in plan.fingerprints}
    negatives = {n.model_id for n in plan.suspects() if n.role == "negative"}
    assert negatives <= by_method["ipguard"] and negatives <= by_method["marked"]
    own = {n.model_id for n in plan.suspects() if n.source_id == marked}
    assert len(own) == 1 + len(raw["attacks"]["list"])
    assert by_method["marked"] == own | negatives
    assert not own & by_method["ipguard"]
