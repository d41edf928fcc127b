"""dense_inverse: LAPACK-free inverses, so vmapped glmer batches hold no batched LU (whose
jaxlib 0.10 CPU kernel can deadlock XLA's thread pool; see mixedjax/_src/dense_inverse.py)."""
import re
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import mixedjax as mj
from mixedjax._src import batch
from mixedjax._src.dense_inverse import gauss_jordan_inverse, symmetric_solve

from references import HERE


@pytest.mark.parametrize("n", [1, 4, 19])
def test_inverse_and_solve_match_lapack(n):
    rng = np.random.default_rng(n)
    A = rng.normal(size=(n, n))
    M = A @ A.T + 0.5 * np.eye(n)
    np.testing.assert_allclose(gauss_jordan_inverse(jnp.asarray(M)), np.linalg.inv(M), rtol=1e-9, atol=1e-12)
    rhs = jnp.asarray(rng.normal(size=n))
    loss = lambda solve: lambda M, r: jnp.sum(solve(M, r) ** 2)
    ours = jax.grad(loss(symmetric_solve), argnums=(0, 1))(jnp.asarray(M), rhs)
    lapack = jax.grad(loss(jnp.linalg.solve), argnums=(0, 1))(jnp.asarray(M), rhs)
    for a, b in zip(ours, lapack):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)


def test_vmapped_glmer_batch_has_no_batched_lu():
    cbpp = pd.read_csv(f"{HERE}/reference/data/cbpp.csv").astype({"herd": str, "period": str})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = mj.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial")
    kind, constants = batch._replicate_setup(fit, 100)
    responses = jnp.asarray(np.tile(fit.y, (4, 1)))
    text = batch._map_replicates.lower(kind, constants, responses, 2).as_text()
    targets = set(re.findall(r'lapack_\w+', text))
    assert targets and not {t for t in targets if "getrf" in t}, targets
