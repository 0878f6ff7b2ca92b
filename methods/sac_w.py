"""SAC-w (Guan, Liang, He, NeurIPS 2022): sample correlation on wrongly classified images.

SAC's first variant queries with held-out images the source gets *wrong*: where a
model errs is idiosyncratic, and a stolen copy inherits the errors together with
the correlations between its answers. The official evaluation loads a
"common" misclassified set (`dataset_common.h5`), separate from the source-only
set it calls "SAC-source"; the paper introduces SAC-m to avoid "training the
surrogate models", so "common" means wrong for the source AND for surrogate models
the owner trained. The selection script itself is not in the repo.

Here: the pool is the owner's held-out `test` split in split order; a sample is
"common" wrong when the source and every owner surrogate misclassify it. The
surrogates are the owner's extraction students (`methods.cae.surrogate_ids`: soft-
label extraction on the owner's `defender` data, never an evaluation suspect; the
same ids as CAE's and UAP's, so a run trains them once). Fingerprint: the first
N = min(`n`, available) selected images and the source's SAC correlation matrix on
them; score = -mean|C_src - C_suspect| (`methods.correlation`), higher = more
likely stolen, and any output width works (transferred suspects).

What differs at digits scale and why: a 96%-accurate source misclassifies only
about 7 of the 185 held-out digits (the paper's CIFAR-10 test set gives thousands),
so N is that small. The selection falls back step by step, and `meta["selection"]`
records which rule produced the queries: "common" if at least `min_n` (default 5:
10 distinct pairs in the matrix) common-wrong samples exist, else "source"
(source-wrong, the repo's "SAC-source") if at least `min_n` exist, else
"source+margin": the source-wrong samples topped up to `min_n` with the held-out
samples of smallest source logit margin (the nearest to being wrong), so the
correlation matrix never collapses to a handful of entries. The counts of both
wrong sets are in the meta too. `selection = "source"` skips the surrogates (and
their training) altogether.
"""
from __future__ import annotations

import time

import torch

from methods import register_method
from methods.base import ARCH_LIST, ARCHITECTURES, COUNT, Fingerprint, MethodParamError, OwnerContext
from methods.cae import surrogate_ids
from methods.correlation import SampleCorrelation
from zoo.fit import predict_logits


def select_wrong(source_logits: torch.Tensor, y: torch.Tensor, surrogate_logits: list[torch.Tensor],
                 n: int, min_n: int) -> tuple[torch.Tensor, str, dict[str, int]]:
    """Indices (in pool order) of SAC-w's queries, the rule that chose them, and the wrong counts."""
    source_wrong = source_logits.argmax(1) != y
    common = source_wrong.clone()
    for logits in surrogate_logits:
        common &= logits.argmax(1) != y
    counts = {"source_wrong": int(source_wrong.sum()), "common_wrong": int(common.sum()) if surrogate_logits else 0}
    if surrogate_logits and int(common.sum()) >= min_n:
        return common.nonzero().flatten()[:n], "common", counts
    if int(source_wrong.sum()) >= min_n:
        return source_wrong.nonzero().flatten()[:n], "source", counts
    top2 = source_logits.topk(2, dim=1).values
    margin = torch.where(source_wrong, torch.full_like(top2[:, 0], -float("inf")), top2[:, 0] - top2[:, 1])
    chosen = margin.argsort()[: min(min_n, len(margin))]
    return chosen.sort().values, "source+margin", counts


@register_method("sac_w")
class SACW(SampleCorrelation):
    defaults = {"n": 100, "min_n": 5, "selection": "common", "surrogates": ["cnn", "mlp"]}
    summary = "sample correlation of logits on held-out images the source (and its surrogates) get wrong (SAC-w)"
    tiny = {"surrogates": ["mlp"]}
    bounds = {"n": (2, COUNT[1]), "min_n": (2, COUNT[1])}  # a correlation needs at least two samples
    choices = {"selection": ("common", "source"), "surrogates": ARCHITECTURES}
    lengths = {"surrogates": ARCH_LIST}

    def check(self, params):
        if params["min_n"] > params["n"]:  # the fallback tops up to min_n: more queries than n
            raise MethodParamError(f"sac_w.min_n must be <= n ({params['n']}), got {params['min_n']}", "min_n")

    def owner_models(self, source_id: str) -> list[str]:
        if self.params["selection"] == "source":
            return []
        return surrogate_ids(source_id, self.params["surrogates"])

    def fingerprint(self, source, owner: OwnerContext) -> Fingerprint:
        p = self.params
        started = time.perf_counter()
        x, y = owner.data.x("test"), owner.data.y("test")
        surrogates = [predict_logits(m, x) for m in owner.owner_models.values()] if p["selection"] == "common" else []
        chosen, rule, counts = select_wrong(predict_logits(source, x), y, surrogates, p["n"], p["min_n"])
        meta = {"selection": rule, "surrogates": len(surrogates), "query_split": "test", **counts}
        fp = self._correlation_fingerprint(source, x[chosen.to(x.device)], meta)
        fp.meta["seconds"] = time.perf_counter() - started
        return fp
