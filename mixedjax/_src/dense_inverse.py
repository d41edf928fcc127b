"""Inverses of small dense matrices from plain array arithmetic, for code that runs under vmap.

jaxlib 0.10's CPU LU kernel (``lapack_dgetrf_ffi``, behind ``jnp.linalg.inv`` and
``jnp.linalg.solve``) splits a batch of matrices over XLA's intra-op thread pool and blocks the
pool thread that called it until the pieces are done. When as many such calls run at once as the
pool has threads (two on a 2-core machine), every thread waits for work queued behind the others
and the program never finishes: the hang seen in the bootstrap of a vmapped glmer batch (all
threads idle on futexes, two of them in ``ParallelBatchMap`` under ``lapack_dgetrf_ffi``).
Gauss-Jordan elimination written as a ``fori_loop`` of array updates has no custom call to block
on; under vmap it is a batch of elementwise operations.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def gauss_jordan_inverse(A):
    """Inverse of a square matrix A (n, n) by Gauss-Jordan elimination on the diagonal pivots.

    Without row exchanges: meant for symmetric matrices (Hessians, penalized information
    matrices), whose leading minors are nonzero at a well-defined optimum. A zero pivot gives
    inf/NaN entries rather than an error, as a singular LAPACK factorization would."""
    return inverse_and_pivots(A)[0]


def inverse_and_pivots(A):
    """(A^-1, the pivots) of ``gauss_jordan_inverse``. For a symmetric A the pivots are the D of
    A = L D L', so A is positive definite exactly when every pivot is positive."""
    n = A.shape[-1]
    augmented = jnp.concatenate([A, jnp.eye(n, dtype=A.dtype)], axis=-1)

    def eliminate(k, carry):
        M, pivots = carry
        pivot = M[k, k]
        pivot_row = M[k] / pivot
        M = M - jnp.outer(M[:, k], pivot_row)
        return M.at[k].set(pivot_row), pivots.at[k].set(pivot)

    M, pivots = jax.lax.fori_loop(0, n, eliminate, (augmented, jnp.zeros(n, A.dtype)))
    return M[:, n:], pivots


def symmetric_solve(A, rhs):
    """A^-1 rhs for a symmetric nonsingular A, through ``gauss_jordan_inverse`` (linear in rhs,
    so it transposes for reverse-mode derivatives)."""
    return gauss_jordan_inverse(A) @ rhs
