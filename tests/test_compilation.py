"""The program store: where it lives, how it is turned off, and that a second process fitting
the same structure traces, lowers and compiles none of mixedjax's programs (loads every one from
disk), leaving JAX's own settings alone."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mixedjax._src import compilation

HERE = os.path.dirname(os.path.abspath(__file__))


def test_cache_directory_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv("MIXEDJAX_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert compilation.default_cache_directory() == str(tmp_path / "xdg" / "mixedjax")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert compilation.default_cache_directory() == str(tmp_path / "home" / ".cache" / "mixedjax")
    monkeypatch.setenv("MIXEDJAX_CACHE_DIR", str(tmp_path / "mine"))
    assert compilation.default_cache_directory() == str(tmp_path / "mine")
    for off in ("off", "OFF", "0", "false"):
        monkeypatch.setenv("MIXEDJAX_CACHE_DIR", off)
        assert compilation.default_cache_directory() is None


CHILD = textwrap.dedent("""
    import json, sys, warnings
    import pandas as pd
    import jax
    import mixedjax as mj
    from mixedjax._src import compilation
    data = pd.read_csv(sys.argv[1]).astype({"Batch": str})
    with warnings.catch_warnings(), mj.CompileCounter() as count:
        warnings.simplefilter("ignore")
        fit = mj.lmer("Yield ~ 1 + (1 | Batch)", data)
    print(json.dumps(dict(directory=mj.cache_directory, lowered=count.lowered,
                          compiled=count.compiled, seconds=count.compile_seconds,
                          hits=count.cache_hits, names=count.names,
                          criterion=fit.reml_criterion,
                          jax_directory=jax.config.jax_compilation_cache_dir,
                          programs=sorted(compilation.stored_program_names()))))
""")


def _child(env):
    done = subprocess.run([sys.executable, "-c", CHILD, os.path.join(HERE, "reference", "data", "Dyestuff.csv")],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_second_process_loads_every_program_from_the_cache(tmp_path):
    env = dict(os.environ, MIXEDJAX_CACHE_DIR=str(tmp_path / "cache"))
    first, second = _child(env), _child(env)
    assert first["directory"] == second["directory"]
    assert os.path.dirname(first["directory"]) == str(tmp_path / "cache")
    programs = first["programs"]
    assert programs and second["programs"] == programs
    lowered_programs = lambda child: [n for n in child["names"] if n.removeprefix("jit(").rstrip(")") in
                                      {p.rsplit(".", 1)[-1] for p in programs}]
    assert len(lowered_programs(first)) == len(programs) and first["hits"] == 0
    # every one of mixedjax's programs comes from disk: none is traced, lowered or compiled
    assert lowered_programs(second) == [] and second["hits"] == len(programs)
    assert second["compiled"] == first["compiled"] - len(programs)
    assert second["criterion"] == first["criterion"]
    assert first["jax_directory"] is None  # JAX's own persistent cache is left as it was: off
    off = _child(dict(os.environ, MIXEDJAX_CACHE_DIR="off"))
    assert off["directory"] is None and off["hits"] == 0
    assert len(lowered_programs(off)) == len(programs)


def _scaled_sum(x, factor):
    return jnp.sum(x) * factor


_scaled_sum_jitted = compilation.jit(_scaled_sum, static_argnames="factor")


def test_store_recompiles_a_damaged_entry_and_shares_positional_and_keyword_calls(tmp_path, monkeypatch):
    monkeypatch.setattr(compilation.PROGRAMS, "directory", str(tmp_path))
    _scaled_sum_jitted.clear()
    x = np.arange(3.0)
    with compilation.CompileCounter() as count:
        assert float(_scaled_sum_jitted(x, 2.0)) == 6.0
        assert float(_scaled_sum_jitted(x=x, factor=2.0)) == 6.0  # same executable
    assert count.compiled == 1
    entries = [os.path.join(folder, name) for folder, _, names in os.walk(tmp_path) for name in names]
    assert len(entries) == 1
    with open(entries[0], "r+b") as handle:  # damage it
        handle.seek(40)
        handle.write(b"\0" * 64)
    _scaled_sum_jitted.clear()
    jax.clear_caches()  # JAX's own in-memory executables too
    with compilation.CompileCounter() as count:
        assert float(_scaled_sum_jitted(x, 2.0)) == 6.0
    assert count.compiled == 1 and count.cache_hits == 0  # rebuilt, not loaded
    _scaled_sum_jitted.clear()
    jax.clear_caches()
    with compilation.CompileCounter() as count:
        assert float(_scaled_sum_jitted(x, 2.0)) == 6.0
        assert float(_scaled_sum_jitted(x, 3.0)) == 9.0  # another static value: another program
    assert count.cache_hits == 1 and count.compiled == 1


def test_a_failed_prefetch_raises_in_the_callers_thread(tmp_path, monkeypatch):
    monkeypatch.setattr(compilation.PROGRAMS, "directory", None)
    _scaled_sum_jitted.clear()
    bad = jax.ShapeDtypeStruct((2, 2), np.dtype("int8"))
    _scaled_sum_jitted.prefetch(jax.ShapeDtypeStruct((3,), np.float64), 2.0)
    _scaled_sum_jitted.prefetch(bad, "not a number")
    assert float(_scaled_sum_jitted(np.ones(3), 2.0)) == 6.0
    with pytest.raises(TypeError):
        _scaled_sum_jitted(np.ones((2, 2), np.int8), "not a number")


def _wiggle(x):
    return jnp.sum(jnp.sin(x) ** 2 + jnp.cos(x) * x)


_wiggle_jitted = compilation.jit(_wiggle)


def _wait_for_the_optimizer():
    compilation._OPTIMIZER.submit(lambda: None).result()  # one worker: everything before is done


def test_a_quick_build_is_optimized_once_it_has_run_long_enough(tmp_path, monkeypatch):
    monkeypatch.setattr(compilation.PROGRAMS, "directory", str(tmp_path))
    _wiggle_jitted.clear()
    x = np.linspace(0.0, 3.0, 1001)
    monkeypatch.setattr(compilation, "OPTIMIZE_AFTER_SECONDS", 1e9)
    with compilation.CompileCounter() as count:
        quick = float(_wiggle_jitted(x))
        float(_wiggle_jitted(x))
        _wait_for_the_optimizer()
    assert count.compiled == 1 and count.optimized == 0  # not run long enough
    monkeypatch.setattr(compilation, "OPTIMIZE_AFTER_SECONDS", 0.0)
    with compilation.CompileCounter() as count:
        float(_wiggle_jitted(x))  # has now run longer than 0 s: optimized in the background
        _wait_for_the_optimizer()
        optimized = float(_wiggle_jitted(x))
    assert count.compiled == 0 and count.lowered == 0 and count.optimized == 1
    assert optimized == pytest.approx(quick, rel=1e-13)
    assert compilation.optimize_programs(_wiggle_jitted) == 0  # nothing quick is left
    # the optimized executable replaced the quick one on disk, and a new process loads it
    entries = [name for _, _, names in os.walk(tmp_path) for name in names]
    assert len(entries) == 1
    _wiggle_jitted.clear()
    jax.clear_caches()
    with compilation.CompileCounter() as count:
        assert float(_wiggle_jitted(x)) == optimized
    assert count.cache_hits == 1 and count.compiled == 0
    assert compilation.optimize_programs(_wiggle_jitted) == 0  # the optimized build was loaded


def test_optimize_programs_optimizes_every_quick_build_now(monkeypatch):
    monkeypatch.setattr(compilation.PROGRAMS, "directory", None)
    monkeypatch.setattr(compilation, "OPTIMIZE_AFTER_SECONDS", 1e9)
    _wiggle_jitted.clear()
    values = [float(_wiggle_jitted(np.linspace(0.0, 1.0, n))) for n in (10, 20)]
    with compilation.CompileCounter() as count:
        assert compilation.optimize_programs(_wiggle_jitted) == 2
        again = [float(_wiggle_jitted(np.linspace(0.0, 1.0, n))) for n in (10, 20)]
    assert count.optimized == 2 and count.compiled == 0
    assert again == pytest.approx(values, rel=1e-13)


EXITING_CHILD = textwrap.dedent("""
    import jax.numpy as jnp, numpy as np
    from mixedjax._src import compilation
    compilation.OPTIMIZE_AFTER_SECONDS = 0.0

    def chain(x):
        for i in range(150):
            x = jnp.tanh(x @ x.T + i)
        return x
    program = compilation.jit(chain)
    for n in (20, 21, 22):  # one optimization runs, the others wait in the queue
        program(np.eye(n)).block_until_ready()
    print("done")
""")


def test_a_process_exits_cleanly_while_programs_are_being_optimized():
    # XLA aborts the process when it is torn down under a compile still running in a thread
    done = subprocess.run([sys.executable, "-c", EXITING_CHILD], capture_output=True, text=True,
                          env=dict(os.environ, MIXEDJAX_CACHE_DIR="off"), timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "done"


FREEZING_CHILD = """
import atexit, gc
atexit.register(lambda: print("frozen" if gc.get_freeze_count() > 0 else "not frozen"))
import mixedjax  # its exit handler, registered after the one above, runs before it
"""


def test_the_heap_is_frozen_at_exit_so_the_interpreter_skips_its_final_collection():
    done = subprocess.run([sys.executable, "-c", FREEZING_CHILD], capture_output=True, text=True,
                          env=dict(os.environ, MIXEDJAX_CACHE_DIR="off"), timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "frozen"
