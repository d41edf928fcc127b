"""Shape classes: a model's arrays padded to a few sizes, so that one compiled program serves
every dataset of nearby size (docs/DESIGN.md section 10).

XLA compiles a program for exact array shapes. Rounding every size up to the next *class*
(``size_class``: 4, 6, 8, 12, 16, 24, 32, 48, ... -- at most 1.5x the size) makes datasets of a
similar number of rows and levels share shapes, and so compiled programs, in the process and in
the program store. The padding is inert, so a padded fit is the unpadded fit:

- rows: weight 0, zero model-matrix rows (they touch no level and no column), response and
  offset chosen valid for the family (``pad_rows``); the deviance skips zero weights;
- levels: empty levels of each term, whose u is exactly 0 (penalty only) and whose factor block
  is the identity (log-determinant 0);
- the sparse structure of ``design.Design`` (entries, triples, pairs, dense positions): dummy
  items whose values are exactly zero (``design.build_design``'s ``padded``).

``unpad_random`` takes per-term vectors back to the real levels.
"""
from __future__ import annotations

import threading
from typing import NamedTuple

import numpy as np

PADDING_LIMIT = 50_000  # rows: above this a fit's run time dominates its compile time


def size_class(n: int, minimum: int = 4) -> int:
    """The smallest of 4, 6, 8, 12, 16, 24, ... (2^k and 3 * 2^(k-1)) that is >= n."""
    size = minimum
    while size < n:
        size = size * 3 // 2 if size & (size - 1) == 0 else size * 4 // 3
    return size


def is_padded(n_obs: int) -> bool:
    return n_obs <= PADDING_LIMIT


class TermArrays(NamedTuple):
    """What ``design.build_design`` reads of a random-effects term."""

    codes: np.ndarray
    X: np.ndarray
    n_levels: int
    n_columns: int


class ShapeRegistry:
    """The padded shapes this process has used, per model structure: a new dataset takes a
    registered shape that holds it with at most ``MAX_WASTE`` times its own sizes (so it reuses
    the programs compiled for that shape), else its own classes, which are then registered.

    Without it, data a little smaller than a fitted dataset would fall into the class below and
    compile again. This only chooses shapes; the numbers of a fit do not depend on it."""

    MAX_WASTE = 2

    def __init__(self):
        self._shapes: dict[tuple, list[tuple[int, ...]]] = {}
        self._lock = threading.Lock()

    def choose(self, key: tuple, needed: tuple[int, ...], own: tuple[int, ...]) -> tuple[int, ...]:
        with self._lock:
            known = self._shapes.setdefault(key, [])
            for shape in known:
                if all(n <= s <= max(self.MAX_WASTE * n, o) for s, n, o in zip(shape, needed, own)):
                    return shape
            known.append(own)
            return own


REGISTRY = ShapeRegistry()


def padded_rows_and_levels(X: np.ndarray, terms) -> tuple[int, tuple[int, ...]]:
    """(rows, levels per term) of the padded design of X and ``terms``."""
    key = ("rows and levels", X.shape[1], tuple(t.n_columns for t in terms))
    needed = (X.shape[0],) + tuple(t.n_levels for t in terms)
    shape = REGISTRY.choose(key, needed, tuple(size_class(n) for n in needed))
    return shape[0], shape[1:]


def padded_inputs(X: np.ndarray, terms, n_rows: int, levels) -> tuple[np.ndarray, list[TermArrays]]:
    """X and the terms with ``n_rows`` rows and ``levels`` levels (padded rows: level 0, zero
    model-matrix rows)."""
    extra = n_rows - X.shape[0]
    X_padded = np.vstack([X, np.zeros((extra, X.shape[1]))])
    padded = [TermArrays(np.concatenate([t.codes, np.zeros(extra, t.codes.dtype)]),
                         np.vstack([t.X, np.zeros((extra, t.X.shape[1]))]), n_levels, t.n_columns)
              for t, n_levels in zip(terms, levels)]
    return X_padded, padded


def pad_rows(values: np.ndarray, n_padded: int, fill: float) -> np.ndarray:
    """``values`` (leading axis: rows) extended to ``n_padded`` rows of ``fill``."""
    values = np.asarray(values, np.float64)
    extra = n_padded - values.shape[0]
    return np.concatenate([values, np.full((extra,) + values.shape[1:], fill)])


def unpad_random(vector: np.ndarray, padded_layout, layout) -> np.ndarray:
    """The real levels' entries of a per-term vector (u or b) of the padded layout."""
    pieces, start = [], 0
    for l_pad, l, p in zip(padded_layout.term_levels, layout.term_levels, layout.term_columns):
        pieces.append(np.asarray(vector)[start:start + l * p])
        start += l_pad * p
    return np.concatenate(pieces)
