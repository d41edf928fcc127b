"""JAX set-up shared by every numerical module: float64 on, and checked.

Profiled deviances are of order 1e3-1e5 and convergence needs about 1e-8 relative accuracy, so
single precision is never acceptable. Importing this module switches x64 on before any array is
made and fails loudly if that did not take effect.
"""
import jax

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
