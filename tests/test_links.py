"""Links evaluated on the host (``Link.linkfun(mu, numpy)``: no eager JAX operation, so no
program to compile) agree with the JAX functions the kernels use."""
import numpy as np
import pytest

from mixedjax._src.families import Link

LINKS = ["identity", "log", "logit", "probit", "cloglog", "cauchit", "inverse", "sqrt", "1/mu^2"]


@pytest.mark.parametrize("name", LINKS)
def test_the_host_link_equals_the_jax_link(name):
    mu = np.array([1e-6, 0.2, 0.5, 0.9, 1 - 1e-9])
    host = Link(name).linkfun(mu, np)
    assert isinstance(host, np.ndarray)
    np.testing.assert_allclose(host, np.asarray(Link(name).linkfun(mu)), rtol=1e-14, atol=0)
