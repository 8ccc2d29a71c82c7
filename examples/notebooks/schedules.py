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
# # Comparing learning-rate schedules
#
# Schedules in jaxlr are small pytrees: build them from code or from a spec string, describe
# them, plot them, and train with them. Because their numbers are leaves, a new peak value does
# not recompile anything.

# %%
import jax
import jax.numpy as jnp
import numpy as np

import jaxlr
from jaxlr.plotting import plot_schedule

steps = 200
specs = {
    "step decay": "multistep_decay(0.01, [100, 150], 0.1)",
    "warm-up + cosine": "warmup_cosine(0.01, 20, 200)",
    "one-cycle": "one_cycle(0.01, 200)",
    "WSD (20% cooldown)": "warmup_stable_decay(0.01, 200, warmup_steps=20, decay_steps=40)",
}
schedules = {name: jaxlr.parse(spec) for name, spec in specs.items()}
for name, s in schedules.items():
    d = jaxlr.describe(s, steps)
    print(f"{name:20s} peak {d['peak_value']:.3g} at {d['peak_step']:3d}, "
          f"final {d['final_value']:.2g}, mean {d['mean_value']:.3g}")

# %%
ax = plot_schedule(list(schedules.values()), steps, labels=list(schedules))

# %% [markdown]
# Every schedule round-trips through a JSON-able config (what the CLI and sweep files use).

# %%
for s in schedules.values():
    assert jaxlr.to_config(jaxlr.from_config(jaxlr.to_config(s))) == jaxlr.to_config(s)
print(jaxlr.to_config(schedules["warm-up + cosine"]))

# %% [markdown]
# Train the digits MLP with Adam under each schedule and compare the
# final validation loss.

# %%
results = {}
for name, s in schedules.items():
    r = jaxlr.sweep_task("digits-mlp", space=jaxlr.grid({"seed": [0]}),
                         schedule=lambda hp, s=s: s, optimizer="adam", steps=steps,
                         key=jax.random.key(0))
    results[name] = r
    print(f"{name:20s} valid loss {np.mean(r.metrics['valid_loss']):.4f}  "
          f"valid accuracy {np.mean(r.metrics['valid_accuracy']):.4f}")

# %%
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(6, 3.5))
kernel = np.ones(15) / 15
for name, r in results.items():
    mean = np.asarray(r.curves["train_loss"]).mean(0)
    ax.plot(np.convolve(mean, kernel, mode="valid"), label=name)
ax.set_yscale("log")
ax.set_xlabel("update")
ax.set_ylabel("training loss (15-step mean)")
ax.legend()

# %%
for r in results.values():
    assert np.mean(r.metrics["valid_accuracy"]) > 0.85
