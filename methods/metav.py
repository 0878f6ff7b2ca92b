"""MetaV (Pan, Yan, Zhang, Yang, KDD 2022): an adaptive fingerprint and a meta-verifier,
trained jointly.

The paper's two components: the *adaptive fingerprint*, a set of n free input
tensors X, and the *meta-verifier* V, a small fully connected network that reads the
concatenation of a model's outputs on X and returns the probability that the model is
pirated. Both are optimised together over the owner's model sets, pirated copies P
(the source and models derived from it) labelled 1 and independently trained models
N labelled 0, by minimising the binary cross-entropy
    -sum_{f in P} log V(f(X)) - sum_{f in N} log(1 - V(f(X)))
with gradient steps on X and on V's weights. A suspect's score is V's output on its
answers to X. Nothing in the procedure looks inside the models ("task-agnostic"):
it needs only that every model maps the same input space to the same output space.

What we do:
* The owner models are the shared set of `methods/meta.py` (8 + 8, as NaturalFinger
  gave every method), trained by the engine and never evaluation suspects; the
  source is one more positive. All models enter every step (the sets are small).
* X starts from the owner's own images (`init = "data"`; `"noise"`: uniform noise)
  and is projected back into [0, 1] after every Adam step, so it stays a valid
  image. V has hidden layers `hidden` (ReLU) and one sigmoid output; its input is
  the n x K output matrix, flattened. For classifiers "output" means the softmax
  probabilities (`output = "probs"`, bounded, and the same whether a suspect returns
  logits or probabilities); `output = "logits"` feeds raw logits.
* V's weights are saved in the fingerprint's arrays; `score` recomputes V in numpy.
* A suspect whose output width differs from the source's (a transferred model with
  5 or 2 classes) cannot be read by V, whose input size is fixed: it scores 0, "not
  pirated". The paper assumes equal output dimensions; the report counts such a
  suspect as a missed positive rather than dropping it.
Calibration on digits (cnn source, 3 fine-tuned/pruned copies, 6 independent
models): V fits any owner set perfectly, and generalisation is what varies. With
4 + 4 owner models and noise init, independent cnns scored 0.85-0.89; with 8 + 8 and
data init, at most 0.07 while the copies scored 1.0. Owner models trained longer
than the source made V call every less-trained independent model pirated, hence
`owner_epochs` = the source's by default (`methods/meta.py`).
What could not be checked against the paper's text or code (neither is stored): the
verifier's layer sizes, the learning rates, the step count and how X is initialised.
The defaults are ours: hidden [128, 64], Adam lr 0.01 on X and 1e-3 on V, 300 steps,
n = 100 (the fingerprint size NaturalFinger used for every method).
"""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from methods import register_method, scales
from methods.base import COUNT, RATE, STEPS, WIDTH, Fingerprint, Method, OwnerContext
from methods.meta import OWNER_BOUNDS, OWNER_DEFAULTS, frozen, owner_set, seeded, split_owner_models


def verifier(in_features: int, hidden: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_features, width), nn.ReLU()]
        in_features = width
    return nn.Sequential(*layers, nn.Linear(in_features, 1))


@register_method("metav")
class MetaV(Method):
    access = "logits"
    score_scale = scales.RATE
    defaults = {"n": 100, "steps": 300, "lr": 0.01, "lr_verifier": 1e-3, "hidden": [128, 64], "output": "probs",
                "init": "data", **OWNER_DEFAULTS}
    summary = "fingerprint inputs and a meta-verifier trained jointly on owner positives/negatives"
    tiny = {"n": 20, "steps": 40, "owner_pos": 2, "owner_neg": 2, "owner_epochs": 5}
    bounds = {"n": COUNT, "steps": STEPS, "lr": RATE, "lr_verifier": RATE, "hidden": WIDTH, **OWNER_BOUNDS}
    choices = {"output": ("probs", "logits"), "init": ("data", "noise")}
    lengths = {"hidden": (0, 16)}  # no hidden layer: a linear verifier

    def owner_models(self, source_id: str) -> list[str]:
        return owner_set(source_id, self.params)

    def _features(self, out: torch.Tensor) -> torch.Tensor:
        return (out.softmax(-1) if self.params["output"] == "probs" else out).flatten(-2)

    def _initial(self, owner: OwnerContext, g: torch.Generator) -> torch.Tensor:
        if self.params["init"] == "noise":
            return torch.rand((self.params["n"], *owner.data.input_shape), generator=g).to(owner.device)
        pool = owner.data.x("defender")
        return pool[torch.randperm(len(pool), generator=g)[: self.params["n"]].to(pool.device)].clone()

    def fingerprint(self, source, owner: OwnerContext) -> Fingerprint:
        p = self.params
        started = time.perf_counter()
        positives, negatives = split_owner_models(source, owner)
        models = positives + negatives
        target = torch.tensor([1.0] * len(positives) + [0.0] * len(negatives), device=owner.device)
        with seeded(owner.seed) as g, frozen(models):
            x = self._initial(owner, g).requires_grad_(True)
            net = verifier(p["n"] * owner.data.num_classes, p["hidden"]).to(owner.device)
            optimizer = torch.optim.Adam([{"params": [x], "lr": p["lr"]},
                                          {"params": net.parameters(), "lr": p["lr_verifier"]}])
            for _ in range(p["steps"]):
                logits = net(torch.stack([self._features(m(x)) for m in models])).squeeze(1)
                loss = F.binary_cross_entropy_with_logits(logits, target)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    x.clamp_(0.0, 1.0)
            with torch.no_grad():
                owner_scores = torch.sigmoid(net(torch.stack([self._features(m(x)) for m in models]))).squeeze(1)
        weights = {f"verifier.{k}": v.detach().cpu().numpy() for k, v in net.state_dict().items()}
        return Fingerprint(
            inputs=x.detach().cpu().numpy().astype(np.float32),
            arrays=weights,
            meta={"params": self.params, "seconds": time.perf_counter() - started, "final_loss": float(loss.detach()),
                  "owner_positive_scores": owner_scores[: len(positives)].tolist(),
                  "owner_negative_scores": owner_scores[len(positives):].tolist()},
        )

    def score(self, fp: Fingerprint, observed: np.ndarray) -> float:
        """The meta-verifier's probability that the suspect is pirated (0 if its output width differs)."""
        weights = [fp.arrays[f"verifier.{i}.weight"] for i in range(0, 2 * len(self.params["hidden"]) + 1, 2)]
        biases = [fp.arrays[f"verifier.{i}.bias"] for i in range(0, 2 * len(self.params["hidden"]) + 1, 2)]
        out = np.asarray(observed, dtype=np.float64)
        if out.ndim != 2 or out.size != weights[0].shape[1]:
            return 0.0
        if self.params["output"] == "probs":
            out = np.exp(out - out.max(axis=1, keepdims=True))
            out /= out.sum(axis=1, keepdims=True)
        h = out.reshape(-1)
        for i, (w, b) in enumerate(zip(weights, biases)):
            h = w @ h + b
            if i < len(weights) - 1:
                h = np.maximum(h, 0.0)
        return float(np.exp(-np.logaddexp(0.0, -h[0])))  # sigmoid, without overflow
