"""lme4's ``print(summary(fit))`` and ``print(fit)`` text, from the plain numbers of a
:class:`SummaryData`."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .coefmat import coefmat_lines
from .deparse import expression_lines, formula_lines
from .numbers import DIGITS, r_format, r_round, r_zapsmall
from .strings import WIDTH, cat_fill, print_char_matrix, print_named, r_abbreviate, r_strwrap

COR_MAX = 12        # getOption("lme4.summary.cor.max")

@dataclass(frozen=True)
class VarCorrBlock:
    """One random-effects term as printed in the 'Random effects' table."""

    group: str              # as printed: "Subject", "Subject.1", "cask:batch"
    names: tuple            # column names, e.g. ("(Intercept)", "Days")
    variance: np.ndarray    # (k,) variances as to be printed (lme4 prints sd**2)
    sd: np.ndarray          # (k,) standard deviations
    corr: np.ndarray | None = None   # (k, k) correlations; None when k == 1


@dataclass(frozen=True)
class SummaryData:
    """Everything ``print(summary(fit))`` shows, as plain numbers and strings."""

    kind: str                      # "lmer" or "glmer"
    formula: object                # str, as written (re-deparsed R-style, `||` expanded);
    #                                or a tuple of ready deparse() lines, printed as given
    data_name: str | None       # printed after "   Data: "; None -> no Data line
    reml: bool = False             # lmer: REML fit?
    family: str | None = None   # glmer: "binomial", "Gamma", "poisson", ...
    link: str | None = None     # glmer: "logit", "log", ...
    nagq: int = 1                  # glmer: 1 = Laplace, otherwise the AGQ header (also for 0)
    reml_criterion: float | None = None
    aic: float | None = None
    bic: float | None = None
    loglik: float | None = None
    deviance: float | None = None
    df_resid: int | None = None
    resid_quantiles: tuple = ()    # Min, 1Q, Median, 3Q, Max of scaled Pearson residuals
    varcorr: tuple = ()            # tuple of VarCorrBlock, in printed order
    residual_sd: float | None = None   # None: no "Residual" row (binomial, poisson)
    nobs: int = 0
    ngrps: tuple = ()              # ((name, nlevels), ...) in printed order
    coef_names: tuple = ()
    coef_columns: tuple = ()       # ("Estimate", "Std. Error", "t value"[, "Pr(>|z|)"])
    coef_values: np.ndarray | None = None   # (p, len(coef_columns))
    fixef_corr: np.ndarray | None = None    # (p, p) correlation of fixed effects
    messages: tuple = ()           # lines printed at the very end (see convergence_messages)
    # --- optional extras (all default to "not shown") ---
    weights: str | None = None  # "Weights: <weights>" line (the weights= argument as written)
    offset: str | None = None   # " Offset: <offset>" line (the offset= argument as written)
    control: str | None = None  # "Control: <control>" line (not printed for "lmerControl()")
    subset: str | None = None   # " Subset: <subset>" line
    fit_msgs: tuple = ()           # "fit warnings:" block (e.g. rank-deficiency notes)
    correlation: bool | None = None   # show fixed-effect correlations? None: p <= 12
    object_name: str = "summary(fit)"   # name used in lme4's "Correlation matrix not shown" note
    title_suffix: str = ""         # lmerTest: ". t-tests use Satterthwaite's method"
    object_class: str | None = None   # lmerTest: "lmerModLmerTest" (None: lmerMod / glmerMod)
    expand_double_bars: bool = True   # lme4 prints ``||`` expanded; lmerTest the formula as written


def method_title(d: SummaryData) -> str:
    if d.kind == "glmer":
        if d.nagq == 1:
            how = "(Laplace Approximation)"
        else:
            how = "(Adaptive Gauss-Hermite Quadrature, nAGQ = %d)" % int(d.nagq)
        return "Generalized linear mixed model fit by maximum likelihood " + how
    if d.reml:
        return "Linear mixed model fit by REML" + d.title_suffix
    # paste("maximum likelihood", NULL) leaves a trailing blank
    return "Linear mixed model fit by maximum likelihood " + d.title_suffix


def object_class(d: SummaryData) -> str:
    if d.object_class:
        return d.object_class
    return "glmerMod" if d.kind == "glmer" else "lmerMod"


def _prt_meth_title(d: SummaryData) -> list:
    mtit = method_title(d)
    cls = object_class(d)
    if len(mtit) + 5 + len(cls) > WIDTH:
        wrapped = r_strwrap(mtit, width=WIDTH - 2, exdent=2)
        return cat_fill([wrapped, " [", cls, "]"], sep="")
    return ["%s ['%s']" % (mtit, cls)]


def _prt_call(d: SummaryData) -> list:
    lines = []
    if d.kind == "glmer" and d.family is not None:
        objs = [" Family:", d.family]
        if d.link is not None:
            objs.append(" ( " + d.link + " )")
        lines += cat_fill(objs)
    if d.formula is not None:
        lines += cat_fill(["Formula:", formula_lines(d.formula, d.expand_double_bars)])
    if d.data_name is not None:
        lines += cat_fill(["   Data:", expression_lines(d.data_name)])
    if d.weights is not None:
        lines += cat_fill(["Weights:", expression_lines(d.weights)])
    if d.offset is not None:
        lines += cat_fill([" Offset:", expression_lines(d.offset)])
    if d.control is not None and expression_lines(d.control) != ["lmerControl()"]:
        lines += cat_fill(["Control:", expression_lines(d.control)])
    if d.subset is not None:
        lines += cat_fill([" Subset:", expression_lines(d.subset)])
    return lines


def _prt_aictab(d: SummaryData, digits: int = 1) -> list:
    """lme4's .prt.aictab: the criteria rounded to ``digits`` decimals (summary 1, print 4)."""
    if d.kind == "lmer" and d.reml:
        crit = r_round(d.reml_criterion, digits)
        return cat_fill(["REML criterion at convergence:", r_format([crit], DIGITS)[0]])
    names = ["AIC", "BIC", "logLik", "deviance", "df.resid"]
    vals = [d.aic, d.bic, d.loglik, d.deviance, d.df_resid]
    t4 = [None if v is None else r_round(float(v), digits) for v in vals]
    t4f = r_format(t4, DIGITS)
    t4f[4] = r_format([t4[4]], DIGITS)[0]
    return print_named(t4f, names)


def _prt_resids(d: SummaryData, digits: int) -> list:
    lines = ["Scaled residuals: "]
    rq = r_zapsmall([float(v) for v in d.resid_quantiles], digits + 1)
    vals = r_format(rq, digits)
    lines += print_named(vals, ["Min", "1Q", "Median", "3Q", "Max"])
    lines.append("")
    return lines


VC_COLUMNS = ("Variance", "Std.Dev.")


def format_vc_matrix(varcorr, residual_sd, digits: int, comp=VC_COLUMNS):
    """lme4's formatVC(): the character matrix of the random-effects table (the blocks of
    ``varcorr``, a Residual row unless ``residual_sd`` is None; ``comp`` the columns shown)."""
    comp = _vc_columns(comp)
    blocks = list(varcorr)
    use_sc = residual_sd is not None
    groups, names, sds, variances, lens = [], [], [], [], []
    for b in blocks:
        k = len(b.names)
        lens.append(k)
        for i in range(k):
            groups.append(b.group if i == 0 else "")
            names.append(str(b.names[i]))
        sds += [float(v) for v in np.asarray(b.sd, dtype=float).ravel()]
        variances += [float(v) for v in np.asarray(b.variance, dtype=float).ravel()]
    if use_sc:
        lens.append(1)
        groups.append("Residual")
        names.append("")
        sds.append(float(residual_sd))
        variances.append(float(residual_sd) ** 2)
    formatted = {"Variance": r_format(variances, digits), "Std.Dev.": r_format(sds, digits)}
    colnames = ["Groups", "Name"] + list(comp)
    cells = [[groups[i], names[i]] + [formatted[c][i] for c in comp] for i in range(len(groups))]
    if any(len(b.names) > 1 and b.corr is not None for b in blocks):  # (diag terms have none)
        maxlen = max(len(b.names) for b in blocks if b.corr is not None)
        dig = max(2, digits - 2)
        corr_rows = []
        for b in blocks:
            k = len(b.names)
            if k > 1 and b.corr is not None:
                cm = np.asarray(b.corr, dtype=float)
                fc = r_format([r_round(v, dig) for v in cm.ravel()], DIGITS, nsmall=dig)
                cc = [[fc[i * k + j] if i > j else "" for j in range(k)] for i in range(k)]
            else:
                cc = [["" for _ in range(k)] for _ in range(k)]
            for row in cc:
                corr_rows.append(row + [""] * (maxlen - k))
        corr_rows = [row[: maxlen - 1] for row in corr_rows]
        while len(corr_rows) < len(cells):
            corr_rows.append([""] * (maxlen - 1))
        colnames = colnames + ["Corr"] + [""] * max(0, maxlen - 2)
        cells = [cells[i] + corr_rows[i] for i in range(len(cells))]
    return cells, colnames


def _vc_columns(comp) -> tuple:
    """lme4's ``comp`` argument: "Variance" and/or "Std.Dev." (partial names, as pmatch)."""
    comp = (comp,) if isinstance(comp, str) else tuple(comp)
    out = []
    for c in comp:
        matches = [name for name in VC_COLUMNS if isinstance(c, str) and c and name.startswith(c)]
        if len(matches) != 1:
            raise ValueError(f"comp must name 'Variance' and/or 'Std.Dev.', got {c!r}")
        out.append(matches[0])
    if not out:
        raise ValueError("comp must show variances or standard deviations (or both)")
    return tuple(out)


def _vc_lines(varcorr, residual_sd, digits: int, comp=VC_COLUMNS) -> list:
    cells, colnames = format_vc_matrix(varcorr, residual_sd, digits, comp)
    return print_char_matrix(cells, [""] * len(cells), colnames, right=False)


def _prt_vc(d: SummaryData, digits: int, comp=VC_COLUMNS) -> list:
    return ["Random effects:"] + _vc_lines(d.varcorr, d.residual_sd, digits, comp)


def format_varcorr(varcorr, residual_sd=None, comp="Std.Dev.", digits: int = DIGITS - 2) -> str:
    """lme4's ``print(VarCorr(fit), comp = comp)`` (digits 5): the blocks of ``varcorr`` and a
    Residual row with ``residual_sd`` (None: no Residual row, as for binomial and Poisson)."""
    return "\n".join(_vc_lines(varcorr, residual_sd, digits, comp))


def _prt_grps(d: SummaryData) -> list:
    grp = "; ".join("%s, %d" % (str(n), int(k)) for n, k in d.ngrps)
    return cat_fill(["Number of obs: %d, groups: " % int(d.nobs), grp])


def fixef_corr_cells(d: SummaryData, p: int):
    """(cells, row names, column names) of the 'Correlation of Fixed Effects' matrix."""
    corr = np.asarray(d.fixef_corr, dtype=float)
    rn = [str(n) for n in d.coef_names]
    rns = r_abbreviate(rn, 11)
    cns = r_abbreviate(rn, 6)
    # corF@x is stored column-major; the matrix is symmetric so the order is immaterial
    flat = [r_round(v, 3) for v in corr.T.ravel()]
    fm = r_format(flat, DIGITS, nsmall=3)
    cell = [[fm[j * p + i] if i > j else "" for j in range(p)] for i in range(p)]
    cells = [row[: p - 1] for row in cell[1:]]
    return cells, rns[1:], cns[: p - 1]


def _fixef_corr_lines(d: SummaryData, p: int) -> list:
    cells, rnames, cnames = fixef_corr_cells(d, p)
    lines = ["", "Correlation of Fixed Effects:"]
    lines += print_char_matrix(cells, rnames, cnames, right=False)
    return lines


def convergence_messages(optimizer: str, code: int = 0, lme4_messages=(), optimizer_warnings=(),
                         optimizer_message: str | None = None) -> tuple:
    """The lines lme4's .prt.warn() prints at the end of a summary.

    Nothing is printed when the optimizer code is 0 and there are no lme4 messages
    (e.g. "boundary (singular) fit: see help('isSingular')") and no optimizer warnings.
    """
    msgs = tuple(lme4_messages)
    warns = tuple(optimizer_warnings)
    if code > 0 or msgs or warns:
        if code == 0:
            m = "(OK)"
        elif optimizer_message is not None:
            m = "(%s)" % optimizer_message
        else:
            m = ""
        return ("optimizer (%s) convergence code: %d %s" % (optimizer, int(code), m),) + msgs + warns
    return ()


def format_summary(d: SummaryData) -> str:
    """lme4 1.1-31's ``print(summary(fit))`` text (width 80, digits 7); lines joined by "\\n".

    When the summary ends with the optimizer/convergence lines, the trailing empty
    line lme4 prints after them is kept (the result then ends with "\\n").
    """
    digits = max(3, DIGITS - 3)
    lines = []
    lines += _prt_meth_title(d)
    lines += _prt_call(d)
    lines.append("")
    lines += _prt_aictab(d)
    lines.append("")
    lines += _prt_resids(d, digits)
    lines += _prt_vc(d, digits)
    lines += _prt_grps(d)
    p = len(d.coef_names)
    if p > 0:
        lines.append("")
        lines.append("Fixed effects:")
        lines += coefmat_lines(d.coef_names, d.coef_columns, d.coef_values, digits)
        has_cor = d.fixef_corr is not None
        correlation = d.correlation
        if correlation is None:
            correlation = has_cor and p <= COR_MAX
            if not correlation and p > COR_MAX:
                nam = d.object_name
                if len(nam) >= 32:
                    nam = "...."
                lines += ["",
                          "Correlation matrix not shown by default, as p = %d > %d." % (p, COR_MAX),
                          "Use print(%s, correlation=TRUE)  or" % nam,
                          "    vcov(%s)        if you need it" % nam,
                          ""]
        if correlation and has_cor and p > 1:
            lines += _fixef_corr_lines(d, p)
    if d.fit_msgs and any(len(m) > 0 for m in d.fit_msgs):
        lines.append("fit warnings:")
        lines += [str(m) for m in d.fit_msgs]
    if d.messages:
        lines += [str(m) for m in d.messages]
        lines.append("")
    return "\n".join(lines)


def format_print(d: SummaryData) -> str:
    """lme4 1.1-31's ``print(fit)`` (print.merMod): title, call, criteria rounded to 4 decimals,
    random-effects standard deviations, group sizes and the fixed effects as one named vector."""
    digits = max(3, DIGITS - 3)
    lines = _prt_meth_title(d) + _prt_call(replace(d, control=None))  # the short call: no Control
    lines += _prt_aictab(d, 4)
    lines += _prt_vc(d, digits, comp=("Std.Dev.",))
    lines += _prt_grps(d)
    if len(d.coef_names):
        estimates = [float(v) for v in np.asarray(d.coef_values, dtype=float)[:, 0]]
        lines.append("Fixed Effects:")
        lines += print_named(r_format(estimates, digits), [str(n) for n in d.coef_names], gap=2)
    else:
        lines.append("No fixed effect coefficients")
    if d.fit_msgs and any(len(m) > 0 for m in d.fit_msgs):
        lines.append("fit warnings:")
        lines += [str(m) for m in d.fit_msgs]
    if d.messages:  # .prt.warn(summary = TRUE): the code line and counts only
        lme4_messages = len(d.messages) - 1
        lines.append(f"{d.messages[0]} ; 0 optimizer warnings; {lme4_messages} lme4 warnings ")
    return "\n".join(lines)
