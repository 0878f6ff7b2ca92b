"""Training images/s of each paper architecture on synthetic CIFAR-size data, per kernel setting.

For each architecture it trains through the engine's own loop (`zoo.fit.fit_many`,
the CIFAR recipe: SGD, cosine schedule, crop-and-flip on the device) on random
3x32x32 images already on the device, and times whole epochs after one warm-up
epoch. Settings: fp32 NCHW (the plain path), and the engine's CUDA default (bf16
autocast, channels_last, cuDNN autotuning); on CPU only the first is run.

    python benchmarks/arch_throughput.py [--images 25000] [--epochs 2] [--batch 512] [--archs resnet18 ...]

Goal (issue #17): ResNet-18 at >= 25,000 images/s on one H100-class GPU.
"""
from __future__ import annotations

import argparse
import time

import torch

from zoo.archs import build_arch
from zoo.augment import Augment
from zoo.fit import Kernels, TrainTask, fit_many

PAPER_ARCHS = ("resnet18", "resnet34", "vgg13_bn", "vgg16_bn", "mobilenetv2", "densenet121")


def settings(device: torch.device) -> dict[str, Kernels]:
    plain = Kernels(per_member=device.type == "cpu", channels_last=False, fused_adam=False)
    if device.type == "cpu":
        return {"fp32, NCHW": plain}
    return {"fp32, NCHW": plain, "bf16, NHWC, autotuned (default)": Kernels.for_device(device)}


def images_per_second(arch: str, kernels: Kernels, images: int, epochs: int, batch: int, device) -> float:
    """Images/s over `epochs` epochs of `images` random images, after one warm-up epoch."""
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(images, 3, 32, 32, generator=generator).to(device)
    y = torch.randint(0, 10, (images,), generator=generator).to(device)

    def task(n_epochs: int) -> TrainTask:
        torch.manual_seed(0)
        model = build_arch(arch, (3, 32, 32), 10).to(device)
        return TrainTask(model, x, y, epochs=n_epochs, lr=0.1, batch=batch, opt="sgd", seed=0, weight_decay=5e-4,
                         sched="cosine", augment=Augment(crop_pad=4, flip=True))

    torch.backends.cudnn.benchmark = kernels.autocast  # the engine's CUDA default turns the autotuner on
    fit_many([task(1)], kernels)  # warm-up: cuDNN autotuning, allocator, lazy init
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    fit_many([task(epochs)], kernels)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return images * epochs / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=25000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--archs", nargs="+", default=list(PAPER_ARCHS))
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    print(f"{name}: {args.images} images x {args.epochs} epochs, batch {args.batch}")
    for arch in args.archs:
        for label, kernels in settings(device).items():
            rate = images_per_second(arch, kernels, args.images, args.epochs, args.batch, device)
            print(f"{arch:12s} {label:32s} {rate:10,.0f} images/s", flush=True)


if __name__ == "__main__":
    main()
