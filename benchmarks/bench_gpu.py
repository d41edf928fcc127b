"""The batch and scale benchmarks on whatever JAX device is present (issue 13, goal 4).

Prints the device, then

- **batch**: sleepstudy refits (``fit.refit_batch``, one compiled vmapped call) at each batch
  size: seconds of a warm call and refits per second (goal on one GPU: 100,000 refits <= 5 s);
- **crossed**: ``y ~ 1 + (1 | user) + (1 | item)`` by REML on MovieLens-shaped designs
  (``movielens_design.py``) at each size: the fit (first call, compilation included), one warm
  deviance evaluation, peak RSS;
- **largest crossed design**: the largest trailing block (second factor's levels) whose dense
  fit fits the device's memory by ``lmm.dense_memory`` (the check that refuses larger ones).

Run it on a CPU and on a GPU machine and compare the lines. ``--quick`` (small sizes) runs in a
minute or two on a CPU; no test needs a GPU.

    python benchmarks/bench_gpu.py --quick
    python benchmarks/bench_gpu.py [--batch 1000,10000,100000] [--rows 100000,1000209]
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import jax  # noqa: E402

import mixedjax as mj  # noqa: E402
from mixedjax._src import blocks, linear_fitting, lmm  # noqa: E402
from mixedjax._src.design import Layout  # noqa: E402

import bench_batch  # noqa: E402
import movielens_design  # noqa: E402

FORMULA = "y ~ 1 + (1 | user) + (1 | item)"


def device_memory(device) -> int | None:
    """The device's memory in bytes: its allocator's limit on accelerators, the machine's on CPU."""
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"])
    return lmm.physical_memory()


def batch_rates(sizes: list[int]) -> None:
    fit = bench_batch.load("sleepstudy")
    warnings.simplefilter("ignore")
    fit.refit_batch(fit.simulate(min(sizes), seed=1, as_frame=False))  # compiles
    for n in sizes:
        Y = fit.simulate(n, seed=42, as_frame=False)
        fit.refit_batch(Y[:, :min(n, 64)])
        start = time.perf_counter()
        batch = fit.refit_batch(Y)
        seconds = time.perf_counter() - start
        print(f"batch  sleepstudy refits {n:>8,}: {seconds:8.2f} s, {n / seconds:10,.0f} refits/s, "
              f"converged {batch.converged.mean():.3f}", flush=True)


def crossed_fits(rows_list: list[int]) -> None:
    for rows in rows_list:
        data = movielens_design.movielens_like(rows)
        start = time.perf_counter()
        fit = mj.lmer(FORMULA, data)
        seconds = time.perf_counter() - start
        problem = fit.problem
        theta = fit.optimizer.end
        with blocks.single_threaded_lapack():
            jax.block_until_ready(linear_fitting._deviance(theta, problem, True))  # compiled by the fit
            start = time.perf_counter()
            jax.block_until_ready(linear_fitting._deviance(theta, problem, True))
            one = time.perf_counter() - start
        levels = " x ".join(f"{n:,}" for n in problem.design.layout.term_levels)
        print(f"crossed rows {rows:>10,} (levels {levels}): fit {seconds:8.2f} s, one deviance "
              f"{one:7.3f} s, {fit.optimizer.evaluations} evaluations, criterion "
              f"{fit.reml_criterion:.4f}, peak RSS "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB", flush=True)


def largest_crossed(memory: int | None, first_levels: int = 100_000) -> None:
    """The largest second factor (levels) whose dense trailing block fits ``memory``."""
    if memory is None:
        print("largest crossed design: the device does not report its memory")
        return
    fits = lambda levels: lmm.dense_memory(Layout(0, 1, (first_levels, levels), (1, 1), ("us", "us")),
                                           dense_update=True) <= memory
    low, high = 1, 1
    while fits(high):
        low, high = high, 2 * high
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    print(f"largest crossed design in {memory / 2 ** 30:,.1f} GiB: a second factor of {low:,} levels "
          f"(after {first_levels:,} levels of the first, dense update)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a minute or two on a CPU)")
    parser.add_argument("--batch", help="comma-separated sleepstudy batch sizes")
    parser.add_argument("--rows", help="comma-separated MovieLens-shaped sizes (rows)")
    args = parser.parse_args()
    sizes = lambda text: [int(v) for v in text.split(",")]
    batch = sizes(args.batch) if args.batch else ([1000] if args.quick else [1000, 10_000, 100_000])
    rows = sizes(args.rows) if args.rows else ([20_000] if args.quick else [100_000, 1_000_209,
                                                                             3_000_000])
    device = jax.devices()[0]
    print(f"device: {device.platform} {device.device_kind} ({len(jax.devices())} device(s)); "
          f"jax {jax.__version__}", flush=True)
    batch_rates(batch)
    crossed_fits(rows)
    largest_crossed(device_memory(device))


if __name__ == "__main__":
    main()
