"""Batch progress: a tqdm bar counting replicates, on for long batches, off on request, a
warning without tqdm; and one compiled program for batches of any large size."""
import sys
import warnings

import numpy as np
import pytest

import mixedjax as mj
from mixedjax._src import batch, progress

from references import reference_fit


@pytest.fixture(scope="module")
def fit():
    return reference_fit("public", "sleepstudy_slopes_reml")


@pytest.mark.parametrize("n, width, chunk, devices, expected", [
    (1, 4, 2000, 1, 4), (100, 4, 2000, 1, 128), (300, 4, 2000, 1, 256), (10_000, 4, 2000, 1, 256),
    (10_000, 1024, 2000, 1, 2048), (300, 4, 50, 1, 52), (300, 3, 2000, 4, 264)])
def test_chunk_length(n, width, chunk, devices, expected):
    length = batch.chunk_length(n, width, chunk, devices)
    assert length == expected and length % (width * devices) == 0


def test_batches_of_different_large_sizes_share_one_program(fit):
    Y = fit.simulate(600, seed=1, as_frame=False)
    fit.refit_batch(Y[:, :300], progress=False)
    with mj.CompileCounter() as count:
        result = fit.refit_batch(Y, progress=False)
    assert count.compiled == 0, count.names
    assert result.nsim == 600 and np.all(np.isfinite(result.criterion))


def test_the_bar_counts_replicates(fit, capsys):
    pytest.importorskip("tqdm")
    fit.refit_batch(fit.simulate(300, seed=2), progress=True)
    err = capsys.readouterr().err
    assert "300/300" in err and "fit" in err


def test_progress_false_and_short_batches_show_nothing(fit, capsys):
    fit.refit_batch(fit.simulate(300, seed=3), progress=False)
    fit.refit_batch(fit.simulate(8, seed=3))  # well under two seconds: no bar by default
    err = capsys.readouterr().err
    assert "/300" not in err and "/8" not in err


def test_a_slow_batch_shows_the_bar_by_default(monkeypatch, capsys):
    pytest.importorskip("tqdm")
    clock = iter(np.arange(0.0, 100.0, 1.5))  # every look at the clock: 1.5 s later
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    reporter = progress.ProgressReporter(1000, None)
    for _ in range(4):
        reporter.advance(250)
    reporter.close()
    assert "1000/1000" in capsys.readouterr().err


def test_missing_tqdm_is_said_once(fit, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    with pytest.warns(mj.ProgressWarning, match="pip install tqdm") as record:
        fit.refit_batch(fit.simulate(300, seed=4), progress=True)
    assert len([w for w in record if issubclass(w.category, mj.ProgressWarning)]) == 1


def test_progress_must_be_a_bool_or_none(fit):
    with pytest.raises(mj.ArgumentError, match="progress must be True, False or None"):
        fit.refit_batch(fit.simulate(4, seed=5), progress="yes")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit.refit_batch(fit.simulate(4, seed=5), progress=None)
