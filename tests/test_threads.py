"""Fits from several threads at once finish and agree with sequential fits (issue 11: two threads
fitting crossed models hung). The fits run in a child process under a timeout
(tests/threaded_fits.py), with a multithreaded OpenBLAS as a user's environment may set it: the
process-wide OpenBLAS thread count that large fits switch to 1 (``blocks.single_threaded_lapack``)
was restored by the first fit to finish while the other still ran."""
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def run_threaded(repetitions: int, timeout: float) -> dict:
    environment = dict(os.environ, OPENBLAS_NUM_THREADS="2")
    try:
        done = subprocess.run([sys.executable, os.path.join(HERE, "threaded_fits.py"), str(repetitions)],
                              capture_output=True, text=True, timeout=timeout, env=environment,
                              check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"4 threads fitting 4 models did not finish {repetitions} rounds in {timeout} s")
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def check(result: dict):
    assert "errors" not in result, result
    # the same programs on the same data: threads change nothing but the order of work
    assert result["max_relative_difference"] < 1e-12, result


def test_four_threads_fit_as_sequential_fits():
    check(run_threaded(repetitions=2, timeout=300))


@pytest.mark.slow
def test_four_threads_twenty_rounds():
    check(run_threaded(repetitions=20, timeout=900))


def test_single_threaded_lapack_is_restored_by_the_last_of_overlapping_blocks():
    from mixedjax._src import blocks
    control = blocks._openblas_thread_control()
    if control is None:
        pytest.skip("no OpenBLAS thread control in this process")
    get, set_ = control
    before = get()
    set_(3)
    try:
        first, second = blocks.single_threaded_lapack(), blocks.single_threaded_lapack()
        first.__enter__()
        second.__enter__()
        assert get() == 1
        first.__exit__(None, None, None)  # another block is still running: stays at 1
        assert get() == 1
        second.__exit__(None, None, None)
        assert get() == 3
    finally:
        set_(before)
