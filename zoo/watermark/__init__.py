"""Training-time watermarks: root steps that train a *marked* source from scratch.

Fingerprinting methods read a trained model; watermark methods change how the
source is trained. Each family here is a root step like `train` (same positional
`arch,dataset` and the same training parameters, plus its own), registered under
the names `zoo.steps` maps: `wm_margin` (Kim et al., ICML 2023), `wm_ewe` (Jia et
al., USENIX Security 2021) and `wm_features` (Li et al., AAAI 2022).

A marked model is stored as plain weights, so nothing a step draws while training
(keys, triggers, styled images) can travel with it. Every such set is therefore a
deterministic function of the step's parameters and the owner's data, written once
in the step's module and called both by the step and by the method's `fingerprint`.

This package also builds the derivation strings the methods need: the marked source
that replaces the clean one (`marked_root`) and clean owner-side models trained with
the same recipe (`clean_root`).
"""
from __future__ import annotations

from typing import Any

from zoo.spec import Step, canonical

# The parameters every marking step shares with `train` (the rest are its own).
TRAINING = ("arch", "dataset", "split", "seed", "epochs", "lr", "batch", "opt", "wd", "rep")
KEY_SPLIT = "defender"  # keys, triggers and styled images come from the owner's own split


def training_params(derivation: str) -> dict[str, Any]:
    """The `train`-compatible parameters of a derivation's root (clean or marked)."""
    root = canonical(derivation).root.as_dict()
    return {k: root[k] for k in TRAINING if k in root}


def marked_root(source_id: str, kind: str, /, **params: Any) -> str:
    """The marked source: the clean source's training recipe under the marking step `kind`.

    `None` values are left out, so the step's default (or the source's value for a
    training parameter such as `epochs`) applies.
    """
    merged = training_params(source_id)
    merged.update({k: v for k, v in params.items() if v is not None})
    return str(canonical(str(Step.of(kind, merged))))


def clean_root(derivation: str, arch: str, seed: int) -> str:
    """An owner-side clean model: `train` with the derivation's recipe, another arch and seed.

    A source replicate's rep tag is kept, so each replicate's owner trains its own models."""
    params = training_params(derivation)
    params.update(arch=arch, seed=seed, split=KEY_SPLIT)
    return str(canonical(str(Step.of("train", params))))
