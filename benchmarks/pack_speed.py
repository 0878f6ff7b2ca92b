"""Models trained per second by `fit_many`, per family and pack size, with and without the cheap wins.

Each cell trains K fresh models of one family on digits' defender split (624
8x8 images) for EPOCHS epochs of Adam, batch 64, on one CPU thread, through the
engine's own `fit_many`, with one kernel choice (`zoo.fit.Kernels`), against
the baseline of the loop before packing (one NCHW model at a time, per-tensor Adam):

- exact, NCHW: per-member convolutions and linear layers, unfused Adam (at K=1 the
  loop before packing, bit for bit);
- exact, NHWC: the same in channels_last, the engine's CPU default;
- exact, NHWC, fused Adam: all the cheap wins, no longer exact (fused CPU Adam rounds by offset);
- batched, NHWC, fused Adam: one grouped convolution and one batched matmul per
  layer for all members, the engine's CUDA choice.

Time is the process's CPU time, best of --repeat: with one thread it is the work
done, and it does not count the waits a shared machine adds to wall time.

    .venv/bin/python benchmarks/pack_speed.py [--epochs 2] [--repeat 2] [--packs 1,4,16] [--archs mlp,cnn]
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from zoo.archs import build_arch, list_archs
from zoo.data import DataBundle
from zoo.fit import Kernels, TrainTask, batches, fit_many, make_optimizer

VARIANTS = {
    "exact, NCHW": Kernels(per_member=True, channels_last=False, fused_adam=False),
    "exact, NHWC (cpu default)": Kernels(per_member=True, channels_last=True, fused_adam=False),
    "exact, NHWC, fused Adam": Kernels(per_member=True, channels_last=True, fused_adam=True),
    "batched, NHWC, fused Adam": Kernels(per_member=False, channels_last=True, fused_adam=True),
}


def tasks(arch: str, k: int, data, epochs: int) -> list[TrainTask]:
    x, y = data.x("defender"), data.y("defender")
    out = []
    for seed in range(k):
        torch.manual_seed(seed)
        model = build_arch(arch, data.input_shape, data.num_classes)
        out.append(TrainTask(model, x, y, epochs=epochs, lr=1e-3, batch=64, opt="adam", seed=seed))
    return out


def train_unpacked(task: TrainTask) -> None:
    """The training loop as it was before packing, kept here as the baseline."""
    model, optimizer = task.model, make_optimizer(task.model.parameters(), task.opt, task.lr)
    model.train()
    for index in batches([task]):
        loss = F.cross_entropy(model(task.x[index[0]]), task.targets[index[0]])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def unpacked_models_per_second(arch: str, data, epochs: int, repeat: int) -> float:
    train_unpacked(tasks(arch, 1, data, 1)[0])  # warm-up
    best = float("inf")
    for _ in range(repeat):
        (task,) = tasks(arch, 1, data, epochs)
        start = time.process_time()
        train_unpacked(task)
        best = min(best, time.process_time() - start)
    return 1 / best


def models_per_second(arch: str, k: int, kernels: Kernels, data, epochs: int, repeat: int) -> float:
    fit_many(tasks(arch, k, data, 1), kernels)  # warm-up: oneDNN builds its kernels per shape on first use
    best = float("inf")
    for _ in range(repeat):
        pack = tasks(arch, k, data, epochs)
        start = time.process_time()
        fit_many(pack, kernels)
        best = min(best, time.process_time() - start)
    return k / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--packs", default="1,4,16")
    parser.add_argument("--archs", default=",".join(list_archs()))
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = DataBundle.load("digits", None, "cpu")
    packs = [int(k) for k in args.packs.split(",")]
    print(f"models/s, digits defender split, {args.epochs} epochs, batch 64, Adam, 1 thread (CPU time)\n")
    label = f"K={packs[-1]} vs unpacked"
    header = f"| {'family':9} | {'kernels':26} | " + " | ".join(f"K={k:<3}" for k in packs) + f" | {label} |"
    print(header)
    print("|" + "|".join("-" * len(cell) for cell in header.split("|")[1:-1]) + "|")
    for arch in args.archs.split(","):
        baseline = unpacked_models_per_second(arch, data, args.epochs, args.repeat)
        print(f"| {arch:9} | {'unpacked (before packing)':26} | " + " | ".join(f"{baseline:5.1f}" for _ in packs)
              + f" | {1:{len(label) - 1}.2f}x |")
        for name, kernels in VARIANTS.items():
            rates = [models_per_second(arch, k, kernels, data, args.epochs, args.repeat) for k in packs]
            cells = " | ".join(f"{r:5.1f}" for r in rates)
            print(f"| {arch:9} | {name:26} | {cells} | {rates[-1] / baseline:{len(label) - 1}.2f}x |",
                  flush=True)


if __name__ == "__main__":
    main()
