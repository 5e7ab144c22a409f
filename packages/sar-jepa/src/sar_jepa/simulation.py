"""MSTAR-like simulated SAR chips: a vehicle on real-texture clutter, with its radar shadow and Gamma(L) speckle.

Reflectivity (intensity, unit-mean clutter): a scikit-image texture crop → `clutter_reflectivity` (3:1 dynamic
range); a target centred with a small jitter, at a random aspect angle within ±`AZIMUTH_RANGE`° of broadside
and ±10 % size: its body (a rotated rectangle, `BODY_GAIN` × the clutter under it), bright point scatterers
(Gaussian blobs, `SCATTERER_PEAK` × U(0.5, 1.5) × their weight) and the radar shadow (the body swept down-range,
towards the bottom of the chip, over the target's height; `SHADOW_GAIN` × clutter). Then × Gamma(L, 1/L) speckle.
The four classes differ as real ATR classes do: in size, aspect ratio, shadow length and scatterer layout.
"""

import math

import numpy as np

TEXTURES = ("brick", "grass", "gravel", "moon")
AZIMUTH_RANGE = 30.0
BODY_GAIN = 2.5
SCATTERER_PEAK = 20.0
SHADOW_GAIN = 0.1
CLUTTER_OFFSET = 0.5
JITTER = 2.0
REFERENCE_SIZE = 32  # geometry below is in pixels of a 32-px chip and scales with the chip size

# name: (length, width, shadow length, [(u, v, weight)]); u, v: scatterer position along / across the body
# in units of its half-length / half-width (|u| > 1: outside the body, e.g. a gun barrel or a blade)
TARGETS = {
    "truck": (20, 7, 5, [(0.85, -0.6, 1), (0.85, 0.6, 1), (0.7, 0, 0.7)]
              + [(u, v, 0.5) for u in (-0.9, -0.45, 0) for v in (-0.9, 0.9)]),
    "tank": (15, 9, 6, [(-0.1, 0, 1), (-0.3, -0.3, 1), (-0.3, 0.3, 1)] + [(u, 0, 0.6) for u in (0.5, 0.8, 1.1, 1.4)]),
    "apc": (14, 8, 4, [(u, v, 1) for u in (-0.9, 0.9) for v in (-0.85, 0.85)] + [(0, 0, 0.4)]),
    "dozer": (11, 9, 4, [(1.15, v, 0.8) for v in (-1.3, -0.65, 0, 0.65, 1.3)] + [(-0.3, 0, 0.6)]),
}  # fmt: skip


def speckle(reflectivity: np.ndarray, looks: int, rng: np.random.Generator) -> np.ndarray:
    """Multiplicative L-look speckle: intensity = reflectivity × Gamma(L, 1/L) (mean 1, variance 1/L)."""
    return (reflectivity * rng.gamma(looks, 1.0 / looks, reflectivity.shape)).astype(np.float32)


def clutter_reflectivity(texture: np.ndarray) -> np.ndarray:
    """Grey texture in [0, 1] → unit-mean clutter reflectivity (texture + `CLUTTER_OFFSET`, normalised)."""
    reflectivity = texture.astype(np.float64) + CLUTTER_OFFSET
    return reflectivity / reflectivity.mean()


def add_target(clutter: np.ndarray, name: str, rng: np.random.Generator) -> np.ndarray:
    """Place target `name` (one of `TARGETS`) near the centre of the square clutter reflectivity → reflectivity."""
    if name not in TARGETS:
        raise ValueError(f"unknown target {name!r}; use one of {tuple(TARGETS)}")
    size = clutter.shape[0]
    unit = size / REFERENCE_SIZE * rng.uniform(0.9, 1.1)
    length, width, height, scatterers = TARGETS[name]
    half_length, half_width, height = length * unit / 2, width * unit / 2, height * unit
    theta = math.radians(rng.uniform(-AZIMUTH_RANGE, AZIMUTH_RANGE))
    cos, sin = math.cos(theta), math.sin(theta)
    cy, cx = size / 2 - 0.5 + rng.uniform(-JITTER, JITTER, 2) * size / REFERENCE_SIZE
    yy, xx = np.mgrid[:size, :size].astype(np.float64)

    def body(down_range: float) -> np.ndarray:
        dx, dy = xx - cx, yy - cy - down_range
        return (np.abs(dx * cos + dy * sin) <= half_length) & (np.abs(dy * cos - dx * sin) <= half_width)

    inside = body(0.0)
    shadow = np.zeros_like(inside)
    for step in np.arange(0.5, height + 0.5, 0.5):
        shadow |= body(step)
    out = np.where(shadow & ~inside, SHADOW_GAIN, np.where(inside, BODY_GAIN, 1.0)) * clutter
    sigma2 = 2 * (0.6 * size / REFERENCE_SIZE) ** 2
    for u, v, weight in scatterers:
        px = cx + u * half_length * cos - v * half_width * sin
        py = cy + u * half_length * sin + v * half_width * cos
        peak = SCATTERER_PEAK * weight * rng.uniform(0.5, 1.5)
        out += peak * np.exp(-((xx - px) ** 2 + (yy - py) ** 2) / sigma2)
    return out
