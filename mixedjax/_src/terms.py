"""Model matrices: the fixed-effects X through formulaic, and one random-effects term per bar.

lme4 names columns as R's ``model.matrix`` does (``(Intercept)``, ``period2``,
``recipeB:temperature185``, ``I(Days^2)``); formulaic spells them ``Intercept``, ``period[T.2]``,
``I(Days ** 2)``. ``r_column_name`` maps one to the other. Grouping factors become integer codes
(never dummy matrices), with level labels as R's ``factor()`` makes them.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from formulaic import Formula

from . import covariance_structures
from .formula import R_CALLS, BarTerm, FormulaError, ParsedFormula, r_to_python
from .frame import DataError, ModelFrame

_R_SPELLING = {python: r for r, python in R_CALLS.items() if python != r}


def r_column_name(name: str) -> str:
    """formulaic's column name -> R's (``x[T.b]`` -> ``xb``, ``Intercept`` -> ``(Intercept)``,
    ``as_factor(g)[T.2]`` -> ``as.factor(g)2``, ``poly(x, 2, raw=True)[0]`` -> ``poly(x, 2, raw = TRUE)1``)."""
    if name == "Intercept":
        return "(Intercept)"
    # R numbers raw polynomial columns by degree, formulaic from 0
    name = re.sub(r"(poly\(.*raw=True.*\))\[(\d+)\]", lambda m: f"{m.group(1)}[{int(m.group(2)) + 1}]", name)
    name = re.sub(r"\[(?:T\.)?([^\]]*)\]", r"\1", name)
    name = re.sub(r"\b(" + "|".join(_R_SPELLING) + r")\(", lambda m: _R_SPELLING[m.group(1)] + "(", name)
    name = re.sub(r"\bTrue\b", "TRUE", re.sub(r"\bFalse\b", "FALSE", name))
    name = re.sub(r"(\w)=(?!=)", r"\1 = ", name)  # R deparses keyword arguments as 'raw = TRUE'
    # backticks stay only around names R cannot write bare
    name = re.sub(r"`([A-Za-z.][A-Za-z0-9._]*)`", r"\1", name)
    return name.replace(" ** ", "^").replace(" / ", "/")


def _r_factor(values) -> pd.Series:
    """R's ``factor(x)``: levels in category order, else the sorted values, labelled as R prints them."""
    codes, labels = factor_codes(pd.Series(values))
    categorical = pd.Categorical.from_codes(codes, categories=list(dict.fromkeys(labels)))
    return pd.Series(categorical, index=getattr(values, "index", None))


def _r_as_numeric(values, integer: bool = False) -> np.ndarray:
    """R's ``as.numeric``/``as.integer``: a factor gives its level numbers (1, 2, ...)."""
    series = pd.Series(values)
    if isinstance(series.dtype, pd.CategoricalDtype):
        return series.cat.codes.to_numpy(float) + 1
    if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
        raise DataError(f"as.numeric()/as.integer() of a {series.dtype} column: give it a numeric "
                        "or factor column")
    numbers = series.to_numpy(float)
    return np.trunc(numbers) if integer else numbers


# the functions formulaic evaluates for R's calls (formulaic's own poly, scale, C and I serve as they are)
R_FUNCTIONS = {"factor": _r_factor, "as_factor": _r_factor, "as_numeric": _r_as_numeric,
               "as_integer": lambda values: _r_as_numeric(values, integer=True),
               "log": np.log, "exp": np.exp, "sqrt": np.sqrt, "abs": np.abs}


@functools.lru_cache(maxsize=1024)
def _parsed_formula(python_rhs: str) -> Formula:
    """formulaic's parse of a right-hand side (cached: a pure function of the text; a model's
    formula is parsed for every fit otherwise)."""
    return Formula(python_rhs)


def _model_matrix(rhs: str, frame: pd.DataFrame, what: str):
    try:
        matrix = _parsed_formula(r_to_python(rhs)).get_model_matrix(frame, na_action="ignore",
                                                                     context=R_FUNCTIONS)
    except Exception as error:  # formulaic raises many types; name the term for the user
        raise FormulaError(f"cannot build the {what} from {rhs!r}: {error}") from error
    values = np.asarray(matrix, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    bad = ~np.isfinite(values).all(axis=0)
    if bad.any():
        names = [c for c, b in zip(matrix.columns, bad) if b]
        raise DataError(f"the {what} column(s) {names} have non-finite values (e.g. log of 0)")
    return values, tuple(r_column_name(str(c)) for c in matrix.columns), matrix.model_spec


def evaluate_expression(expression: str, frame: pd.DataFrame, what: str) -> np.ndarray:
    """Evaluate one R-style expression (``Reaction``, ``log(y)``, ``size - incidence``) to floats."""
    expression = expression.strip()
    if expression in frame.columns:
        column = frame[expression]
        if isinstance(column.dtype, pd.CategoricalDtype) or not (
                pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)):
            raise DataError(f"{what} column {expression!r} must be numeric, not {column.dtype}; "
                            "convert it (for a two-level factor response use glmer with binomial)")
        return column.to_numpy(dtype=float)
    values, _, _ = _model_matrix(f"0 + {{{expression}}}", frame, what)
    return values[:, 0]


def full_rank_columns(X: np.ndarray, tol: float = 1e-7) -> np.ndarray:
    """Indices of columns kept when dropping linearly dependent ones, left to right, as R's QR does."""
    kept, basis = [], np.zeros((X.shape[0], 0))
    for j in range(X.shape[1]):
        column = X[:, j]
        norm = np.linalg.norm(column)
        residual = column - basis @ (basis.T @ column) if basis.shape[1] else column
        if norm > 0 and np.linalg.norm(residual) > tol * norm:
            kept.append(j)
            basis = np.column_stack([basis, residual / np.linalg.norm(residual)])
    return np.asarray(kept, dtype=int)


@dataclass(frozen=True)
class FixedEffectsMatrix:
    """X (n x p, full column rank) with lme4's column names; ``spec`` rebuilds X for new data."""

    X: np.ndarray
    names: tuple[str, ...]
    spec: object = field(repr=False)
    dropped: tuple[str, ...] = ()
    kept_index: np.ndarray = field(default=None, repr=False)


def fixed_effects_matrix(parsed: ParsedFormula, frame: ModelFrame) -> FixedEffectsMatrix:
    X, names, spec = _model_matrix(parsed.fixed, frame.data, "fixed-effects model matrix")
    kept = full_rank_columns(X)
    dropped = tuple(n for j, n in enumerate(names) if j not in set(kept.tolist()))
    return FixedEffectsMatrix(X[:, kept], tuple(names[j] for j in kept), spec, dropped, kept)


def _level_label(value) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def factor_codes(column: pd.Series) -> tuple[np.ndarray, tuple[str, ...]]:
    """Integer codes and labels of R's ``factor(column)``: category order, else sorted values."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        column = column.cat.remove_unused_categories()
        return column.cat.codes.to_numpy(np.int64), tuple(_level_label(c) for c in column.cat.categories)
    codes, uniques = pd.factorize(column, sort=True)
    return codes.astype(np.int64), tuple(_level_label(u) for u in uniques)


def grouping_factor(bar: BarTerm, frame: pd.DataFrame) -> tuple[np.ndarray, tuple[str, ...]]:
    """Codes and labels of a grouping factor; ``a:b`` levels are ``"la:lb"``, ``a`` slowest."""
    codes, labels = factor_codes(frame[bar.factors[0]])
    for name in bar.factors[1:]:
        more_codes, more_labels = factor_codes(frame[name])
        combined = codes * len(more_labels) + more_codes
        used, codes = np.unique(combined, return_inverse=True)
        labels = tuple(f"{labels[u // len(more_labels)]}:{more_labels[u % len(more_labels)]}"
                       for u in used)
    return codes.astype(np.int64), labels


@dataclass(frozen=True)
class RandomEffectsTerm:
    """One random-effects term ``(lhs | group)``: b_g ~ N(0, sigma^2 T T'), T lower triangular.

    ``codes[j]`` is observation j's level of the grouping factor and ``X[j]`` its row of the
    term's raw model matrix, so that Z's row j is ``e_codes[j]' (x) X[j]'``.
    """

    bar: BarTerm
    codes: np.ndarray
    levels: tuple[str, ...]
    X: np.ndarray
    column_names: tuple[str, ...]
    spec: object = field(repr=False)

    @property
    def group(self) -> str:
        return self.bar.group

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def n_columns(self) -> int:
        return self.X.shape[1]

    @property
    def structure(self) -> str:
        return self.bar.structure

    @property
    def n_theta(self) -> int:
        return covariance_structures.n_parameters(self.structure, self.n_columns)

    def theta_names(self) -> list[str]:
        """lme4's names: ``g.a`` on the diagonal, ``g.a.b`` below it, column by column; for
        ``diag`` and ``cs`` ``g.a`` per column (its SD), for ``ar1`` ``g.a`` (of the first column:
        the SD all share); ``g.rho.angle`` for the angle phi of cs's and ar1's correlation."""
        if self.structure in ("diag", "cs"):
            names = [f"{self.group}.{c}" for c in self.column_names]
            return names + ([f"{self.group}.rho.angle"] if self.structure == "cs" else [])
        if self.structure == "ar1":
            return [f"{self.group}.{self.column_names[0]}", f"{self.group}.rho.angle"]
        names = []
        for j, col_j in enumerate(self.column_names):
            for i in range(j, self.n_columns):
                names.append(f"{self.group}.{col_j}" if i == j
                             else f"{self.group}.{self.column_names[i]}.{col_j}")
        return names


def random_effects_terms(parsed: ParsedFormula, frame: ModelFrame,
                         allow_n: bool = False) -> list[RandomEffectsTerm]:
    """One term per bar, in lme4's order (by decreasing number of levels, as ``mkReTrms``).

    ``allow_n`` (lme4's allow.n, which glmer sets): a grouping factor may have as many levels as
    observations (an observation-level random effect for overdispersion); lmer needs fewer."""
    terms = []
    n = len(frame.data)
    for bar in parsed.bars:
        codes, levels = grouping_factor(bar, frame.data)
        X, names, spec = _model_matrix(bar.lhs, frame.data, f"random-effects term {bar}")
        if X.shape[1] == 0:
            raise FormulaError(f"random-effects term {bar} has no columns: use (1 | {bar.group}) "
                               "for a random intercept")
        check_structure(bar, names, spec)
        if len(levels) < 2:
            raise DataError(f"grouping factor {bar.group!r} has {len(levels)} level: grouping "
                            "factors must have > 1 sampled level")
        if len(levels) > n or (len(levels) == n and not allow_n):
            raise DataError(f"number of levels of each grouping factor must be "
                            f"{'<=' if allow_n else '<'} number of observations (problems: "
                            f"{bar.group}: {len(levels)} levels, {n} rows)")
        terms.append(RandomEffectsTerm(bar, codes, levels, X, names, spec))
    n_levels = [t.n_levels for t in terms]
    if any(b > a for a, b in zip(n_levels, n_levels[1:])):
        ascending = sorted(range(len(terms)), key=lambda i: n_levels[i])  # stable, as R's order()
        terms = [terms[i] for i in reversed(ascending)]
    return terms


def check_structure(bar: BarTerm, column_names: tuple[str, ...], spec) -> None:
    """The columns a structured term needs: two or more for cs (one correlation among them), and
    for ar1 the indicator columns of one time factor, without an intercept (glmmTMB's
    ``ar1(0 + t | g)``: the correlation of the effects at times i and j is rho^|i-j|, by the
    order of t's levels)."""
    if bar.structure == "cs" and len(column_names) < 2:
        raise FormulaError(f"{bar} has one column, so no correlation for cs() to share: write "
                           f"({bar.lhs} | {bar.group}), or cs() over two or more effects")
    if bar.structure != "ar1":
        return
    factors = [term for term in spec.terms if str(term) != "1"]
    fix = f"write ar1(0 + t | {bar.group}) with t a factor of the time points (factor(t) for a number)"
    if "(Intercept)" in column_names:
        raise FormulaError(f"{bar} has an intercept: ar1() correlates one effect per time point; {fix}")
    # formulaic names a factor's indicator columns t[a], t[b], ...
    if len(factors) != 1 or len(column_names) < 2 or not all("[" in str(c) for c in spec.column_names):
        raise FormulaError(f"{bar} needs the levels of one factor as its columns ({len(column_names)} "
                           f"column(s) from {', '.join(map(str, factors)) or 'no term'}); {fix}")


def check_identifiable(terms: list[RandomEffectsTerm], n_obs: int, allow_n: bool = False) -> None:
    """lme4's check.nobs.vs.nRE: each term must have fewer random effects than observations
    (``allow_n``, glmer's: no more random effects than observations)."""
    for term in terms:
        q = term.n_levels * term.n_columns
        if n_obs < q or (n_obs == q and not allow_n):
            raise DataError(f"number of observations (={n_obs}) {'<' if allow_n else '<='} number "
                            f"of random effects (={q}) "
                            f"for term {term.bar}; the random-effects parameters and the residual "
                            "variance (or scale parameter) are probably unidentifiable")
