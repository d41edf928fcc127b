"""``lmer``: fit a linear mixed model by REML or ML, as lme4 does, and the fitted-model object.

The fit itself (Newton's method on the profiled deviance, then the conditional solution at the
optimum) is ``linear_fitting.fit_linear``; this module turns its record into the result.
"""
from __future__ import annotations

import warnings
from functools import cached_property

import numpy as np
import pandas as pd

from . import _jax  # noqa: F401  (float64)
from . import arguments, covariance_layout, lmm
from .conditional import conditional_variances
from .display import SummaryData
from .linear_fitting import LinearFit, deviance_function, fit_model
from .model_kinds import LinearKind
from .model import (ModelSpec, caller_data_name, model_spec, numeric_response, rank_message,
                    refit_response)
from .predict import predict
from .results import (ConvergenceWarning, MixedModelResults, OptimizerSummary, SINGULAR_MESSAGE,
                      SingularFitWarning, Summary, convergence_messages, scaled_quantiles,
                      stop_message)

OPTIMIZER_NAME = "Newton"


def lmer(formula: str, data: pd.DataFrame, REML: bool = True, weights=None, offset=None,
         data_name: str | None = None, devfun_only: bool = False, start=None,
         max_iterations: int = 100) -> LinearMixedModel:
    """Fit a linear mixed model (lme4's ``lmer``).

    ``formula`` uses lme4's syntax, e.g. ``"Reaction ~ Days + (Days | Subject)"``; ``weights`` and
    ``offset`` take a column name or an array; ``data_name`` is what summary prints after
    ``Data:`` (default: the caller's variable name for ``data``, when it can be found).
    With ``devfun_only=True`` the profiled deviance function of theta is returned instead of a fit.
    ``start``: theta to start from (one value per covariance parameter, in lme4's order); by
    default lme4's (T = I), except that a large model fitted by exact Newton steps (a trailing
    block of 64 rows or more, at most 10 theta) starts from T = diag(1 / RMS of each term's
    columns) times the best of 1, 1/2, 1/4, ... by the deviance, which saves Newton iterations.
    ``fit.optimizer.start`` is the start used.
    """
    # (R coerces REML = "FALSE" to FALSE, Python's bool("FALSE") is True: strings are errors here)
    REML = arguments.boolean(REML, "REML")
    max_iterations = arguments.integer(max_iterations, "max_iterations", minimum=1)
    spec = model_spec(formula, data, weights=weights, offset=offset)
    y = numeric_response(spec)
    if devfun_only:
        return deviance_function(lmm.linear_problem(spec.design, spec.frame.weights, y - spec.offset), REML)
    if start is None:  # lme4's start in the optimizer's coordinates (``lmm.theta_scale``)
        theta0 = covariance_layout.theta_start(spec.design.layout) * lmm.theta_scale(
            spec.design, spec.frame.weights, xp=np)
    else:
        theta0 = arguments.start_vector(start, spec.theta_names())
    name = data_name if data_name is not None else caller_data_name(data)
    fitted = fit_model(spec, y, np.asarray(theta0, float), REML, max_iterations,
                       refine_start=start is None)
    return LinearMixedModel(spec, y, fitted, REML, name, max_iterations)


class LinearMixedModel(MixedModelResults):
    """A fitted linear mixed model (lme4's ``lmerMod``).

    y | b ~ N(X beta + Z b + offset, sigma^2 W^{-1}), b ~ N(0, sigma^2 Lambda Lambda').
    """

    def __init__(self, spec: ModelSpec, y, fitted: LinearFit, reml: bool, data_name,
                 max_iterations: int = 100):
        """``fitted`` is what ``linear_fitting.fit_model`` returned (its problem is on
        ``spec.fit_design``); ``max_iterations`` is the optimizer's limit, which refits keep."""
        self.spec, self.y, self.data_name = spec, y, data_name
        self.kind = LinearKind(bool(reml))
        self.optimizer_max_iterations = max_iterations
        self.record = fitted.record
        fit_problem, solution = fitted.problem, fitted.solution
        self._n_obs = float(fit_problem.n_obs)
        self._log_det_weights = float(fit_problem.log_det_weights)
        if not spec.padded:
            self.problem = fit_problem
        self.theta_values = self.record.theta
        self.beta = self.record.beta
        self.b = np.asarray(solution.b)
        self.u = np.asarray(solution.u)
        self._components = lmm.DevianceComponents(*(float(c) for c in solution.components))
        self.sigma = self.record.sigma
        self.vcov_matrix = fitted.vcov
        self.prior_weights = np.asarray(spec.frame.weights, float)
        result, singular = fitted.optimizer, self.record.singular
        messages = convergence_messages(np.asarray(result.grad), np.asarray(result.hess), singular)
        stopped = stop_message(result)
        if stopped:
            messages.insert(0, stopped)
        self.optimizer = OptimizerSummary.from_result(result, OPTIMIZER_NAME, messages)
        for message in messages:
            warnings.warn(message, ConvergenceWarning, stacklevel=3)
        if singular:
            warnings.warn(SINGULAR_MESSAGE, SingularFitWarning, stacklevel=3)

    @property
    def reml(self) -> bool:
        """Whether the fit maximized the REML criterion (lme4's REML = TRUE) rather than ML."""
        return self.kind.reml

    @cached_property
    def problem(self) -> lmm.LinearProblem:
        """The penalized least-squares problem on the model's own design (the one inference and
        conditional variances read); a padded fit's own problem is on the padded design."""
        return lmm.linear_problem_compiled(self.spec.design, self.spec.frame.weights,
                                           self.y - self.spec.offset)

    # ---- criteria ----------------------------------------------------------------------------
    def _criterion(self, reml: bool) -> float:
        """The REML or ML formula at the fitted components (a REML fit's ML deviance uses the
        same ldL2 and pwrss, as lme4's deviance(fit, REML = FALSE)); the one the fit minimized is
        its record's."""
        if reml == self.reml:
            return float(self.record.criterion)
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

    def _glance_criterion(self) -> tuple[str, float]:
        """broom.mixed's criterion column: REMLcrit for a REML fit, else the ML deviance."""
        if self.reml:
            return ("REMLcrit", self.reml_criterion)
        return ("deviance", self.deviance)

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
        return conditional_variances(self.theta_values, self.problem, self.spec, self._covariance_scale)

    def deviance_function(self, reml: bool | None = None):
        """The profiled deviance (REML criterion if ``reml``) as a jitted, differentiable function
        of theta (lme4's devFunOnly)."""
        return deviance_function(self.problem, self.reml if reml is None else reml)

    def refit(self, y) -> LinearMixedModel:
        """lme4's refit(fit, newresp): the same design fitted to a new response ``y`` (reuses the
        compiled fit): numbers in the fit's row order, or a Series (or one-column DataFrame, as
        ``simulate`` returns) whose index holds the fit's row labels."""
        y = refit_response(y, self.spec)
        spec = self.spec
        start = covariance_layout.refit_start(self.theta_values, spec.design.layout,
                                scale=lmm.theta_scale(spec.design, spec.frame.weights, xp=np))
        return LinearMixedModel(spec, y, fit_model(spec, y, start, self.reml, self.optimizer_max_iterations),
                                self.reml, self.data_name, self.optimizer_max_iterations)

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
        est, se = self.beta, self.record.se
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
