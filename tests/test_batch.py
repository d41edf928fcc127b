"""Simulation, batch refits and the parametric bootstrap."""
import numpy as np
import pandas as pd
import pytest

import mixedjax as mj
from references import reference_fit


@pytest.fixture(scope="module")
def sleep_fit():
    return reference_fit("public", "sleepstudy_slopes_reml")


@pytest.fixture(scope="module")
def sleep_batch(sleep_fit):
    Y = sleep_fit.simulate(200, seed=11, as_frame=False)
    return Y, sleep_fit.refit_batch(Y, chunk_size=100, vmap_width=16)


def test_simulation_moments_match_the_model(sleep_fit):
    Y = sleep_fit.simulate(4000, seed=3, as_frame=False)
    assert Y.shape == (180, 4000)
    X = sleep_fit.spec.fixed.X
    np.testing.assert_allclose(Y.mean(axis=1), X @ sleep_fit.beta, atol=4 * 60 / np.sqrt(4000))
    # marginal variance at Days = 0: Var(b0) + sigma^2
    day0 = sleep_fit.spec.frame.data["Days"].to_numpy() == 0
    expected = sleep_fit.varcorr.vcov[0] + sleep_fit.sigma ** 2
    assert abs(Y[day0].var(axis=1).mean() / expected - 1) < 0.05


def test_simulation_is_reproducible_and_use_u(sleep_fit):
    np.testing.assert_array_equal(sleep_fit.simulate(3, seed=5), sleep_fit.simulate(3, seed=5))
    conditional = sleep_fit.simulate(2000, seed=1, use_u=True)
    np.testing.assert_allclose(conditional.mean(axis=1), sleep_fit.fitted, atol=4 * 26 / np.sqrt(2000))


def test_batch_equals_single_fits(sleep_fit, sleep_batch):
    Y, batch = sleep_batch
    for j in (0, 57, 199):
        single = sleep_fit.refit(Y[:, j])
        assert abs(batch.criterion[j] - single.reml_criterion) <= 1e-6 * abs(single.reml_criterion)
        np.testing.assert_allclose(batch.beta[j], single.beta, rtol=1e-6)
        np.testing.assert_allclose(batch.se[j], single.se, rtol=1e-6)
        np.testing.assert_allclose(batch.theta[j], single.theta_values, rtol=1e-5, atol=1e-7)
        assert abs(batch.sigma[j] - single.sigma) < 1e-6 * single.sigma
    assert batch.converged.all()


def test_batch_frame(sleep_batch):
    _, batch = sleep_batch
    frame = batch.to_frame()
    assert len(frame) == 200
    assert {"(Intercept)", "se.Days", "Subject.Days", "sigma", "REML", "converged", "singular",
            "message"} <= set(frame.columns)


def test_a_singular_replicate_does_not_stop_the_batch(sleep_fit):
    Y = sleep_fit.simulate(8, seed=2, as_frame=False)
    rng = np.random.default_rng(0)
    Y[:, 3] = 250 + rng.normal(0, 30, 180)  # no subject effect at all: a boundary fit
    batch = sleep_fit.refit_batch(Y, chunk_size=8, vmap_width=4)
    assert batch.singular[3] and batch.converged.all()
    assert "singular" in batch.messages()[3]


def test_bootstrap_sd_matches_lme4_bootmer(sleep_fit):
    """lme4 bootMer (nsim 500) gives 6.87 (intercept) and 1.62 (Days); with 500 replicates each,
    the relative Monte Carlo error of an SD is about 1/sqrt(2 * 500) = 3.2% per study."""
    boot = sleep_fit.bootstrap(500, seed=2024)
    sd = boot.sd
    assert abs(sd["(Intercept)"] / 6.87 - 1) < 0.15
    assert abs(sd["Days"] / 1.62 - 1) < 0.15
    assert boot.batch.converged.mean() > 0.99
    assert abs(boot.t0["(Intercept)"] - sleep_fit.fixef["(Intercept)"]) < 1e-9


def test_boot_confint_has_lme4_names(sleep_fit):
    ci = sleep_fit.confint(method="boot", nsim=100, seed=1)
    assert list(ci.index) == [".sig01", ".sig02", ".sig03", ".sigma", "(Intercept)", "Days"]
    assert list(ci.columns) == ["2.5 %", "97.5 %"]
    assert (ci["2.5 %"] < ci["97.5 %"]).all()
    wald = sleep_fit.confint(method="Wald")
    assert np.isnan(wald.loc[".sig01"]).all()
    np.testing.assert_allclose(wald.loc["Days"], [10.467 - 1.96 * 1.5458, 10.467 + 1.96 * 1.5458], atol=2e-3)


def test_glmer_batch_equals_single_fit():
    fit = reference_fit("public", "cbpp_binomial_laplace")
    Y = fit.simulate(6, seed=4, as_frame=False)
    assert np.all((Y >= 0) & (Y <= 1))
    batch = fit.refit_batch(Y, chunk_size=6, vmap_width=3)
    data = fit.spec.frame.data.copy()
    trials = fit.prior_weights
    data["incidence"] = np.round(Y[:, 2] * trials)
    single = mj.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", data, family="binomial")
    assert abs(batch.criterion[2] - single.deviance) <= 1e-6 * abs(single.deviance)
    np.testing.assert_allclose(batch.beta[2], single.beta, rtol=1e-5)


def test_chunks_in_threads_equal_one_thread_and_run_at_once(sleep_fit, monkeypatch):
    """threads=3 runs a batch's chunks at once, in as many threads (a batch with fewer chunks
    than threads is cut shorter), to the same results as one thread, bit for bit."""
    import threading
    from mixedjax._src import batch as batch_module
    Y = sleep_fit.simulate(40, seed=5, as_frame=False)
    one = sleep_fit.refit_batch(Y, vmap_width=4, threads=1, progress=False)
    seen, inside, most = set(), [0], [0]
    lock, run_chunk = threading.Lock(), batch_module._run_chunk

    def counting(*args):
        with lock:
            seen.add(threading.get_ident())
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        try:
            return run_chunk(*args)
        finally:
            with lock:
                inside[0] -= 1
    monkeypatch.setattr(batch_module, "_run_chunk", counting)
    three = sleep_fit.refit_batch(Y, vmap_width=4, threads=3, progress=False)
    assert len(seen) == 3 and 1 <= most[0] <= 3  # (its LAPACK calls are small: threads allowed)
    for field in ("theta", "beta", "se", "sigma", "criterion", "status"):
        np.testing.assert_array_equal(getattr(three, field), getattr(one, field), err_msg=field)
    assert batch_module.default_threads() >= 1


def test_largest_lapack_work_reads_a_compiled_program():
    import jax
    import jax.numpy as jnp
    from mixedjax._src.batch import largest_lapack_work
    batched = jax.jit(jnp.linalg.cholesky).lower(jnp.eye(64)[None].repeat(16, 0)).compile().as_text()
    single = jax.jit(jnp.linalg.cholesky).lower(jnp.eye(3)).compile().as_text()
    assert largest_lapack_work(batched) == 16 * 64 ** 3
    assert largest_lapack_work(single) == 27
    assert largest_lapack_work("no custom calls") == 0


CROSSED_BATCH_IN_THREADS = """
import json, warnings, numpy as np, pandas as pd, jax.numpy as jnp
warnings.simplefilter("ignore")
import mixedjax as mj
from mixedjax._src import batch
rng = np.random.default_rng(1)
a, b = np.repeat(np.arange(40), 20), rng.integers(0, 80, 800)
y = rng.normal(size=800) + rng.normal(size=40)[a] + rng.normal(size=80)[b]
fit = mj.lmer("y ~ 1 + (1 | a) + (1 | b)", pd.DataFrame({"y": y, "a": a.astype(str), "b": b.astype(str)}))
kind, constants, _ = batch._replicate_inputs(fit.kind, fit, 100)
chunk = jnp.zeros((16, fit.nobs))
text = batch._map_replicates.program_text(kind, constants, chunk, 4)
Y = fit.simulate(40, seed=3, as_frame=False)
two = fit.refit_batch(Y, vmap_width=4, threads=2, progress=False)
one = fit.refit_batch(Y, vmap_width=4, threads=1, progress=False)
print(json.dumps({"work": batch.largest_lapack_work(text),
                  "threads": batch._concurrent_chunks(kind, constants, chunk, 4, 2),
                  "equal": bool(np.array_equal(one.criterion, two.criterion))}))
"""


def test_chunks_whose_lapack_calls_could_deadlock_run_one_at_a_time():
    """A crossed lmer (trailing block of order 84, 4 lanes: batched Cholesky of 4 x 84^3 work)
    asked for 2 threads runs its chunks one at a time and finishes: in two threads jaxlib 0.10's
    batched LAPACK kernels deadlocked XLA's pool (this batch hung with the threads forced)."""
    import json
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    try:
        out = subprocess.run([sys.executable, "-c", CROSSED_BATCH_IN_THREADS], cwd=root, env=env,
                             capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        pytest.fail("a batch with threads=2 hung")
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    from mixedjax._src.batch import THREADED_LAPACK_WORK
    assert result["work"] > THREADED_LAPACK_WORK and result["threads"] == 1 and result["equal"], result


def test_power_study_recovers_parameters():
    rng = np.random.default_rng(1)
    design = pd.DataFrame({"g": np.repeat([f"s{i}" for i in range(20)], 8),
                           "x": np.tile(np.arange(8.0), 20)})
    beta, theta, sigma = [1.0, 0.5], [0.8], 2.0
    Y = mj.simulate_formula("y ~ x + (1 | g)", design, beta, theta, sigma, nsim=3000, seed=2)
    # marginal variance = sigma^2 (theta^2 + 1)
    assert abs(Y.var(axis=1).mean() / (sigma ** 2 * (theta[0] ** 2 + 1)) - 1) < 0.05
    table = mj.power("y ~ x + (1 | g)", design, {"(Intercept)": 1.0, "x": 0.5}, theta, sigma,
                     nsim=300, seed=3, chunk_size=300, vmap_width=16)
    assert list(table.index) == ["(Intercept)", "x"]
    assert abs(table.loc["x", "bias"]) < 0.03
    assert 0.88 < table.loc["x", "coverage"] < 0.99
    assert table.loc["x", "power"] > 0.95 and table["converged"].iloc[0] > 0.99
    del rng


def test_batches_shard_across_four_cpu_devices():
    """The same batch on 4 forced host devices (jax.shard_map) equals the one-device result."""
    import json
    import os
    import subprocess
    import sys
    code = (
        "import json, warnings, numpy as np, pandas as pd, jax\n"
        "warnings.simplefilter('ignore')\n"
        "import mixedjax as mj\n"
        "assert len(jax.devices()) == 4, jax.devices()\n"
        "d = pd.read_csv('tests/reference/data/sleepstudy.csv'); d['Subject'] = d.Subject.astype(str)\n"
        "fit = mj.lmer('Reaction ~ Days + (Days | Subject)', d)\n"
        "batch = fit.refit_batch(fit.simulate(16, seed=9), chunk_size=16, vmap_width=4)\n"
        "print(json.dumps(batch.criterion.tolist()))\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    # the same compiler flags as this process (conftest's), plus four host devices
    flags = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
    env = dict(os.environ, XLA_FLAGS=flags.strip(),
               PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    sharded = np.array(json.loads(out.stdout.strip().splitlines()[-1]))
    fit = reference_fit("public", "sleepstudy_slopes_reml")
    single = fit.refit_batch(fit.simulate(16, seed=9), chunk_size=16, vmap_width=4)
    np.testing.assert_allclose(sharded, single.criterion, rtol=1e-9)
