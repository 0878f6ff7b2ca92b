"""IPGuard (Cao, Jia, Gong, AsiaCCS 2021): fingerprint the classification boundary.

For each of `n` initial points the owner picks its source label i and a target label
j (random other label, or the least likely one), then optimises the point with Adam
on

    ReLU(z_i(x) - z_j(x) + k) + ReLU(max_{t != i,j} z_t(x) - z_i(x))

so that j wins by a logit margin of k while i stays the runner-up: the point sits
just across the i/j boundary. The fingerprint is the points and the source's labels
on them; a suspect's score is its matching rate (share of points it labels like the
source). Larger k moves points away from the boundary (robust to modification, less
unique). Points are kept in the valid pixel range [0, 1] (`clip`), since a suspect
API takes images. Initial points are uniform noise (`init=random`, the default: on
digits it separated fine-tuned/pruned copies from independent models better) or
the owner's own `defender` images (`init=data`).
"""
from __future__ import annotations

import time

import numpy as np
import torch

from methods import register_method, scales
from methods.base import COUNT, RATE, STEPS, WEIGHT, Fingerprint, Method, OwnerContext


def boundary_loss(z: torch.Tensor, i: torch.Tensor, j: torch.Tensor, k: float) -> torch.Tensor:
    """Per-sample IPGuard loss; zero once j leads by k and i is the runner-up."""
    rows = torch.arange(len(z), device=z.device)
    z_i, z_j = z[rows, i], z[rows, j]
    others = z.clone()
    others[rows, i] = float("-inf")
    others[rows, j] = float("-inf")
    if z.shape[1] > 2:
        runner = torch.relu(others.max(dim=1).values - z_i)
    else:
        runner = torch.zeros_like(z_i)
    return torch.relu(z_i - z_j + k) + runner


@register_method("ipguard")
class IPGuard(Method):
    access = "labels"
    score_scale = scales.RATE
    per_query = True
    defaults = {"n": 100, "k": 1.0, "steps": 1000, "lr": 0.01, "init": "random", "target": "random", "clip": True}
    summary = "points just across the source's decision boundary; label matching rate"
    tiny = {"n": 20, "steps": 200}
    bounds = {"n": COUNT, "k": WEIGHT, "steps": STEPS, "lr": RATE}  # k: logit margin, 0 = on the boundary
    choices = {"init": ("data", "random"), "target": ("random", "least")}

    def fingerprint(self, source, owner: OwnerContext) -> Fingerprint:
        p = self.params
        started = time.perf_counter()
        generator = torch.Generator().manual_seed(owner.seed)
        x0 = self._initial_points(owner, generator)
        source.eval()
        for param in source.parameters():
            param.requires_grad_(False)
        with torch.no_grad():
            z0 = source(x0)
        i = z0.argmax(dim=1)
        j = self._targets(z0, i, generator)
        x = x0.clone().requires_grad_(True)
        optimizer = torch.optim.Adam([x], lr=p["lr"])
        done = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        steps_taken = 0
        for steps_taken in range(1, p["steps"] + 1):
            loss = boundary_loss(source(x), i, j, p["k"])
            done |= loss.detach() <= 1e-5
            if bool(done.all()):
                break
            optimizer.zero_grad(set_to_none=True)
            (loss * (~done)).sum().backward()
            frozen = x.detach()[done].clone()
            optimizer.step()
            with torch.no_grad():
                x[done] = frozen  # a finished point stays where it reached the margin
                if p["clip"]:
                    x.clamp_(0.0, 1.0)
        for param in source.parameters():
            param.requires_grad_(True)
        with torch.no_grad():
            labels = source(x).argmax(dim=1)
        meta = {
            "params": self.params,
            "reached_margin": float(done.float().mean()),
            "steps_taken": steps_taken,
            "seconds": time.perf_counter() - started,
        }
        return Fingerprint(
            inputs=x.detach().cpu().numpy().astype(np.float32),
            labels=labels.cpu().numpy().astype(np.int64),
            arrays={"initial_label": i.cpu().numpy(), "target_label": j.cpu().numpy()},
            meta=meta,
        )

    def _initial_points(self, owner: OwnerContext, generator: torch.Generator) -> torch.Tensor:
        n = self.params["n"]
        if self.params["init"] == "random":
            shape = (n, *owner.data.input_shape)
            return torch.rand(shape, generator=generator).to(owner.device)
        pool = owner.data.x("defender")
        pick = torch.randperm(len(pool), generator=generator)[:n].to(pool.device)
        return pool[pick].clone()

    def _targets(self, z0: torch.Tensor, i: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.params["target"] == "least":
            return z0.argmin(dim=1)
        classes = z0.shape[1]
        offset = torch.randint(1, classes, (len(i),), generator=generator).to(i.device)
        return (i + offset) % classes  # uniform over the labels other than i

    def score(self, fp: Fingerprint, observed: np.ndarray) -> float:
        """Matching rate: share of fingerprint points the suspect labels like the source."""
        return float(np.mean(np.asarray(observed) == fp.labels))
