"""Vectorised robust statistics: NaN-aware medians and log-space MAD with floors."""

from __future__ import annotations

import numpy as np

MAD_TO_SIGMA = 1.4826


def nanmedian(x: np.ndarray, axis: int) -> np.ndarray:
    """Median along an axis ignoring NaN (NaN where nothing is left); faster than np.nanmedian."""
    x = np.sort(x, axis=axis)  # NaN sorts last
    n = np.sum(~np.isnan(x), axis=axis, keepdims=True)
    lo = np.take_along_axis(x, np.maximum((n - 1) // 2, 0), axis=axis)
    hi = np.take_along_axis(x, np.maximum(n // 2, 0), axis=axis)
    with np.errstate(invalid="ignore"):
        med = (lo + hi) / 2
    med[n == 0] = np.nan
    return np.squeeze(med, axis=axis)


def robust_sigma(residuals: np.ndarray, axis: int, floor: float, default: float, scale: float = 1.0) -> np.ndarray:
    """MAD-based sigma of residuals along an axis, floored, `default` where nothing was measured."""
    centre = nanmedian(residuals, axis)
    dev = np.abs(residuals - np.expand_dims(centre, axis))
    sigma = MAD_TO_SIGMA * scale * nanmedian(dev, axis)
    return np.where(np.isnan(sigma), default, np.maximum(sigma, floor))


def log_mean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Logarithmic mean L(a, b) = (a - b) / (ln a - ln b), L(a, a) = a; the LMDI weight."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (a - b) / (np.log(a) - np.log(b))
    return np.where(np.isclose(a, b, rtol=1e-12, atol=0.0), a, out)
