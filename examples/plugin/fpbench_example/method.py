"""`mistakes`: a stolen copy repeats the source's confident mistakes; an independent model does not.

The owner blends pairs of its held-out images of different classes (weight `blend`
on the first), runs the source on the blends and keeps the `n` on which the source
most confidently names a class that is neither of the two, with those answers as the
expected labels (the least wrong blends fill up if there are fewer mistakes than
`n`). A suspect's score is the share of them it labels like the source: such
mistakes come from the source's own weights, so copies share them and independent
models mostly do not. Label access suffices.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from methods import scales
from methods.base import COUNT, Fingerprint, Method, OwnerContext


class SharedMistakes(Method):
    access = "labels"
    score_scale = scales.RATE
    per_query = True  # the score is the mean of per-query matches
    defaults = {"n": 100, "pool": 4000, "blend": 0.7, "split": "test"}
    summary = "the source's most confident mistakes on blends of two held-out images; label matching rate"
    tiny = {"n": 30, "pool": 1000}
    bounds = {"n": COUNT, "pool": COUNT, "blend": (0.5, 1.0)}
    choices = {"split": ("test", "defender")}

    def fingerprint(self, source, owner: OwnerContext) -> Fingerprint:
        p = self.params
        started = time.perf_counter()
        x, y = owner.data.x(p["split"]), owner.data.y(p["split"])
        generator = torch.Generator().manual_seed(owner.seed)
        first, second = (torch.randint(len(x), (p["pool"],), generator=generator).to(x.device) for _ in range(2))
        apart = y[first] != y[second]
        first, second = first[apart], second[apart]
        blends = p["blend"] * x[first] + (1 - p["blend"]) * x[second]
        source.eval()
        with torch.no_grad():
            logits = torch.cat([source(blends[i : i + 512]) for i in range(0, len(blends), 512)])
        answers = logits.argmax(dim=1)
        top2 = logits.topk(2, dim=1).values
        confidence = (top2[:, 0] - top2[:, 1]).cpu().numpy()
        mistake = ((answers != y[first]) & (answers != y[second])).cpu().numpy()
        order = np.lexsort((-confidence, ~mistake))[: p["n"]]  # mistakes first, most confident first
        pick = torch.as_tensor(order, device=x.device)
        return Fingerprint(
            inputs=blends[pick].cpu().numpy().astype(np.float32),
            labels=answers[pick].cpu().numpy().astype(np.int64),
            meta={"params": p, "mistakes": int(mistake[order].sum()), "seconds": time.perf_counter() - started},
        )

    def score(self, fp: Fingerprint, observed: np.ndarray) -> float:
        """Matching rate: the share of queries the suspect answers as the source did."""
        return float(np.mean(np.asarray(observed) == fp.labels))
