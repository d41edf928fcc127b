"""Compiled programs: JAX's persistent compilation cache (on by default) and compile counts.

Every model structure compiles a few XLA programs (seconds on first use). JAX can keep compiled
executables on disk, so that a new process fitting a structure this machine has fitted before
loads them instead of compiling. mixedjax turns that cache on when it is imported, in

    $MIXEDJAX_CACHE_DIR, else $XDG_CACHE_HOME/mixedjax, else ~/.cache/mixedjax

(in a folder per JAX version), and ``MIXEDJAX_CACHE_DIR=off`` leaves it off. JAX's cache is one
setting for the whole process: while it is on, the user's own jitted functions that take at least
``MIN_COMPILE_SECONDS`` to compile are cached there too. It keeps at most ``MAX_CACHE_BYTES``,
least recently used first out. A cache directory the user configured in JAX before importing
mixedjax is left as it is (``jax_compilation_cache_dir``), and so is an explicit
``jax_enable_compilation_cache=False``.

``MEMORY_MAPS`` (a ``MemoryMapGuard``) keeps the process's memory maps bounded by dropping
compiled executables when they near the kernel's limit.

``CompileCounter`` counts the programs JAX lowers (each new jitted program or eager operation,
whether or not the persistent cache then supplies its executable) and the backend compilations
(cache misses), through ``jax.monitoring``.
"""
from __future__ import annotations

import os
import threading

import jax
import jax.monitoring as monitoring
from jax.experimental.compilation_cache import compilation_cache

from ._jax import is_traced

CACHE_ENVIRONMENT_VARIABLE = "MIXEDJAX_CACHE_DIR"

# XLA CPU options for mixedjax's own programs (passed per program, so the user's are untouched):
# the older fusion code generator compiles about 20% faster and maps 2.4x less machine code into
# the process per program (a process compiling many models otherwise nears vm.max_map_count).
COMPILER_OPTIONS = {"xla_cpu_use_fusion_emitters": False}
MIN_COMPILE_SECONDS = 0.05  # mixedjax's smallest programs compile in 0.05-0.4 s; eager ops below
MAX_CACHE_BYTES = 2 << 30  # least recently used entries are dropped beyond this (JAX's LRU cache)


def jit(function=None, **options):
    """``jax.jit`` with ``COMPILER_OPTIONS`` for calls from the host (as a decorator, with or
    without options; the options are XLA debug options that other backends ignore). JAX accepts
    compiler options only on outermost programs, so a call made while tracing (inside a user's
    jit, vmap or grad) goes to the same function jitted without them."""
    if function is None:
        return lambda f: jit(f, **options)
    return _TopLevelJit(function, options)


class _TopLevelJit:
    def __init__(self, function, options):
        self._nested = jax.jit(function, **options)
        self._top = jax.jit(function, compiler_options=COMPILER_OPTIONS, **options)
        self.__wrapped__ = function
        self.__name__ = getattr(function, "__name__", "jitted")
        self.__doc__ = getattr(function, "__doc__", None)

    def __call__(self, *args, **kwargs):
        if is_traced((args, kwargs)):
            return self._nested(*args, **kwargs)
        MEMORY_MAPS.evict_if_needed()
        return self._top(*args, **kwargs)

    def lower(self, *args, **kwargs):
        return self._top.lower(*args, **kwargs)


def memory_map_count() -> int | None:
    """Lines of /proc/self/maps (None where there is no such file)."""
    try:
        with open("/proc/self/maps", "rb") as maps:
            return sum(1 for _ in maps)
    except OSError:
        return None


def _kernel_map_limit(default: int = 65530) -> int:
    try:
        with open("/proc/sys/vm/max_map_count") as handle:
            return int(handle.read())
    except (OSError, ValueError):
        return default


class MemoryMapGuard:
    """Keeps a process's memory maps bounded however many model structures it compiles.

    Every compiled XLA CPU program maps its machine code into the process (300-900 maps per model
    structure), and past Linux's ``vm.max_map_count`` (65,530 by default) XLA crashes while
    compiling. After each backend compilation the maps are counted; above ``limit`` (half the
    kernel's) the next mixedjax call first drops JAX's in-memory executables
    (``jax.clear_caches()``: process-wide, so the user's jitted functions are recompiled, or
    loaded from the persistent cache, on their next call), which unmaps their code."""

    def __init__(self, limit: int | None = None):
        self.limit = limit if limit is not None else _kernel_map_limit() // 2
        self.evictions = 0
        self._pending = False
        monitoring.register_event_duration_secs_listener(self._after_compile)

    def _after_compile(self, event: str, seconds: float, **_):
        if event == CompileCounter._BACKEND:
            count = memory_map_count()
            self._pending = self._pending or (count is not None and count > self.limit)

    def evict_if_needed(self) -> None:
        if self._pending:
            self._pending = False
            self.evictions += 1
            jax.clear_caches()


def default_cache_directory() -> str | None:
    """The cache directory mixedjax uses: None when ``MIXEDJAX_CACHE_DIR=off``."""
    configured = os.environ.get(CACHE_ENVIRONMENT_VARIABLE)
    if configured is not None and configured.strip():
        if configured.strip().lower() in ("off", "0", "false", "none"):
            return None
        return os.path.abspath(os.path.expanduser(configured.strip()))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "mixedjax")


def enable_compilation_cache(path: str, min_compile_seconds: float = MIN_COMPILE_SECONDS) -> None:
    """Keep compiled programs in ``path`` (JAX's persistent cache, process-wide)."""
    path = os.path.abspath(os.path.expanduser(path))
    os.makedirs(path, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", min_compile_seconds)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    if jax.config.jax_compilation_cache_max_size == -1 and _has_filelock():
        # JAX's default is unbounded; its LRU eviction needs filelock (a dependency of ours)
        jax.config.update("jax_compilation_cache_max_size", MAX_CACHE_BYTES)
    compilation_cache.reset_cache()  # takes effect even if something was compiled before


def _has_filelock() -> bool:
    try:
        import filelock  # noqa: F401
    except ImportError:
        return False
    return True


def configure_default_cache() -> str | None:
    """Turn the cache on at the default directory unless the user chose otherwise; returns the
    directory in use (None: off). An unwritable directory leaves the cache off, silently: the
    cache only saves time."""
    if jax.config.jax_compilation_cache_dir or not jax.config.jax_enable_compilation_cache:
        return jax.config.jax_compilation_cache_dir
    path = default_cache_directory()
    if path is None:
        return None
    # one folder per JAX version: entries of other versions never match, and a folder written
    # without JAX's size bound (no access-time files) breaks its eviction
    path = os.path.join(path, f"jax-{jax.__version__}")
    try:
        enable_compilation_cache(path)
    except OSError:
        return None
    return path


class CompileCounter:
    """Counts, while active, the programs lowered (``lowered``, named in ``names``), those then
    compiled or loaded (``compiled``, in ``compile_seconds``) and those of them loaded from the
    persistent cache (``cache_hits``), in this process, from any thread.

    >>> with CompileCounter() as count:          # doctest: +SKIP
    ...     fit.refit(y)
    >>> count.lowered                            # doctest: +SKIP
    0
    """

    _LOWERING = "/jax/core/compile/jaxpr_to_mlir_module_duration"
    _BACKEND = "/jax/core/compile/backend_compile_duration"
    _HIT = "/jax/compilation_cache/cache_hits"

    def __init__(self):
        self.lowered = 0
        self.compiled = 0
        self.names: list[str] = []  # the lowered programs, e.g. "jit(_map_replicates)"
        self.compile_seconds = 0.0  # spent compiling or loading from the persistent cache
        self.cache_hits = 0  # programs loaded from the persistent cache
        self._lock = threading.Lock()
        self._active = False

    def _listen(self, event: str, seconds: float, fun_name: str = "", **_):
        if not self._active:
            return
        with self._lock:
            if event == self._LOWERING:
                self.lowered += 1
                self.names.append(fun_name)
            elif event == self._BACKEND:
                self.compiled += 1
                self.compile_seconds += seconds

    def _listen_hit(self, event: str, **_):
        if self._active and event == self._HIT:
            with self._lock:
                self.cache_hits += 1

    def __enter__(self) -> CompileCounter:
        self._active = True
        monitoring.register_event_duration_secs_listener(self._listen)
        monitoring.register_event_listener(self._listen_hit)
        return self

    def __exit__(self, *exc) -> None:
        self._active = False
        monitoring.unregister_event_duration_listener(self._listen)
        monitoring.unregister_event_listener(self._listen_hit)


MEMORY_MAPS = MemoryMapGuard()
