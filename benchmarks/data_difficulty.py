"""Does a data set leave room for a source model's quirks? Agreement with the source, measured.

Output-based stealing (distillation, Knockoff) can only be told from independent
training where the source answers differently from an independent model of the
same task: a student learns those answers, an innocent model does not. This script
trains, on one data set, a source (`cnn`, defender split), independent models (the
`independent` split: two cnn seeds, an mlp and a vgg), a fine-tuned copy, and
distilled and Knockoff students (cnn and mlp), and prints each model's top-1
agreement with the source on:

- `test`: the held-out images;
- `src-wrong`: the held-out images the source gets wrong (where a student can inherit
  an error an independent model does not make: SAC-w's queries);
- `ipguard`: IPGuard's fingerprint, points near the source's decision boundaries;
- `ood`: 500 natural-image patches (Knockoff's query distribution).

Recipe variants of the source and the independents (the students follow the
variant's source): `size=F` keeps a fraction F of the defender and independent
splits, `smooth=E` trains with label smoothing E, `epochs=N` stops after N epochs.

    .venv/bin/python benchmarks/data_difficulty.py [--dataset digits] [--variants base size=0.25 ...]
"""
from __future__ import annotations

import argparse
import copy
import functools
import time

import numpy as np
import torch
import torch.nn.functional as F

from methods import get_method
from methods.base import OwnerContext
from zoo.archs import build_arch
from zoo.data import DataBundle
from zoo.datasets import Splits, load_splits
from zoo.datasets.natural_patches import natural_patches
from zoo.fit import TrainTask, accuracy, fit_many, predict_logits
from zoo.steps import StepContext, get_step

INDEPENDENTS = (("cnn", 1), ("cnn", 2), ("mlp", 1), ("vgg", 1))
DERIVED = (
    ("ftal copy", "finetune", {"mode": "ftal"}),
    ("distill cnn", "distill", {"arch": "cnn"}),
    ("distill mlp", "distill", {"arch": "mlp"}),
    ("knockoff cnn", "knockoff", {"arch": "cnn"}),
    ("knockoff mlp", "knockoff", {"arch": "mlp"}),
)


def variant_splits(splits: Splits, size: float) -> Splits:
    """The same splits with the two training parts cut to a fraction (per class order kept)."""
    if size >= 1.0:
        return splits
    parts = dict(splits.parts)
    for name in ("defender", "independent"):
        rng = np.random.default_rng(0)
        keep = np.sort(rng.permutation(len(parts[name]))[: max(10, int(size * len(parts[name])))])
        parts[name] = parts[name].subset(keep)
    return Splits(splits.name, splits.input_shape, splits.num_classes, parts)


def train_root(data: DataBundle, arch: str, split: str, seed: int, epochs: int, smooth: float):
    torch.manual_seed(seed)
    model = build_arch(arch, data.input_shape, data.num_classes)
    criterion = functools.partial(F.cross_entropy, label_smoothing=smooth) if smooth else F.cross_entropy
    task = TrainTask(model, data.x(split), data.y(split), epochs=epochs, lr=0.001, batch=64, opt="adam",
                     seed=seed, criterion=criterion)
    return fit_many([task])[0].eval()


def derive(source, data: DataBundle, step: str, params: dict, seed: int):
    kind = get_step(step)
    full = {**kind.defaults, **params}
    return kind().apply(copy.deepcopy(source), full, StepContext(data, "cpu", seed)).eval()


def agreement(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a == b).float().mean()) if len(a) else float("nan")


def run_variant(dataset: str, label: str, size: float, smooth: float, epochs: int) -> None:
    data = DataBundle(variant_splits(load_splits(dataset), size))
    started = time.perf_counter()
    source = train_root(data, "cnn", "defender", 0, epochs, smooth)
    models = {f"indep {a} s{s}": train_root(data, a, "independent", s, epochs, smooth) for a, s in INDEPENDENTS}
    models.update({name: derive(source, data, step, p, 7 + i) for i, (name, step, p) in enumerate(DERIVED)})
    ipguard = get_method("ipguard")().fingerprint(copy.deepcopy(source), OwnerContext(data, "cpu", 0))
    x_test, y_test = data.x("test"), data.y("test")
    probes = {
        "test": x_test,
        "ipguard": torch.as_tensor(np.asarray(ipguard.inputs), dtype=torch.float32),
        "ood": torch.from_numpy(natural_patches(data.input_shape, 500, seed=123)),
    }
    answers = {k: predict_logits(source, v).argmax(1) for k, v in probes.items()}
    wrong = answers["test"] != y_test
    seconds = time.perf_counter() - started
    print(f"\n## {dataset} {label}: source accuracy {accuracy(source, x_test, y_test):.3f}, "
          f"{int(wrong.sum())} of {len(y_test)} test images wrong, "
          f"defender {len(data.y('defender'))} images, {seconds:.0f} s")
    print(f"{'model':16} {'acc':>6} {'test':>6} {'src-wrong':>9} {'ipguard':>8} {'ood':>6}")
    for name, model in models.items():
        got = {k: predict_logits(model, v).argmax(1) for k, v in probes.items()}
        print(f"{name:16} {accuracy(model, x_test, y_test):6.3f} {agreement(got['test'], answers['test']):6.3f} "
              f"{agreement(got['test'][wrong], answers['test'][wrong]):9.3f} "
              f"{agreement(got['ipguard'], answers['ipguard']):8.3f} {agreement(got['ood'], answers['ood']):6.3f}")


def parse_variant(text: str) -> tuple[str, float, float, int]:
    size, smooth, epochs = 1.0, 0.0, 30
    for part in filter(None, text.split(",")):
        if part == "base":
            continue
        key, _, value = part.partition("=")
        if key == "size":
            size = float(value)
        elif key == "smooth":
            smooth = float(value)
        elif key == "epochs":
            epochs = int(value)
        else:
            raise SystemExit(f"unknown variant {part!r}: use base, size=F, smooth=E, epochs=N")
    return text, size, smooth, epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--variants", nargs="+", default=["base"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    for text in args.variants:
        run_variant(args.dataset, *parse_variant(text))


if __name__ == "__main__":
    main()
