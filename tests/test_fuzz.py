"""Fuzz test: formulas, column dtypes and argument values drawn at random, on small data.

Every case must end in a fit or in one of mixedjax's own errors (FormulaError, DataError,
ArgumentError); an exception of any other type (from numpy, JAX, formulaic, pandas or Python
itself) fails the test and prints the case, with the seed that redraws it. A fit whose estimates
are not finite must have said so with a ConvergenceWarning (never a silent NaN).

Cases are drawn from a seeded numpy generator (``MIXEDJAX_FUZZ_SEED``, default 0), one generator
per case so that any case is redrawn alone. CI runs ``MIXEDJAX_FUZZ_CASES`` cases (default 40,
under a minute on 2 cores once the few model structures are compiled: the term pools are small
so that cases share compiled programs); ``benchmarks/bench_fuzz.py`` runs thousands.
"""
from __future__ import annotations

import os
import traceback
import warnings
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

import mixedjax as mj

OWN_ERRORS = (mj.FormulaError, mj.DataError, mj.ArgumentError, mj.ConvergenceError)
N_ROWS = 48
INVALID = 0.1  # the chance that one part of a case (a term, a column, an argument) is bad

# CI draws model structures from the "core" pools only (each new structure compiles: about 5 s for
# lmer, 20 s for glmer on 2 cores); the long run adds the "wide" ones. One-column fixed terms, so
# that fixed parts of 0-2 terms give few distinct model matrix widths.
FIXED = {"core": ["x", "z", "I(x^2)", "log(pos)", "`a.b`", "h", "x:z", "np.exp(z)"],
         "wide": ["f", "x * f", "C(h)", "poly(x, 2)", "x:f", "0", "-1", "1", "x + z", "I(z - 1)"]}
FIXED_INVALID = ["nonexistent", ".", "x +", "(x", "log(", "x:nonexistent", "`a`.b`", "y ~ x", "x |",
                 "np.nonexistent(x)", "1/0", "f(x)", "a.b"]
RANDOM = {"core": ["(1 | g)", "(x | g)", "(1 | g)"],
          "wide": ["(1 | g/h)", "(1 | g:h)", "(x || g)", "(0 + x | g)", "(1 | h)", "(1 | f)",
                   "(`a.b` | g)", "((1 | g))", "(1 | g) + (1 | h)", "(z + x | g)", "(1 | g) + (0 + x | g)"]}
RANDOM_INVALID = ["(1 | nonexistent)", "(1 | )", "( | g)", "1 | g", "(1 | g/)", "(1 | x)",
                  "(nonexistent | g)", "(1 | g", "(1 || )", "(0 | g)", "(1 | g) - (1 | g)", "(1 | 1)"]
RESPONSES = {"gaussian": ["y", "log(pos)", "`a.b`", "y"], "binomial": ["yb", "cbind(s, fail)", "two_levels"],
             "poisson": ["yc"], "Gamma": ["pos"]}
RESPONSES_INVALID = ["label", "missing_response", "y + ", "cbind(s)", "f", "nonexistent(y)", "yb"]
SYNTAX_NOISE = list("+()|~*:/^`.,-") + ["||", "~~", " ", "0"]
DTYPE_CHANGES = ["object", "category", "str", "int", "nan", "none", "nullable", "pd.NA"]
DTYPE_CHANGES_INVALID = ["inf", "bool", "constant", "mixed", "datetime", "complex"]
COLUMNS = ["y", "x", "z", "f", "g", "h", "pos", "yb", "yc", "w", "off", "a.b"]


def fuzz_data() -> pd.DataFrame:
    rng = np.random.default_rng(20261201)
    g = np.repeat(np.arange(8), N_ROWS // 8)
    h = np.tile(np.arange(1, 4), N_ROWS // 3)
    x = rng.normal(size=N_ROWS)
    z = rng.uniform(0, 3, N_ROWS)
    eta = 0.5 * x + rng.normal(0, 0.6, 8)[g]
    trials = rng.integers(1, 6, N_ROWS)
    s = rng.binomial(trials, 1 / (1 + np.exp(-eta)))
    return pd.DataFrame({
        "y": 3 + x + rng.normal(0, 1, 8)[g] + rng.normal(0, 0.5, N_ROWS), "x": x, "z": z,
        "f": rng.choice(["lo", "mid", "hi"], N_ROWS), "g": [f"g{i}" for i in g], "h": h,
        "pos": np.exp(eta) + 0.1, "yb": (rng.random(N_ROWS) < 1 / (1 + np.exp(-eta))).astype(float),
        "yc": rng.poisson(np.exp(eta)).astype(float), "s": s.astype(float),
        "fail": (trials - s).astype(float), "w": rng.uniform(0.5, 2, N_ROWS),
        "off": rng.normal(0, 0.1, N_ROWS), "a.b": rng.normal(size=N_ROWS),
        "label": rng.choice(["a", "b", "c"], N_ROWS), "two_levels": rng.choice(["no", "yes"], N_ROWS)})


@dataclass
class Case:
    """One drawn call: what it fits and with which arguments, printable to reproduce it."""

    index: int
    function: str
    formula: str
    kwargs: dict
    changes: list = field(default_factory=list)
    after: str | None = None

    def __str__(self) -> str:
        shown = {k: (f"array{v.shape}" if isinstance(v, np.ndarray) else
                     f"list[{len(v)}]" if isinstance(v, list) and len(v) > 5 else v)
                 for k, v in self.kwargs.items()}
        return (f"case {self.index}: mj.{self.function}({self.formula!r}, data, **{shown}); "
                f"dtype changes {self.changes}; then {self.after}")


def _pick(rng, options):
    return options[int(rng.integers(len(options)))]


def _draw(rng, valid: dict | list, invalid: list, wide: bool):
    """A valid option (from the core or also the wide pool), or with chance INVALID a bad one."""
    if rng.random() < INVALID:
        return _pick(rng, invalid)
    if isinstance(valid, dict):
        valid = valid["core"] + (valid["wide"] if wide else [])
    return _pick(rng, valid)


def _change_column(rng, data: pd.DataFrame, column: str, change: str) -> None:
    rows = rng.choice(N_ROWS, size=int(rng.integers(1, 4)), replace=False)
    values = data[column]
    numeric = pd.api.types.is_numeric_dtype(values)
    if change == "object":
        data[column] = values.astype(object)
    elif change == "category" and not numeric:
        data[column] = values.astype("category")
    elif change == "str" and not pd.api.types.is_float_dtype(values):
        data[column] = values.astype(str)
    elif change == "int" and numeric:
        data[column] = np.round(values).astype(np.int64)
    elif change == "nan" and pd.api.types.is_float_dtype(values):
        data.loc[rows, column] = np.nan
    elif change == "none":
        data[column] = values.astype(object)
        data.loc[rows, column] = None
    elif change == "inf" and pd.api.types.is_float_dtype(values):
        data.loc[rows, column] = _pick(rng, [np.inf, -np.inf])
    elif change == "bool":
        data[column] = values == values.iloc[0]
    elif change == "constant":
        data[column] = values.iloc[0]
    elif change == "nullable":  # pandas' extension types: Int64, Float64, string, boolean
        data[column] = values.astype("Float64" if pd.api.types.is_float_dtype(values) else
                                     "Int64" if numeric else "string")
    elif change == "pd.NA":
        data[column] = values.astype("Float64" if numeric else "string")
        data.loc[rows, column] = pd.NA
    elif change == "datetime":
        data[column] = pd.Timestamp("2020-01-01") + pd.to_timedelta(np.arange(N_ROWS), unit="D")
    elif change == "complex" and numeric:
        data[column] = values.astype(complex)
    elif change == "mixed":
        data[column] = values.astype(object)
        data.loc[rows, column] = _pick(rng, ["a", 1.5, True])


def _formula(rng, family: str, wide: bool) -> str:
    response = _draw(rng, RESPONSES[family], RESPONSES_INVALID, wide)
    # core: lmer fixed parts of 0-1 terms, glmer of 1, and one random term (about 5 structures)
    n_fixed = int(rng.integers(0, 3)) if wide else 1 if family != "gaussian" else int(rng.integers(0, 2))
    fixed = [_draw(rng, FIXED, FIXED_INVALID, wide) for _ in range(n_fixed)]
    pool = RANDOM if wide or family == "gaussian" else ["(1 | g)"]
    random = [_draw(rng, pool, RANDOM_INVALID, wide) for _ in range(1 + int(wide and rng.random() < 0.15))]
    text = f"{response} ~ {' + '.join(fixed + random)}"
    if rng.random() < INVALID:  # malformed syntax: a character inserted, deleted or replaced
        position = int(rng.integers(len(text)))
        what = _pick(rng, ["insert", "delete", "replace"])
        noise = _pick(rng, SYNTAX_NOISE)
        text = (text[:position] + noise + text[position:] if what == "insert" else
                text[:position] + text[position + 1:] if what == "delete" else
                text[:position] + noise + text[position + 1:])
    return text


def _vector_option(rng, column: str, valid_array: np.ndarray, wide: bool) -> object:
    rows = np.arange(N_ROWS)
    return _draw(rng, [column, valid_array, valid_array.tolist()],
                 ["nonexistent", valid_array[:5], np.where(rows == 3, np.inf, valid_array),
                  np.where(rows == 3, np.nan, valid_array), -valid_array, np.zeros(N_ROWS),
                  valid_array.astype(str).tolist(), "f", "g", {"a": 1}, 2.0], wide)


def draw_case(seed: int, index: int, data: pd.DataFrame, wide: bool = False) -> tuple[Case, pd.DataFrame]:
    rng = np.random.default_rng([seed, index])
    weights = data["w"].to_numpy()
    data = data.copy()
    changes = []
    for _ in range(int(rng.integers(1, 3)) if rng.random() < 0.4 else 0):
        column, change = _pick(rng, COLUMNS), _draw(rng, DTYPE_CHANGES, DTYPE_CHANGES_INVALID, wide)
        _change_column(rng, data, column, change)
        changes.append((column, change))
    glmm = rng.random() < 0.2
    families = ["binomial", "poisson", "Gamma"] if wide else ["binomial"]
    family = _pick(rng, families) if glmm else "gaussian"
    kwargs = {}
    if rng.random() < 0.25:
        kwargs["weights"] = _vector_option(rng, "w", weights, wide)
    if rng.random() < 0.2:
        kwargs["offset"] = _vector_option(rng, "off", np.full(N_ROWS, 0.1), wide)
    if rng.random() < 0.1:
        kwargs["start"] = _draw(rng, [[0.5], [1.0]], [[np.nan], [1.0, 0.0, 1.0], "a", [[1.0]], [np.inf]], wide)
    if rng.random() < 0.1:
        kwargs["max_iterations"] = _draw(rng, [3, 50], [0, 2.5, "10", None], wide)
    if glmm:
        kwargs["family"] = _draw(rng, [family, getattr(mj, family)()],
                                 [f"{family}x", None, mj.gaussian, 3, "gaussian"], wide)
        if rng.random() < 0.4:
            kwargs["nAGQ"] = _draw(rng, [0, 1, 2, 5] if wide else [0, 1], [2.5, -1, "1", 101, None], wide)
    elif rng.random() < 0.5:
        kwargs["REML"] = _draw(rng, [True, False, np.bool_(True)], ["FALSE", None, 1, 0.0], wide)
    after = _pick(rng, [None, None, "summary", "refit", "refit_short", "refit_nan", "simulate_bad",
                        "confint_wald", "confint_bad_level", "bootstrap_bad", "refit_batch_bad"])
    return Case(index, "glmer" if glmm else "lmer", _formula(rng, family, wide), kwargs, changes,
                after), data


def _after_fit(fit, case: Case, data: pd.DataFrame) -> None:
    y = np.asarray(fit.y, float)
    if case.after == "summary":
        str(fit.summary())
    elif case.after == "refit" and case.function == "lmer":
        fit.refit(y[::-1].copy())
    elif case.after == "refit_short" and case.function == "lmer":
        fit.refit(y[:-3])
    elif case.after == "refit_nan" and case.function == "lmer":
        fit.refit(np.where(np.arange(len(y)) == 0, np.nan, y))
    elif case.after == "simulate_bad":
        fit.simulate(-1)
    elif case.after == "confint_wald":
        fit.confint("Wald")
    elif case.after == "confint_bad_level":
        fit.confint("Wald", level=95)
    elif case.after == "bootstrap_bad":
        fit.bootstrap(0)
    elif case.after == "refit_batch_bad":  # counts for a binomial fit, a wrong shape for lmer
        fit.refit_batch(np.full((len(y), 2), 3.0) if case.function == "glmer" else y[:, None][:-1])


def _estimates_finite(fit) -> bool:
    values = [fit.beta, fit.theta_values, np.atleast_1d(fit.sigma), np.diag(fit.vcov_matrix)]
    return all(np.all(np.isfinite(np.asarray(v, float))) for v in values)


def run_case(case: Case, data: pd.DataFrame) -> tuple[str, str | None]:
    """(outcome, failure text or None): "fit", or the name of the mixedjax error raised."""
    function = mj.lmer if case.function == "lmer" else mj.glmer
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = function(case.formula, data, **case.kwargs)
        except OWN_ERRORS as error:
            return type(error).__name__, None
        except Exception:  # noqa: BLE001 (any other type is what the fuzz looks for)
            return "foreign", f"{case}\n{traceback.format_exc()}"
        if not _estimates_finite(fit) and not any(issubclass(w.category, mj.ConvergenceWarning)
                                                  for w in caught):
            return "silent NaN", f"{case}\nnon-finite estimates without a ConvergenceWarning"
        try:
            _after_fit(fit, case, data)
        except OWN_ERRORS as error:
            return f"fit, then {type(error).__name__}", None
        except Exception:  # noqa: BLE001 (any other type is what the fuzz looks for)
            return "foreign", f"{case}\n{traceback.format_exc()}"
    return "fit", None


def run_fuzz(n_cases: int, seed: int, wide: bool = False) -> tuple[Counter, list[str]]:
    data = fuzz_data()
    outcomes, failures = Counter(), []
    for index in range(n_cases):
        case, case_data = draw_case(seed, index, data, wide)
        outcome, failure = run_case(case, case_data)
        outcomes[outcome] += 1
        if failure:
            failures.append(failure)
    return outcomes, failures


def test_fuzz_outcomes_are_fits_or_mixedjax_errors():
    n_cases = int(os.environ.get("MIXEDJAX_FUZZ_CASES", "40"))
    seed = int(os.environ.get("MIXEDJAX_FUZZ_SEED", "0"))
    outcomes, failures = run_fuzz(n_cases, seed)
    print(f"fuzz seed {seed}: {n_cases} cases, outcomes {dict(outcomes)}")
    assert not failures, (f"{len(failures)} of {n_cases} cases (MIXEDJAX_FUZZ_SEED={seed}) ended "
                          "outside mixedjax's errors:\n\n" + "\n\n".join(failures))
    assert outcomes["fit"] + sum(v for k, v in outcomes.items() if k.startswith("fit,")) >= n_cases // 5, \
        f"too few cases reached a fit to test much: {dict(outcomes)}"
