"""Shared test configuration.

* Strict dtype promotion is enabled per test (and restored afterwards) so that silent float64 /
  weak-type promotions in library code fail loudly.
* Hypothesis runs without deadlines: the first example of a property pays JAX compilation.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "jaxlr", deadline=None, max_examples=25, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile("jaxlr")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "standard_promotion: run without strict dtype promotion (third-party code "
        "such as flax/optax internals that is not strict-promotion clean)")


@pytest.fixture(autouse=True)
def _strict_promotion(request):
    if request.node.get_closest_marker("standard_promotion"):
        yield
        return
    with jax.numpy_dtype_promotion("strict"):
        yield


@pytest.fixture(params=[False, True], ids=["eager", "jit"])
def maybe_jit(request):
    return jax.jit if request.param else (lambda f: f)
