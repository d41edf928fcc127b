"""R's layout of text on the console: ``abbreviate()``, ``strwrap()``, ``cat(..., fill =
TRUE)`` line filling, and ``print.default`` of named vectors and of character matrices (column
alignment, and wrapping of wide matrices at the console width)."""
from __future__ import annotations

import re

WIDTH = 80          # options(width = 80)
GAP = 1             # R_print.gap

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


def cat_fill(objs, sep: str = " ", fill: int = WIDTH) -> list:
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


def print_named(values: list, names: list, width: int = WIDTH, gap: int = GAP) -> list:
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


def print_char_matrix(cells, rownames, colnames, right: bool, width: int = WIDTH) -> list:
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
