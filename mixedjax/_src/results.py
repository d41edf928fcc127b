"""What a fitted mixed model reports, with lme4's names: shared by linear and generalized fits.

Numbers come in as numpy arrays from the fit; this module labels them (pandas) and derives the
tables lme4 prints. It does no optimization.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import arguments
from .display import (SummaryData, VarCorrBlock, format_print, format_summary, format_summary_html,
                      format_varcorr)
from .frame import on_caller_rows
from .model import ModelSpec
from .optimize import MAX_ITERATIONS, NON_FINITE, STATUS_MESSAGES, OptimizeResult
from .fit_record import FitRecord
from .model_kinds import ModelKind
from .variance_parameters import term_factors
from .errors import ConvergenceError, ConvergenceWarning, SingularFitWarning  # noqa: F401  (their old home)

SINGULAR_MESSAGE = "boundary (singular) fit: see help('isSingular')"


@dataclass(frozen=True)
class OptimizerSummary:
    """The optimizer's record as kept on a result (lme4's ``optinfo``)."""

    name: str
    start: np.ndarray
    end: np.ndarray
    value: float
    iterations: int
    evaluations: int
    gradient_norm: float
    status: int
    message: str
    messages: tuple[str, ...]  # lme4-style convergence messages (empty when all checks pass)

    @classmethod
    def from_result(cls, result: OptimizeResult, name: str, messages=()) -> OptimizerSummary:
        status = int(result.status)
        return cls(name, np.asarray(result.x0), np.asarray(result.x), float(result.fun),
                   int(result.iterations), int(result.evaluations),
                   float(np.max(np.abs(np.asarray(result.grad)), initial=0.0)), status,
                   STATUS_MESSAGES.get(status, "unknown"), tuple(messages))


def stop_message(result: OptimizeResult) -> str:
    """What a fit reports when the optimizer stopped early ("" when it converged)."""
    status = int(result.status)
    if status == MAX_ITERATIONS:
        return (f"optimizer stopped: {int(result.iterations)} iterations, iteration limit reached "
                "before convergence")
    if status == NON_FINITE:
        return ("optimizer stopped: the objective or its derivatives are not finite at the "
                "starting values, so the estimates are not valid; look for a response the fixed "
                "effects fit exactly, weights that are all zero, or values so large that their "
                "squares overflow (rescale them)")
    return ""


def convergence_messages(grad: np.ndarray, hess: np.ndarray, singular: bool,
                         gradient_tol: float = 2e-3) -> list[str]:
    """lme4's checkConv with exact derivatives: scaled gradient and Hessian eigenvalues.

    Skipped for singular fits, as lme4 does (the boundary makes both checks meaningless)."""
    if singular or grad.size == 0:
        return []
    if not (np.all(np.isfinite(grad)) and np.all(np.isfinite(hess))):
        return ["Model failed to converge: the gradient or Hessian at the estimates is not finite"]
    messages = []
    try:  # finite entries near overflow can still defeat LAPACK's eigensolver
        eigenvalues = np.linalg.eigvalsh(hess)
    except np.linalg.LinAlgError:
        return ["Model failed to converge: the Hessian at the estimates could not be "
                "eigen-decomposed (entries near overflow)"]
    try:
        scaled = np.linalg.solve(np.linalg.cholesky(hess), grad)
        worst = np.maximum(np.minimum(np.abs(scaled), np.abs(grad)), 0)
    except np.linalg.LinAlgError:
        worst = np.abs(grad)
    if np.max(worst) > gradient_tol:
        k = int(np.argmax(worst))
        messages.append(f"Model failed to converge with max|grad| = {np.max(worst):.6g} "
                        f"(tol = {gradient_tol:g}, component {k + 1})")
    if np.min(eigenvalues) < -1e-6:
        messages.append(f"Model failed to converge: degenerate  Hessian with "
                        f"{int(np.sum(eigenvalues < -1e-6))} negative eigenvalues")
    elif np.max(eigenvalues) > 0 and np.min(eigenvalues) / np.max(eigenvalues) < 1e-6 * 1e-6:
        messages.append("Model is nearly unidentifiable: very large eigenvalue ratio\n"
                        " - Rescale variables?")
    return messages


def _correlation(cov: np.ndarray) -> np.ndarray:
    sd = np.sqrt(np.diag(cov))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(sd, sd)
    corr[~np.isfinite(corr)] = 0.0  # lme4 prints 0 correlation for a zero variance (NaN in R)
    np.fill_diagonal(corr, 1.0)
    return corr


def _per_term(included: list[int], n_terms: int):
    """simulate's ``use_u``: False (no term held), True (all) or one bool per term."""
    if not included:
        return False
    if len(included) == n_terms:
        return True
    return tuple(i in included for i in range(n_terms))


class BatchMethods:
    """Simulation, batch refits and the parametric bootstrap (see ``simulate.py``, ``batch.py``)."""

    def simulate(self, nsim: int = 1, seed: int = 0, use_u: bool = False, re_form=np.nan,
                 as_frame: bool = True, na_action: str = "omit"):
        """lme4's ``simulate(fit, nsim, seed, use.u, re.form)``: responses simulated from the fitted
        model, a DataFrame with columns sim_1, ..., sim_nsim on the caller's row index
        (``na_action``: "omit" leaves out rows dropped for missing values, "exclude" gives them
        NaN, as R's na.exclude); ``as_frame=False`` returns the nobs x nsim array.

        ``re_form`` names the random effects held at their conditional modes, the others are drawn
        anew: NaN or "~0" (default, R's re.form = NA: all drawn), None (all held, as
        ``use_u=True``) or a formula of some of the model's bar terms, e.g. "~(1 | Subject)"."""
        from .predict import is_missing, terms_in
        from .simulate import simulate
        nsim = arguments.integer(nsim, "nsim", minimum=1)
        seed = arguments.seed(seed)
        use_u = arguments.boolean(use_u, "use_u")
        as_frame = arguments.boolean(as_frame, "as_frame")
        if use_u and not is_missing(re_form):
            raise arguments.ArgumentError("give only one of use_u and re_form (use_u=True is "
                                          "re_form=None: every random effect held at its mode)")
        conditioned = True if use_u else _per_term(terms_in(re_form, self.spec), len(self.spec.terms))
        values = np.array(simulate(self, nsim=nsim, seed=seed, use_u=conditioned))
        if not as_frame:
            return values
        return on_caller_rows(self.spec.frame, values, na_action,
                              columns=[f"sim_{i + 1}" for i in range(nsim)])

    def refit_batch(self, Y, **options):
        """Refit the design to every column of Y (nobs x nsim) in compiled, vmapped chunks.
        Options: ``chunk_size``, ``vmap_width``, ``progress``, ``max_iterations`` and ``threads``
        (chunks at once; default: the usable cores on a CPU, 1 on an accelerator)."""
        from .batch import refit_batch
        return refit_batch(self, Y, **options)

    def bootstrap(self, nsim: int, statistic=None, seed: int = 0, use_u: bool = False, re_form=np.nan,
                  **options):
        """Parametric bootstrap (lme4's bootMer): simulate nsim responses (``use_u`` and
        ``re_form`` as ``simulate``'s), refit them all in a batch, and apply ``statistic``
        (default: fixef, theta and sigma per replicate) to the ``BatchResult``. Returns a
        ``BootstrapResult``."""
        from .batch import BootstrapResult, default_statistic
        if statistic is not None and not callable(statistic):
            raise arguments.ArgumentError("statistic must be a function of the BatchResult, got "
                                          f"{type(statistic).__name__}")
        batch = self.refit_batch(self.simulate(nsim, seed=seed, use_u=use_u, re_form=re_form, as_frame=False),
                                 **options)
        statistic = statistic or default_statistic
        return BootstrapResult(statistic(batch), statistic_of_fit(self, statistic), batch)

    def profile(self, which=None, alphamax: float = 0.01, maxpts: int = 100, delta=None):
        """Likelihood profile of each parameter (lme4's profile; see ``inference/profile.py``)."""
        from .inference.profile import profile
        return profile(self, which=which, alphamax=alphamax, maxpts=maxpts, delta=delta)

    def confint(self, method: str = "profile", level: float = 0.95, nsim: int = 500, seed: int = 0,
                which=None, **options) -> pd.DataFrame:
        """Confidence intervals with lme4's row names (.sig01, ..., .sigma, fixed effects):
        ``"profile"`` (default, as lme4: likelihood-profile intervals; ``which`` and the options
        of ``profile()``), ``"Wald"`` (fixed effects only, as lme4; NA for covariance parameters)
        or ``"boot"`` (percentile intervals from a parametric bootstrap of ``nsim`` replicates)."""
        from statistics import NormalDist
        level = arguments.probability(level, "level")
        if method == "profile":
            return self.profile(which=which, **options).confint(level)
        lower, upper = (1 - level) / 2, 1 - (1 - level) / 2
        columns = [f"{100 * lower:.3g} %", f"{100 * upper:.3g} %"]
        sig_names = self._sig_names()
        if method == "Wald":
            z = NormalDist().inv_cdf(upper)
            rows = {name: (np.nan, np.nan) for name in sig_names}
            for name, est, se in zip(self.fixef.index, self.beta, self.record.se):
                rows[name] = (est - z * se, est + z * se)
            return pd.DataFrame.from_dict(rows, orient="index", columns=columns)
        if method == "boot":
            boot = self.bootstrap(nsim, seed=seed, statistic=_sd_scale_statistic, **options)
            values = boot.replicates
            values.columns = sig_names + list(self.fixef.index)
            return values.quantile([lower, upper]).T.set_axis(columns, axis=1)
        raise arguments.ArgumentError(f"method must be 'profile', 'Wald' or 'boot', not {method!r}")

    def _sig_names(self) -> list[str]:
        count = sum(t.n_theta for t in self.spec.terms)
        names = [f".sig{i + 1:02d}" for i in range(count)]
        return names + ([".sigma"] if self._has_residual() else [])


def statistic_of_fit(fit, statistic):
    """Apply a batch statistic to the original fit (lme4's t0), through a one-replicate batch of
    the fit's own record."""
    from .batch import batch_result
    single = FitRecord(*(np.asarray(value)[None] for value in fit.record))
    return statistic(batch_result(fit, single)).iloc[0]


def _sd_scale_statistic(batch) -> pd.DataFrame:
    """Standard deviations and correlations (lme4's .sig parameters), sigma, fixed effects."""
    return batch.sd_scale_frame()


class MixedModelResults(BatchMethods):
    """Everything common to fitted lmer and glmer models. Subclasses set the attributes below
    and implement ``_fitted_values``, ``_residual_values`` and ``_conditional_variances``."""

    spec: ModelSpec
    beta: np.ndarray
    theta_values: np.ndarray
    b: np.ndarray
    sigma: float
    vcov_matrix: np.ndarray
    optimizer: OptimizerSummary
    data_name: str | None
    kind: ModelKind  # what differs between lmer and glmer fits, decided in the constructor
    record: FitRecord  # estimates, SEs, sigma, criterion, status, singularity: the fit's own
    problem: object  # the arrays the fit's objective is a function of, on the model's design
    prior_weights: np.ndarray
    optimizer_max_iterations: int

    @property
    def _covariance_scale(self) -> float:
        """sigma^2 for lmer (Var(b) = sigma^2 T T'), 1 for glmer."""
        return self.sigma ** 2 if self.kind.sigma_scales_covariance else 1.0

    # ---- fixed effects -------------------------------------------------------------------
    @property
    def fixef(self) -> pd.Series:
        return pd.Series(self.beta, index=list(self.spec.fixed.names), name="fixef")

    params = fixef
    fe_params = fixef  # statsmodels' names for lme4's fixef(fit)

    @property
    def vcov(self) -> pd.DataFrame:
        names = list(self.spec.fixed.names)
        return pd.DataFrame(self.vcov_matrix, index=names, columns=names)

    @property
    def se(self) -> pd.Series:
        return pd.Series(np.array(self.record.se), index=list(self.spec.fixed.names), name="se")

    bse = se  # statsmodels' name

    # ---- statsmodels' names for lme4's quantities --------------------------------------------
    @property
    def tvalues(self) -> pd.Series:
        """Estimate / standard error of each fixed effect (lme4's t value; z value for glmer)."""
        return pd.Series(self.beta / self.record.se,
                         index=list(self.spec.fixed.names), name="tvalues")

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values of the fixed effects, the last column of ``coef_table()``: for lmer
        fits lmerTest's t tests with Satterthwaite degrees of freedom (``coef_table(ddf=...)``
        for Kenward-Roger), for glmer fits Wald z tests (lme4's Pr(>|z|))."""
        return self.coef_table().iloc[:, -1].rename("pvalues")

    def conf_int(self, alpha: float = 0.05, method: str = "Wald", **options) -> pd.DataFrame:
        """statsmodels' ``conf_int``: ``confint(method, level=1 - alpha)`` with columns 0 and 1
        (lower, upper). ``"Wald"`` (default): the fixed effects' normal intervals, as lme4's
        confint(method = "Wald"); ``"profile"`` and ``"boot"`` add lme4's .sig rows."""
        alpha = arguments.probability(alpha, "alpha")
        table = self.confint(method=method, level=1.0 - alpha, **options)
        if method == "Wald":
            table = table.loc[list(self.spec.fixed.names)]
        return table.set_axis([0, 1], axis=1)

    def cov_params(self) -> pd.DataFrame:
        """statsmodels' name for lme4's vcov(fit): the fixed effects' covariance matrix."""
        return self.vcov

    def _on_rows(self, values: np.ndarray, name: str | None, na_action: str = "omit") -> pd.Series:
        """Values per used observation on the caller's row labels (see ``on_caller_rows``)."""
        return on_caller_rows(self.spec.frame, values, na_action, name=name)

    @property
    def fitted(self) -> pd.Series:
        """lme4's fitted(fit): the conditional mean (on the response scale for glmer) as a Series
        on the caller's row index, without the rows dropped for missing values; with NaN at
        those rows: ``predict(type="response", na_action="exclude")``."""
        return self._on_rows(self._fitted_values(), "fitted")

    @property
    def fittedvalues(self) -> pd.Series:
        """statsmodels' name for ``fitted``."""
        return self._on_rows(self._fitted_values(), "fittedvalues")

    @property
    def resid(self) -> pd.Series:
        """Response residuals y - fitted (lme4's residuals(fit, type = "response")) as a Series on
        the caller's row index; ``residuals(type)`` gives the other kinds."""
        return self._on_rows(self._residual_values("response"), "resid")

    @property
    def random_effects(self) -> dict:
        """statsmodels' ``random_effects``: {group level: Series of that level's conditional
        modes} (lme4's ranef(fit), row by row). With several grouping factors the keys are
        (factor, level) pairs."""
        frames = self.ranef
        if len(frames) == 1:
            (frame,) = frames.values()
            return dict(frame.iterrows())
        return {(factor, level): row for factor, frame in frames.items()
                for level, row in frame.iterrows()}

    # ---- broom.mixed's tables ----------------------------------------------------------------
    def tidy(self, effects=("ran_pars", "fixed"), conf_int: bool = False, conf_level: float = 0.95,
             conf_method: str = "Wald", **options) -> pd.DataFrame:
        """broom.mixed's ``tidy(fit, effects = ...)``: ``"fixed"``, ``"ran_pars"`` and/or
        ``"ran_vals"`` rows with columns effect, group, level, term, estimate, std.error,
        statistic, df, p.value (and conf.low, conf.high with ``conf_int``); see ``mixedjax.tidy``."""
        from .tidy import tidy
        return tidy(self, effects=effects, conf_int=conf_int, conf_level=conf_level,
                    conf_method=conf_method, **options)

    def glance(self) -> pd.DataFrame:
        """broom.mixed's ``glance(fit)``: one row of nobs, sigma, logLik, AIC, BIC, deviance
        (REMLcrit for a REML fit) and df.residual."""
        from .tidy import glance
        return glance(self, self._glance_criterion())

    # ---- covariance parameters ---------------------------------------------------------------
    @property
    def theta(self) -> pd.Series:
        return pd.Series(self.theta_values, index=self.spec.theta_names(), name="theta")

    def _term_covariances(self) -> list[np.ndarray]:
        return [self._covariance_scale * T @ T.T for T in term_factors(self.theta_values, self.spec)]

    @property
    def varcorr(self) -> pd.DataFrame:
        """``as.data.frame(VarCorr(fit))``: grp, var1, var2, vcov, sdcor (variances, then
        covariances/correlations of each term, then the residual); NaN where R has NA."""
        rows = []
        for group, term, cov in zip(self.spec.group_names(), self.spec.terms, self._term_covariances()):
            names, corr = term.column_names, _correlation(cov)
            for i, name in enumerate(names):
                rows.append((group, name, np.nan, cov[i, i], math.sqrt(max(cov[i, i], 0.0))))
            if term.structure == "diag":
                continue  # no covariances to list (lme4 1.1's || terms have none either)
            for i in range(len(names)):
                for j in range(i + 1, len(names)):
                    rows.append((group, names[i], names[j], cov[i, j], corr[i, j]))
        if self._has_residual():
            rows.append(("Residual", np.nan, np.nan, self.sigma ** 2, self.sigma))
        return pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])

    def VarCorr(self, comp="Std.Dev.") -> VarCorr:
        """lme4's ``VarCorr(fit)``: ``str()`` is ``print(VarCorr(fit), comp = comp)`` (``comp``:
        "Std.Dev.", "Variance" or both), ``.frame`` is ``as.data.frame(VarCorr(fit))``."""
        return VarCorr(self._varcorr_blocks(), self.sigma if self._has_residual() else None,
                       self.varcorr, comp)

    def _has_residual(self) -> bool:
        return self.kind.has_residual

    @property
    def is_singular(self) -> bool:
        """lme4's isSingular: some diagonal element of theta is (numerically) zero."""
        return self.record.singular

    @property
    def converged(self) -> bool:
        return self.optimizer.status in (0, 2) and not self.optimizer.messages

    def varpar_vcov(self) -> pd.DataFrame:
        """Covariance of lme4's (.sig01, ..., .sigma) (SDs, correlations, sigma) as 2 H^{-1} of the
        fit's deviance on that scale (see ``inference/variance_components.py``)."""
        from .inference.variance_components import varpar_vcov_frame
        return varpar_vcov_frame(self)

    def varpar_se(self) -> pd.Series:
        """Standard errors of lme4's .sig parameters (SD scale; NaN on the boundary)."""
        vcov = self.varpar_vcov()
        return pd.Series(np.sqrt(np.diag(vcov.to_numpy())), index=vcov.index, name="se")

    def varcorr_table(self, se: bool = False) -> pd.DataFrame:
        """VarCorr on the SD scale in .sig order (grp, var1, var2, sdcor); ``se=True`` adds standard errors."""
        from .inference.variance_components import varcorr_se_table
        return varcorr_se_table(self, se=se)

    # ---- random effects ----------------------------------------------------------------------
    def _term_modes(self) -> list[np.ndarray]:
        out, start = [], 0
        for term in self.spec.terms:
            size = term.n_levels * term.n_columns
            out.append(self.b[start:start + size].reshape(term.n_levels, term.n_columns))
            start += size
        return out

    def ranef_frames(self, condvar: bool = False) -> dict[str, pd.DataFrame]:
        """Conditional modes per grouping factor (terms on one factor side by side); with
        ``condvar=True`` also their conditional standard deviations in ``<column>_sd`` columns."""
        modes = self._term_modes()
        variances = self._conditional_variances() if condvar else None
        out = {}
        for factor, indices in self.spec.factors().items():
            levels = list(self.spec.terms[indices[0]].levels)
            frame = pd.DataFrame(index=pd.Index(levels, name=factor))
            for i in indices:
                for j, name in enumerate(self.spec.terms[i].column_names):
                    frame[name] = modes[i][:, j]
            if condvar:
                for i in indices:
                    for j, name in enumerate(self.spec.terms[i].column_names):
                        frame[f"{name}_sd"] = np.sqrt(variances[i][:, j, j])
            out[factor] = frame
        return out

    @property
    def ranef(self) -> dict[str, pd.DataFrame]:
        return self.ranef_frames(condvar=False)

    def condvar(self) -> dict[str, np.ndarray]:
        """Conditional covariance matrices of the random effects, per term: (levels, p, p)."""
        return dict(zip(self.spec.group_names(), self._conditional_variances()))

    @property
    def coef(self) -> dict[str, pd.DataFrame]:
        """lme4's coef(): fixed effects plus each factor's conditional modes, level by level."""
        out = {}
        for factor, frame in self.ranef.items():
            table = pd.DataFrame({name: np.full(len(frame), value)
                                  for name, value in self.fixef.items()}, index=frame.index)
            for column in frame.columns:
                table[column] = (table[column] if column in table else 0.0) + frame[column]
            out[factor] = table
        return out

    # ---- sizes --------------------------------------------------------------------------------
    @property
    def nobs(self) -> int:
        return self.spec.n_obs

    @property
    def ngrps(self) -> dict[str, int]:
        return {factor: self.spec.terms[idx[0]].n_levels for factor, idx in self.spec.factors().items()}

    @property
    def n_params(self) -> int:
        """Number of estimated parameters (logLik's df)."""
        return len(self.beta) + len(self.theta_values) + int(self._estimates_scale())

    def _estimates_scale(self) -> bool:
        return self.kind.has_residual

    @property
    def df_resid(self) -> int:
        return self.nobs - self.n_params

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.n_params

    @property
    def bic(self) -> float:
        return -2.0 * self.loglik + math.log(self.nobs) * self.n_params

    # ---- linear predictor ------------------------------------------------------------------------
    def _random_part(self, included=None) -> np.ndarray:
        """Z b over the random-effects terms numbered in ``included`` (default: all)."""
        eta = np.zeros(self.nobs)
        for i, (term, modes) in enumerate(zip(self.spec.terms, self._term_modes())):
            if included is None or i in included:
                eta += np.sum(term.X * modes[term.codes], axis=1)
        return eta

    def _link_inverse(self, eta: np.ndarray) -> np.ndarray:
        return eta

    def _link_derivative(self, eta: np.ndarray) -> np.ndarray:
        """d mu / d eta (1 for lmer)."""
        return np.ones_like(eta)

    def linear_predictor(self, included=None) -> np.ndarray:
        """X beta + Z b + offset on the fit's rows, Z b over the terms numbered in ``included``
        (default: all). predict() without newdata reads it (type "link", or "response" over some
        of the terms), and so do lmer's fitted values, so those agree to the last bit; glmer's
        fitted values are PIRLS's mean at the optimum, which predict(type="response") over all
        terms returns itself."""
        return self.spec.fixed.X @ self.beta + self._random_part(included) + self.spec.offset

    # ---- summary ---------------------------------------------------------------------------------
    def _varcorr_blocks(self) -> tuple[VarCorrBlock, ...]:
        blocks = []
        for group, term, cov in zip(self.spec.group_names(), self.spec.terms, self._term_covariances()):
            blocks.append(VarCorrBlock(group, term.column_names, np.diag(cov).copy(),
                                       np.sqrt(np.maximum(np.diag(cov), 0)),
                                       _correlation(cov) if term.n_columns > 1 and
                                       term.structure != "diag" else None))
        return tuple(blocks)

    def _fixef_correlation(self) -> np.ndarray:
        return _correlation(self.vcov_matrix)

    def _summary_messages(self) -> tuple[str, ...]:
        messages = list(self.optimizer.messages)
        if self.is_singular:
            messages.append(SINGULAR_MESSAGE)
        if messages:
            code = self.optimizer.status if self.optimizer.status not in (0, 2) else 0
            messages.insert(0, f"optimizer ({self.optimizer.name}) convergence code: {code} "
                               f"({'OK' if code == 0 else self.optimizer.message})")
        return tuple(messages)

    def summary(self) -> Summary:
        return Summary(self.summary_data())

    def contest(self, L, ddf="Satterthwaite", joint: bool = True, rhs=0.0) -> pd.DataFrame:
        """lmerTest's contest: H0 L beta = rhs, one joint F test or (joint=False) a t test per row.
        L: a vector, a matrix, a dict {fixed-effect name: weight} or a DataFrame with those columns."""
        from .inference.fixed_effect_tests import contest
        return contest(self, L, ddf=ddf, joint=joint, rhs=rhs)

    def anova(self, type=3, ddf="Satterthwaite"):
        """lmerTest's ANOVA table of the model's terms (type 3 or 1; Satterthwaite or Kenward-Roger)."""
        from .inference.fixed_effect_tests import anova
        return anova(self, type=type, ddf=ddf)

    # ---- plots (mixedjax.plots) ------------------------------------------------------------------
    def plot(self, ax=None):
        """Pearson residuals against fitted values (lme4's plot(fit)); see ``mixedjax.plots``."""
        from .plots import residuals_vs_fitted
        return residuals_vs_fitted(self, ax=ax)

    def plot_ranef(self, term=None, level: float = 0.95, ax=None):
        """Caterpillar plot of a grouping factor's random effects with conditional-variance
        intervals (lme4's dotplot(ranef(fit, condVar = TRUE))); see ``mixedjax.plots``."""
        from .plots import caterpillar
        return caterpillar(self, term=term, level=level, ax=ax)

    def _repr_html_(self) -> str:
        return format_summary_html(self.summary_data())

    def __repr__(self) -> str:
        """lme4's ``print(fit)`` (the short form; ``summary()`` gives the long one)."""
        return format_print(self.summary_data())

    __str__ = __repr__


class VarCorr:
    """lme4's ``VarCorr(fit)``: ``str()`` is ``print(VarCorr(fit), comp = comp)``; ``.frame`` is
    ``as.data.frame(VarCorr(fit))`` (grp, var1, var2, vcov, sdcor; NaN where R has NA)."""

    def __init__(self, blocks: tuple[VarCorrBlock, ...], residual_sd, frame: pd.DataFrame,
                 comp="Std.Dev."):
        self.blocks, self.residual_sd, self.frame, self.comp = blocks, residual_sd, frame, comp
        str(self)  # a bad comp is an error here, not at print time

    def __str__(self) -> str:
        try:
            return format_varcorr(self.blocks, self.residual_sd, comp=self.comp)
        except ValueError as error:
            raise arguments.ArgumentError(str(error)) from None

    __repr__ = __str__


class Summary:
    """lme4's ``summary(fit)``: ``str()`` is the printed text, ``_repr_html_`` a notebook table."""

    def __init__(self, data: SummaryData):
        self.data = data

    def __str__(self) -> str:
        return format_summary(self.data)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return format_summary_html(self.data)


def scaled_quantiles(values: np.ndarray) -> tuple[float, ...]:
    """Min, 1Q, Median, 3Q, Max as R's quantile(type = 7)."""
    return tuple(float(v) for v in np.quantile(values, [0, 0.25, 0.5, 0.75, 1.0]))
