"""Variance parameters on lme4's standard-deviation scale, and the deviance as a function of them.

lme4 names the covariance parameters of a fit ``.sig01, .sig02, ...`` (then ``.sigma``): for each
random-effects term, in theta's layout (lower triangle, column-major), a diagonal position holds the
standard deviation of that column's effect and an off-diagonal position the correlation of the two
columns. With Sigma_i = s^2 T_i T_i' (s = sigma for lmer, 1 for glmer),

    sd_j = sqrt(Sigma_i[j, j]),   rho_jk = Sigma_i[j, k] / (sd_j sd_k),

and back: T_i = chol(D R D) / s. Both maps are JAX functions, so derivatives with respect to the
standard-deviation scale (standard errors of variance components, Satterthwaite degrees of
freedom, profiles) come from autodiff.

The linear model's deviance with sigma not profiled out (theta -> d(theta) in ``lmm`` is its
minimum over sigma):

    ML:   d(theta, sigma)   = log|L|^2 - log|W| + n log(2 pi sigma^2) + r^2(theta) / sigma^2
    REML: d_R(theta, sigma) = log|L|^2 + log|R_X|^2 - log|W| + (n - p) log(2 pi sigma^2) + r^2 / sigma^2

with beta at its conditional estimate given theta (lme4's ``devfun2`` uses the same profiling).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import _jax  # noqa: F401  (float64)
from . import blocks, covariance_layout, covariance_structures, lmm
from .design import Layout
from .model import ModelSpec


def _lower_positions(p: int) -> tuple[np.ndarray, np.ndarray]:
    return covariance_structures.lower_positions(p)


def sdcor_from_theta(theta, scale, layout: Layout) -> jax.Array:
    """theta (and the scale s) -> SDs and correlations in theta's layout (lme4's .sig values;
    structured terms: ``covariance_structures.sdcor``)."""
    theta, pieces = jnp.asarray(theta), []
    for structure, p, where in covariance_layout.term_slices(layout):
        pieces.append(covariance_structures.sdcor(structure, theta[where], p, scale))
    return jnp.concatenate(pieces) if pieces else jnp.zeros(0)


def theta_from_sdcor(sdcor, scale, layout: Layout) -> jax.Array:
    """SDs and correlations in theta's layout (and the scale s) -> theta (for unstructured terms
    vech(chol(D R D) / s)).

    Defined for positive-definite correlation blocks; a zero SD gives a zero column of T."""
    sdcor, pieces = jnp.asarray(sdcor), []
    for structure, p, where in covariance_layout.term_slices(layout):
        # chol(R) by blocks.cholesky: no LAPACK under vmap
        pieces.append(covariance_structures.from_sdcor(structure, sdcor[where], p, scale,
                                                       blocks.cholesky))
    return jnp.concatenate(pieces) if pieces else jnp.zeros(0)


def sig_names(layout: Layout, has_residual: bool) -> list[str]:
    """lme4's names: .sig01, .sig02, ... for the covariance parameters, then .sigma."""
    names = [f".sig{i + 1:02d}" for i in range(layout.n_theta)]
    return names + ([".sigma"] if has_residual else [])


def lmm_deviance(theta, sigma, problem: lmm.LinearProblem, reml: bool):
    """ML deviance or REML criterion at (theta, sigma), beta at its conditional estimate.

    Its minimum over sigma is ``lmm.profiled_deviance(theta, problem, reml)``."""
    factor = lmm.problem_factor(theta, problem)
    ldL2, ldRX2, pwrss = lmm.deviance_components(factor, problem.design.layout)
    dof = problem.n_obs - (problem.design.layout.n_fixed if reml else 0)
    value = (ldL2 + (ldRX2 if reml else 0.0) - problem.log_det_weights
             + dof * jnp.log(2.0 * jnp.pi * sigma ** 2) + pwrss / sigma ** 2)
    return jnp.where(jnp.isfinite(value), value, jnp.inf)


def lmm_deviance_sdcor(varpar, problem: lmm.LinearProblem, reml: bool):
    """The same deviance as a function of lme4's (.sig01, ..., .sigma) vector."""
    sigma = varpar[-1]
    theta = theta_from_sdcor(varpar[:-1], sigma, problem.design.layout)
    return lmm_deviance(theta, sigma, problem, reml)


SINGULAR_TOLERANCE = 1e-4  # lme4's getSingTol(): a diagonal of theta below this is on the boundary


def term_factors(theta: np.ndarray, spec: ModelSpec) -> list[np.ndarray]:
    """T_i per term from theta, as numpy (``covariance_layout.covariance_factors``: each term's structure)."""
    return covariance_layout.covariance_factors(np.asarray(theta, np.float64), spec.design.layout, np)
