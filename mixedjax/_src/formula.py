"""lme4 formula syntax: split a formula into response, fixed part, offsets and bar terms.

This module works on strings only. The fixed part and every bar term's left side are later handed
to formulaic (see ``terms.py``); here we only find the random-effects bars, expand lme4's shorthands
and translate the few R spellings that formulaic (Python syntax) reads differently:

* ``(expr || g)`` becomes one term per column group of ``expr``: ``(1 | g) + (0 + x | g)`` for each
  term ``x`` of ``expr`` (lme4's ``expandDoubleVerts``).
* ``(expr | a/b)`` becomes ``(expr | a) + (expr | b:a)`` (lme4's ``expandSlash``; the nested factor is
  named ``b:a``).
* ``us(expr | g)``, ``diag(expr | g)``, ``cs(expr | g)``, ``ar1(expr | g)`` (lme4 2.x and glmmTMB)
  give the term that covariance structure (``covariance_structures``); ``(expr | g)`` is ``us``.
* ``offset(z)`` terms of the fixed part are taken out and evaluated separately.
* ``x^2`` inside ``I()`` is Python's ``x**2``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import FormulaError


@dataclass(frozen=True)
class BarTerm:
    """One random-effects term ``(lhs | group)`` after expansion.

    ``lhs`` is a formula right-hand side (R syntax, e.g. ``"1 + Days"``); ``group`` names the
    grouping factor as lme4 names it (``"Subject"``, ``"cask:batch"``); ``factors`` are the data
    columns whose interaction forms it, in the order used for its level labels.
    """

    lhs: str
    group: str
    factors: tuple[str, ...]
    structure: str = "us"  # covariance structure (``covariance_structures``): us, diag, cs, ar1

    def __str__(self) -> str:
        if self.structure == "us":
            return f"({self.lhs} | {self.group})"
        return f"{self.structure}({self.lhs} | {self.group})"


@dataclass(frozen=True)
class ParsedFormula:
    """A parsed lme4 formula: ``response ~ fixed + offset(...) + bars``."""

    text: str
    response: str
    fixed: str
    offsets: tuple[str, ...]
    bars: tuple[BarTerm, ...]
    expanded_text: str  # as lme4 prints it after expanding ``||`` (e.g. in summary's Formula line)


def _split_top_level(text: str, sep: str) -> list[str]:
    """Split ``text`` on ``sep`` characters that are not inside parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise FormulaError(f"unbalanced parentheses in {text!r}: a ')' has no matching '('")
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth != 0:
        raise FormulaError(f"unbalanced parentheses in {text!r}: {depth} '(' not closed")
    parts.append(text[start:])
    return parts


def _signed_terms(rhs: str) -> list[tuple[str, str]]:
    """Split a right-hand side into (sign, term) pairs on top-level ``+`` and ``-``."""
    terms, depth, start, sign = [], 0, 0, "+"
    for i, ch in enumerate(rhs):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch in "+-" and depth == 0:
            # '-' right after an operator or '(' is a unary minus inside an expression term
            if rhs[start:i].strip() or ch == "+":
                terms.append((sign, rhs[start:i].strip()))
                sign, start = ch, i + 1
            elif ch == "-":
                sign, start = "-", i + 1
    terms.append((sign, rhs[start:].strip()))
    return [(s, t) for s, t in terms if t]


def _strip_outer_parens(term: str) -> str | None:
    """Return the inside of ``(...)`` if the parentheses enclose the whole term, else None."""
    term = term.strip()
    if not (term.startswith("(") and term.endswith(")")):
        return None
    depth = 0
    for i, ch in enumerate(term):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and i < len(term) - 1:
            return None
    return term[1:-1]


def _has_top_level_bar(text: str) -> bool:
    return len(_split_top_level(text, "|")) > 1


def _group_factors(group: str, term_text: str) -> list[tuple[str, tuple[str, ...]]]:
    """Expand a grouping expression into (lme4 name, columns) pairs; ``a/b`` nests."""
    group = group.strip()
    if not group:
        raise FormulaError(f"random-effects term {term_text!r} has no grouping factor after '|': "
                           "write it as (expr | group), e.g. (1 | Subject)")
    inner = _strip_outer_parens(group)
    if inner is not None:
        return _group_factors(inner, term_text)
    nested = [p.strip() for p in _split_top_level(group, "/")]
    if len(nested) > 1 and not all(nested):
        raise FormulaError(f"nesting {group!r} in {term_text!r} has an empty part: write "
                           "(expr | a/b) with a factor on each side of '/'")
    if len(nested) > 1:
        expanded, outer = [], ()
        for part in nested:
            cols = tuple(c.strip() for c in part.split(":"))
            outer = cols + outer if outer else cols
            expanded.append((":".join(outer), outer))
        return expanded
    cols = tuple(c.strip() for c in group.split(":"))
    wrapped = [re.fullmatch(r"(?:as\.)?factor\s*\((.*)\)", c) for c in cols]
    if any(wrapped):  # lme4 1.1-31 cannot evaluate it either ("couldn't evaluate grouping factor")
        bare = ":".join(m.group(1).strip() if m else c for m, c in zip(wrapped, cols))
        raise FormulaError(f"grouping factor {group!r} in {term_text!r}: a grouping variable is "
                           f"always read as a factor, write ({term_text.split('|')[0].strip('( ')} | {bare})")
    if any(not re.fullmatch(r"[A-Za-z_.][A-Za-z0-9_.]*|`[^`]+`", c) for c in cols):
        raise FormulaError(f"grouping factor {group!r} in {term_text!r} must be a column name, "
                           "factor(column), an interaction of column names (a:b) or a nesting (a/b); "
                           "compute other groupings as a column of the data")
    return [(group, tuple(c.strip("`") for c in cols))]


def _expand_double_bar(lhs: str) -> list[str]:
    """``1 + x + z`` -> ``["1", "0 + x", "0 + z"]`` (lme4 drops the correlations)."""
    terms = _signed_terms(lhs)
    intercept = True
    columns = []
    for sign, term in terms:
        if term in ("0", "-1") or (sign == "-" and term == "1"):
            intercept = False
        elif term == "1":
            intercept = sign == "+"
        else:
            columns.append(term)
    return (["1"] if intercept else []) + [f"0 + {c}" for c in columns]


def _parse_bar(inside: str, term_text: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """Parse ``lhs | group`` or ``lhs || group`` into expanded (lhs, group, factors) triples."""
    double = "||" in inside
    pieces = inside.split("||") if double else _split_top_level(inside, "|")
    if len(pieces) != 2:
        raise FormulaError(f"malformed random-effects term {term_text!r}: expected (expr | group)")
    lhs, group = pieces[0].strip(), pieces[1].strip()
    if not lhs:
        raise FormulaError(f"random-effects term {term_text!r} has nothing before '|': "
                           "write (1 | group) for a random intercept")
    lhs_list = _expand_double_bar(lhs) if double else [lhs]
    return [(one_lhs, name, cols) for name, cols in _group_factors(group, term_text)
            for one_lhs in lhs_list]


# lme4 2.x's covariance structures (``covariance_structures.STRUCTURES``), and what to write for
# glmmTMB's others
STRUCTURES = ("us", "diag", "cs", "ar1")
_STRUCTURE_INSTEAD = {
    "toep": "us(...) (unstructured) or ar1(...)", "hetar1": "ar1(...) (one variance)",
    "ou": "ar1(0 + t | g) over equally spaced times", "exp": "ar1(0 + t | g) over equally spaced times",
    "gau": "us(...)", "mat": "us(...)", "rr": "us(...) or diag(...)", "homdiag": "diag(...)",
    "homcs": "cs(...)", "propto": "us(...)", "equalto": "us(...)"}
_CALL = re.compile(r"([A-Za-z_.][A-Za-z0-9_.]*)\s*(\(.*\))", re.S)


def _structured_bar(term: str) -> tuple[str, str] | None:
    """``diag(1 + x | g)`` -> ("diag", "1 + x | g"); None unless ``term`` is one call whose
    argument has a top-level bar. An unknown structure name is a FormulaError."""
    match = _CALL.fullmatch(term.strip())
    if match is None:
        return None
    inside = _strip_outer_parens(match.group(2))
    if inside is None or not _has_top_level_bar(inside):
        return None
    name = match.group(1)
    if name not in STRUCTURES:
        instead = _STRUCTURE_INSTEAD.get(name, "one of us(...), diag(...), cs(...), ar1(...)")
        raise FormulaError(f"{name}() in the random-effects term {term!r} is not a covariance "
                           f"structure mixedjax fits (it has lme4 2.x's us, diag, cs and ar1); "
                           f"write {instead}, or ({inside.strip()}) for an unstructured covariance")
    if len(_split_top_level(inside, ",")) > 1:
        raise FormulaError(f"arguments after the bar term in {term!r} are not supported (lme4 2.x's "
                           f"hom = ...): write {name}({_split_top_level(inside, ',')[0].strip()}); "
                           "cs() has one variance per effect, ar1() one variance")
    if "||" in inside:
        raise FormulaError(f"{term!r} has '||' inside {name}(): write {name}("
                           f"{inside.replace('||', '|').strip()})"
                           + (" (diag() is the independent-effects structure)" if name != "diag" else ""))
    return name, inside


def _collect_bars(rhs: str) -> tuple[list[tuple[str, str]], list[tuple[str, str, tuple[str, ...], str]]]:
    """Separate bar terms (possibly inside extra parentheses) from the fixed-effects terms."""
    fixed, bars = [], []
    for sign, term in _signed_terms(rhs):
        inside = _strip_outer_parens(term)
        while inside is not None and _strip_outer_parens(inside) is not None:  # ((...)) is (...)
            inside = _strip_outer_parens(inside)
        structured = _structured_bar(term if inside is None else inside)
        if structured is not None or (inside is not None and _has_top_level_bar(inside)):
            if sign == "-":
                raise FormulaError(f"cannot subtract a random-effects term: {term!r}")
            structure, inside = structured if structured is not None else ("us", inside)
            bars.extend((lhs, group, cols, structure) for lhs, group, cols in _parse_bar(inside, term))
        elif inside is not None and any((_strip_outer_parens(t) is not None and
                                         _has_top_level_bar(_strip_outer_parens(t)))
                                        or _structured_bar(t) is not None
                                        for _, t in _signed_terms(inside)):
            more_fixed, more_bars = _collect_bars(inside)
            fixed.extend(more_fixed)
            bars.extend(more_bars)
        elif "|" in term:
            raise FormulaError(f"random-effects term {term!r} must be in parentheses: ({term})")
        else:
            fixed.append((sign, term))
    return fixed, bars


_OFFSET = re.compile(r"^offset\s*\((.*)\)$", re.S)


# R calls a formula may use, with the Python name formulaic evaluates (its own transforms, or the
# functions of terms.R_FUNCTIONS); ``offset`` and ``cbind`` are read before formulaic sees the text
R_CALLS = {"I": "I", "factor": "factor", "as.factor": "as_factor", "as.numeric": "as_numeric",
           "as.integer": "as_integer", "log": "log", "exp": "exp", "sqrt": "sqrt", "abs": "abs",
           "poly": "poly", "scale": "scale", "C": "C", "offset": "offset", "cbind": "cbind"}
_INSTEAD = {"center": "scale(x, scale = FALSE)", "log10": "I(log(x) / log(10))",
            "log2": "I(log(x) / log(2))", "log1p": "log(x + 1)", "ns": "a column computed in the data",
            "bs": "a column computed in the data", "as.character": "factor(x)",
            "ordered": "factor(x)", "relevel": "a factor column with its levels in the wanted order"}
_TOKEN = re.compile(r"`[^`]*`|'[^']*'|\"[^\"]*\"|%in%|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|"
                    r"[A-Za-z.][A-Za-z0-9._]*|.", re.DOTALL)
_NOT_NAMES = {"TRUE": "True", "FALSE": "False"}


def _tokens(expr: str) -> list[str]:
    return _TOKEN.findall(expr)


def _next_visible(tokens: list[str], i: int) -> str:
    for token in tokens[i + 1:]:
        if not token.isspace():
            return token
    return ""


def _is_keyword_argument(tokens: list[str], i: int) -> bool:
    """``raw`` in ``poly(x, 2, raw = TRUE)``: a name followed by ``=`` (not ``==``)."""
    rest = "".join(tokens[i + 1:]).lstrip()
    return rest.startswith("=") and not rest.startswith("==")


def r_to_python(expr: str) -> str:
    """Translate an R term to formulaic's Python syntax.

    ``^`` is ``**``, ``%in%`` is ``:`` (as in R's terms), ``TRUE``/``FALSE`` are Python's;
    the supported calls (``R_CALLS``) get their Python names (``as.factor`` -> ``as_factor``);
    a name that R reads whole but Python would not (``total.fruits``, or a column named like a
    function, ``I``) is backticked. Any other call is a FormulaError naming what to write instead.
    """
    tokens, out = _tokens(expr), []
    for i, token in enumerate(tokens):
        is_name = bool(re.fullmatch(r"[A-Za-z.][A-Za-z0-9._]*", token)) and not re.match(r"\.\d", token)
        following = _next_visible(tokens, i)
        if token == "^":
            out.append("**")
        elif token == "%in%":
            out.append(":")
        elif not is_name:
            out.append(token)
        elif following == "(":
            if token not in R_CALLS:
                instead = _INSTEAD.get(token, "a column computed in the data frame, named in the formula")
                raise FormulaError(f"{token}() in {expr!r} is not supported in mixedjax formulas; write "
                                   f"{instead} instead (supported calls: "
                                   f"{', '.join(sorted(set(R_CALLS) - {'offset', 'cbind'}))})")
            out.append(R_CALLS[token])
        elif _is_keyword_argument(tokens, i):
            out.append(token)  # a keyword argument: poly(x, 2, raw = TRUE)
        elif token.startswith("contr."):
            raise FormulaError(f"contrasts ({token} in {expr!r}) are not supported: factors use R's "
                               "default treatment contrasts; write factor(x) or C(x)")
        elif token in _NOT_NAMES:
            out.append(_NOT_NAMES[token])
        elif "." in token or token in R_CALLS or token in _PYTHON_WORDS:
            out.append(f"`{token}`")
        else:
            out.append(token)
    return "".join(out)


# Python's keywords and constants are ordinary names in R: backtick them
_PYTHON_WORDS = {"None", "True", "False", "and", "or", "not", "in", "is", "if", "else", "for",
                 "lambda", "def", "class", "return", "from", "import", "as", "with", "pass", "del",
                 "global", "while", "try", "except", "raise", "yield", "assert", "break", "continue",
                 "finally", "nonlocal", "elif", "async", "await"}


def expression_variables(expr: str) -> frozenset[str]:
    """The data columns an R expression reads: its names that are neither calls nor keywords."""
    tokens, names = _tokens(r_to_python(expr)), set()
    for i, token in enumerate(tokens):
        following = _next_visible(tokens, i)
        if token.startswith("`"):
            names.add(token[1:-1])
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", token) and following != "(" and \
                not _is_keyword_argument(tokens, i) and token not in ("True", "False", "None"):
            names.add(token)
    return frozenset(names)


_DANGLING = re.compile(r"([+\-*/:^~])\s*(\)|\||,|$)")


def _check_dangling_operators(text: str) -> None:
    """An operator with nothing after it (``y ~ x +``, ``(1 | a/)``) is a syntax error in R;
    formulaic and our term splitting would silently drop it."""
    unquoted = re.sub(r"`[^`]*`", lambda m: "_" * len(m.group(0)), text)
    match = _DANGLING.search(unquoted)
    if match:
        position = match.start(1)
        after = "the end of the formula" if not match.group(2) else f"'{match.group(2)}'"
        raise FormulaError(f"formula {text!r} has '{match.group(1)}' with no term after it "
                           f"(at character {position + 1}, before {after}): remove it or add a term")


def parse_formula(text: str) -> ParsedFormula:
    """Parse an lme4 formula string.

    >>> parse_formula("Reaction ~ Days + (Days | Subject)").bars
    (BarTerm(lhs='Days', group='Subject', factors=('Subject',)),)
    """
    if not isinstance(text, str):
        raise FormulaError(f"formula must be a string such as 'y ~ x + (1 | g)', got {type(text).__name__}")
    sides = _split_top_level(text, "~")
    if len(sides) != 2 or not sides[0].strip():
        raise FormulaError(f"formula {text!r} needs a response and one '~', e.g. 'y ~ x + (1 | g)'")
    response, rhs = sides[0].strip(), sides[1].strip()
    if not rhs:
        raise FormulaError(f"formula {text!r} has nothing after '~'")
    _check_dangling_operators(text)
    if _has_top_level_bar(rhs):
        # '|' binds more loosely than '+' in R: 'y ~ x + 1 | g' is the one term (x + 1 | g), and
        # lme4's fixed part is then the intercept alone (nobars gives y ~ 1)
        if any(_has_top_level_bar(_strip_outer_parens(t) or "") for _, t in
               _signed_terms(_split_top_level(rhs, "|")[0])):
            raise FormulaError(f"{text!r} has a random-effects term inside the left side of a "
                               "top-level '|': put each bar term in its own parentheses")
        fixed_terms, raw_bars = [], [bar + ("us",) for bar in _parse_bar(rhs, rhs)]
    else:
        fixed_terms, raw_bars = _collect_bars(rhs)
    for _, term in fixed_terms:
        if term == ".":
            raise FormulaError(f"'.' (all other columns) in {text!r} is not supported: name the "
                               "fixed-effects columns, e.g. 'y ~ a + b + (1 | g)'")
        # R's terms() drops it with a warning and lme4 fits a model the user did not write
        if term.replace(" ", "") == response.replace(" ", ""):
            raise FormulaError(f"the response {response!r} is also a fixed-effects term in "
                               f"{text!r}: remove it from the right-hand side")
    if not raw_bars:
        raise FormulaError(f"no random-effects terms in {text!r}: add one such as (1 | group); "
                           "for a model without random effects use an ordinary regression")
    offsets, kept = [], []
    for sign, term in fixed_terms:
        match = _OFFSET.match(term)
        if match and sign == "+":
            offsets.append(match.group(1).strip())
        else:
            kept.append((sign, term))
    fixed = " ".join(f"{s} {t}" if i or s == "-" else t for i, (s, t) in enumerate(kept)).strip()
    if not fixed:
        fixed = "1"
    elif fixed.startswith("-"):
        fixed = "1 " + fixed
    bars = tuple(BarTerm(lhs, group, cols, structure) for lhs, group, cols, structure in raw_bars)
    return ParsedFormula(text=text, response=response, fixed=fixed, offsets=tuple(offsets),
                         bars=bars, expanded_text=_expanded_text(text, response, rhs))


def _expanded_text(text: str, response: str, rhs: str) -> str:
    """The formula as lme4 prints it: each ``(e || g)`` replaced by ``((1 | g) + (0 + x | g))``."""
    if "||" not in rhs:
        return text
    if _has_top_level_bar(rhs):  # 'y ~ x || g' prints as 'y ~ (1 | g) + (0 + x | g)'
        lhs, group = (p.strip() for p in rhs.split("||"))
        return f"{response} ~ " + " + ".join(f"({one} | {group})" for one in _expand_double_bar(lhs))
    out = []
    for sign, term in _signed_terms(rhs):
        inside = _strip_outer_parens(term)
        if inside is not None and "||" in inside:
            lhs, group = (p.strip() for p in inside.split("||"))
            term = "(" + " + ".join(f"({one} | {group})" for one in _expand_double_bar(lhs)) + ")"
        out.append((sign, term))
    body = " ".join(f"{s} {t}" if i or s == "-" else t for i, (s, t) in enumerate(out))
    return f"{response} ~ {body}"
