"""Triangular-matrix kernels: many tiny blocks at once, and one large dense factor.

Term 1 contributes l_1 blocks of p_1 x p_1 (p_1 is 1, 2, 3, ... rarely above 8). Batched LAPACK
calls on such blocks are very slow, particularly under vmap (docs/DESIGN.md section 5), so their
factorization is written out elementwise: a Python loop over the (static) block size whose body
operates on whole arrays of shape (..., l_1).

The trailing factor is one dense matrix of order m0 + 1 (1159 for InstEval). The derivatives of
its log-determinant need its inverse; ``cholesky_with_inverse`` and ``triangular_gram`` form the
factor, its inverse and the inverse's Gram matrix blockwise from matrix products, which XLA's CPU
backend runs faster than triangular solves or a plain product of full matrices, and
``single_threaded_lapack`` keeps the small LAPACK calls left at the leaves from fighting XLA's
threads.
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import threading

import jax
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


def triangular_gram(U, base: int = 128):
    """U U' for one dense upper-triangular U (n, n), recursively by 2 x 2 blocks (a third of the
    multiplications of the plain product):
    [A, B; 0, C] [A, B; 0, C]' = [A A' + B B', B C'; C B', C C']."""
    n = U.shape[-1]
    if n <= base:
        return U @ U.T
    k = n // 2
    A, B, C = U[:k, :k], U[:k, k:], U[k:, k:]
    top = triangular_gram(A, base) + B @ B.T
    off = B @ C.T
    return jnp.block([[top, off], [off.T, triangular_gram(C, base)]])


UNROLLED_LIMIT = 8  # matrices up to this order may use the written-out kernels above
LAPACK_BLOCK = 64  # largest diagonal block handed to LAPACK by cholesky_with_inverse


def cholesky_with_inverse(C, base: int = LAPACK_BLOCK):
    """(L, L^-1) for L = chol(C) of one dense symmetric positive definite C, recursively by 2 x 2
    blocks: L11 = chol(C11), L21 = C21 L11^-T, L22 = chol(C22 - L21 L21'), and
    L^-1 = [L11^-1, 0; -L22^-1 L21 L11^-1, L22^-1]. Blocks up to ``base`` use LAPACK; the rest is
    matrix products in XLA's own thread pool. (LAPACK's multithreaded factorization of a large
    matrix busy-waits for its threads, which collapses when other work, XLA's or another
    process's, occupies the cores.) A non-positive pivot gives NaN, as LAPACK's does."""
    n = C.shape[-1]
    if n <= UNROLLED_LIMIT:  # no LAPACK call per vmap lane, and no batched LAPACK (dense_inverse.py)
        L = cholesky(C)
        return L, lower_inverse(L)
    if n <= base:
        L = jax.lax.linalg.cholesky(C.T, symmetrize_input=False)  # C' = C, as LAPACK reads it
        return L, jax.lax.linalg.triangular_solve(L, jnp.eye(n, dtype=C.dtype), left_side=True,
                                                  lower=True)
    k = _split(n, base)
    L11, L11_inv = cholesky_with_inverse(C[:k, :k], base)
    L21 = C[k:, :k] @ L11_inv.T
    L22, L22_inv = cholesky_with_inverse(C[k:, k:] - L21 @ L21.T, base)
    zero = jnp.zeros((k, n - k), C.dtype)
    L = jnp.block([[L11, zero], [L21, L22]])
    L_inv = jnp.block([[L11_inv, zero], [-L22_inv @ (L21 @ L11_inv), L22_inv]])
    return L, L_inv


def _split(n: int, base: int) -> int:
    """Where to split n rows: half, rounded to a multiple of ``base`` where that keeps both
    halves non-empty (so that the leaves are mostly full ``base`` blocks)."""
    k = (n // 2 + base - 1) // base * base
    return k if 0 < k < n else n // 2


@functools.cache
def _openblas_thread_control():
    """(get, set) for the thread count of the OpenBLAS that JAX's CPU LAPACK kernels call (SciPy's
    bundled copy), or None where it cannot be found (not Linux, another LAPACK)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        return None
    for path in sorted(paths, key=lambda p: "scipy.libs" not in p):
        if not os.path.exists(path):
            continue
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_openblas_", "openblas_"):
            get = getattr(library, prefix + "get_num_threads", None)
            set_ = getattr(library, prefix + "set_num_threads", None)
            if get is not None and set_ is not None:
                get.restype, set_.argtypes = ctypes.c_int, [ctypes.c_int]
                return get, set_
    return None


class _LapackThreads:
    """The thread count of OpenBLAS is one setting for the whole process: fits in several threads
    share it. The first fit to enter sets it to 1 and the last to leave restores it, so that no
    fit restores it while another is still running (a plain save-and-restore per fit let two
    concurrent fits hand each other a multithreaded OpenBLAS, called at once from XLA's threads
    of both: not reentrant, and fits in two threads ran 2.3x slower even on 2 cores)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._inside = 0
        self._previous = None

    @contextlib.contextmanager
    def single(self):
        jax.devices()  # initializes the CPU backend, which loads the LAPACK kernels
        control = _openblas_thread_control()
        if control is None:
            yield
            return
        get, set_ = control
        with self._lock:
            if self._inside == 0:
                self._previous = get()
                set_(1)
            self._inside += 1
        try:
            yield
        finally:
            with self._lock:
                self._inside -= 1
                if self._inside == 0:
                    set_(self._previous)


_LAPACK_THREADS = _LapackThreads()


@contextlib.contextmanager
def single_threaded_lapack():
    """Run LAPACK single-threaded inside the block (restored when the last concurrent block ends).

    The factorizations call LAPACK on blocks of at most 64 rows only, where threads gain nothing;
    but OpenBLAS's threads busy-wait, and when XLA's own thread pool (or another process) has the
    cores, each small call can take milliseconds instead of microseconds (InstEval's fit: 5.9 s
    instead of 1.6 s). Results must be ready before the block ends (block_until_ready)."""
    with _LAPACK_THREADS.single():
        yield
