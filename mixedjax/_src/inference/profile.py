"""Likelihood profiles and profile confidence intervals (lme4's ``profile.merMod`` and
``confint.thpr``).

Parameters are lme4's: the random-effects standard deviations and correlations (``.sig01``, ...),
``.sigma`` for lmer, then the fixed effects. For parameter j with estimate p_j and deviance D,

    zeta_j(v) = sign(v - p_j) sqrt(D_j(v) - D_min),   D_j(v) = min D over all other parameters,

and the level-L interval is where zeta_j = -+qnorm(1 - (1 - L) / 2).

lme4's choices, which we follow to reproduce its numbers:

- lmer fits are profiled on the ML deviance, also REML fits (lme4's ``devfun2`` refits by ML
  first), so a REML fit's profile is centred at the ML estimates. Our lmer deviance over
  (sds/correlations, sigma, beta) is

      D = log|L|^2 - log|W| + n log(2 pi sigma^2) + [r^2(theta) + ||R_X (beta - beta^(theta))||^2] / sigma^2,

  minimized jointly over the free coordinates (minimizing over beta gives lme4's conditional beta;
  fixing beta_j gives lme4's refit with X_j beta_j as an offset).
- glmer fits are profiled on the Laplace (or AGQ) deviance of (sds/correlations, beta).
- glmer fits of families with a dispersion (Gamma, inverse.gaussian, gaussian with a link), which
  lme4 cannot profile, are profiled on the Laplace likelihood with sigma = sqrt(phi) as a
  parameter (``dispersion_likelihood``; glmmTMB's objective), parameters (sds/correlations,
  .sigma, beta), centred at that likelihood's maximum (near glmer's estimates, not at them: as a
  REML fit's profile is centred at the ML estimates).
- The grid: the first point is p_j * 1.01 (0.001 when p_j = 0; p_j * 0.99 at an upper bound, a
  correlation of +1; for lmer fixed effects p_j + delta se_j), then each step is delta * (dp / dzeta)
  of the last two points (at most 10 times the last step), until |zeta| exceeds
  sqrt(qchisq(1 - alphamax, n_par)), a bound is reached (sd 0,
  correlation +-1) or there are ``maxpts`` points; delta defaults to that cutoff / 8.
- The interval comes from ``profile_spline`` (interpolating spline, then its inverse); a zeta
  target outside the profile gives the parameter's bound (0 for an sd, +-1 for a correlation; NA
  for an lmer fixed effect).

The JAX way: each profile point is a conditional minimization (``optimize.minimize``, exact
autodiff Hessian), warm-started from the previous point of its walk. All walks (every parameter,
up and down) advance together: one vmapped call per grid step evaluates the next point of every
walk. Free correlations are optimized as tanh(z) (unconstrained z), the other coordinates raw
(the deviance is even in a scalar term's sd).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import partial, singledispatch
from statistics import NormalDist

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from .. import _jax  # noqa: F401  (float64)
from .. import covariance_layout, covariance_structures, glmm, lmm
from . import dispersion_likelihood
from .dispersion_likelihood import START_CORRELATION_LIMIT
from ..compilation import jit
from ..linear_fitting import fit_linear  # the ML refit (lme4's refitML)
from ..model_kinds import GeneralizedKind, LinearKind
from ..optimize import minimize
from ..variance_parameters import sdcor_from_theta, sig_names, theta_from_sdcor
from .profile_spline import SplineError, back_spline, evaluate_back_spline, linear_inverse
from ..errors import ProfileWarning

CORRELATION_LIMIT = 1.0 - 1e-12  # a correlation fixed at +-1 is evaluated just inside (chol of R)
SD_START_FLOOR = 1e-10  # an sd of 0 starts a conditional minimization at z = 1e-5
MIN_STEP = 1e-6  # lme4's step when the last two points have equal or NA zeta
MAX_MULTIPLE = 10.0  # lme4's maxmult: a step is at most this many times the previous one


# ---- deviance over lme4's parameter vector ------------------------------------------------------------

def _correlation_mask(layout) -> np.ndarray:
    mask = []
    for p, structure in zip(layout.term_columns, layout.term_structures):
        rows, cols = covariance_structures.sdcor_positions(structure, p)
        mask.extend(rows != cols)
    return np.asarray(mask, bool)


def linear_deviance(varpar, problem: lmm.LinearProblem, index, value):
    """ML deviance of an lmer model at (sds/correlations, sigma) = ``varpar``, with beta at its
    conditional estimate, except that beta_j = ``value`` when ``index`` = n_var + j. Returns
    (deviance, beta).

    Given theta, the penalized RSS at beta is r^2 + ||R_X (beta - beta^)||^2; with beta_j fixed
    and the other coefficients at their best, the excess is (value - beta^_j)^2 / V_jj, with
    V = (R_X' R_X)^{-1}, at beta = beta^ + V[:, j] (value - beta^_j) / V_jj (lme4's refit with
    X_j beta_j as an offset)."""
    layout = problem.design.layout
    n_var = layout.n_theta + 1
    sigma = varpar[-1]
    solution = lmm.solve(theta_from_sdcor(varpar[:-1], sigma, layout), problem)
    RX_inv = jax.scipy.linalg.solve_triangular(solution.RXt, jnp.eye(layout.n_fixed), lower=True)
    V = RX_inv.T @ RX_inv
    j = jnp.clip(index - n_var, 0, layout.n_fixed - 1)
    shift = jnp.where(index >= n_var, value - solution.beta[j], 0.0)
    beta = solution.beta + V[:, j] / V[j, j] * shift
    pwrss = solution.components.pwrss + shift ** 2 / V[j, j]
    deviance = (solution.components.ldL2 - problem.log_det_weights
                + problem.n_obs * jnp.log(2.0 * jnp.pi * sigma ** 2) + pwrss / sigma ** 2)
    return jnp.where(jnp.isfinite(deviance), deviance, jnp.inf), beta


def generalized_deviance(params, data: glmm.GLMMData, family, n_agq: int):
    """Laplace (n_agq = 1) or AGQ deviance of a glmer model at (sds/correlations, beta)."""
    layout = data.design.layout
    theta = theta_from_sdcor(params[:layout.n_theta], 1.0, layout)
    beta = params[layout.n_theta:]
    if n_agq == 1:
        value = glmm.laplace_deviance(theta, beta, data, family)
    else:
        value = glmm.agq_deviance(theta, beta, data, family, n_agq)
    return value, jnp.zeros(0)


def _canonical(params, layout, scale):
    """Non-negative sds (the deviance depends on D R D only, so a negative sd is the positive
    one with its correlations negated)."""
    n_theta = layout.n_theta
    theta = covariance_layout.canonical_theta(theta_from_sdcor(params[:n_theta], scale, layout), layout)
    return params.at[:n_theta].set(sdcor_from_theta(theta, scale, layout))


# ---- one grid step of every walk: vmapped conditional minimizations ---------------------------------------

def _point(deviance, correlation, layout, head_size, has_sigma, index, value, z):
    """min of deviance over the optimized coordinates, with coordinate ``index`` = value.

    ``deviance(head, index, value)`` -> (deviance, tail): ``head`` is the leading block of lme4's
    parameter vector that is optimized numerically, ``head_size`` long (lmer: sds/correlations
    and sigma; glmer: all, with sigma after the sds where the family has a dispersion),
    ``tail`` the rest at their closed-form conditional values (lmer: beta). ``correlation``
    marks the correlations (a numpy mask). A fixed head coordinate is held by masking: it stays
    at ``value``, its gradient is 0, and Newton's step leaves it alone. ``z`` holds the
    unconstrained start (correlations as atanh). Returns (deviance, z at the minimum, canonical
    parameters there, optimizer status, whether the fixed correlation changed sign)."""
    positions = jnp.arange(head_size)
    sd = jnp.asarray(_sd_mask(layout, correlation)[:head_size])
    correlation = jnp.asarray(correlation)
    head_correlation = correlation[:head_size]
    fixed = jnp.where(correlation[index], jnp.clip(value, -CORRELATION_LIMIT, CORRELATION_LIMIT), value)

    def head(x):
        params = jnp.where(head_correlation, jnp.tanh(x), jnp.where(sd, x ** 2, x))
        return jnp.where(positions == index, fixed, params)

    result = minimize(lambda x: deviance(head(x), index, value)[0], z[:head_size])
    params_head = head(result.x)
    fun, tail = deviance(params_head, index, value)
    params = jnp.concatenate([params_head, tail])  # a correlation of +-1 held just inside
    scale = params[layout.n_theta] if has_sigma else 1.0
    canonical = _canonical(params, layout, scale)
    if has_sigma:  # the deviance is even in sigma
        canonical = canonical.at[layout.n_theta].set(jnp.abs(scale))
    flipped = correlation[index] & (canonical[index] * value < 0)
    raw = jnp.concatenate([result.x, tail])
    return fun, raw, canonical.at[index].set(value), result.status, flipped


# Points are solved one after another inside one compiled call (lax.map), each with its own
# batched derivative directions: jaxlib 0.10's CPU LAPACK kernels split a large enough batch
# (about 2e5 flops) over XLA's thread pool and block a pool thread waiting for it, which deadlocks
# when as many such calls run at once as the pool has threads (2 on a 2-core machine; seen here
# with vmapped groups of 4 points). Unbatched points stay below that threshold and run inline
# (see ``mixedjax/_src/dense_inverse.py``).
POINT_BATCH = 1


def _map_points(point, index, value, z):
    return jax.lax.map(lambda args: point(*args), (index, value, z), batch_size=POINT_BATCH)


def _parameter_correlations(layout, sigma: bool) -> np.ndarray:
    """The correlations among the profile's parameters (sds/correlations, sigma where ``sigma``,
    then beta)."""
    return np.concatenate([_correlation_mask(layout), np.zeros(int(sigma) + layout.n_fixed, bool)])


@jit
def _linear_points(problem, index, value, z):
    layout = problem.design.layout
    correlation = _parameter_correlations(layout, sigma=True)
    deviance = lambda head, index, value: linear_deviance(head, problem, index, value)
    return _map_points(partial(_point, deviance, correlation, layout, layout.n_theta + 1, True),
                       index, value, z)


@partial(jit, static_argnames=("family", "n_agq"))
def _generalized_points(data, index, value, z, family=None, n_agq=None):
    layout = data.design.layout
    correlation = _parameter_correlations(layout, sigma=False)
    deviance = lambda params, index, value: generalized_deviance(params, data, family, n_agq)
    return _map_points(partial(_point, deviance, correlation, layout, correlation.shape[0], False),
                       index, value, z)


@partial(jit, static_argnames=("family",))
def _dispersion_points(data, index, value, z, family=None):
    layout = data.design.layout
    correlation = _parameter_correlations(layout, sigma=True)
    deviance = lambda params, index, value: (dispersion_likelihood.laplace_deviance(params, data, family),
                                             jnp.zeros(0))
    return _map_points(partial(_point, deviance, correlation, layout, correlation.shape[0], True),
                       index, value, z)


# ---- what the walks start from ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProfileSetup:
    """The optimum the profile is centred on, and each parameter's bounds and first step."""

    names: list[str]
    estimate: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    first: np.ndarray      # the first profile point beyond the estimate
    correlation: np.ndarray
    base: float            # deviance at the estimate
    deviance: str          # "ML" or the glmer approximation
    evaluate: object       # (index, value, z) -> batched point results
    missing_end: tuple     # (lower, upper) interval ends used where the profile stops short
    sd: np.ndarray         # the random-effects sds (optimized as z^2)


def _bounds(layout, n_fixed: int, has_sigma: bool):
    correlation = _correlation_mask(layout)
    lower = np.where(correlation, -1.0, 0.0)
    upper = np.where(correlation, 1.0, np.inf)
    if has_sigma:
        lower, upper = np.append(lower, 0.0), np.append(upper, np.inf)
    return (np.concatenate([lower, np.full(n_fixed, -np.inf)]),
            np.concatenate([upper, np.full(n_fixed, np.inf)]))


def _shifted(estimate: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """lme4's first profile point, p * 1.01 (0.001 at p = 0), or p * 0.99 where that would leave
    the bounds (a correlation of +-1 at a singular fit: the first step goes inside)."""
    first = np.where(estimate == 0, 0.001, estimate * 1.01)
    return np.where((first > upper) | (first < lower), estimate * 0.99, first)


def _inside(estimate: np.ndarray, correlation: np.ndarray) -> np.ndarray:
    """The estimate with correlations of +-1 moved just inside, where the profile's points are
    evaluated (the Cholesky factor of a correlation matrix with a +-1 is singular)."""
    return np.where(correlation, np.clip(estimate, -CORRELATION_LIMIT, CORRELATION_LIMIT), estimate)


def _linear_setup(fit, delta: float | None, alphamax: float) -> ProfileSetup:
    spec, layout = fit.spec, fit.spec.design.layout
    if fit.kind.reml:
        problem, result, theta, solution = fit_linear(
            spec.design, spec.frame.weights, fit.y - spec.offset, jnp.asarray(fit.theta_values),
            False, fit.optimizer_max_iterations)
    else:
        problem, theta = fit.problem, jnp.asarray(fit.theta_values)
        solution = lmm.solve(theta, problem)
    sigma = float(jnp.sqrt(solution.components.pwrss / problem.n_obs))
    estimate = np.concatenate([np.asarray(sdcor_from_theta(theta, sigma, layout)), [sigma],
                               np.asarray(solution.beta)])
    RX_inv = np.linalg.inv(np.asarray(solution.RXt))
    se = sigma * np.sqrt(np.sum(RX_inv ** 2, axis=0))
    names = sig_names(layout, True) + list(fit.fixef.index)
    lower, upper = _bounds(layout, layout.n_fixed, True)
    n_var = layout.n_theta + 1
    delta = _default_delta(len(estimate), alphamax) if delta is None else delta
    first = _shifted(estimate, lower, upper)
    first[n_var:] = estimate[n_var:] + delta * se
    correlation = _parameter_correlations(layout, sigma=True)
    base = float(linear_deviance(jnp.asarray(_inside(estimate, correlation)[:n_var]), problem, 0, estimate[0])[0])
    return ProfileSetup(names, estimate, lower, upper, first, correlation,
                        base, "ML", partial(_linear_points, problem),
                        # lme4 gives an lmer fixed effect no bound: NA
                        (np.where(np.isfinite(lower), lower, np.nan), np.where(np.isfinite(upper), upper, np.nan)),
                        _sd_mask(layout, correlation))


@singledispatch
def _setup(kind, fit, delta: float | None, alphamax: float) -> ProfileSetup:
    """The profile's parameters, estimates, bounds and deviance function for the fit's kind."""
    raise TypeError(f"profile(): no likelihood profile for a {type(kind).__name__} model")


@_setup.register
def _(kind: LinearKind, fit, delta: float | None, alphamax: float) -> ProfileSetup:
    return _linear_setup(fit, delta, alphamax)


@_setup.register
def _(kind: GeneralizedKind, fit, delta: float | None, alphamax: float) -> ProfileSetup:
    return _generalized_setup(fit)


def _generalized_setup(fit) -> ProfileSetup:
    layout = fit.spec.design.layout
    if fit.kind.n_agq == 0:
        raise ValueError("confint(method='profile') / profile(): a glmer fit with nAGQ=0 has no "
                         "likelihood of the fixed effects to profile (lme4 fails here too); refit "
                         "with nAGQ=1 (or more), or use method='Wald'")
    if fit.kind.family.has_dispersion:
        return _dispersion_setup(fit)
    theta = jnp.asarray(fit.theta_values)
    estimate = np.concatenate([np.asarray(sdcor_from_theta(theta, 1.0, layout)), fit.beta])
    names = sig_names(layout, False) + list(fit.fixef.index)
    lower, upper = _bounds(layout, layout.n_fixed, False)
    family, n_agq = fit.kind.family, fit.kind.n_agq
    evaluate = partial(_generalized_points, fit.problem, family=family, n_agq=n_agq)
    correlation = _parameter_correlations(layout, sigma=False)
    base = float(generalized_deviance(jnp.asarray(_inside(estimate, correlation)), fit.problem, family, n_agq)[0])
    return ProfileSetup(names, estimate, lower, upper, _shifted(estimate, lower, upper), correlation,
                        base, "Laplace" if n_agq == 1 else f"AGQ({n_agq})", evaluate,
                        (lower, upper), _sd_mask(layout, correlation))


def _dispersion_setup(fit) -> ProfileSetup:
    """Gamma, inverse.gaussian, gaussian(link): the Laplace likelihood with the dispersion as a
    parameter (``dispersion_likelihood``), centred at its maximum, which is near but not at
    glmer's estimates (lme4's objective is not a likelihood in sigma)."""
    layout = fit.spec.design.layout
    family, n_agq = fit.kind.family, fit.kind.n_agq
    if n_agq != 1:
        raise ValueError(f"profile(): a {family.name} glmer fit is profiled on the Laplace "
                         f"likelihood with the dispersion as a parameter, not AGQ (nAGQ={n_agq}); "
                         "refit with nAGQ=1, or use method='boot'")
    correlation = _parameter_correlations(layout, sigma=True)
    optimum = dispersion_likelihood.laplace_fit(fit, correlation)
    estimate = np.asarray(optimum.params)
    if not (np.isfinite(float(optimum.deviance)) and int(optimum.status) in (0, 2)):
        raise FloatingPointError(
            f"profile(): the Laplace likelihood of this {family.name} model could not be "
            f"maximized from the fit's estimates (status {int(optimum.status)}, -2 log L "
            f"{float(optimum.deviance):g}); use method='boot'")
    names = sig_names(layout, True) + list(fit.fixef.index)
    lower, upper = _bounds(layout, layout.n_fixed, True)
    evaluate = partial(_dispersion_points, fit.problem, family=family)
    return ProfileSetup(names, estimate, lower, upper, _shifted(estimate, lower, upper), correlation,
                        float(optimum.deviance), "Laplace (dispersion as a parameter)", evaluate,
                        (lower, upper), _sd_mask(layout, correlation))


def chi_square_quantile(probability: float, df: int) -> float:
    """qchisq(probability, df) by bisection on the regularized incomplete gamma function."""
    low, high = 0.0, max(1.0, 2.0 * df)
    cdf = lambda x: float(jax.scipy.special.gammainc(df / 2.0, x / 2.0))
    while cdf(high) < probability:
        high *= 2.0
    for _ in range(200):
        middle = 0.5 * (low + high)
        low, high = (middle, high) if cdf(middle) < probability else (low, middle)
    return 0.5 * (low + high)


def _default_delta(n_par: int, alphamax: float) -> float:
    return math.sqrt(chi_square_quantile(1.0 - alphamax, n_par)) / 8.0


# ---- the walks ----------------------------------------------------------------------------------------------

def _next_value(rows, lower: float, upper: float, delta: float) -> tuple[float, str | None]:
    """lme4's nextpar: step delta * dp/dzeta from the last point, in the direction of travel."""
    (p0, z0), (p1, z1) = (rows[-2][0], rows[-2][1]), (rows[-1][0], rows[-1][1])
    num, denom = p1 - p0, z1 - z0
    message = None
    if not np.isfinite(denom) or denom == 0:
        step, message = MIN_STEP, "last two profile points have equal or NA zeta: using the minimum step"
    else:
        step = delta * num / denom
        if step < 0:
            step, message = MIN_STEP, "unexpected decrease in the profile: using the minimum step"
        elif abs(step) > MAX_MULTIPLE * abs(num):
            step = MAX_MULTIPLE * abs(num)
    return float(min(upper, max(lower, p1 + np.sign(num) * step))), message


def _keep_walking(rows, lower: float, upper: float, cutoff: float, maxpts: int) -> bool:
    value, zeta = rows[-1][0], rows[-1][1]
    return (len(rows) < maxpts and lower < value < upper
            and (not np.isfinite(zeta) or abs(zeta) <= cutoff))


def _sd_mask(layout, correlation) -> np.ndarray:
    """The random-effects sds among the profile's parameters (the first n_theta, less the
    correlations)."""
    return (np.arange(len(correlation)) < layout.n_theta) & ~np.asarray(correlation)


def _to_z(params: np.ndarray, correlation: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """The unconstrained coordinates of ``params``: atanh of a correlation, sqrt of an sd. Both
    start off their bounds, where the gradient in z vanishes (so a point can leave a singular
    estimate: tanh saturates, its derivative at atanh(1 - 1e-12) is 2e-12, below the optimizer's
    tolerance, and a correlation started there never moves)."""
    z = np.where(sd, np.sqrt(np.maximum(np.abs(params), SD_START_FLOOR)), params)
    rho = np.clip(params, -START_CORRELATION_LIMIT, START_CORRELATION_LIMIT)
    return np.where(correlation, np.arctanh(rho), z)


class _Walks:
    """Every parameter's profile walks (up, and down unless at a lower bound), advanced together."""

    def __init__(self, setup: ProfileSetup, which: list[int], cutoff: float, delta: float,
                 maxpts: int):
        self.setup, self.which, self.cutoff, self.delta, self.maxpts = setup, which, cutoff, delta, maxpts
        self.width = 2 * len(which)  # one compiled batch size for every step
        self.messages: list[str] = []
        self.lower_deviance = 0.0

    def _evaluate(self, jobs):
        """jobs: (parameter index, value, start z); returns [(zeta, params, z, ok), ...]."""
        setup = self.setup
        pad = self.width - len(jobs)
        z_opt = _to_z(setup.estimate, setup.correlation, setup.sd)
        index = np.array([j[0] for j in jobs] + [0] * pad)
        value = np.array([j[1] for j in jobs] + [setup.estimate[0]] * pad)
        z = np.stack([j[2] for j in jobs] + [z_opt] * pad)
        fun, raw, params, status, flipped = (np.asarray(a) for a in setup.evaluate(
            jnp.asarray(index), jnp.asarray(value), jnp.asarray(z)))
        out = []
        for k, (w, v, _) in enumerate(jobs):
            ok = np.isfinite(fun[k]) and status[k] in (0, 2) and not flipped[k]
            difference = fun[k] - setup.base
            if not ok:
                self.messages.append(f"NAs detected in profiling {setup.names[w]} at {v:.6g}")
                zeta = np.nan
            else:
                self.lower_deviance = min(self.lower_deviance, difference)
                zeta = np.sign(v - setup.estimate[w]) * math.sqrt(max(difference, 0.0))
            out.append((v, zeta, params[k], _to_z(params[k], setup.correlation, setup.sd)
                        if ok else np.asarray(z[k])))
        return out

    def run(self) -> dict[int, list[tuple]]:
        setup = self.setup
        z_opt = _to_z(setup.estimate, setup.correlation, setup.sd)
        centre = lambda w: (setup.estimate[w], 0.0, setup.estimate, z_opt)
        firsts = self._evaluate([(w, setup.first[w], z_opt) for w in self.which])
        walks = {}
        for w, first in zip(self.which, firsts):
            # away from the estimate through the first point, then the other way where there is room
            ahead = "up" if first[0] > setup.estimate[w] else "down"
            walks[(w, ahead)] = [centre(w), first]
            room = setup.estimate[w] > setup.lower[w] if ahead == "up" else setup.estimate[w] < setup.upper[w]
            if room:
                walks[(w, "down" if ahead == "up" else "up")] = [first, centre(w)]
        while True:
            active = [key for key, rows in walks.items()
                      if _keep_walking(rows, setup.lower[key[0]], setup.upper[key[0]], self.cutoff,
                                       self.maxpts)]
            if not active:
                break
            jobs = []
            for w, direction in active:
                rows = walks[(w, direction)]
                value, message = _next_value(rows, setup.lower[w], setup.upper[w], self.delta)
                if message:
                    self.messages.append(f"{setup.names[w]}: {message}")
                jobs.append((w, value, rows[-1][3]))
            for key, row in zip(active, self._evaluate(jobs)):
                walks[key].append(row)
        points = {}
        for w in self.which:
            rows = walks.get((w, "up"), []) + walks.get((w, "down"), [])
            unique = {}
            for row in rows:
                unique.setdefault((row[0], row[1] if np.isfinite(row[1]) else None), row)
            points[w] = sorted(unique.values(), key=lambda row: row[0])
        return points


# ---- the result ---------------------------------------------------------------------------------------------

class Profile:
    """A likelihood profile (lme4's ``thpr``): ``table`` has one row per profile point with
    ``parameter`` (lme4's name), ``value`` (sd scale), ``zeta``, then every parameter's value at
    that point (the conditional optimum of the others)."""

    def __init__(self, table: pd.DataFrame, estimate: pd.Series, lower: pd.Series, upper: pd.Series,
                 base_deviance: float, deviance: str):
        self.table, self.estimate = table, estimate
        self.lower, self.upper = lower, upper
        self.base_deviance, self.deviance = base_deviance, deviance

    @property
    def parameters(self) -> list[str]:
        return list(dict.fromkeys(self.table["parameter"]))

    def confint(self, level: float = 0.95) -> pd.DataFrame:
        """Profile intervals: where the back spline of zeta reaches -+qnorm(1 - (1 - level) / 2)
        (lme4's confint of a profile). A missing end is the parameter's bound (with a warning)."""
        if not 0 < level < 1:
            raise ValueError(f"level must be between 0 and 1, got {level}")
        tail = (1 - level) / 2
        targets = np.array([NormalDist().inv_cdf(tail), NormalDist().inv_cdf(1 - tail)])
        rows = {}
        for name in self.parameters:
            points = self.table[self.table["parameter"] == name]
            interval = _invert(name, points["value"].to_numpy(), points["zeta"].to_numpy(), targets)
            bounds = (self.lower[name], self.upper[name])
            for side in (0, 1):
                if np.isnan(interval[side]) and not np.all(np.isnan(points["zeta"])):
                    interval[side] = bounds[side]
                    warnings.warn(f"the profile of {name} does not reach zeta = {targets[side]:.4g} "
                                  f"(the parameter's bound, or the profile ended): "
                                  f"using {bounds[side]:g} as the interval end", ProfileWarning,
                                  stacklevel=2)
            rows[name] = interval
        columns = [_percent(tail), _percent(1 - tail)]
        return pd.DataFrame.from_dict(rows, orient="index", columns=columns)

    def plot(self, ax=None):
        """zeta against each parameter (``mixedjax.plots.plot_profile``)."""
        from ..plots import plot_profile
        return plot_profile(self, ax=ax)

    def __repr__(self) -> str:
        return (f"<Profile of {len(self.parameters)} parameters, {len(self.table)} points, "
                f"{self.deviance} deviance {self.base_deviance:.4f} at the estimate>")


def _percent(probability: float) -> str:
    """R's format.perc(p, 3): e.g. '2.5 %', '97.5 %'."""
    return f"{100 * probability:.3g} %"


def _invert(name: str, value: np.ndarray, zeta: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """lme4's confint.thpr for one parameter: the back spline, else (with a warning) linear
    interpolation, else NA for a profile that is all NA or decreasing."""
    keep = np.isfinite(zeta)
    try:
        knots, coef = back_spline(value[keep], zeta[keep])
        return evaluate_back_spline(knots, coef, targets)
    except SplineError:
        pass
    if not np.any(keep):
        warnings.warn(f"bad profile for {name}: every point is NA", ProfileWarning, stacklevel=3)
        return np.full(2, np.nan)
    steps = np.diff(zeta)
    if np.all(steps[np.isfinite(steps)] < -0.01):
        warnings.warn(f"non-monotonic profile for {name}", ProfileWarning, stacklevel=3)
        return np.full(2, np.nan)
    warnings.warn(f"bad spline fit for {name}: falling back to linear interpolation",
                  ProfileWarning, stacklevel=3)
    return linear_inverse(value, zeta, targets)


def _select(which, names: list[str], n_var: int) -> list[int]:
    """lme4's ``which``: None (all), names, "theta_" (all covariance parameters and sigma),
    "beta_" (all fixed effects), or 0-based positions."""
    if which is None:
        return list(range(len(names)))
    items = [which] if isinstance(which, (str, int, np.integer)) else list(which)
    chosen = set()
    for item in items:
        if isinstance(item, (int, np.integer)):
            if not 0 <= item < len(names):
                raise ValueError(f"which: position {item} is out of range (0..{len(names) - 1})")
            chosen.add(int(item))
        elif item == "theta_":
            chosen.update(range(n_var))
        elif item == "beta_":
            chosen.update(range(n_var, len(names)))
        elif item in names:
            chosen.add(names.index(item))
        else:
            raise ValueError(f"which: unknown parameter {item!r}; the parameters are "
                             f"{', '.join(names)} (or 'theta_' / 'beta_')")
    return sorted(chosen)


def profile(fit, which=None, alphamax: float = 0.01, maxpts: int = 100,
            delta: float | None = None) -> Profile:
    """Profile the deviance over each parameter in ``which`` (lme4's ``profile(fit)``)."""
    if not 0 < alphamax < 1:
        raise ValueError(f"alphamax must be between 0 and 1, got {alphamax}")
    if int(maxpts) < 3:
        raise ValueError(f"maxpts must be at least 3, got {maxpts}")
    if delta is not None and not delta > 0:
        raise ValueError(f"delta must be positive, got {delta}")
    narrow = [str(t.bar) for t in fit.spec.terms if t.structure == "cs" and t.n_columns > 2]
    if narrow:  # the walk's correlation scale, atanh, spans (-1, 1); rho of cs is above -1/(p-1)
        raise ValueError(f"profile(): the correlation of {', '.join(narrow)} is bounded below by "
                         "-1/(p - 1), which the profile's correlation scale does not follow; use "
                         "confint(method='boot') or method='Wald'")
    setup = _setup(fit.kind, fit, delta, alphamax)
    n_par = len(setup.names)
    n_var = n_par - fit.spec.design.layout.n_fixed
    selected = _select(which, setup.names, n_var)
    cutoff = math.sqrt(chi_square_quantile(1.0 - alphamax, n_par))
    delta = cutoff / 8.0 if delta is None else delta
    walks = _Walks(setup, selected, cutoff, delta, int(maxpts))
    points = walks.run()
    for message in dict.fromkeys(walks.messages):
        warnings.warn(message, ProfileWarning, stacklevel=3)
    if walks.lower_deviance < -1e-6:
        warnings.warn(f"profiling found a deviance {-walks.lower_deviance:.3g} below the fit's: "
                      "the fit is not at the optimum (zeta clamped at 0 there)", ProfileWarning,
                      stacklevel=3)
    records = []
    for w in selected:
        for value, zeta, params, _ in points[w]:
            records.append([setup.names[w], value, zeta, *params])
    table = pd.DataFrame(records, columns=["parameter", "value", "zeta", *setup.names])
    series = lambda values: pd.Series(values, index=setup.names)
    return Profile(table, series(setup.estimate), series(setup.missing_end[0]),
                   series(setup.missing_end[1]), setup.base, setup.deviance)


def zeta_at(fit, parameter: str, values) -> pd.DataFrame:
    """The profile of ``parameter`` at the given values (one vmapped batch of conditional
    minimizations from the estimate): columns value, zeta, then every parameter there."""
    setup = _setup(fit.kind, fit, None, 0.01)
    if parameter not in setup.names:
        raise ValueError(f"parameter: unknown {parameter!r}; the parameters are {', '.join(setup.names)}")
    w = setup.names.index(parameter)
    values = np.atleast_1d(np.asarray(values, float))
    walks = _Walks(setup, [w], cutoff=np.inf, delta=0.0, maxpts=0)
    walks.width = max(len(values), 2 * len(setup.names))  # a full profile's width: no new compile
    z_opt = _to_z(setup.estimate, setup.correlation, setup.sd)
    rows = walks._evaluate([(w, v, z_opt) for v in values])
    for message in dict.fromkeys(walks.messages):
        warnings.warn(message, ProfileWarning, stacklevel=2)
    return pd.DataFrame([[v, zeta, *params] for v, zeta, params, _ in rows],
                        columns=["value", "zeta", *setup.names])


def profile_confint(fit, level: float = 0.95, which=None, **options) -> pd.DataFrame:
    """lme4's ``confint(fit)``: profile, then the intervals at ``level``."""
    return profile(fit, which=which, **options).confint(level)
