"""R's formatting of numbers: ``format()`` of numeric vectors, ``round()``, ``zapsmall()``,
``format.pval()`` and the significance stars of ``symnum()``.

``format()`` chooses common significant digits, fixed or scientific notation and a common
width as R 4.2.2 does, including R's long-double based significant-digit computation.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

DIGITS = 7          # options(digits = 7)
DBL_EPS = 2.220446049250313e-16   # .Machine$double.eps
SIGNIF_LEGEND = "0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"

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
