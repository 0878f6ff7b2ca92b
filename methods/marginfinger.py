"""MarginFinger (Liu and Zhong, ICMR 2024): a conditional GAN that generates fingerprints
at a controlled distance from the source's decision boundary.

The owner trains a conditional GAN on its own data with the source model in the loop
and no proxy models (official code: wason981/MarginFinger, `gan_training/train.py`):

* discriminator: BCE(D(x, y), 1) + gamma * BCE(D(G(z, y), y), 0), plus the R1 penalty
  reg * E||grad_x D(x, y)||^2 on real images (config: reg_type real, reg_param 10);
* generator: an *encirclement* loss BCE(D(G(z, y), y), alpha) (a soft target; our
  reading: alpha < 1 keeps samples near, not on, the data), a *dispersion* loss beta / mean_i
  ||G_i - mean G||^2 against mode collapse, and the *margin* (condition) loss
  omega * mean |p_2nd - p_y + d|, p = softmax(source(G(z, y))), which pins the
  source's probability gap between the conditioned class y and the runner-up at d:
  small d puts samples next to the boundary, larger d deeper inside class y.
Fingerprints are sampled with fixed latents and class-balanced conditions; a suspect's
score is its matching rate with the source's labels on them (`evaluation/
auc_matching_rate.py` compares predictions with the source's), and the report turns
matching rates into ARUC, MarginFinger's headline metric (0.186 on CIFAR-10).

Defaults: d, alpha, beta, gamma, omega as the README's training command (0.1, 0.1, 0,
1, 5); the BCE GAN, R1 weight 10 and Adam betas (0, 0.99) from its config. At digits
scale: the GAN of `methods/gan.py` (the official one is a ResNet GAN; ours uses a
projection discriminator instead of the code's per-class output "mask"), batch 64,
z of 32 dimensions, 1000 steps at lr 2e-4 (config: 128, 256, lr 1e-4, thousands of
epochs), the generator's weight average at 0.99 (config 0.999: after 1000 steps the
untrained initial weights would still weigh 0.999^1000 = 37%), and n = 100 samples
(the code writes 1,000).
"""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from methods import register_method, scales
from methods.base import COUNT, RATE, STEPS, UNIT, WEIGHT, WIDTH, Below, Fingerprint, Method, OwnerContext
from methods.gan import GANSettings, train_gan
from methods.meta import frozen, seeded


def margin_loss(probs: torch.Tensor, y: torch.Tensor, d: float) -> torch.Tensor:
    """mean |p_second - p_y + d|: zero when the class-y probability leads the runner-up by d."""
    p_y = probs.gather(1, y[:, None]).squeeze(1)
    runner_up = probs.scatter(1, y[:, None], float("-inf")).max(dim=1).values
    return (runner_up - p_y + d).abs().mean()


@register_method("marginfinger")
class MarginFinger(Method):
    access = "labels"
    score_scale = scales.RATE
    per_query = True
    defaults = {
        "n": 100, "d": 0.1, "alpha": 0.1, "beta": 0.0, "gamma": 1.0, "omega": 5.0, "reg": 10.0,
        "gan_steps": 1000, "gan_lr": 2e-4, "batch": 64, "z_dim": 32, "ema": 0.99,
    }
    summary = "conditional-GAN samples at margin d from the source's boundary; label matching rate"
    tiny = {"n": 20, "gan_steps": 60, "gan_lr": 4e-4}
    # d: probability gap, alpha: BCE soft target; ema 1 would freeze the generator's average
    bounds = {"n": COUNT, "d": UNIT, "alpha": UNIT, "beta": WEIGHT, "gamma": WEIGHT, "omega": WEIGHT, "reg": WEIGHT,
              "gan_steps": STEPS, "gan_lr": RATE, "batch": WIDTH, "z_dim": WIDTH, "ema": (0.0, Below(1))}

    def fingerprint(self, source, owner: OwnerContext) -> Fingerprint:
        p, data = self.params, owner.data
        started = time.perf_counter()
        with seeded(owner.seed) as g, frozen([source]):
            settings = GANSettings(steps=p["gan_steps"], batch=p["batch"], z_dim=p["z_dim"], lr_g=p["gan_lr"],
                                   lr_d=p["gan_lr"], betas=(0.0, 0.99), r1=p["reg"], ema=p["ema"])
            d_loss, g_loss = self.losses(source)
            gan = train_gan(data.x("defender"), data.y("defender"), data.num_classes, settings, d_loss, g_loss, g)
            z = torch.randn(p["n"], p["z_dim"], generator=g).to(owner.device)
            y = (torch.arange(p["n"]) % data.num_classes).to(owner.device)
            with torch.no_grad():
                x = gan.generator.images(z, y)
                probs = source(x).softmax(1)
        labels = probs.argmax(1)
        top2 = probs.topk(2, dim=1).values
        return Fingerprint(
            inputs=x.cpu().numpy().astype(np.float32),
            labels=labels.cpu().numpy().astype(np.int64),
            arrays={"condition": y.cpu().numpy()},
            meta={"params": self.params, "gan_seconds": gan.seconds, "seconds": time.perf_counter() - started,
                  "label_is_condition": float((labels == y).float().mean()),
                  "margin_mean": float((top2[:, 0] - top2[:, 1]).mean()),
                  "margin_std": float((top2[:, 0] - top2[:, 1]).std())},
        )

    def losses(self, source):
        """MarginFinger's (discriminator loss, generator loss) around the frozen source."""
        p = self.params

        def bce(logits, target):
            return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))

        def d_loss(d_real, d_fake):
            return bce(d_real, 1.0) + p["gamma"] * bce(d_fake, 0.0)

        def g_loss(x_fake, y, d_fake):
            loss = bce(d_fake, p["alpha"])
            if p["beta"]:
                spread = (x_fake - x_fake.mean(dim=0, keepdim=True)).pow(2).flatten(1).sum(1).mean()
                loss = loss + p["beta"] / spread
            probs = source(((x_fake + 1) / 2).clamp(0, 1)).softmax(1)
            return loss + p["omega"] * margin_loss(probs, y, p["d"])

        return d_loss, g_loss

    def score(self, fp: Fingerprint, observed: np.ndarray) -> float:
        """Matching rate with the source's labels."""
        return float(np.mean(np.asarray(observed) == fp.labels))
