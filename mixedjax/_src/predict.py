"""Predictions on the fitted or new data (lme4's ``predict.merMod``).

New data reuse the fit's formulaic specs (factor levels, contrasts, transformations) for the
fixed part and for each term's columns, and the fitted levels of each grouping factor. A level of a
fixed-effect factor that the fit never saw is an error; a new grouping level contributes a zero
random effect when ``allow_new_levels`` is true and is an error otherwise.

``se_fit=True`` adds standard errors of the population-level (fixed) part x'beta-hat:
sqrt(diag(X V X')) with V = vcov(beta-hat), on the link scale; with ``type="response"`` (glmer)
they are carried to the mean by the delta method, |d mu / d eta| at the returned prediction times
the link-scale value. They ignore the uncertainty of the random effects and of theta.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from formulaic.errors import DataMismatchWarning

from . import arguments
from .formula import FormulaError, expression_variables, parse_formula
from .frame import DataError, on_caller_rows
from .terms import R_FUNCTIONS, evaluate_expression, factor_codes


def is_missing(value) -> bool:
    """NaN, pd.NA or None-like scalars (R users pass re.form = NA as np.nan)."""
    try:
        return not isinstance(value, str) and bool(pd.isna(value))
    except (TypeError, ValueError):  # array-likes: not a missing scalar
        return False


def terms_in(re_form, spec) -> list[int]:
    """Indices of the random-effects terms to include: all (None), none ("~0"), or those of a formula."""
    if re_form is None:
        return list(range(len(spec.terms)))
    if is_missing(re_form):  # R's re.form = NA: no random effects
        return []
    if not isinstance(re_form, str):
        raise FormulaError(f"re_form must be None (all random effects), NaN or '~0' (none) or a "
                           f"formula of bar terms such as '~(1 | g)', not {type(re_form).__name__} "
                           f"{re_form!r}")
    text = re_form.strip()
    if text.replace(" ", "") in ("~0", "NA", "~1", "0"):
        return []
    wanted = parse_formula(("y " + text) if text.startswith("~") else f"y ~ {text}").bars
    chosen = []
    for bar in wanted:
        matches = [i for i, t in enumerate(spec.terms) if t.bar.group == bar.group and
                   t.bar.lhs.replace(" ", "") == bar.lhs.replace(" ", "")]
        if not matches:
            raise FormulaError(f"re_form term {bar} is not a random-effects term of the model "
                               f"({', '.join(str(t.bar) for t in spec.terms)})")
        chosen.extend(matches)
    return sorted(set(chosen))


def _matrix(model_spec, data: pd.DataFrame, what: str) -> np.ndarray:
    try:
        # formulaic only warns about a level the fit never saw (factor(Days) = 11) and codes it as
        # the reference level: a silently wrong prediction
        with warnings.catch_warnings():
            warnings.simplefilter("error", DataMismatchWarning)
            matrix = model_spec.get_model_matrix(data, na_action="ignore", context=R_FUNCTIONS)
        return np.asarray(matrix, dtype=float)
    except Exception as error:  # formulaic: unseen level, missing column...
        raise DataError(f"cannot build the {what} for newdata: {error}") from error


def _check_fixed_levels(fit, newdata: pd.DataFrame, included: list[int]) -> None:
    """Categorical predictors (not grouping factors) must use levels the fit saw."""
    frame = fit.spec.frame.data
    names = set(expression_variables(fit.spec.formula.fixed))
    for i in included:
        names |= set(expression_variables(fit.spec.terms[i].bar.lhs))
    for name in sorted(str(n) for n in names):
        if name in newdata.columns and not pd.api.types.is_numeric_dtype(frame[name]):
            _, known = factor_codes(frame[name])
            values = newdata[name].astype(str)
            unseen = sorted(set(values.dropna()) - set(known))
            if unseen:
                raise DataError(f"newdata column {name!r} has level(s) {unseen} not in the fitted "
                                f"data (levels: {list(known)})")


def _group_codes(term, newdata: pd.DataFrame, allow_new_levels: bool) -> np.ndarray:
    for column in term.bar.factors:
        if column not in newdata.columns:
            raise DataError(f"newdata lacks grouping column {column!r} needed by {term.bar}; "
                            "add it or use re_form='~0'")
    labels = newdata[term.bar.factors[0]].map(lambda v: str(int(v)) if isinstance(v, float)
                                              and float(v).is_integer() else str(v))
    for column in term.bar.factors[1:]:
        labels = labels + ":" + newdata[column].astype(str)
    position = {level: i for i, level in enumerate(term.levels)}
    codes = np.array([position.get(label, -1) for label in labels], dtype=int)
    if (codes < 0).any() and not allow_new_levels:
        new = sorted(set(labels[codes < 0]))[:5]
        raise DataError(f"new level(s) {new} of {term.group!r} not in the fitted data; "
                        "use allow_new_levels=True to predict them with zero random effects")
    return codes


def _check_newdata(fit, newdata, included: list[int]) -> None:
    """newdata is a DataFrame with every column the fixed part, the offsets and the included
    random-effects terms read (else formulaic's own KeyError would be the message)."""
    spec = fit.spec
    if not isinstance(newdata, pd.DataFrame):
        raise DataError(f"newdata must be a pandas DataFrame with the model's columns, got "
                        f"{type(newdata).__name__}")
    parts = [("the fixed effects", [spec.formula.fixed]), ("the offset", list(spec.formula.offsets))]
    parts += [(f"the term {spec.terms[i].bar}", [spec.terms[i].bar.lhs]) for i in included]
    for role, expressions in parts:
        needed = sorted({str(n) for e in expressions for n in expression_variables(e)})
        missing = [n for n in needed if n not in newdata.columns]
        if missing:
            hint = "" if role == "the fixed effects" else " (or leave the term out with re_form)"
            raise DataError(f"newdata lacks column{'s' if len(missing) > 1 else ''} "
                            f"{', '.join(map(repr, missing))} used by {role}; add "
                            f"{'them' if len(missing) > 1 else 'it'}{hint}")


def predict(fit, newdata: pd.DataFrame | None = None, re_form=None, allow_new_levels: bool = False,
            type: str = "link", se_fit: bool = False, na_action: str = "omit"):
    """Predictions, a Series on ``newdata``'s index (default: the fit's rows, see
    ``frame.on_caller_rows`` for ``na_action``), or with ``se_fit`` a DataFrame with columns
    ``fit`` and ``se_fit``."""
    if type not in ("link", "response"):
        raise arguments.ArgumentError(f"type must be 'link' or 'response', not {type!r}")
    allow_new_levels = arguments.boolean(allow_new_levels, "allow_new_levels")
    se_fit = arguments.boolean(se_fit, "se_fit")
    na_action = arguments.na_action(na_action)  # (newdata has no dropped rows: checked, unused)
    spec = fit.spec
    included = terms_in(re_form, spec)
    if newdata is None:
        X = spec.fixed.X
        eta = fit.linear_predictor(included)
    else:
        modes = fit._term_modes()
        _check_newdata(fit, newdata, included)
        _check_fixed_levels(fit, newdata, included)
        X = _matrix(spec.fixed.spec, newdata, "fixed-effects matrix")[:, spec.fixed.kept_index]
        eta = X @ fit.beta
        for expression in spec.formula.offsets:
            eta = eta + evaluate_expression(expression, newdata, "offset")
        for i in included:
            term = spec.terms[i]
            codes = _group_codes(term, newdata, allow_new_levels)
            Xi = _matrix(term.spec, newdata, f"columns of {term.bar}")
            effect = np.where(codes[:, None] >= 0, modes[i][np.maximum(codes, 0)], 0.0)
            eta = eta + np.sum(Xi * effect, axis=1)
    if type == "link":
        value = eta
    elif newdata is None and len(included) == len(spec.terms):
        value = fit._fitted_values()  # the fit's own mean, not recomputed (to the last bit)
    else:
        value = fit._link_inverse(eta)
    columns = [value]
    if se_fit:
        se = np.sqrt(np.einsum("ij,jk,ik->i", X, fit.vcov_matrix, X))
        columns.append(se * np.abs(fit._link_derivative(eta)) if type == "response" else se)
    values = np.column_stack(columns) if se_fit else value
    names = dict(columns=["fit", "se_fit"]) if se_fit else dict(name="predict")
    if newdata is None:
        return on_caller_rows(spec.frame, values, na_action, **names)
    if se_fit:
        return pd.DataFrame(values, index=newdata.index, **names)
    return pd.Series(values, index=newdata.index, **names)
