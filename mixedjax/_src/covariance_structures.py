"""Covariance structures of a random-effects term: lme4 2.x's (and glmmTMB's) ``us``, ``diag``,
``cs`` and ``ar1``, each a parameterization of the term's relative covariance factor T
(Var(b_g) = s^2 T T', s = sigma for lmer, 1 for glmer) by its share of theta.

For a term with p columns:

* ``us`` (unstructured, ``(x | g)``): theta is T's lower triangle, column-major (lme4's theta),
  p(p+1)/2 values;
* ``diag``: theta = (d_1..d_p), T = diag(d): independent effects, one variance each (the model
  of lme4 1.1's ``(x || g)`` where x has no factor);
* ``cs`` (compound symmetry, heterogeneous as glmmTMB's and lme4 2.x's default): theta =
  (d_1..d_p, phi), Var = D R D with D = diag(d), R = (1 - rho) I + rho 11';
* ``ar1`` (homogeneous as glmmTMB's and lme4 2.x's default): theta = (d, phi), Var = d^2 R with
  R_ij = rho^|i-j| over the columns (the levels of a time factor).

The correlation is rho = lo + (1 - lo)(1 + sin phi) / 2, lo = -1/(p - 1) (-1 for ar1, where
rho = sin phi): every phi gives a valid R, both bounds of rho are reached at finite phi, and the
deviance, a smooth even function of phi about +-pi/2 there, has a regular optimum on a bound,
as it has at d = 0 through the sign symmetry T -> -T of a column. So the optimizer needs no
bounds (the same device lmer's theta uses for its diagonals), and each T below is an analytic
function of phi (signed square roots of 1 - rho and 1 + (p - 1) rho, whose sign flips whole
columns of T and leaves T T' unchanged), so autodiff derivatives are exact everywhere.
lme4 2.x estimates rho itself under box constraints; theta reports phi, and ``sdcor``
(lme4's .sig scale) reports rho.

Unlike ``us`` and ``diag``, the sign of one d_j in ``cs`` is not a symmetry (it would flip that
effect's correlations), so T uses |d_j|.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

STRUCTURES = ("us", "diag", "cs", "ar1")
NAMES = {"us": "unstructured", "diag": "diagonal", "cs": "compound symmetry",
         "ar1": "autoregressive (AR1)"}


def n_parameters(structure: str, p: int) -> int:
    """Length of a term's share of theta."""
    return {"us": p * (p + 1) // 2, "diag": p, "cs": p + 1, "ar1": 2}[structure]


def lower_positions(p: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of a p x p lower triangle in theta's column-major order."""
    rows, cols = np.tril_indices(p)
    order = np.lexsort((rows, cols))
    return rows[order], cols[order]


def _lowest_correlation(structure: str, p: int) -> float:
    return -1.0 if structure == "ar1" or p < 2 else -1.0 / (p - 1)


def correlation(structure: str, p: int, phi, xp=jnp):
    """rho from the angle phi (module docstring)."""
    lo = _lowest_correlation(structure, p)
    return lo + 0.5 * (1.0 - lo) * (1.0 + xp.sin(phi))


def angle(structure: str, p: int, rho, xp=jnp):
    """The angle phi in [-pi/2, pi/2] of a correlation rho (inverse of ``correlation``)."""
    lo = _lowest_correlation(structure, p)
    return xp.arcsin(xp.clip(2.0 * (rho - lo) / (1.0 - lo) - 1.0, -1.0, 1.0))


def _lower_triangle(diagonal, below, p: int, xp):
    """T with column k's diagonal ``diagonal[k]`` and every entry below it ``below[k]``. Built by
    selection, not by scattering, so one code path serves numpy on the host (no JAX dispatch per
    fitted model) and JAX in traced kernels."""
    rows, cols = np.indices((p, p))
    zero = xp.zeros((p, p), diagonal.dtype)
    return xp.where(rows == cols, diagonal[cols], xp.where(rows > cols, below[cols], zero))


def _compound_symmetry_factor(phi, p: int, xp):
    """chol(R) of R = (1 - rho) I + rho 11' (unit variances), in closed form: eliminating the
    first k effects leaves (1 - rho) I + c_k 11', c_k = rho (1 - rho) / (1 + (k - 1) rho), so column
    k + 1 >= 2 has diagonal sqrt((1 - rho)(1 + k rho) / (1 + (k - 1) rho)) and entries
    rho sqrt(1 - rho) / sqrt((1 + (k - 1) rho)(1 + k rho)) below it."""
    lo = _lowest_correlation("cs", p)
    h = 0.5 * (1.0 - lo)
    rho = correlation("cs", p, phi, xp)
    # signed roots: 1 - rho = h a^2 and 1 + (p - 1) rho = (p - 1) h b^2
    a, b = xp.cos(phi / 2) - xp.sin(phi / 2), xp.cos(phi / 2) + xp.sin(phi / 2)
    root_one_minus = np.sqrt(h) * a
    one = xp.ones_like(rho)
    diagonal, below = [one], [rho]
    for k in range(1, p):
        before = xp.sqrt(1.0 + (k - 1) * rho)  # > 0 for k <= p - 1 on [lo, 1]
        if k == p - 1:
            diagonal.append(root_one_minus * np.sqrt((p - 1) * h) * b / before)
            below.append(0.0 * one)  # no entries below the last column
        else:
            root_after = xp.sqrt(1.0 + k * rho)
            diagonal.append(root_one_minus * root_after / before)
            below.append(rho * root_one_minus / (before * root_after))
    return _lower_triangle(xp.stack(diagonal), xp.stack(below), p, xp)


def _autoregressive_factor(phi, p: int, xp):
    """chol(R) of R_ij = rho^|i-j|, rho = sin phi: first column rho^i, then rho^(i-j) cos phi."""
    rho = xp.sin(phi)
    powers = xp.cumprod(xp.concatenate([xp.ones(1), xp.full(p - 1, rho)]))
    rows, cols = np.indices((p, p))
    lags = np.maximum(rows - cols, 0)
    column_factor = xp.where(cols == 0, 1.0, xp.cos(phi))
    return xp.where(rows >= cols, powers[lags] * column_factor, xp.zeros((p, p), powers.dtype))


def factor(structure: str, params, p: int, xp=jnp):
    """The term's T (p x p, lower triangular) from its share of theta; ``xp`` is numpy for host
    values, jax.numpy inside kernels."""
    if structure == "us":
        rows, cols = lower_positions(p)
        position = np.zeros((p, p), int)
        position[rows, cols] = np.arange(rows.size)
        below_or_on = np.tril(np.ones((p, p), bool))
        return xp.where(below_or_on, params[position], xp.zeros((p, p), params.dtype))
    if structure == "diag":
        return xp.diag(params)
    if structure == "cs":
        return xp.abs(params[:p])[:, None] * _compound_symmetry_factor(params[p], p, xp)
    if structure == "ar1":
        return params[0] * _autoregressive_factor(params[1], p, xp)
    raise ValueError(f"unknown covariance structure {structure!r}")


def lower_bounds(structure: str, p: int) -> np.ndarray:
    """0 where theta holds a (relative) standard deviation or a diagonal of T, -inf elsewhere
    (below-diagonal elements of T, angles): lme4's ``lower`` for ``us``."""
    if structure == "us":
        rows, cols = lower_positions(p)
        return np.where(rows == cols, 0.0, -np.inf)
    sds = n_parameters(structure, p) - (structure in ("cs", "ar1"))
    return np.concatenate([np.zeros(sds), np.full(n_parameters(structure, p) - sds, -np.inf)])


def start(structure: str, p: int) -> np.ndarray:
    """lme4's start: T = I (every standard deviation 1, every correlation 0)."""
    values = np.where(np.isfinite(lower_bounds(structure, p)), 1.0, 0.0)
    if structure in ("cs", "ar1"):
        values[-1] = float(angle(structure, p, 0.0, np))
    return values


def is_angle(structure: str, p: int) -> np.ndarray:
    """Which of the term's parameters are correlation angles."""
    mask = np.zeros(n_parameters(structure, p), bool)
    if structure in ("cs", "ar1"):
        mask[-1] = True
    return mask


def sdcor_positions(structure: str, p: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of each of the term's .sig values (``sdcor``) in its covariance matrix: an
    SD at (j, j), a correlation at (i, j) below the diagonal; the one correlation of ``cs`` and
    ``ar1`` stands at (1, 0) (the first pair it sets)."""
    if structure == "us":
        return lower_positions(p)
    sds = np.arange(1 if structure == "ar1" else p)
    extra = np.array([1, 0]) if structure in ("cs", "ar1") else np.zeros(2, int)[:0]
    return (np.concatenate([sds, extra[:1]]).astype(int),
            np.concatenate([sds, extra[1:]]).astype(int))


def canonical(structure: str, params, p: int, xp=jnp):
    """The same T T' with non-negative standard deviations (and diagonals of T) and angles in
    [-pi/2, pi/2]."""
    if structure == "us":
        rows, cols = lower_positions(p)
        diagonal_position = np.flatnonzero(rows == cols)
        signs = xp.where(params[diagonal_position] < 0, -1.0, 1.0)
        return params * signs[cols]
    if structure == "diag":
        return xp.abs(params)
    return xp.concatenate([xp.abs(params[:-1]), xp.arcsin(xp.sin(params[-1:]))])


def sdcor(structure: str, params, p: int, scale, xp=jnp):
    """lme4's .sig values of the term: ``us``: SDs on T's diagonal positions and correlations
    below; ``diag``: the SDs; ``cs``: the SDs, then rho; ``ar1``: the SD, then rho."""
    if structure == "us":
        T = factor(structure, xp.asarray(params), p, xp)
        cov = scale ** 2 * (T @ T.T)
        sd = xp.sqrt(xp.diagonal(cov))
        safe = xp.where(sd > 0, sd, 1.0)
        corr = cov / (safe[:, None] * safe[None, :])
        rows, cols = lower_positions(p)
        return xp.where(rows == cols, sd[rows], corr[rows, cols])
    if structure == "diag":
        return xp.abs(params) * scale
    return xp.concatenate([xp.abs(params[:-1]) * scale,
                           correlation(structure, p, params[-1:], xp)])


def from_sdcor(structure: str, values, p: int, scale, cholesky):
    """The term's theta from its .sig values (inverse of ``sdcor``); ``cholesky`` factors a
    correlation matrix (``us``)."""
    if structure == "us":
        if p == 1:
            return values / scale
        rows, cols = lower_positions(p)
        diagonal = rows == cols
        sd = jnp.zeros(p, values.dtype).at[rows[diagonal]].set(values[diagonal])
        off_rows, off_cols = rows[~diagonal], cols[~diagonal]
        corr = (jnp.eye(p, dtype=values.dtype).at[off_rows, off_cols].set(values[~diagonal])
                .at[off_cols, off_rows].set(values[~diagonal]))
        T = sd[:, None] * cholesky(corr)  # chol(D R D) = D chol(R)
        return T[rows, cols] / scale
    if structure == "diag":
        return values / scale
    return jnp.concatenate([values[:-1] / scale, angle(structure, p, values[-1:])])


def column_scale(structure: str, scale, p: int, xp=jnp):
    """The optimizer's per-parameter scale from the per-column scale of T's rows (``lmm.theta_scale``:
    T = D^-1 T~): rows of ``us``, the SDs of ``diag`` and ``cs``; one SD of ``ar1`` shares its
    columns' scale only when they agree; angles are unscaled."""
    if structure == "us":
        return scale[lower_positions(p)[0]]
    if structure == "diag":
        return scale
    if structure == "cs":
        return xp.concatenate([scale, xp.ones(1)])
    common = xp.where(xp.all(scale == scale[0]), scale[0], 1.0)
    return xp.stack([common, xp.asarray(1.0)])
