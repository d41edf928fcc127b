"""From a formula and a DataFrame to the arrays a fit needs: parse, frame, model matrices, design.

``ModelSpec`` is the formula-to-design half of the pipeline, shared by ``lmer`` and ``glmer``; it
keeps what prediction on new data needs (formulaic specs, factor levels).
"""
from __future__ import annotations

import ast
import inspect
import linecache
import warnings
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from . import arguments, shape_classes
from .design import Design, build_design
from .formula import ParsedFormula, parse_formula
from .frame import DataError, ModelFrame, build_frame
from .terms import (FixedEffectsMatrix, RandomEffectsTerm, check_identifiable, evaluate_expression,
                    fixed_effects_matrix, random_effects_terms)
from .errors import RankDeficiencyWarning


@dataclass(frozen=True)
class ModelSpec:
    """A model's parsed formula, frame, fixed-effects matrix, random-effects terms and design."""

    formula: ParsedFormula
    frame: ModelFrame
    fixed: FixedEffectsMatrix
    terms: tuple[RandomEffectsTerm, ...]
    design: Design = field(repr=False)
    offset: np.ndarray = field(repr=False)

    @property
    def n_obs(self) -> int:
        return len(self.frame.data)

    @property
    def padded(self) -> bool:
        """Whether fits run on shape-class padded arrays (``shape_classes``)."""
        return shape_classes.is_padded(self.n_obs)

    @cached_property
    def fit_design(self) -> Design:
        """The design the fit runs on: padded to shape classes (small and medium data), else
        ``design`` itself."""
        return build_design(self.fixed.X, self.terms, padded=True) if self.padded else self.design

    @cached_property
    def fit_design_re(self) -> Design:
        """The random-effects-only design of a GLMM's fit (conditional modes with beta fixed)."""
        return build_design(np.zeros((self.n_obs, 0)), list(self.terms), padded=self.padded,
                            like=self.fit_design.layout if self.padded else None)

    def fit_rows(self, values, fill: float = 0.0) -> np.ndarray:
        """Observation-level ``values`` extended to the fit design's rows with ``fill``."""
        return shape_classes.pad_rows(values, self.fit_design.layout.n_obs, fill)

    def unpad_random(self, vector) -> np.ndarray:
        """u or b of the fit design's levels back to the model's."""
        return shape_classes.unpad_random(vector, self.fit_design.layout, self.design.layout)

    def group_names(self) -> list[str]:
        """VarCorr's group labels: factor names made unique in term order (``Subject.1``)."""
        seen: dict[str, int] = {}
        names = []
        for term in self.terms:
            count = seen.get(term.group, 0)
            names.append(term.group if count == 0 else f"{term.group}.{count}")
            seen[term.group] = count + 1
        return names

    def factors(self) -> dict[str, list[int]]:
        """Unique grouping factors (in term order) -> indices of their terms."""
        out: dict[str, list[int]] = {}
        for i, term in enumerate(self.terms):
            out.setdefault(term.group, []).append(i)
        return out

    def theta_names(self) -> list[str]:
        return [name for term in self.terms for name in term.theta_names()]


def rank_message(fixed: FixedEffectsMatrix) -> str:
    """lme4's message for dropped fixed-effects columns (empty when X had full rank)."""
    k = len(fixed.dropped)
    if k == 0:
        return ""
    plural = "s" if k > 1 else ""
    return f"fixed-effect model matrix is rank deficient so dropping {k} column{plural} / coefficient{plural}"


def model_spec(formula: str, data: pd.DataFrame, weights=None, offset=None,
               allow_n: bool = False) -> ModelSpec:
    """``allow_n``: glmer's level-count checks (lme4's allow.n: as many levels and random
    effects per term as observations), else lmer's (fewer)."""
    parsed = parse_formula(formula)
    frame = build_frame(parsed, data, weights=weights, offset=offset)
    fixed = fixed_effects_matrix(parsed, frame)
    if fixed.dropped:
        warnings.warn(f"{rank_message(fixed)}: {', '.join(fixed.dropped)}", RankDeficiencyWarning,
                      stacklevel=3)
    terms = random_effects_terms(parsed, frame, allow_n)
    check_identifiable(terms, len(frame.data), allow_n)
    total_offset = frame.offset.copy()
    for expression in parsed.offsets:
        total_offset += evaluate_expression(expression, frame.data, "offset")
    return ModelSpec(parsed, frame, fixed, tuple(terms), build_design(fixed.X, terms), total_offset)


def _caller_frame(depth: int):
    """The frame ``depth`` calls above the function that calls this one."""
    frame = inspect.currentframe().f_back
    for _ in range(depth):
        frame = frame.f_back if frame is not None else None
    return frame


def _bound_name(value, frame) -> str | None:
    names = [n for n, v in {**frame.f_globals, **frame.f_locals}.items()
             if v is value and not n.startswith("_")]
    return names[0] if len(names) == 1 else None


def caller_variable_name(value, depth: int = 2) -> str | None:
    """The one name the caller bound ``value`` to (anova's row names), or None."""
    frame = _caller_frame(depth)
    try:
        return _bound_name(value, frame) if frame is not None else None
    finally:
        del frame


def caller_data_name(data, depth: int = 2) -> str:
    """What lme4 prints after ``Data:``. R prints the expression the caller passed as ``data``
    (deparse(substitute(data))); here its source text when the caller's source can be read
    (a name, a loop variable, an expression such as ``df[df.x > 0]``), else the one name the
    caller bound ``data`` to, else "data"."""
    frame = _caller_frame(depth)
    try:
        if frame is None:
            return "data"
        return _data_argument_source(frame) or _bound_name(data, frame) or "data"
    finally:
        del frame


def _data_argument_source(frame) -> str | None:
    """The source text of the ``data`` argument (keyword, or the second positional one) of the
    call the frame is executing, or None when its source is unavailable (``python -c``, exec)."""
    try:
        positions = list(frame.f_code.co_positions())[frame.f_lasti // 2]
        line, end_line, column, end_column = positions
        lines = linecache.getlines(frame.f_code.co_filename, frame.f_globals)
        if None in positions or end_line > len(lines):
            return None
        chunk = [text.encode() for text in lines[line - 1:end_line]]  # columns count UTF-8 bytes
        chunk[-1] = chunk[-1][:end_column]
        chunk[0] = chunk[0][column:]
        source = b"".join(chunk).decode()
        call = ast.parse(source.strip(), mode="eval").body
    except (SyntaxError, ValueError, IndexError, UnicodeDecodeError):
        return None
    if not isinstance(call, ast.Call):
        return None
    argument = next((k.value for k in call.keywords if k.arg == "data"), None)
    if argument is None and len(call.args) > 1 and not any(isinstance(a, ast.Starred) for a in call.args[:2]):
        argument = call.args[1]
    if argument is None:
        return None
    segment = ast.get_source_segment(source.strip(), argument)
    return segment if segment is not None and "\n" not in segment else ast.unparse(argument)


def numeric_response(spec: ModelSpec) -> np.ndarray:
    y = evaluate_expression(spec.formula.response, spec.frame.data, "response")
    if not np.isfinite(y).all():
        raise DataError(f"response {spec.formula.response!r} has non-finite values")
    return y


def response_values(values, spec: ModelSpec, name: str):
    """A new response given as a pandas Series or DataFrame in the fit's row order, matched by
    the caller's row labels (a column of the original data, or ``simulate``'s frame); any other
    value unchanged, for the caller to check."""
    if not isinstance(values, (pd.Series, pd.DataFrame)):
        return values
    rows = spec.frame.row_index
    if not values.index.equals(rows):
        missing = rows.difference(values.index)
        if len(missing) or not values.index.is_unique:
            problem = (f"{len(missing)} of the fit's {len(rows)} row labels are not in its index "
                       f"(e.g. {missing[:3].tolist()})" if len(missing) else "its index has duplicates")
            raise arguments.ArgumentError(f"{name}: {problem}; pass a Series on the data's index or the "
                                          "values in the fit's row order (.to_numpy())")
        values = values.loc[rows]
    return values.to_numpy()


def refit_response(y, spec: ModelSpec) -> np.ndarray:
    """A refit's new response: one finite value per observation the fit used."""
    return arguments.finite_vector(response_values(y, spec, "refit's y"), "refit's y, the new response",
                                   spec.n_obs, "one per observation used by the fit, in the fit's row order")
