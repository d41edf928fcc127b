"""Satterthwaite degrees of freedom for t and F tests of fixed-effect contrasts (lmerTest).

The variance parameters are phi = (theta, sigma) (lmerTest's ``varpar``). With d(phi) the deviance
with sigma not profiled out (REML criterion for REML fits, ML deviance for ML fits;
``variance_parameters.lmm_deviance``) and C(phi) = sigma^2 R_X^{-1} R_X^{-T} the covariance of
beta-hat given phi,

    A = 2 pinv(d''(phi))                    (eigenvalues at or below 1e-8 dropped, as lmerTest),
    t test of l'beta:  nu = 2 (l'Cl)^2 / (g'Ag),   g_i = l' (dC/dphi_i) l,
    F test of L beta (lmerTest's contestMD): L C L' = P D P', keep the q eigenvalues above
        sqrt(eps) times the largest; with rows m_k of P'L, F = sum_k (m_k'beta)^2 / d_k / q, each
        row has its own nu_k as above, and the denominator df is 2E / (E - q), E = sum nu_k/(nu_k-2)
        (2 when some nu_k <= 2; the common value when all nu_k agree).

d'' and dC/dphi are exact (autodiff); lmerTest uses finite differences (numDeriv), so the two
agree to about 1e-6 relative.
"""
from __future__ import annotations

import warnings
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _jax  # noqa: F401  (float64)
from ..compilation import jit
from .. import lmm
from ..variance_parameters import lmm_deviance
from ..errors import DdfWarning

HESSIAN_EIGENVALUE_TOL = 1e-8    # lmerTest's tol in as_lmerModLT
CONTRAST_EIGENVALUE_EPS = float(np.sqrt(np.finfo(float).eps))  # lmerTest's eps in contestMD
EQUAL_DF_TOL = 1e-8              # lmerTest's get_Fstat_ddf tolerance


class SatterthwaiteState(NamedTuple):
    """What every Satterthwaite test needs: beta-hat, C = vcov(beta-hat), A = vcov(phi-hat), and
    the Jacobian dC/dphi (p, p, k)."""

    beta: np.ndarray
    vcov_beta: np.ndarray
    vcov_varpar: np.ndarray
    jacobian: np.ndarray


def beta_covariance(varpar, problem: lmm.LinearProblem):
    """C(phi) = sigma^2 (R_X' R_X)^{-1} at phi = (theta, sigma), R_X from the factorization at theta."""
    layout = problem.design.layout
    theta, sigma = varpar[:-1], varpar[-1]
    factor = lmm.problem_factor(theta, problem)
    q, p = layout.n_trailing_random, layout.n_fixed
    RXt = lmm.original_RXt(factor.L22[q:q + p, q:q + p], problem)
    RXt_inv = jax.scipy.linalg.solve_triangular(RXt, jnp.eye(p), lower=True)
    return sigma ** 2 * (RXt_inv.T @ RXt_inv)


@partial(jit, static_argnames=("reml",))
def _derivatives(varpar, problem: lmm.LinearProblem, reml: bool):
    deviance = lambda v: lmm_deviance(v[:-1], v[-1], problem, reml)
    return jax.hessian(deviance)(varpar), jax.jacfwd(beta_covariance)(varpar, problem)


def pseudo_inverse_covariance(hessian: np.ndarray, tol: float = HESSIAN_EIGENVALUE_TOL) -> np.ndarray:
    """A = 2 H^+ over the eigenvalues above ``tol``; warns (as lmerTest) about negative
    eigenvalues (not a minimum) and eigenvalues near zero (a flat direction)."""
    values, vectors = np.linalg.eigh(0.5 * (hessian + hessian.T))
    negative, flat = values < -tol, np.abs(values) <= tol
    if negative.any():
        warnings.warn(f"Model failed to converge with {int(negative.sum())} negative eigenvalue(s) of "
                      f"the variance-parameter Hessian: {values[negative]}; Satterthwaite df may be "
                      "unreliable", DdfWarning, stacklevel=4)
    if flat.any():
        warnings.warn(f"Model may not have converged with {int(flat.sum())} eigenvalue(s) of the "
                      f"variance-parameter Hessian close to zero: {values[flat]}", DdfWarning,
                      stacklevel=4)
    positive = values > tol
    kept = vectors[:, positive]
    return 2.0 * (kept / values[positive]) @ kept.T


def satterthwaite_state(fit) -> SatterthwaiteState:
    """The state at a linear mixed fit's estimates (theta-hat, sigma-hat)."""
    return state_at(fit.theta_values, fit.sigma, fit.problem, fit.kind.reml)


def state_at(theta, sigma, problem: lmm.LinearProblem, reml: bool) -> SatterthwaiteState:
    """Hessian of the deviance and Jacobian of C at phi = (theta, sigma); beta-hat given theta.

    (At any phi, not only at the optimum: the tests evaluate it at lme4's estimates too.)"""
    varpar = jnp.asarray(np.append(np.asarray(theta, float), float(sigma)))
    hessian, jacobian = _derivatives(varpar, problem, reml=reml)
    hessian, jacobian = np.asarray(hessian), np.asarray(jacobian)
    if not (np.isfinite(hessian).all() and np.isfinite(jacobian).all()):
        warnings.warn("the deviance's Hessian or the Jacobian of vcov(beta) is not finite at the "
                      "estimates; Satterthwaite df are NaN", DdfWarning, stacklevel=3)
        hessian = np.full_like(hessian, np.nan)
    vcov_beta = np.asarray(beta_covariance(varpar, problem))
    beta = np.asarray(lmm.solve(varpar[:-1], problem).beta)
    vcov_varpar = (pseudo_inverse_covariance(hessian) if np.isfinite(hessian).all()
                   else np.full_like(hessian, np.nan))
    return SatterthwaiteState(beta, vcov_beta, vcov_varpar, jacobian)


def contrast_df(state: SatterthwaiteState, contrast: np.ndarray) -> float:
    """nu = 2 (l'Cl)^2 / (g'Ag), g_i = l' dC/dphi_i l."""
    variance = contrast @ state.vcov_beta @ contrast
    gradient = np.einsum("a,abk,b->k", contrast, state.jacobian, contrast)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(2.0 * variance ** 2 / (gradient @ state.vcov_varpar @ gradient))


def t_test(state: SatterthwaiteState, contrast: np.ndarray) -> tuple[float, float, float]:
    """(estimate l'beta, standard error sqrt(l'Cl), Satterthwaite df) for one contrast l."""
    return (float(contrast @ state.beta), float(np.sqrt(contrast @ state.vcov_beta @ contrast)),
            contrast_df(state, contrast))


def combined_df(nu: np.ndarray) -> float:
    """Denominator df of the F statistic from the q single-df nu_k (lmerTest's get_Fstat_ddf)."""
    if len(nu) == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < EQUAL_DF_TOL):
        return float(np.mean(nu))
    if np.any(nu <= 2):
        return 2.0
    expected = np.sum(nu / (nu - 2))
    return float(2 * expected / (expected - len(nu)))


def independent_rows(L: np.ndarray, vcov_beta: np.ndarray, eps: float = CONTRAST_EIGENVALUE_EPS):
    """(P'L restricted to its q informative rows, their variances d_k): L C L' = P D P' with
    the eigenvalues above eps times the largest."""
    values, vectors = np.linalg.eigh(L @ vcov_beta @ L.T)
    order = np.argsort(values)[::-1]  # R's eigen(): decreasing
    values, vectors = values[order], vectors[:, order]
    keep = values > max(eps * values[0], 0.0)
    return (vectors[:, keep].T @ L), values[keep]


def f_test(state: SatterthwaiteState, L: np.ndarray, rhs: np.ndarray) -> tuple[float, int, float]:
    """(F value, numerator df q, denominator df) of H0: L beta = rhs (lmerTest's contestMD).

    A single informative row is the squared t test."""
    beta = state.beta
    if np.any(rhs != 0):
        beta = beta - np.linalg.pinv(L) @ rhs
    rows, variances = independent_rows(L, state.vcov_beta)
    q = len(variances)
    if q == 0:
        return np.nan, 0, np.nan
    if q == 1:
        shift = rhs[0] if np.any(rhs != 0) else 0.0
        # lmerTest tests the one remaining row against the first rhs, with beta unshifted
        estimate, se, df = t_test(state, rows[0])
        return float(((estimate - shift) / se) ** 2), 1, df
    F = float(np.sum((rows @ beta) ** 2 / variances) / q)
    nu = np.array([contrast_df(state, row) for row in rows])
    return F, q, combined_df(nu)
