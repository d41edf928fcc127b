"""t and F tests of fixed-effect contrasts with Satterthwaite or Kenward-Roger denominator df: what
lmerTest's ``summary``, ``contest`` and ``anova`` report for a linear mixed fit.

Tables use lmerTest's column names: t tests (Estimate, Std. Error, df, t value, Pr(>|t|)), F tests
(Sum Sq, Mean Sq, NumDF, DenDF, F value, Pr(>F)) with Mean Sq = F sigma^2 (for Kenward-Roger the
unscaled F, as lmerTest) and Sum Sq = NumDF Mean Sq. The numerical work is in ``satterthwaite`` and
``kenward_roger``; this module parses contrasts, dispatches on the method and labels results.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import special

from ..display import AnovaTable
from . import kenward_roger, satterthwaite
from .anova_contrasts import model_terms, type1_hypotheses, type3_hypotheses

T_COLUMNS = ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"]
F_COLUMNS = ["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"]
METHODS = {"satterthwaite": "Satterthwaite", "kenward-roger": "Kenward-Roger", "kr": "Kenward-Roger"}


def method_name(ddf) -> str:
    """'Satterthwaite' or 'Kenward-Roger' from a user's spelling; a clear error otherwise."""
    if isinstance(ddf, str) and ddf.lower() in METHODS:
        return METHODS[ddf.lower()]
    raise ValueError(f"ddf must be 'Satterthwaite', 'Kenward-Roger' or None, not {ddf!r}")


def require_linear(fit) -> None:
    if not fit.kind.ddf_tests:
        raise TypeError("Satterthwaite and Kenward-Roger degrees of freedom apply to linear mixed "
                        "models (lmer fits), as in lmerTest; for a glmer fit use coef_table(ddf=None) "
                        "(Wald z tests) or a likelihood-ratio test")


def _state(fit, method: str):
    """The fit's Satterthwaite or KR state, computed once per fit (the derivatives compile)."""
    cache = fit.__dict__.setdefault("_ddf_states", {})
    if method not in cache:
        cache[method] = (satterthwaite.satterthwaite_state(fit) if method == "Satterthwaite"
                         else kenward_roger.kenward_roger_state(fit))
    return cache[method]


def t_p_value(t, df):
    return 2.0 * special.stdtr(df, -np.abs(t))


def f_p_value(F, ndf, ddf):
    return special.fdtrc(ndf, ddf, F) if ndf > 0 else np.nan


def t_row(fit, method: str, contrast: np.ndarray, rhs: float = 0.0) -> list[float]:
    module = satterthwaite if method == "Satterthwaite" else kenward_roger
    estimate, se, df = module.t_test(_state(fit, method), contrast)
    t = (estimate - rhs) / se
    return [estimate, se, df, t, float(t_p_value(t, df))]


def f_row(fit, method: str, L: np.ndarray, rhs: np.ndarray) -> list[float]:
    """One F test of L beta = rhs as lmerTest's contestMD (Kenward-Roger: its KRmodcomp call)."""
    if L.shape[0] == 0:
        return [np.nan] * 6
    sigma2 = fit.sigma ** 2
    if method == "Kenward-Roger":
        test = kenward_roger.f_test(_state(fit, method), L, rhs)
        F, ndf, ddf, mean_square = test.F, test.ndf, test.ddf, test.F_unscaled * sigma2
    else:
        F, ndf, ddf = satterthwaite.f_test(_state(fit, method), L, rhs)
        mean_square = F * sigma2
    return [mean_square * ndf, mean_square, ndf, ddf, F, float(f_p_value(F, ndf, ddf))]


def contrast_matrix(L, names: list[str]) -> tuple[np.ndarray, list[str] | None]:
    """(k x p matrix, row names or None) from a vector, a matrix, a dict {fixed-effect name: weight}
    (one contrast; absent names weigh 0) or a DataFrame whose columns are fixed-effect names."""
    p = len(names)
    row_names = None
    if isinstance(L, dict):
        L = pd.DataFrame([L])
    if isinstance(L, pd.Series):
        L = L.to_frame().T
    if isinstance(L, pd.DataFrame):
        unknown = [c for c in L.columns if c not in names]
        if unknown:
            raise ValueError(f"contrast columns {unknown} are not fixed effects of the model; "
                             f"the fixed effects are {names}")
        row_names = [str(i) for i in L.index] if not isinstance(L.index, pd.RangeIndex) else None
        L = L.reindex(columns=names, fill_value=0.0).to_numpy(dtype=float)
    matrix = np.atleast_2d(np.asarray(L, dtype=float))
    if matrix.ndim != 2 or matrix.shape[1] != p:
        raise ValueError(f"contrast L must have {p} columns (one per fixed effect: {names}), "
                         f"not shape {np.shape(L)}")
    if not np.isfinite(matrix).all():
        raise ValueError("contrast L has non-finite entries")
    return matrix, row_names


def _rhs(rhs, k: int) -> np.ndarray:
    values = np.broadcast_to(np.asarray(rhs, dtype=float), (k,)) if np.ndim(rhs) == 0 else \
        np.asarray(rhs, dtype=float)
    if values.shape != (k,):
        raise ValueError(f"rhs must be a number or have one value per contrast row ({k}), "
                         f"not shape {np.shape(rhs)}")
    return np.array(values)


def coef_table(fit, ddf="Satterthwaite") -> pd.DataFrame:
    """lmerTest's coefficient table (ddf given) or lme4's (ddf=None: Estimate, Std. Error, t value;
    for glmer fits z value and Pr(>|z|))."""
    names = list(fit.fixef.index)
    estimate, se = np.asarray(fit.beta), fit.record.se
    if ddf is None:
        if not fit.kind.ddf_tests:
            z = estimate / se
            return pd.DataFrame({"Estimate": estimate, "Std. Error": se, "z value": z,
                                 "Pr(>|z|)": 2.0 * special.ndtr(-np.abs(z))}, index=names)
        return pd.DataFrame({"Estimate": estimate, "Std. Error": se, "t value": estimate / se},
                            index=names)
    require_linear(fit)
    method = method_name(ddf)
    rows = [t_row(fit, method, row) for row in np.eye(len(names))]
    return pd.DataFrame(rows, index=names, columns=T_COLUMNS)


def contest(fit, L, ddf="Satterthwaite", joint: bool = True, rhs=0.0) -> pd.DataFrame:
    """Tests of L beta = rhs (lmerTest's contest): one joint F test (joint=True) or a t test per
    row of L."""
    require_linear(fit)
    method = method_name(ddf)
    matrix, row_names = contrast_matrix(L, list(fit.fixef.index))
    rhs = _rhs(rhs, matrix.shape[0])
    if joint:
        return pd.DataFrame([f_row(fit, method, matrix, rhs)], columns=F_COLUMNS)
    rows = [t_row(fit, method, row, value) for row, value in zip(matrix, rhs)]
    return pd.DataFrame(rows, columns=T_COLUMNS, index=row_names)


def hypotheses(fit, type) -> dict[str, np.ndarray]:
    """Each model term's hypothesis matrix for a type I or type III table."""
    fixed = fit.spec.fixed
    terms, has_intercept = model_terms(fixed)
    if str(type) in ("1", "I"):
        return type1_hypotheses(fixed.X, terms)
    if str(type) in ("3", "III"):
        return type3_hypotheses(fixed.X, list(fixed.names), terms, has_intercept, fit.spec.frame.data)
    raise ValueError(f"anova type must be 1 or 3 ('I' or 'III'), not {type!r}")


def anova(fit, type=3, ddf="Satterthwaite") -> AnovaTable:
    """lmerTest's single-model ANOVA: an F test per model term (type III or type I hypotheses)."""
    require_linear(fit)
    method = method_name(ddf)
    tables = hypotheses(fit, type)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rows = [f_row(fit, method, L, np.zeros(L.shape[0])) for L in tables.values()]
    table = AnovaTable(rows, index=list(tables), columns=F_COLUMNS)
    roman = "III" if str(type) in ("3", "III") else "I"
    table.heading = [f"Type {roman} Analysis of Variance Table with {method}'s method"]
    table.hypotheses = tables
    return table


def summary_data_with_tests(fit, data, ddf):
    """lme4's summary data with lmerTest's coefficient table and title; lmerTest prints the
    formula as written (lme4 prints ``||`` expanded)."""
    from dataclasses import replace
    method = method_name(ddf)
    table = coef_table(fit, method)
    return replace(data, formula=fit.spec.formula.text, coef_columns=tuple(T_COLUMNS),
                   coef_values=table.to_numpy(dtype=float), title_suffix=f". t-tests use {method}'s method",
                   object_class="lmerModLmerTest", expand_double_bars=False)
