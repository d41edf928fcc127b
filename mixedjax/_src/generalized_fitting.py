"""Fitting a generalized linear mixed model: the response and starting means from the model
specification, the GLMM's arrays, and the two-stage optimization. Pure functions over the model's
arrays; the fitted-model object (``generalized_model.GeneralizedLinearMixedModel``) is built from
what they return.

Two stages, as lme4's defaults: (1) nAGQ = 0, theta optimized with beta estimated inside PIRLS;
(2) from there, (theta, beta) optimized on the Laplace or AGQ objective. Stage 1 runs on its
value alone (differenced gradients, BFGS-updated Hessian); stage 2 is Newton's method on exact
autodiff derivatives through two Newton steps from the conditional mode (``glmm.mode_near``).
A single fit runs the host Newton loop over small compiled programs (with one scalar term, any
family, a single level-wise program: ``scalar_term``); batches run the compiled loop under vmap
(docs/DESIGN.md sections 6-7), where one scalar-term refits (any family) take the level-wise
mode and closed-form derivatives of ``scalar_term`` (the same optimum).
"""
from __future__ import annotations

import re
from functools import cache, partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from . import _jax  # noqa: F401  (float64)
from .compilation import jit
from ._jax import is_traced, to_host
from . import covariance_layout, glmm, lmm, scalar_term
from .design import build_design
from .families import Family, family_call
from .fit_record import FitRecord, is_singular
from .formula import FormulaError, _split_top_level
from .frame import DataError
from .model import ModelSpec
from .optimize import (Memo, OptimizeResult, minimize, minimize_at_trials, minimize_host, packed, unpacked,
                       value_grad_hess)
from .terms import evaluate_expression
from .variance_parameters import term_factors


def _binomial_response(spec: ModelSpec, prior_weights: np.ndarray):
    """(proportions, trials x prior weights) from cbind(s, f), a 0/1 or two-level response."""
    response = spec.formula.response
    frame = spec.frame.data
    match = re.fullmatch(r"cbind\s*\((.*)\)", response.strip(), flags=re.S)
    if match:
        parts = _split_top_level(match.group(1), ",")
        if len(parts) != 2:
            raise FormulaError(f"cbind() in {response!r} needs two arguments: successes, failures")
        successes = evaluate_expression(parts[0], frame, "successes")
        failures = evaluate_expression(parts[1], frame, "failures")
        if (successes < 0).any() or (failures < 0).any():
            raise DataError(f"cbind(successes, failures): {int(np.sum((successes < 0) | (failures < 0)))} "
                            "rows have negative counts")
        trials = successes + failures
        y = np.where(trials > 0, successes / np.where(trials > 0, trials, 1.0), 0.0)
        return y, prior_weights * trials
    if response in frame.columns:
        column = frame[response]
        if isinstance(column.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(column) \
                or pd.api.types.is_bool_dtype(column):
            if pd.api.types.is_bool_dtype(column):
                return column.to_numpy(dtype=float), prior_weights
            codes = pd.Categorical(column)
            if len(codes.categories) != 2:
                raise DataError(f"binomial response {response!r} has {len(codes.categories)} levels; "
                                "a factor response needs exactly 2 (the first is failure)")
            return (codes.codes == 1).astype(float), prior_weights
    return evaluate_expression(response, frame, "response"), prior_weights


def _response(spec: ModelSpec, family: Family):
    weights = spec.frame.weights.astype(float)
    if family.name == "binomial":
        y, weights = _binomial_response(spec, weights)
    else:
        y = evaluate_expression(spec.formula.response, spec.frame.data, "response")
    if not np.isfinite(y).all():
        raise DataError(f"response {spec.formula.response!r} has non-finite values")
    family.validate(y, weights)
    return y, weights


def starting_means(spec: ModelSpec, data: pd.DataFrame, family: Family, y, weights, mustart=None,
                   etastart=None) -> np.ndarray:
    """The means the first (nAGQ = 0) PIRLS iteration starts from: lme4's ``mustart=`` or
    ``etastart=`` (a column of ``data`` or one value per row of it; etastart on the link scale),
    else the family's (R's ``family$initialize``), which for gaussian with a log or inverse
    link needs responses where the link is finite."""
    from .frame import _vector_argument
    if mustart is not None and etastart is not None:
        raise ValueError("give mustart= or etastart=, not both")
    given = mustart if mustart is not None else etastart
    role = "mustart" if mustart is not None else "etastart"
    if given is None:
        mu = np.asarray(family.mustart(y, weights), float)
        outside = int(np.sum(~family.link.valid_mean(mu)))
        if outside:
            raise DataError(f"cannot find valid starting values for {family}: {outside} responses "
                            "are outside the link's domain; please specify some with mustart= "
                            "(starting means) or etastart= (starting linear predictors)")
        return mu
    values, _ = _vector_argument(given, data, role)
    values = values[spec.frame.kept]
    if not np.all(np.isfinite(values)):
        raise DataError(f"{role}= has {int(np.sum(~np.isfinite(values)))} non-finite values in "
                        "the rows the model uses")
    mu = np.asarray(family_call(family, "linkinv", values)) if role == "etastart" else values
    bad = ~family.link.valid_mean(mu)
    if family.name == "binomial":
        bad |= (mu <= 0) | (mu >= 1)
    if bad.any():
        raise DataError(f"{role}= gives {int(bad.sum())} starting means outside the domain of "
                        f"{family} (e.g. {mu[bad][0]!r})")
    return mu


def glmm_data(spec: ModelSpec, y, weights, family: Family, mustart=None) -> glmm.GLMMData:
    """The GLMM's arrays on the model's own design (``mustart``: the family's by default)."""
    design_re = build_design(np.zeros((spec.n_obs, 0)), list(spec.terms))
    return glmm.GLMMData(spec.design, design_re, spec.fixed.X, tuple(t.codes for t in spec.terms),
                         tuple(t.X for t in spec.terms), y, weights, spec.offset,
                         family.mustart(y, weights) if mustart is None else mustart)


def fit_glmm_data(spec: ModelSpec, y, weights, family: Family, mustart=None) -> glmm.GLMMData:
    """The GLMM's arrays on the fit design (``ModelSpec.fit_design``): padded rows have weight 0,
    zero model-matrix rows, a response valid for the family and an offset at its link (so that
    their mean is finite for every link), and add nothing."""
    if not spec.padded:
        return glmm_data(spec, y, weights, family, mustart)
    mustart = family.mustart(y, weights) if mustart is None else mustart
    y, weights = spec.fit_rows(y, family.padding_response), spec.fit_rows(weights, 0.0)
    extra = spec.fit_design.layout.n_obs - spec.n_obs
    codes = tuple(np.concatenate([t.codes, np.zeros(extra, t.codes.dtype)]) for t in spec.terms)
    # a padded row's linear predictor is its offset: the link of its response, so mu = y there
    offset = spec.fit_rows(spec.offset, _padding_offset(family))
    return glmm.GLMMData(spec.fit_design, spec.fit_design_re, spec.fit_rows(spec.fixed.X), codes,
                         tuple(spec.fit_rows(t.X) for t in spec.terms), y, weights, offset,
                         spec.fit_rows(mustart, family.padding_response))


@cache
def _padding_offset(family: Family) -> float:
    """g(padding response), the offset of zero-weight padding rows, on the host (as an eager JAX
    operation it was a program that each first fit of a family compiled)."""
    return float(family.link.linkfun(np.float64(family.padding_response), np))


class GeneralizedFit(NamedTuple):
    """What a single glmer fit produced (``fit_model``)."""

    stage1: OptimizeResult       # nAGQ = 0's record (stage 2's where stage 1 was skipped)
    optimizer: OptimizeResult    # the final stage's record
    hessian: np.ndarray          # of the final objective at the optimum
    pieces: glmm.LaplacePieces   # at the optimum, on the model's own levels and rows
    covariance: glmm.BetaCovariance
    record: FitRecord


def fit_model(spec: ModelSpec, y, weights, family: Family, theta0, n_agq: int,
              max_iterations: int = 100, start=None, mustart=None) -> GeneralizedFit:
    """``fit_generalized`` on the fit design, with the conditional modes and fitted means
    returned on the model's own levels and rows, and the fit's record."""
    data = fit_glmm_data(spec, y, weights, family, mustart)
    _prefetch_programs(data, family, n_agq)
    stage1, final, theta, beta, hessian, pieces = fit_generalized(data, theta0, family, n_agq,
                                                                  max_iterations, start)
    # on the fit data: the padded shapes share this program with every nearby size
    sigma, covariance = _sigma_and_covariance(theta, beta, hessian, pieces, data, family,
                                              np.float64(spec.n_obs), n_agq > 0)
    if spec.padded:
        pieces = pieces._replace(u=spec.unpad_random(pieces.u), mu=np.asarray(pieces.mu)[:spec.n_obs])
    covariance = to_host(covariance)
    return GeneralizedFit(stage1, final, np.asarray(hessian), pieces, covariance,
                          fit_record(spec, final, theta, beta, float(sigma), covariance.matrix))


def fit_record(spec: ModelSpec, final: OptimizeResult, theta, beta, sigma: float, vcov) -> FitRecord:
    """A single fit's record, on the host: the criterion is the final objective (Laplace, AGQ or
    nAGQ = 0 deviance), the SEs those of ``glmm.beta_covariance``'s vcov(beta)."""
    theta = np.asarray(theta)
    return FitRecord(theta, np.asarray(beta), np.sqrt(np.diag(np.asarray(vcov))), sigma,
                     float(final.fun), int(final.iterations), int(final.status),
                     bool(is_singular(term_factors(theta, spec), np)))


def _prefetch_programs(data: glmm.GLMMData, family: Family, n_agq: int) -> None:
    """Compile the programs a fit calls after its first one in the background, while the first
    compiles and runs (a first fit's wall time falls by what the cores can overlap)."""
    layout = data.design.layout
    n_theta, p, q, n = layout.n_theta, data.X.shape[1], layout.n_random, data.y.shape[0]
    f64 = lambda *shape: jax.ShapeDtypeStruct(shape, np.float64)
    n_x = n_theta + (p if n_agq > 0 else 0)
    if scalar_term.one_scalar_term(layout, n_agq):
        _scalar_term_evaluation.prefetch(f64(n_x), data, family)
    elif n_agq > 0:
        _stage2_value.prefetch(f64(n_x), data, family, n_agq)
        _stage2_derivatives.prefetch(f64(n_x), f64(q), data, family, n_agq)
    pieces = glmm.LaplacePieces(f64(q), f64(p), f64(n), f64(), f64(), f64(), f64())
    _sigma_and_hessian_covariance.prefetch(f64(n_x, n_x), pieces, data, family, f64())
    if n_agq == 0:  # R_X's covariance is the estimate (else only the Hessian's fallback)
        _rx_covariance.prefetch(f64(n_theta), f64(p), f64(q), data, family, f64())


def _sigma_and_covariance(theta, beta, hessian, pieces, data: glmm.GLMMData, family: Family, n_obs,
                          use_hessian: bool):
    """(sigma, vcov(beta)) at the optimum, as ``glmm.dispersion_sigma`` and ``glmm.beta_covariance``
    give them to batch replicates, with R_X's covariance (a program of the size of an lmer fit's)
    compiled and computed only where the Hessian's is not usable (``use_hessian`` False: nAGQ = 0;
    a Hessian not positive definite)."""
    sigma, hessian_covariance, usable = _sigma_and_hessian_covariance(hessian, pieces, data, family, n_obs)
    if use_hessian and bool(usable):
        return sigma, glmm.BetaCovariance(hessian_covariance, np.asarray(False))
    rx = _rx_covariance(theta, beta, pieces.u, data, family, np.asarray(sigma) ** 2)
    return sigma, glmm.BetaCovariance(rx, np.asarray(True))


@partial(jit, static_argnames="family")
def _sigma_and_hessian_covariance(hessian, pieces, data: glmm.GLMMData, family: Family, n_obs):
    sigma = glmm.dispersion_sigma(pieces, data, family, n_obs)
    return (sigma, *glmm.hessian_covariance(hessian, data.design.layout.n_theta))


def fit_generalized(data: glmm.GLMMData, theta0, family: Family, n_agq: int, max_iterations: int = 100,
                    start=None):
    """Stage 1 (nAGQ = 0) then, unless n_agq == 0, stage 2 on the Laplace (1) or AGQ (> 1) objective.
    Returns (stage-1 record, final record, theta, beta, Hessian at the optimum, pieces there).

    ``start`` (theta and beta concatenated) skips stage 1 and starts stage 2 there, as lme4's
    ``refit`` starts from the previous estimates (the stage-1 record is then stage 2's).

    With concrete arrays (a single fit) Newton's iteration runs on the host over a few compiled
    functions per model structure and family (``_fit_generalized_host``); traced (vmap: batches) it is one
    pure function with the loops compiled in (``_fit_generalized``)."""
    args = (data, theta0, start)
    if is_traced(args):
        return _fit_generalized(data, theta0, family, n_agq, max_iterations, start)
    return _fit_generalized_host(data, theta0, family, n_agq, max_iterations, start)


def _stage2_objective_at(u, x, data: glmm.GLMMData, family: Family, n_agq: int):
    """The Laplace (n_agq = 1) or AGQ objective at x = [theta, beta] with the conditional mode u."""
    n_theta = data.design.layout.n_theta
    theta, beta = x[:n_theta], x[n_theta:]
    if n_agq == 1:
        return glmm.laplace_value(glmm.laplace_pieces_at(u, theta, beta, data, family, False))
    return glmm.agq_deviance_at(u, theta, beta, data, family, n_agq)


def _stage2_value_at(x, data: glmm.GLMMData, family: Family, n_agq: int):
    """(objective, Laplace pieces) at x, the mode by PIRLS finished with Newton steps."""
    n_theta = data.design.layout.n_theta
    theta, beta = x[:n_theta], x[n_theta:]
    u = glmm.polished_mode(theta, beta, data, family, False)
    return (_stage2_objective_at(u, x, data, family, n_agq),
            glmm.laplace_pieces_at(u, theta, beta, data, family, False))


def _derivatives_near(x, v, data: glmm.GLMMData, family: Family, n_agq: int, joint: bool):
    """(f, g, H) at x (theta when ``joint``, for nAGQ = 0; else [theta, beta]) from the mode v
    there: autodiff through two Newton steps from v, which carry the mode's exact first and
    second derivatives (``glmm.newton_step``); no loop is traced."""
    n_theta = data.design.layout.n_theta

    def objective(x):
        theta, beta = (x, None) if joint else (x[:n_theta], x[n_theta:])
        mode = glmm.mode_near(v, theta, beta, data, family, joint, steps=2)
        if joint:
            return glmm.laplace_value(glmm.laplace_pieces_at(mode, theta, None, data, family, True))
        return _stage2_objective_at(mode, x, data, family, n_agq)
    return value_grad_hess(objective)(x)


@partial(jit, static_argnames=("family", "n_agq"))
def _stage2_derivatives(x, u, data: glmm.GLMMData, family: Family, n_agq: int):
    """``_derivatives_near`` for stage 2, packed in one vector (one transfer per evaluation)."""
    return packed(*_derivatives_near(x, u, data, family, n_agq, joint=False))


_stage2_value = jit(_stage2_value_at, static_argnames=("family", "n_agq"))


@partial(jit, static_argnames=("family", "n_agq"))
def _objective(x, data: glmm.GLMMData, family: Family, n_agq: int):
    n_theta = data.design.layout.n_theta
    if n_agq == 0:
        return glmm.laplace_deviance(x, None, data, family, True)
    if n_agq == 1:
        return glmm.laplace_deviance(x[:n_theta], x[n_theta:], data, family)
    return glmm.agq_deviance(x[:n_theta], x[n_theta:], data, family, n_agq)


def deviance_function(data: glmm.GLMMData, family: Family, n_agq: int):
    """x -> the nAGQ = 0 objective of theta (x = theta), the Laplace (n_agq = 1) or AGQ objective
    of x = [theta, beta]: lme4's devFunOnly, jitted and differentiable, one compiled program per
    model structure and family (kept in the program store), the data an argument."""
    return partial(_objective, data=data, family=family, n_agq=n_agq)


_rx_covariance = jit(glmm.rx_covariance, static_argnames="family")


@partial(jit, static_argnames="family")
def _scalar_term_evaluation(x, data: glmm.GLMMData, family: Family):
    """([f, g, vec(H)], Laplace pieces) at x = [theta, beta] for one scalar term (``scalar_term``:
    the mode level by level, exact derivatives in closed form): the one program of a single
    fit's stage 2, values at trial points included. It replaces two programs of the general path
    (the value through PIRLS on the structured system; the derivatives by autodiff through two
    structured Newton steps), which a first fit waited for, to the same optimum."""
    n_theta = data.design.layout.n_theta
    theta, beta = x[:n_theta], x[n_theta:]
    level = scalar_term.level_constants(data, family)
    u = scalar_term.conditional_mode(theta, beta, data, family, level)[0]
    derivatives = scalar_term.laplace_derivatives(u, theta, beta, data, family, level)
    return packed(*derivatives), scalar_term.laplace_pieces(u, theta, beta, data, family, level)


@partial(jit, static_argnames="family")
def _glm_start(data: glmm.GLMMData, family: Family):
    """beta from one Fisher scoring step of the GLM without random effects, from the family's
    starting means: the weighted least-squares fit of g(mustart) - offset on X, with weights
    a mu'(eta)^2 / V(mu) (R's glm.fit first iteration)."""
    eta = family.link.linkfun(data.mustart)
    weights = glmm.fisher_weights(eta, data, family)[0]
    XtW = data.X.T * weights
    return jnp.linalg.solve(XtW @ data.X, XtW @ (eta - data.offset))


@partial(jit, static_argnames=("family", "polish"))
def _stage1_value(theta, data: glmm.GLMMData, family: Family, polish: bool):
    """(objective, pieces) of nAGQ = 0's objective (beta inside PIRLS) at the joint mode,
    ``polish``ed by Newton steps where stage 1 is the fit (nAGQ = 0). Where it only gives stage 2
    its start, PIRLS's mode is accurate enough, and the program compiles 30% faster without the
    Newton steps."""
    v = (glmm.polished_mode(theta, None, data, family, True) if polish
         else glmm.pirls(theta, None, data, family, True)[0])
    pieces = glmm.laplace_pieces_at(v, theta, None, data, family, True)
    return glmm.laplace_value(pieces), pieces


class _DifferencedDerivatives:
    """(f, g, H) of nAGQ = 0's objective from its values alone: g by central differences (step
    1e-4 relative), H from second differences at the first point, then BFGS updates along the
    accepted steps.

    The two-point stencil's error, h^2 f^(3) / 6, leaves g good to about 1e-6: enough where
    stage 1 only supplies stage 2's start. Where stage 1 is the fit (nAGQ = 0), ``accurate``
    uses the four-point stencil (error h^4 f^(5) / 30; rounding about 1e-14 |f| / h), so that
    its theta agrees with the exact-derivative batch fit to 1e-8, where the two-point stencil
    stopped up to 3e-7 short (grouseticks, Poisson).

    Stage 1 derivatives by autodiff are not worth the seconds their compilation costs (the
    exact-gradient program compiled in 2-3 s for cbpp, the value alone in under one); lme4
    itself runs this stage derivative-free."""

    STEP = 1e-4

    def __init__(self, value, accurate: bool = False):
        self.value, self.accurate, self.last = value, accurate, None

    def steps(self, x):
        return self.STEP * np.maximum(np.abs(x), 1.0)

    def _shifted(self, x, h, multiple: float) -> np.ndarray:
        return np.array([self.value(x + multiple * h[k] * np.eye(len(x))[k]) for k in range(len(x))])

    def __call__(self, x):
        f, h = self.value(x), self.steps(x)
        plus, minus = self._shifted(x, h, 1.0), self._shifted(x, h, -1.0)
        if self.accurate:
            plus2, minus2 = self._shifted(x, h, 2.0), self._shifted(x, h, -2.0)
            grad = (8.0 * (plus - minus) - (plus2 - minus2)) / (12.0 * h)
        else:
            grad = (plus - minus) / (2.0 * h)
        if self.last is None:
            H = np.diag(np.maximum((plus - 2.0 * f + minus) / h ** 2, 1e-8))
        else:
            x_old, g_old, H = self.last
            s, y = x - x_old, grad - g_old
            Hs = H @ s
            if y @ s > 1e-12 * np.sqrt((s @ s) * (y @ y)) and s @ Hs > 0:
                H = H - np.outer(Hs, Hs) / (s @ Hs) + np.outer(y, y) / (y @ s)
        self.last = (np.array(x, np.float64), grad, H)
        return f, grad, H


def _difference_hessian(value, x, relative_step: float = 1e-3):
    """H_ij = [f(x + h_i + h_j) - f(x + h_i - h_j) - f(x - h_i + h_j) + f(x - h_i - h_j)] /
    (4 h_i h_j), for the convergence checks of a stage-1 (nAGQ = 0) record."""
    n = len(x)
    h = relative_step * np.maximum(np.abs(x), 1.0)
    step = lambda k: h[k] * np.eye(n)[k]
    H = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            H[i, j] = H[j, i] = (value(x + step(i) + step(j)) - value(x + step(i) - step(j))
                                 - value(x - step(i) + step(j)) + value(x - step(i) - step(j))) \
                / (4.0 * h[i] * h[j])
    return H


def _fit_generalized_host(data, theta0, family: Family, n_agq: int, max_iterations: int, start):
    """The host Newton loops. With nAGQ > 0 and no ``start``, stage 2 first starts at theta0 with
    beta from one scoring step of the GLM from the starting means (``_glm_start``): stage 1 only
    supplies a start, and its ~20 evaluations of the joint PIRLS (differenced derivatives) were
    three quarters of a warm cbpp fit, its program a third of a first fit's compilation. Where
    stage 2 does not converge from there, stage 1 runs in full and stage 2 starts again from its
    estimates (lme4's sequence), and the better of the converged fits is kept."""
    if start is None and n_agq > 0:
        theta_start = np.asarray(theta0, np.float64)
        beta_start = np.asarray(_glm_start(data, family))
        quick = _fit_generalized_host(data, theta0, family, n_agq, max_iterations,
                                      np.concatenate([theta_start, beta_start]))
        if quick[1].status == 0 and np.isfinite(quick[1].fun):
            return quick
        full = _fit_in_two_stages(data, theta0, family, n_agq, max_iterations, None)
        return quick if full[1].status != 0 and quick[1].fun < full[1].fun else full
    return _fit_in_two_stages(data, theta0, family, n_agq, max_iterations, start)


def _fit_in_two_stages(data, theta0, family: Family, n_agq: int, max_iterations: int, start):
    layout = data.design.layout
    n_theta = layout.n_theta
    if start is None or n_agq == 0:
        # followed by stage 2, stage 1 only provides its start: a looser tolerance saves the
        # last iteration or two; as the fit itself it ends with the polishing Newton step
        final = n_agq == 0  # else stage 1 is only stage 2's start
        stage1_at = Memo(lambda t: _stage1_value(t, data, family, final))
        stage1_value = lambda theta: float(stage1_at(theta)[0])
        theta_start = np.asarray(theta0 if start is None else np.asarray(start)[:n_theta], np.float64)
        stage1 = minimize_host(_DifferencedDerivatives(stage1_value, accurate=final), stage1_value,
                               theta_start, tol=1e-10 if final else 1e-6,
                               max_iterations=max_iterations, polish=final)
        theta1 = covariance_layout.canonical_theta(stage1.x, layout, np)
        if n_agq == 0:
            theta = lmm.snap_to_boundary(stage1_value, theta1, stage1.fun, layout, xp=np)
            stage1 = stage1._replace(hess=_difference_hessian(stage1_value, stage1.x))
            pieces = to_host(stage1_at(theta)[1])
            return stage1, stage1, theta, pieces.beta, stage1.hess, pieces
        start = np.concatenate([theta1, np.asarray(stage1_at(theta1)[1].beta)])
    else:
        stage1 = None
    if scalar_term.one_scalar_term(layout, n_agq):
        # derivatives cost about what the value costs: one program, evaluated at every trial point
        evaluation = Memo(lambda x: _scalar_term_evaluation(x, data, family))
        stage2_at = lambda x: (np.asarray(evaluation(x)[0])[0], evaluation(x)[1])
        evaluate = lambda x: unpacked(evaluation(x)[0])
    else:
        stage2_at = Memo(lambda x: _stage2_value(x, data, family, n_agq))
        evaluate = lambda x: unpacked(_stage2_derivatives(x, stage2_at(x)[1].u, data, family, n_agq))
    value = lambda x: float(stage2_at(x)[0])
    stage2 = minimize_host(evaluate, value, np.asarray(start, np.float64),
                           max_iterations=max_iterations, polish=True)
    stage1 = stage2 if stage1 is None else stage1
    beta = stage2.x[n_theta:]
    theta = covariance_layout.canonical_theta(stage2.x[:n_theta], layout, np)
    theta = lmm.snap_to_boundary(lambda t: value(np.concatenate([t, beta])), theta, stage2.fun,
                                 layout, xp=np)
    x = np.concatenate([theta, beta])
    final_value, pieces = to_host(stage2_at(x))
    # the optimizer's last evaluation is at its final point: its Hessian serves the standard
    # errors (only the beta block of H^{-1} is used, which sign flips of theta leave unchanged)
    return stage1, stage2._replace(x=x, fun=np.float64(final_value)), theta, beta, stage2.hess, pieces


@partial(jit, static_argnames=("family", "n_agq", "max_iterations"))
def _fit_generalized(data: glmm.GLMMData, theta0, family: Family, n_agq: int, max_iterations: int = 100,
                     start=None):
    """``fit_generalized`` as one pure, compiled function (the batch path)."""
    layout = data.design.layout
    n_theta = layout.n_theta

    # the same objectives and derivatives as the host path (values at the mode, polished where
    # it is final; derivatives through Newton steps from it): no differentiated PIRLS loop, no dense
    # fallback branch, which vmap would run for every replicate
    stage1_value = lambda theta: _stage1_value(theta, data, family, n_agq == 0)[0]
    stage1_derivatives = lambda theta: _derivatives_near(
        theta, glmm.polished_mode(theta, None, data, family, True), data, family, 0, joint=True)
    stage1_pieces = lambda theta: _stage1_value(theta, data, family, n_agq == 0)[1]

    level_wise = start is not None and scalar_term.one_scalar_term(layout, n_agq)
    if level_wise:
        # one scalar term (any family): the mode level by level, exact derivatives in closed form
        level = scalar_term.level_constants(data, family)

        def mode(x, u0=None, alternative=None):
            return scalar_term.conditional_mode(x[:n_theta], x[n_theta:], data, family, level, u0=u0,
                                                alternative=alternative)[0]

        # (f, g, H) at every trial point (they cost about two values), each mode warm-started
        # from the current point's or, per level where its P_j is lower, from that mode
        # predicted to first order by its slope there (u + U dx, U = du/dx from the
        # derivatives): 6% fewer level-wise iterations than from u alone (cbpp; grouseticks 17%);
        # the same mode to rounding (batch replicates equal single fits, whose modes start at 0,
        # to 1e-12). aux = (the mode, its slope, the point where they are)
        def evaluate(x, aux):
            u, slope, at = aux
            u = mode(x, u, alternative=u + slope @ (x - at))
            value, gradient, hessian, slope = scalar_term.laplace_derivatives_and_slope(
                u, x[:n_theta], x[n_theta:], data, family, level)
            return value, gradient, hessian, (u, slope, x)
    else:
        def objective(x):
            return _stage2_value_at(x, data, family, n_agq)[0]

        def derivatives(x):
            u = glmm.polished_mode(x[:n_theta], x[n_theta:], data, family, False)
            return _derivatives_near(x, u, data, family, n_agq, joint=False)

        final_mode = lambda x: glmm.polished_mode(x[:n_theta], x[n_theta:], data, family, False)

    if start is None or n_agq == 0:
        stage1 = minimize(stage1_value, theta0 if start is None else start[:n_theta],
                          value_grad_hess=stage1_derivatives, max_iterations=max_iterations,
                          polish=n_agq == 0)
        theta1 = covariance_layout.canonical_theta(stage1.x, layout)
        if n_agq == 0:
            theta = lmm.snap_to_boundary(stage1_value, theta1, stage1.fun, layout)
            pieces = stage1_pieces(theta)
            return stage1, stage1, theta, pieces.beta, stage1.hess, pieces
        start = jnp.concatenate([theta1, stage1_pieces(theta1).beta])
    else:
        stage1 = None

    if level_wise:
        n_levels = layout.term_levels[0]
        aux0 = (jnp.zeros(n_levels), jnp.zeros((n_levels, start.shape[0])), start)
        stage2, (last_mode, _, _) = minimize_at_trials(evaluate, start, aux0,
                                                       max_iterations=max_iterations, polish=True)
    else:
        stage2 = minimize(objective, start, value_grad_hess=derivatives, max_iterations=max_iterations,
                          polish=True)
    stage1 = stage2 if stage1 is None else stage1
    theta = covariance_layout.canonical_theta(stage2.x[:n_theta], layout)
    beta = stage2.x[n_theta:]
    if level_wise:
        # modes from the last one (u(-theta) = -u(theta): canonical_theta's sign flip flips it);
        # at theta = 0 the mode is 0, which u = 0 reaches in one iteration
        last_mode = jnp.where(stage2.x[0] * theta[0] < 0, -1.0, 1.0) * last_mode
        near = lambda t: jnp.where(t[0] == 0.0, 0.0, last_mode)
        snap_objective = lambda t: scalar_term.laplace_value(mode(jnp.concatenate([t, beta]), near(t)), t,
                                                             beta, data, family, level)
    else:
        snap_objective = lambda t: objective(jnp.concatenate([t, beta]))
    theta = lmm.snap_to_boundary(snap_objective, theta, stage2.fun, layout)
    x = jnp.concatenate([theta, beta])
    # the optimizer's last evaluation is at its final point: its Hessian serves the standard
    # errors (only the beta block of H^{-1} is used, which sign flips of theta leave unchanged)
    if level_wise:  # the value and pieces a single fit reports (``_scalar_term_evaluation``)
        # at the optimizer's last point (neither flipped nor snapped) its mode is the last
        # evaluation's, as a single fit's memo returns it there
        u = jax.lax.cond(jnp.all(x == stage2.x), lambda: last_mode, lambda: mode(x, near(theta)))
        pieces = scalar_term.laplace_pieces(u, theta, beta, data, family, level)
        value = glmm.laplace_value(pieces)
    else:
        u = final_mode(x)
        value = _stage2_objective_at(u, x, data, family, n_agq)
        pieces = glmm.laplace_pieces_at(u, theta, beta, data, family, False)
    return stage1, stage2._replace(x=x, fun=value), theta, beta, stage2.hess, pieces
