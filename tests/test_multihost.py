"""Two processes on localhost (``jax.distributed`` with gloo CPU collectives), 2 devices each.

Both processes run the same parallel finder, ``jaxlr.find`` and ``sweep_task`` over the global
4-device mesh (candidates / trials along ``"trials"``); results are gathered on every process
(``jaxlr.population.to_host``). Process 0's results must equal a single process with 4 virtual
devices (the same mesh shape, so the same programs), and process 1's must equal process 0's.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

WORKER = textwrap.dedent("""
    import json, os, sys
    pid, nproc, port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    import jax
    if nproc > 1:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(coordinator_address=f"localhost:{port}",
                                   num_processes=nproc, process_id=pid)
    import jax.numpy as jnp, numpy as np, optax, jaxlr
    assert len(jax.devices()) == 4, jax.devices()
    x = jax.random.normal(jax.random.key(1), (64, 3)); y = x @ jnp.array([1.0, -1.0, 2.0])
    data, valid = (x, y), (x[:16], y[:16])
    loss = lambda w, b: jnp.mean((b[0] @ w - b[1]) ** 2)
    init = lambda k: 0.1 * jax.random.normal(k, (3,))
    r = jaxlr.parallel_lr_find(init, loss, data, num_lrs=8, min_lr=1e-3, max_lr=3.0,
                               num_steps=20, batch_size=8, optimizer=optax.sgd, key=0,
                               valid_data=valid)
    f = jaxlr.find(init, loss, data, optimizer=optax.sgd, target_steps=64, budget=2.0,
                   batch_size=8, key=0, min_lr=1e-3, max_lr=3.0, num_lrs=8)
    s = jaxlr.sweep_task((init, loss, data, valid), key=0, steps=20, batch_size=8,
                         optimizer="sgd",
                         space=jaxlr.grid({"learning_rate": [0.01, 0.03, 0.1, 0.3]}))
    res = {"losses": np.nan_to_num(r.losses, nan=-1.0).tolist(),
           "suggestion": r.suggestion, "find": f.suggestion,
           "sweep": np.asarray(s.metrics["valid_loss"]).tolist()}
    with open(f"{out}.{pid}.json", "w") as fh:
        json.dump(res, fh)
    print("done", pid, jax.process_count())
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_equal_one_process(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    out = str(tmp_path / "res")
    base = dict(os.environ, JAX_PLATFORMS="cpu")
    port = str(_free_port())
    procs = [subprocess.Popen(
        [sys.executable, str(script), str(i), "2", port, out + "-multi"],
        env=dict(base, XLA_FLAGS=os.environ.get("XLA_FLAGS", "")
               + " --xla_force_host_platform_device_count=2"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    logs = [p.communicate(timeout=420) for p in procs]
    for p, (o, e) in zip(procs, logs):
        assert p.returncode == 0, o + e[-4000:]
    single = subprocess.run(
        [sys.executable, str(script), "0", "1", port, out + "-single"],
        env=dict(base, XLA_FLAGS=os.environ.get("XLA_FLAGS", "")
               + " --xla_force_host_platform_device_count=4"),
        capture_output=True, text=True, timeout=420)
    assert single.returncode == 0, single.stdout + single.stderr[-4000:]
    m0, m1, s0 = (json.loads((tmp_path / name).read_text()) for name in (
        "res-multi.0.json", "res-multi.1.json", "res-single.0.json"))
    assert m0 == m1                                   # every process gets the gathered results
    np.testing.assert_allclose(m0["losses"], s0["losses"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(m0["sweep"], s0["sweep"], rtol=1e-5)
    assert m0["suggestion"] == pytest.approx(s0["suggestion"], rel=1e-5)
    assert m0["find"] == pytest.approx(s0["find"], rel=1e-5)
