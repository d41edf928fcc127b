"""``glmer_nb``: negative binomial GLMMs with the size theta estimated (lme4's ``glmer.nb``).

y | u ~ NB(mu, theta): Var(y | u) = mu + mu^2 / theta, g(mu) = offset + X beta + Z Lambda u. The
family with a known theta is ``families.negative_binomial`` (MASS's ``negative.binomial``), fitted
by ``glmer`` like any other.

The likelihood maximized is lme4's Laplace deviance D(cov. theta, beta, size theta) = log|L|^2 +
||u~||^2 + aic (``glmm``), theta included: lme4 starts from a Poisson glmer, takes the size from
``MASS::theta.ml`` on its fitted means, then minimizes D over log(size) in one dimension by
``optimize()`` (tolerance 5e-5 on log(size)), each evaluation a glmer refit at that size. Here,
from the same start, D is minimized over all parameters at once, z = [cov. theta, beta,
log(size)], by the Newton iteration of single glmer fits, with exact first and second derivatives
(autodiff through Newton steps from the conditional mode, ``glmm.mode_near``, which carry the
mode's implicit derivatives in the size as in the other parameters). The size enters the compiled
programs as data (the family is rebuilt inside them from log(size)), so the whole search compiles
two programs and converges quadratically (grouseticks: 6 iterations, 10 evaluations, 0.1 s once
compiled); lme4's search took 10 glmer refits (2.5 s) there and stopped 2.6e-4 above the minimum
of D.

Standard errors and everything downstream are those of the glmer fit at the estimated size, as
in lme4, whose glmer.nb result is the last refit: vcov(beta) from the Hessian over (cov. theta,
beta) with the size held fixed. ``refit``, ``simulate``, ``refit_batch`` and ``bootstrap`` hold
the size at its estimate, as lme4's ``refit`` of a glmer.nb fit does.

glmmTMB's ``nbinom2`` maximizes the textbook Laplace approximation, whose log-determinant uses
the observed information of the counts (Hessian of the deviance in the random effects), where
lme4 uses the expected (Fisher) information, mu_eta^2 / V(mu). The two agree for canonical links
only, and the negative binomial's log link is not canonical: on grouseticks the two optima are
0.46 apart in -2 log L and their intercepts 0.04 (a fifth of its standard error) apart. mixedjax
follows lme4; ``fit_joint(..., observed=True)`` minimizes glmmTMB's objective (and reproduces its
estimates: tests/test_negative_binomial.py). Neither is the likelihood itself: by adaptive
quadrature (25 and 41 points agree to 1e-10) -2 log L is 1779.370 at lme4's grouseticks
estimates and 1779.220 at glmmTMB's (on the offset test data 934.774 and 934.713): the textbook
approximation lands nearer the maximum likelihood on both.
"""
from __future__ import annotations

import warnings
from functools import partial

import jax.numpy as jnp
import numpy as np

from . import _jax  # noqa: F401  (float64)
from . import arguments, covariance_layout, glmm, lmm
from ._jax import to_host
from .compilation import jit
from .families import Link, NegativeBinomial, negative_binomial, poisson
from .generalized_fitting import (GeneralizedFit, _response, fit_glmm_data, fit_model, fit_record,
                                  glmm_data, starting_means)
from .generalized_model import GeneralizedLinearMixedModel
from .model import caller_data_name, model_spec
from .optimize import MAX_ITERATIONS, NO_PROGRESS, Memo, minimize_host, packed, unpacked, value_grad_hess

LOG_SIZE_BOUNDS = (-10.0, 15.0)  # theta.ml's search range for the start: sizes e^-10 to e^15
# above this size the variance mu + mu^2 / theta is Poisson's to 1e-5 relative for means up to 1:
# the counts showed no overdispersion (the likelihood rises towards theta = infinity)
POISSON_LIKE_SIZE = 1e5


def theta_ml(y, mu, weights) -> float:
    """The maximum-likelihood size of counts y with known means mu (what MASS's theta.ml
    computes, found here by a bounded 1-D search in log(size)): glmer_nb's starting size.
    Counts with no overdispersion give the upper end of ``LOG_SIZE_BOUNDS``."""
    # here, not at the top: importing scipy's special and optimize costs 0.15-0.25 s, which every
    # other fit would pay
    from scipy import optimize, special

    y, mu, weights = (np.asarray(a, np.float64) for a in (y, mu, weights))

    def minus_loglik(log_size):
        size = np.exp(log_size)
        return -np.sum(weights * (special.gammaln(size + y) - special.gammaln(size)
                                  + size * np.log(size) + special.xlogy(y, mu)
                                  - (size + y) * np.log(size + mu)))
    best = optimize.minimize_scalar(minus_loglik, bounds=LOG_SIZE_BOUNDS, method="bounded",
                                          options={"xatol": 1e-6})
    return float(np.exp(best.x))


def _parts(z, n_theta: int, link: str):
    """(cov. theta, beta, family) of z = [cov. theta, beta, log(size)], the family's size traced."""
    family = NegativeBinomial("negative.binomial", Link(link), jnp.exp(z[-1]))
    return z[:n_theta], z[n_theta:-1], family


def _objective_at(u, theta, beta, data: glmm.GLMMData, family, observed: bool):
    """lme4's Laplace deviance with the mode u; ``observed``: glmmTMB's, with log|L|^2 from the
    observed information (``glmm.observed_weights``) instead of the Fisher weights."""
    pieces = glmm.laplace_pieces_at(u, theta, beta, data, family, False)
    if not observed:
        return glmm.laplace_value(pieces), pieces
    eta = glmm.linear_predictor(theta, u, beta, data)
    ldL2, _ = glmm.log_det_L(theta, glmm.observed_weights(eta, data, family), data)
    return glmm.laplace_value(pieces._replace(ldL2=ldL2)), pieces


@partial(jit, static_argnames=("link", "observed"))
def _joint_value(z, data: glmm.GLMMData, *, link: str, observed: bool):
    """(D, Laplace pieces) at z, the mode by PIRLS finished with Newton steps. (The static
    arguments are keyword-only: jit keys its cache on how they are passed, and a default, a
    positional and a keyword value traced and compiled the same program three times.)"""
    theta, beta, family = _parts(z, data.design.layout.n_theta, link)
    u = glmm.polished_mode(theta, beta, data, family, False)
    return _objective_at(u, theta, beta, data, family, observed)


@partial(jit, static_argnames=("link", "observed"))
def _joint_derivatives(z, u, data: glmm.GLMMData, *, link: str, observed: bool):
    """[D, grad, vec(Hessian)] at z from the mode u there: autodiff through two Newton steps."""
    n_theta = data.design.layout.n_theta

    def objective(z):
        theta, beta, family = _parts(z, n_theta, link)
        mode = glmm.mode_near(u, theta, beta, data, family, False, steps=2)
        return _objective_at(mode, theta, beta, data, family, observed)[0]
    return packed(*value_grad_hess(objective)(z))


@partial(jit, static_argnames="link")
def _covariance(z, u, hessian, data: glmm.GLMMData, *, link: str):
    """lme4's vcov(beta) at fixed size: from the Hessian over (cov. theta, beta) (``hessian``)."""
    theta, beta, family = _parts(z, data.design.layout.n_theta, link)
    return glmm.beta_covariance(theta, beta, u, hessian, data, family, 1.0, True)


def fit_joint(data: glmm.GLMMData, z0, link: str, max_iterations: int = 100, observed: bool = False):
    """Minimize D over z = [cov. theta, beta, log(size)] from z0 (the host Newton loop).
    Returns (optimizer record, z with canonical cov. theta, Laplace pieces at z)."""
    layout = data.design.layout
    n_theta = layout.n_theta
    at = Memo(lambda z: _joint_value(z, data, link=link, observed=observed))
    value = lambda z: float(at(z)[0])
    evaluate = lambda z: unpacked(_joint_derivatives(z, at(z)[1].u, data, link=link, observed=observed))
    record = minimize_host(evaluate, value, np.asarray(z0, np.float64), max_iterations=max_iterations,
                           polish=True)
    z = np.asarray(record.x, np.float64)
    theta = covariance_layout.canonical_theta(z[:n_theta], layout, np)
    theta = lmm.snap_to_boundary(lambda t: value(np.concatenate([t, z[n_theta:]])), theta, record.fun,
                                 layout, xp=np)
    z = np.concatenate([theta, z[n_theta:]])
    final_value, pieces = to_host(at(z))
    return record._replace(x=z, fun=np.float64(final_value)), z, pieces


def glmer_nb(formula: str, data, weights=None, offset=None, link: str = "log", nAGQ: int = 1,
             theta_start=None, max_iterations: int = 100, data_name: str | None = None):
    """Fit a negative binomial GLMM with its size theta estimated (lme4's ``glmer.nb``).

    theta (``fit.nb_theta``; variance mu + mu^2 / theta) is estimated by maximum likelihood
    jointly with the covariance parameters and fixed effects, on lme4's Laplace deviance (see the
    module's notes); the fit is otherwise the glmer fit of ``negative_binomial(theta)`` at the
    estimate, whose summary shows lme4's ``Negative Binomial(theta)`` family line, and theta
    counts as a parameter in AIC, BIC and the residual df, as in lme4. ``theta_start``: a
    starting size (lme4's ``initCtrl$theta``), else theta.ml on the means of a Poisson glmer fit,
    as lme4. ``link``: "log" (default), "identity" or "sqrt"."""
    family = negative_binomial(1.0, link)
    if theta_start is not None:
        theta_start = arguments.positive(theta_start, "theta_start")
    nAGQ = arguments.integer(nAGQ, "nAGQ", minimum=0)
    if nAGQ != 1:
        raise arguments.ArgumentError(
            f"glmer_nb estimates theta on the Laplace likelihood (nAGQ=1); got nAGQ={nAGQ}. For "
            "adaptive quadrature at a known theta use glmer(..., family=mixedjax.negative_binomial"
            "(theta), nAGQ=k), e.g. with theta = glmer_nb(...).nb_theta")
    max_iterations = arguments.integer(max_iterations, "max_iterations", minimum=1)
    spec = model_spec(formula, data, weights=weights, offset=offset, allow_n=True)
    y, prior_weights = _response(spec, family)
    layout = spec.design.layout
    # lme4's start: a Poisson glmer (its estimates also start the joint search)
    start_family = poisson(link)
    poisson_fit = fit_model(spec, y, prior_weights, start_family, covariance_layout.theta_start(layout), 1,
                            max_iterations, mustart=starting_means(spec, data, start_family, y, prior_weights))
    theta0, beta0 = poisson_fit.record.theta, poisson_fit.record.beta
    poisson_mu = np.asarray(poisson_fit.pieces.mu)
    size0 = theta_ml(y, poisson_mu, prior_weights) if theta_start is None else theta_start
    mu_start = starting_means(spec, data, family, y, prior_weights)
    fit_data = fit_glmm_data(spec, y, prior_weights, family, mu_start)
    z0 = np.concatenate([covariance_layout.refit_start(theta0, layout), beta0, [np.log(size0)]])
    record, z, pieces = fit_joint(fit_data, z0, link, max_iterations)
    n_theta, size = layout.n_theta, float(np.exp(z[-1]))
    if size >= POISSON_LIKE_SIZE and record.status == MAX_ITERATIONS:
        # no maximum: D falls towards the Poisson limit (size -> infinity) by ever smaller amounts
        # (1e-12 relative by size 1e8), so the iteration ran out rather than failed
        record = record._replace(status=NO_PROGRESS)
    hessian = np.asarray(record.hess)[:-1, :-1]  # at fixed size, as lme4's last refit
    covariance = to_host(_covariance(z, pieces.u, hessian, fit_data, link=link))
    if spec.padded:
        pieces = pieces._replace(u=spec.unpad_random(pieces.u), mu=np.asarray(pieces.mu)[:spec.n_obs])
    family = negative_binomial(size, link)
    name = data_name if data_name is not None else caller_data_name(data)
    fitted = GeneralizedFit(record, record, hessian, pieces, covariance,
                            fit_record(spec, record, z[:n_theta], z[n_theta:-1], 1.0, covariance.matrix))
    fit = NegativeBinomialMixedModel(spec, glmm_data(spec, y, prior_weights, family, mu_start), family, 1,
                                     fitted, name, max_iterations)
    if size >= POISSON_LIKE_SIZE:
        warnings.warn(f"glmer_nb: theta = {size:.4g}: the counts show no overdispersion beyond the "
                      "random effects; a Poisson glmer fits as well", UserWarning, stacklevel=2)
    return fit


class NegativeBinomialMixedModel(GeneralizedLinearMixedModel):
    """A ``glmer_nb`` fit: the glmer fit of ``negative_binomial(nb_theta)`` at the estimated
    size, counted as one more parameter. ``optimizer`` records the joint search (its end point
    and gradient include log(theta), last)."""

    @property
    def nb_theta(self) -> float:
        """The estimated size theta (lme4's ``getME(fit, "glmer.nb.theta")``)."""
        return float(self.family.theta)

    @property
    def n_params(self) -> int:
        return super().n_params + 1
