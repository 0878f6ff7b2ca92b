"""The procedural shapes data set: deterministic, well formed, and colour carries no class."""
import numpy as np
import pytest

from zoo.datasets import shapes
from zoo.datasets.shapes import CLASSES, Knobs, load_shapes, make_shapes


@pytest.fixture(scope="module")
def default():
    return load_shapes()


def test_default_set_is_well_formed(default):
    assert default.name == "shapes" and default.classes == CLASSES and len(CLASSES) == 10
    assert len(set(CLASSES)) == 10
    x, y = default.train.x, default.train.y
    assert x.shape == (6000, 3, 12, 12) and x.dtype == np.float32
    assert y.shape == (6000,) and y.dtype == np.int64
    assert x.min() >= 0.0 and x.max() <= 1.0 and np.isfinite(x).all()
    assert np.array_equal(np.bincount(y, minlength=10), np.full(10, 600))
    assert default.test.x.shape == (0, 3, 12, 12) and default.test.x.dtype == np.float32
    assert default.test.y.shape == (0,) and default.test.y.dtype == np.int64
    assert default.input_shape == (3, 12, 12) and default.num_classes == 10
    assert len(np.unique(x.reshape(len(x), -1), axis=0)) == len(x)  # no two images alike


def test_same_seed_same_arrays_other_seed_differs():
    a, b = load_shapes(per_class=40, seed=3), load_shapes(per_class=40, seed=3)
    assert np.array_equal(a.train.x, b.train.x) and np.array_equal(a.train.y, b.train.y)
    c = load_shapes(per_class=40, seed=4)
    assert not np.array_equal(a.train.x, c.train.x)


def test_result_does_not_depend_on_render_chunking(monkeypatch):
    whole = make_shapes(12, 30, 0)
    monkeypatch.setattr(shapes, "CHUNK", 7)
    pieces = make_shapes(12, 30, 0)
    assert np.array_equal(whole[0], pieces[0]) and np.array_equal(whole[1], pieces[1])


@pytest.mark.parametrize("side", [8, 16])
def test_other_sides_and_sizes(side):
    loaded = load_shapes(side=side, per_class=13, seed=1)
    assert loaded.train.x.shape == (130, 3, side, side) and loaded.test.x.shape == (0, 3, side, side)
    assert np.array_equal(np.bincount(loaded.train.y, minlength=10), np.full(10, 13))
    assert loaded.train.x.min() >= 0.0 and loaded.train.x.max() <= 1.0


def test_mean_colour_does_not_give_the_class_away(default):
    """A nearest-class-mean classifier on per-image mean RGB stays near chance (10%)."""
    x, y = default.train.x, default.train.y
    rgb = x.mean(axis=(2, 3))
    fit, held = np.arange(len(y)) % 2 == 0, np.arange(len(y)) % 2 == 1
    means = np.stack([rgb[fit & (y == c)].mean(0) for c in range(10)])
    guess = np.argmin(((rgb[held, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert (guess == y[held]).mean() < 0.3


def test_shapes_differ_between_classes(default):
    """The class is in the geometry: class-mean images of the foreground share differ."""
    x, y = default.train.x, default.train.y
    lum = x.mean(1)  # the foreground is the lighter colour, so luma maps roughly track the shape
    centred = lum - lum.mean(axis=(1, 2), keepdims=True)
    profiles = np.stack([centred[y == c].mean(0) for c in range(10)])
    gaps = [np.abs(profiles[i] - profiles[j]).max() for i in range(10) for j in range(i + 1, 10)]
    assert min(gaps) > 0.02


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        make_shapes(0, 10, 0)
    with pytest.raises(ValueError):
        make_shapes(12, 10, 0, Knobs(lum_gap=0.9))
    assert make_shapes(12, 0, 0)[0].shape == (0, 3, 12, 12)
