"""Shape classes: a model's arrays padded to a few sizes, so that one compiled program serves
every dataset of nearby size (DESIGN.md section 5; the first-fit issue).

XLA compiles a program for exact array shapes. Rounding every size up to the next *class*
(``size_class``: 4, 6, 8, 12, 16, 24, 32, 48, ... -- at most 1.5x the size) makes datasets of a
similar number of rows and levels share shapes, and so compiled programs, in the process and in
the persistent cache. The padding is inert, so a padded fit is the unpadded fit:

- rows: weight 0, zero model-matrix rows (they touch no level and no column), response and
  offset chosen valid for the family (``pad_rows``); the deviance skips zero weights;
- levels: empty levels of each term, whose u is exactly 0 (penalty only) and whose factor block
  is the identity (log-determinant 0);
- the sparse structure of ``design.Design`` (entries, triples, pairs, dense positions): dummy
  items whose values are exactly zero (``design.build_design``'s ``padded``).

``unpad_random`` takes per-term vectors back to the real levels.
"""
from __future__ import annotations

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


def padded_inputs(X: np.ndarray, terms) -> tuple[np.ndarray, list[TermArrays]]:
    """X and the terms with rows and levels padded to their classes (padded rows: level 0,
    zero model-matrix rows)."""
    n = X.shape[0]
    extra = size_class(n) - n
    X_padded = np.vstack([X, np.zeros((extra, X.shape[1]))])
    padded = [TermArrays(np.concatenate([t.codes, np.zeros(extra, t.codes.dtype)]),
                         np.vstack([t.X, np.zeros((extra, t.X.shape[1]))]),
                         size_class(t.n_levels), t.n_columns) for t in terms]
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
