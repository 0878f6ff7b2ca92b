"""What a plan will cost to train, estimated before anything runs.

Training FLOPs of a model = 3 x its forward FLOPs per image (forward, and a backward
of about twice that) x the images it sees (epochs x the split it trains on, or its
query budget). Forward FLOPs are counted once per (architecture, input, classes)
with hooks on every convolution and linear layer (2 x multiply-adds); batch norm,
activations and pooling are left out, as FLOP counts in papers do. Adversarial steps
add one forward and backward per PGD iteration on the share of data they perturb.
Pruning and noising cost nothing here; a query costs one forward per fingerprint input
and is too small to count.

GPU-hours divide the FLOPs by an assumed sustained throughput (`ASSUMED_TFLOPS`, bf16
on one H100-class GPU at about a third of its dense peak); `benchmarks/gpu_check.sh`
measures the real images/s to check it against. The data set sizes are the published
ones, cut by the benchmark's split fractions, so no data need be present to plan.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from zoo.datasets.splits import SPLIT_FRACTIONS

ASSUMED_TFLOPS = 300.0
# (images in train + test, input shape, classes): the published sizes of each data set.
DATASET_SHAPES: dict[str, tuple[int, tuple[int, int, int], int]] = {
    "digits": (1797, (1, 8, 8), 10),
    "hard_digits": (2 * 1797, (1, 8, 8), 10),
    "shapes": (6000, (3, 12, 12), 10),
    "fashion_mnist": (70000, (1, 28, 28), 10),
    "cifar10": (60000, (3, 32, 32), 10),
    "cifar100": (60000, (3, 32, 32), 100),
    "tiny_imagenet": (110000, (3, 64, 64), 200),
}


@lru_cache(maxsize=None)
def forward_flops(arch: str, input_shape: tuple[int, int, int], num_classes: int) -> int:
    """FLOPs of one image's forward pass: 2 x the multiply-adds of every conv and linear layer."""
    import torch
    from torch import nn

    from zoo.archs import build_arch

    total = 0

    def count(module, inputs, output):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            kernel = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            total += 2 * kernel * output[0].numel()
        elif isinstance(module, nn.Linear):
            total += 2 * module.in_features * module.out_features

    model = build_arch(arch, input_shape, num_classes).eval()
    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(1, *input_shape))
    for hook in hooks:
        hook.remove()
    return total


@dataclass(frozen=True)
class TrainingCost:
    models: int  # models that train (not prune/noise-only steps)
    flops: float

    @property
    def gpu_hours(self) -> float:
        return self.flops / (ASSUMED_TFLOPS * 1e12) / 3600


def images_seen(step, dataset: str) -> float:
    """Images one model's last step trains on over all its epochs (0 for steps that do not train)."""
    params = step.as_dict()
    epochs = params.get("epochs")
    if epochs is None:
        return 0.0
    size = DATASET_SHAPES.get(dataset, DATASET_SHAPES["digits"])[0]
    if step.name == "knockoff":
        per_epoch = float(params.get("queries", 0))
    else:
        per_epoch = size * SPLIT_FRACTIONS.get(str(params.get("data", params.get("split", "defender"))), 0.1)
    seen = epochs * per_epoch
    if step.name == "advtrain":  # PGD: one forward and backward per iteration on the perturbed share
        seen *= 1 + params.get("steps", 0) * params.get("fraction", 0.0)
    if step.name == "extract" and params.get("kind") == "adv":
        seen += params.get("adv_epochs", 0) * per_epoch * (1 + params.get("adv_steps", 0))
    return seen


def plan_cost(nodes, dataset: str) -> TrainingCost:
    """The training FLOPs of every model of a plan (engine.plan.ModelNode values)."""
    _, shape, classes = DATASET_SHAPES.get(dataset, DATASET_SHAPES["digits"])
    flops, trained = 0.0, 0
    for node in nodes:
        seen = images_seen(node.derivation.last, dataset)
        if seen:
            trained += 1
            flops += 3 * forward_flops(node.arch, shape, classes) * seen
    return TrainingCost(trained, flops)
