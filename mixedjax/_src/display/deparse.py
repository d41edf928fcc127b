"""R's ``deparse()`` of the formula and of the other call arguments (R's spacing and line
breaking at ``width.cutoff = 60``), with lme4's expansion of ``(x || g)`` terms, so a formula can
be printed as lme4 prints it from the formula the user wrote."""
from __future__ import annotations

import re

from .numbers import r_format

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
    return _deparsed(_Parser(expr).parse(), cutoff)


def _deparsed(tree, cutoff: int) -> list:
    dp = _Deparser(cutoff)
    dp.node(tree)
    dp.writeline()
    return dp.lines


def _node_text(n) -> str:
    return _deparsed(n, cutoff=10 ** 9)[0]


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


def lme4_formula_lines(formula: str, cutoff: int = 60, expand_double_bars: bool = True) -> list:
    """The lines ``deparse(fit@call$formula)`` gives for a formula written as `formula`:
    R's spacing, lme4's expansion of ``||`` terms (unless ``expand_double_bars`` is False: lmerTest
    keeps the call as written) and deparse's line breaking."""
    tree = _Parser(formula).parse()
    if expand_double_bars:
        try:
            tree = _expand_double_bars(tree)
        except ValueError:
            tree = _Parser(formula).parse()
    return _deparsed(tree, cutoff)


def formula_lines(f, expand_double_bars: bool = True) -> list:
    if not isinstance(f, str):
        return [str(x) for x in f]
    try:
        return lme4_formula_lines(f, expand_double_bars=expand_double_bars)
    except (ValueError, RecursionError):
        return [f]


def expression_lines(v) -> list:
    """deparse() lines of an R expression given as text (or already as lines)."""
    if isinstance(v, str):
        try:
            return r_deparse(v)
        except (ValueError, RecursionError):
            return [v]
    return [str(x) for x in v]
