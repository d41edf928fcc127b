"""Text and HTML rendering of a fitted model's summary, as lme4 prints it.

This module is pure formatting: it takes plain numbers (collected in a
:class:`SummaryData`) and produces exactly the text of lme4 1.1-31's
``print(summary(fit))`` under R 4.2.2 with ``options(width = 80,
useFancyQuotes = FALSE)`` and the default ``digits = 7``.

To do that it re-implements the small part of R's printing machinery that
the summary uses:

* ``format()`` of numeric vectors (common significant digits, fixed versus
  scientific notation, common width, ``nsmall``), including R's
  long-double based significant-digit computation;
* ``round()`` (R >= 4.0.0 algorithm) and ``zapsmall()``;
* printing of named vectors and of character matrices (column alignment and
  wrapping of wide matrices at the console width);
* ``cat(..., fill = TRUE)`` line filling and ``strwrap()``;
* ``abbreviate()``, ``format.pval()``, the significance stars of
  ``symnum()`` and ``printCoefmat()``;
* ``deparse()`` of the formula and of the other call arguments (R's spacing
  and line breaking at ``width.cutoff = 60``), with lme4's expansion of
  ``(x || g)`` terms, so a formula can be passed as the user wrote it.

Only numpy and the standard library are used.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, replace
from fractions import Fraction
from collections.abc import Sequence

import numpy as np

__all__ = [
    "VarCorrBlock",
    "SummaryData",
    "format_summary",
    "format_summary_html",
    "format_print",
    "format_varcorr",
    "convergence_messages",
    "r_format",
    "r_round",
    "r_signif_digits",
    "r_zapsmall",
    "r_format_pval",
    "r_abbreviate",
    "r_strwrap",
    "r_signif_stars",
    "r_deparse",
    "lme4_formula_lines",
]

WIDTH = 80          # options(width = 80)
DIGITS = 7          # options(digits = 7)
GAP = 1             # R_print.gap
DBL_EPS = 2.220446049250313e-16   # .Machine$double.eps
COR_MAX = 12        # getOption("lme4.summary.cor.max")
SIGNIF_LEGEND = "0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"


# ---------------------------------------------------------------------------
# Data containers
# ---------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------
# R number formatting
# ---------------------------------------------------------------------------

_KP_MAX = 27           # exact powers of ten held in R's long double table


def _round_ld(q: Fraction) -> Fraction:
    """Round a positive rational to the nearest x87 long double (64-bit significand)."""
    if q == 0:
        return q
    n, d = q.numerator, q.denominator
    e = n.bit_length() - d.bit_length()          # 2^(e-1) < q < 2^(e+1)
    if (n << max(0, -e)) < (d << max(0, e)):     # q < 2^e
        e -= 1
    shift = 63 - e                               # q * 2^shift in [2^63, 2^64)
    if shift >= 0:
        num, den = n << shift, d
    else:
        num, den = n, d << (-shift)
    m, rem = divmod(num, den)
    if 2 * rem > den or (2 * rem == den and (m & 1)):
        m += 1
    return Fraction(m) / (Fraction(2) ** shift) if shift >= 0 else Fraction(m * (1 << -shift))


def _rint_half_even(q: Fraction) -> int:
    fl = math.floor(q)
    diff = q - fl
    if diff > Fraction(1, 2) or (diff == Fraction(1, 2) and fl % 2 == 1):
        return fl + 1
    return fl


def _scientific(x: float, digits: int):
    """R's scientific(): (neg, kpower, nsig, roundingwidens) of x at `digits` significant digits."""
    if x == 0.0:
        return 0, 0, 1, False
    neg = 1 if x < 0 else 0
    r = -x if neg else x
    if digits >= 16:   # R uses sprintf("%.*e") for digits > DBL_DIG
        s = "%.*e" % (digits - 1, r)
        mant, ex = s.split("e")
        kpower = int(ex)
        mant = mant.replace(".", "").rstrip("0")
        return neg, kpower, max(1, len(mant)), False
    kp = math.floor(math.log10(r)) - digits + 1
    # long double arithmetic, emulated exactly
    if abs(kp) <= _KP_MAX:
        q = Fraction(r) / (Fraction(10) ** kp)
    else:
        q = Fraction(r) / _round_ld(Fraction(10) ** kp)
    r_prec = _round_ld(q)
    if r_prec < 10 ** (digits - 1):
        r_prec = _round_ld(r_prec * 10)
        kp -= 1
    alpha = float(_rint_half_even(r_prec))
    nsig = digits
    for _ in range(digits):
        alpha /= 10.0
        if alpha == math.floor(alpha):
            nsig -= 1
        else:
            break
    if nsig == 0 and digits > 0:
        nsig = 1
        kp += 1
    kpower = kp + digits - 1
    rgt = digits - kpower
    rgt = 0 if rgt < 0 else (_KP_MAX if rgt > _KP_MAX else rgt)
    fuzz = 0.5 / float(10 ** rgt)
    roundingwidens = (0 < kpower <= _KP_MAX
                      and Fraction(r) < _round_ld(Fraction(10 ** kpower) - Fraction(fuzz)))
    return neg, kpower, nsig, roundingwidens


def _format_real_info(xs: Sequence, digits: int = DIGITS, nsmall: int = 0):
    """R's formatReal(): common (width, decimals, exponent flag) for a numeric vector.

    Elements may be floats, ``None`` (R's NA) or NaN / +-Inf.
    """
    naflag = nanflag = posinf = neginf = False
    neg = 0
    mxl = rgt = mxsl = mxns = None
    mnl = None
    for v in xs:
        if v is None:
            naflag = True
            continue
        v = float(v)
        if not math.isfinite(v):
            if math.isnan(v):
                nanflag = True
            elif v > 0:
                posinf = True
            else:
                neginf = True
            continue
        neg_i, kpower, nsig, widens = _scientific(v, digits)
        left = kpower + 1
        if widens:
            left -= 1
        sleft = neg_i + (1 if left <= 0 else left)
        right = nsig - left
        if neg_i:
            neg = 1
        rgt = right if rgt is None or right > rgt else rgt
        mxl = left if mxl is None or left > mxl else mxl
        mnl = left if mnl is None or left < mnl else mnl
        mxsl = sleft if mxsl is None or sleft > mxsl else mxsl
        mxns = nsig if mxns is None or nsig > mxns else mxns
    if mxns is not None:
        if digits == 0:
            rgt = 0
        if mxl < 0:
            mxsl = 1 + neg
        if rgt < 0:
            rgt = 0
        wF = mxsl + rgt + (1 if rgt != 0 else 0)
        e = 2 if (mxl > 100 or mnl <= -99) else 1
        d = mxns - 1
        w = neg + (1 if d > 0 else 0) + d + 4 + e
        if wF <= w:     # scipen = 0
            e = 0
            if nsmall > rgt:
                rgt = nsmall
                wF = mxsl + rgt + (1 if rgt != 0 else 0)
            d = rgt
            w = wF
    else:
        w = d = e = 0
    if naflag and w < 2:
        w = 2
    if nanflag and w < 3:
        w = 3
    if posinf and w < 3:
        w = 3
    if neginf and w < 4:
        w = 4
    return w, d, e


def _encode_real(v, w: int, d: int, e: int) -> str:
    """R's EncodeReal0()."""
    if v is None:
        return "NA".rjust(w)
    v = float(v)
    if v == 0.0:
        v = 0.0
    if not math.isfinite(v):
        s = "NaN" if math.isnan(v) else ("Inf" if v > 0 else "-Inf")
        return s.rjust(w)
    if e:
        if d:
            return "%#*.*e" % (w, d, v)
        return "%*.*e" % (w, d, v)
    return "%*.*f" % (w, d, v)


def r_format(xs, digits: int = DIGITS, nsmall: int = 0, trim: bool = False) -> list:
    """R's ``format(x, digits = digits, nsmall = nsmall)`` for a numeric vector.

    Returns a list of strings of common width (unless ``trim``).
    """
    xs = list(np.asarray(xs, dtype=object).ravel()) if not isinstance(xs, list) else xs
    w, d, e = _format_real_info(xs, digits, nsmall)
    if trim:
        w = 0
    return [_encode_real(v, w, d, e) for v in xs]


def _pow_di(x: float, n: int) -> float:
    """R_pow_di(): x^n by repeated squaring in double precision."""
    xn = 1.0
    if n == 0:
        return xn
    is_neg = n < 0
    if is_neg:
        n = -n
    while True:
        if n & 1:
            xn *= x
        n >>= 1
        if n:
            x *= x
        else:
            break
    return 1.0 / xn if is_neg else xn


def r_round(x, digits=0):
    """R's ``round(x, digits)`` (R >= 4.0.0 algorithm, nmath/fround.c). Scalar or array."""
    if np.ndim(x) > 0:
        return np.array([r_round(v, digits) for v in np.asarray(x, dtype=float).ravel()]).reshape(np.shape(x))
    if x is None:
        return None
    x = float(x)
    digits = float(digits)
    if math.isnan(x) or math.isnan(digits):
        return x + digits
    if not math.isfinite(x):
        return x
    if digits > 308 + 15 or x == 0.0:
        return x
    if digits < -308:
        return 0.0
    if digits == 0.0:
        return float(round(x))     # nearbyint: half to even, as Python's round
    dig = int(math.floor(digits + 0.5))
    sgn = 1.0
    if x < 0.0:
        sgn = -1.0
        x = -x
    logb = math.frexp(x)[1] - 1
    l10x = 0.301029995663981195 * (0.5 + logb)
    if l10x + dig > 15:
        return sgn * x
    if dig <= 308:
        pow10 = _pow_di(10.0, dig)
        x10 = x * pow10
        i10 = math.floor(x10)
        xd = i10 / pow10
        xu = math.ceil(x10) / pow10
    else:
        e10 = dig - 308
        p10 = _pow_di(10.0, e10)
        pow10 = _pow_di(10.0, 308)
        x10 = (x * pow10) * p10
        i10 = math.floor(x10)
        xd = i10 / pow10 / p10
        xu = math.ceil(x10) / pow10 / p10
    du = xu - x
    dd = x - xd
    return sgn * (xu if (du < dd or (math.fmod(i10, 2.0) == 1 and du == dd)) else xd)


def r_signif_digits(x: float, digits: int = DIGITS) -> int:
    """Number of significant digits R would show for x with `digits` (R's scientific())."""
    return _scientific(float(x), digits)[2]


def r_zapsmall(xs, digits: int = DIGITS) -> list:
    """R's ``zapsmall(x, digits)``."""
    vals = [float(v) for v in xs]
    fin = [abs(v) for v in vals if not math.isnan(v)]
    if not fin:
        return vals
    mx = max(fin)
    dg = max(0.0, digits - math.log10(mx)) if mx > 0 else digits
    return [r_round(v, dg) for v in vals]


def r_format_pval(pv, digits: int = max(1, DIGITS - 2), eps: float = DBL_EPS) -> list:
    """R's ``format.pval(pv, digits, eps)``."""
    pv = [None if (v is None or (isinstance(v, float) and math.isnan(v))) else float(v) for v in pv]
    ok = [v for v in pv if v is not None]
    is0 = [v < eps for v in ok]
    r = [""] * len(ok)
    rr_nonzero = []
    if not all(is0):
        idx = [i for i, z in enumerate(is0) if not z]
        vals = [ok[i] for i in idx]
        expo = [math.floor(math.log10(v if v > 0 else 1e-50)) for v in vals]
        fixp = [ex >= -3 or (ex == -4 and digits > 1) for ex in expo]
        rr = [""] * len(vals)
        for flag in (True, False):
            sub = [j for j, f in enumerate(fixp) if f == flag]
            if sub:
                fm = r_format([vals[j] for j in sub], digits=digits)
                for j, s in zip(sub, fm):
                    rr[j] = s
        for i, s in zip(idx, rr):
            r[i] = s
        rr_nonzero = rr
    if any(is0):
        dg = max(1, digits - 2)
        if not all(is0):
            nc = max(len(s) for s in rr_nonzero)
            if dg > 1 and dg + 6 > nc:
                dg = max(1, nc - 7)
            sep = "" if (dg == 1 and nc <= 6) else " "
        else:
            sep = "" if dg == 1 else " "
        s0 = "<" + sep + r_format([eps], digits=dg)[0]
        for i, z in enumerate(is0):
            if z:
                r[i] = s0
    out, k = [], 0
    for v in pv:
        if v is None:
            out.append("NA")
        else:
            out.append(r[k])
            k += 1
    return out


def r_signif_stars(pv) -> list:
    """The symbols of ``symnum(pv, cutpoints = c(0, .001, .01, .05, .1, 1))`` (before format())."""
    cuts = [0.0, 0.001, 0.01, 0.05, 0.1, 1.0]
    syms = ["***", "**", "*", ".", " "]
    out = []
    for v in pv:
        if v is None or math.isnan(v):
            out.append("")
            continue
        code = None
        if cuts[0] <= v <= cuts[-1]:
            for i in range(5):
                if (v > cuts[i] or (i == 0 and v >= cuts[0])) and v <= cuts[i + 1]:
                    code = i
                    break
        elif abs(v - cuts[0]) < 1e-5:
            code = 0
        out.append(syms[code] if code is not None else "")
    return out


# ---------------------------------------------------------------------------
# R string utilities
# ---------------------------------------------------------------------------

def _stripchars(s: str, minlen: int) -> str:
    """The C routine behind abbreviate() (ASCII version, use.classes = TRUE)."""
    s = list(s)

    def slen():
        return len(s)

    def upper():
        return len(s) - 1

    def ch(i):
        return s[i] if 0 <= i < len(s) else "\0"

    def firstchar(i):
        return ch(i - 1).isspace()

    def lastchar(i):
        return (not ch(i - 1).isspace()) and (ch(i + 1) == "\0" or ch(i + 1).isspace())

    def lc_vowel(i):
        return ch(i) in "aeiou"

    def islower(c):
        return "a" <= c <= "z"

    nspace = 0
    done = False
    if slen() < minlen:
        done = True
    if not done:
        # spaces: trailing ones removed, internal ones counted
        j = 1
        for i in range(upper(), 0, -1):
            if i < len(s) and s[i].isspace():
                if j:
                    del s[i:]
                else:
                    nspace += 1
            else:
                j = 0
            if slen() - nspace <= minlen:
                done = True
                break
    passes = [
        lambda i: lc_vowel(i) and lastchar(i),
        lambda i: lc_vowel(i) and not firstchar(i),
        lambda i: islower(ch(i)) and lastchar(i),
        lambda i: islower(ch(i)) and not firstchar(i),
        lambda i: (not firstchar(i)) and not ch(i).isspace(),
    ]
    for test in passes:
        if done:
            break
        for i in range(upper(), 0, -1):
            if i < len(s) and test(i):
                del s[i]
            if slen() - nspace <= minlen:
                done = True
                break
    # remove internal spaces as required
    if len(s) > minlen:
        for i in range(len(s) - 1, 0, -1):
            if i < len(s) and s[i].isspace():
                del s[i]
    return "".join(s)


def r_abbreviate(names, minlength: int = 4) -> list:
    """R's ``abbreviate(names, minlength)`` (method "left.kept", use.classes, not strict)."""
    names = [str(n) for n in names]
    if minlength <= 0:
        return ["" for _ in names]
    names = [n.strip(" ") for n in names]
    old = list(names)
    uniq = []
    for n in names:
        if n not in uniq:
            uniq.append(n)

    def abbr1(n, ml):
        return _stripchars(n, ml) if len(n) > ml else n

    x = list(uniq)
    dup2 = [True] * len(uniq)
    ml = minlength
    while True:
        for i in range(len(uniq)):
            if dup2[i]:
                x[i] = abbr1(uniq[i], ml)
        seen = set()
        dups = []
        for v in x:
            dups.append(v in seen)
            seen.add(v)
        if not any(dups):
            break
        ml += 1
        dupvals = {x[i] for i in range(len(x)) if dups[i]}
        dup2 = [dups[i] or (x[i] in dupvals) for i in range(len(x))]
    m = dict(zip(uniq, x))
    return [m[n] for n in old]


def r_strwrap(text: str, width: int, indent: int = 0, exdent: int = 0, prefix: str = "") -> list:
    """R's ``strwrap()`` for a single paragraph of text."""
    words = [w for w in text.replace("\t", " ").replace("\n", " ").split(" ")]
    # drop empty words except those after a sentence end
    kept = []
    for i, w in enumerate(words):
        if w == "":
            prev = words[i - 1] if i > 0 else ""
            if i > 0 and re.search(r"[.?!][)\"']{0,1}$", prev):
                kept.append(w)
            continue
        kept.append(w)
    words = kept
    if not words:
        return [prefix]
    lines = []
    nc = [len(w) for w in words]
    start = 0
    max_len = width - len(prefix) - indent
    first = True
    while start < len(words):
        total = 0
        k = 0
        for j in range(start, len(words)):
            total += nc[j] + 1
            if total <= max_len:
                k += 1
            else:
                break
        k = max(k, 1)
        end = start + k
        chunk = words[start:end]
        if chunk and chunk[-1] == "":
            chunk = chunk[:-1]
        lines.append(prefix + (" " * indent if first else " " * exdent) + " ".join(chunk))
        if first:
            first = False
            max_len = width - len(prefix) - exdent
        if end < len(words) and nc[end] == 0:
            end += 1
        start = end
    return lines


def _cat_fill(objs, sep: str = " ", fill: int = WIDTH) -> list:
    """R's ``cat(..., sep = sep, fill = fill)``; objs is a list of string vectors.

    Returns the printed lines (the output always ends with a newline).
    """
    out = []
    width = 0
    sepw = len(sep)
    for iobj, s in enumerate(objs):
        if s is None:
            continue
        if isinstance(s, str):
            s = [s]
        if iobj != 0:
            out.append(sep)
        n = len(s)
        if n > 0:
            p = s[0]
            w = len(p)
            if iobj > 0 and width + w + sepw > fill:
                out.append("\n")
                width = 0
            for i in range(n):
                out.append(p)
                width += w + sepw
                if i < n - 1:
                    out.append(sep)
                    p = s[i + 1]
                    w = len(p)
                    if width + w + sepw > fill:
                        out.append("\n")
                        width = 0
    out.append("\n")
    text = "".join(out)
    return text[:-1].split("\n")


# ---------------------------------------------------------------------------
# R's deparse() of a formula (spacing and line breaking at width.cutoff = 60)
# ---------------------------------------------------------------------------

_RESERVED = {"if", "else", "repeat", "while", "function", "for", "next", "break", "TRUE", "FALSE",
             "NULL", "Inf", "NaN", "NA", "NA_integer_", "NA_real_", "NA_character_", "in"}
_CONSTANTS = {"TRUE", "FALSE", "NULL", "Inf", "NaN", "NA", "NA_integer_", "NA_real_",
              "NA_character_", "NA_complex_"}
# binary operators: left binding power, right-assoc?, deparse kind ("b" spaced, "b2" tight)
_BINOPS = {
    "~": (10, False, "b"),
    "||": (20, False, "b"), "|": (20, False, "b"),
    "&&": (30, False, "b"), "&": (30, False, "b"),
    "==": (50, False, "b"), "!=": (50, False, "b"), "<": (50, False, "b"), ">": (50, False, "b"),
    "<=": (50, False, "b"), ">=": (50, False, "b"),
    "+": (60, False, "b"), "-": (60, False, "b"),
    "*": (70, False, "b"), "/": (70, False, "b2"),
    "%%": (80, False, "b"),          # any %op% (user binop: deparsed with spaces)
    ":": (90, False, "b2"),
    "^": (110, True, "b2"),
    "$": (120, False, "b2"), "@": (120, False, "b2"),
}
_UNARY_BP = {"-": 100, "+": 100, "!": 40, "~": 10}
_TOKEN_RE = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?L?)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<bt>`(?:[^`\\]|\\.)*`)
  | (?P<name>(?:[A-Za-z]|\.(?![0-9]))[A-Za-z0-9._]*|\.)
  | (?P<op>%[^%]*%|\|\||&&|==|!=|<=|>=|\[\[|[-+*/^~|&<>!:$@(),\[\]=])
""", re.VERBOSE)


class _Node:
    __slots__ = ("kind", "value", "args", "names")

    def __init__(self, kind, value=None, args=(), names=()):
        self.kind = kind      # "sym", "num", "str", "call", "paren", "bin", "un", "sub"
        self.value = value
        self.args = list(args)
        self.names = list(names)


def _tokenize(text: str) -> list:
    toks, pos = [], 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m:
            raise ValueError("cannot tokenize %r" % text[pos:])
        pos = m.end()
        kind = m.lastgroup
        if kind == "ws":
            continue
        val = m.group(kind)
        if kind == "bt":
            kind, val = "name", val[1:-1]
        toks.append((kind, val))
    return toks


class _Parser:
    def __init__(self, text):
        self.toks = _tokenize(text)
        self.i = 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None)

    def take(self, val=None):
        t = self.peek()
        if t[0] is None or (val is not None and t[1] != val):
            raise ValueError("unexpected token %r" % (t,))
        self.i += 1
        return t

    def parse(self):
        node = self.expr(0)
        if self.i != len(self.toks):
            raise ValueError("trailing tokens")
        return node

    def expr(self, rbp):
        kind, val = self.take()
        if kind == "op" and val in _UNARY_BP:
            left = _Node("un", val, [self.expr(_UNARY_BP[val])])
        elif kind == "op" and val == "(":
            inner = self.expr(0)
            self.take(")")
            left = _Node("paren", None, [inner])
        elif kind == "num":
            left = _Node("num", val)
        elif kind == "str":
            left = _Node("str", val)
        elif kind == "name":
            left = _Node("sym", val)
        else:
            raise ValueError("unexpected %r" % val)
        while True:
            kind, val = self.peek()
            if kind != "op":
                break
            if val == "(":
                self.take("(")
                args, names = self.arglist(")")
                left = _Node("call", left, args, names)
                continue
            if val in ("[", "[["):
                self.take(val)
                args, names = self.arglist("]")
                if val == "[[":
                    self.take("]")
                left = _Node("sub", (left, val), args, names)
                continue
            key = "%%" if (val.startswith("%") and len(val) >= 2) else val
            if key not in _BINOPS:
                break
            lbp, rassoc, _ = _BINOPS[key]
            if lbp <= rbp:
                break
            self.take()
            right = self.expr(lbp - 1 if rassoc else lbp)
            left = _Node("bin", val, [left, right])
        return left

    def arglist(self, close):
        args, names = [], []
        if self.peek() == ("op", close):
            self.take(close)
            return args, names
        while True:
            nm = None
            k, v = self.peek()
            if k in ("name", "str") and self.i + 1 < len(self.toks) and self.toks[self.i + 1] == ("op", "="):
                nm = v if k == "name" else v[1:-1]
                self.i += 2
            args.append(self.expr(5))
            names.append(nm)
            if self.peek() == ("op", ","):
                self.take(",")
                continue
            self.take(close)
            return args, names


def _syntactic(name: str) -> bool:
    if name in _RESERVED:
        return name in _CONSTANTS
    return re.fullmatch(r"((\.[A-Za-z_.]|[A-Za-z])[A-Za-z0-9_.]*|\.)", name) is not None or name == "..."


class _Deparser:
    def __init__(self, cutoff=60):
        self.cutoff = cutoff
        self.lines = []
        self.buf = ""
        self.len = 0
        self.indent = 0
        self.startline = True

    def put(self, s):
        if self.startline:
            self.startline = False
            for i in range(1, self.indent + 1):
                self.put("    " if i <= 4 else "  ")
        self.buf += s
        self.len += len(s)

    def writeline(self):
        self.lines.append(self.buf)
        self.buf = ""
        self.len = 0
        self.startline = True

    def linebreak(self, state):
        if self.len > self.cutoff:
            if not state[0]:
                state[0] = True
                self.indent += 1
            self.writeline()

    def name(self, n):
        return n if _syntactic(n) else "`" + n.replace("`", "\\`") + "`"

    def num(self, v):
        if v.endswith("L"):
            return v
        return r_format([float(v)], 15, trim=True)[0]

    def args(self, args, names):
        state = [False]
        for i, (a, nm) in enumerate(zip(args, names)):
            if nm is not None:
                self.put(self.name(nm) + " = ")
            self.node(a)
            if i < len(args) - 1:
                self.put(", ")
                self.linebreak(state)
        if state[0]:
            self.indent -= 1

    def node(self, n):
        if n.kind == "sym":
            self.put(self.name(n.value))
        elif n.kind == "num":
            self.put(self.num(n.value))
        elif n.kind == "str":
            body = n.value[1:-1]
            if n.value[0] == "'":
                body = body.replace("\\'", "'").replace('"', '\\"')
            self.put('"' + body + '"')
        elif n.kind == "paren":
            self.put("(")
            self.node(n.args[0])
            self.put(")")
        elif n.kind == "un":
            self.put(n.value)
            self.node(n.args[0])
        elif n.kind == "call":
            f = n.value
            if f.kind == "sym":
                self.put(self.name(f.value))
            else:
                self.node(f)
            self.put("(")
            self.args(n.args, n.names)
            self.put(")")
        elif n.kind == "sub":
            obj, br = n.value
            self.node(obj)
            self.put(br)
            self.args(n.args, n.names)
            self.put("]" if br == "[" else "]]")
        elif n.kind == "bin":
            op = n.value
            key = "%%" if op.startswith("%") and len(op) >= 2 else op
            kind = _BINOPS[key][2]
            self.node(n.args[0])
            if kind == "b":
                state = [False]
                self.put(" " + op + " ")
                self.linebreak(state)
                self.node(n.args[1])
                if state[0]:
                    self.indent -= 1
            else:
                self.put(op)
                self.node(n.args[1])
        else:
            raise ValueError(n.kind)


def r_deparse(expr: str, cutoff: int = 60) -> list:
    """R's ``deparse(<parsed expr>)`` for a formula-like expression: normalised spacing and
    the line breaking at ``width.cutoff``. Raises ValueError for text it cannot parse."""
    tree = _Parser(expr).parse()
    dp = _Deparser(cutoff)
    dp.node(tree)
    dp.writeline()
    return dp.lines


def _node_text(n) -> str:
    dp = _Deparser(cutoff=10 ** 9)
    dp.node(n)
    dp.writeline()
    return dp.lines[0]


def _term_labels(node):
    """terms(~ node): (term labels in R's order, intercept?) for the usual formula operators."""
    order = []   # variables in order of first appearance

    def var(n):
        key = _node_text(n)
        if key not in order:
            order.append(key)
        return key

    def walk(n):
        # returns (list of terms as frozensets, intercept flag or None if unspecified)
        if n.kind == "paren":
            return walk(n.args[0])
        if n.kind == "num" and n.value in ("0", "1"):
            return [], n.value == "1"
        if n.kind == "bin" and n.value in ("+", "-", "*", ":", "/", "^", "%in%"):
            if n.value == "-" and n.args[1].kind == "num" and n.args[1].value in ("0", "1"):
                t, icpt = walk(n.args[0])
                return t, n.args[1].value == "0"
            a, ia = walk(n.args[0])
            if n.value == "^":
                k = int(float(n.args[1].value)) if n.args[1].kind == "num" else 1
                out = list(a)
                cur = list(a)
                for _ in range(k - 1):
                    nxt = []
                    for x in cur:
                        for y in a:
                            z = x | y
                            if z not in out and z not in nxt:
                                nxt.append(z)
                    out += nxt
                    cur = nxt
                return out, ia
            b, ib = walk(n.args[1])
            if n.value == "+":
                out = list(a) + [t for t in b if t not in a]
                return out, (ib if ib is not None else ia)
            if n.value == "-":
                return [t for t in a if t not in b], ia
            if n.value in (":", "%in%"):
                out = []
                for x in a:
                    for y in b:
                        if (x | y) not in out:
                            out.append(x | y)
                return out, ia
            if n.value == "*":
                out = list(a) + [t for t in b if t not in a]
                for x in a:
                    for y in b:
                        if (x | y) not in out:
                            out.append(x | y)
                return out, ia
            if n.value == "/":
                allvars = frozenset().union(*a) if a else frozenset()
                out = list(a)
                for y in b:
                    if (allvars | y) not in out:
                        out.append(allvars | y)
                return out, ia
        return [frozenset([var(n)])], None

    terms, icpt = walk(node)
    terms = sorted(terms, key=len)      # stable: by degree, then appearance
    labels = [":".join(v for v in order if v in t) for t in terms]
    return labels, (True if icpt is None else icpt)


def _expand_double_bars(n):
    """lme4's expandDoubleVerts(): (a + b || g) -> ((1 | g) + (0 + a | g) + (0 + b | g))."""
    if n.kind == "bin" and n.value == "||":
        labels, icpt = _term_labels(n.args[0])
        if not labels:
            raise ValueError("'||' term without covariates")
        grp = _node_text(n.args[1])
        new = (["1"] if icpt else []) + ["0+" + lab for lab in labels]
        text = "+".join("(%s|%s)" % (t, grp) for t in new)
        return _Parser(text).parse()
    n.args = [_expand_double_bars(a) for a in n.args]
    if n.kind in ("call",) and n.value is not None and isinstance(n.value, _Node):
        n.value = _expand_double_bars(n.value)
    return n


def lme4_formula_lines(formula: str, cutoff: int = 60) -> list:
    """The lines ``deparse(fit@call$formula)`` gives for a formula written as `formula`:
    R's spacing, lme4's expansion of ``||`` terms and deparse's line breaking."""
    tree = _Parser(formula).parse()
    try:
        tree = _expand_double_bars(tree)
    except ValueError:
        tree = _Parser(formula).parse()
    dp = _Deparser(cutoff)
    dp.node(tree)
    dp.writeline()
    return dp.lines


def _formula_lines(f) -> list:
    if not isinstance(f, str):
        return [str(x) for x in f]
    try:
        return lme4_formula_lines(f)
    except (ValueError, RecursionError):
        return [f]


# ---------------------------------------------------------------------------
# R printing of vectors and matrices
# ---------------------------------------------------------------------------

def _print_named(values: list, names: list, width: int = WIDTH, gap: int = GAP) -> list:
    """print.default of a named vector whose elements are already strings of the
    formatted field (right-justified), as printNamedVector does (``gap``: print.gap)."""
    w = max([len(v) for v in values] + [len(n) for n in names] + [0])
    nperline = max(1, width // (w + gap))
    lines = []
    for start in range(0, len(values), nperline):
        idx = range(start, min(len(values), start + nperline))
        lines.append("".join(names[k].rjust(w) + " " * gap for k in idx))
        lines.append("".join(values[k].rjust(w) + " " * gap for k in idx))
    return lines


def _print_char_matrix(cells, rownames, colnames, right: bool, width: int = WIDTH) -> list:
    """print.default(<character matrix>, quote = FALSE, right = right) (printStringMatrix)."""
    nr = len(cells)
    nc = len(colnames)
    rlabw = max([len(r) for r in rownames] + [0])
    w = []
    for j in range(nc):
        cw = max([len(cells[i][j]) for i in range(nr)] + [0])
        w.append(max(cw, len(colnames[j])))
    lines = []
    if nc == 0:
        lines.append(" " * rlabw)
        for i in range(nr):
            lines.append(rownames[i].ljust(rlabw))
        return lines
    jmin = 0
    while jmin < nc:
        tot = rlabw
        jmax = jmin
        while True:
            tot += w[jmax] + GAP
            jmax += 1
            if not (jmax < nc and tot + w[jmax] + GAP < width):
                break
        head = " " * rlabw
        for j in range(jmin, jmax):
            lab = colnames[j]
            if right:
                head += " " * (GAP + w[j] - len(lab)) + lab
            else:
                head += " " * GAP + lab + " " * (w[j] - len(lab))
        lines.append(head)
        for i in range(nr):
            row = rownames[i].ljust(rlabw)
            for j in range(jmin, jmax):
                c = cells[i][j]
                row += " " * GAP + (c.rjust(w[j]) if right else c.ljust(w[j]))
            lines.append(row)
        jmin = jmax
    return lines


# ---------------------------------------------------------------------------
# The pieces of print.summary.merMod
# ---------------------------------------------------------------------------

def _method_title(d: SummaryData) -> str:
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


def _obj_class(d: SummaryData) -> str:
    if d.object_class:
        return d.object_class
    return "glmerMod" if d.kind == "glmer" else "lmerMod"


def _prt_meth_title(d: SummaryData) -> list:
    mtit = _method_title(d)
    cls = _obj_class(d)
    if len(mtit) + 5 + len(cls) > WIDTH:
        wrapped = r_strwrap(mtit, width=WIDTH - 2, exdent=2)
        return _cat_fill([wrapped, " [", cls, "]"], sep="")
    return ["%s ['%s']" % (mtit, cls)]


def _as_lines(v) -> list:
    """deparse() lines of an R expression given as text (or already as lines)."""
    if isinstance(v, str):
        try:
            return r_deparse(v)
        except (ValueError, RecursionError):
            return [v]
    return [str(x) for x in v]


def _prt_call(d: SummaryData) -> list:
    lines = []
    if d.kind == "glmer" and d.family is not None:
        objs = [" Family:", d.family]
        if d.link is not None:
            objs.append(" ( " + d.link + " )")
        lines += _cat_fill(objs)
    if d.formula is not None:
        lines += _cat_fill(["Formula:", _formula_lines(d.formula)])
    if d.data_name is not None:
        lines += _cat_fill(["   Data:", _as_lines(d.data_name)])
    if d.weights is not None:
        lines += _cat_fill(["Weights:", _as_lines(d.weights)])
    if d.offset is not None:
        lines += _cat_fill([" Offset:", _as_lines(d.offset)])
    if d.control is not None and _as_lines(d.control) != ["lmerControl()"]:
        lines += _cat_fill(["Control:", _as_lines(d.control)])
    if d.subset is not None:
        lines += _cat_fill([" Subset:", _as_lines(d.subset)])
    return lines


def _prt_aictab(d: SummaryData, digits: int = 1) -> list:
    """lme4's .prt.aictab: the criteria rounded to ``digits`` decimals (summary 1, print 4)."""
    if d.kind == "lmer" and d.reml:
        crit = r_round(d.reml_criterion, digits)
        return _cat_fill(["REML criterion at convergence:", r_format([crit], DIGITS)[0]])
    names = ["AIC", "BIC", "logLik", "deviance", "df.resid"]
    vals = [d.aic, d.bic, d.loglik, d.deviance, d.df_resid]
    t4 = [None if v is None else r_round(float(v), digits) for v in vals]
    t4f = r_format(t4, DIGITS)
    t4f[4] = r_format([t4[4]], DIGITS)[0]
    return _print_named(t4f, names)


def _prt_resids(d: SummaryData, digits: int) -> list:
    lines = ["Scaled residuals: "]
    rq = r_zapsmall([float(v) for v in d.resid_quantiles], digits + 1)
    vals = r_format(rq, digits)
    lines += _print_named(vals, ["Min", "1Q", "Median", "3Q", "Max"])
    lines.append("")
    return lines


VC_COLUMNS = ("Variance", "Std.Dev.")


def _format_vc_matrix(varcorr, residual_sd, digits: int, comp=VC_COLUMNS):
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
    cells, colnames = _format_vc_matrix(varcorr, residual_sd, digits, comp)
    return _print_char_matrix(cells, [""] * len(cells), colnames, right=False)


def _prt_vc(d: SummaryData, digits: int, comp=VC_COLUMNS) -> list:
    return ["Random effects:"] + _vc_lines(d.varcorr, d.residual_sd, digits, comp)


def format_varcorr(varcorr, residual_sd=None, comp="Std.Dev.", digits: int = DIGITS - 2) -> str:
    """lme4's ``print(VarCorr(fit), comp = comp)`` (digits 5): the blocks of ``varcorr`` and a
    Residual row with ``residual_sd`` (None: no Residual row, as for binomial and Poisson)."""
    return "\n".join(_vc_lines(varcorr, residual_sd, digits, comp))


def _prt_grps(d: SummaryData) -> list:
    grp = "; ".join("%s, %d" % (str(n), int(k)) for n, k in d.ngrps)
    return _cat_fill(["Number of obs: %d, groups: " % int(d.nobs), grp])


def _parse_num(s: str):
    try:
        return float(s)
    except ValueError:
        return None


def _coefmat_lines(names, columns, values, digits: int) -> list:
    """stats::printCoefmat(x, digits = digits) with default arguments."""
    cf, colnames, legend = _coefmat_cells(names, columns, values, digits)
    lines = _print_char_matrix(cf, [str(n) for n in names], colnames, right=True)
    if legend:
        lines += _cat_fill(["---\nSignif. codes:  ", SIGNIF_LEGEND], sep="", fill=WIDTH + 4)
    return lines


def _coefmat_cells(names, columns, values, digits: int):
    """The character matrix printCoefmat() prints: (cells, column names, legend shown?)."""
    xm = np.asarray(values, dtype=float)
    p, nc = xm.shape
    has_p = nc >= 4 and len(columns) > 0 and str(columns[-1])[:3] in ("Pr(", "p-v")
    k = nc - (1 if has_p else 0) - 1
    cs_ind = list(range(k))
    tst_ind = [k]
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
                cf[i][j] = "NA"
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


def _fixef_corr_cells(d: SummaryData, p: int):
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
    cells, rnames, cnames = _fixef_corr_cells(d, p)
    lines = ["", "Correlation of Fixed Effects:"]
    lines += _print_char_matrix(cells, rnames, cnames, right=False)
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
        lines += _coefmat_lines(d.coef_names, d.coef_columns, d.coef_values, digits)
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
        lines += _print_named(r_format(estimates, digits), [str(n) for n in d.coef_names], gap=2)
    else:
        lines.append("No fixed effect coefficients")
    if d.fit_msgs and any(len(m) > 0 for m in d.fit_msgs):
        lines.append("fit warnings:")
        lines += [str(m) for m in d.fit_msgs]
    if d.messages:  # .prt.warn(summary = TRUE): the code line and counts only
        lme4_messages = len(d.messages) - 1
        lines.append(f"{d.messages[0]} ; 0 optimizer warnings; {lme4_messages} lme4 warnings ")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------

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
    title = _method_title(d).strip() + " [%s]" % _obj_class(d)
    parts.append("<p><b>%s</b></p>" % esc(title))
    info = []
    if d.kind == "glmer" and d.family is not None:
        info.append(("Family", d.family + ("" if d.link is None else " ( %s )" % d.link)))
    if d.formula is not None:
        info.append(("Formula", " ".join(x.strip() for x in _formula_lines(d.formula))))
    for lab, v in (("Data", d.data_name), ("Weights", d.weights), ("Offset", d.offset),
                   ("Control", d.control if (d.control is not None and
                                             _as_lines(d.control) != ["lmerControl()"]) else None),
                   ("Subset", d.subset)):
        if v is not None:
            info.append((lab, " ".join(_as_lines(v))))
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
    cells, colnames = _format_vc_matrix(d.varcorr, d.residual_sd, digits)
    hdr = [c if c else "" for c in colnames]
    parts.append("<p><b>Random effects:</b></p>")
    parts.append(_html_table(hdr, cells, align_right_from=2, row_header=False))
    grp = "; ".join("%s, %d" % (str(n), int(k)) for n, k in d.ngrps)
    parts.append("<p>Number of obs: %d, groups: %s</p>" % (int(d.nobs), esc(grp)))
    # fixed effects
    p = len(d.coef_names)
    if p > 0:
        xm = np.asarray(d.coef_values, dtype=float)
        cf, cols, legend = _coefmat_cells(d.coef_names, d.coef_columns, xm, digits)
        parts.append("<p><b>Fixed effects:</b></p>")
        rows = [[str(n)] + list(r) for n, r in zip(d.coef_names, cf)]
        parts.append(_html_table([""] + cols, rows, align_right_from=1))
        if legend:
            parts.append("<p><small>Signif. codes: %s</small></p>" % esc(SIGNIF_LEGEND))
        correlation = d.correlation
        if correlation is None:
            correlation = d.fixef_corr is not None and p <= COR_MAX
        if correlation and d.fixef_corr is not None and p > 1:
            cells, rnames, cnames = _fixef_corr_cells(d, p)
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
