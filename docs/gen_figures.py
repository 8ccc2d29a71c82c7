"""Draws one figure per schedule builder at build time (matplotlib Agg, nothing committed).

Every builder of ``jaxlr.schedules.BUILDERS`` (the names ``jaxlr.parse`` accepts) needs an
entry in :data:`EXAMPLES`: one or more spec strings drawn on the same axes, and the number of
steps to draw. ``docs/hooks.py`` writes the PNGs into the site under ``assets/schedules/`` and
expands ``<!-- jaxlr:schedule-figure NAME -->`` in the guides into the image and the specs; a
builder without an example or without a figure marker in ``docs/schedules.md`` fails the
strict build and ``tests/test_docs.py``.
"""

from __future__ import annotations

import io
import posixpath

FIGURE_DIR = "assets/schedules"

# name -> (spec strings drawn together, number of steps drawn)
EXAMPLES: dict[str, tuple[tuple[str, ...], int]] = {
    "constant": (("constant(0.5)",), 100),
    "step_decay": (("step_decay(1.0, 30, 0.5)",), 120),
    "multistep_decay": (("multistep_decay(1.0, [30, 80], 0.1)",
                         "multistep_decay(1.0, [30, 30, 80], 0.5)"), 120),
    "exponential_decay": (("exponential_decay(1.0, 0.5, 20)",
                           "exponential_decay(1.0, 0.5, 20, staircase=True)",
                           "exponential_decay(1.0, 0.5, 20, end_value=0.2)"), 100),
    "inverse_time_decay": (("inverse_time_decay(1.0, 0.5, 10)",
                            "inverse_time_decay(1.0, 0.5, 10, staircase=True)"), 100),
    "polynomial_decay": (("polynomial_decay(1.0, 0.1, 100)",
                          "polynomial_decay(1.0, 0.1, 100, power=2.0)",
                          "polynomial_decay(1.0, 0.1, 40, power=2.0, cycle=True)"), 120),
    "linear": (("linear(1.0, 0.1, 80)", "linear(0.0, 1.0, 50)"), 100),
    "cosine_decay": (("cosine_decay(1.0, 80, end_value=0.1)",
                      "cosine_decay(1.0, 80, periodic=True)"), 200),
    "cosine_restarts": (("cosine_restarts(1.0, 20, period_mult=2)",
                         "cosine_restarts(1.0, 25, peak_decay=0.6, end_value=0.05)"), 150),
    "cyclic": (("cyclic(0.1, 1.0, 20)", "cyclic(0.1, 1.0, 20, mode=triangular2)",
                "cyclic(0.1, 1.0, 20, 10, mode=exp_range, gamma=0.99)"), 150),
    "one_cycle": (("one_cycle(1.0, 100)", "one_cycle(1.0, 100, anneal=linear)",
                   "one_cycle(1.0, 100, three_phase=True)"), 110),
    "cyclic_momentum": (("cyclic_momentum(20)", "cyclic_momentum(20, 10, mode=triangular2)"), 150),
    "one_cycle_momentum": (("one_cycle_momentum(100)",
                            "one_cycle_momentum(100, three_phase=True)"), 110),
    "warmup": (("warmup(cosine_decay(1.0, 80), 20)",
                "warmup(cosine_decay(1.0, 80), 20, shape=cosine)",
                "warmup(constant(1.0), 20, init_value=0.01, shape=exponential)"), 100),
    "warmup_cosine": (("warmup_cosine(1.0, 10, 100)",
                       "warmup_cosine(1.0, 30, 100, init_value=0.1, end_value=0.1)"), 110),
    "warmup_stable_decay": (("warmup_stable_decay(1.0, 100, warmup_steps=10, decay_steps=20)",
                             "warmup_stable_decay(1.0, 100, warmup_steps=10, decay_steps=20, "
                             "decay_shape=cosine)",
                             "warmup_stable_decay(1.0, 100, warmup_steps=10, decay_steps=20, "
                             "decay_shape='1-sqrt')"), 110),
    "inverse_sqrt": (("inverse_sqrt(1.0, 10)", "inverse_sqrt(1.0, 10, timescale=40)"), 200),
    "piecewise_constant": (("piecewise_constant([30, 60], [1.0, 0.5, 0.1])",), 100),
    "piecewise_linear": (("piecewise_linear([0, 20, 60, 90], [0.0, 1.0, 0.5, 0.1])",), 100),
    "table": (("table([1.0, 1.0, 0.9, 0.7, 0.8, 0.5, 0.55, 0.3, 0.35, 0.2, 0.1])",), 14),
    "join": (("join([linear(0.0, 1.0, 20), cosine_decay(1.0, 80)], [20])",
              "join([constant(1.0), constant(0.5), linear(0.5, 0.0, 30)], [40, 70])"), 110),
    "multiply": (("multiply(cosine_decay(1.0, 100), cyclic(0.5, 1.0, 10))",), 100),
    "scale": (("cosine_decay(1.0, 100)", "scale(cosine_decay(1.0, 100), 0.5)"), 100),
    "clip": (("exponential_decay(1.0, 0.9, 2)",
              "clip(exponential_decay(1.0, 0.9, 2), min_value=0.1, max_value=0.8)"), 100),
}


def builder_names() -> list[str]:
    from jaxlr.schedules import BUILDERS

    return list(BUILDERS)


def missing_examples() -> list[str]:
    """Builders that have no entry in :data:`EXAMPLES` (a new builder needs one)."""
    return [n for n in builder_names() if n not in EXAMPLES]


def figure_path(name: str) -> str:
    return f"{FIGURE_DIR}/{name}.png"


def curves(names: list[str] | None = None) -> dict[str, list]:
    """``{name: [values of each spec over its steps]}``, all evaluated in ONE compiled program.

    Compiling one program per schedule would dominate the build (~0.3-1 s each on a small CPU);
    one program for every example costs one compilation.
    """
    import jax
    import jax.numpy as jnp
    import numpy as np

    import jaxlr

    names = [n for n in (builder_names() if names is None else names) if n in EXAMPLES]
    schedules = {n: [jaxlr.parse(s) for s in EXAMPLES[n][0]] for n in names}

    @jax.jit
    def evaluate(schedules):
        return {n: [s(jnp.arange(EXAMPLES[n][1], dtype=jnp.int32)) for s in ss]
                for n, ss in schedules.items()}

    return {n: [np.asarray(v) for v in vs] for n, vs in evaluate(schedules).items()}


def render(name: str, values: list) -> bytes:
    """The PNG of builder ``name``'s example(s), given their values (see :func:`curves`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    specs, steps = EXAMPLES[name]
    fig, ax = plt.subplots(figsize=(6.4, 2.8))
    try:
        for spec, v in zip(specs, values):
            ax.plot(np.arange(steps), v, label=spec)
        ax.set_xlabel("step")
        ax.set_ylabel("momentum" if name.endswith("momentum") else "learning rate")
        ax.set_title(name, fontsize="medium")
        # below the axes, so that no curve is hidden behind it
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(0.0, -0.2),
                  frameon=False)
        ax.grid(True, alpha=0.3)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=96, bbox_inches="tight", metadata={"Software": None})
    finally:
        plt.close(fig)
    return buf.getvalue()


def figures() -> dict[str, bytes]:
    """``{path under the site: PNG bytes}`` for every builder that has an example."""
    return {figure_path(n): render(n, v) for n, v in curves().items()}


def figure_markdown(name: str, page: str = "index.md") -> str:
    """What a ``<!-- jaxlr:schedule-figure NAME -->`` marker on ``page`` becomes."""
    specs, steps = EXAMPLES[name]
    src = posixpath.relpath(figure_path(name), posixpath.dirname(page) or ".")
    alt = f"{name}: " + "; ".join(specs)
    listing = ", ".join(f"`{s}`" for s in specs)
    return (f"![{alt}]({src})\n\n"
            f"<small>Drawn at build time over {steps} steps: {listing}.</small>\n")
