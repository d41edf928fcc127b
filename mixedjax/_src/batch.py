"""Many refits of one design at once: the compiled single fit under ``vmap``, chunked, sharded.

``refit_batch(fit, Y)`` refits every column of Y (nobs x nsim) with the same design. Inside one
jitted call, ``lax.map(..., batch_size=vmap_width)`` runs ``vmap_width`` fits in lock step (a
vmapped while loop runs until its slowest member finishes, so narrow vmaps keep one hard replicate
from slowing the rest); the host loops over chunks of one length (``chunk_length``: 256
replicates in large batches, at most ``chunk_size``), which bounds memory at about a chunk x
(nobs + parameters) numbers plus one vmap width of working arrays per running chunk, lets batches
of every size share one compiled program, and is the unit of the progress bar (``progress.py``).
On a CPU, chunks run in threads, one per usable core (``default_threads``).
With several JAX devices the replicates of a chunk are split across them with ``jax.shard_map``.

Every replicate reports its own status: a singular or non-converged replicate never raises; the
iteration cap (``max_iterations``) bounds how long it can hold its lane.
"""
from __future__ import annotations

import math
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache, partial, singledispatch
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from . import _jax  # noqa: F401  (float64)
from .compilation import COMPILER_OPTIONS, jit
from . import arguments, covariance_layout, covariance_structures, glmm, lmm
from .fit_record import FitRecord, is_singular
from .generalized_fitting import fit_generalized
from .linear_fitting import fit_linear
from .model import response_values
from .model_kinds import GeneralizedKind, LinearKind
from .optimize import STATUS_MESSAGES
from .progress import ProgressReporter
from .shape_classes import size_class


ReplicateFit = FitRecord  # per-replicate records (leading axis: replicate), as a single fit's


def _is_singular(theta, layout):
    """lme4's isSingular (``fit_record.is_singular``) of a replicate's theta."""
    return is_singular(covariance_layout.covariance_factors(theta, layout))


def _linear_replicate(design, weights, theta0, reml: bool, max_iterations: int, response):
    problem, result, theta, solution = fit_linear(design, weights, response, theta0, reml, max_iterations)
    layout = design.layout
    dof = problem.n_obs - (layout.n_fixed if reml else 0)
    sigma = jnp.sqrt(solution.components.pwrss / dof)
    RX_inv = jax.scipy.linalg.solve_triangular(solution.RXt, jnp.eye(layout.n_fixed), lower=True)
    se = sigma * jnp.sqrt(jnp.sum(RX_inv ** 2, axis=0))
    criterion = lmm.objective(solution.components, problem.n_obs, layout.n_fixed,
                              problem.log_det_weights, reml)
    singular = _is_singular(theta, layout)
    return ReplicateFit(theta, solution.beta, se, sigma, criterion, result.iterations,
                        result.status, singular)


def _generalized_replicate(data, start, n_obs, family, n_agq: int, max_iterations: int, y):
    # the family's starting means where its link is finite there (gaussian(log) responses may be
    # 0), else the original fit's
    mustart = family.mustart(y, data.weights)
    mustart = jnp.where(jnp.isfinite(family.link.linkfun(mustart)), mustart, data.mustart)
    data = data._replace(y=y, mustart=mustart)
    n_theta = data.design.layout.n_theta
    stage1, final, theta, beta, hessian, pieces = fit_generalized(data, start[:n_theta], family, n_agq,
                                                                  max_iterations, start)
    sigma = glmm.dispersion_sigma(pieces, data, family, n_obs)
    covariance = glmm.beta_covariance(theta, beta, pieces.u, hessian, data, family, sigma ** 2,
                                      use_hessian=n_agq > 0)
    se = jnp.sqrt(jnp.diagonal(covariance.matrix))
    layout = data.design.layout
    singular = _is_singular(theta, layout)
    return ReplicateFit(theta, beta, se, sigma, final.fun, final.iterations, final.status, singular)


class ReplicateKind(NamedTuple):
    """The static part of a batch's replicate function: the fit's model kind (``model_kinds``:
    REML or ML, the family and nAGQ) and the iteration limit (hashable: one compiled program per
    model structure and setting, shared by every fit of that structure)."""

    model: LinearKind | GeneralizedKind
    max_iterations: int


def _replicate(kind: ReplicateKind, constants, response):
    return _replicate_fit(kind.model, kind.max_iterations, constants, response)


@singledispatch
def _replicate_fit(model_kind, max_iterations: int, constants, response):
    """One replicate's fit of ``response``, by the model kind's algorithm."""
    raise TypeError(f"refit_batch: no batch refits for a {type(model_kind).__name__} model")


@_replicate_fit.register
def _(model_kind: LinearKind, max_iterations: int, constants, response):
    design, weights, theta0 = constants
    return _linear_replicate(design, weights, theta0, model_kind.reml, max_iterations, response)


@_replicate_fit.register
def _(model_kind: GeneralizedKind, max_iterations: int, constants, response):
    data, start, n_obs = constants
    return _generalized_replicate(data, start, n_obs, model_kind.family, model_kind.n_agq,
                                  max_iterations, response)


def _map(kind: ReplicateKind, constants, responses, vmap_width: int):
    """Every replicate of ``responses``, ``vmap_width`` at a time in lock step; one at a time
    (width 1) as a plain loop without ``vmap``: its while loops then need no per-lane masks, and
    its conditionals (the R_X fallback of the covariance) run only where taken, where a vmap of
    one lane selects between both branches (cbpp: 0.92 of a width-1 vmap's process time)."""
    replicate = partial(_replicate, kind, constants)
    if vmap_width == 1:
        return jax.lax.map(replicate, responses)
    return jax.lax.map(replicate, responses, batch_size=vmap_width)


@partial(jit, static_argnames=("kind", "vmap_width"), tiered=False)  # thousands of replicates a call
def _map_replicates(kind: ReplicateKind, constants, responses, vmap_width: int):
    return _map(kind, constants, responses, vmap_width)


@lru_cache(maxsize=32)
def _sharded_map(kind: ReplicateKind, vmap_width: int, n_devices: int):
    """The chunk function split over ``n_devices`` devices (built once per kind)."""
    mesh = jax.make_mesh((n_devices,), ("replicate",))
    spec = jax.sharding.PartitionSpec("replicate")

    def chunk(constants, responses):
        return _map(kind, constants, responses, vmap_width)
    # plain jax.jit: the store's executables are compiled for unsharded arguments
    mapped = jax.jit(jax.shard_map(chunk, mesh=mesh, in_specs=(jax.sharding.PartitionSpec(), spec),
                                   out_specs=spec, check_vma=False), compiler_options=COMPILER_OPTIONS)
    return mapped, jax.sharding.NamedSharding(mesh, spec)


def _run_chunk(kind: ReplicateKind, constants, responses, vmap_width: int):
    n_devices = len(jax.devices())
    if n_devices > 1 and responses.shape[0] % n_devices == 0:
        mapped, sharding = _sharded_map(kind, vmap_width, n_devices)
        return mapped(constants, jax.device_put(responses, sharding))
    return _map_replicates(kind, constants, responses, vmap_width)


@dataclass
class BatchResult:
    """Refits of one design to many responses: arrays with a leading replicate axis."""

    theta: np.ndarray
    beta: np.ndarray
    se: np.ndarray
    sigma: np.ndarray
    criterion: np.ndarray
    iterations: np.ndarray
    status: np.ndarray
    singular: np.ndarray
    theta_names: list
    fixef_names: list
    criterion_name: str
    term_columns: tuple = ()
    sigma_scales_covariance: bool = True  # lmer: Var(b) = sigma^2 T T'; glmer: T T'
    has_residual: bool = True
    term_structures: tuple = ()  # each term's covariance structure, beside term_columns

    @property
    def converged(self) -> np.ndarray:
        return (self.status == 0) | (self.status == 2)

    @property
    def nsim(self) -> int:
        return self.theta.shape[0]

    def messages(self) -> list[str]:
        out = []
        for status, singular in zip(self.status, self.singular):
            text = STATUS_MESSAGES.get(int(status), "unknown")
            out.append(text + ("; boundary (singular) fit" if singular else ""))
        return out

    def fixef_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.beta, columns=self.fixef_names)

    def sd_scale_frame(self) -> pd.DataFrame:
        """Per replicate: random-effect SDs and correlations in theta's layout (lme4's .sig01,
        .sig02, ...), then sigma (if the model has a residual), then the fixed effects."""
        columns, start = {}, 0
        scale = self.sigma if self.sigma_scales_covariance else np.ones_like(self.sigma)
        for p, structure in zip(self.term_columns, self.term_structures, strict=True):
            if structure != "us":
                count = covariance_structures.n_parameters(structure, p)
                values = np.asarray(jax.vmap(partial(covariance_structures.sdcor, structure, p=p))(
                    jnp.asarray(self.theta[:, start:start + count]), scale=jnp.asarray(scale)))
                for k in range(count):
                    columns[f".sig{len(columns) + 1:02d}"] = values[:, k]
                start += count
                continue
            count = p * (p + 1) // 2
            T = np.zeros((self.nsim, p, p))
            rows, cols = covariance_structures.lower_positions(p)  # theta's order
            T[:, rows, cols] = self.theta[:, start:start + count]
            cov = scale[:, None, None] ** 2 * T @ np.swapaxes(T, 1, 2)
            sd = np.sqrt(np.maximum(np.diagonal(cov, axis1=1, axis2=2), 0))
            with np.errstate(invalid="ignore", divide="ignore"):
                corr = cov / (sd[:, :, None] * sd[:, None, :])
            for i, j in zip(rows, cols):
                columns[f".sig{len(columns) + 1:02d}"] = sd[:, i] if i == j else corr[:, i, j]
            start += count
        if self.has_residual:
            columns[".sigma"] = self.sigma
        frame = pd.DataFrame(columns)
        for j, name in enumerate(self.fixef_names):
            frame[name] = self.beta[:, j]
        return frame

    def to_frame(self) -> pd.DataFrame:
        """One row per replicate: fixed effects, their SEs, theta, sigma, criterion, status."""
        frame = pd.DataFrame(self.beta, columns=self.fixef_names)
        for j, name in enumerate(self.fixef_names):
            frame[f"se.{name}"] = self.se[:, j]
        for j, name in enumerate(self.theta_names):
            frame[name] = self.theta[:, j]
        frame["sigma"] = self.sigma
        frame[self.criterion_name] = self.criterion
        frame["iterations"] = self.iterations
        frame["converged"] = self.converged
        frame["singular"] = self.singular
        frame["message"] = self.messages()
        return frame


def default_vmap_width(fit) -> int:
    """How many fits run in lock step. On CPU narrow: the work per fit is many small operations,
    which gain little from wider vectors, while every lane waits for the slowest of its group (and
    jaxlib's batched LAPACK kernels switch to a thread pool above a size where they can deadlock);
    measured on 2 cores, sleepstudy ran fastest at 2-4 lanes, cbpp at 1. On accelerators wide:
    the lanes are what keeps the device busy."""
    if jax.default_backend() != "cpu":
        return 1024
    return fit.kind.cpu_vmap_width


def batch_responses(fit, Y) -> np.ndarray:
    """``refit_batch``'s Y as a float array (nobs x nsim) of finite responses valid for the fit's
    family (a binomial fit's responses are proportions, as its ``simulate`` draws them)."""
    Y = response_values(Y, fit.spec, "Y")  # simulate's DataFrame, matched by row labels
    try:
        Y = np.asarray(Y, dtype=float)
    except (TypeError, ValueError) as error:
        raise arguments.ArgumentError(f"Y must be numbers, shape (nobs, nsim) = ({fit.nobs}, nsim); "
                                      f"got {type(Y).__name__}") from error
    if Y.ndim != 2 or Y.shape[0] != fit.nobs or Y.shape[1] == 0:
        raise arguments.ArgumentError(f"Y must have shape (nobs, nsim) = ({fit.nobs}, nsim) with "
                                      f"nsim >= 1, got {Y.shape}")
    bad = np.argwhere(~np.isfinite(Y))
    if bad.size:
        raise arguments.ArgumentError(f"Y has {len(bad)} non-finite value{'s' if len(bad) > 1 else ''} "
                                      f"(first at row {bad[0][0]}, "
                                      f"column {bad[0][1]}); every response must be finite")
    fit.kind.check_responses(Y, np.asarray(fit.prior_weights)[:, None])
    return Y


FULL_CHUNK = 256  # replicates per compiled call in large batches (at least 4 vmap widths)


def chunk_length(n_replicates: int, vmap_width: int, chunk_size: int, n_devices: int = 1) -> int:
    """Replicates per compiled call. Large batches use one fixed length, so that batches of any
    size share one program and progress is seen every chunk; small ones the size class of their
    count (at most 1.5x padding). A multiple of the vmap width times the devices, so the compiled
    map has no remainder (a second program)."""
    unit = vmap_width * n_devices
    length = min(size_class(n_replicates), max(FULL_CHUNK, 4 * unit), chunk_size)
    return -(-length // unit) * unit


def default_threads() -> int:
    """Chunks run at once on a CPU backend with one device: the cores this process may use. A
    chunk's compiled loop runs on one core (its work is many small operations, which XLA does
    not spread over threads), and JAX releases the GIL while it runs, so chunks in threads fill
    the cores (cbpp, 1,024 replicates on 2 cores: 0.25 -> 0.13 s, the same results to the bit).
    Elsewhere 1: several devices take the chunk sharded, an accelerator takes it whole."""
    if jax.default_backend() != "cpu" or len(jax.devices()) > 1:
        return 1
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # (not Linux)
        return os.cpu_count() or 1


# jaxlib 0.10's CPU LAPACK kernels split a large batch of matrices over XLA's thread pool and
# block a pool thread until the pieces are done: two such calls at once, from two chunks in two
# threads on 2 cores, deadlock (measured: lapack_dpotrf_ffi on 16 x 64 x 64 and 512 x 16 x 16 hung
# in two threads, never in one; 8 x 64 x 64, 64 x 32 x 32 and 2,048 x 8 x 8 did not). A chunk
# program runs in threads only where every LAPACK call's work, batch x n^3, is under this bound,
# 8x below the smallest that hung (dense_inverse.py: the same kernels inside one program).
THREADED_LAPACK_WORK = 250_000
_LAPACK_CALL = re.compile(r'custom_call_target="lapack_\w+", operand_layout_constraints=\{([^}]*)\}')
_SHAPE = re.compile(r"\[([\d,]*)\]")


def largest_lapack_work(program_text: str) -> int:
    """The largest batch x n^3 over the LAPACK calls of an optimized HLO text (n: the last
    dimension of an operand, the batch: the product of its dimensions before the last two)."""
    largest = 0
    for operands in _LAPACK_CALL.findall(program_text):
        for shape in _SHAPE.findall(operands):
            dims = [int(d) for d in shape.split(",") if d]
            if len(dims) >= 2:
                largest = max(largest, math.prod(dims[:-2]) * dims[-1] ** 3)
    return largest


def _concurrent_chunks(kind: ReplicateKind, constants, chunk, vmap_width: int, threads: int) -> int:
    """``threads``, or 1 where the chunk's program could deadlock in threads (or is sharded)."""
    if threads == 1 or len(jax.devices()) > 1:
        return 1
    text = _map_replicates.program_text(kind, constants, chunk, vmap_width)
    return threads if text is not None and largest_lapack_work(text) <= THREADED_LAPACK_WORK else 1


def _run_chunks(kind: ReplicateKind, constants, responses: np.ndarray, chunk_size: int,
                vmap_width: int, progress, threads: int) -> list[ReplicateFit]:
    """Every replicate, in chunks of one length (the last padded with copies of the first
    response, dropped by the caller), ``threads`` chunks at a time (a batch with fewer chunks than
    threads is cut into one shorter chunk per thread; one at a time where ``_concurrent_chunks``
    says threads could deadlock), reporting progress per chunk."""
    n = responses.shape[0]
    vmap_width = min(vmap_width, chunk_size)
    n_devices = len(jax.devices())
    length = chunk_length(n, vmap_width, chunk_size, n_devices)
    if -(-n // length) < threads:  # (large batches keep the one length that they share)
        length = chunk_length(-(-n // threads), vmap_width, chunk_size, n_devices)
    padded = np.concatenate([responses, np.repeat(responses[:1], -n % length, axis=0)])
    starts = range(0, n, length)
    run = lambda start: jax.device_get(_run_chunk(kind, constants, jnp.asarray(padded[start:start + length]),
                                                  vmap_width))
    threads = _concurrent_chunks(kind, constants, jnp.asarray(padded[:length]), vmap_width,
                                 min(threads, len(starts)))
    reporter = ProgressReporter(n, progress)
    pieces = []
    with ThreadPoolExecutor(threads) as pool:
        try:
            for start, piece in zip(starts, pool.map(run, starts)):
                pieces.append(piece)
                reporter.advance(min(length, n - start))
        except BaseException:  # an error or an interrupt: start no further chunks
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    reporter.close()
    return pieces


def refit_batch(fit, Y, chunk_size: int = 2000, vmap_width: int | None = None, progress: bool | None = None,
                max_iterations: int = 100, threads: int | None = None) -> BatchResult:
    """Refit ``fit``'s design to every column of ``Y`` (nobs x nsim) in compiled, vmapped chunks,
    ``threads`` chunks at a time (default ``default_threads()``: the usable cores on a CPU)."""
    Y = batch_responses(fit, Y)
    chunk_size = arguments.integer(chunk_size, "chunk_size", minimum=1)
    max_iterations = arguments.integer(max_iterations, "max_iterations", minimum=1)
    kind, constants, response_offset = _replicate_inputs(fit.kind, fit, max_iterations)
    vmap_width = default_vmap_width(fit) if vmap_width is None else \
        arguments.integer(vmap_width, "vmap_width", minimum=1)
    threads = default_threads() if threads is None else arguments.integer(threads, "threads", minimum=1)
    responses = (Y - response_offset[:, None]).T
    pieces = _run_chunks(kind, constants, responses, chunk_size, vmap_width, progress, threads)
    n = responses.shape[0]
    stacked = ReplicateFit(*(np.concatenate([getattr(p, f) for p in pieces])[:n] for f in ReplicateFit._fields))
    return batch_result(fit, stacked)


def batch_result(fit, records: FitRecord) -> BatchResult:
    """The ``BatchResult`` of records (leading axis: replicate) of refits of ``fit``'s design."""
    terms = fit.spec.terms
    return BatchResult(*records, theta_names=list(fit.theta.index), fixef_names=list(fit.fixef.index),
                       criterion_name=fit.kind.criterion_name,
                       term_columns=tuple(t.n_columns for t in terms),
                       sigma_scales_covariance=fit.kind.sigma_scales_covariance,
                       has_residual=fit.kind.has_residual,
                       term_structures=tuple(t.structure for t in terms))


def default_statistic(batch: BatchResult) -> pd.DataFrame:
    """bootMer's default for merMod: fixed effects, theta and sigma per replicate."""
    frame = batch.fixef_frame()
    for j, name in enumerate(batch.theta_names):
        frame[name] = batch.theta[:, j]
    frame["sigma"] = batch.sigma
    return frame


@dataclass
class BootstrapResult:
    """A parametric bootstrap: ``replicates`` (one row per simulated dataset), ``t0`` (the
    statistic on the original fit) and the underlying ``batch`` (with per-replicate status)."""

    replicates: pd.DataFrame
    t0: pd.Series
    batch: BatchResult

    @property
    def sd(self) -> pd.Series:
        return self.replicates[self.batch.converged].std()

    @property
    def bias(self) -> pd.Series:
        return self.replicates[self.batch.converged].mean() - self.t0

    def percentile_intervals(self, level: float = 0.95) -> pd.DataFrame:
        lower, upper = (1 - level) / 2, 1 - (1 - level) / 2
        return self.replicates[self.batch.converged].quantile([lower, upper]).T

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame({"original": self.t0, "bias": self.bias, "std. error": self.sd})

    def plot(self, bins: int = 30, ax=None):
        """Histograms of the replicates with the original estimate marked (``mixedjax.plots``)."""
        from .plots import plot_bootstrap
        return plot_bootstrap(self, bins=bins, ax=ax)


def _replicate_setup(fit, max_iterations: int):
    """(kind, constants) of the fit's replicate function (``_replicate_inputs``)."""
    return _replicate_inputs(fit.kind, fit, max_iterations)[:2]


@singledispatch
def _replicate_inputs(model_kind, fit, max_iterations: int):
    """(kind, constants, response offset) of the fit's replicate function, on the model's own
    (unpadded) design: padded levels measured 2.5-3x slower in vmapped sleepstudy batches (while
    they cost single fits about 10%), so batches compile for their exact shapes. Refits start
    from the fit's estimates, as lme4's refit and bootMer do. The response offset is what each
    response has subtracted before its replicate fits it."""
    raise TypeError(f"refit_batch: no batch refits for a {type(model_kind).__name__} model")


@_replicate_inputs.register
def _(model_kind: GeneralizedKind, fit, max_iterations: int):
    spec = fit.spec
    start = np.concatenate([covariance_layout.refit_start(fit.theta_values, spec.design.layout), fit.beta])
    # (the GLMM's arrays carry the offset)
    return (ReplicateKind(model_kind, max_iterations),
            (fit.problem, start, np.float64(spec.n_obs)), np.zeros(spec.n_obs))


@_replicate_inputs.register
def _(model_kind: LinearKind, fit, max_iterations: int):
    spec = fit.spec
    weights = np.asarray(spec.frame.weights, np.float64)
    theta0 = covariance_layout.refit_start(fit.theta_values, spec.design.layout,
                                           scale=lmm.theta_scale(spec.design, weights, xp=np))
    return (ReplicateKind(model_kind, max_iterations), (spec.design, weights, theta0),
            spec.offset)
