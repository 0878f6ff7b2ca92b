"""MetaFinger (Yang, Wang, Wang, IJCAI 2022): natural images meta-trained over shadow models.

The paper fingerprints the source's *inner decision area* rather than its boundary:
it adds optimised noise to natural images until models derived from the source agree
with each other on them while independent models disagree. The official code
(kangyangWHU/MetaFinger, `meta_learning.py`):
* meta-data: positive and negative shadow models, split into train / validation
  sets, multiplied by *DNN augmentation* (pruned or weight-perturbed copies,
  `model_augement.py`) to make meta-training cheaper than training many models;
* per round, `batch` images of the owner's training data are optimised with Adam
  (lr 0.01, 10 epochs, kept in [0, 1]); each epoch visits every training positive
  once as the anchor a and minimises, for the image batch T(x) under a random input
  transformation T, the triplet-style loss
      mean_{j in S+} KL(p_j || a) - alpha * mean_{k in S-} KL(n_k || a)
  over `n_sample` random positives S+ and negatives S- (KL between softmax outputs);
* after epoch 5 the batch with the lowest mean validation-negative agreement is kept;
* screening on the validation models: y = the validation positives' majority
  label; an image is kept if every validation positive predicts y and no validation
  negative does (the code's TPR = 1 and FPR = 0 arguments, `screen_tpr` and
  `screen_fpr` here; relaxing them to 0.75 / 0.25 on digits let independent cnns
  match 90% of the queries);
* rounds repeat (up to 10) until `n` images are kept. A suspect's score is its
  matching rate with y.

What we do at digits scale:
* Owner models: the shared set of `methods/meta.py` (trained by the engine, never
  suspects) plus the source as a training positive. Every third model of each set
  (at least one) is a validation model; with a single negative it serves both sets.
* Augmentation (`augment` copies per model, train and validation alike): copy 1 is
  magnitude-pruned per layer at 30% (the code's RandomPruning), further copies get
  Gaussian weight noise of std(W) / `noise_level` (its WeightPert). Copies live only
  inside `fingerprint`.
* The transformation list is the code's (identity, shear, Gaussian / median /
  average blur, Gaussian noise 0.05, uniform noise 0.05, resize-and-pad, translate)
  less the horizontal flip (digits are not mirror symmetric), sized from the input
  side (translation: 1/16 of it, see `methods.meta.translate`); `trans` turns it off.
* As in the code, the fingerprint holds only the images that passed screening, so
  after `rounds` it may be shorter than `n` (`meta.screened`; on digits 6 to 16 of
  700 candidates pass); only if fewer than n // 10 passed do the candidates of
  largest validation margin (share of positives predicting y minus share of
  negatives predicting y) fill up to that floor.
Defaults are the CIFAR-10 call of the official code (alpha 1, n_sample 3, batch 70,
10 epochs, lr 0.01, 10 rounds, n 100) with `augment` = 2.
"""
from __future__ import annotations

import copy
import time

import numpy as np
import torch
import torch.nn.functional as F

from methods import register_method, scales
from methods.base import COUNT, RATE, STEPS, UNIT, WEIGHT, Above, Fingerprint, Method, OwnerContext
from methods.meta import (
    OWNER_BOUNDS,
    OWNER_DEFAULTS,
    frozen,
    keep_order,
    majority,
    owner_set,
    predictions,
    random_transform,
    seeded,
    split_owner_models,
)
from zoo.attacks.noise import noise_weights
from zoo.attacks.prune import magnitude_prune

METAFINGER_TRANSFORMS = ["identity", "shear", "gaussian_blur", "median_blur", "average_blur", "noise_0.05",
                         "uniform_0.05", "rescale", "translate"]


def kl(target_logits: torch.Tensor, anchor_logits: torch.Tensor) -> torch.Tensor:
    """KL(softmax(target) || softmax(anchor)), averaged over the batch."""
    return F.kl_div(anchor_logits.log_softmax(1), target_logits.log_softmax(1), log_target=True,
                    reduction="batchmean")


@register_method("metafinger")
class MetaFinger(Method):
    access = "labels"
    score_scale = scales.RATE
    per_query = True
    defaults = {"n": 100, "batch": 70, "rounds": 10, "epochs": 10, "lr": 0.01, "alpha": 1.0, "n_sample": 3,
                "augment": 2, "noise_level": 10.0, "trans": True, "screen_tpr": 1.0, "screen_fpr": 0.0,
                **OWNER_DEFAULTS}
    summary = "natural images meta-trained so only source-derived models agree; label matching rate"
    tiny = {"n": 20, "batch": 30, "rounds": 2, "epochs": 6, "augment": 1, "owner_pos": 2, "owner_neg": 2,
            "owner_epochs": 5}
    bounds = {"n": COUNT, "batch": COUNT, "rounds": (1, 10_000), "epochs": STEPS, "lr": RATE, "alpha": WEIGHT,
              "n_sample": (1, 1_000), "augment": (0, 100), "noise_level": (Above(0), 1e6),  # noise std(W) / level
              "screen_tpr": UNIT, "screen_fpr": UNIT, **OWNER_BOUNDS}

    def owner_models(self, source_id: str) -> list[str]:
        return owner_set(source_id, self.params)

    def fingerprint(self, source, owner: OwnerContext) -> Fingerprint:
        p = self.params
        started = time.perf_counter()
        positives, negatives = split_owner_models(source, owner)
        with seeded(owner.seed) as g, frozen(positives + negatives):
            (train_pos, val_pos), (train_neg, val_neg) = self._split(positives, g), self._split(negatives, g)
            images, labels, passed, margins = [], [], [], []
            for _ in range(p["rounds"]):
                x = self._optimise(self._images(owner, g), train_pos, train_neg, val_pos, val_neg, g)
                y, pos_share, neg_share = self._screen(x, val_pos, val_neg)
                images.append(x), labels.append(y), margins.append(pos_share - neg_share)
                passed.append((pos_share >= p["screen_tpr"]) & (neg_share <= p["screen_fpr"]))
                if int(sum(k.sum() for k in passed)) >= p["n"]:
                    break
        x, y, margin, passed = torch.cat(images), torch.cat(labels), torch.cat(margins), torch.cat(passed)
        order = keep_order(passed, margin, p["n"])
        return Fingerprint(
            inputs=x[order].cpu().numpy().astype(np.float32),
            labels=y[order].cpu().numpy().astype(np.int64),
            arrays={"val_margin": margin[order].cpu().numpy()},
            meta={"params": self.params, "screened": int(passed.sum()), "candidates": len(margin),
                  "seconds": time.perf_counter() - started, "train_models": [len(train_pos), len(train_neg)],
                  "val_models": [len(val_pos), len(val_neg)]},
        )

    def _split(self, models, g):
        """(train, validation), each augmented; every third model validates, the source trains.

        Copies of frozen models are frozen too.
        """
        val_index = set(range(2, len(models), 3)) or {len(models) - 1}
        train = [m for i, m in enumerate(models) if i not in val_index] or list(models)
        val = [m for i, m in enumerate(models) if i in val_index]
        return self._augment(train, g), self._augment(val, g)

    def _augment(self, models, g):
        out = list(models)
        for model in models:
            for j in range(self.params["augment"]):
                twin = copy.deepcopy(model)
                with torch.no_grad():
                    if j == 0:
                        magnitude_prune(twin, 0.3, scope="layer")
                    else:
                        noise_weights(twin, self.params["noise_level"], g)
                out.append(twin)
        return out

    def _images(self, owner: OwnerContext, g) -> torch.Tensor:
        pool = owner.data.x("defender")
        pick = torch.randperm(len(pool), generator=g)[: self.params["batch"]].to(pool.device)
        return pool[pick].clone()

    def _optimise(self, x, train_pos, train_neg, val_pos, val_neg, g):
        p = self.params
        x.requires_grad_(True)
        optimizer = torch.optim.Adam([x], lr=p["lr"])
        names = METAFINGER_TRANSFORMS if p["trans"] else ["identity"]
        k_pos, k_neg = min(p["n_sample"], len(train_pos)), min(p["n_sample"], len(train_neg))
        best, best_agreement = None, float("inf")
        for epoch in range(p["epochs"]):
            for a in torch.randperm(len(train_pos), generator=g).tolist():
                xt = random_transform(names, g)(x, g)
                anchor = train_pos[a](xt)
                pulled = torch.randperm(len(train_pos), generator=g)[:k_pos].tolist()
                pushed = torch.randperm(len(train_neg), generator=g)[:k_neg].tolist()
                pull = sum(kl(train_pos[j](xt), anchor) for j in pulled)
                push = sum(kl(train_neg[k](xt), anchor) for k in pushed)
                loss = pull / k_pos - p["alpha"] * push / k_neg
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    x.clamp_(0.0, 1.0)
            y = majority(predictions(val_pos, x))
            agreement = (predictions(val_neg, x) == y).float().mean().item()
            if epoch > 4 and agreement <= best_agreement:  # the code's selection: after epoch 5, fewest negatives agree
                best, best_agreement = x.detach().clone(), agreement
        return best if best is not None else x.detach().clone()

    def _screen(self, x, val_pos, val_neg):
        """The validation positives' majority label y and, per image, the shares of
        validation positives and negatives that predict it."""
        pos, neg = predictions(val_pos, x), predictions(val_neg, x)
        y = majority(pos)
        return y, (pos == y).float().mean(0), (neg == y).float().mean(0)

    def score(self, fp: Fingerprint, observed: np.ndarray) -> float:
        """Matching rate with the validation positives' majority labels."""
        return float(np.mean(np.asarray(observed) == fp.labels))
