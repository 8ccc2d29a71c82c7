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
# # A vectorised sweep with cross-validation and refit
#
# The tuning process in full: a search space, a metric, a strategy, k-fold cross-validation,
# selection, and a final model retrained on the whole training set. All trials (and folds) of
# a sweep run in one compiled program.

# %%
import jax
import numpy as np

import jaxlr

space = {
    "learning_rate": jaxlr.loguniform(1e-4, 3e-1),
    "warmup_steps": jaxlr.int_uniform(0, 30),
}
result = jaxlr.sweep_task("diabetes", space=space, schedule="warmup_cosine", optimizer="adam",
                          steps=150, num_trials=8, folds=3, strategy="halton",
                          key=jax.random.key(0))
print(result.table(top=8))

# %%
fig = result.plot("metric")

# %% [markdown]
# Select the best configuration and retrain it on the whole training split; its validation
# loss is measured on the held-out validation split.

# %%
best = result.best_config
print("best:", best)
final = result.refit(key=jax.random.key(1))
print({k: round(float(v), 4) for k, v in final.metrics.items()})
assert np.isfinite(final.metrics["valid_loss"])
assert final.metrics["valid_loss"] < 1.0  # better than predicting the mean (about 1)
