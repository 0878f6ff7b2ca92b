"""The distorted digits: deterministic, grouped renditions, never one digit in two splits."""
import numpy as np
import pytest

from zoo.datasets import DatasetError, list_datasets, load_splits
from zoo.datasets.base import ArraySet
from zoo.datasets.hard_digits import DISTORTION, load_hard_digits
from zoo.datasets.splits import split_per_class


@pytest.fixture(scope="module")
def loaded():
    return load_hard_digits()


def test_same_seed_same_images_other_seed_other_images():
    a, b = load_hard_digits(renditions=1), load_hard_digits(renditions=1)
    c = load_hard_digits(renditions=1, seed=1)
    assert np.array_equal(a.train.x, b.train.x)
    assert not np.array_equal(a.train.x, c.train.x)
    assert np.array_equal(a.train.y, c.train.y)


def test_renditions_are_distinct_images_of_one_digit_in_unit_range(loaded):
    n = len(loaded.train) // 2
    assert loaded.input_shape == (1, 8, 8) and loaded.num_classes == 10 and len(loaded.train) == 2 * 1797
    assert loaded.train.x.dtype == np.float32 and 0.0 <= loaded.train.x.min() and loaded.train.x.max() <= 1.0
    assert np.array_equal(loaded.train.y[:n], loaded.train.y[n:])
    assert np.array_equal(loaded.groups[:n], loaded.groups[n:])
    first, second = loaded.train.x[:n].reshape(n, -1), loaded.train.x[n:].reshape(n, -1)
    assert np.abs(first - second).mean(1).min() > 0.0  # every rendition is drawn anew


def test_no_distortion_keeps_the_digit():
    plain = {k: 0.0 for k in DISTORTION} | {"contrast": 1.0, "smooth": 1.0}
    loaded = load_hard_digits(renditions=1, **plain)
    from zoo.datasets.digits import load_digits_dataset

    digits = load_digits_dataset().train.x
    assert np.corrcoef(loaded.train.x.ravel(), digits.ravel())[0, 1] > 0.97  # only resampling blur


def test_splits_keep_each_digits_renditions_together_and_stay_balanced(loaded):
    splits = load_splits("hard_digits")
    assert "hard_digits" in list_datasets()
    assert sum(len(p) for p in splits.parts.values()) == len(loaded.train)
    owner = {}
    for name, part in splits.parts.items():
        for row in part.x.reshape(len(part), -1):
            owner[row.tobytes()] = name
    rows = loaded.train.x.reshape(len(loaded.train), -1)
    parts_of_group = {}
    for row, group in zip(rows, loaded.groups):
        parts_of_group.setdefault(group, set()).add(owner[row.tobytes()])
    assert all(len(parts) == 1 for parts in parts_of_group.values())
    share = np.bincount(splits["defender"].y, minlength=10) / np.bincount(loaded.train.y, minlength=10)
    assert np.all(np.abs(share - 0.35) < 0.02)


def test_a_group_that_mixes_classes_is_refused():
    data = ArraySet(np.zeros((4, 1, 2, 2), np.float32), np.array([0, 1, 0, 1]))
    with pytest.raises(DatasetError, match="another class"):
        split_per_class(data, groups=np.array([0, 0, 1, 1]))
    with pytest.raises(DatasetError, match="group ids"):
        split_per_class(data, groups=np.array([0, 1]))


def test_unknown_distortion_is_named():
    with pytest.raises(ValueError, match="'blur'"):
        load_hard_digits(blur=1.0)


def test_a_distilled_student_inherits_the_sources_errors_that_independent_models_do_not_make():
    """Why the set exists: room for the source's quirks (digits leaves ~5 wrong test images)."""
    import torch

    from zoo.data import DataBundle
    from zoo.fit import accuracy, predict_logits
    from zoo.spec import canonical, derive_seed
    from zoo.steps import StepContext, get_step

    data = DataBundle.load("hard_digits")

    def build(derivation, parent=None):
        step = canonical(derivation).last
        return get_step(step.name)().apply(parent, step.as_dict(), StepContext(data, "cpu", derive_seed(derivation)))

    source = build("train(cnn,hard_digits)")
    student = build("train(cnn,hard_digits)->distill(arch=cnn)", source)
    independents = [build(f"train(cnn,hard_digits,split=independent,seed={s})") for s in (1, 2)]
    x, y = data.x("test"), data.y("test")
    answer = predict_logits(source, x).argmax(1)
    wrong = answer != y
    assert accuracy(source, x, y) >= 0.85 and int(wrong.sum()) >= 25

    def agreement(model, where):
        return float((predict_logits(model, x).argmax(1)[where] == answer[where]).float().mean())

    assert max(agreement(m, torch.ones_like(wrong)) for m in independents) <= 0.92
    inherited = agreement(student, wrong)
    assert inherited >= 0.5 and inherited >= max(agreement(m, wrong) for m in independents) + 0.15
