"""A procedural Trifeature data set (after Hermann & Lampinen, NeurIPS 2020).

Each image shows one of 10 **shapes** filled with one of 10 **textures** in one
of 10 **colours** on a dark, slightly noisy background. The label is the shape;
colour and texture are the sensitive attributes (as in P1, METHODS.md 6).

Storage format: ``x`` is uint8, shape ``(n_samples, H, W, 3)`` (NHWC, what a
user would store). Models see float32 CHW through :data:`PREPROCESS`, the
INTERFACE.md preprocessing spec ``scale=1/255``, ``transpose=[2, 0, 1]``,
``(x - 0.5) / 0.25`` per channel.

Planting a bias: with ``color_shape_correlation = c`` each image's colour is,
with probability ``c``, the colour whose index equals its shape's index, and
otherwise uniform. A model trained on such a split can lean on colour; the test
split (``c = 0``) then shows the shortcut as per-colour accuracy gaps.

Everything is vectorized numpy (one masked pass per shape and per texture), so
10,000 32x32 images take well under a couple of seconds, and every array is a
pure function of ``(n_samples, split, seed, color_shape_correlation, image_size)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kdaudit.data.dataset import Dataset, as_group_labels, fingerprint
from kdaudit.errors import UsageError
from kdaudit.hashing import arrays_sha256

__all__ = [
    "COLORS",
    "DEFAULT_TEST_SIZE",
    "IMAGE_SIZES",
    "MAX_ROTATION",
    "MAX_SHIFT",
    "NOISE_STD",
    "N_CLUTTER",
    "PREPROCESS",
    "SCALE_RANGE",
    "SHAPES",
    "SPLITS",
    "TEXTURES",
    "load_trifeature",
    "make_trifeature",
    "save_trifeature_npz",
    "to_dataset",
]

SHAPES: tuple[str, ...] = (
    "circle",
    "square",
    "triangle",
    "plus",
    "tee",
    "diamond",
    "pentagon",
    "star",
    "trapezoid",
    "fivesquare",
)
TEXTURES: tuple[str, ...] = (
    "solid",
    "hstripes",
    "vstripes",
    "diagonal",
    "grid",
    "checker",
    "dots",
    "noise",
    "zigzag",
    "rain",
)
COLORS: tuple[str, ...] = (
    "red",
    "green",
    "blue",
    "yellow",
    "pink",
    "cyan",
    "purple",
    "ochre",
    "white",
    "gray",
)
_RGB = np.array(
    [
        [220, 40, 40],
        [40, 180, 60],
        [50, 90, 235],
        [230, 220, 40],
        [245, 130, 195],
        [40, 210, 220],
        [145, 55, 200],
        [200, 140, 40],
        [240, 240, 240],
        [135, 135, 135],
    ],
    dtype=np.float32,
)
SPLITS = {"train": 0, "test": 1}
#: pose and nuisance ranges (fractions of the image side; radians; pixel-noise std)
SCALE_RANGE = (0.24, 0.42)
MAX_SHIFT = 0.16
MAX_ROTATION = np.pi / 12
NOISE_STD = 14.0
N_CLUTTER = 3
DEFAULT_TEST_SIZE = 2000
IMAGE_SIZES = (32, 64)

#: INTERFACE.md preprocessing spec turning stored uint8 NHWC into model float CHW.
PREPROCESS: dict[str, Any] = {
    "scale": 1.0 / 255.0,
    "transpose": [2, 0, 1],
    "mean": [0.5, 0.5, 0.5],
    "std": [0.25, 0.25, 0.25],
    "channel_axis": 0,
}


# --- shapes: boolean masks over per-image normalized coordinates (u, v) in about [-1, 1]
def _polygon(u: np.ndarray, v: np.ndarray, k: int, r: float, phase: float) -> np.ndarray:
    angles = phase + 2 * np.pi * np.arange(k) / k
    proj = np.max(u[..., None] * np.cos(angles) + v[..., None] * np.sin(angles), axis=-1)
    return proj <= r * np.cos(np.pi / k)


def _star(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    theta = np.arctan2(v, u) + np.pi / 2  # a point straight up (v is image-down)
    rho = np.hypot(u, v)
    # radius alternates between outer 0.95 and inner 0.42 every 36 degrees
    frac = np.abs(((theta / (2 * np.pi / 5)) % 1.0) - 0.5) * 2  # 1 at the tips, 0 between
    return rho <= 0.42 + (0.95 - 0.42) * frac**1.5


def _shape_masks() -> list[Callable[[np.ndarray, np.ndarray], np.ndarray]]:
    a = np.abs
    return [
        lambda u, v: u**2 + v**2 <= 0.85**2,  # circle
        lambda u, v: np.maximum(a(u), a(v)) <= 0.72,  # square
        lambda u, v: (v <= 0.6) & (a(u) <= (v + 0.9) * 0.62),  # triangle, apex up
        lambda u, v: ((a(u) <= 0.28) & (a(v) <= 0.9)) | ((a(v) <= 0.28) & (a(u) <= 0.9)),  # plus
        lambda u, v: (
            ((v >= -0.9) & (v <= -0.45) & (a(u) <= 0.9))
            | ((a(u) <= 0.25) & (v >= -0.9) & (v <= 0.9))
        ),  # tee
        lambda u, v: a(u) + a(v) <= 0.95,  # diamond
        lambda u, v: _polygon(u, v, 5, 0.9, -np.pi / 2),  # pentagon, point up
        _star,
        lambda u, v: (a(v) <= 0.6) & (a(u) <= 0.55 + 0.4 * (v + 0.6) / 1.2),  # trapezoid
        lambda u, v: (
            (np.maximum(a(a(u) - 0.58), a(a(v) - 0.58)) <= 0.3) | (np.maximum(a(u), a(v)) <= 0.3)
        ),  # five squares (a die's five)
    ]


# --- textures: {0, 1} patterns over pixel coordinates (x, y) with a per-image phase
def _texture_patterns(
    rng: np.random.Generator,
) -> list[Callable[[np.ndarray, np.ndarray], np.ndarray]]:
    def noise(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return rng.random(x.shape) < 0.5

    return [
        lambda x, y: np.ones(x.shape, dtype=bool),  # solid
        lambda x, y: (y // 2) % 2 == 0,  # horizontal stripes
        lambda x, y: (x // 2) % 2 == 0,  # vertical stripes
        lambda x, y: ((x + y) // 2) % 2 == 0,  # diagonal stripes
        lambda x, y: (x % 4 != 0) & (y % 4 != 0),  # grid (dark lines every 4 px)
        lambda x, y: ((x // 3) + (y // 3)) % 2 == 0,  # checkerboard
        lambda x, y: (x % 4 < 2) & (y % 4 < 2),  # dots
        noise,
        lambda x, y: ((y + np.abs((x % 8) - 4)) // 2) % 2 == 0,  # zigzag
        lambda x, y: ~((x % 3 == 0) & (((y + 2 * (x // 3)) // 3) % 2 == 0)),  # rain (dashes)
    ]


def _balanced(rng: np.random.Generator, n: int, k: int = 10) -> np.ndarray:
    """``n`` labels in ``0..k-1`` as even as possible, in random order."""
    return rng.permutation(np.arange(n) % k).astype(np.int64)


def make_trifeature(
    n_samples: int = 10000,
    *,
    split: str = "train",
    color_shape_correlation: float = 0.0,
    seed: int = 0,
    image_size: int = 32,
) -> dict[str, np.ndarray]:
    """Generate one split of Trifeature.

    Parameters
    ----------
    n_samples : int
        Number of images.
    split : {"train", "test"}
        Which split; the two use independent random streams for the same seed.
    color_shape_correlation : float in [0, 1]
        Probability that an image's colour is tied to its shape (colour index =
        shape index); otherwise the colour is uniform. Shapes and textures are
        always balanced; colours are balanced when this is 0.
    seed : int
        Seed; every array is a deterministic function of the arguments.
    image_size : {32, 64}
        Side of the square images in pixels.

    Returns
    -------
    dict of str -> ndarray
        ``x`` uint8 ``(n_samples, image_size, image_size, 3)``; ``y`` int64
        ``(n_samples,)`` (shape index, names in :data:`SHAPES`);
        ``sensitive_color`` and ``sensitive_texture`` str ``(n_samples,)``.
    """
    if split not in SPLITS:
        raise UsageError(f"Expected split 'train' or 'test'; got {split!r}.")
    if image_size not in IMAGE_SIZES:
        raise UsageError(f"Expected image_size 32 or 64; got {image_size!r}.")
    if not 0.0 <= float(color_shape_correlation) <= 1.0:
        raise UsageError(
            f"Expected color_shape_correlation in [0, 1]; got {color_shape_correlation!r}."
        )
    if int(n_samples) < 1:
        raise UsageError(f"Expected n_samples >= 1; got {n_samples!r}.")
    n, s = int(n_samples), int(image_size)
    rng = np.random.default_rng([int(seed), SPLITS[split], 0x7F1F])
    shape = _balanced(rng, n)
    texture = _balanced(rng, n)
    color = _balanced(rng, n)
    if color_shape_correlation > 0:
        tied = rng.random(n) < color_shape_correlation
        color = np.where(tied, shape, color)

    # per-image pose: scale, rotation (small, so square and diamond stay distinct), shift
    scale = rng.uniform(SCALE_RANGE[0], SCALE_RANGE[1], size=n) * s  # pixels per normalized unit
    angle = rng.uniform(-MAX_ROTATION, MAX_ROTATION, size=n)
    cx = s / 2 + rng.uniform(-MAX_SHIFT, MAX_SHIFT, size=n) * s
    cy = s / 2 + rng.uniform(-MAX_SHIFT, MAX_SHIFT, size=n) * s
    pix = np.arange(s, dtype=np.float32) + 0.5
    dx = pix[None, None, :] - cx[:, None, None].astype(np.float32)  # (n, 1, s)
    dy = pix[None, :, None] - cy[:, None, None].astype(np.float32)  # (n, s, 1)
    cos = np.cos(angle).astype(np.float32)[:, None, None]
    sin = np.sin(angle).astype(np.float32)[:, None, None]
    inv = (1.0 / scale).astype(np.float32)[:, None, None]
    u = (cos * dx + sin * dy) * inv  # (n, s, s)
    v = (-sin * dx + cos * dy) * inv

    mask = np.zeros((n, s, s), dtype=bool)
    for k, fn in enumerate(_shape_masks()):
        idx = np.flatnonzero(shape == k)
        if idx.size:
            mask[idx] = fn(u[idx], v[idx])
    del u, v

    # texture period scales with the image so 64x64 images look like upscaled 32x32 ones
    step = s // 32
    ox = rng.integers(0, 12, size=n)[:, None, None]
    oy = rng.integers(0, 12, size=n)[:, None, None]
    grid = np.arange(s)[None, :] // step
    tex = np.zeros((n, s, s), dtype=bool)
    patterns = _texture_patterns(rng)
    for k, fn in enumerate(patterns):
        idx = np.flatnonzero(texture == k)
        if idx.size:
            xx = np.broadcast_to(grid[:, None, :] + ox[idx], (idx.size, s, s))
            yy = np.broadcast_to(grid[:, :, None] + oy[idx], (idx.size, s, s))
            tex[idx] = fn(xx, yy)

    # clutter: a few small rectangles of random colours behind the shape, so that the
    # outline, not "any bright blob", identifies the class
    pix_i = np.arange(s)
    clutter = np.zeros((n, s, s), dtype=bool)
    clutter_rgb = np.zeros((n, s, s, 3), dtype=np.float32)
    for _ in range(N_CLUTTER):
        w = rng.integers(2, max(3, s // 5), size=(n, 2))
        x0 = rng.integers(0, s, size=n)
        y0 = rng.integers(0, s, size=n)
        box = ((pix_i[None, :] >= x0[:, None]) & (pix_i[None, :] < (x0 + w[:, 0])[:, None]))[
            :, None, :
        ] & ((pix_i[None, :] >= y0[:, None]) & (pix_i[None, :] < (y0 + w[:, 1])[:, None]))[
            :, :, None
        ]
        tint = rng.uniform(40, 160, size=(n, 3)).astype(np.float32)
        clutter_rgb = np.where(box[..., None], tint[:, None, None, :], clutter_rgb)
        clutter |= box

    # texture modulates brightness: "on" pixels get the full colour, "off" pixels 35% of it
    rgb = _RGB[color] * rng.uniform(0.7, 1.0, size=(n, 1)).astype(np.float32)  # (n, 3)
    shade = np.where(tex, np.float32(1.0), np.float32(0.35))
    bg = rng.uniform(10, 45, size=n).astype(np.float32)
    img = rng.standard_normal((n, s, s, 3), dtype=np.float32)
    img *= NOISE_STD
    for c in range(3):
        back = np.where(clutter, clutter_rgb[..., c], bg[:, None, None])
        img[..., c] += np.where(mask, shade * rgb[:, c, None, None], back)
    np.clip(img, 0, 255, out=img)
    x = np.rint(img, out=img).astype(np.uint8)
    return {
        "x": x,
        "y": shape,
        "sensitive_color": np.asarray(COLORS)[color],
        "sensitive_texture": np.asarray(TEXTURES)[texture],
    }


def save_trifeature_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> Path:
    """Write a split from :func:`make_trifeature` to ``path`` (``x``, ``y``, ``sensitive_*``, ``class_names``).

    Strings are stored as fixed-width unicode arrays so the file loads with
    ``allow_pickle=False``.
    """
    path = Path(path)
    if path.suffix.lower() != ".npz":
        raise UsageError(f"Expected an output path ending in .npz; got {str(path)!r}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        x=arrays["x"],
        y=arrays["y"],
        sensitive_color=np.asarray(arrays["sensitive_color"]).astype(str),
        sensitive_texture=np.asarray(arrays["sensitive_texture"]).astype(str),
        class_names=np.asarray(SHAPES).astype(str),
    )
    return path


def to_dataset(
    arrays: dict[str, np.ndarray],
    *,
    sensitive: Sequence[str] | None = None,
    path: str = "builtin:trifeature",
    options: dict[str, Any] | None = None,
) -> Dataset:
    """Wrap generated arrays as a :class:`~kdaudit.data.dataset.Dataset`."""
    names = list(sensitive) if sensitive else ["color", "texture"]
    sens = {}
    for name in names:
        key = f"sensitive_{name}"
        if key not in arrays:
            raise UsageError(
                f"Trifeature has no sensitive attribute {name!r}; it has color, texture."
            )
        sens[name] = as_group_labels(arrays[key], name)
    sha = arrays_sha256(arrays)
    return Dataset(
        y_true=arrays["y"],
        x=arrays["x"],
        sensitive_features=sens,
        path=path,
        sha256=sha,
        fingerprint=fingerprint(sha, kind="builtin", sensitive=names, **(options or {})),
        label="shape",
        extras={"class_names": list(SHAPES), "preprocess": dict(PREPROCESS)},
    )


def load_trifeature(arg: str | None, sensitive: Sequence[str] | None) -> Dataset:
    """``trifeature`` or ``trifeature:N``: the test split (seed 0, no planted bias, 32x32).

    N defaults to :data:`DEFAULT_TEST_SIZE`.
    """
    try:
        n = int(arg) if arg else DEFAULT_TEST_SIZE
    except ValueError as exc:
        raise UsageError(f"Expected 'trifeature:N' with an integer N; got {arg!r}.") from exc
    arrays = make_trifeature(n, split="test", seed=0)
    return to_dataset(
        arrays,
        sensitive=sensitive,
        path=f"builtin:trifeature:{n}",
        options={"n": n, "split": "test", "seed": 0},
    )
