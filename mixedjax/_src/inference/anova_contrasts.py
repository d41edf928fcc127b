"""Hypothesis matrices of lmerTest's type I and type III ANOVA tables, one per model term.

Type I (sequential): with X'X = L U (Doolittle: L unit lower triangular, entries below 1e-6 set to
0), the rows of L' belonging to a term's columns of X.

Type III (lmerTest's construction for treatment coding): let X_full hold, for every term, all cells
of its factors (``model.matrix(~ 0 + term)``: all levels of each factor, times its numeric
variables) next to the intercept. Row c of L0 = (X^+ X_full)' expresses cell c in X's coefficients.
Then, from the highest-order terms down, the columns of L0 belonging to a term are replaced by their
least-squares residuals on the columns of the terms that contain it (same numeric variables, a
strict superset of its factors), which makes each term's hypothesis orthogonal to the terms that
contain it. The type III hypothesis of a term has one row per X column of the term: row a is column
a of that matrix restricted to the cells that are also X's columns; zero rows are dropped. (Entries
are zapsmall()-ed at each step, as lmerTest does.)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from formulaic import model_matrix

from ..display import r_zapsmall
from ..terms import R_FUNCTIONS, r_column_name

ZERO_ROW_TOL = 1e-8     # lmerTest drops hypothesis rows with sum |L| below this
DOOLITTLE_EPS = 1e-6    # lmerTest's doolittle(): entries below this are set to 0


@dataclass(frozen=True)
class ModelTerm:
    """One fixed-effects term: its R label, variables (expression, levels or None for numeric)
    and the indices of its columns in X."""

    label: str
    variables: tuple
    columns: tuple


def zapsmall(values: np.ndarray) -> np.ndarray:
    return np.asarray(r_zapsmall(np.asarray(values, float).ravel()), float).reshape(np.shape(values))


def model_terms(fixed) -> tuple[list[ModelTerm], bool]:
    """(terms other than the intercept, has_intercept) from formulaic's model spec of X."""
    spec, names = fixed.spec, list(fixed.names)
    terms, has_intercept = [], False
    for structure in spec.structure:
        factors = [str(f.expr) for f in structure.term.factors]
        if factors == ["1"]:
            has_intercept = True
            continue
        variables = []
        for expr in factors:
            kind, state = spec.encoder_state[expr]
            categorical = getattr(kind, "value", kind) == "categorical"
            variables.append((expr, tuple(state["categories"]) if categorical else None))
        columns = tuple(names.index(r_column_name(c)) for c in structure.columns
                        if r_column_name(c) in names)
        terms.append(ModelTerm(r_column_name(str(structure.term)), tuple(variables), columns))
    return terms, has_intercept


def _factor_values(expr: str, data: pd.DataFrame):
    """A factor's values: a column, or a call such as ``as_factor(half)`` (formulaic's spelling of
    R's ``as.factor(half)``), evaluated as formulaic evaluated it for X."""
    if expr in data.columns:
        return data[expr]
    namespace = dict(R_FUNCTIONS)
    for i, column in enumerate(data.columns):  # backticked names (`total.fruits`) as identifiers
        namespace[f"_column_{i}"] = data[column]
        expr = expr.replace(f"`{column}`", f"_column_{i}")
    namespace.update({str(c): data[c] for c in data.columns if str(c).isidentifier()})
    return np.asarray(eval(expr, {"__builtins__": {}}, namespace))


def _variable_columns(expr: str, levels, data: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """All level dummies of a factor, or the numeric variable's one column, with R's names."""
    if levels is not None:
        codes = pd.Categorical(_factor_values(expr, data), categories=list(levels)).codes
        return (codes[:, None] == np.arange(len(levels))[None, :]).astype(float), \
            [f"{r_column_name(expr)}{level}" for level in levels]
    values = np.asarray(model_matrix(f"0 + {expr}", data, na_action="ignore", context=R_FUNCTIONS), float)
    return values[:, :1], [r_column_name(expr)]


def cell_matrix(term: ModelTerm, data: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """``model.matrix(~ 0 + term)``: products of the variables' columns, the first varying fastest."""
    matrix, names = np.ones((len(data), 1)), [""]
    for expr, levels in term.variables:
        values, labels = _variable_columns(expr, levels, data)
        matrix = (matrix[:, None, :] * values[:, :, None]).reshape(len(data), -1)
        names = [f"{a}:{b}" if a else b for b in labels for a in names]
    return matrix, names


def containing_terms(term: ModelTerm, terms: list[ModelTerm]) -> list[ModelTerm]:
    """Terms whose variables strictly include ``term``'s, with the same numeric variables."""
    own = {expr for expr, _ in term.variables}
    numeric = {expr for expr, levels in term.variables if levels is None}
    out = []
    for other in terms:
        theirs = {expr for expr, _ in other.variables}
        if own < theirs and numeric == {expr for expr, levels in other.variables if levels is None}:
            out.append(other)
    return out


def type1_hypotheses(X: np.ndarray, terms: list[ModelTerm]) -> dict[str, np.ndarray]:
    """Sequential hypotheses: rows of D^{-1} R for X'X = R'R (R upper, D = diag R), i.e. the
    transposed unit lower factor of the Doolittle decomposition."""
    p = X.shape[1]
    if p == 0:
        return {}
    R = np.linalg.cholesky(X.T @ X).T
    unit_upper = R / np.diag(R)[:, None]
    unit_upper[np.abs(unit_upper) < DOOLITTLE_EPS] = 0.0
    return {term.label: unit_upper[list(term.columns)] for term in terms}


def type3_hypotheses(X: np.ndarray, names: list[str], terms: list[ModelTerm], has_intercept: bool,
                     data: pd.DataFrame) -> dict[str, np.ndarray]:
    """lmerTest's type III hypotheses (see the module docstring); type I when X has one column or
    the model one term, as lmerTest."""
    if X.shape[1] <= 1 or len(terms) <= 1:
        return type1_hypotheses(X, terms)
    blocks, cell_names = ([np.ones((X.shape[0], 1))], ["(Intercept)"]) if has_intercept else ([], [])
    for term in terms:
        cells, labels = cell_matrix(term, data)
        blocks.append(cells)
        cell_names += labels
    L = zapsmall((np.linalg.pinv(X) @ np.hstack(blocks)).T)
    order = sorted(range(len(terms)), key=lambda i: -len(terms[i].variables))  # stable, as R's order
    for i in order:
        term = terms[i]
        containing = [c for other in containing_terms(term, terms) for c in other.columns]
        if containing and term.columns:
            basis = L[:, containing]
            target = L[:, list(term.columns)]
            coefficients = np.linalg.lstsq(basis, target, rcond=None)[0]
            L[:, list(term.columns)] = zapsmall(target - basis @ coefficients)
    missing = [n for n in names if n not in cell_names]
    if missing:
        raise ValueError(f"type III hypotheses: fixed-effect columns {missing} are not cells of the "
                         "model's terms; use type=1")
    L = L[[cell_names.index(n) for n in names]]
    out = {}
    for term in terms:
        hypothesis = L[:, list(term.columns)].T
        out[term.label] = hypothesis[np.sum(np.abs(hypothesis), axis=1) > ZERO_ROW_TOL]
    return out
