"""The code passes ruff with the project's configuration (pyproject.toml [tool.ruff])."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_ruff_finds_nothing():
    pytest.importorskip("ruff")  # installed by the test extra, so CI runs it
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "mixedjax", "tests",
                             "benchmarks", "examples", "notebooks"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
