"""The static structure of a mixed model's penalized least-squares system (docs/DESIGN.md section 5).

Columns are ordered [Z_1 | Z_2 ... Z_k, X, y]. Term 1 (the grouping factor with most levels) is
block diagonal: l_1 blocks of p_1 x p_1. Everything after it (the *trailing* columns
F = [Z_2 ... Z_k, X]) is handled densely. What couples them, A21 = F' W Z_1, is stored sparsely as
*entries* (level g of term 1, trailing column c, p_1 values), and the Schur-complement update
sum_g A21_g K_g A21_g' as a list of *triples* (two entries of the same level) summed into the
distinct *pairs* of trailing columns they touch.

This module computes index structure once in numpy. The weight-dependent cross-products
(``crossproducts``) and the response-dependent ones (``response_statistics``) are pure JAX
functions of observation-level arrays, so GLMM iterations (new weights) and batches of responses
(new y) reuse the same structure and the same compiled code.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _jax  # noqa: F401  (float64)
from . import covariance_structures, shape_classes


class Layout(NamedTuple):
    """Sizes that fix array shapes; hashable, so it is static under jit.

    ``term_levels[i]`` = l_i, ``term_columns[i]`` = p_i; ``n_fixed`` = p; ``n_trailing`` = m0 =
    sum_{i>=2} l_i p_i + p; ``term_structures[i]``: term i's covariance structure
    (``covariance_structures``: "us", "diag", "cs" or "ar1"), which fixes its share of theta.
    """

    n_obs: int
    n_fixed: int
    term_levels: tuple[int, ...]
    term_columns: tuple[int, ...]
    term_structures: tuple[str, ...]

    @property
    def n_trailing_random(self) -> int:
        return sum(l * p for l, p in zip(self.term_levels[1:], self.term_columns[1:]))

    @property
    def n_trailing(self) -> int:
        return self.n_trailing_random + self.n_fixed

    @property
    def n_random(self) -> int:
        return sum(l * p for l, p in zip(self.term_levels, self.term_columns))

    @property
    def n_theta(self) -> int:
        return sum(self.term_theta)

    @property
    def term_theta(self) -> tuple[int, ...]:
        """Each term's share of theta."""
        return tuple(covariance_structures.n_parameters(s, p)
                     for s, p in zip(self.term_structures, self.term_columns))


@jax.tree_util.register_pytree_node_class
@dataclass(frozen=True)
class Design:
    """Index structure of one model (no weights, no response).

    Observation level: ``level1`` (n,) term-1 codes, ``X1`` (n, p1) term-1 columns,
    ``slot_col``/``slot_val`` (n, s) the trailing columns each observation touches and its values
    there, ``slot_entry`` (n, s) the A21 entry it adds to.
    Entries: ``entry_level``, ``entry_col`` (E,). Triples: ``triple_first``, ``triple_second``
    (T,) entry indices of the same level with col(first) >= col(second); ``triple_pair`` (T,)
    index into ``pair_row``/``pair_col`` (P,); ``triple_level`` (T,) their level of term 1.
    Dense scatter: the augmented trailing matrix over [F, r] is (m0 + 1) x (m0 + 1); position
    ``dense_index[u]`` (flattened, increasing, each once) receives value ``dense_source[u]`` of
    [pair values (P), F'r updates (m0), r'r update (1)] -- both triangles of every pair.
    ``triples_omitted`` (static): the triples were not listed (more than ``TRIPLE_LIMIT``, or
    ``dense_update_cheaper``; the arrays then hold no real triples or pairs), and the update is
    formed densely (``lmm.level_dense_update``).
    """

    layout: Layout
    level1: jax.Array
    X1: jax.Array
    slot_col: jax.Array
    slot_val: jax.Array
    slot_entry: jax.Array
    entry_level: jax.Array
    entry_col: jax.Array
    triple_first: jax.Array
    triple_second: jax.Array
    triple_pair: jax.Array
    pair_row: jax.Array
    pair_col: jax.Array
    triple_level: jax.Array
    dense_index: jax.Array
    dense_source: jax.Array
    triples_omitted: bool = False

    def tree_flatten(self):
        names = [f for f in self.__dataclass_fields__ if f not in ("layout", "triples_omitted")]
        return [getattr(self, f) for f in names], (self.layout, self.triples_omitted)

    @classmethod
    def tree_unflatten(cls, static, children):
        layout, triples_omitted = static
        return cls(layout, *children, triples_omitted=triples_omitted)


def _trailing_slots(terms, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each observation, the trailing columns it touches (Z_2..Z_k then X) and the values."""
    n = X.shape[0]
    cols, vals, offset = [], [], 0
    for term in terms[1:]:
        p = term.n_columns
        for a in range(p):
            cols.append(offset + term.codes * p + a)
            vals.append(term.X[:, a])
        offset += term.n_levels * p
    for j in range(X.shape[1]):
        cols.append(np.full(n, offset + j))
        vals.append(X[:, j])
    if not cols:
        return np.zeros((n, 0), np.int64), np.zeros((n, 0))
    return np.stack(cols, axis=1).astype(np.int64), np.stack(vals, axis=1).astype(float)


_DENSE_LOOKUP_LIMIT = 1 << 26  # m0^2 up to this: find distinct pairs with a dense table, not a sort


def _distinct(keys: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(keys, return_inverse=True) for integer keys in [0, size), by a dense table when
    ``size`` is moderate (linear time instead of a sort of millions of keys)."""
    if size > _DENSE_LOOKUP_LIMIT:
        return np.unique(keys, return_inverse=True)
    present = np.zeros(size, bool)
    present[keys] = True
    distinct = np.flatnonzero(present)
    lookup = np.zeros(size, np.int64)
    lookup[distinct] = np.arange(len(distinct))
    return distinct, lookup[keys]


def _stable_order(keys: np.ndarray) -> np.ndarray:
    """np.argsort(keys, kind="stable") for non-negative integer keys below 2**32, as two radix
    passes over 16-bit halves (numpy sorts 16-bit keys by radix: several times faster)."""
    if len(keys) == 0 or keys.max() >= 2 ** 32:
        return np.argsort(keys, kind="stable")
    low = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
    return low[np.argsort((keys[low] >> 16).astype(np.uint16), kind="stable")]


# More triples than this (their indices alone 16 bytes each, 4x that while they are built) are
# not listed: a MovieLens-1M-shaped design has 182M. The update is then one dense product.
TRIPLE_LIMIT = 1 << 25


def _level_runs(entry_level: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first entry, number of entries) of each level's run (entries are sorted by level)."""
    starts = np.flatnonzero(np.r_[True, entry_level[1:] != entry_level[:-1]]) if len(entry_level) \
        else np.zeros(0, int)
    return starts, np.diff(np.r_[starts, len(entry_level)])


# Dense products run about this many times more multiply-adds per second than the triples'
# gather, multiply and segment sum (kb07's 20-theta model, 2 cores: 562k triples of 16 weights
# in 145 ms, the same update as one (133 x 256) (256 x 133) product in under 2 ms)
_TRIPLE_COST = 64
# below this many triple weights (2 MB) the triples stay, whatever the fill: small models keep
# the path they were tuned on
_DENSE_MIN_TRIPLE_VALUES = 1 << 18


def dense_update_cheaper(layout: Layout, n_triples: int) -> bool:
    """Whether the Schur-complement update sum_g B_g K_g B_g' costs less from dense per-level
    blocks B_g ((m0 + 1) x p1, one matrix product) than from the ``n_triples`` triples: when term
    1's levels each meet most trailing columns (kb07's subjects see every item: 2.2M triples,
    1.2 GB of triple weights for the maximal model, against 64 x 265 x 8 dense values), the
    product's multiply-adds cost less than the triples' gathers and scatters, and the triples'
    weights are large enough to matter. Such designs list no triples (``Design.triples_omitted``):
    building them took 0.6 s of a d3-shaped model's 16M."""
    l1, p1, size = layout.term_levels[0], layout.term_columns[0], layout.n_trailing + 1
    triple_values = n_triples * p1 * p1
    return (triple_values >= _DENSE_MIN_TRIPLE_VALUES
            and l1 * size * size * p1 <= _TRIPLE_COST * triple_values)


def _triples(starts: np.ndarray, counts: np.ndarray, entry_col: np.ndarray, m0: int):
    """All pairs of entries within one level (entries are sorted by level, then column; ``starts``
    and ``counts`` from ``_level_runs``)."""
    firsts, seconds = [], []
    for k in np.unique(counts):
        rows, cols = np.tril_indices(k)
        level_starts = starts[counts == k]
        firsts.append((level_starts[:, None] + rows[None, :]).ravel())
        seconds.append((level_starts[:, None] + cols[None, :]).ravel())
    first = np.concatenate(firsts) if firsts else np.zeros(0, np.int64)
    second = np.concatenate(seconds) if seconds else np.zeros(0, np.int64)
    key = entry_col[first] * m0 + entry_col[second]
    pairs, pair_index = _distinct(key, m0 * m0)
    return first, second, pair_index, pairs // m0, pairs % m0


def _dense_positions(pair_row: np.ndarray, pair_col: np.ndarray, m0: int, n_pairs: int):
    """Flattened positions in the (m0 + 1)^2 augmented matrix of every pair (both triangles), of
    the F'r column and row, and of the r'r corner; and which update value each receives (the
    update vector holds ``n_pairs`` pair values, then F'r's m0, then r'r's)."""
    size = m0 + 1
    off = np.flatnonzero(pair_row != pair_col)
    columns = np.arange(m0)
    index = np.concatenate([pair_row * size + pair_col, pair_col[off] * size + pair_row[off],
                            columns * size + m0, m0 * size + columns, [m0 * size + m0]])
    source = np.concatenate([np.arange(len(pair_row)), off, n_pairs + columns, n_pairs + columns,
                             [n_pairs + m0]])
    order = _stable_order(index)
    dtype = np.int32 if size * size < 2 ** 31 else np.int64
    return np.ascontiguousarray(index[order], dtype), np.ascontiguousarray(source[order], np.int32)


def build_design(X: np.ndarray, terms, padded: bool = False, like: Layout | None = None) -> Design:
    """Index structure for fixed-effects X and random-effects ``terms`` (lme4's term order).

    ``padded``: rows and levels rounded up to their shape classes and the sparse structure padded
    with inert items (``shape_classes``), so that nearby sizes share compiled programs; ``like``:
    the rows and levels of that padded layout (a GLMM's two designs must agree)."""
    structures = tuple(t.structure for t in terms)
    if padded:
        rows, levels = (shape_classes.padded_rows_and_levels(X, terms) if like is None
                        else (like.n_obs, like.term_levels))
        X, terms = shape_classes.padded_inputs(X, terms, rows, levels)
    n, p = X.shape
    layout = Layout(n, p, tuple(t.n_levels for t in terms), tuple(t.n_columns for t in terms),
                    structures)
    m0 = layout.n_trailing
    slot_col, slot_val = _trailing_slots(terms, X)
    level1 = terms[0].codes
    # Entries of A21 = F'WZ_1: one per (term-1 level, trailing column) that co-occur. Exact zeros
    # (dummy columns) touch nothing, so they are left out of the sparsity pattern.
    touched = slot_val != 0
    key = (level1[:, None] * m0 + slot_col)
    unique_keys, inverse = np.unique(key[touched], return_inverse=True)
    slot_entry = np.full(key.shape, len(unique_keys), dtype=np.int64)  # dummy entry for zeros
    slot_entry[touched] = inverse
    entry_level, entry_col = unique_keys // m0, unique_keys % m0
    starts, counts = _level_runs(entry_level)
    n_triples = int(np.sum(counts * (counts + 1) // 2))
    triples_omitted = n_triples > TRIPLE_LIMIT or dense_update_cheaper(layout, n_triples)
    triples = (np.zeros(0, np.int64),) * 5 if triples_omitted else \
        _triples(starts, counts, entry_col, m0)
    first, second, pair_index, pair_row, pair_col = triples
    sizes = _sparse_sizes(layout, len(entry_level), len(first), pair_row, pair_col) \
        if padded and m0 else None
    dense_index, dense_source = _dense_positions(pair_row, pair_col, m0,
                                                 len(pair_row) if sizes is None else sizes[2])
    if sizes is not None:
        (slot_entry, entry_level, entry_col, first, second, pair_index, pair_row, pair_col,
         dense_index, dense_source) = _pad_sparse(slot_entry, entry_level, entry_col, first, second,
                                                  pair_index, pair_row, pair_col, dense_index,
                                                  dense_source, m0, sizes)
    # numpy arrays: jit takes them as arguments without a device round trip per fit
    as_int = lambda a: np.ascontiguousarray(a, dtype=np.int32)
    return Design(layout, as_int(level1), np.ascontiguousarray(terms[0].X, np.float64), as_int(slot_col),
                  np.ascontiguousarray(slot_val, np.float64), as_int(slot_entry), as_int(entry_level),
                  as_int(entry_col), as_int(first), as_int(second), as_int(pair_index),
                  as_int(pair_row), as_int(pair_col), as_int(entry_level[first]), dense_index,
                  dense_source, triples_omitted)


def _sparse_sizes(layout: Layout, n_entries: int, n_triples: int, pair_row, pair_col):
    """Padded (entries, triples, pairs, dense positions): each at least one more than the real
    count where a dummy item is needed (entries, pairs), chosen through the shape registry."""
    m0, l1 = layout.n_trailing, layout.term_levels[0]
    n_dense = len(pair_row) + int(np.sum(pair_row != pair_col)) + 2 * m0 + 1
    needed = (n_entries + 1, n_triples, len(pair_row) + 1, n_dense)
    bounds = (l1 * m0 + 1, l1 * m0 * (m0 + 1) // 2, m0 * (m0 + 1) // 2 + 1, (m0 + 1) ** 2)
    own = tuple(_padded_count(n, b) for n, b in zip(needed, bounds))
    key = ("sparse", layout)
    return shape_classes.REGISTRY.choose(key, needed, own)


def _padded_count(needed: int, bound: int) -> int:
    """A padded size for ``needed`` items of a structure that can hold at most ``bound``: the
    bound itself when it is within 4x (then the size depends on the size classes alone, e.g.
    one-term models, whose entries are every level times every column), else the size class."""
    return bound if bound <= 4 * needed else max(shape_classes.size_class(needed), needed)


def _pad_sparse(slot_entry, entry_level, entry_col, first, second, pair_index, pair_row, pair_col,
                dense_index, dense_source, m0, sizes):
    """Entries, triples, pairs and dense positions padded to their size classes with items whose
    values are exactly zero: dummy entries (level 0, column 0) that no observation touches,
    dummy triples of the first dummy entry with itself into the first dummy pair, dummy pairs
    that no triple of real entries reaches (``n_pairs`` was chosen above the real count, so one
    always exists), and dense positions not otherwise used that receive the first dummy pair's
    value (0)."""
    n_entries = len(entry_level)
    n_entries_padded, n_triples, n_pairs, n_dense = sizes
    slot_entry = np.where(slot_entry == n_entries, n_entries_padded, slot_entry)
    extend = lambda a, size, fill: np.concatenate([a, np.full(size - len(a), fill, a.dtype)])
    entry_level = extend(entry_level, n_entries_padded, 0)
    entry_col = extend(entry_col, n_entries_padded, 0)
    first = extend(first, n_triples, n_entries)
    second = extend(second, n_triples, n_entries)
    dummy_pair = len(pair_row)
    pair_index = extend(pair_index, n_triples, dummy_pair)
    pair_row = extend(pair_row, n_pairs, 0)
    pair_col = extend(pair_col, n_pairs, 0)
    positions = (m0 + 1) ** 2
    if n_dense > len(dense_index):
        unused = np.ones(positions, bool)
        unused[dense_index] = False
        extra = np.flatnonzero(unused)[:n_dense - len(dense_index)]
        index = np.concatenate([dense_index, extra.astype(dense_index.dtype)])
        source = np.concatenate([dense_source, np.full(len(extra), dummy_pair, dense_source.dtype)])
        order = np.argsort(index, kind="stable")
        dense_index, dense_source = np.ascontiguousarray(index[order]), np.ascontiguousarray(source[order])
    return (slot_entry, entry_level, entry_col, first, second, pair_index, pair_row, pair_col,
            dense_index, dense_source)


class CrossProducts(NamedTuple):
    """Weighted cross-products: A11 (l1, p1, p1), A22 = F'WF (m0, m0), A21 entries (E, p1)."""

    A11: jax.Array
    A22: jax.Array
    A21: jax.Array


class ResponseStatistics(NamedTuple):
    """Cross-products with the response r = y - offset: Z_1'Wr (l1, p1), F'Wr (m0,), r'Wr."""

    Z1r: jax.Array
    Fr: jax.Array
    rr: jax.Array


def crossproducts(design: Design, weights: jax.Array) -> CrossProducts:
    """A11, A22 and the A21 entries for observation weights ``weights`` (pure JAX)."""
    layout = design.layout
    l1, m0 = layout.term_levels[0], layout.n_trailing
    wX1 = weights[:, None] * design.X1
    A11 = jax.ops.segment_sum(wX1[:, :, None] * design.X1[:, None, :], design.level1, l1)
    wF = weights[:, None] * design.slot_val
    outer = wF[:, :, None] * design.slot_val[:, None, :]
    flat_index = design.slot_col[:, :, None] * m0 + design.slot_col[:, None, :]
    A22 = jax.ops.segment_sum(outer.ravel(), flat_index.ravel(), m0 * m0).reshape(m0, m0)
    n_entries = design.entry_level.shape[0]
    contributions = design.slot_val[:, :, None] * wX1[:, None, :]
    A21 = jax.ops.segment_sum(contributions.reshape(-1, contributions.shape[-1]),
                              design.slot_entry.ravel(), n_entries + 1)[:n_entries]
    return CrossProducts(A11, A22, A21)


def response_statistics(design: Design, weights: jax.Array, response: jax.Array) -> ResponseStatistics:
    """Z_1'W r, F'W r and r'W r for r = y - offset (pure JAX; vmappable over ``response``)."""
    layout = design.layout
    wr = weights * response
    Z1r = jax.ops.segment_sum(wr[:, None] * design.X1, design.level1, layout.term_levels[0])
    Fr = jax.ops.segment_sum((wr[:, None] * design.slot_val).ravel(), design.slot_col.ravel(),
                             layout.n_trailing)
    return ResponseStatistics(Z1r, Fr, jnp.sum(wr * response))
