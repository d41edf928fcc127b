"""``lmer``: fit a linear mixed model by REML or ML, as lme4 does, and the fitted-model object.

``fit_linear(design, weights, response, theta0, reml)`` is Newton's method on the profiled
deviance, then the conditional solution at the optimum. With concrete arrays it runs the host
Newton loop over small compiled programs (the cross-products, (f, g, H), the solve); traced (under
``jax.vmap``, see ``batch.py``) it is one compiled while loop. Programs are compiled once per model
structure (the ``Layout`` and array shapes), so refitting a new response of the same shape never
recompiles.
"""
from __future__ import annotations

import warnings
from functools import cached_property, partial

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from . import _jax  # noqa: F401  (float64)
from .compilation import jit
from ._jax import is_traced, to_host
from . import arguments, blocks, lmm
from .conditional import conditional_variances
from .display import SummaryData
from .model import (ModelSpec, caller_data_name, model_spec, numeric_response, rank_message,
                    refit_response)
from .optimize import (Memo, QuasiNewtonDerivatives, minimize, minimize_host, packed, unpacked,
                       value_grad_hess)
from .predict import predict
from .results import (ConvergenceWarning, MixedModelResults, OptimizerSummary, SINGULAR_MESSAGE,
                      SingularFitWarning, Summary, convergence_messages, scaled_quantiles,
                      stop_message)

OPTIMIZER_NAME = "Newton"


def fit_linear(design, weights, response, theta0, reml: bool, max_iterations: int = 100):
    """Minimize the profiled deviance over theta and solve for beta and b at the optimum.

    ``response`` is y - offset. Returns the problem (cross-products), the optimizer's record,
    the canonical theta and the conditional solution there.

    Called with concrete arrays (a single fit) it runs Newton's iteration on the host over three
    small compiled functions per model structure (the cross-products, the deviance with and
    without its derivatives, and the solve), which compile in a fraction of the time of one
    compiled loop. Under a transformation (vmap, jit: batches) it is traced as one pure function
    with the loop compiled in. For large models (a trailing block of 64 rows or more, factored
    blockwise with many small LAPACK calls) LAPACK runs single-threaded
    (``blocks.single_threaded_lapack``)."""
    args = (design, weights, response, theta0)
    if is_traced(args):
        return _fit_linear(*args, reml, max_iterations)
    if design.layout.n_trailing < blocks.LAPACK_BLOCK:
        # (a trailing matrix this small is one LAPACK call per evaluation: nothing to gain)
        return _fit_linear_host(*args, reml, max_iterations)
    with blocks.single_threaded_lapack():
        return _fit_linear_host(*args, reml, max_iterations)


def _value_grad_hess(problem: lmm.LinearProblem, reml: bool):
    """theta -> (d, grad d, hess d): plain autodiff for one-term models' elementwise deviance,
    the structured exact Hessian (``lmm.deviance_value_grad_hess``) otherwise."""
    if problem.level_blocks is not None:
        return value_grad_hess(lambda theta: lmm.profiled_deviance(theta, problem, reml))
    return lmm.deviance_value_grad_hess(problem, reml)




@partial(jit, static_argnames="reml")
def _deviance(theta, problem, reml: bool):
    return lmm.profiled_deviance(theta, problem, reml)


@partial(jit, static_argnames="reml")
def _deviance_derivatives(theta, problem, reml: bool):
    return packed(*_value_grad_hess(problem, reml)(theta))


@partial(jit, static_argnames="reml")
def _deviance_gradient(theta, problem, reml: bool):
    """[d, grad d] (one transfer): autodiff for one-term models, ``lmm.deviance_value_grad``
    otherwise."""
    if problem.level_blocks is not None:
        value, grad = jax.value_and_grad(lmm.profiled_deviance)(theta, problem, reml)
    else:
        value, grad = lmm.deviance_value_grad(problem, reml)(theta)
    return jnp.concatenate([value[None], grad])


# Above this many covariance parameters a fit starts with BFGS iterations on exact gradients and
# finishes with exact Newton steps (one or two exact Hessians, which the convergence checks read).
# The exact Hessian costs tens of gradients: kb07 maximal (72 theta), CPU time, 9.5 ms a
# gradient, 680 ms the Hessian. Warm fits of kb07 models, 2 loaded cores, Newton alone against
# BFGS then Newton (same criterion to 1e-12): 6 theta 0.065 / 0.13 s, 12 theta 0.25 / 0.21 s,
# 20 theta 1.25 / 0.30 s. Our own BFGS in the host loop rather than optax.lbfgs: optax's update,
# compiled with its zoom line search around the deviance, took 20 s (77 iterations) on the
# 20-theta model, against 0.2 s for a host BFGS loop over the compiled gradient.
QUASI_NEWTON_THETA = 10


def _quasi_newton_start(problem, theta0, reml: bool, max_iterations: int):
    """BFGS iterations (``QuasiNewtonDerivatives``, at most 10 ``max_iterations``) from theta0 to
    near the optimum, where Newton's method then needs one or two exact Hessians."""
    at = Memo(lambda theta: _split_value(_deviance_gradient(theta, problem, reml)))
    value = lambda theta: float(at(theta)[0])
    quasi = QuasiNewtonDerivatives(at)
    # no log-scale trial points (they need a factorization of H; kb07 maximal: 140 evaluations
    # without them, 176 with)
    return minimize_host(quasi, value, np.asarray(theta0, np.float64), tol=_QUASI_NEWTON_TOL,
                         max_iterations=10 * max_iterations, direction=quasi.direction)


_QUASI_NEWTON_TOL = 1e-9  # decrement by the BFGS Hessian: close enough for Newton to finish


def _split_value(vector):
    vector = np.asarray(vector)
    return vector[0], vector[1:]


def _fit_linear_host(design, weights, response, theta0, reml: bool, max_iterations: int):
    problem = lmm.linear_problem_compiled(design, weights, response)
    layout = design.layout
    # compiled in the background while the derivatives' program compiles and runs
    lmm.solve_compiled.prefetch(np.asarray(theta0, np.float64), problem)
    evaluate = Memo(lambda theta: unpacked(_deviance_derivatives(theta, problem, reml)))
    if layout.n_trailing < blocks.LAPACK_BLOCK:
        # derivatives cost about a dispatch more than the value: evaluate them at every trial
        # point, so that the accepted one (nearly always the full step) is not evaluated again
        value = lambda theta: float(evaluate(theta)[0])
    else:
        value = lambda theta: float(_deviance(theta, problem, reml))
    log_steps = np.isfinite(lmm.theta_lower_bounds(layout))
    theta0 = np.asarray(theta0, np.float64)
    quasi = None
    if layout.n_theta > QUASI_NEWTON_THETA:
        quasi = _quasi_newton_start(problem, theta0, reml, max_iterations)
    start = theta0 if quasi is None else quasi.x
    scale = lmm.theta_scale(design, np.asarray(weights), xp=np)
    result = minimize_host(_scaled_derivatives(evaluate, scale, np), lambda theta: value(theta * scale),
                           start / scale, max_iterations=max_iterations, log_steps=log_steps)
    result = _unscaled(result, scale, np)
    if quasi is not None:
        result = result._replace(x0=theta0, iterations=quasi.iterations + result.iterations,
                                 evaluations=quasi.evaluations + result.evaluations)
    theta = lmm.snap_to_boundary(value, lmm.canonical_theta(result.x, layout, np), result.fun,
                                 layout, xp=np)
    return problem, result, theta, to_host(lmm.solve_compiled(theta, problem))


def _scaled_derivatives(evaluate, scale, xp):
    """theta~ -> (f, g, H) in the optimizer's coordinates theta~ = theta / scale
    (``lmm.theta_scale``), from ``evaluate`` in theta."""
    def scaled(theta_scaled):
        f, g, H = evaluate(theta_scaled * scale)
        return f, g * scale, H * xp.outer(scale, scale)
    return scaled


def _unscaled(result, scale, xp):
    """The optimizer's record in theta from its record in theta~ = theta / scale
    (``lmm.theta_scale``)."""
    return result._replace(x0=result.x0 * scale, x=result.x * scale, grad=result.grad / scale,
                           hess=result.hess / xp.outer(scale, scale))


def fit_model(spec: ModelSpec, y, theta0, reml: bool, max_iterations: int = 100):
    """``fit_linear`` on the spec's fit design (``ModelSpec.fit_design``: padded to shape classes,
    so that nearby sizes share compiled programs), with the conditional modes returned on the
    model's own levels. The problem returned is the fit design's."""
    weights, response = spec.fit_rows(spec.frame.weights), spec.fit_rows(y - spec.offset)
    problem, result, theta, solution = fit_linear(spec.fit_design, weights, response, theta0,
                                                  reml, max_iterations)
    if spec.padded:
        solution = solution._replace(u=spec.unpad_random(solution.u), b=spec.unpad_random(solution.b))
    return problem, result, theta, solution


@partial(jit, static_argnames=("reml", "max_iterations"))
def _fit_linear(design, weights, response, theta0, reml: bool, max_iterations: int = 100):
    problem = lmm.linear_problem(design, weights, response)
    objective = lambda theta: lmm.profiled_deviance(theta, problem, reml)
    scale = lmm.theta_scale(design, weights)
    result = minimize(lambda theta: objective(theta * scale), theta0 / scale,
                      max_iterations=max_iterations,
                      value_grad_hess=_scaled_derivatives(_value_grad_hess(problem, reml), scale, jnp),
                      log_steps=np.isfinite(lmm.theta_lower_bounds(design.layout)))
    result = _unscaled(result, scale, jnp)
    theta = lmm.snap_to_boundary(objective, lmm.canonical_theta(result.x, problem.design.layout),
                                 result.fun, problem.design.layout)
    return problem, result, theta, lmm.solve(theta, problem)


def lmer(formula: str, data: pd.DataFrame, REML: bool = True, weights=None, offset=None,
         data_name: str | None = None, devfun_only: bool = False, start=None,
         max_iterations: int = 100) -> LinearMixedModel:
    """Fit a linear mixed model (lme4's ``lmer``).

    ``formula`` uses lme4's syntax, e.g. ``"Reaction ~ Days + (Days | Subject)"``; ``weights`` and
    ``offset`` take a column name or an array; ``data_name`` is what summary prints after
    ``Data:`` (default: the caller's variable name for ``data``, when it can be found).
    With ``devfun_only=True`` the profiled deviance function of theta is returned instead of a fit.
    """
    # (R coerces REML = "FALSE" to FALSE, Python's bool("FALSE") is True: strings are errors here)
    REML = arguments.boolean(REML, "REML")
    max_iterations = arguments.integer(max_iterations, "max_iterations", minimum=1)
    spec = model_spec(formula, data, weights=weights, offset=offset)
    y = numeric_response(spec)
    if devfun_only:
        problem = lmm.linear_problem(spec.design, spec.frame.weights, y - spec.offset)
        return jax.jit(lambda theta: lmm.profiled_deviance(theta, problem, REML))
    if start is None:  # lme4's start in the optimizer's coordinates (``lmm.theta_scale``)
        theta0 = lmm.theta_start(spec.design.layout) * lmm.theta_scale(
            spec.design, spec.frame.weights, xp=np)
    else:
        theta0 = arguments.start_vector(start, spec.theta_names())
    problem, result, theta, solution = fit_model(spec, y, np.asarray(theta0, float), REML,
                                                 max_iterations)
    name = data_name if data_name is not None else caller_data_name(data)
    fit = LinearMixedModel(spec, y, problem, result, theta, solution, REML, name)
    fit.optimizer_max_iterations = max_iterations
    return fit


class LinearMixedModel(MixedModelResults):
    """A fitted linear mixed model (lme4's ``lmerMod``).

    y | b ~ N(X beta + Z b + offset, sigma^2 W^{-1}), b ~ N(0, sigma^2 Lambda Lambda').
    """

    def __init__(self, spec: ModelSpec, y, fit_problem, result, theta, solution, reml: bool,
                 data_name):
        """``fit_problem`` is the problem the fit ran on (on ``spec.fit_design``)."""
        self.spec, self.y, self.reml, self.data_name = spec, y, reml, data_name
        self._n_obs = float(fit_problem.n_obs)
        self._log_det_weights = float(fit_problem.log_det_weights)
        if not spec.padded:
            self.problem = fit_problem
        self.theta_values = np.asarray(theta)
        self.beta = np.asarray(solution.beta)
        self.b = np.asarray(solution.b)
        self.u = np.asarray(solution.u)
        components = solution.components
        self._components = lmm.DevianceComponents(*(float(c) for c in components))
        n, p = self._n_obs, spec.design.layout.n_fixed
        self.sigma = float(np.sqrt(self._components.pwrss / (n - p if reml else n)))
        self._covariance_scale = self.sigma ** 2
        RXt = np.asarray(solution.RXt)
        RXt_inv = np.linalg.inv(RXt) if RXt.size else RXt
        self.vcov_matrix = self.sigma ** 2 * (RXt_inv.T @ RXt_inv)
        singular = self.is_singular
        messages = convergence_messages(np.asarray(result.grad), np.asarray(result.hess), singular)
        stopped = stop_message(result)
        if stopped:
            messages.insert(0, stopped)
        self.optimizer = OptimizerSummary.from_result(result, OPTIMIZER_NAME, messages)
        for message in messages:
            warnings.warn(message, ConvergenceWarning, stacklevel=3)
        if singular:
            warnings.warn(SINGULAR_MESSAGE, SingularFitWarning, stacklevel=3)

    @cached_property
    def problem(self) -> lmm.LinearProblem:
        """The penalized least-squares problem on the model's own design (the one inference and
        conditional variances read); a padded fit's own problem is on the padded design."""
        return lmm.linear_problem_compiled(self.spec.design, self.spec.frame.weights,
                                           self.y - self.spec.offset)

    # ---- criteria ----------------------------------------------------------------------------
    def _criterion(self, reml: bool) -> float:
        """The REML or ML formula at the fitted components (a REML fit's ML deviance uses the
        same ldL2 and pwrss, as lme4's deviance(fit, REML = FALSE))."""
        return float(lmm.objective(self._components, self._n_obs, self.spec.design.layout.n_fixed,
                                   self._log_det_weights, reml, xp=np))

    @property
    def reml_criterion(self) -> float:
        """REML criterion at the estimates (what summary prints for a REML fit)."""
        return self._criterion(True)

    @property
    def deviance(self) -> float:
        """ML deviance -2 log L at the estimates (for a REML fit: lme4's deviance(fit, REML=FALSE))."""
        return self._criterion(False)

    @property
    def loglik(self) -> float:
        """Log-likelihood: the REML log-likelihood for REML fits (as lme4's logLik), else ML."""
        return -0.5 * (self.reml_criterion if self.reml else self.deviance)

    llf = loglik

    # ---- fitted values and residuals ---------------------------------------------------------------
    def _fitted_values(self) -> np.ndarray:
        return self.linear_predictor()

    def _residual_values(self, type: str = "response", scaled: bool = False) -> np.ndarray:
        raw = self.y - self._fitted_values()
        if type == "pearson":
            raw = raw * np.sqrt(self.spec.frame.weights)
        elif type != "response":
            raise arguments.ArgumentError(f"residuals type must be 'response' or 'pearson', not {type!r}")
        return raw / self.sigma if scaled else raw

    def residuals(self, type: str = "response", scaled: bool = False, na_action: str = "omit") -> pd.Series:
        """lme4's residuals(fit): y - fitted (``"response"``) or weighted (``"pearson"``);
        ``scaled`` divides by sigma. A Series on the caller's row index, without the rows
        dropped for missing values (``na_action="exclude"``: NaN there, as R's na.exclude)."""
        return self._on_rows(self._residual_values(type, scaled), "residuals", na_action)

    def _conditional_variances(self) -> list[np.ndarray]:
        return conditional_variances(self)

    def deviance_function(self, reml: bool | None = None):
        """The profiled deviance (REML criterion if ``reml``) as a jitted, differentiable function
        of theta (lme4's devFunOnly)."""
        reml = self.reml if reml is None else reml
        problem = self.problem
        return jax.jit(lambda theta: lmm.profiled_deviance(theta, problem, reml))

    def refit(self, y) -> LinearMixedModel:
        """lme4's refit(fit, newresp): the same design fitted to a new response ``y`` (reuses the
        compiled fit): numbers in the fit's row order, or a Series (or one-column DataFrame, as
        ``simulate`` returns) whose index holds the fit's row labels."""
        y = refit_response(y, self.spec)
        spec = self.spec
        start = lmm.refit_start(self.theta_values, spec.design.layout,
                                scale=lmm.theta_scale(spec.design, spec.frame.weights, xp=np))
        problem, result, theta, solution = fit_model(spec, y, start, self.reml,
                                                     self.optimizer_max_iterations)
        fit = LinearMixedModel(self.spec, y, problem, result, theta, solution, self.reml, self.data_name)
        fit.optimizer_max_iterations = self.optimizer_max_iterations
        return fit

    def predict(self, newdata: pd.DataFrame | None = None, re_form=None,
                allow_new_levels: bool = False, type: str = "response", se_fit: bool = False,
                na_action: str = "omit"):
        """lme4's predict: the fixed part plus the random effects in ``re_form`` (None: all terms;
        NaN, R's NA, or ``"~0"``: none; or a formula of bar terms such as ``"~(1 | Subject)"``),
        a Series on ``newdata``'s index (default: the fit's rows, with NaN at the rows dropped
        for missing values when ``na_action="exclude"``); ``se_fit`` adds standard errors of the
        fixed part, sqrt(diag(X V X')), in a DataFrame."""
        return predict(self, newdata, re_form=re_form, allow_new_levels=allow_new_levels, type=type,
                       se_fit=se_fit, na_action=na_action)

    # ---- t and F tests with Satterthwaite / Kenward-Roger df (lmerTest) ----------------------------
    def coef_table(self, ddf="Satterthwaite") -> pd.DataFrame:
        """Fixed-effect t tests: lmerTest's Estimate, Std. Error, df, t value, Pr(>|t|) with
        ``ddf="Satterthwaite"`` or ``"Kenward-Roger"`` (REML fits); lme4's three columns with None."""
        from .inference.fixed_effect_tests import coef_table
        return coef_table(self, ddf)

    def summary(self, ddf=None):
        """lme4's summary (ddf=None) or lmerTest's, whose coefficient table has df and p-values."""
        if ddf is None:
            return super().summary()
        from .inference.fixed_effect_tests import summary_data_with_tests
        return Summary(summary_data_with_tests(self, self.summary_data(), ddf))

    # ---- summary ---------------------------------------------------------------------------------
    def summary_data(self) -> SummaryData:
        est, se = self.beta, np.sqrt(np.diag(self.vcov_matrix))
        common = dict(
            kind="lmer", formula=self.spec.formula.expanded_text, data_name=self.data_name,
            reml=self.reml, resid_quantiles=scaled_quantiles(self._residual_values("pearson", scaled=True)),
            varcorr=self._varcorr_blocks(), residual_sd=self.sigma, nobs=self.nobs,
            ngrps=tuple(self.ngrps.items()), coef_names=tuple(self.spec.fixed.names),
            coef_columns=("Estimate", "Std. Error", "t value"),
            coef_values=np.column_stack([est, se, est / se]) if len(est) else np.zeros((0, 3)),
            fixef_corr=self._fixef_correlation(), messages=self._summary_messages(),
            weights=self.spec.frame.weights_name, offset=self.spec.frame.offset_name,
            fit_msgs=(rank_message(self.spec.fixed),) if self.spec.fixed.dropped else ())
        if self.reml:
            return SummaryData(reml_criterion=self.reml_criterion, **common)
        return SummaryData(aic=self.aic, bic=self.bic, loglik=self.loglik, deviance=self.deviance,
                           df_resid=self.df_resid, **common)
