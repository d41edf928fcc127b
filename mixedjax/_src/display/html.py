"""An HTML rendering of the summary (Jupyter's ``_repr_html_``): the same numbers, formatted
exactly as in the text, in tables."""
from __future__ import annotations

import html

import numpy as np

from .coefmat import coefmat_cells
from .deparse import expression_lines, formula_lines
from .numbers import DIGITS, SIGNIF_LEGEND, r_format, r_round, r_zapsmall
from .summary import COR_MAX, SummaryData, fixef_corr_cells, format_vc_matrix, method_title, object_class

def _html_table(header, rows, align_right_from: int = 1, row_header: bool = True) -> str:
    esc = html.escape
    out = ['<table class="mixedjax-table" style="border-collapse:collapse;font-family:monospace">']
    out.append("<thead><tr>")
    for j, h in enumerate(header):
        al = "right" if j >= align_right_from else "left"
        out.append('<th style="text-align:%s;padding:1px 8px">%s</th>' % (al, esc(h)))
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>")
        for j, c in enumerate(row):
            al = "right" if j >= align_right_from else "left"
            tag = "th" if (row_header and j == 0) else "td"
            out.append('<%s style="text-align:%s;padding:1px 8px">%s</%s>' % (tag, al, esc(c.strip()), tag))
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def format_summary_html(d: SummaryData) -> str:
    """An HTML rendering of the summary (for Jupyter's ``_repr_html_``).

    It shows the same numbers, formatted exactly as in the text version, in tables.
    """
    esc = html.escape
    digits = max(3, DIGITS - 3)
    parts = ['<div class="mixedjax-summary">']
    title = method_title(d).strip() + " [%s]" % object_class(d)
    parts.append("<p><b>%s</b></p>" % esc(title))
    info = []
    if d.kind == "glmer" and d.family is not None:
        info.append(("Family", d.family + ("" if d.link is None else " ( %s )" % d.link)))
    if d.formula is not None:
        info.append(("Formula", " ".join(x.strip() for x in formula_lines(d.formula, d.expand_double_bars))))
    for lab, v in (("Data", d.data_name), ("Weights", d.weights), ("Offset", d.offset),
                   ("Control", d.control if (d.control is not None and
                                             expression_lines(d.control) != ["lmerControl()"]) else None),
                   ("Subset", d.subset)):
        if v is not None:
            info.append((lab, " ".join(expression_lines(v))))
    parts.append("<p>" + "<br>".join("<b>%s:</b> <code>%s</code>" % (esc(a), esc(b)) for a, b in info) + "</p>")
    # fit criteria
    if d.kind == "lmer" and d.reml:
        crit = r_format([r_round(d.reml_criterion, 1)], DIGITS)[0].strip()
        parts.append("<p>REML criterion at convergence: %s</p>" % esc(crit))
    else:
        names = ["AIC", "BIC", "logLik", "deviance", "df.resid"]
        vals = [d.aic, d.bic, d.loglik, d.deviance, d.df_resid]
        t4 = [None if v is None else r_round(float(v), 1) for v in vals]
        t4f = r_format(t4, DIGITS)
        t4f[4] = r_format([t4[4]], DIGITS)[0]
        parts.append(_html_table(names, [t4f], align_right_from=0, row_header=False))
    # residuals
    if len(d.resid_quantiles):
        rq = r_zapsmall([float(v) for v in d.resid_quantiles], digits + 1)
        parts.append("<p><b>Scaled residuals:</b></p>")
        parts.append(_html_table(["Min", "1Q", "Median", "3Q", "Max"], [r_format(rq, digits)],
                                 align_right_from=0, row_header=False))
    # random effects
    cells, colnames = format_vc_matrix(d.varcorr, d.residual_sd, digits)
    hdr = [c if c else "" for c in colnames]
    parts.append("<p><b>Random effects:</b></p>")
    parts.append(_html_table(hdr, cells, align_right_from=2, row_header=False))
    grp = "; ".join("%s, %d" % (str(n), int(k)) for n, k in d.ngrps)
    parts.append("<p>Number of obs: %d, groups: %s</p>" % (int(d.nobs), esc(grp)))
    # fixed effects
    p = len(d.coef_names)
    if p > 0:
        xm = np.asarray(d.coef_values, dtype=float)
        cf, cols, legend = coefmat_cells(d.coef_names, d.coef_columns, xm, digits)
        parts.append("<p><b>Fixed effects:</b></p>")
        rows = [[str(n)] + list(r) for n, r in zip(d.coef_names, cf)]
        parts.append(_html_table([""] + cols, rows, align_right_from=1))
        if legend:
            parts.append("<p><small>Signif. codes: %s</small></p>" % esc(SIGNIF_LEGEND))
        correlation = d.correlation
        if correlation is None:
            correlation = d.fixef_corr is not None and p <= COR_MAX
        if correlation and d.fixef_corr is not None and p > 1:
            cells, rnames, cnames = fixef_corr_cells(d, p)
            parts.append("<p><b>Correlation of Fixed Effects:</b></p>")
            rows = [[rn] + list(r) for rn, r in zip(rnames, cells)]
            parts.append(_html_table([""] + list(cnames), rows, align_right_from=1))
        elif d.fixef_corr is not None and p > COR_MAX and d.correlation is None:
            parts.append("<p>Correlation matrix not shown by default, as p = %d &gt; %d.</p>" % (p, COR_MAX))
    msgs = list(d.fit_msgs) + list(d.messages)
    if msgs:
        parts.append("<pre>%s</pre>" % esc("\n".join(str(m) for m in msgs)))
    parts.append("</div>")
    return "\n".join(parts)
