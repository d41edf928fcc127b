"""R's printing, as lme4 1.1-31 under R 4.2.2 prints (``options(width = 80, useFancyQuotes =
FALSE)``, ``digits = 7``): pure formatting of plain numbers, numpy and the standard library only
(pandas for the anova table).

One module per part of R's printing machinery, each using only those above it:

* ``numbers``: ``format()`` of numeric vectors, ``round()``, ``zapsmall()``, ``format.pval()``,
  the significance stars;
* ``strings``: ``abbreviate()``, ``strwrap()``, ``cat(fill =)``, printing of named vectors and
  character matrices at the console width;
* ``deparse``: R's parser and ``deparse()`` of formulas and call arguments, lme4's ``||``
  expansion;
* ``coefmat``: ``printCoefmat()``, shared by the summary and ``print.anova``;
* ``summary``: ``print(summary(fit))``, ``print(fit)``, ``print(VarCorr(fit))`` from a
  :class:`SummaryData`;
* ``html``: the summary as HTML for Jupyter;
* ``anova``: ``print.anova`` and :class:`AnovaTable`.
"""
from .anova import ANOVA_DIGITS, AnovaTable, format_anova
from .coefmat import coefmat_cells, coefmat_lines
from .deparse import expression_lines, formula_lines, lme4_formula_lines, r_deparse
from .html import format_summary_html
from .numbers import (DBL_EPS, DIGITS, SIGNIF_LEGEND, r_format, r_format_pval, r_round, r_signif_stars,
                      r_zapsmall)
from .strings import GAP, WIDTH, cat_fill, print_char_matrix, print_named, r_abbreviate, r_strwrap
from .summary import (COR_MAX, VC_COLUMNS, SummaryData, VarCorrBlock, convergence_messages, format_print,
                      format_summary, format_varcorr)

__all__ = [
    "VarCorrBlock", "SummaryData", "format_summary", "format_summary_html", "format_print",
    "format_varcorr", "convergence_messages", "AnovaTable", "format_anova", "ANOVA_DIGITS",
    "r_format", "r_round", "r_zapsmall", "r_format_pval", "r_abbreviate",
    "r_strwrap", "r_signif_stars", "r_deparse", "lme4_formula_lines", "formula_lines",
    "expression_lines", "cat_fill", "print_named", "print_char_matrix", "coefmat_cells",
    "coefmat_lines", "WIDTH", "DIGITS", "GAP", "DBL_EPS", "COR_MAX", "SIGNIF_LEGEND", "VC_COLUMNS",
]
