"""Margin-based watermarking (Kim, Lee, Lee, Son, Hwang, ICML 2023): verify by key matching.

The owner trains its source with `zoo.watermark.margin` (`wm_margin`): a key set of
natural images with random wrong labels, memorised with projected gradient ascent
that maximises each key's margin, so that distilled or extracted copies inherit the
keys' labels. `source_recipe` turns the spec's clean source into that marked source
(same architecture, data, seed and optimiser; the watermark's own parameters, and
`epochs`, which at digits scale must be longer than a clean training: 100, the
engine's calibration). The engine trains it and runs the spec's whole attack suite
on it. The paper's functionality-stealing attacks map onto zoo steps: extraction
from soft (KL, T = 1) or hard labels over queries of the source's distribution is
`knockoff(arch=...,data=attacker,labels=soft|hard)`, over another distribution
`knockoff(data=patches)` (SAC's `extract(kind=p|l)` is a close variant); the
paper's distillation (the victim's training data, 0.3 CE on true labels + 0.7 KL
at T = 1) is `distill` without the true-label term.

Fingerprint: the key set, regenerated from the parameters by the same function the
marking step uses, labelled with the watermark labels. Score: the suspect's
matching rate on the keys (the paper's watermark accuracy), higher = stolen. The
paper gives no decision rule; `test` adds the exact one-sided binomial test of the
matches against p0 = the rate measured on `references` clean owner models, floored
at 1/K (a clean model gives a natural key its true label, so it matches a random
wrong one about (1 - acc)/(K - 1) of the time).
"""
from __future__ import annotations

import numpy as np
import torch

from methods import register_method, scales
from methods.base import COUNT, SEED, STEPS, UNIT, WEIGHT, Fingerprint, Method, OwnerContext
from zoo.fit import predict_logits
from zoo.watermark import clean_root, marked_root
from zoo.watermark.margin import MARGIN_DEFAULTS, margin_keys
from zoo.watermark.stats import binomial_p

REFERENCE_SEED = 1000  # owner-side seeds stay clear of the spec's negative seeds
REFERENCES = (0, 100)  # clean owner models measuring p0; none: p0 is the floor


def owner_references(source_id: str, count: int) -> list[str]:
    """Clean owner models in the marked source's recipe: they measure the innocent match rate."""
    from zoo.spec import canonical

    arch = str(canonical(source_id).root.get("arch"))
    return [clean_root(source_id, arch, REFERENCE_SEED + i) for i in range(count)]


def trigger_fingerprint(inputs: torch.Tensor, labels: torch.Tensor, source, owner: OwnerContext,
                        floor: float, meta: dict) -> Fingerprint:
    """A trigger-set fingerprint; records the source's rate, the references' rates and p0."""

    def rate(model) -> float:
        return float((predict_logits(model, inputs).argmax(1) == labels).float().mean())

    references = [rate(model) for model in owner.owner_models.values()]
    p0 = max(float(np.mean(references)) if references else 0.0, floor)
    meta = {**meta, "source_rate": rate(source), "reference_rates": references, "p0": p0,
            "test": "exact one-sided binomial, p0 = max(mean reference rate, floor)", "floor": floor}
    return Fingerprint(
        inputs=inputs.detach().cpu().numpy().astype(np.float32),
        labels=labels.detach().cpu().numpy().astype(np.int64),
        meta=meta,
    )


def binomial_test(fp: Fingerprint, observed: np.ndarray) -> dict[str, float]:
    matches = int(np.sum(np.asarray(observed) == fp.labels))
    n, p0 = len(fp.labels), float(fp.meta["p0"])
    return {"p_value": binomial_p(matches, n, p0), "effect": matches / max(n, 1) - p0}


@register_method("margin_wm")
class MarginWatermark(Method):
    access = "labels"
    score_scale = scales.RATE
    per_query = True
    defaults = {**MARGIN_DEFAULTS, "epochs": 100, "references": 1}
    summary = "margin-maximised watermark keys with random wrong labels; key matching rate (Kim et al., ICML 2023)"
    tiny = {"keys": 10, "epochs": 30, "references": 1}
    # As the marking step's checks (zoo.watermark.margin), with upper limits; steps 0: plain keys.
    bounds = {"keys": COUNT, "key_seed": SEED, "key_batch": COUNT, "steps": (0, 1_000), "step": UNIT,
              "weight": WEIGHT, "eps": UNIT, "epochs": STEPS, "references": REFERENCES}

    def source_recipe(self, source_id: str) -> str:
        marking = {k: self.params[k] for k in MARGIN_DEFAULTS}
        return marked_root(source_id, "wm_margin", epochs=self.params["epochs"], **marking)

    def owner_models(self, source_id: str) -> list[str]:
        return owner_references(source_id, self.params["references"])

    def fingerprint(self, source, owner: OwnerContext) -> Fingerprint:
        keys, wrong, true, _ = margin_keys(owner.data, self.params["keys"], self.params["key_seed"])
        fp = trigger_fingerprint(keys, wrong, source, owner, 1.0 / owner.data.num_classes, {"params": self.params})
        fp.arrays["true_labels"] = true.cpu().numpy().astype(np.int64)
        return fp

    def score(self, fp: Fingerprint, observed: np.ndarray) -> float:
        """Watermark accuracy: the share of keys the suspect gives their watermark label."""
        return float(np.mean(np.asarray(observed) == fp.labels))

    def test(self, fp: Fingerprint, observed: np.ndarray) -> dict[str, float]:
        """Binomial p-value of the suspect's key matches, and its rate minus p0."""
        return binomial_test(fp, observed)
