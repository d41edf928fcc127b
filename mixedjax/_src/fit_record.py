"""The fit record: what a fit's estimation produced, computed once by the fitting step.

A single fit's record (``linear_fitting.fit_model``, ``generalized_fitting.fit_model``) holds
host numbers; a batch's (``batch.py``) holds the same fields with a leading replicate axis. The
result objects (``LinearMixedModel``, ``GeneralizedLinearMixedModel``) and ``BatchResult`` read
these fields and compute none of them again.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from .variance_parameters import SINGULAR_TOLERANCE


class FitRecord(NamedTuple):
    """Estimates, their standard errors, the residual scale, the criterion and the status."""

    theta: jax.Array       # covariance parameters (canonical: non-negative diagonals)
    beta: jax.Array        # fixed effects
    se: jax.Array          # standard errors of beta: sqrt(diag(vcov(beta)))
    sigma: jax.Array       # residual SD (lmer), sqrt(dispersion) (glmer; 1 without one)
    criterion: jax.Array   # what the fit minimized: REML criterion, ML or Laplace/AGQ deviance
    iterations: jax.Array  # of the optimizer's final stage
    status: jax.Array      # the optimizer's status code (optimize.STATUS_MESSAGES)
    singular: jax.Array    # lme4's isSingular


def is_singular(factors, xp=jnp):
    """lme4's isSingular from the covariance factors T_i: a diagonal element of some T_i
    (numerically) zero (a zero variance, or a correlation of a structured term on its bound)."""
    diagonals = xp.concatenate([xp.diagonal(T) for T in factors])
    return xp.min(xp.abs(diagonals)) < SINGULAR_TOLERANCE
