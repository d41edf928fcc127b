"""An ANOVA table that prints as R's ``print.anova`` (heading, printCoefmat with the F column as the
test statistic, zapped other columns, formatted p-values and significance stars)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..display import (DBL_EPS, DIGITS, SIGNIF_LEGEND, WIDTH, _cat_fill, _print_char_matrix,
                       r_format, r_format_pval, r_round, r_signif_stars, r_zapsmall)

ANOVA_DIGITS = max(DIGITS - 2, 3)   # print.anova's digits


def _format_column(values: np.ndarray, digits: int) -> list[str]:
    return r_format([None if np.isnan(v) else float(v) for v in values], digits)


def anova_lines(frame: pd.DataFrame, heading: str, digits: int = ANOVA_DIGITS) -> list[str]:
    """print.anova(x): statistic columns ('F value') rounded to min(5, digits - 1) decimals, the
    others zapsmall()-ed and formatted to ``digits`` significant digits, NA printed blank."""
    values = frame.to_numpy(dtype=float)
    columns = [str(c) for c in frame.columns]
    n, nc = values.shape
    has_p = columns[-1].startswith(("Pr(", "P("))
    statistic = [j for j, c in enumerate(columns) if c[1:7] == " value" or c in ("F", "Chisq")]
    digits_test = max(1, min(5, digits - 1))
    cells = [["" for _ in range(nc)] for _ in range(n)]
    for j in range(nc - (1 if has_p else 0)):
        column = values[:, j]
        finite = column[~np.isnan(column)]
        if j in statistic:
            text = _format_column(np.array([r_round(v, digits_test) if not np.isnan(v) else np.nan
                                            for v in column]), digits)
        else:
            zapped = np.array(r_zapsmall(finite, digits)) if finite.size else finite
            full = column.copy()
            full[~np.isnan(column)] = zapped
            text = _format_column(full, digits)
        for i in range(n):
            cells[i][j] = "" if np.isnan(column[i]) else text[i]
    legend = False
    if has_p:
        p_values = values[:, -1]
        ok = ~np.isnan(p_values)
        formatted = iter(r_format_pval(list(p_values[ok]), digits=digits_test, eps=DBL_EPS)) \
            if ok.any() else iter(())
        for i in range(n):
            cells[i][nc - 1] = next(formatted) if ok[i] else ""
        if ok.any() and np.any(p_values[ok] < 0.1):
            stars = r_signif_stars(list(np.where(ok, p_values, 1.0)))
            width = max(len(s) for s in stars)
            for i in range(n):
                cells[i].append(stars[i].ljust(width) if ok[i] else " " * width)
            columns.append("")
            legend = True
    if n == 0:  # print.default of a 0-row character matrix
        return heading.split("\n") + ["     " + " ".join(columns)]
    lines = heading.split("\n") + _print_char_matrix(cells, [str(r) for r in frame.index], columns,
                                                     right=True)
    if legend:
        lines += _cat_fill(["---\nSignif. codes:  ", SIGNIF_LEGEND], sep="", fill=WIDTH + 4)
    return lines


class AnovaTable:
    """lmerTest's anova(fit): ``table`` (a DataFrame), ``heading``, the per-term ``hypotheses``
    (L matrices); ``str()`` is R's printed table."""

    def __init__(self, table: pd.DataFrame, heading: str, hypotheses: dict):
        self.table, self.heading, self.hypotheses = table, heading, hypotheses

    def __str__(self) -> str:
        return "\n".join(anova_lines(self.table, self.heading))

    __repr__ = __str__

    def __getitem__(self, key):
        return self.table[key]

    def _repr_html_(self) -> str:
        return f"<p>{self.heading}</p>" + self.table.to_html()
