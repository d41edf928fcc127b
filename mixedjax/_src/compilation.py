"""Compiled programs: a store of mixedjax's compiled programs (in memory and on disk), compile
counts, and the memory-map guard.

Every model structure compiles a few XLA programs (seconds on first use). ``jit`` below keeps,
for each of mixedjax's jitted functions, the executables it compiled, keyed by the call's
signature (static arguments, pytree structure, shapes and dtypes), and writes them to disk in

    $MIXEDJAX_CACHE_DIR, else $XDG_CACHE_HOME/mixedjax, else ~/.cache/mixedjax

(``MIXEDJAX_CACHE_DIR=off``: memory only). A new process fitting a structure this machine has
fitted before loads the executables straight from disk: no tracing, no lowering, no compiling.
JAX's own persistent compilation cache could only do the last of these (it is keyed by the
lowered program, so every process still traces and lowers, 2 s of a 3 s cached cbpp fit), and
it is one setting for the whole process; the store leaves every JAX setting of the user's alone.
An entry is keyed by the function's module and name, its static arguments, the argument
signature, mixedjax's source code (any change invalidates every entry), the JAX and jaxlib
versions, the XLA options, the device and the CPU. The store keeps at most ``MAX_CACHE_BYTES``,
least recently used first out.

``prefetch`` compiles a program in a background thread before it is first called (XLA releases
the GIL while compiling), so that a fit's later programs compile while its first ones run.

Compilation is tiered. A program is first compiled with LLVM's optimizations off
(``QUICK_OPTIONS``): 2.5-3x less compile time, for code that runs 1.2-2x slower on small models
(sleepstudy's derivatives: 0.59 s to compile against 1.56 s, 0.33 ms a call against 0.18 ms) and
up to 5x slower on large ones. Once a quick program has run for ``OPTIMIZE_AFTER_SECONDS`` in
all, it is compiled again with full optimization in a background thread, and the optimized
executable replaces it (and its disk entry). So a first fit pays the quick compile; a program a
session keeps using, or a large model's, ends up optimized. Batch and simulation programs
(``tiered=False``) run thousands of replicates per call and are optimized from the start. An
optimization still running when the interpreter exits is waited for; one not yet started is
dropped.

``MEMORY_MAPS`` (a ``MemoryMapGuard``) keeps the process's memory maps bounded by dropping
compiled executables when they near the kernel's limit.

``CompileCounter`` counts the programs JAX lowers (each new program or eager operation), the
backend compilations, and the programs loaded from the store's disk.
"""
from __future__ import annotations

import concurrent.futures
import ctypes
import gc
import hashlib
import inspect
import os
import pickle
import platform
import threading
import time
import weakref

import jax
import jax.monitoring as monitoring
import jaxlib
import numpy as np
from jax.experimental import serialize_executable

from ._jax import is_traced


CACHE_ENVIRONMENT_VARIABLE = "MIXEDJAX_CACHE_DIR"

# XLA CPU options for mixedjax's own programs (passed per program, so the user's are untouched):
# the older fusion code generator compiles about 20% faster and maps 2.4x less machine code into
# the process per program (a process compiling many models otherwise nears vm.max_map_count).
COMPILER_OPTIONS = {"xla_cpu_use_fusion_emitters": False}
QUICK_OPTIONS = {"xla_backend_optimization_level": 0}  # added to COMPILER_OPTIONS for a quick build
OPTIMIZE_AFTER_SECONDS = 0.25  # run time of a quick build after which it is optimized
MAX_CACHE_BYTES = 2 << 30  # least recently used entries are dropped beyond this
_EVICTION_CHECK_EVERY = 16  # saves (the first of a process included); a structure writes 3-5
_LOADED_EVENT = "/mixedjax/program_store/load_duration"
_OPTIMIZER_THREAD = "mixedjax-optimize"


def jit(function=None, **options):
    """``jax.jit`` with ``COMPILER_OPTIONS``, and the executables kept by the program store, for
    calls from the host (as a decorator, with or without options; the options are XLA debug
    options that other backends ignore). JAX accepts compiler options only on outermost programs,
    so a call made while tracing (inside a user's jit, vmap or grad) goes to the same function
    jitted without them."""
    if function is None:
        return lambda f: jit(f, **options)
    return _TopLevelJit(function, options)


class _QuickBuild:
    """What optimizing a quick build needs: its lowered program (None when the build was loaded
    from disk: lowered again from ``arguments``), and the seconds it has run."""

    def __init__(self, lowered):
        self.lowered = lowered
        self.arguments = None
        self.seconds = 0.0
        self.submitted = False


class _TopLevelJit:
    """A jitted function whose host calls run executables from the program store.

    Arguments are bound to the function's signature and passed by name, so that positional and
    keyword calls share executables; each executable is called with the dynamic arguments only."""

    def __init__(self, function, options):
        options = dict(options)
        self._tiered = options.pop("tiered", True)
        self._nested = jax.jit(function, **options)
        self._top = jax.jit(function, compiler_options=COMPILER_OPTIONS, **options)
        self.__wrapped__ = function
        self.__name__ = getattr(function, "__name__", "jitted")
        self.__doc__ = getattr(function, "__doc__", None)
        static = options.get("static_argnames", ())
        self._static_names = (static,) if isinstance(static, str) else tuple(static)
        self._signature = inspect.signature(function)
        # arguments are passed by name: a function taking *args or **kwargs is left to jax.jit
        self._by_name = all(parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
                            for parameter in self._signature.parameters.values())
        self._disk_name = _disk_name(function)
        self._executables: dict = {}  # signature -> Future of its executable
        self._ready: dict = {}  # signature -> executable, once built
        self._quick: dict = {}  # signature -> _QuickBuild, while its executable is a quick build
        self._lock = threading.Lock()
        _ALL_JITTED.add(self)

    def __call__(self, *args, **kwargs):
        if not self._by_name:
            return self._nested(*args, **kwargs) if is_traced((args, kwargs)) else self._top(*args, **kwargs)
        dynamic, static = self._split(args, kwargs)
        key = _call_key(dynamic, static)
        if key is None:  # traced: inside a user's jit, vmap or grad
            return self._nested(*args, **kwargs)
        MEMORY_MAPS.evict_if_needed()
        executable = self._ready.get(key)
        if executable is None:
            executable = self._executable(key, dynamic, static)
        quick = self._quick.get(key)
        if quick is not None:
            return self._timed(key, quick, executable, dynamic, static)
        return executable(**dynamic)

    def _timed(self, key, quick: _QuickBuild, executable, dynamic, static):
        """Run a quick build, and once it has run ``OPTIMIZE_AFTER_SECONDS`` submit its
        optimization (its results are waited for here: host loops read them at once anyway)."""
        started = time.perf_counter()
        out = jax.block_until_ready(executable(**dynamic))
        quick.seconds += time.perf_counter() - started
        if quick.lowered is None and quick.arguments is None:
            quick.arguments = dynamic
        if quick.seconds > OPTIMIZE_AFTER_SECONDS and not quick.submitted:
            quick.submitted = True
            _OPTIMIZER.submit(self._optimize, key, quick, static)
        return out

    @staticmethod
    def _static_of(key) -> tuple:
        return key[2]

    def _optimize(self, key, quick: _QuickBuild, static) -> None:
        """Replace a quick build by an optimized one, in memory and on disk."""
        if not threading.main_thread().is_alive():  # the interpreter is exiting
            return
        try:
            lowered = quick.lowered or self._top.lower(**quick.arguments, **dict(static))
            optimized = lowered.compile()
        except Exception:  # the quick build keeps serving
            return
        with self._lock:
            if self._quick.get(key) is not quick:  # cleared meanwhile
                return
            self._quick.pop(key)
            done = concurrent.futures.Future()
            done.set_result(optimized)
            self._executables[key] = done
            self._ready[key] = optimized
        disk_key = self._disk_key(key)
        PROGRAMS.save(disk_key, optimized)
        PROGRAMS.remove(self._disk_key(key, quick=True))

    def lower(self, *args, **kwargs):
        return self._top.lower(*args, **kwargs)

    def program_text(self, *args, **kwargs) -> str | None:
        """The optimized HLO text of the executable these arguments run (built or loaded now if
        it is not yet); None where it cannot be read (a function left to ``jax.jit``)."""
        if not self._by_name:
            return None
        dynamic, static = self._split(args, kwargs)
        key = _call_key(dynamic, static)
        executable = self._ready.get(key) or self._executable(key, dynamic, static)
        try:
            return executable.as_text()
        except Exception:  # noqa: BLE001 (an executable without its text: the caller assumes the worst)
            return None

    def prefetch(self, *args, **kwargs) -> None:
        """Compile (or load) the executable for these arguments (arrays or
        ``jax.ShapeDtypeStruct``s) in a background thread."""
        if not self._by_name:
            return
        dynamic, static = self._split(args, kwargs)
        key = _call_key(dynamic, static)
        with self._lock:
            if key is not None and key not in self._executables:
                self._executables[key] = _BACKGROUND.submit(self._prefetched, key, dynamic, static)

    def clear(self) -> None:
        with self._lock:
            self._executables.clear()
            self._ready.clear()
            self._quick.clear()

    def _split(self, args, kwargs):
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values = bound.arguments
        dynamic = {name: v for name, v in values.items() if name not in self._static_names}
        static = tuple((name, values[name]) for name in self._static_names if name in values)
        return dynamic, static

    def _executable(self, key, dynamic, static):
        """The executable for ``key``: built here, or by a prefetch (waited for; built here
        again if the prefetch failed, so that its error is raised in the caller's thread)."""
        with self._lock:
            pending = self._executables.get(key)
            if pending is None:
                pending = self._executables[key] = concurrent.futures.Future()
                owner = True
            else:
                owner = False
        if owner:
            try:
                pending.set_result(self._build(key, dynamic, static))
            except BaseException as error:
                pending.set_exception(error)
                with self._lock:
                    self._executables.pop(key, None)
                raise
        executable = pending.result()
        if executable is None:  # a failed prefetch
            with self._lock:
                self._executables.pop(key, None)
            return self._executable(key, dynamic, static)
        self._ready[key] = executable
        return executable

    def _prefetched(self, key, dynamic, static):
        try:
            return self._build(key, dynamic, static)
        except Exception:  # raised again, in the caller's thread, when the program is called
            return None

    def _disk_key(self, key, quick: bool = False) -> str | None:
        if self._disk_name is None:
            return None
        return PROGRAMS.disk_key(self._disk_name + ("|quick" if quick else ""), key)

    def _build(self, key, dynamic, static):
        """The optimized executable from disk, else (tiered) a quick build from disk or compiled
        now, else the optimized one compiled now."""
        executable = PROGRAMS.load(self._disk_key(key), self.__name__)
        if executable is not None:
            return executable
        if not self._tiered:
            executable = self._top.lower(**dynamic, **dict(static)).compile()
            PROGRAMS.save(self._disk_key(key), executable)
            return executable
        quick_key = self._disk_key(key, quick=True)
        lowered = None
        executable = PROGRAMS.load(quick_key, self.__name__)
        if executable is None:
            lowered = self._top.lower(**dynamic, **dict(static))
            executable = lowered.compile(QUICK_OPTIONS)
            PROGRAMS.save(quick_key, executable)
        with self._lock:
            self._quick[key] = _QuickBuild(lowered)
        return executable


_ALL_JITTED: weakref.WeakSet = weakref.WeakSet()


def _disk_name(function) -> str | None:
    """``module.qualname`` of a module-level function without closure (what a disk entry can
    be keyed by), else None: a local function or closure is kept in memory only."""
    qualname = getattr(function, "__qualname__", "")
    if not qualname or "<" in qualname or getattr(function, "__closure__", None):
        return None
    return f"{function.__module__}.{qualname}"


def _leaf_signature(leaf):
    kind = type(leaf)
    if kind is np.ndarray:  # the common case first: isinstance on jax.Array is slow
        return leaf.shape, leaf.dtype, False
    if kind in _PYTHON_SCALARS:
        return kind.__name__  # weakly typed, its value traced
    if isinstance(leaf, np.generic):
        return (), leaf.dtype, False
    if isinstance(leaf, jax.core.Tracer):
        raise _Traced
    return leaf.shape, leaf.dtype, bool(getattr(leaf, "weak_type", False))  # jax.Array, ShapeDtypeStruct


class _Traced(Exception):
    pass


_PYTHON_SCALARS = (bool, int, float, complex)


def _call_key(dynamic, static) -> tuple | None:
    """(pytree structure, leaf shapes and dtypes, static arguments), or None where a leaf is a
    tracer."""
    leaves, tree = jax.tree_util.tree_flatten(dynamic)
    try:
        return tree, tuple(_leaf_signature(leaf) for leaf in leaves), static
    except _Traced:
        return None


def _source_digest() -> str:
    """A digest of mixedjax's Python source: any change to the code invalidates the store."""
    digest = hashlib.sha256()
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # mixedjax/, above _src/
    for folder, subfolders, files in sorted(os.walk(package)):
        subfolders.sort()
        for name in sorted(files):
            if name.endswith(".py"):
                with open(os.path.join(folder, name), "rb") as handle:
                    digest.update(name.encode() + handle.read())
    return digest.hexdigest()


def _cpu_identity() -> str:
    """The CPU model and flags (an executable compiled for one CPU's features may not run on
    another's: the store may live in a home directory shared between machines)."""
    try:
        with open("/proc/cpuinfo") as handle:
            lines = [line for line in handle if line.startswith(("model name", "flags"))]
        return hashlib.sha256("".join(sorted(set(lines))).encode()).hexdigest()[:16]
    except OSError:
        return platform.processor() or platform.machine()


class ProgramStore:
    """Compiled executables on disk, one file per program signature (``disk_key``), written
    atomically, checked by a digest before loading, and bounded to ``MAX_CACHE_BYTES`` (least
    recently used out). ``directory`` None: nothing is read or written."""

    def __init__(self, directory: str | None = None):
        self.directory = directory
        self._environment: str | None = None
        self._saves = 0

    def environment(self) -> str:
        if self._environment is None:
            device = jax.devices()[0]
            # the device count too: an executable compiled in a one-device process does not run
            # sharded over four (XLA_FLAGS=--xla_force_host_platform_device_count=4)
            parts = [_source_digest(), jax.__version__, jaxlib.__version__,
                     device.platform, getattr(device, "device_kind", ""), str(jax.device_count()),
                     getattr(device.client, "platform_version", ""), repr(sorted(COMPILER_OPTIONS.items())),
                     str(jax.config.jax_enable_x64), os.environ.get("XLA_FLAGS", ""), _cpu_identity()]
            self._environment = "|".join(parts)
        return self._environment

    def disk_key(self, name: str, key: tuple) -> str | None:
        if self.directory is None:
            return None
        text = f"{name}|{key!r}"
        if " at 0x" in text:  # a static argument without a stable repr: memory only
            return None
        return hashlib.sha256((self.environment() + "|" + text).encode()).hexdigest()

    def _path(self, disk_key: str) -> str:
        return os.path.join(self.directory, disk_key[:2], disk_key + ".executable")

    def load(self, disk_key: str | None, name: str = ""):
        if disk_key is None:
            return None
        path = self._path(disk_key)
        started = time.perf_counter()
        try:
            with open(path, "rb") as handle:
                digest, body = pickle.load(handle)
            if hashlib.sha256(body).hexdigest() != digest:
                raise ValueError("digest mismatch")
            payload, in_tree, out_tree = pickle.loads(body)
            _initialize_lapack()
            # on the default device, as the store's programs are compiled (left to itself,
            # deserialization spreads an executable over every local device)
            executable = serialize_executable.deserialize_and_load(payload, in_tree, out_tree,
                                                                   execution_devices=jax.devices()[:1])
            os.utime(path)  # most recently used
        except FileNotFoundError:
            return None
        except Exception:  # a damaged or foreign entry: compile afresh and overwrite it
            return None
        monitoring.record_event_duration_secs(_LOADED_EVENT, time.perf_counter() - started,
                                              fun_name=f"jit({name})")
        return executable

    def save(self, disk_key: str | None, executable) -> None:
        if disk_key is None:
            return
        try:
            body = pickle.dumps(serialize_executable.serialize(executable))
            path = self._path(disk_key)
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            temporary = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
            with open(temporary, "wb") as handle:
                pickle.dump((hashlib.sha256(body).hexdigest(), body), handle)
            os.replace(temporary, path)
            self._saves += 1
            if self._saves % _EVICTION_CHECK_EVERY == 1:  # a walk over every entry: not per save
                self._evict_beyond(MAX_CACHE_BYTES)
        except Exception:  # the store only saves time: a failed write leaves nothing behind
            return

    def remove(self, disk_key: str | None) -> None:
        if disk_key is None:
            return
        try:
            os.remove(self._path(disk_key))
        except OSError:
            return

    def _evict_beyond(self, limit: int) -> None:
        entries = []
        for folder, _, files in os.walk(self.directory):
            for name in files:
                if name.endswith(".executable"):
                    path = os.path.join(folder, name)
                    stat = os.stat(path)
                    entries.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= limit:
                break
            os.remove(path)
            total -= size


_LAPACK_READY = False


def _initialize_lapack() -> None:
    """JAX registers its CPU LAPACK kernels when it first lowers a linear-algebra operation; an
    executable loaded from disk calls them without lowering anything, so register them first
    (lowering a 1 x 1 Cholesky does it through the public API)."""
    global _LAPACK_READY
    if not _LAPACK_READY:
        jax.jit(jax.numpy.linalg.cholesky).lower(np.eye(1))
        _LAPACK_READY = True


_BACKGROUND = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, (os.cpu_count() or 2)),
                                                    thread_name_prefix="mixedjax-compile")
# one thread: optimizing what a session keeps using should not take both cores from its fits
_OPTIMIZER = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=_OPTIMIZER_THREAD)
PROGRAMS = ProgramStore()


def optimize_programs(*functions) -> int:
    """Compile every quick build (module docstring) with full optimization now, and wait: the
    warm speed a long session reaches, at once (for benchmarks, or before a timing loop).
    ``functions``: only these of ``jit``'s functions (default: all). Returns how many programs
    were optimized."""
    pending = []
    for jitted in functions or list(_ALL_JITTED):
        with jitted._lock:
            quick = list(jitted._quick.items())
        for key, build in quick:
            if build.lowered is None and build.arguments is None:
                continue  # loaded from disk and never called here: nothing to lower it from
            build.submitted = True  # (a second submission finds it done, and returns)
            pending.append(_OPTIMIZER.submit(jitted._optimize, key, build, jitted._static_of(key)))
    concurrent.futures.wait(pending)
    return len(pending)


def stored_program_names() -> set[str]:
    """``module.name`` of every program with an executable in memory (a disk name where it has one)."""
    return {jitted._disk_name or jitted.__name__ for jitted in list(_ALL_JITTED) if jitted._ready}


def clear_programs() -> None:
    """Drop every executable held in memory (the disk store is kept)."""
    for jitted in list(_ALL_JITTED):
        jitted.clear()


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
    compiling. After each backend compilation or load from the store the maps are counted; above
    ``limit`` (half the kernel's) the next mixedjax call first drops the executables held in
    memory, the store's and JAX's (``jax.clear_caches()``: process-wide, so the user's jitted
    functions are recompiled on their next call), which unmaps their code.

    Maps that something else holds stay after an eviction; the next one waits until the count
    has grown by ``HEADROOM`` beyond what the last left (else every fit of a long process evicted
    and recompiled everything: seen in a test worker)."""

    HEADROOM = 4000  # maps: several model structures' worth

    def __init__(self, limit: int | None = None):
        self.limit = limit if limit is not None else _kernel_map_limit() // 2
        self.evictions = 0
        self._pending = False
        self._left = 0  # maps counted after the last eviction
        monitoring.register_event_duration_secs_listener(self._after_compile)

    def _after_compile(self, event: str, seconds: float, **_):
        if event in (CompileCounter._BACKEND, _LOADED_EVENT):
            count = memory_map_count()
            threshold = max(self.limit, self._left + self.HEADROOM)
            self._pending = self._pending or (count is not None and count > threshold)

    def evict_if_needed(self) -> None:
        if self._pending:
            self._pending = False
            self.evictions += 1
            clear_programs()
            jax.clear_caches()
            gc.collect()  # the executables' last references may sit in reference cycles
            release_free_heap()
            self._left = memory_map_count() or 0


def release_free_heap() -> bool:
    """Hand the C heap's free pages back to the system (glibc's ``malloc_trim(0)``; False where
    there is none). XLA's freed executables and compiler state stay in glibc's arenas otherwise:
    after an eviction a process's RSS stayed at its peak (six GLMM structures: 1,010 MB after
    dropping every program, 598 MB after the trim), and it drifted up by about 500 MB per
    eviction over a long run of distinct structures."""
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return False
    trim(0)
    return True


def default_cache_directory() -> str | None:
    """The cache directory mixedjax uses: None when ``MIXEDJAX_CACHE_DIR=off``."""
    configured = os.environ.get(CACHE_ENVIRONMENT_VARIABLE)
    if configured is not None and configured.strip():
        if configured.strip().lower() in ("off", "0", "false", "none"):
            return None
        return os.path.abspath(os.path.expanduser(configured.strip()))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "mixedjax")


def enable_compilation_cache(path: str | None) -> str | None:
    """Keep mixedjax's compiled programs in ``path`` (None: in memory only, for this process);
    returns the folder the store uses. An unwritable folder leaves the store memory-only: it only
    saves time."""
    if path is None:
        PROGRAMS.directory = None
        return None
    folder = os.path.join(os.path.abspath(os.path.expanduser(path)), "programs")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError:
        folder = None
    PROGRAMS.directory = folder
    return folder


def configure_default_cache() -> str | None:
    """Turn the store's disk on at the default directory unless ``MIXEDJAX_CACHE_DIR=off``;
    returns the folder in use (None: off)."""
    return enable_compilation_cache(default_cache_directory())


class CompileCounter:
    """Counts, while active, the programs lowered (``lowered``, named in ``names``), those
    compiled by XLA (``compiled``), and those loaded from the program store's disk
    (``cache_hits``), with the seconds both took (``compile_seconds``), in this process, from any
    thread. Background optimizations of quick builds (module docstring) are counted apart, in
    ``optimized``: they happen whenever a program has run long enough, not because of a call.

    >>> with CompileCounter() as count:          # doctest: +SKIP
    ...     fit.refit(y)
    >>> count.lowered                            # doctest: +SKIP
    0
    """

    _LOWERING = "/jax/core/compile/jaxpr_to_mlir_module_duration"
    _BACKEND = "/jax/core/compile/backend_compile_duration"

    def __init__(self):
        self.lowered = 0
        self.compiled = 0
        self.names: list[str] = []  # the lowered programs, e.g. "jit(_map_replicates)"
        self.compile_seconds = 0.0  # spent compiling or loading from the store
        self.cache_hits = 0  # programs loaded from the store's disk
        self.loaded_names: list[str] = []  # those programs, named as in ``names``
        self.optimized = 0  # backend compilations of the background optimizer
        self._lock = threading.Lock()
        self._active = False

    def _listen(self, event: str, seconds: float, fun_name: str = "", **_):
        if not self._active:
            return
        with self._lock:
            if threading.current_thread().name.startswith(_OPTIMIZER_THREAD):
                self.optimized += event == self._BACKEND
            elif event == self._LOWERING:
                self.lowered += 1
                self.names.append(fun_name)
            elif event == self._BACKEND:
                self.compiled += 1
                self.compile_seconds += seconds
            elif event == _LOADED_EVENT:
                self.cache_hits += 1
                self.loaded_names.append(fun_name)
                self.compile_seconds += seconds

    def __enter__(self) -> CompileCounter:
        self._active = True
        monitoring.register_event_duration_secs_listener(self._listen)
        return self

    def __exit__(self, *exc) -> None:
        self._active = False
        monitoring.unregister_event_duration_listener(self._listen)


MEMORY_MAPS = MemoryMapGuard()
