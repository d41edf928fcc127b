"""Inverting a likelihood profile as lme4 does: a natural interpolating spline of zeta over the
parameter, then its "back spline", a piecewise cubic giving the parameter as a function of zeta.

lme4's ``confint`` on a profile evaluates the back spline at zeta = +-qnorm(1 - (1 - level) / 2)
(R's ``splines::interpSpline`` then ``splines::backSpline``). To reproduce its intervals, not
merely approximate them, we build the same two piecewise polynomials.

Forward spline: through the knots (x_i, zeta_i), i = 0..n-1 (n >= 4, x increasing), the cubic
spline with zero second derivative at both ends. With h_i = x_{i+1} - x_i and second
derivatives M_i (M_0 = M_{n-1} = 0), the interior M_i solve

    h_{i-1} M_{i-1} + 2 (h_{i-1} + h_i) M_i + h_i M_{i+1}
        = 6 [(zeta_{i+1} - zeta_i) / h_i - (zeta_i - zeta_{i-1}) / h_{i-1}],

and the slope at knot i is s_i = (zeta_{i+1} - zeta_i) / h_i - h_i (2 M_i + M_{i+1}) / 6
(at the last knot, from the left: (zeta_{n-1} - zeta_{n-2}) / h + h (M_{n-2} + 2 M_{n-1}) / 6).

Back spline: on [zeta_i, zeta_{i+1}] (a_i = zeta_{i+1} - zeta_i, k_i = x_{i+1} - x_i) the cubic
x_i + c1 d + c2 d^2 + c3 d^3 (d = zeta - zeta_i) with c1 = 1/s_i that reaches x_{i+1} with slope
1/s_{i+1} (Hermite). The two end pieces are quadratics instead: the first matches x and the slope
1/s_1 at its right end (its left slope is free), the last starts with slope 1/s_{n-2} and reaches
x_{n-1}. An end quadratic that would bend the wrong way (positive curvature on the first piece,
negative on the last) is replaced by the straight line through its ends. Outside [zeta_0,
zeta_{n-1}] the back spline is undefined (NaN), and the caller substitutes the parameter's bound.
"""
from __future__ import annotations

import numpy as np

from ..errors import SplineError


def natural_spline_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Slopes at the knots of the natural cubic interpolating spline through (x, y)."""
    n = len(x)
    h = np.diff(x)
    secant = np.diff(y) / h
    M = np.zeros(n)
    if n > 2:
        system = np.zeros((n - 2, n - 2))
        rows = np.arange(n - 2)
        system[rows, rows] = 2.0 * (h[:-1] + h[1:])
        system[rows[1:], rows[:-1]] = h[1:-1]
        system[rows[:-1], rows[1:]] = h[1:-1]
        M[1:-1] = np.linalg.solve(system, 6.0 * np.diff(secant))
    slopes = np.empty(n)
    slopes[:-1] = secant - h * (2.0 * M[:-1] + M[1:]) / 6.0
    slopes[-1] = secant[-1] + h[-1] * (M[-2] + 2.0 * M[-1]) / 6.0
    return slopes


def back_spline(x: np.ndarray, zeta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(knots, coefficients) of the back spline x(zeta) for points sorted by x.

    Raises ``SplineError`` for fewer than 4 points, repeated x, or zeta not strictly increasing
    (lme4 then falls back to linear interpolation)."""
    x, zeta = np.asarray(x, float), np.asarray(zeta, float)
    n = len(x)
    if n < 4:
        raise SplineError(f"a spline needs at least 4 profile points, got {n}")
    if np.any(np.diff(x) <= 0):
        raise SplineError("profile values must be distinct")
    if not np.all(np.diff(zeta) > 0):
        raise SplineError("zeta is not increasing along the profile")
    slopes = natural_spline_slopes(x, zeta)
    kdiff, adiff = np.diff(x), np.diff(zeta)
    coef = np.zeros((n - 1, 4))
    coef[:, 0] = x[:-1]
    inverse_slope = 1.0 / slopes
    coef[:, 1] = inverse_slope[:-1]
    for i in range(n - 1):
        a = adiff[i]
        system = np.array([[a ** 2, a ** 3], [2.0 * a, 3.0 * a ** 2]])
        rhs = np.array([kdiff[i] - a * inverse_slope[i], inverse_slope[i + 1] - inverse_slope[i]])
        coef[i, 2:] = np.linalg.solve(system, rhs)
    first, last = 0, n - 2
    coef[first, 3] = coef[last, 3] = 0.0
    a = adiff[first]
    coef[first, 1:3] = np.linalg.solve(np.array([[a, a ** 2], [1.0, 2.0 * a]]),
                                       np.array([kdiff[first], inverse_slope[1]]))
    coef[last, 2] = (kdiff[last] - adiff[last] * coef[last, 1]) / adiff[last] ** 2
    if coef[first, 2] > 0:
        coef[first, 1:3] = kdiff[first] / adiff[first], 0.0
    if coef[last, 2] < 0:
        coef[last, 1:3] = kdiff[last] / adiff[last], 0.0
    return zeta, coef


def evaluate_back_spline(knots: np.ndarray, coef: np.ndarray, zeta) -> np.ndarray:
    """x at each zeta: the piece i with knots[i] < zeta <= knots[i + 1] (the first piece also at
    knots[0]); NaN outside the knots."""
    zeta = np.atleast_1d(np.asarray(zeta, float))
    piece = np.searchsorted(knots, zeta, side="left") - 1
    piece = np.where(zeta == knots[0], 0, piece)
    inside = (piece >= 0) & (piece < len(knots) - 1)
    piece = np.clip(piece, 0, len(knots) - 2)
    d = zeta - knots[piece]
    c = coef[piece]
    value = c[:, 0] + d * (c[:, 1] + d * (c[:, 2] + d * c[:, 3]))
    return np.where(inside, value, np.nan)


def linear_inverse(x: np.ndarray, zeta: np.ndarray, targets) -> np.ndarray:
    """R's approxfun(zeta, x)(targets): linear interpolation over the zeta-sorted points (ties
    averaged), NaN outside their range; lme4's fallback when the spline fails."""
    keep = np.isfinite(zeta)
    x, zeta = np.asarray(x, float)[keep], np.asarray(zeta, float)[keep]
    targets = np.atleast_1d(np.asarray(targets, float))
    if len(zeta) == 0:
        return np.full(targets.shape, np.nan)
    unique_zeta, inverse = np.unique(zeta, return_inverse=True)
    mean_x = np.bincount(inverse, weights=x) / np.bincount(inverse)
    if len(unique_zeta) == 1:
        return np.where(targets == unique_zeta[0], mean_x[0], np.nan)
    value = np.interp(targets, unique_zeta, mean_x)
    return np.where((targets >= unique_zeta[0]) & (targets <= unique_zeta[-1]), value, np.nan)
