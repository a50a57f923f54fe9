"""Multiscale shapes: the course's dataset, generated on the spot (no download).

32x32 RGB images of 10 patterns (`SHAPES_CLASSES`), each drawn at a small (6-10 px), medium
(10-16 px) or large (16-28 px) size, at a random place, with a random small rotation, random
foreground and background colours, a colour gradient, clutter strokes and pixel noise. The class
is the pattern, never the colour, the brightness or the size, so a detector tuned to one size
misses the others: the problem the Inception module answers with parallel 1x1 / 3x3 / 5x5
branches (Szegedy et al. 2015, section 4). Each image records its scale (0/1/2 =
`SCALE_NAMES`) and object size, so lessons can report accuracy per scale. How well the course's
models do on it, measured: data/README.md.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from inception_lab._io import atomic_write
from inception_lab._validate import check_int, is_int
from inception_lab.data.root import default_root

__all__ = [
    "SCALE_NAMES",
    "SCALE_RANGES",
    "SHAPES_CLASSES",
    "SHAPES_MEAN",
    "SHAPES_STD",
    "check_variant",
    "generate_shapes",
    "load_shapes",
]

SPLITS = ("train", "val", "test")
SHAPES_VERSION = 1
SHAPES_CLASSES = (
    "disc",
    "ring",
    "square",
    "triangle",
    "plus",
    "cross",
    "hstripes",
    "vstripes",
    "checker",
    "corner",
)
SCALE_NAMES = ("small", "medium", "large")
SCALE_RANGES = ((6.0, 10.0), (10.0, 16.0), (16.0, 28.0))  # object size in px (diameter or side)
DEFAULT_CLUTTER = 2  # the most clutter strokes per image
SHAPES_SIZES = {"train": 10_000, "val": 1_000, "test": 2_000}
SHAPES_FILE = "multiscale_shapes.npz"
# Per-channel mean and std of the uint8/255 training images of seed 0 (measured, then fixed).
SHAPES_MEAN = (0.4990, 0.5006, 0.4996)
SHAPES_STD = (0.2914, 0.2927, 0.2920)
_SPLIT_IDS = {"train": 0, "val": 1, "test": 2}
_SIZE = 32


def _coverage(sdf: np.ndarray) -> np.ndarray:
    """Signed distance (px, negative inside) -> antialiased pixel coverage in [0, 1]."""
    return np.minimum(np.maximum(0.5 - sdf, 0.0), 1.0)


def _box(u: np.ndarray, v: np.ndarray, a: Any, b: Any) -> np.ndarray:
    """Distance-like function of the box |u| <= a, |v| <= b (exact inside and on the axes)."""
    return np.maximum(np.abs(u) - a, np.abs(v) - b)


def _bands(t: np.ndarray, r: Any, n_bands: int) -> np.ndarray:
    """Signed distance to n equal bands across [-r, r] along t, bands 0, 2, 4, ... filled."""
    h = 2 * r / n_bands
    f = (t + r) / (2 * h)
    f = f - np.floor(f)
    return (np.abs(f - 0.25) - 0.25) * 2 * h


def _outline(sdf: np.ndarray, w: Any) -> np.ndarray:
    """The inner stroke of width w along a filled shape's boundary."""
    return np.abs(sdf + w / 2) - w / 2


def _shape_coverage(c: int, u: np.ndarray, v: np.ndarray, r: Any, w: Any) -> np.ndarray:
    """Coverage of class c at local (u, v) (px from the centre); half size r, stroke width w."""
    t = w * 0.6  # half thickness of bars
    if c == 0:  # disc
        return _coverage(np.sqrt(u * u + v * v) - r)
    if c == 1:  # ring
        return _coverage(_outline(np.sqrt(u * u + v * v) - r, w))
    if c == 2:  # square outline
        return _coverage(_outline(_box(u, v, r * 0.9, r * 0.9), w))
    if c == 3:  # triangle outline, apex up: three half-planes at inradius a
        a, s3 = r * 0.55, np.float32(math.sqrt(3) / 2)
        vv = v - a / 2
        d = np.maximum(np.maximum(vv - a, s3 * u - 0.5 * vv - a), -s3 * u - 0.5 * vv - a)
        return _coverage(_outline(d, w))
    if c == 4:  # plus
        return _coverage(np.minimum(_box(u, v, r, t), _box(u, v, t, r)))
    if c == 5:  # cross: the plus turned by 45 degrees
        a, b = (u + v) * np.float32(0.7071), (v - u) * np.float32(0.7071)
        return _coverage(np.minimum(_box(a, b, r * 1.15, t), _box(a, b, t, r * 1.15)))
    if c == 6:  # horizontal stripes: 3 bars in a square
        return _coverage(np.maximum(_box(u, v, r, r), _bands(v, r, 5)))
    if c == 7:  # vertical stripes
        return _coverage(np.maximum(_box(u, v, r, r), _bands(u, r, 5)))
    if c == 8:  # 2x2 checkerboard: XNOR of a left-half and a top-half band
        a, b = _coverage(_bands(u, r, 2)), _coverage(_bands(v, r, 2))
        return (a * b + (1 - a) * (1 - b)) * _coverage(_box(u, v, r, r))
    # c == 9, corner: an L of two bars (its mirror images come from the sign flips of u, v)
    return _coverage(np.minimum(_box(u, v - (r - t), r, t), _box(u + (r - t), v, t, r)))


def check_variant(
    scale_ranges: Any = SCALE_RANGES, clutter: Any = DEFAULT_CLUTTER
) -> tuple[tuple[tuple[float, float], ...], int]:
    """The dataset options, validated: three (lo, hi) size ranges in px inside 2..32, and the
    largest number of clutter strokes per image (0-8). Returns them in canonical form."""
    try:
        ranges = tuple((float(lo), float(hi)) for lo, hi in scale_ranges)
    except (TypeError, ValueError):
        ranges = ()
    if len(ranges) != 3 or not all(2 <= lo <= hi <= _SIZE for lo, hi in ranges):
        raise ValueError(
            "scale_ranges must be three (lo, hi) object sizes in px with 2 <= lo <= hi <= 32 "
            f"(small, medium, large), got {scale_ranges!r}"
        )
    check_int("clutter", clutter, 0, "an integer in [0, 8] (strokes per image)", maximum=8)
    return ranges, clutter


def generate_shapes(
    n: int,
    seed: int = 0,
    split: str = "train",
    *,
    scale_ranges: Any = SCALE_RANGES,
    clutter: int = DEFAULT_CLUTTER,
) -> dict[str, np.ndarray]:
    """Generate n multiscale-shapes images, deterministically from (seed, split).

    Returns images uint8 (n, 3, 32, 32), labels int64 (n,), scales int8 (n,) (0/1/2 =
    small/medium/large) and sizes float32 (n,) (object size in px). Every block of 30 images holds
    each (class, scale) pair once, in random order, so any prefix of the split is balanced.
    Vectorised with numpy over chunks of images; no Python loop over pixels or images.
    Harder or easier variants (the experiments use them): `scale_ranges`, the (lo, hi) object
    size in px of the small, medium and large scale (e.g. all three equal: no size variation), and
    `clutter`, the largest number of translucent strokes drawn over an image (0 to `clutter`).
    The defaults give the course's dataset; other values draw from the same random stream.
    """
    check_int("n", n)
    if split not in _SPLIT_IDS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    scale_ranges, clutter = check_variant(scale_ranges, clutter)
    rng = np.random.default_rng([SHAPES_VERSION, int(seed), _SPLIT_IDS[split]])
    f32 = np.float32
    pairs = np.stack(np.meshgrid(np.arange(10), np.arange(3), indexing="ij"), -1).reshape(30, 2)
    order = np.argsort(rng.random((-(-n // 30), 30)), axis=1)
    plan = pairs[order].reshape(-1, 2)[:n]
    labels, scales = plan[:, 0], plan[:, 1]
    lo, hi = np.array(scale_ranges, dtype=f32)[scales].T
    size = lo + (hi - lo) * rng.random(n, dtype=f32)
    r = size / 2
    cx = r + (_SIZE - 2 * r) * rng.random(n, dtype=f32)  # the whole object stays inside
    cy = r + (_SIZE - 2 * r) * rng.random(n, dtype=f32)
    theta = np.deg2rad(rng.uniform(-15, 15, n)).astype(f32)  # < 22.5: plus and cross stay apart
    stroke = np.maximum(f32(1.25), size * f32(0.12))
    mirror = np.where(rng.random((2, n)) < 0.5, -1, 1).astype(f32)  # corner: 4 orientations
    bg, fg = rng.random((n, 3), dtype=f32), rng.random((n, 3), dtype=f32)
    for _ in range(50):  # redraw foregrounds too close to their background (then by contrast)
        bad = np.linalg.norm(fg - bg, axis=1) < 0.5
        if not bad.any():
            break
        fg[bad] = rng.random((int(bad.sum()), 3), dtype=f32)
    grad_angle = rng.uniform(0, 2 * np.pi, n).astype(f32)
    grad_amp = rng.uniform(0, 0.25, n).astype(f32)
    n_clutter = clutter  # up to this many short translucent strokes (default 2)
    n_strokes = rng.integers(0, n_clutter + 1, n)
    stroke_pos = rng.uniform(0, _SIZE, (n, n_clutter, 2)).astype(f32)
    stroke_angle = rng.uniform(0, np.pi, (n, n_clutter)).astype(f32)
    stroke_len = rng.uniform(3, 8, (n, n_clutter)).astype(f32)
    stroke_alpha = rng.uniform(0.3, 0.7, (n, n_clutter)).astype(f32) * (
        np.arange(n_clutter) < n_strokes[:, None]
    )
    clutter_colour = rng.random((n, 3), dtype=f32)
    noise_sd = rng.uniform(0.02, 0.06, n).astype(f32)

    ys, xs = np.mgrid[0:_SIZE, 0:_SIZE].astype(f32) + f32(0.5)  # pixel centres
    images = np.empty((n, 3, _SIZE, _SIZE), np.uint8)
    for start in range(0, n, 1024):
        s = slice(start, min(n, start + 1024))

        def col(a: np.ndarray, s: slice = s) -> np.ndarray:  # per image -> broadcast over pixels
            return a[s, None, None]

        dx, dy = xs - col(cx), ys - col(cy)
        cos, sin = np.cos(col(theta)), np.sin(col(theta))
        u, v = cos * dx + sin * dy, cos * dy - sin * dx
        cov = np.empty(u.shape, f32)
        lab = labels[s]
        for c in range(10):
            k = lab == c
            if k.any():
                uk, vk = u[k], v[k]
                if c == 9:
                    uk, vk = uk * mirror[0, s][k, None, None], vk * mirror[1, s][k, None, None]
                rk, wk = r[s][k, None, None], stroke[s][k, None, None]
                cov[k] = _shape_coverage(c, uk, vk, rk, wk)
        clutter = np.zeros_like(cov)
        for j in range(n_clutter):
            px, py = xs - stroke_pos[s, j, 0, None, None], ys - stroke_pos[s, j, 1, None, None]
            ca = np.cos(stroke_angle[s, j])[:, None, None]
            sa = np.sin(stroke_angle[s, j])[:, None, None]
            half = stroke_len[s, j, None, None] / 2
            along = np.minimum(np.maximum(px * ca + py * sa, -half), half)
            dist = np.sqrt((px - along * ca) ** 2 + (py - along * sa) ** 2) - f32(0.5)
            np.maximum(clutter, _coverage(dist) * stroke_alpha[s, j, None, None], out=clutter)
        gradient = np.cos(col(grad_angle)) * (xs - 16) + np.sin(col(grad_angle)) * (ys - 16)
        img = bg[s, :, None, None] + (gradient * col(grad_amp) / 16)[:, None]
        img += cov[:, None] * (fg[s, :, None, None] - img)
        img += clutter[:, None] * (clutter_colour[s, :, None, None] - img)
        noise = rng.random(img.shape, dtype=f32) - f32(0.5)  # uniform, std = noise_sd
        img += noise * (noise_sd[s] * f32(math.sqrt(12)))[:, None, None, None]
        img = img * 255 + 0.5
        np.clip(img, 0, 255, out=img)
        images[s] = img
    return {
        "images": images,
        "labels": labels.astype(np.int64),
        "scales": scales.astype(np.int8),
        "sizes": size,
    }


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_shapes_cache(path: Path, meta_path: Path, expected: dict) -> tuple[dict | None, str]:
    """The cached splits if the cache matches `expected` and its checksum; else (None, reason)."""
    if not path.exists() or not meta_path.exists():
        return None, "missing"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as e:
        return None, f"unreadable metadata {meta_path.name} ({e})"
    for key, value in expected.items():
        if meta.get(key) != value:
            return None, f"stale ({key} is {meta.get(key)!r}, expected {value!r})"
    if _sha256(path) != meta.get("sha256"):
        return None, f"corrupt ({path.name} does not match its sha256)"
    try:
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        splits = {}
        for split, n in expected["sizes"].items():
            part = {k: arrays[f"{split}_{k}"] for k in ("images", "labels", "scales", "sizes")}
            if part["images"].shape != (n, 3, _SIZE, _SIZE) or part["images"].dtype != np.uint8:
                raise ValueError(f"{split}_images has shape {part['images'].shape}")
            splits[split] = part
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile) as e:  # reader says why
        return None, f"corrupt ({type(e).__name__}: {e})"
    return splits, "ok"


def load_shapes(
    root: str | Path | None = None,
    data_seed: int = 0,
    sizes: dict[str, int] | None = None,
    *,
    scale_ranges: Any = SCALE_RANGES,
    clutter: int = DEFAULT_CLUTTER,
) -> dict[str, dict[str, np.ndarray]]:
    """All three splits of multiscale shapes, from the cache in root or freshly generated.

    The cache is `root/multiscale_shapes.npz` plus `multiscale_shapes.json` (version, seed, sizes,
    options, sha256 of the .npz). A missing, stale or corrupt cache is regenerated and rewritten
    atomically (a warning says why when an existing cache was rejected). If root is not writable
    the data is generated in memory with a warning. A variant (`scale_ranges`, `clutter`: see
    `generate_shapes`) is cached next to it as `multiscale_shapes-<8 hex digits>.npz`.
    """
    scale_ranges, clutter = check_variant(scale_ranges, clutter)
    variant = {"scale_ranges": [list(r) for r in scale_ranges], "clutter": clutter}
    root = default_root() if root is None else Path(root).expanduser()
    sizes = dict(SHAPES_SIZES if sizes is None else sizes)
    if set(sizes) != set(SPLITS) or not all(is_int(n) and n > 0 for n in sizes.values()):
        raise ValueError(f"sizes must give a positive int for each of {SPLITS}, got {sizes!r}")
    file = SHAPES_FILE
    if variant != {"scale_ranges": [list(r) for r in SCALE_RANGES], "clutter": DEFAULT_CLUTTER}:
        tag = hashlib.sha256(json.dumps(variant, sort_keys=True).encode()).hexdigest()[:8]
        file = SHAPES_FILE.replace(".npz", f"-{tag}.npz")
    path, meta_path = root / file, root / file.replace(".npz", ".json")
    expected = {"version": SHAPES_VERSION, "seed": int(data_seed), "sizes": sizes}
    if file != SHAPES_FILE:
        expected["variant"] = variant
    splits, reason = _check_shapes_cache(path, meta_path, expected)
    if splits is not None:
        return splits
    if reason != "missing":
        warnings.warn(
            f"multiscale shapes cache in {root} is {reason}; regenerating it", stacklevel=3
        )
    t0 = time.perf_counter()
    options = {"scale_ranges": scale_ranges, "clutter": clutter}
    splits = {split: generate_shapes(n, data_seed, split, **options) for split, n in sizes.items()}
    seconds = time.perf_counter() - t0
    flat = {f"{split}_{k}": a for split, part in splits.items() for k, a in part.items()}
    try:
        root.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: np.savez(f, **flat))
        meta = {
            **expected,
            "sha256": _sha256(path),
            "file": file,
            "classes": list(SHAPES_CLASSES),
            "generation_seconds": round(seconds, 2),
        }
        atomic_write(meta_path, json.dumps(meta, indent=2))
    except OSError as e:
        warnings.warn(
            f"could not cache multiscale shapes in {root} ({e}); using it uncached", stacklevel=3
        )
    return splits
