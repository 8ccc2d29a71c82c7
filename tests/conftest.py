"""Shared test configuration.

* Strict dtype promotion is enabled per test (and restored afterwards) so that silent float64 /
  weak-type promotions in library code fail loudly.
* Hypothesis runs without deadlines: the first example of a property pays JAX compilation.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# The suite's time is XLA compilation, not running: a finder's candidates program compiles in
# ~7 s at LLVM's default optimisation level on a 2-core CPU and in ~2 s at -O0. The backend
# level changes the machine code, not the HLO program nor its float semantics (every
# bit-for-bit test passes either way; measured: tests/test_equivalence.py 112 s -> 68 s), so
# the tests compile at -O0. Subprocesses (examples, device-count tests) inherit it.
# JAXLR_TEST_XLA_DEFAULTS=1 runs with XLA's defaults instead.
if os.environ.get("JAXLR_TEST_XLA_DEFAULTS") != "1":
    _flags = os.environ.get("XLA_FLAGS", "")
    if "xla_backend_optimization_level" not in _flags:
        os.environ["XLA_FLAGS"] = (_flags + " --xla_backend_optimization_level=0").strip()

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
