"""Train Flax models with jaxlr: a ``flax.linen`` MLP with BatchNorm + dropout and a ``flax.nnx``
MLP, both on the digits data with ``jaxlr.fit`` and a one-cycle schedule.

* linen: parameters are ``variables["params"]``; the BatchNorm statistics travel as the
  TrainState's ``model_state`` (the loss returns the updated statistics); dropout draws from the
  per-step key jaxlr passes to a loss with a ``key`` argument.
* nnx: ``nnx.split(model, nnx.Param)`` gives a static graph and the parameter state (a pytree
  jaxlr trains); ``nnx.merge`` rebuilds the module inside the loss; ``nnx.update`` writes the
  trained parameters back into the module.

Claim checked (exit code 1 otherwise): both models reach >= 90% validation accuracy, and the
nnx module updated with the trained parameters gives the same predictions as the merged state.

Usage: python examples/flax_models.py [--out DIR] [--epochs N]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import jaxlr
from jaxlr import tasks


def xent(logits, y):
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


class LinenMLP(nn.Module):
    hidden: int = 128

    @nn.compact
    def __call__(self, x, train: bool):
        x = nn.Dense(self.hidden)(x)
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9)(x)
        x = nn.relu(x)
        x = nn.Dropout(0.2, deterministic=not train)(x)
        return nn.Dense(10)(x)


def train_linen(task, steps, schedule):
    model = LinenMLP()
    x0 = jnp.zeros((1, 64))
    variables = model.init(jax.random.key(0), x0, train=False)

    def loss_fn(params, batch_stats, batch, *, key):
        x, y = batch
        logits, updates = model.apply({"params": params, "batch_stats": batch_stats}, x,
                                      train=True, mutable=["batch_stats"],
                                      rngs={"dropout": key})
        return xent(logits, y), updates["batch_stats"]

    def metrics(params, batch_stats, batch):
        x, y = batch
        logits = model.apply({"params": params, "batch_stats": batch_stats}, x, train=False)
        return {"loss": xent(logits, y),
                "accuracy": jnp.mean((logits.argmax(-1) == y).astype(jnp.float32))}

    opt = jaxlr.adam(schedule)
    state = jaxlr.TrainState.create(variables["params"], opt, key=jax.random.key(1),
                                    model_state=variables["batch_stats"])
    state, hist = jaxlr.fit(loss_fn, opt, state, task.train_batches(), steps=steps,
                            batch_size=task.batch_size, key=jax.random.key(2),
                            valid_data=task.valid_batch(), eval_fn=metrics, progress=False)
    return hist


def train_nnx(task, steps, schedule):
    model = nnx.Sequential(nnx.Linear(64, 128, rngs=nnx.Rngs(0)), nnx.relu,
                           nnx.Linear(128, 10, rngs=nnx.Rngs(1)))
    graphdef, params = nnx.split(model, nnx.Param)

    def loss_fn(p, batch):
        x, y = batch
        return xent(nnx.merge(graphdef, p)(x), y)

    def metrics(p, batch):
        x, y = batch
        logits = nnx.merge(graphdef, p)(x)
        return {"loss": xent(logits, y),
                "accuracy": jnp.mean((logits.argmax(-1) == y).astype(jnp.float32))}

    opt = jaxlr.adamw(schedule, weight_decay=1e-3)
    state, hist = jaxlr.fit(loss_fn, opt, params, task.train_batches(), steps=steps,
                            batch_size=task.batch_size, key=jax.random.key(2),
                            valid_data=task.valid_batch(), eval_fn=metrics, progress=False)
    nnx.update(model, state.params)  # the trained parameters back into the module
    xv = task.valid_batch()[0]
    same = np.allclose(model(xv), nnx.merge(graphdef, state.params)(xv), rtol=1e-6, atol=1e-6)
    return hist, same


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="output directory (default: temp)")
    ap.add_argument("--epochs", type=int, default=10)
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="jaxlr_flax_"))
    out.mkdir(parents=True, exist_ok=True)

    task = tasks.get_task("digits-mlp")
    steps = args.epochs * (task.num_train // task.batch_size)
    schedule = jaxlr.one_cycle(5e-3, total_steps=steps)

    with jax.numpy_dtype_promotion("standard"):  # flax internals are not strict-promotion clean
        h_linen = train_linen(task, steps, schedule)
        h_nnx, same = train_nnx(task, steps, schedule)
    acc = {"linen": float(h_linen.eval["val_accuracy"][-1]),
           "nnx": float(h_nnx.eval["val_accuracy"][-1])}
    for name, a in acc.items():
        print(f"flax.{name:5s}: validation accuracy {a:.3f} after {steps} steps (one-cycle)")
    print(f"nnx.update(model, trained params) reproduces the merged state: {same}")
    (out / "flax_results.json").write_text(json.dumps({"val_accuracy": acc,
                                                       "nnx_update_consistent": same}))
    fig = h_linen.plot(title="flax.linen MLP (BatchNorm + dropout) on digits")
    fig.savefig(out / "flax_linen_history.png", dpi=110)
    print(f"wrote {out / 'flax_results.json'} and {out / 'flax_linen_history.png'}")
    if min(acc.values()) < 0.90 or not same:
        print("CLAIM FAILED", file=sys.stderr)
        return 1
    print("claim holds: both flax models >= 90% validation accuracy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
