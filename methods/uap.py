"""UAP fingerprinting (Peng, Li, Chen, Zhang, Zhu, Xue, CVPR 2022).

Insight: a model's universal adversarial perturbation (UAP) profiles its decision
boundary globally, and a stolen copy reacts to the victim's UAP like the victim.
The owner (official code, `faiimea/UAP`):

1. computes a UAP v of the source with the DeepFool-based algorithm of
   Moosavi-Dezfooli et al. (2017): sweep the data; wherever x + v does not yet
   change the source's label, add DeepFool's minimal perturbation at x + v and
   project v onto the L-inf ball of radius `xi`; stop once the fooling rate on
   held-out data reaches 1 - `delta` (or after `passes` sweeps), keeping the best v;
2. picks fingerprint points globally: k-means (`points` clusters) of the source's
   outputs on the owner's data, one random member per cluster, and its `views`
   nearest neighbours in that output space; view j takes the j-th neighbour of
   every cluster's point;
3. a model's fingerprint for view j is the concatenation of its softmax outputs on
   the view's points and on the same points plus v (2 * points * K numbers);
4. an encoder (MLP: input -> 50 -> 20, ReLU) is trained with a supervised
   contrastive loss (temperature 0.2, Adam lr 5e-4) on the fingerprints of
   positive models (the source and the owner's piracy models) against negative ones
   (independent models), so that fingerprints of one lineage embed close together;
5. a suspect's score is the cosine similarity of its encoded fingerprints with the
   source's, averaged over the views: higher = more similar = more likely stolen.

What we do differently and why: the positive/negative models are owner-side (the
owner's extraction students and from-scratch references, `methods.cae`'s ids), not
evaluation suspects; the encoder is trained full-batch without the official 80/20
validation split (a few dozen fingerprints); view j of a suspect is compared with
view j of the source (same points) rather than with the source's view 0; queries
x + v are clipped to [0, 1] (a suspect API takes images). Only the source's UAP is
used for queries, as in the official code: a black-box suspect is queried with the
owner's perturbation, and the positives' UAPs appear only in the paper's analysis.
Digits-scale defaults: 20 points x 10 views (400 queries; the official code uses 150
x 200 on CIFAR-10), xi = 0.3 on [0, 1] pixels, target fooling rate 0.8 within 5
sweeps of 300 owner images, 4 piracy + 4 independent owner models (with 2 + 2 the
encoder had seen a single independent CNN, and an unseen independent CNN sometimes
embedded next to the source). A suspect answering in another label space cannot be
encoded and gets the lowest similarity, -1.
"""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans
from torch import nn

from methods import register_method, scales
from methods.base import (ARCH_LIST, ARCHITECTURES, COUNT, RATE, STEPS, UNIT, WIDTH, Above, Fingerprint, Method,
                          MethodParamError, OwnerContext)
from methods.cae import frozen, reference_ids, split_owner_models, surrogate_ids
from zoo.fit import predict_logits


def deepfool(model, x: torch.Tensor, overshoot: float, max_iter: int,
             x_logits: torch.Tensor | None = None) -> tuple[torch.Tensor, bool]:
    """DeepFool's minimal (L2) perturbation that changes the label of one image (1 x C x H x W).

    `x_logits`: the model's output on x, if the caller has it (saves a forward pass).
    """
    if x_logits is None:
        with torch.no_grad():
            x_logits = model(x)
    label, classes = int(x_logits.argmax(1)), x_logits.shape[1]
    r_tot = torch.zeros_like(x)
    for i in range(max_iter):
        point = x + (1 + overshoot) * r_tot
        if i > 0:  # at i = 0 the point is x, whose label is known
            with torch.no_grad():
                if int(model(point).argmax(1)) != label:
                    return (1 + overshoot) * r_tot, True
        copies = point.repeat(classes, 1, 1, 1).requires_grad_(True)
        logits = model(copies)
        (grads,) = torch.autograd.grad(logits.diagonal().sum(), copies)  # row k: gradient of z_k
        w = (grads - grads[label]).flatten(1)
        f = (logits.diagonal() - logits[label, label]).detach()
        ratio = f.abs() / w.norm(dim=1).clamp_min(1e-12)
        ratio[label] = float("inf")
        k = int(ratio.argmin())
        step = (ratio[k] + 1e-4) * w[k] / w[k].norm().clamp_min(1e-12)
        r_tot = r_tot + step.view_as(x).detach()
    with torch.no_grad():
        fooled = int(model(x + (1 + overshoot) * r_tot).argmax(1)) != label
    return (1 + overshoot) * r_tot, fooled


def fooling_rate(model, x: torch.Tensor, v: torch.Tensor) -> float:
    """Share of images whose label changes when v is added (clipped to the pixel range)."""
    clean, perturbed = predict_logits(model, x).argmax(1), predict_logits(model, (x + v).clamp(0, 1)).argmax(1)
    return (clean != perturbed).float().mean().item()


def universal_perturbation(model, pool: torch.Tensor, held_out: torch.Tensor, xi: float, delta: float,
                           passes: int, overshoot: float, df_iter: int, generator: torch.Generator):
    """Moosavi-Dezfooli et al.'s UAP (L-inf radius xi); the best v by held-out fooling rate.

    Each pool image's clean label is computed once (image by image, as the sweep would),
    not again at every visit; DeepFool reuses the sweep's forward pass on x + v.
    """
    v = torch.zeros_like(pool[:1])
    best, best_rate, sweeps = v.clone(), 0.0, 0
    with torch.no_grad():
        clean = [int(model(pool[i : i + 1]).argmax(1)) for i in range(len(pool))]
    for sweeps in range(1, passes + 1):
        for i in torch.randperm(len(pool), generator=generator).tolist():
            perturbed = (pool[i : i + 1] + v).clamp(0, 1)
            with torch.no_grad():
                logits = model(perturbed)
            if clean[i] == int(logits.argmax(1)):
                dr, converged = deepfool(model, perturbed, overshoot, df_iter, logits)
                if converged:
                    v = (v + dr).clamp(-xi, xi)
        rate = fooling_rate(model, held_out, v)
        if rate > best_rate:
            best, best_rate = v.clone(), rate
        if rate >= 1 - delta:
            break
    return best, best_rate, sweeps


def fingerprint_points(embedding: torch.Tensor, points: int, views: int, seed: int) -> torch.Tensor:
    """views x points indices: per k-means cluster one random member and its nearest neighbours."""
    data = embedding.cpu().numpy().astype(np.float64)
    clusters = KMeans(n_clusters=points, n_init=10, random_state=seed).fit(data).labels_
    rng = np.random.default_rng(seed)
    centres = np.array([rng.choice(np.flatnonzero(clusters == c)) for c in range(points)])
    distances = torch.cdist(embedding[centres], embedding)
    return distances.topk(views, dim=1, largest=False).indices.T  # view 0 is the point itself


def view_vectors(logits: np.ndarray, views: int) -> np.ndarray:
    """views x (2 * points * K): softmax outputs on a view's points, then on the points plus v."""
    z = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return probs.reshape(views, -1)


def supcon_loss(features: torch.Tensor, labels: torch.Tensor, tau: float) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al. 2020): same-label fingerprints attract."""
    z = F.normalize(features, dim=1)
    sim = z @ z.T / tau
    self_mask = torch.eye(len(z), dtype=torch.bool, device=z.device)
    log_prob = sim - torch.logsumexp(sim.masked_fill(self_mask, float("-inf")), dim=1, keepdim=True)
    positive = (labels[:, None] == labels[None, :]) & ~self_mask
    return -(log_prob * positive).sum(1).div(positive.sum(1).clamp_min(1)).mean()


def encode(arrays: dict[str, np.ndarray], vectors: np.ndarray) -> np.ndarray:
    """The trained encoder's forward pass in numpy (its weights travel in the fingerprint)."""
    hidden = np.maximum(vectors @ arrays["encoder.w1"].T + arrays["encoder.b1"], 0)
    return np.maximum(hidden @ arrays["encoder.w2"].T + arrays["encoder.b2"], 0)


@register_method("uap")
class UAP(Method):
    access = "logits"
    score_scale = scales.COSINE
    defaults = {
        "points": 20,
        "views": 10,
        "xi": 0.3,
        "delta": 0.2,
        "passes": 5,
        "pool": 300,
        "overshoot": 0.02,
        "df_iter": 50,
        "hidden": 50,
        "dim": 20,
        "tau": 0.2,
        "lr": 0.0005,
        "epochs": 300,
        "positives": ["cnn", "mlp", "cnn", "mlp"],
        "negatives": ["cnn", "mlp", "cnn", "mlp"],
    }
    summary = "outputs on k-means points with and without the source's UAP, embedded by a contrastive encoder"
    tiny = {"points": 8, "views": 4, "passes": 1, "pool": 60, "epochs": 50, "positives": ["mlp"], "negatives": ["mlp"]}
    bounds = {"points": COUNT, "views": COUNT, "xi": (Above(0), 1.0), "delta": UNIT, "passes": (1, 1_000),
              "pool": COUNT, "overshoot": (0.0, 10.0), "df_iter": (1, 10_000), "hidden": WIDTH, "dim": WIDTH,
              "tau": (Above(0), 100.0), "lr": RATE, "epochs": STEPS}
    choices = {"positives": ARCHITECTURES, "negatives": ARCHITECTURES}
    lengths = {"positives": ARCH_LIST, "negatives": ARCH_LIST}  # the encoder needs both classes

    def check(self, params):
        if 2 * params["points"] * params["views"] > COUNT[1]:
            raise MethodParamError(f"uap.views: 2 x points x views queries must be <= {COUNT[1]}, got "
                                   f"2 x {params['points']} x {params['views']}", "views")

    def owner_models(self, source_id: str) -> list[str]:
        return surrogate_ids(source_id, self.params["positives"]) + reference_ids(source_id, self.params["negatives"])

    def fingerprint(self, source, owner: OwnerContext) -> Fingerprint:
        p = self.params
        started = time.perf_counter()
        positives, negatives = split_owner_models(owner)
        generator = torch.Generator().manual_seed(owner.seed)
        x = owner.data.x("defender")
        pool = x[torch.randperm(len(x), generator=generator)[: p["pool"]].to(x.device)]
        with frozen([source]):
            v, rate, sweeps = universal_perturbation(source, pool, owner.data.x("test"), p["xi"], p["delta"],
                                                     p["passes"], p["overshoot"], p["df_iter"], generator)
        index = fingerprint_points(predict_logits(source, x), p["points"], p["views"], owner.seed % 2**31)
        chosen = x[index.flatten().to(x.device)].view(p["views"], p["points"], *x.shape[1:])
        inputs = torch.cat([chosen, (chosen + v).clamp(0, 1)], dim=1).flatten(0, 1)
        models = [source, *positives, *negatives]
        vectors = [view_vectors(predict_logits(m, inputs).cpu().numpy(), p["views"]) for m in models]
        labels = [1] * (1 + len(positives)) + [0] * len(negatives)
        arrays = self._train_encoder(vectors, labels, owner.seed)
        arrays["source_embedding"] = encode(arrays, vectors[0])
        arrays["uap"] = v.cpu().numpy()
        meta = {"params": p, "fooling_rate": rate, "uap_sweeps": sweeps, "uap_linf": float(v.abs().max()),
                "positives": len(positives), "negatives": len(negatives), "seconds": time.perf_counter() - started}
        return Fingerprint(inputs=inputs.cpu().numpy().astype(np.float32), arrays=arrays, meta=meta)

    def _train_encoder(self, vectors: list[np.ndarray], labels: list[int], seed: int) -> dict[str, np.ndarray]:
        """Contrastive training on every view of every owner model; returns the weights as arrays."""
        p = self.params
        data = torch.as_tensor(np.concatenate(vectors), dtype=torch.float32)
        target = torch.as_tensor(np.repeat(labels, p["views"]))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            encoder = nn.Sequential(
                nn.Linear(data.shape[1], p["hidden"]), nn.ReLU(), nn.Linear(p["hidden"], p["dim"]), nn.ReLU()
            )
        optimizer = torch.optim.Adam(encoder.parameters(), lr=p["lr"])
        for _ in range(p["epochs"]):
            loss = supcon_loss(encoder(data), target, p["tau"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        first, second = encoder[0], encoder[2]
        return {
            "encoder.w1": first.weight.detach().numpy().astype(np.float64),
            "encoder.b1": first.bias.detach().numpy().astype(np.float64),
            "encoder.w2": second.weight.detach().numpy().astype(np.float64),
            "encoder.b2": second.bias.detach().numpy().astype(np.float64),
        }

    def score(self, fp: Fingerprint, observed: np.ndarray) -> float:
        """Mean cosine similarity of the suspect's encoded views with the source's; -1 if not encodable."""
        source = fp.arrays["source_embedding"]
        views = len(source)
        observed = np.asarray(observed, dtype=np.float64)
        if observed.ndim != 2 or observed.size != views * fp.arrays["encoder.w1"].shape[1]:
            return -1.0
        mine = encode(fp.arrays, view_vectors(observed, views))
        norms = np.linalg.norm(mine, axis=1) * np.linalg.norm(source, axis=1)
        return float(np.mean(np.sum(mine * source, axis=1) / np.maximum(norms, 1e-12)))
