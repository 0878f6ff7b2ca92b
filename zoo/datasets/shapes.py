"""Procedural RGB "shapes and textures": a harder embedded data set that needs no download.

Why: on scikit-learn's 8x8 digits independently trained models agree on ~96% of the
test images, so a stolen copy (a distilled student) agrees with its source no more
than an independent model does and no fingerprint can tell them apart. On this set
the small `cnn` family reaches only about 86-88% test accuracy at 12 px (30 epochs of
Adam on the `defender` split; `mlp` about 70%), and two CNNs trained apart agree on
only about 82-85% of the test images, while a CNN distilled from one agrees with it on
about 91%: the errors differ between independent models, so a copy that follows its
source stands out. Everything is drawn from one `numpy.random.Generator(seed)` and
rendered with numpy alone, so the set is the same on every machine and ships as code
(under a second for the default 6000 images).

Generation rules. The strengths in capitals are the fields of `Knobs` (defaults there).
All draws are independent across images and come from the one generator, in a fixed
order: labels, then every parameter of every image (`_draw`), then the pixel noise.

* Label: `per_class` images of each of the 10 classes (`CLASSES`), in a seeded random
  order.
* Shape: the class fixes the shape in its unit frame (u, v), where +v points down the
  image before rotation: disc (radius 1); ring (outer radius 1, inner radius uniform in
  [0.45, 0.65]); square (half side 0.85); triangle (equilateral, apothem 0.55, a vertex
  pointing along +v); cross (two arms of half length 1 and half width 0.3 along u and
  v); bar (half sides 1.05 along u, 0.35 along v); diamond (a square standing on a
  corner, |u| + |v| < 1.1); ellipse (half axes 1.05 along u, 0.6 along v); arc (the +v
  half of a ring of radii 0.55 and 1 centred at v = -0.35, a "U"); star (five points,
  radius 1 at the tips and 0.5 between them, linear in angle between, a tip along +v).
* Pose: the frame is stretched by k along u and 1/k along v, log k uniform in
  [-STRETCH, STRETCH]; rotated by an angle uniform in [-ROTATE, ROTATE] (small, so a
  diamond stays apart from a square and a bar stays lying); scaled to a radius uniform
  in [SCALE_MIN, SCALE_MAX] half-image widths; centred at an offset uniform in
  [-(1 - 0.8 radius), 1 - 0.8 radius] half-image widths in x and in y, independently
  (tips may leave the frame).
* Colours: background colour A and foreground colour F are uniform in the RGB cube,
  both redrawn until their luma (ITU-R BT.601) differs by at least LUM_GAP; the lighter
  of the two is the foreground. A texture colour B is uniform in the cube. No colour
  depends on the class.
* Background texture: stripes (a sinusoid in [0, 1] along a direction uniform in
  [0, 2 pi)), checker (1 where that sinusoid times one at right angles to it, with its
  own phase, is positive, else 0) or smooth noise (0.5 plus one sixth of the sum of
  three cosines with their own directions, frequencies and phases), each with
  probability 1/3; frequencies uniform in [TEX_FREQ_MIN, TEX_FREQ_MAX] cycles per image
  width, phases uniform in [0, 2 pi). The background is A + m (B - A) p for the pattern
  p in [0, 1], with m uniform in [0, TEX_STRENGTH].
* Occluder: with probability OCCLUDE_P a disc of a colour uniform in the RGB cube,
  radius uniform in [0.15, 0.35] half-image widths, centred at an offset uniform in
  [-0.6, 0.6] shape radii from the shape's centre in x and in y, covers everything.
* Rendering: shape, texture and occluder are evaluated at the pixel centres of a grid
  RENDER (4) times finer per side and area-averaged down to `side` x `side`, which
  anti-aliases edges and blends texture finer than a pixel to its mean colour.
* Blur: the image is mixed with its 3x3 binomial blur (edge pixels replicated) with a
  weight uniform in [0, BLUR].
* Noise: Gaussian noise with a standard deviation uniform in [0, NOISE] is added to
  every pixel and channel, then values are clipped to [0, 1].

The set is float32 N x 3 x side x side in [0, 1] with int64 labels, all of it in
`train` (the benchmark pools and cuts its own splits), and an empty `test`, as digits.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zoo.datasets.base import ArraySet, LoadedDataset

CLASSES = ("disc", "ring", "square", "triangle", "cross", "bar", "diamond", "ellipse", "arc", "star")
RENDER = 4  # supersampling factor per side
CHUNK = 1024  # images rendered at once (bounds memory; results do not depend on it)


@dataclass(frozen=True)
class Knobs:
    """Nuisance strengths, tuned so a small CNN lands near 85-92% (see the module docstring)."""

    scale_min: float = 0.6  # shape radius range, in half-image widths
    scale_max: float = 0.9
    rotate: float = 0.3  # rotation angle uniform in [-rotate, rotate] radians (about 17 degrees)
    stretch: float = 0.1  # log aspect stretch uniform in [-stretch, stretch]
    lum_gap: float = 0.5  # least luma difference between foreground and background colours
    tex_strength: float = 0.4  # background texture strength uniform in [0, tex_strength]
    tex_freq_min: float = 1.0  # texture frequency range, cycles per image width
    tex_freq_max: float = 5.0
    occlude_p: float = 0.15  # chance of an occluding disc
    blur: float = 0.5  # weight of the 3x3 blur uniform in [0, blur]
    noise: float = 0.05  # Gaussian noise standard deviation uniform in [0, noise]


KNOBS = Knobs()
LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601


def _draw(rng: np.random.Generator, n: int, knobs: Knobs) -> dict[str, np.ndarray]:
    """Every random parameter of every image, in a fixed order, so images depend only on the seed."""
    p: dict[str, np.ndarray] = {}
    p["ring_inner"] = rng.uniform(0.45, 0.65, n)
    p["log_stretch"] = rng.uniform(-knobs.stretch, knobs.stretch, n)
    p["angle"] = rng.uniform(-knobs.rotate, knobs.rotate, n)
    p["radius"] = rng.uniform(knobs.scale_min, knobs.scale_max, n)
    reach = 1.0 - 0.8 * p["radius"]
    p["centre"] = rng.uniform(-1.0, 1.0, (n, 2)) * reach[:, None]
    p["bg"] = rng.uniform(0.0, 1.0, (n, 3))
    p["fg"] = rng.uniform(0.0, 1.0, (n, 3))
    close = np.abs((p["fg"] - p["bg"]) @ LUMA) < knobs.lum_gap
    while close.any():  # redraw both colours until they differ enough in luma (always possible)
        p["fg"][close] = rng.uniform(0.0, 1.0, (int(close.sum()), 3))
        p["bg"][close] = rng.uniform(0.0, 1.0, (int(close.sum()), 3))
        close = np.abs((p["fg"] - p["bg"]) @ LUMA) < knobs.lum_gap
    swap = (p["fg"] - p["bg"]) @ LUMA < 0  # the lighter colour is the foreground
    p["fg"][swap], p["bg"][swap] = p["bg"][swap], p["fg"][swap].copy()
    p["tex_colour"] = rng.uniform(0.0, 1.0, (n, 3))
    p["tex_kind"] = rng.integers(0, 3, n)
    p["tex_strength"] = rng.uniform(0.0, knobs.tex_strength, n)
    # frequencies in cycles per image width (the frame spans 2 units); three waves for smooth noise
    p["tex_freq"] = rng.uniform(knobs.tex_freq_min, knobs.tex_freq_max, (n, 3)) / 2.0
    p["tex_dir"] = rng.uniform(0.0, 2 * np.pi, (n, 3))
    p["tex_phase"] = rng.uniform(0.0, 2 * np.pi, (n, 3))
    p["occlude"] = rng.random(n) < knobs.occlude_p
    p["occ_radius"] = rng.uniform(0.15, 0.35, n)
    p["occ_offset"] = rng.uniform(-0.6, 0.6, (n, 2)) * p["radius"][:, None]
    p["occ_colour"] = rng.uniform(0.0, 1.0, (n, 3))
    p["blur"] = rng.uniform(0.0, knobs.blur, n)
    p["noise"] = rng.uniform(0.0, knobs.noise, n)
    return p


def _polygon(u: np.ndarray, v: np.ndarray, sides: int, apothem: float) -> np.ndarray:
    """Inside a regular polygon with a vertex pointing along +v."""
    inside = np.ones(u.shape, bool)
    for k in range(sides):
        a = 2 * np.pi * k / sides - np.pi / 2  # outward normals at -90 deg + k * 360/sides
        inside &= u * np.cos(a) + v * np.sin(a) < apothem
    return inside


def _shape(label: int, u: np.ndarray, v: np.ndarray, ring_inner: np.ndarray) -> np.ndarray:
    """Boolean inside-mask of class `label` in its unit frame; `ring_inner` is (n, 1, 1)."""
    name = CLASSES[label]
    r2 = u * u + v * v
    au, av = np.abs(u), np.abs(v)
    if name == "disc":
        return r2 < 1.0
    if name == "ring":
        return (r2 < 1.0) & (r2 > ring_inner**2)
    if name == "square":
        return np.maximum(au, av) < 0.85
    if name == "triangle":
        return _polygon(u, v, 3, 0.55)
    if name == "cross":
        return ((au < 0.3) & (av < 1.0)) | ((av < 0.3) & (au < 1.0))
    if name == "bar":
        return (au < 1.05) & (av < 0.35)
    if name == "diamond":
        return au + av < 1.1
    if name == "ellipse":
        return (u / 1.05) ** 2 + (v / 0.6) ** 2 < 1.0
    if name == "arc":
        w = v + 0.35
        rr = u * u + w * w
        return (rr < 1.0) & (rr > 0.55**2) & (w > 0)
    if name == "star":
        theta = np.arctan2(u, v)  # 0 along +v, where a tip points
        t = np.abs((theta * 5 / (2 * np.pi)) % 1.0 - 0.5) * 2  # 1 at the tips, 0 halfway between
        return np.sqrt(r2) < 0.5 + 0.5 * t
    raise ValueError(label)


def _wave(x: np.ndarray, y: np.ndarray, freq: np.ndarray, angle: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """cos(2 pi freq (x cos angle + y sin angle) + phase) per image, (n, H, W), from (n,) parameters.

    Separable (cos(A + B) = cos A cos B - sin A sin B), so only O(n (H + W)) cosines are taken.
    """
    col = lambda v: v.astype(np.float32)[:, None, None]  # noqa: E731
    a = 2 * np.pi * col(freq) * np.cos(col(angle)) * x + col(phase)  # (n, 1, W)
    b = 2 * np.pi * col(freq) * np.sin(col(angle)) * y  # (n, H, 1)
    return np.cos(a) * np.cos(b) - np.sin(a) * np.sin(b)


def _texture(p: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The background pattern in [0, 1], (n, H, W) for coordinate grids x (1, 1, W) and y (1, H, 1)."""
    f, d, ph = p["tex_freq"], p["tex_dir"], p["tex_phase"]
    first = _wave(x, y, f[:, 0], d[:, 0], ph[:, 0])
    stripes = 0.5 + 0.5 * first
    # checker: the first wave times one at right angles to it (same frequency, own phase)
    checker = (first * _wave(x, y, f[:, 0], d[:, 0] + np.pi / 2, ph[:, 1]) > 0).astype(np.float32)
    smooth = 0.5 + (first + _wave(x, y, f[:, 1], d[:, 1], ph[:, 1]) + _wave(x, y, f[:, 2], d[:, 2], ph[:, 2])) / 6.0
    kind = p["tex_kind"][:, None, None]
    return np.where(kind == 0, stripes, np.where(kind == 1, checker, smooth)).astype(np.float32)


def _pool(a: np.ndarray, factor: int) -> np.ndarray:
    """Area-average (n, H, W) down by `factor` per side."""
    n, h, w = a.shape
    return a.reshape(n, h // factor, factor, w // factor, factor).mean((2, 4), dtype=np.float32)


def _render(p: dict[str, np.ndarray], labels: np.ndarray, side: int) -> np.ndarray:
    """Noise-free, unblurred images (n, 3, side, side) for one chunk of parameters."""
    n, big = len(labels), side * RENDER
    grid = ((np.arange(big, dtype=np.float32) + 0.5) / big * 2 - 1).astype(np.float32)
    x, y = grid[None, None, :], grid[None, :, None]  # x along columns, y down the rows
    col = lambda key: p[key][:, None, None].astype(np.float32)  # noqa: E731
    dx = x - p["centre"][:, 0, None, None].astype(np.float32)
    dy = y - p["centre"][:, 1, None, None].astype(np.float32)
    c, s = np.cos(col("angle")), np.sin(col("angle"))
    k = np.exp(col("log_stretch"))
    u = (c * dx + s * dy) / col("radius") * k
    v = (-s * dx + c * dy) / col("radius") / k
    shape = np.zeros((n, big, big), np.float32)
    for label in range(len(CLASSES)):
        sel = labels == label
        if sel.any():
            shape[sel] = _shape(label, u[sel], v[sel], col("ring_inner")[sel])
    ox = dx - p["occ_offset"][:, 0, None, None].astype(np.float32)
    oy = dy - p["occ_offset"][:, 1, None, None].astype(np.float32)
    occ = ((ox * ox + oy * oy < col("occ_radius") ** 2) & p["occlude"][:, None, None]).astype(np.float32)
    pattern = _texture(p, x, y)
    # colour is linear in these four maps, so averaging them equals averaging the RGB image
    visible = 1.0 - occ
    maps = {
        "occ": _pool(occ, RENDER),
        "fg": _pool(visible * shape, RENDER),
        "bg": _pool(visible * (1.0 - shape), RENDER),
        "tex": _pool(visible * (1.0 - shape) * pattern, RENDER),
    }
    rgb = lambda key: p[key][:, :, None, None].astype(np.float32)  # noqa: E731
    m = p["tex_strength"][:, None, None, None].astype(np.float32)
    img = (
        maps["occ"][:, None] * rgb("occ_colour")
        + maps["fg"][:, None] * rgb("fg")
        + maps["bg"][:, None] * rgb("bg")
        + maps["tex"][:, None] * m * (rgb("tex_colour") - rgb("bg"))
    )
    return img


def _blur(img: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Mix each image with its 3x3 binomial blur by `weight` (n,)."""
    pad = np.pad(img, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")
    rows = 0.25 * pad[:, :, :-2] + 0.5 * pad[:, :, 1:-1] + 0.25 * pad[:, :, 2:]
    soft = 0.25 * rows[..., :-2] + 0.5 * rows[..., 1:-1] + 0.25 * rows[..., 2:]
    w = weight[:, None, None, None].astype(np.float32)
    return (1.0 - w) * img + w * soft


def make_shapes(side: int, per_class: int, seed: int, knobs: Knobs = KNOBS) -> tuple[np.ndarray, np.ndarray]:
    """Images (N x 3 x side x side float32 in [0, 1]) and labels (N int64), N = 10 * per_class."""
    if side < 1 or per_class < 0:
        raise ValueError(f"need side >= 1 and per_class >= 0, got {side}, {per_class}")
    if not 0.0 <= knobs.lum_gap <= 0.7:
        raise ValueError(f"lum_gap must lie in [0, 0.7] (rarer colour pairs need too many redraws), "
                         f"got {knobs.lum_gap}")
    rng = np.random.default_rng(seed)
    n = len(CLASSES) * per_class
    labels = rng.permutation(np.repeat(np.arange(len(CLASSES), dtype=np.int64), per_class))
    p = _draw(rng, n, knobs)
    noise = rng.standard_normal((n, 3, side, side), dtype=np.float32)
    x = np.empty((n, 3, side, side), np.float32)
    for start in range(0, n, CHUNK):
        part = slice(start, start + CHUNK)
        chunk = {key: value[part] for key, value in p.items()}
        x[part] = _render(chunk, labels[part], side)
    x = _blur(x, p["blur"])
    x += noise * p["noise"][:, None, None, None].astype(np.float32)
    np.clip(x, 0.0, 1.0, out=x)
    return x, labels


def load_shapes(root: str | None = None, *, side: int = 12, per_class: int = 600, seed: int = 0) -> LoadedDataset:
    """The shapes set; `root` is ignored (nothing is read from disk)."""
    x, y = make_shapes(side, per_class, seed)
    empty = ArraySet(np.zeros((0, 3, side, side), np.float32), np.zeros(0, np.int64))
    return LoadedDataset("shapes", ArraySet(x, y), empty, CLASSES)
