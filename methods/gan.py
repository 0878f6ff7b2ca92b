"""The one conditional GAN that NaturalFinger and MarginFinger train on the owner's data.

NaturalFinger optimises latents of a pretrained SAGAN (hinge loss, spectral norm,
projection discriminator); MarginFinger trains its own conditional GAN with a margin
term that involves the source model. No pretrained GAN exists offline for our data
sets, so both methods train this one on the owner's `defender` split, each with its
own losses, passed in as functions:

* `hinge_losses()`: the SAGAN objective NaturalFinger's discriminator loss assumes
  (D: relu(1 - D(real)) + relu(1 + D(fake)); G: -D(fake)).
* MarginFinger builds its BCE-based losses in `methods/marginfinger.py`.

The networks are DCGAN-sized for small inputs and sized from the input shape: the
generator maps (z, label) through a linear layer to a grid of side H / 2^k (k = the
number of halvings that keep the grid at least 4 wide), then k transposed-conv blocks
with batch norm; the discriminator mirrors it with strided convolutions under
spectral norm, global sum pooling and a projection term for the label (Miyato and
Koyama), as SAGAN does. Images are in [-1, 1] inside the GAN (tanh output) and
[0, 1] outside; `Generator.images` converts.
"""
from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

LossFn = Callable[..., torch.Tensor]


def upsamplings(input_shape: tuple[int, int, int]) -> int:
    """How many 2x steps lead from a grid of side >= 4 (or the image itself) to H x W."""
    _, h, w = input_shape
    k = 0
    while h % 2 == 0 and w % 2 == 0 and min(h, w) // 2 >= 4:
        h, w, k = h // 2, w // 2, k + 1
    return k


def base_width(input_shape: tuple[int, int, int]) -> int:
    return 32 if min(input_shape[1:]) < 16 else 64


class Generator(nn.Module):
    def __init__(self, input_shape: tuple[int, int, int], num_classes: int, z_dim: int):
        super().__init__()
        c, h, w = input_shape
        k = upsamplings(input_shape)
        self.z_dim, self.grid = z_dim, (h >> k, w >> k)
        ch = base_width(input_shape) * 2 ** max(k, 1)
        self.embed = nn.Embedding(num_classes, z_dim)
        self.fc = nn.Linear(2 * z_dim, ch * self.grid[0] * self.grid[1])
        self.start = ch
        blocks: list[nn.Module] = []
        for _ in range(k):
            blocks += [nn.BatchNorm2d(ch), nn.ReLU(), nn.ConvTranspose2d(ch, ch // 2, 4, stride=2, padding=1)]
            ch //= 2
        blocks += [nn.BatchNorm2d(ch), nn.ReLU(), nn.Conv2d(ch, c, 3, padding=1), nn.Tanh()]
        self.blocks = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.fc(torch.cat([z, self.embed(y)], dim=1))
        return self.blocks(h.view(len(z), self.start, *self.grid))

    def images(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Samples in the classifiers' pixel range [0, 1]."""
        return (self(z, y) + 1) / 2


class Discriminator(nn.Module):
    def __init__(self, input_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        c = input_shape[0]
        ch = base_width(input_shape)
        layers: list[nn.Module] = [spectral_norm(nn.Conv2d(c, ch, 3, padding=1)), nn.LeakyReLU(0.1)]
        for _ in range(max(upsamplings(input_shape), 1)):
            layers += [spectral_norm(nn.Conv2d(ch, 2 * ch, 4, stride=2, padding=1)), nn.LeakyReLU(0.1)]
            ch *= 2
        self.body = nn.Sequential(*layers)
        self.out = spectral_norm(nn.Linear(ch, 1))
        self.embed = spectral_norm(nn.Embedding(num_classes, ch))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Unnormalised realness of images in [-1, 1] given their labels, one value per image."""
        h = self.body(x).sum(dim=(2, 3))
        return self.out(h).squeeze(1) + (self.embed(y) * h).sum(dim=1)


def hinge_losses() -> tuple[LossFn, LossFn]:
    """SAGAN's hinge objective: (discriminator loss, generator loss)."""

    def d_loss(d_real, d_fake):
        return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()

    def g_loss(x_fake, y, d_fake):
        return -d_fake.mean()

    return d_loss, g_loss


@dataclass
class GANSettings:
    steps: int
    batch: int = 64
    z_dim: int = 32
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.0, 0.9)
    r1: float = 0.0  # weight of the mean squared gradient norm of D on real images (MarginFinger: 10)
    ema: float = 0.0  # exponential moving average of the generator's weights; 0 = off


@dataclass
class TrainedGAN:
    generator: Generator
    discriminator: Discriminator
    seconds: float


def train_gan(x: torch.Tensor, y: torch.Tensor, num_classes: int, settings: GANSettings,
              d_loss: LossFn, g_loss: LossFn, generator: torch.Generator) -> TrainedGAN:
    """Alternate one discriminator and one generator step per batch; returns eval-mode nets.

    `x` are real images in [0, 1] with labels `y`; fake images are drawn for the real
    batch's labels, so the class mix follows the data. `g_loss(x_fake, y, d_fake)`
    sees the fake images in [-1, 1], which is where extra terms (MarginFinger's margin
    loss) hook in. Module initialisation uses the global RNG: callers seed it.
    """
    started = time.perf_counter()
    shape, device = tuple(x.shape[1:]), x.device
    gen = Generator(shape, num_classes, settings.z_dim).to(device)
    disc = Discriminator(shape, num_classes).to(device)
    average = copy.deepcopy(gen) if settings.ema > 0 else None
    pairs = list(zip(average.state_dict().values(), gen.state_dict().values())) if average is not None else []
    opt_g = torch.optim.Adam(gen.parameters(), lr=settings.lr_g, betas=settings.betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=settings.lr_d, betas=settings.betas)
    for _ in range(settings.steps):
        index = torch.randint(len(x), (settings.batch,), generator=generator).to(device)
        real, labels = x[index] * 2 - 1, y[index]
        z = torch.randn(settings.batch, settings.z_dim, generator=generator).to(device)
        with torch.no_grad():
            fake = gen(z, labels)
        real.requires_grad_(settings.r1 > 0)
        d_real = disc(real, labels)
        loss = d_loss(d_real, disc(fake, labels))
        if settings.r1 > 0:
            (grad,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
            loss = loss + settings.r1 * grad.pow(2).flatten(1).sum(1).mean()
        opt_d.zero_grad(set_to_none=True)
        loss.backward()
        opt_d.step()

        z = torch.randn(settings.batch, settings.z_dim, generator=generator).to(device)
        fake = gen(z, labels)
        for p in disc.parameters():
            p.requires_grad_(False)
        loss = g_loss(fake, labels, disc(fake, labels))
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()
        for p in disc.parameters():
            p.requires_grad_(True)
        with torch.no_grad():
            for a, p in pairs:  # the state tensors, listed once rather than by state_dict() every step
                a.copy_(p) if not a.is_floating_point() else a.lerp_(p, 1 - settings.ema)
    final = average if average is not None else gen
    final.eval()
    disc.eval()
    for p in [*final.parameters(), *disc.parameters()]:
        p.requires_grad_(False)
    return TrainedGAN(final, disc, time.perf_counter() - started)
