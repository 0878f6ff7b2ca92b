"""Verifying embedded external features (Li, Zhu, Jia, Jiang, Xia, Cao, AAAI 2022).

The owner styles 10% of its training images and trains its source on them with
their labels kept (`zoo.watermark.external_features`, `wm_features`). A stolen copy
has learned the style through the victim; an innocent model has not. The owner
trains a meta-classifier to tell its marked models from benign ones by how they
react to the styled images, and tests the suspect against a benign model with it.

Paper and code (zlh-thu/StealingVerification), and what we do:
- Features (white-box, the paper's): for each styled image, the gradient of the
  cross-entropy w.r.t. the weights (eval mode, one image at a time); 1-D tensors
  dropped, conv kernels with out*in > 5000 dropped, the rest max-pooled over the
  kernel window, matrices with out*in > 5000 max-pooled over their input; then the
  SIGN. `features="output"` is the black-box variant of the authors' extension
  (MOVE): the change of the softmax between the styled image and its original,
  which needs no architecture match.
- Meta-classifier: the repo's MLP D -> D/8 -> D/16 -> 2 (at least 16 and 8 units),
  SGD lr 0.01, momentum 0.9, weight decay 5e-4, here with plain CE on logits (the
  repo applies CE to a softmax output), class-balanced, a fixed number of epochs
  (the repo keeps its best test-split checkpoint). Sign vectors are fed raw, as the
  repo does at verification (it normalises them in training only; standardising
  them here raised the held-out benign models' probabilities). Output differences
  are standardised with the training rows' statistics, in training and at
  verification: unscaled, those small numbers barely train in 50 epochs.
- Owner models per architecture (`archs`, plus the source's; cnn and mlp by default:
  listing all five families made the default demo's fingerprint take 174 s instead
  of seconds, as the meta-classifier's first layer grows with each family's weight
  count): marked = the source
  itself in its own architecture (the paper's victim), else a `wm_features` model
  with seed 1000; benign = `benign` models trained on the clean data (seeds
  1000..; 4 by default: with 2, the calibration saw an independent CNN reach a
  mean P_S of 0.34, with 4 none passed 0.03). The paper verifies against the *same*
  benign model that trained the classifier, whose probabilities the classifier has
  memorised; we hold one more benign model out (seed 1000 + benign) as the
  reference, so an innocent suspect and the reference are alike to the classifier.
  A suspect of an architecture with no owner pair gets no score (NaN: "n/a").
- Test: the paper's one-sided paired t-test on P_S (the suspect's "marked"
  probability per styled image) and P_B (the reference's): H1 mean(P_S - P_B) > tau.
  The paper leaves tau as a hyper-parameter; tau = 0.2 here, because with tau = 0
  the digits calibration flagged independent models whose probabilities sat a
  hair above the reference's (62 paired images make any offset significant). `test="repo"` scores with the
  official code's statistic instead (40 draws of m = 10, two-sided Welch, harmonic
  mean); `test()` returns both.
Score: -log10 p (higher = stolen); `query` stores [P_S, P_B] per styled image, so
the test can be recomputed from the stored values.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from methods import register_method, scales
from methods.base import ARCHITECTURES, RATE, SEED, STEPS, UNIT, Above, Fingerprint, Method, OwnerContext
from zoo.archs import ARCHS
from zoo.spec import canonical
from zoo.watermark import KEY_SPLIT, clean_root, marked_root
from zoo.watermark.external_features import FEATURE_DEFAULTS, styled_subset
from zoo.watermark.stats import paired_p, repo_p

OWNER_SEED = 1000
POOL_LIMIT = 5000  # the repo's `pool_thresh`
ANY = "any"  # the single classifier of the output-difference features


def arch_name(model: nn.Module) -> str | None:
    return ARCHS.name_of(type(model))


def gradient_signs(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Sign of each image's loss gradient, pooled per tensor as in the official code."""
    model.eval()
    params = list(model.parameters())
    flags = [p.requires_grad for p in params]
    rows = []
    try:
        for p in params:
            p.requires_grad_(True)
        for i in range(len(images)):
            with torch.enable_grad():
                loss = F.cross_entropy(model(images[i : i + 1]), labels[i : i + 1])
                grads = torch.autograd.grad(loss, params)
            parts = []
            for grad in grads:
                if grad.dim() == 1 or (grad.dim() == 4 and grad.shape[0] * grad.shape[1] > POOL_LIMIT):
                    continue
                if grad.dim() > 2:
                    grad = grad.flatten(2).amax(-1)
                elif grad.shape[0] * grad.shape[1] > POOL_LIMIT:
                    grad = grad.amax(-1)
                parts.append(grad.flatten())
            rows.append(torch.cat(parts).sign())
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)
    return torch.stack(rows)


@torch.no_grad()
def output_differences(model: nn.Module, images: torch.Tensor, originals: torch.Tensor) -> torch.Tensor:
    model.eval()
    return model(images).softmax(1) - model(originals).softmax(1)


class Standardize(nn.Module):
    """Centre and scale by the training rows' statistics; a constant feature keeps scale 1 (as sklearn's)."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))

    def fit(self, rows: torch.Tensor) -> None:
        std = rows.std(0, unbiased=False)
        self.mean.copy_(rows.mean(0))
        self.scale.copy_(torch.where(std > 1e-8, std, torch.ones_like(std)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.scale


def meta_classifier(dim: int) -> nn.Sequential:
    """Standardisation (the identity unless fitted), then the repo's MLP."""
    hidden, second = max(dim // 8, 16), max(dim // 16, 8)
    return nn.Sequential(Standardize(dim), nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, second), nn.ReLU(),
                         nn.Linear(second, 2))


def train_meta(marked: torch.Tensor, benign: torch.Tensor, epochs: int, lr: float, seed: int,
               standardize: bool) -> nn.Sequential:
    """Marked (1) against benign (0) feature rows, classes weighted to balance."""
    torch.manual_seed(seed)
    x = torch.cat([marked, benign])
    y = torch.cat([torch.ones(len(marked)), torch.zeros(len(benign))]).long().to(x.device)
    weight = torch.tensor([len(y) / (2 * len(benign)), len(y) / (2 * len(marked))], device=x.device)
    clf = meta_classifier(x.shape[1]).to(x.device)
    if standardize:
        clf[0].fit(x)
    optimizer = torch.optim.SGD(clf.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator).to(x.device)
        for start in range(0, len(x), 32):
            index = order[start : start + 32]
            loss = F.cross_entropy(clf(x[index]), y[index], weight=weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return clf.eval()


@register_method("external_features")
class ExternalFeatures(Method):
    access = "white-box"
    score_scale = scales.UNBOUNDED
    defaults = {**FEATURE_DEFAULTS, "epochs": None, "features": "gradient", "archs": ["cnn", "mlp"],
                "benign": 4, "tau": 0.2, "test": "paired", "clf_epochs": 50, "clf_lr": 0.01}
    summary = "styled training images; meta-classifier on gradient signs; paired t-test (Li et al., AAAI 2022)"
    tiny = {"archs": ["cnn"], "benign": 2, "clf_epochs": 20}
    # fraction/alpha as the marking step (zoo.watermark.external_features); epochs None: the source's.
    # archs may be empty: the source's own architecture is always added. tau bounds mean(P_S - P_B).
    bounds = {"fraction": (Above(0), 1.0), "alpha": UNIT, "style_seed": SEED, "pick_seed": SEED, "epochs": STEPS,
              "benign": (1, 100), "tau": UNIT, "clf_epochs": STEPS, "clf_lr": RATE}
    choices = {"features": ("gradient", "output"), "test": ("paired", "repo"), "archs": ARCHITECTURES}
    lengths = {"archs": (0, 100)}

    def _marking(self) -> dict:
        return {k: self.params[k] for k in FEATURE_DEFAULTS}

    def source_recipe(self, source_id: str) -> str:
        return marked_root(source_id, "wm_features", epochs=self.params["epochs"], **self._marking())

    def owner_models(self, source_id: str) -> list[str]:
        """Per architecture: a marked model (none for the source's own), benign models, one held-out reference."""
        own = str(canonical(source_id).root.get("arch"))
        ids = []
        for arch in dict.fromkeys([own, *self.params["archs"]]):
            if arch != own:
                ids.append(marked_root(source_id, "wm_features", arch=arch, seed=OWNER_SEED, **self._marking()))
            ids += [clean_root(source_id, arch, OWNER_SEED + j) for j in range(self.params["benign"] + 1)]
        return ids

    def fingerprint(self, source, owner: OwnerContext) -> Fingerprint:
        p = self.params
        pick, styled, labels = styled_subset(owner.data, p["fraction"], p["alpha"], p["style_seed"], p["pick_seed"])
        originals = owner.data.x(KEY_SPLIT)[pick]
        roles: dict[str, dict[str, list]] = {}
        for model_id, model in owner.owner_models.items():
            root = canonical(model_id).root
            slot = roles.setdefault(str(root.get("arch")), {"marked": [], "benign": [], "reference": []})
            if root.name == "wm_features":
                slot["marked"].append(model)
            else:
                slot["reference" if root.get("seed") == OWNER_SEED + p["benign"] else "benign"].append(model)
        source_arch = arch_name(source)
        roles.setdefault(source_arch, {"marked": [], "benign": [], "reference": []})["marked"].insert(0, source)

        def describe(model):
            if p["features"] == "output":
                return output_differences(model, styled, originals)
            return gradient_signs(model, styled, labels)

        groups = {arch: slot for arch, slot in roles.items() if slot["marked"] and slot["benign"] and slot["reference"]}
        if not groups:
            raise ValueError("external_features: no architecture has marked, benign and reference owner models")
        arrays = {"originals": originals.cpu().numpy().astype(np.float32)}
        if p["features"] == "output":
            pooled = {ANY: {k: [m for s in groups.values() for m in s[k]] for k in ("marked", "benign")}}
        else:
            pooled = groups
        accuracy = {}
        for key, slot in pooled.items():
            pos = torch.cat([describe(m) for m in slot["marked"]])
            neg = torch.cat([describe(m) for m in slot["benign"]])
            clf = train_meta(pos, neg, p["clf_epochs"], p["clf_lr"], owner.seed, p["features"] == "output")
            with torch.no_grad():
                hits = torch.cat([clf(pos).argmax(1) == 1, clf(neg).argmax(1) == 0]).float().mean()
                arrays.update({f"clf.{key}.{name}": t.cpu().numpy() for name, t in clf.state_dict().items()})
            accuracy[key] = float(hits)
        for arch, slot in groups.items():
            arrays[f"p_benign.{arch}"] = self._posterior(arrays, describe(slot["reference"][0]), arch)
        meta = {
            "params": p, "source_arch": source_arch, "verifiable_archs": sorted(groups),
            "meta_train_accuracy": accuracy, "style": "pixel AdaIN + pointillist texture (CPU substitute)",
            "reference": "held-out benign model (repo: the classifier's own benign model)",
            "score": "-log10 p", "repo_test": "Welch two-sided, 40 draws of m=10, harmonic mean",
        }
        return Fingerprint(inputs=styled.cpu().numpy().astype(np.float32),
                           labels=labels.cpu().numpy().astype(np.int64), arrays=arrays, meta=meta)

    def _posterior(self, arrays: dict, features: torch.Tensor, arch: str) -> np.ndarray:
        """The classifier's "marked" probability for each feature row (its weights come from `arrays`)."""
        key = ANY if self.params["features"] == "output" else arch
        clf = meta_classifier(features.shape[1]).to(features.device)
        state = {k[len(f"clf.{key}.") :]: torch.as_tensor(v) for k, v in arrays.items() if k.startswith(f"clf.{key}.")}
        clf.load_state_dict(state)
        with torch.no_grad():
            return clf.eval()(features).softmax(1)[:, 1].cpu().numpy().astype(np.float32)

    def query(self, fp: Fingerprint, model) -> np.ndarray:
        """[P_S, P_B] per styled image; NaN where the suspect's architecture has no owner pair."""
        arch = arch_name(model)
        if self.params["features"] == "output" and f"p_benign.{arch}" not in fp.arrays:
            arch_ref = fp.meta["source_arch"]  # output features do not depend on the architecture
        else:
            arch_ref = arch
        if f"p_benign.{arch_ref}" not in fp.arrays:
            return np.full((len(fp.inputs), 2), np.nan, dtype=np.float32)
        device = next(model.parameters()).device
        images = torch.as_tensor(fp.inputs, device=device)
        if self.params["features"] == "output":
            features = output_differences(model, images, torch.as_tensor(fp.arrays["originals"], device=device))
        else:
            features = gradient_signs(model, images, torch.as_tensor(fp.labels, device=device))
        p_suspect = self._posterior(fp.arrays, features, arch_ref)
        return np.stack([p_suspect, fp.arrays[f"p_benign.{arch_ref}"]], axis=1).astype(np.float32)

    def test(self, fp: Fingerprint, observed: np.ndarray) -> dict[str, float]:
        """The paper's paired p-value, the repo's HM-p, and mu = mean(P_S - P_B)."""
        observed = np.asarray(observed, dtype=np.float64)
        if not np.isfinite(observed).all():
            return {"p_value": math.nan, "p_repo": math.nan, "effect": math.nan}
        p_s, p_b = observed[:, 0], observed[:, 1]
        return {"p_value": paired_p(p_s, p_b, self.params["tau"]), "p_repo": repo_p(p_s, p_b),
                "effect": float(np.mean(p_s - p_b))}

    def score(self, fp: Fingerprint, observed: np.ndarray) -> float:
        """-log10 of the chosen test's p-value (NaN when the suspect cannot be verified)."""
        result = self.test(fp, observed)
        p = result["p_value"] if self.params["test"] == "paired" else result["p_repo"]
        return 0.0 - math.log10(p) if math.isfinite(p) else math.nan  # p = 1 gives +0.0
