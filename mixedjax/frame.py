"""The model frame: the rows and columns a model uses, with missing values removed as na.omit does.

Everything that touches the user's DataFrame happens here and in ``terms.py``; the caller's frame is
never modified (we work on a copy of the used columns).
"""
from __future__ import annotations

import difflib
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from formulaic import Formula

from .formula import ParsedFormula, _split_top_level, r_to_python


class DataError(ValueError):
    """Bad input data: a missing column, a wrong type, an empty frame; the message names the fix."""


class MissingValuesWarning(UserWarning):
    """Rows were dropped because a used column had a missing value (R's na.omit)."""


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


def _variables(expression: str) -> set[str]:
    expression = expression.strip()
    if not expression:
        return set()
    if re.fullmatch(r"cbind\s*\(.*\)", expression, flags=re.S):  # binomial cbind(successes, failures)
        inner = expression[expression.index("(") + 1:-1]
        return set().union(*(_variables(part) for part in _split_top_level(inner, ",")))
    return set(Formula(r_to_python(expression)).required_variables)


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


def _vector_argument(value, data: pd.DataFrame, role: str) -> tuple[np.ndarray | None, str | None]:
    """A ``weights=``/``offset=`` argument: a column name or an array of one value per row."""
    if value is None:
        return None, None
    if isinstance(value, str):
        if value not in data.columns:
            raise _missing_column_error(value, data, f"{role}= argument")
        column = data[value]
        if not pd.api.types.is_numeric_dtype(column):
            raise DataError(f"{role} column {value!r} must be numeric, not {column.dtype}")
        return column.to_numpy(dtype=float, na_value=np.nan), value
    array = np.asarray(value, dtype=float).ravel()
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
    frame = data.loc[:, columns].copy()
    weight_values, weight_name = _vector_argument(weights, data, "weights")
    offset_values, offset_name = _vector_argument(offset, data, "offset")

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
    frame = frame.loc[complete].reset_index(drop=True)
    for name in frame.columns:
        if isinstance(frame[name].dtype, pd.CategoricalDtype):
            frame[name] = frame[name].cat.remove_unused_categories()
    n = len(frame)
    weight_array = np.ones(n) if weight_values is None else weight_values[complete]
    if (weight_array < 0).any():
        raise DataError(f"weights must be non-negative; {(weight_array < 0).sum()} are negative")
    offset_array = np.zeros(n) if offset_values is None else offset_values[complete]
    return ModelFrame(frame, complete, n_dropped, bad_columns, weight_array, offset_array,
                      weight_name, offset_name)
