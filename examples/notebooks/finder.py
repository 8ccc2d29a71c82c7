# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Finding a learning rate with the parallel finder
#
# Smith's range test trains *one* run while the rate grows, and reads a curve that mixes the
# effect of the rate with the progress of training. The parallel finder instead trains many
# short runs, one per candidate rate, all in **one compiled program** (`jax.vmap` over the
# candidates), on the same batches, and compares them at the same horizon. Here: the built-in
# digits MLP with Adam.

# %%
import jax
import numpy as np

import jaxlr
from jaxlr.tasks import get_task

task = get_task("digits-mlp")
print(task.description, "|", task.num_train, "training examples")

# %% [markdown]
# 16 candidate rates between 1e-5 and 1, two seeds each, 100 updates per run. The validation
# split is measured at the horizon; the suggestion uses it.

# %%
result = jaxlr.parallel_lr_find(task, min_lr=1e-5, max_lr=1.0, num_lrs=16, num_seeds=2,
                                num_steps=100, key=0)
print(result.message)
print({rule: f"{lr:.3g}" for rule, lr in result.suggestions().items()})

# %%
ax = result.plot()
ax.figure.set_size_inches(6, 3.5)

# %% [markdown]
# The range `(min, max)` feeds a one-cycle (or cyclic) schedule: the maximum is the largest
# stable rate close to the best, the minimum a quarter of it.

# %%
lo, hi = result.suggest_range()
schedule = jaxlr.one_cycle(hi, total_steps=200, div_factor=hi / lo)
print(f"one_cycle peak {hi:.3g}, start {lo:.3g}")
print(jaxlr.describe(schedule, 200))
assert 1e-5 <= lo < hi <= 1.0

# %% [markdown]
# Train with it (through the sweep machinery, which also reports validation metrics) and
# check the result is a good classifier.

# %%
r = jaxlr.sweep_task(task, space=jaxlr.grid({"seed": [0]}), schedule=lambda hp: schedule,
                     optimizer="adam", steps=200, key=jax.random.key(0))
print(r.table())
assert np.all(np.asarray(r.metrics["valid_accuracy"]) > 0.9)
