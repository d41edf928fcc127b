"""JAX set-up shared by every numerical module: float64 on, and checked.

Profiled deviances are of order 1e3-1e5 and convergence needs about 1e-8 relative accuracy, so
single precision is never acceptable. Importing this module switches x64 on before any array is
made and fails loudly if that did not take effect.

OpenBLAS (SciPy's copy, which JAX's CPU LAPACK kernels call) is kept single-threaded unless the
user chose otherwise: XLA already runs those kernels from its own thread pool, several at once,
and OpenBLAS threads on top of that only busy-wait against XLA's (DESIGN.md section 10; InstEval
3.7x slower) and are a known source of heap corruption in jaxlib 0.10's batched kernels. It must be
set before SciPy's OpenBLAS is loaded, hence here, before JAX is imported.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

if jnp.asarray(1.0).dtype != jnp.float64:  # pragma: no cover - only if JAX ignored the flag
    raise RuntimeError("mixedjax needs float64: JAX did not enable x64 (set JAX_ENABLE_X64=1)")

FLOAT = jnp.float64


def enable_compilation_cache(path: str, min_compile_seconds: float = 0.0) -> None:
    """Opt in to JAX's persistent compilation cache, so a new process reuses compiled fits."""
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", min_compile_seconds)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
