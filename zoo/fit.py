"""The one training loop every model in the zoo goes through.

Data already sits on the device as tensors (digits and CIFAR-scale sets fit), so a
loop is a shuffled index per epoch and no DataLoader workers: nothing to fork inside
a GPU actor, and the order depends only on the seed.

`fit_many` trains K models of one architecture at once as a `zoo.pack.PackedNet`;
each member keeps its own initial weights, data, data order and loss, and every
layer and optimizer update acts on each member alone. `fit` is the one-model case
and takes the same path, so a model trains the same whether it is packed or not:
on CPU bit for bit (see `Kernels`).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from zoo.augment import Augment
from zoo.pack import PackedNet, unpack_into

Criterion = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
BatchLoss = Callable[[nn.Module, torch.Tensor], torch.Tensor]


@functools.lru_cache(maxsize=None)
def fused_adam_works(device_type: str) -> bool:
    """Whether this torch has a fused Adam kernel for the device type (CUDA; CPU since 2.4)."""
    probe = nn.Parameter(torch.zeros(1, device=device_type))
    probe.grad = torch.zeros(1, device=device_type)
    try:
        torch.optim.Adam([probe], fused=True).step()
    except (RuntimeError, TypeError):
        return False
    return True


@dataclass(frozen=True)
class Kernels:
    """Which kernels a pack trains with. `for_device` is the engine's choice; benchmarks vary it.

    Exactness: with per-member convolutions and linear layers and unfused Adam, a
    member's weights on CPU are bit-identical in any pack, of any size and in any
    slot, to training it alone (tests/test_pack.py; measured for every family,
    Adam and SGD, K up to 16, 1 and 2 threads, 8x8 and 32x32 inputs: a property of
    these kernels that the libraries do not promise). Batch norm over K*C channels
    and the elementwise ops compute each member's numbers in the same order
    whatever K. The one-call alternatives do not: oneDNN picks a grouped
    convolution's algorithm by group count and channels per group, MKL splits a
    lone matrix product's sums across threads but not a batched one's, and fused
    Adam rounds a tensor's vectorised body and its scalar tail differently, so a
    member's update would depend on its offset in the stacked tensor.
    On CPU (benchmarks/pack_speed.py) the one-call kernels would train 1.2-1.4x
    more conv models per second at K=4 and fused Adam 3-10% more (the optimizer
    runs once per layer, not per member; ~30% for the tiny mlp); the exact kernels
    still train 1.2-2.5x more than the loop before packing, so CPU stays exact.
    CUDA training is not bitwise reproducible anyway (cuDNN algorithm choice,
    atomics), so there a pack takes the one-call kernels and fused Adam, and the
    papers' GPU settings: bf16 autocast, NHWC and cuDNN's autotuner (benchmarks/gpu_check.sh
    measures each). CPU keeps float32.
    """

    per_member: bool
    channels_last: bool
    fused_adam: bool
    autocast: bool = False  # bf16 autocast of the forward pass and loss

    @classmethod
    def for_device(cls, device: torch.device | str) -> "Kernels":
        device = torch.device(device)
        if device.type == "cpu":
            # NHWC: measured on CPU (1 thread, digits, K=1 and K=4), a step takes 15-30% less
            # time for cnn, resnet and vgg and ~45% less for mobilenet.
            return cls(per_member=True, channels_last=True, fused_adam=False)
        torch.backends.cudnn.benchmark = True  # fixed batch shapes: let cuDNN pick its fastest algorithms
        return cls(per_member=False, channels_last=True, fused_adam=fused_adam_works(device.type), autocast=True)


def make_optimizer(params: Iterable[nn.Parameter], opt: str, lr: float, weight_decay: float = 0.0,
                   fused: bool = False):
    """Adam, or SGD with momentum 0.9: both elementwise, so members stacked in one tensor stay apart.

    `fused` runs Adam as one kernel over all tensors instead of a per-tensor loop.
    SGD always takes the default path (its fused CPU kernel rounds like fused Adam).
    """
    params = list(params)
    if opt == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True if fused else None)
    if opt == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {opt!r}; allowed: adam, sgd")


def soft_label_loss(student_logits, teacher_logits, temp: float) -> torch.Tensor:
    """KL(teacher || student) at temperature T, scaled by T^2 (Hinton et al.)."""
    return F.kl_div(
        F.log_softmax(student_logits / temp, dim=1),
        F.softmax(teacher_logits / temp, dim=1),
        reduction="batchmean",
    ) * (temp * temp)


@dataclass(eq=False)
class TrainTask:
    """One model to train in place, and how.

    `targets` are class indices (N,) or teacher logits (N, classes) for `criterion`,
    a per-model loss (logits, targets) -> scalar: F.cross_entropy, or
    functools.partial(soft_label_loss, temp=T). `trainable` names the module whose
    parameters train ("head"); None trains them all. `loss(model, index)` replaces
    the criterion for steps whose batches depend on the weights being trained
    (adversarial examples); such a task trains alone.
    """

    model: nn.Module
    x: torch.Tensor
    targets: torch.Tensor
    epochs: int
    lr: float
    batch: int
    opt: str
    seed: int
    weight_decay: float = 0.0
    criterion: Criterion = F.cross_entropy
    trainable: str | None = None
    loss: BatchLoss | None = None
    sched: str = "constant"  # the lr over the run's steps: zoo.recipes.SCHEDULES
    warmup: int = 0  # epochs of linear warm-up first
    augment: Augment = Augment()  # applied to each batch on the device, from the task's own seed


SHARED = ("epochs", "lr", "batch", "opt", "weight_decay", "criterion", "trainable", "sched", "warmup", "augment")


def label_loss(smooth: float = 0.0) -> Criterion:
    """Cross-entropy on class indices, with label smoothing when `smooth` > 0."""
    return functools.partial(F.cross_entropy, label_smoothing=smooth) if smooth else F.cross_entropy


def lr_factor(sched: str, warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """The multiplier of the base lr at optimizer step t (LambdaLR's function).

    constant: 1. cosine: half a cosine from 1 to 0 over the steps after warm-up
    (pytorch-cifar's CosineAnnealingLR, stepped per batch). step: x0.1 at 50 % and
    again at 75 % of the steps. onecycle: linear from 0.04 up to 1 over the first
    30 % (or the warm-up, when longer), then cosine down to 0. Warm-up ramps linearly from 1/warmup_steps to 1.
    """
    def factor(t: int) -> float:
        if t < warmup_steps:
            return (t + 1) / warmup_steps
        left = max(total_steps - warmup_steps, 1)
        done = (t - warmup_steps) / left
        if sched == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(done, 1.0)))
        if sched == "step":
            return 0.1 ** ((t >= total_steps * 0.5) + (t >= total_steps * 0.75))
        if sched == "onecycle":
            rise = max(int(total_steps * 0.3), 1)
            if t < rise:
                return 0.04 + 0.96 * t / rise
            return 0.5 * (1 + math.cos(math.pi * min((t - rise) / max(total_steps - rise, 1), 1.0)))
        return 1.0

    return factor


def steps_per_epoch(n: int, batch: int) -> int:
    """How many batches `batches` yields per epoch (a lone last sample is skipped)."""
    count = len(range(0, n, batch))
    return count - 1 if n >= 2 and n % batch == 1 else count


def same_criterion(a: Criterion, b: Criterion) -> bool:
    """Equality that takes two partial(soft_label_loss, temp=T) built apart as one criterion."""
    if isinstance(a, functools.partial) and isinstance(b, functools.partial):
        return (a.func, a.args, a.keywords) == (b.func, b.args, b.keywords)
    return a == b


def check_packable(tasks: list[TrainTask]) -> None:
    """Pack members share every setting but model, data and seed; name the first field that differs."""
    first = tasks[0]
    if len(tasks) > 1 and any(t.loss is not None for t in tasks):
        raise ValueError("loss: a task with a per-batch loss hook trains alone")
    for task in tasks[1:]:
        for field in SHARED:
            a, b = getattr(first, field), getattr(task, field)
            if not (same_criterion(a, b) if field == "criterion" else a == b):
                raise ValueError(f"{field}: every task of a pack must share it ({a!r} vs {b!r})")
        if len(task.x) != len(first.x):
            raise ValueError(f"len(x): every task of a pack must share it ({len(first.x)} vs {len(task.x)})")
        for field in ("x", "targets"):
            a, b = getattr(first, field), getattr(task, field)
            if (a.shape, a.dtype, a.device) != (b.shape, b.dtype, b.device):
                raise ValueError(f"{field}: shape, dtype and device must match across a pack "
                                 f"({tuple(a.shape)} vs {tuple(b.shape)})")


def trainable_parameters(model: nn.Module, prefix: str | None) -> list[nn.Parameter]:
    """The parameters under module `prefix`, or all of them when None."""
    chosen = [p for n, p in model.named_parameters() if prefix is None or n == prefix or n.startswith(prefix + ".")]
    if not chosen:
        raise ValueError(f"trainable={prefix!r} names no parameters")
    return chosen


def batches(tasks: list[TrainTask]):
    """(K, B) index batches: per epoch each member's own torch.randperm from its own seeded generator.

    A lone last sample is skipped: it breaks BatchNorm and adds only noise.
    """
    first = tasks[0]
    n, size = len(first.x), first.batch
    generators = [torch.Generator().manual_seed(t.seed) for t in tasks]
    for _ in range(first.epochs):
        order = torch.stack([torch.randperm(n, generator=g) for g in generators]).to(first.x.device)
        for start in range(0, n, size):
            index = order[:, start : start + size]
            if index.shape[1] >= 2 or n < 2:
                yield index


def gather(tensors: list[torch.Tensor], index: torch.Tensor, dim: int) -> torch.Tensor:
    """Rows index[k] of tensors[k], stacked along `dim` (0: (K, B, ...), 1: (B, K, ...)).

    When every member reads the same tensor it is one gather, not K: CIFAR-size
    data is never copied per member.
    """
    first = tensors[0]
    if all(t is first for t in tensors):
        return first[index if dim == 0 else index.T]
    return torch.stack([t[i] for t, i in zip(tensors, index)], dim=dim)


def batch_inputs(tasks: list[TrainTask], index: torch.Tensor, generators: list[torch.Generator]) -> torch.Tensor:
    """(B, K, ...) inputs of one step: gathered rows, each member's augmented with its own generator."""
    augment = tasks[0].augment
    if augment.identity:
        return gather([t.x for t in tasks], index, dim=1)
    return torch.stack([augment.apply(t.x[i], g) for t, i, g in zip(tasks, index, generators)], dim=1)


def schedule(optimizer, first: TrainTask):
    """The lr schedule of `first`'s recipe over every step of the run, or None for a constant lr."""
    if first.sched == "constant" and not first.warmup:
        return None
    per_epoch = steps_per_epoch(len(first.x), first.batch)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_factor(first.sched, first.warmup * per_epoch, first.epochs * per_epoch))


def fit_many(tasks: list[TrainTask], kernels: Kernels | None = None) -> list[nn.Module]:
    """Train every task's model in place as members of one packed network; returns the models."""
    if not tasks:
        return []
    check_packable(tasks)
    first = tasks[0]
    if len(first.x) == 0:
        raise ValueError("cannot train on an empty split")
    kernels = kernels or Kernels.for_device(first.x.device)
    if first.loss is not None:
        return [fit_with_hook(first, kernels)]
    models = [t.model for t in tasks]
    packed = PackedNet(models, kernels.per_member, kernels.channels_last)
    chosen = trainable_parameters(packed, first.trainable)
    trained = {id(p) for p in chosen}
    for param in packed.parameters():  # the pack is a copy: its frozen part needs no backward
        param.requires_grad_(id(param) in trained)
    optimizer = make_optimizer(chosen, first.opt, first.lr, first.weight_decay, kernels.fused_adam)
    lr_schedule = schedule(optimizer, first)
    ys = [t.targets for t in tasks]
    augmenting = [torch.Generator().manual_seed(t.seed + 1) for t in tasks]  # apart from the order's generator
    packed.train()
    for index in batches(tasks):
        with torch.autocast(first.x.device.type, torch.bfloat16, enabled=kernels.autocast):
            logits = packed(batch_inputs(tasks, index, augmenting).transpose(0, 1))  # (B, K, ...): packed layout
            losses = [first.criterion(*pair) for pair in zip(logits.float().unbind(), gather(ys, index, 0).unbind())]
        value = sum(losses[1:], losses[0])  # d(sum)/d(loss_k) = 1: each member's gradient is its own
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        if lr_schedule is not None:
            lr_schedule.step()
    unpack_into(packed, models)
    for model in models:
        model.eval()
    return models


def fit_with_hook(task: TrainTask, kernels: Kernels) -> nn.Module:
    """One model whose per-batch loss `task.loss(model, index)` needs the model itself, unpacked."""
    model = task.model
    params = trainable_parameters(model, task.trainable)
    optimizer = make_optimizer(params, task.opt, task.lr, task.weight_decay, kernels.fused_adam)
    model.train()
    for index in batches([task]):
        value = task.loss(model, index[0])
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
    model.eval()
    return model


def fit(
    model: nn.Module,
    x: torch.Tensor,
    targets: torch.Tensor,
    *,
    epochs: int,
    lr: float,
    batch: int,
    opt: str,
    seed: int,
    trainable: str | None = None,
    temp: float | None = None,
    weight_decay: float = 0.0,
    loss: BatchLoss | None = None,
) -> nn.Module:
    """Train one model in place. `targets` are class indices, or teacher logits when `temp` is set.

    `trainable` names the submodule whose parameters train ("head"; None: all).
    `loss(model, index)` replaces the default per-batch loss for attacks
    whose batches depend on the weights being trained or mix objectives.
    """
    criterion = F.cross_entropy if temp is None else functools.partial(soft_label_loss, temp=temp)
    task = TrainTask(model, x, targets, epochs, lr, batch, opt, seed, weight_decay, criterion, trainable, loss)
    return fit_many([task])[0]


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch: int = 512) -> torch.Tensor:
    model.eval()
    if len(x) == 0:
        return torch.empty(0, 0, device=x.device)
    return torch.cat([model(x[i : i + batch]) for i in range(0, len(x), batch)])


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    if len(x) == 0:
        return float("nan")
    return (predict_logits(model, x).argmax(1) == y).float().mean().item()
