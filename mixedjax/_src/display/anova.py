"""R's ``print.anova`` and the one table type that prints with it.

``print.anova`` is ``printCoefmat`` with no estimate/SE columns: the test-statistic columns
(``F``, ``Chisq``, ``* value``) rounded to ``digits - 1`` decimals, the other columns zapped
(``Df`` columns left alone), missing values printed blank, the p-value column through
``format.pval`` with significance stars and their legend. Default ``digits = max(getOption(
"digits") - 2, 3) = 5``.

Both anova tables mixedjax returns are an :class:`AnovaTable`: lme4's likelihood-ratio
comparison ``anova(m1, m2)`` and lmerTest's F table ``fit.anova()``.
"""
from __future__ import annotations

import html
import re

import pandas as pd

from .coefmat import coefmat_lines
from .numbers import DIGITS

ANOVA_DIGITS = max(DIGITS - 2, 3)


def _is_p_column(name: str) -> bool:
    return re.match(r"^(P|Pr)\(", name) is not None


def _is_test_column(name: str) -> bool:
    return name[1:7] == " value" or name in ("F", "Cp", "Chisq")


def format_anova(table: pd.DataFrame, heading=(), digits: int = ANOVA_DIGITS) -> str:
    """``print(<anova>)`` as text: the heading lines, the table, the significance legend."""
    names = [str(c) for c in table.columns]
    lines = list(heading)
    if len(table) == 0:  # print.default of a 0-row character matrix
        return "\n".join(lines + ["     " + " ".join(names)])
    has_p = len(names) > 0 and _is_p_column(names[-1])
    test_columns = [j for j, c in enumerate(names) if _is_test_column(c)]
    zapped = [j for j, c in enumerate(names)
              if j not in test_columns and not (has_p and j == len(names) - 1) and not c.endswith("Df")]
    lines += coefmat_lines([str(r) for r in table.index], names, table.to_numpy(dtype=float), digits,
                           has_p=has_p, cs_ind=[], tst_ind=test_columns, zap_ind=zapped, na_print="")
    return "\n".join(lines)


class AnovaTable(pd.DataFrame):
    """An anova table: a DataFrame whose printed form (``str``/``repr``) is R's ``print.anova``
    text under its ``heading`` (a list of lines). Slicing it gives a plain DataFrame.

    ``hypotheses``: lmerTest's F table keeps each term's hypothesis matrix L; ``refitted``: the
    likelihood-ratio comparison names the REML fits it refitted by ML.
    """

    _metadata = ["heading", "hypotheses", "refitted"]

    @property
    def _constructor(self):
        return pd.DataFrame

    def to_r_string(self) -> str:
        return format_anova(pd.DataFrame(self), list(getattr(self, "heading", None) or []))

    __str__ = to_r_string
    __repr__ = to_r_string

    @property
    def table(self) -> pd.DataFrame:
        """The numbers as a plain DataFrame (what ``fit.anova().table`` has always given)."""
        return pd.DataFrame(self)

    def _repr_html_(self) -> str:
        heading = "<br>".join(html.escape(line) for line in getattr(self, "heading", None) or [])
        return (f"<p>{heading}</p>" if heading else "") + pd.DataFrame(self).to_html()
