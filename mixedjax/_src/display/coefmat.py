"""R's ``printCoefmat()``: the character matrix of a coefficient table.

One implementation serves both of its callers: the summary's fixed-effects table (estimate and
standard-error columns, then the test statistic and the p-value) and ``print.anova`` (no
estimate columns; the statistic columns rounded, the others zapped, NA printed blank).
"""
from __future__ import annotations

import numpy as np

from .numbers import (DBL_EPS, SIGNIF_LEGEND, r_format, r_format_pval, r_round, r_signif_stars,
                      r_zapsmall)
from .strings import WIDTH, cat_fill, print_char_matrix


def _parse_num(s: str):
    try:
        return float(s)
    except ValueError:
        return None


def coefmat_lines(names, columns, values, digits: int, **columns_shown) -> list:
    """stats::printCoefmat(x, digits = digits) (``columns_shown``: see ``coefmat_cells``)."""
    cf, colnames, legend = coefmat_cells(names, columns, values, digits, **columns_shown)
    lines = print_char_matrix(cf, [str(n) for n in names], colnames, right=True)
    if legend:
        lines += cat_fill(["---\nSignif. codes:  ", SIGNIF_LEGEND], sep="", fill=WIDTH + 4)
    return lines


def coefmat_cells(names, columns, values, digits: int, has_p: bool | None = None, cs_ind=None,
                  tst_ind=None, zap_ind=(), na_print: str = "NA"):
    """The character matrix printCoefmat() prints: (cells, column names, legend shown?).

    The defaults are printCoefmat's: a p-value column when the last of four or more is named
    ``Pr(...`` or ``p-v...``, the statistic the column before it, estimates and standard errors
    all columns before that. ``zap_ind`` columns are ``zapsmall()``-ed first; missing values
    print as ``na_print``.
    """
    xm = np.array(values, dtype=float)
    p, nc = xm.shape
    if has_p is None:
        has_p = nc >= 4 and len(columns) > 0 and str(columns[-1])[:3] in ("Pr(", "p-v")
    if tst_ind is None:
        tst_ind = [nc - (1 if has_p else 0) - 1]
    if cs_ind is None:
        cs_ind = list(range(tst_ind[0]))
    for j in zap_ind:
        xm[:, j] = r_zapsmall(xm[:, j], digits)
    dig_tst = max(1, min(5, digits - 1))
    cf = [["" for _ in range(nc)] for _ in range(p)]
    ina = np.isnan(xm)
    ok = ~ina
    if cs_ind:
        acs = np.abs(xm[:, cs_ind])
        fin = np.isfinite(acs)
        if fin.any():
            nz = acs[fin & (acs != 0)]
            if nz.size:
                digmin = 1 + np.floor(np.log10(np.array([nz.min(), nz.max()])))
            else:
                digmin = np.array([1.0])
            rd = max(1.0, float(np.max(digits - digmin)))
            flat = [r_round(xm[i, j], rd) if np.isfinite(xm[i, j]) else
                    (None if np.isnan(xm[i, j]) else xm[i, j])
                    for j in cs_ind for i in range(p)]
            fm = r_format(flat, digits)
            t = 0
            for j in cs_ind:
                for i in range(p):
                    cf[i][j] = fm[t]
                    t += 1
    for j in tst_ind:
        col = [r_round(xm[i, j], dig_tst) if not np.isnan(xm[i, j]) else None for i in range(p)]
        fm = r_format(col, digits)
        for i in range(p):
            cf[i][j] = fm[i]
    other = [j for j in range(nc) if j not in cs_ind and j not in tst_ind and not (has_p and j == nc - 1)]
    for j in other:
        col = [xm[i, j] if not np.isnan(xm[i, j]) else None for i in range(p)]
        fm = r_format(col, digits)
        for i in range(p):
            cf[i][j] = fm[i]
    ok_mat = ok.copy()
    for j in tst_ind:
        ok_mat[:, j] = False
    okp_cols = list(range(nc - 1)) if has_p else list(range(nc))
    # entries that are zero but not shown as zero (or vice versa) are re-formatted
    pos = [(i, j) for j in okp_cols for i in range(p) if ok_mat[i, j]]
    not_both = []
    for (i, j) in pos:
        shown = _parse_num(cf[i][j])
        if shown is None:
            continue
        if (xm[i, j] == 0) != (shown == 0):
            not_both.append((i, j))
    if not_both:
        fm = r_format([xm[i, j] for (i, j) in not_both], max(1, digits - 1))
        for (i, j), s in zip(not_both, fm):
            cf[i][j] = s
    for i in range(p):
        for j in range(nc):
            if ina[i, j]:
                cf[i][j] = na_print
    colnames = [str(c) for c in columns]
    legend = False
    if has_p:
        okp = ok[:, nc - 1]
        if okp.any():
            pv = [float(v) for v in xm[:, nc - 1]]
            fpv = r_format_pval([pv[i] for i in range(p) if okp[i]], digits=dig_tst, eps=DBL_EPS)
            t = 0
            for i in range(p):
                if okp[i]:
                    cf[i][nc - 1] = fpv[t]
                    t += 1
            if any(pv[i] < 0.1 for i in range(p) if okp[i]):
                stars = r_signif_stars(pv)
                sw = max(len(s) for s in stars)
                for i in range(p):
                    cf[i].append(stars[i].ljust(sw))
                colnames.append("")
                legend = True
    return cf, colnames, legend
