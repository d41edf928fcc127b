"""R's ``print.anova``: the text of an analysis-of-variance or deviance table.

``print.anova`` calls ``printCoefmat`` with ``cs.ind = NULL`` (no estimate/SE columns), zaps
small numbers in the ordinary columns, rounds the test-statistic columns (``F``, ``Chisq``,
``* value``) to ``digits - 1`` decimals, leaves ``Df`` columns alone, prints missing values as
blanks, formats the p-value column with ``format.pval`` and adds significance stars and their
legend. Default ``digits = max(getOption("digits") - 2, 3) = 5``. Pure formatting: the R
primitives (``format``, ``round``, ``zapsmall``, ``format.pval``) come from ``display``.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from ..display import (DIGITS, SIGNIF_LEGEND, WIDTH, _cat_fill, _print_char_matrix, r_format,
                       r_format_pval, r_round, r_signif_stars, r_zapsmall)

ANOVA_DIGITS = max(DIGITS - 2, 3)


def _is_p_column(name: str) -> bool:
    return re.match(r"^(P|Pr)\(", name) is not None


def _is_test_column(name: str) -> bool:
    return name[1:7] == " value" or name in ("F", "Cp", "Chisq")


def _as_r_values(column) -> list:
    """Floats with ``None`` for R's NA (what ``r_format`` expects)."""
    return [None if (v is None or (isinstance(v, float) and math.isnan(v))) else float(v)
            for v in column]


def anova_cells(table: pd.DataFrame, digits: int = ANOVA_DIGITS) -> tuple[list, list, bool]:
    """The character matrix print.anova shows: (cells, column names, legend shown?)."""
    names = [str(c) for c in table.columns]
    values = table.to_numpy(dtype=float)
    n_rows, n_cols = values.shape
    has_p = n_cols > 0 and _is_p_column(names[-1])
    test_columns = [j for j, c in enumerate(names) if _is_test_column(c)]
    plain_columns = [j for j in range(n_cols) if j not in test_columns and not (has_p and j == n_cols - 1)]
    missing = np.isnan(values)
    cells = [["" for _ in range(n_cols)] for _ in range(n_rows)]
    shown = values.copy()
    for j in plain_columns:
        if not names[j].endswith("Df"):
            shown[:, j] = r_zapsmall(values[:, j], digits)
    for j in test_columns:
        rounded = [None if missing[i, j] else r_round(values[i, j], max(1, min(5, digits - 1)))
                   for i in range(n_rows)]
        for i, text in enumerate(r_format(rounded, digits)):
            cells[i][j] = text
    for j in plain_columns:
        for i, text in enumerate(r_format(_as_r_values(shown[:, j]), digits)):
            cells[i][j] = text
    # an entry that is zero but not printed as zero (or the reverse) is printed with one digit less
    for j in plain_columns:
        for i in range(n_rows):
            if missing[i, j]:
                continue
            try:
                printed_zero = float(cells[i][j]) == 0
            except ValueError:
                continue
            if (shown[i, j] == 0) != printed_zero:
                cells[i][j] = r_format([shown[i, j]], max(1, digits - 1))[0]
    for i in range(n_rows):
        for j in range(n_cols):
            if missing[i, j]:
                cells[i][j] = ""  # na.print = ""
    legend = False
    if has_p:
        p_values = values[:, -1]
        present = ~np.isnan(p_values)
        if present.any():
            formatted = iter(r_format_pval(list(p_values[present]), digits=max(1, min(5, digits - 1))))
            for i in range(n_rows):
                if present[i]:
                    cells[i][-1] = next(formatted)
            if np.any(p_values[present] < 0.1):
                stars = r_signif_stars([None if np.isnan(v) else float(v) for v in p_values])
                width = max(len(s) for s in stars)
                for i in range(n_rows):
                    cells[i].append(stars[i].ljust(width))
                names.append("")
                legend = True
    return cells, names, legend


def format_anova(table: pd.DataFrame, heading: list[str] = (), digits: int = ANOVA_DIGITS) -> str:
    """``print(<anova>)`` as text: the heading lines, the table, the significance legend."""
    cells, names, legend = anova_cells(table, digits)
    lines = list(heading)
    lines += _print_char_matrix(cells, [str(r) for r in table.index], names, right=True, width=WIDTH)
    if legend:
        lines += _cat_fill(["---\nSignif. codes:  ", SIGNIF_LEGEND], sep="", fill=WIDTH + 4)
    return "\n".join(lines)
