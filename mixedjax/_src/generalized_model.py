"""``glmer``: generalized linear mixed models by Laplace, nAGQ = 0 or adaptive Gauss-Hermite,
as lme4 does, and the fitted-model object.

The fit itself (two stages, as lme4's defaults) is ``generalized_fitting.fit_generalized``; this
module turns its record into the result.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from . import _jax  # noqa: F401  (float64)
from . import arguments, covariance_layout, glmm, lmm
from .display import SummaryData
from .families import Family, as_family, family_call
from .frame import DataError
from .conditional import conditional_variances
from .generalized_fitting import (GeneralizedFit, _response, _rx_covariance, deviance_function, fit_model, glmm_data,
                                  starting_means)
from .model_kinds import GeneralizedKind
from .model import caller_data_name, model_spec, rank_message, response_values
from .predict import predict
from .results import (ConvergenceError, ConvergenceWarning, MixedModelResults, OptimizerSummary, SINGULAR_MESSAGE,
                      SingularFitWarning, convergence_messages, scaled_quantiles, stop_message)
from .variance_parameters import term_factors

HESSIAN_FALLBACK_MESSAGE = ("variance-covariance matrix computed from finite-difference Hessian is not "
                            "positive definite or contains NA values: falling back to var-cov "
                            "estimated from RX")
OPTIMIZER_NAME = "Newton"


def glmer(formula: str, data: pd.DataFrame, family="binomial", nAGQ: int = 1, weights=None,
          offset=None, data_name: str | None = None, devfun_only: bool = False, start=None,
          max_iterations: int = 100, mustart=None, etastart=None):
    """Fit a generalized linear mixed model (lme4's ``glmer``).

    ``family``: a family object (``mixedjax.binomial(link="probit")``, ``mixedjax.Gamma("log")``)
    or a name with its default link ("binomial", "poisson", "Gamma", "inverse.gaussian",
    "gaussian"). ``nAGQ``: 1 = Laplace (default), 0 = fixed effects estimated inside PIRLS,
    > 1 = adaptive Gauss-Hermite with that many points (one scalar random-effects term only).
    With nAGQ > 1 the reported log-likelihood follows lme4: it is built from deviance residuals and
    omits the saturated-model constant, so it is not on the Laplace fit's scale.
    ``mustart`` / ``etastart`` (lme4's): starting means or linear predictors for the first PIRLS
    iterations, a column name or one value per row; gaussian with a log or inverse link needs one
    when some responses are outside the link's domain (zeros).
    """
    family = as_family(family)
    if family.name == "gaussian" and family.link.name == "identity":
        warnings.warn("calling glmer() with family=gaussian (identity link) as a shortcut to lmer() "
                      "is deprecated; please call lmer() directly", DeprecationWarning, stacklevel=2)
        from .linear_model import lmer
        return lmer(formula, data, weights=weights, offset=offset,
                    data_name=data_name if data_name is not None else caller_data_name(data))
    # (lme4 truncates nAGQ = 2.5 to 2 points, silently: an error here)
    nAGQ = arguments.integer(nAGQ, "nAGQ", minimum=0, maximum=100)
    max_iterations = arguments.integer(max_iterations, "max_iterations", minimum=1)
    spec = model_spec(formula, data, weights=weights, offset=offset, allow_n=True)
    if nAGQ > 1 and (len(spec.terms) != 1 or spec.terms[0].n_columns != 1):
        raise arguments.ArgumentError("nAGQ > 1 is only available for models with a single, scalar random-effects "
                         f"term; this model has {', '.join(str(t.bar) for t in spec.terms)}. Use nAGQ=1")
    y, prior_weights = _response(spec, family)
    mu_start = starting_means(spec, data, family, y, prior_weights, mustart, etastart)
    arrays = glmm_data(spec, y, prior_weights, family, mu_start)
    if devfun_only:
        return deviance_function(arrays, family, nAGQ)
    theta0 = covariance_layout.theta_start(spec.design.layout) if start is None else \
        arguments.start_vector(start, spec.theta_names())
    fitted = fit_model(spec, y, prior_weights, family, np.asarray(theta0, float), nAGQ, max_iterations,
                       mustart=mu_start)
    name = data_name if data_name is not None else caller_data_name(data)
    return GeneralizedLinearMixedModel(spec, arrays, family, nAGQ, fitted, name, max_iterations)


class GeneralizedLinearMixedModel(MixedModelResults):
    """A fitted GLMM (lme4's ``glmerMod``). Var(b) = Lambda Lambda' (not scaled by sigma^2, as
    lme4 >= 2.0-1 reports it)."""

    def __init__(self, spec, data, family: Family, n_agq: int, fitted: GeneralizedFit, data_name,
                 max_iterations: int = 100):
        """``data``: the GLMM's arrays on the model's own design (``glmm_data``); ``fitted``:
        what ``generalized_fitting.fit_model`` returned; ``max_iterations``: the optimizer's
        limit, which refits keep."""
        self.spec, self.problem, self.data_name = spec, data, data_name
        self.kind = GeneralizedKind(family, n_agq)
        self.optimizer_max_iterations = max_iterations
        self.record = record = fitted.record
        pieces, final = fitted.pieces, fitted.optimizer
        self.theta_values = record.theta
        self.beta = record.beta
        self.u = np.asarray(pieces.u)
        self.b = self._spherical_to_b(self.u)
        self.mu = np.asarray(pieces.mu)
        self.y = np.asarray(data.y)
        self.prior_weights = np.asarray(data.weights)
        self._ussq = float(pieces.ussq)
        self.sigma = record.sigma
        self.hessian = fitted.hessian
        self.vcov_matrix = np.asarray(fitted.covariance.matrix)
        vcov_warning = (HESSIAN_FALLBACK_MESSAGE if n_agq > 0 and bool(fitted.covariance.from_rx)
                        else None)
        singular = record.singular
        messages = convergence_messages(np.asarray(final.grad), np.asarray(final.hess), singular)
        stopped = stop_message(final)
        if stopped:
            messages.insert(0, stopped)
        self.optimizer = OptimizerSummary.from_result(final, OPTIMIZER_NAME, messages)
        self.stage1 = OptimizerSummary.from_result(fitted.stage1, OPTIMIZER_NAME)
        if not (np.isfinite(record.criterion) and np.all(np.isfinite(self.beta))):
            raise ConvergenceError(
                "glmer: the fit produced a non-finite deviance or fixed effects (PIRLS failed); "
                "check for complete separation, extreme offsets or badly scaled predictors")
        if family.name == "binomial" and np.any((self.mu < 1e-10) | (self.mu > 1 - 1e-10)):
            messages.append("fitted probabilities numerically 0 or 1 occurred: possible complete "
                            "separation; estimates and standard errors of the separated effects "
                            "are unreliable")
        for message in messages + ([vcov_warning] if vcov_warning else []):
            warnings.warn(message, ConvergenceWarning, stacklevel=3)
        if singular:
            warnings.warn(SINGULAR_MESSAGE, SingularFitWarning, stacklevel=3)

    @property
    def family(self) -> Family:
        """The response's family and link (lme4's ``family(fit)``)."""
        return self.kind.family

    @property
    def nAGQ(self) -> int:
        """Points of the adaptive Gauss-Hermite quadrature (1: Laplace, 0: beta inside PIRLS)."""
        return self.kind.n_agq

    @property
    def data(self) -> glmm.GLMMData:
        """The GLMM's arrays on the model's own design (``problem``; kept under this name)."""
        return self.problem

    def refit(self, newresp) -> GeneralizedLinearMixedModel:
        """lme4's ``refit(fit, newresp)``: the same design fitted to a new response, starting from
        this fit's estimates (stage 2 only, as lme4). ``newresp``: one value per observation on
        the response scale of ``y`` (binomial: proportions of the same numbers of trials, as
        ``simulate`` returns them), or for binomial an (nobs, 2) array of successes and failures,
        whose row sums become the numbers of trials."""
        y, weights = self._new_response(newresp)
        layout = self.spec.design.layout
        theta0 = covariance_layout.refit_start(self.theta_values, layout)
        max_iterations = self.optimizer_max_iterations
        # the family's starting means where the link is finite there, else this fit's
        mustart = np.asarray(self.family.mustart(y, weights), float)
        mustart = np.where(self.family.link.valid_mean(mustart), mustart, self.problem.mustart)
        fitted = fit_model(self.spec, y, weights, self.family, theta0, self.nAGQ, max_iterations,
                           start=np.concatenate([theta0, self.beta]), mustart=mustart)
        return GeneralizedLinearMixedModel(self.spec, glmm_data(self.spec, y, weights, self.family, mustart),
                                           self.family, self.nAGQ, fitted, self.data_name, max_iterations)

    def _new_response(self, newresp):
        """(y, prior weights) of a refit's response, checked as glmer checks a response."""
        values = response_values(newresp, self.spec, "refit's newresp")
        try:
            values = np.asarray(values, dtype=float)
        except (TypeError, ValueError) as error:
            raise DataError(f"refit: newresp must be numbers, one per observation of the fit; got "
                            f"{type(newresp).__name__}") from error
        if values.ndim == 2 and values.shape[1] == 1:  # a one-column frame, as simulate(1) gives
            values = values[:, 0]
        n = self.nobs
        weights = self.prior_weights
        if values.ndim == 2 and values.shape == (n, 2) and self.family.name == "binomial":
            trials = values.sum(axis=1)
            values = np.where(trials > 0, values[:, 0] / np.where(trials > 0, trials, 1.0), 0.0)
            weights = np.asarray(self.spec.frame.weights, float) * trials
        elif values.shape != (n,):
            shapes = f"({n},) or ({n}, 2) successes and failures" if self.family.name == "binomial" \
                else f"({n},)"
            raise DataError(f"refit: newresp has shape {values.shape}; it needs shape {shapes}, one "
                            "value per observation of the fit")
        if not np.all(np.isfinite(values)):
            raise DataError(f"refit: newresp has {int(np.sum(~np.isfinite(values)))} non-finite values")
        self.family.validate(values, weights)
        return values, weights

    def _spherical_to_b(self, u):
        terms = self.spec.terms
        return covariance_layout.spherical_to_b(u, term_factors(self.theta_values, self.spec),
                                                [t.n_levels for t in terms], [t.n_columns for t in terms], np)

    # ---- standard errors ------------------------------------------------------------------------
    def vcov_rx(self) -> np.ndarray:
        """vcov(beta) from R_X of the weighted PLS system at the optimum (theta treated as known)."""
        dispersion = self.sigma ** 2 if self.family.has_dispersion else 1.0
        return np.asarray(_rx_covariance(self.theta_values, self.beta, self.u, self.problem, self.family,
                                         dispersion))


    # ---- criteria ----------------------------------------------------------------------------------
    @property
    def loglik(self) -> float:
        """-D/2 (Laplace or AGQ approximation; for nAGQ > 1 on lme4's deviance-residual scale)."""
        return -0.5 * self.record.criterion

    llf = loglik

    @property
    def deviance(self) -> float:
        """-2 log-likelihood (the summary's ``deviance`` column)."""
        return self.record.criterion

    def _glance_criterion(self) -> tuple[str, float]:
        """broom.mixed's deviance: lme4's ``deviance(fit)``, the sum of squared deviance
        residuals (not -2 logLik, which the summary's deviance column shows)."""
        return ("deviance", float(np.sum(self._residual_values("deviance") ** 2)))

    # ---- fitted values and residuals -------------------------------------------------------------------
    def _fisher_weights(self, eta):
        """a mu_eta^2 / V(mu) at the linear predictor eta."""
        mu, mu_eta = self._link_inverse(eta), self._link_derivative(eta)
        return self.prior_weights * mu_eta ** 2 / self.family.variance(mu)

    def _link_inverse(self, eta):
        return np.asarray(family_call(self.family, "linkinv", eta))

    def _link_derivative(self, eta):
        return np.asarray(family_call(self.family, "mu_eta", eta))

    def _fitted_values(self) -> np.ndarray:
        return self.mu

    def _residual_values(self, type: str = "deviance", scaled: bool = False) -> np.ndarray:
        y, mu, a = self.y, self.mu, self.prior_weights
        if type == "response":
            out = y - mu
        elif type == "pearson":
            out = (y - mu) * np.sqrt(a) / np.sqrt(self.family.variance(mu))
        elif type == "deviance":
            unit = np.asarray(family_call(self.family, "unit_deviance", y, mu, a))
            out = np.sign(y - mu) * np.sqrt(np.maximum(unit, 0.0))
        elif type == "working":
            out = (y - mu) / self._link_derivative(self.linear_predictor())
        else:
            raise arguments.ArgumentError(f"residuals type must be 'deviance', 'pearson', 'response' "
                                          f"or 'working', not {type!r}")
        return out / self.sigma if scaled else out

    def residuals(self, type: str = "deviance", scaled: bool = False, na_action: str = "omit") -> pd.Series:
        """lme4's residuals(fit): "deviance" (default, as R), "pearson", "response" or "working"
        residuals, a Series on the caller's row index, without the rows dropped for missing
        values (``na_action="exclude"``: NaN there, as R's na.exclude)."""
        return self._on_rows(self._residual_values(type, scaled), "residuals", na_action)

    def predict(self, newdata: pd.DataFrame | None = None, re_form=None,
                allow_new_levels: bool = False, type: str = "link", se_fit: bool = False,
                na_action: str = "omit"):
        """lme4's predict on the link (default, as R) or response scale, a Series on ``newdata``'s
        index (default: the fit's rows); ``re_form`` and ``na_action`` as for lmer fits;
        ``se_fit`` adds standard errors of the fixed part (delta method on the response scale;
        see ``predict.py``)."""
        return predict(self, newdata, re_form=re_form, allow_new_levels=allow_new_levels, type=type,
                       se_fit=se_fit, na_action=na_action)

    def _conditional_variances(self) -> list[np.ndarray]:
        eta = self.linear_predictor()
        w = self._fisher_weights(eta)
        # (any response with r'Wr > 0: the precision does not depend on it)
        problem = lmm.linear_problem_compiled(self.problem.design_re, w, np.ones_like(eta))
        return conditional_variances(self.theta_values, problem, self.spec, 1.0)

    def coef_table(self, ddf=None) -> pd.DataFrame:
        """lme4's Wald z table (Estimate, Std. Error, z value, Pr(>|z|)); Satterthwaite and
        Kenward-Roger df apply to linear mixed models only (a ddf raises)."""
        from .inference.fixed_effect_tests import coef_table
        return coef_table(self, ddf)

    # ---- summary ---------------------------------------------------------------------------------------
    def summary(self, legacy_varcorr: bool = False):
        """lme4's summary; ``legacy_varcorr=True`` prints Gamma/inverse.gaussian random-effect
        variances multiplied by sigma^2, as lme4 < 2.0-1 did (e.g. the lme4 chapter's outputs)."""
        from .results import Summary
        return Summary(self.summary_data(legacy_varcorr))

    def summary_data(self, legacy_varcorr: bool = False) -> SummaryData:
        from math import erfc, sqrt
        est, se = self.beta, self.record.se
        z = est / se
        p = np.array([erfc(abs(v) / sqrt(2.0)) for v in z])
        blocks = self._varcorr_blocks()
        if legacy_varcorr and self.family.has_dispersion:
            from dataclasses import replace
            blocks = tuple(replace(b, variance=b.variance * self.sigma ** 2, sd=b.sd * self.sigma)
                           for b in blocks)
        statistic = "t value" if self.family.has_dispersion else "z value"
        return SummaryData(
            # glmer prints the formula as written (lme4 expands `||` only in lmer's summary)
            kind="glmer", formula=self.spec.formula.text if "||" not in self.spec.formula.text
            else (self.spec.formula.text,), data_name=self.data_name,
            family=self.family.r_name, link=self.family.link.name, nagq=self.nAGQ,
            aic=self.aic, bic=self.bic, loglik=self.loglik, deviance=self.deviance,
            df_resid=self.df_resid,
            resid_quantiles=scaled_quantiles(self._residual_values("pearson", scaled=True)),
            varcorr=blocks, residual_sd=self.sigma if self.family.has_dispersion else None,
            nobs=self.nobs, ngrps=tuple(self.ngrps.items()), coef_names=tuple(self.spec.fixed.names),
            coef_columns=("Estimate", "Std. Error", statistic, "Pr(>|z|)"),
            coef_values=np.column_stack([est, se, z, p]), fixef_corr=self._fixef_correlation(),
            messages=self._summary_messages(), weights=self.spec.frame.weights_name,
            offset=self.spec.frame.offset_name,
            fit_msgs=(rank_message(self.spec.fixed),) if self.spec.fixed.dropped else ())
