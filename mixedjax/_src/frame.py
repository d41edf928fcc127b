"""The model frame: the rows and columns a model uses, with missing values removed as na.omit does.

Everything that touches the user's DataFrame happens here and in ``terms.py``; the caller's frame is
never modified (we work on a copy of the used columns).
"""
from __future__ import annotations

import difflib
import functools
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import arguments
from .formula import (
    R_CALLS,
    FormulaError,
    ParsedFormula,
    _split_top_level,
    expression_variables,
    r_to_python,
)
from .errors import DataError, MissingValuesWarning


@dataclass(frozen=True)
class ModelFrame:
    """The complete-case rows of the used columns.

    ``data`` holds only the used columns, with unused categories removed; ``kept`` is a boolean mask
    over the caller's rows; ``n_dropped`` counts the rows removed for missing values.
    """

    data: pd.DataFrame
    kept: np.ndarray
    n_dropped: int
    dropped_columns: tuple[str, ...]
    weights: np.ndarray
    offset: np.ndarray
    weights_name: str | None = None  # the column named by weights=, printed by summary
    offset_name: str | None = None
    row_index: pd.Index | None = None  # the caller's row labels of the kept rows
    caller_index: pd.Index | None = None  # every row label of the caller's data (na.exclude's rows)


def _variables(expression: str) -> frozenset[str]:
    return _variables_of(expression.strip())


@functools.lru_cache(maxsize=1024)
def _variables_of(expression: str) -> frozenset[str]:
    """The data columns an R expression reads (cached: parsing is a pure function of the text,
    and a notebook fits the same formulas again and again)."""
    if not expression:
        return frozenset()
    if re.fullmatch(r"cbind\s*\(.*\)", expression, flags=re.S):  # binomial cbind(successes, failures)
        inner = expression[expression.index("(") + 1:-1]
        return frozenset().union(*(_variables(part) for part in _split_top_level(inner, ",")))
    # our own reading, not formulaic's required_variables: that misses the variables inside its
    # stateful transforms (poly(x, 2), scale(x)) and splits a backticked `a.b` at the dot
    return expression_variables(expression)


def used_columns(parsed: ParsedFormula) -> list[str]:
    """Every data column the formula refers to, in a stable order."""
    names: set[str] = set()
    names |= _variables(parsed.response)
    names |= _variables(parsed.fixed)
    for offset in parsed.offsets:
        names |= _variables(offset)
    for bar in parsed.bars:
        names |= _variables(bar.lhs)
        names |= set(bar.factors)
    return sorted(str(n) for n in names)


def _missing_column_error(name: str, data: pd.DataFrame, role: str) -> DataError:
    close = difflib.get_close_matches(name, [str(c) for c in data.columns], n=3)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else \
        f"; the data has columns {', '.join(map(str, list(data.columns)[:12]))}"
    return DataError(f"column {name!r} ({role}) not found in data{hint}")


def _check_unique(names, data: pd.DataFrame) -> None:
    duplicated = [n for n in dict.fromkeys(names) if np.count_nonzero(data.columns == n) > 1]
    if duplicated:
        raise DataError(f"data has more than one column named {', '.join(map(repr, duplicated))}; "
                        "rename them so that each name the model uses is unique")


def _check_shadowed_calls(parsed: ParsedFormula, columns: list[str]) -> None:
    """formulaic looks names up in the data first: a column named ``I`` hides the call ``I()``."""
    text = " ".join(r_to_python(part) for part in
                    [parsed.response, parsed.fixed, *parsed.offsets, *(b.lhs for b in parsed.bars)])
    evaluated_calls = set(R_CALLS.values()) - {"offset", "cbind"}  # these two we read ourselves
    for name in columns:
        if name in evaluated_calls and re.search(rf"(?<![\w.`]){re.escape(name)}\s*\(", text):
            raise FormulaError(f"column {name!r} has the name of the call {name}() that the formula "
                               f"also uses; rename the column (e.g. data.rename(columns={{{name!r}: "
                               f"'{name}_'}})) to use both")


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _all_numbers(values) -> bool:
    return all(_is_number(v) or v is None for v in values)


def _check_column_types(frame: pd.DataFrame) -> None:
    """Numbers, booleans, strings and factors only: dates, durations and complex numbers have no
    meaning in a model matrix (formulaic fails on them, or numpy drops an imaginary part)."""
    for name in frame.columns:
        dtype = frame[name].dtype
        if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype) \
                or pd.api.types.is_complex_dtype(dtype) or isinstance(dtype, (pd.PeriodDtype, pd.IntervalDtype)):
            raise DataError(f"column {name!r} has type {dtype}, which a model cannot use; convert it to "
                            "numbers (e.g. days since the first date: (d - d.min()).dt.days) or, "
                            "for a factor, to strings (astype(str))")


def _numbers_as_floats(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns holding only numbers (and missing values) become float columns, as the
    numeric vectors R would have (formulaic would read them as factors); object columns mixing
    numbers with other values are an error."""
    for name in frame.columns:
        column = frame[name]
        if column.dtype != object:
            continue
        present = column[column.notna()]
        is_number = present.map(_is_number)
        if len(present) and is_number.all():
            frame[name] = column.astype(float)
        elif is_number.any():
            example = present[~is_number.to_numpy()].iloc[0]
            raise DataError(f"column {name!r} mixes numbers with other values (e.g. {example!r}); "
                            f"convert it: data[{name!r}].astype(str) for a factor, "
                            f"pd.to_numeric(data[{name!r}]) for numbers")
    return frame


def _vector_argument(value, data: pd.DataFrame, role: str) -> tuple[np.ndarray | None, str | None]:
    """A ``weights=``/``offset=`` argument: a column name or an array of one value per row."""
    if value is None:
        return None, None
    if isinstance(value, str):
        if value not in data.columns:
            raise _missing_column_error(value, data, f"{role}= argument")
        _check_unique([value], data)
        column = data[value]
        if column.dtype == object:
            column = _numbers_as_floats(data[[value]].copy())[value]
        if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_complex_dtype(column):
            raise DataError(f"{role} column {value!r} must be numeric, not {column.dtype}")
        return column.to_numpy(dtype=float, na_value=np.nan), value
    try:
        if np.asarray(value).dtype.kind in "USO" and not _all_numbers(np.asarray(value).ravel()):
            raise TypeError("not numbers")
        array = np.asarray(value, dtype=float).ravel()
    except (TypeError, ValueError) as error:
        raise DataError(f"{role}= must be a column name or numbers, one per row; got "
                        f"{type(value).__name__}") from error
    if array.shape[0] != len(data):
        raise DataError(f"{role}= has {array.shape[0]} values but data has {len(data)} rows; "
                        "give one value per row or a column name")
    return array, None


def build_frame(parsed: ParsedFormula, data: pd.DataFrame, weights=None, offset=None) -> ModelFrame:
    """Select the used columns, drop incomplete rows (counted and reported) and tidy factors."""
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if len(data) == 0:
        raise DataError("data has no rows")
    columns = used_columns(parsed)
    for name in columns:
        if name not in data.columns:
            raise _missing_column_error(name, data, "used in the formula")
    _check_unique(columns, data)
    _check_shadowed_calls(parsed, columns)
    frame = _numbers_as_floats(data.loc[:, columns].copy())
    _check_column_types(frame)
    weight_values, weight_name = _vector_argument(weights, data, "weights")
    offset_values, offset_name = _vector_argument(offset, data, "offset")
    for role, values, name in (("weights", weight_values, weight_name),
                               ("offset", offset_values, offset_name)):
        infinite = np.flatnonzero(np.isinf(values)) if values is not None else ()
        if len(infinite):  # lme4 stops here too (missing values, NaN, are dropped as na.omit)
            plural = "s" if len(infinite) > 1 else ""
            raise DataError(f"{role}{f' column {name!r}' if name else ''} has {len(infinite)} "
                            f"infinite value{plural} (first in row {infinite[0]}); {role} must be finite")

    missing = frame.isna().to_numpy()
    complete = ~missing.any(axis=1) if missing.size else np.ones(len(frame), bool)
    for values in (weight_values, offset_values):
        if values is not None:
            complete &= np.isfinite(values)
    n_dropped = int((~complete).sum())
    if complete.sum() == 0:
        raise DataError("no complete rows: every row has a missing value in a used column "
                        f"({', '.join(columns)})")
    bad_columns = tuple(c for c, bad in zip(columns, missing.any(axis=0)) if bad)
    bad_columns += tuple(n for n, v in ((weight_name or "weights", weight_values),
                                        (offset_name or "offset", offset_values))
                         if v is not None and not np.isfinite(v).all())
    if n_dropped:
        warnings.warn(f"{n_dropped} of {len(frame)} rows dropped for missing values in "
                      f"{', '.join(bad_columns)} (na.omit)", MissingValuesWarning, stacklevel=3)
    row_index = frame.index[complete]  # the caller's labels of the kept rows
    frame = frame.loc[complete].reset_index(drop=True)
    for name in frame.columns:
        if isinstance(frame[name].dtype, pd.CategoricalDtype):
            frame[name] = frame[name].cat.remove_unused_categories()
    n = len(frame)
    weight_array = np.ones(n) if weight_values is None else weight_values[complete]
    if (weight_array < 0).any():
        raise DataError(f"weights must be non-negative; {(weight_array < 0).sum()} are negative")
    if not weight_array.any():
        raise DataError("weights are all zero: at least one observation needs a positive weight")
    offset_array = np.zeros(n) if offset_values is None else offset_values[complete]
    return ModelFrame(frame, complete, n_dropped, bad_columns, weight_array, offset_array,
                      weight_name, offset_name, row_index, data.index)


def on_caller_rows(frame: ModelFrame, values: np.ndarray, na_action: str = "omit", name=None,
                   columns=None):
    """Values per used observation (a vector, or a matrix with ``columns``) as a Series or
    DataFrame on the caller's row labels: without the rows dropped for missing values
    (``na_action="omit"``, R's na.omit) or with NaN there (``"exclude"``, R's na.exclude)."""
    na_action = arguments.na_action(na_action)
    values = np.asarray(values, float)
    index = frame.row_index
    if na_action == "exclude":
        full = np.full((len(frame.kept),) + values.shape[1:], np.nan)
        full[frame.kept] = values
        values, index = full, frame.caller_index
    if values.ndim == 1:
        return pd.Series(values, index=index, name=name)
    return pd.DataFrame(values, index=index, columns=columns)
