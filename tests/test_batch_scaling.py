"""A one-term GLMM batch costs what its single fits cost: linear in the number of groups.

Before, the batch path differentiated PIRLS through an implicit-function rule with a dense
fallback (a q x q Jacobian and elimination) behind ``lax.cond``; under vmap both branches of a cond
run, so every replicate paid the dense branch: 500 groups took 1.8-3.5 s per replicate, 1,000
took 62 s. XLA's cost analysis of the compiled batch program shows the growth without timing
anything."""
import warnings

import jax.numpy as jnp
import numpy as np
import pandas as pd

import mixedjax as mj
from mixedjax._src import batch


def _binary_fit(groups: int):
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(groups), 4)
    x = rng.normal(size=g.size)
    eta = -0.5 + 0.5 * x + rng.normal(0, 0.7, groups)[g]
    data = pd.DataFrame({"y": rng.binomial(1, 1 / (1 + np.exp(-eta))), "x": x,
                         "g": [f"g{i:04d}" for i in g]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mj.glmer("y ~ x + (1 | g)", data, family="binomial")


def _batch_flops(fit) -> float:
    kind, constants = batch._replicate_setup(fit, 100)
    responses = jnp.asarray(np.tile(fit.y, (4, 1)))
    return batch._map_replicates.lower(kind, constants, responses, vmap_width=2).cost_analysis()["flops"]


def test_one_term_glmm_batch_cost_is_linear_in_groups():
    small, large = _batch_flops(_binary_fit(25)), _batch_flops(_binary_fit(100))
    assert large / small < 5.0, (small, large)  # 4x the groups: 4x the work (it was 11x)
