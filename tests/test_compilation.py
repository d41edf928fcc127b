"""The persistent compilation cache: where it lives, how it is turned off, and that a second
process fitting the same structure compiles nothing (loads every program from the cache)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from mixedjax import compilation

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
    data = pd.read_csv(sys.argv[1]).astype({"Batch": str})
    with warnings.catch_warnings(), mj.CompileCounter() as count:
        warnings.simplefilter("ignore")
        fit = mj.lmer("Yield ~ 1 + (1 | Batch)", data)
    print(json.dumps(dict(directory=mj.cache_directory, lowered=count.lowered,
                          compiled=count.compiled, seconds=count.compile_seconds,
                          hits=count.cache_hits,
                          criterion=fit.reml_criterion,
                          jax_directory=jax.config.jax_compilation_cache_dir)))
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
    assert first["compiled"] == first["lowered"] > 0
    # every program of the fit comes from the cache
    assert second["lowered"] == first["lowered"] == second["hits"] and first["hits"] == 0
    assert second["seconds"] < 0.5 * first["seconds"], (first, second)
    assert second["criterion"] == first["criterion"]
    off = _child(dict(os.environ, MIXEDJAX_CACHE_DIR="off"))
    assert off["directory"] is None and off["jax_directory"] is None and off["compiled"] > 0
