"""Likelihood-ratio tests between nested mixed models (lme4's ``anova(m1, m2, ...)``).

For models ordered by their number of parameters k_1 <= k_2 <= ..., row i of the table holds
npar = k_i, AIC = -2 l_i + 2 k_i, BIC = -2 l_i + log(n) k_i, logLik = l_i, deviance = -2 l_i and,
from the second row on, the statistic against the row above

    Chisq_i = 2 max(0, l_i - l_{i-1}),   Df_i = k_i - k_{i-1},   Pr(>Chisq) = P(chi^2_{Df_i} > Chisq_i)

(no p-value where Df_i = 0). As lme4, REML fits are first refitted by maximum likelihood
(``refit=True``): REML criteria of models with different fixed effects are not comparable.
With ``refit=False`` the REML log-likelihoods are compared as they are.

Each ML refit goes through the same compiled fit as the original model (``fit_linear`` with
``reml=False``), started from the REML estimate of theta, as lme4's ``refitML``.
"""
from __future__ import annotations

import math
import warnings

import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax.scipy.special import gammaincc

from ..display import AnovaTable, lme4_formula_lines, r_deparse
from ..errors import RefitMLWarning
from ..linear_fitting import fit_model
from ..linear_model import LinearMixedModel
from ..model import caller_variable_name
from ..results import MixedModelResults

REFIT_MESSAGE = "refitting model(s) with ML (instead of REML)"
COLUMNS = ["npar", "AIC", "BIC", "logLik", "deviance", "Chisq", "Df", "Pr(>Chisq)"]


def chi_squared_upper(statistic: float, df: float) -> float:
    """P(chi^2_df > statistic) = Q(df / 2, statistic / 2), the regularized upper gamma function."""
    return float(gammaincc(jnp.asarray(df / 2.0), jnp.asarray(statistic / 2.0)))


def refit_ml(fit: LinearMixedModel) -> LinearMixedModel:
    """The ML fit of a REML-fitted model's design (lme4's ``refitML``), through the compiled fit
    of the same structure, starting from the REML theta."""
    if not fit.kind.reml:
        return fit
    spec = fit.spec
    with warnings.catch_warnings():
        # the refit's own convergence and singularity warnings are reported by the refit below
        warnings.simplefilter("ignore")
        fitted = fit_model(spec, fit.y, np.asarray(fit.theta_values), False, fit.optimizer_max_iterations)
        refitted = LinearMixedModel(spec, fit.y, fitted, False, fit.data_name, fit.optimizer_max_iterations)
    for message in refitted.optimizer.messages:
        warnings.warn(f"ML refit of {spec.formula.text}: {message}", RuntimeWarning, stacklevel=3)
    return refitted


def _formula_text(fit) -> str:
    """The formula as lme4's call holds it, deparsed on one line (``||`` expanded for lmer)."""
    text = fit.spec.formula.text
    try:
        lines = lme4_formula_lines(text, cutoff=500) if fit.kind.expands_double_bar \
            else r_deparse(text, cutoff=500)
    except (ValueError, RecursionError):
        return text
    return " ".join(line.strip() for line in lines)


def _check_same_data(models: list, names: list[str]) -> None:
    unknown = [n for n, m in zip(names, models) if not isinstance(m, MixedModelResults)]
    if unknown:
        raise TypeError(f"anova: {', '.join(unknown)} are not fitted lmer/glmer models")
    kinds = {m.kind.name for m in models}  # glmer_nb fits are glmer fits
    if len(kinds) > 1:
        described = ", ".join(f"{n} ({type(m).__name__})" for n, m in zip(names, models))
        raise TypeError(f"anova: cannot compare linear (lmer) and generalized (glmer) fits: {described}; "
                        "fit all models with the same function")
    sizes = {n: m.nobs for n, m in zip(names, models)}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"anova: models were not all fitted to the same size of dataset "
                         f"(nobs: {sizes}); fit them to the same rows (check missing values)")
    reference = models[0]
    for name, model in zip(names[1:], models[1:]):
        same = np.array_equal(np.asarray(model.y), np.asarray(reference.y)) and \
            model.kind.same_response_law(reference.kind, model.prior_weights, reference.prior_weights)
        if not same:
            families = model.kind.family_difference(reference.kind)
            raise ValueError(f"anova: {name} and {names[0]} were not fitted to the same response "
                             f"({model.spec.formula.response!r} vs {reference.spec.formula.response!r}"
                             f"{families}); likelihood-ratio tests need the same data and response")


def likelihood_ratio_table(models: list, names: list[str], refit: bool = True) -> AnovaTable:
    """The anova table of ``models`` (rows named ``names``), ordered by npar as lme4 does."""
    if len(names) != len(models) or len(set(names)) != len(names):
        raise ValueError(f"anova: names must give one distinct name per model "
                         f"({len(models)} models, names {list(names)})")
    _check_same_data(models, names)
    reml = [m.kind.reml for m in models]
    refitted = []
    if refit and any(reml):
        warnings.warn(REFIT_MESSAGE, RefitMLWarning, stacklevel=3)
        models = [refit_ml(m) if r else m for m, r in zip(models, reml)]
        refitted = [n for n, r in zip(names, reml) if r]
    elif any(reml) and not all(reml):
        warnings.warn("some models fit with REML = TRUE, some not", UserWarning, stacklevel=3)
    npar = np.array([m.n_params for m in models])
    order = np.argsort(npar, kind="stable")  # R's order(): ties keep argument order
    models = [models[i] for i in order]
    names = [names[i] for i in order]
    npar = npar[order].astype(float)
    loglik = np.array([m.loglik for m in models])
    nobs = models[0].nobs
    chisq = np.concatenate([[np.nan], 2.0 * np.maximum(0.0, np.diff(loglik))])
    df = np.concatenate([[np.nan], np.diff(npar)])
    p_value = [np.nan] + [np.nan if d == 0 else chi_squared_upper(c, d) for c, d in zip(chisq[1:], df[1:])]
    table = AnovaTable({"npar": npar, "AIC": -2 * loglik + 2 * npar,
                        "BIC": -2 * loglik + math.log(nobs) * npar, "logLik": loglik,
                        "deviance": -2 * loglik, "Chisq": chisq, "Df": df, "Pr(>Chisq)": p_value},
                       index=pd.Index(names))
    table["npar"] = table["npar"].astype(int)
    data_names = [m.data_name for m in models if m.data_name]
    table.heading = [f"Data: {data_names[0] if data_names else 'data'}", "Models:"] + \
        [f"{n}: {_formula_text(m)}" for n, m in zip(names, models)]
    table.refitted = refitted
    return table


def anova(*models, refit: bool = True, names=None, **kwargs):
    """Likelihood-ratio tests between nested lmer or glmer fits (lme4's ``anova.merMod``).

    ``anova(m1, m2, ...)`` returns an ``AnovaTable`` (a DataFrame with columns npar, AIC, BIC,
    logLik, deviance, Chisq, Df, Pr(>Chisq), rows ordered by npar) that prints as lme4 does.
    REML fits are refitted by ML first when ``refit`` (the default), with a ``RefitMLWarning``
    carrying lme4's message "refitting model(s) with ML (instead of REML)".

    Row names: ``names`` (one per model, in argument order) if given; otherwise the variable names
    the models have in the calling scope, as R uses the argument expressions (``anova(fm1, fm2)``
    gives rows ``fm1``, ``fm2``); when a model has no single such name (an expression, or several
    names bound to it), ``m1``, ``m2``, ... by argument position.

    With one model, ``anova(fit, **kwargs)`` is ``fit.anova(**kwargs)`` (the fixed-effects F table).
    """
    if not models:
        raise TypeError("anova() needs at least one fitted model")
    if len(models) == 1:
        if not isinstance(models[0], MixedModelResults):
            raise TypeError(f"anova: a single {type(models[0]).__name__} has no F-table method; "
                            "pass two or more nested models for likelihood-ratio tests")
        return models[0].anova(**kwargs)
    if kwargs:
        raise TypeError(f"anova() got unexpected argument(s) {sorted(kwargs)} for a model comparison; "
                        "use refit= and names=")
    if names is None:
        found = []
        for model in models:  # (a loop, not a comprehension: that would add a frame before 3.12)
            found.append(caller_variable_name(model, depth=2))  # the name in anova's caller
        names = found if None not in found and len(set(found)) == len(found) \
            else [f"m{i + 1}" for i in range(len(models))]
    return likelihood_ratio_table(list(models), [str(n) for n in names], refit=refit)
