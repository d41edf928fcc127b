"""JAX set-up shared by every numerical module: float64 on, and checked.

Profiled deviances are of order 1e3-1e5 and convergence needs about 1e-8 relative accuracy, so
single precision is never acceptable. Importing this module switches x64 on before any array is
made and fails loudly if that did not take effect.

OpenBLAS (SciPy's copy, which JAX's CPU LAPACK kernels call) is kept single-threaded unless the
user chose otherwise: XLA already runs those kernels from its own thread pool, several at once,
and OpenBLAS threads on top of that only busy-wait against XLA's (docs/DESIGN.md section 10; InstEval
3.7x slower) and are a known source of heap corruption in jaxlib 0.10's batched kernels. It must be
set before SciPy's OpenBLAS is loaded, hence here, before JAX is imported.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import jax  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

if jnp.asarray(1.0).dtype != jnp.float64:  # pragma: no cover - only if JAX ignored the flag
    raise RuntimeError("mixedjax needs float64: JAX did not enable x64 (set JAX_ENABLE_X64=1)")

FLOAT = jnp.float64


def to_host(tree):
    """numpy copies of a pytree of device arrays (np.asarray per leaf: several times cheaper
    per call than jax.device_get, which matters in host loops of tiny programs)."""
    return jax.tree_util.tree_map(np.asarray, tree)


def is_traced(tree) -> bool:
    """Whether any leaf of ``tree`` is a tracer (the call is inside jit, vmap or grad)."""
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(tree))
