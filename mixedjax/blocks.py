"""Many tiny dense matrices at once: Cholesky and triangular inverse unrolled over the block size.

Term 1 contributes l_1 blocks of p_1 x p_1 (p_1 is 1, 2, 3, ... rarely above 8). Batched LAPACK
calls on such blocks are very slow, particularly under vmap (DESIGN.md section 5), so the
factorization is written out elementwise: a Python loop over the (static) block size whose body
operates on whole arrays of shape (..., l_1).
"""
from __future__ import annotations

import jax.numpy as jnp


def cholesky(M):
    """Lower Cholesky factors of symmetric positive definite blocks M (..., p, p).

    A non-positive pivot yields NaN, which the caller maps to an infinite deviance.
    """
    p = M.shape[-1]
    L = [[None] * p for _ in range(p)]
    for j in range(p):
        diagonal = M[..., j, j] - sum(L[j][k] ** 2 for k in range(j))
        L[j][j] = jnp.sqrt(jnp.where(diagonal > 0, diagonal, jnp.nan))
        for i in range(j + 1, p):
            L[i][j] = (M[..., i, j] - sum(L[i][k] * L[j][k] for k in range(j))) / L[j][j]
    zero = jnp.zeros_like(M[..., 0, 0])
    return jnp.stack([jnp.stack([L[i][j] if j <= i else zero for j in range(p)], -1)
                      for i in range(p)], -2)


def lower_inverse(L):
    """Inverses of lower-triangular blocks L (..., p, p), by forward substitution."""
    p = L.shape[-1]
    inv = [[None] * p for _ in range(p)]
    for j in range(p):
        inv[j][j] = 1.0 / L[..., j, j]
        for i in range(j + 1, p):
            inv[i][j] = -sum(L[..., i, k] * inv[k][j] for k in range(j, i)) / L[..., i, i]
    zero = jnp.zeros_like(L[..., 0, 0])
    return jnp.stack([jnp.stack([inv[i][j] if j <= i else zero for j in range(p)], -1)
                      for i in range(p)], -2)


def matmul(A, B):
    """Blockwise A @ B for (..., p, r) and (..., r, s), unrolled (fast for tiny blocks)."""
    return jnp.sum(A[..., :, :, None] * B[..., None, :, :], axis=-2)
