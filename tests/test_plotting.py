"""Plots of jaxlr results: saving with ``path=``, what the finder and sweep figures show.

Results are built directly from small numpy arrays (no training; the builders live in
``tests/test_results_display.py``), so every test is fast.
"""

import math

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from test_results_display import (
    compare_result,
    history,
    parallel_result,
    pbt_result,
    range_result,
    sweep_result,
)

import jaxlr
from jaxlr.plotting import (
    plot_finder,
    plot_history,
    plot_pbt_schedule,
    plot_schedule,
    plot_sweep,
    plot_sweep_curves,
    plot_sweep_heatmap,
)


def axes_of(obj):
    return obj if hasattr(obj, "get_lines") else obj.axes[0]


def figure_of(obj):
    return obj.figure if hasattr(obj, "get_lines") else obj


PLOTS = {
    "schedule": lambda **kw: plot_schedule([jaxlr.constant(0.5), jaxlr.cosine_decay(0.5, 20)],
                                           25, **kw),
    "history": lambda **kw: plot_history(history(), **kw),
    "history_method": lambda **kw: history().plot(**kw),
    "finder_parallel": lambda **kw: plot_finder(parallel_result(), **kw),
    "finder_range": lambda **kw: range_result().plot(**kw),
    "sweep": lambda **kw: plot_sweep(sweep_result(), **kw),
    "sweep_heatmap": lambda **kw: plot_sweep_heatmap(sweep_result(), **kw),
    "sweep_curves": lambda **kw: plot_sweep_curves(sweep_result(), **kw),
    "sweep_method": lambda **kw: sweep_result().plot("curves", **kw),
    "pbt": lambda **kw: plot_pbt_schedule(pbt_result(), **kw),
    "compare": lambda **kw: compare_result().plot(**kw),
}


@pytest.fixture(autouse=True)
def _close_all():
    yield
    plt.close("all")


# ---- path= --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PLOTS))
def test_without_path_returns_an_open_figure_and_saves_nothing(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = set(plt.get_fignums())
    out = PLOTS[name]()
    assert len(set(plt.get_fignums()) - before) == 1
    assert figure_of(out).number in plt.get_fignums()
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", sorted(PLOTS))
def test_with_path_saves_and_closes(name, tmp_path):
    before = plt.get_fignums()
    path = tmp_path / "new" / "dir" / f"{name}.png"         # parents are created
    out = PLOTS[name](path=path)
    assert path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plt.get_fignums() == before                      # closed after saving
    ax = axes_of(out)                                       # still returned
    assert ax.lines or ax.patches or ax.collections or ax.images


@pytest.mark.parametrize("suffix, magic", [(".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_path_format_follows_the_suffix(suffix, magic, tmp_path):
    path = tmp_path / f"finder{suffix}"
    parallel_result().plot(path=str(path))
    assert path.read_bytes()[:len(magic)] == magic


def test_path_with_unknown_suffix_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"plot_finder: `path` must end in \.png, \.svg, \.pdf"):
        parallel_result().plot(path=tmp_path / "finder.jpg2")


def test_given_axes_are_saved_but_left_open(tmp_path):
    fig, axes = plt.subplots(1, 2)
    parallel_result().plot(ax=axes[0], path=tmp_path / "two.png")
    assert (tmp_path / "two.png").stat().st_size > 1000
    assert fig.number in plt.get_fignums()                   # the caller's figure


# ---- finder -------------------------------------------------------------------------------

def legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_finder_draws_the_suggestion_and_the_suggested_range():
    r = parallel_result()
    ax = r.plot()
    lr = r.suggestion
    lo, hi = r.suggest_range()
    sugg = [ln for ln in ax.lines if ln.get_label().startswith("suggested")]
    assert len(sugg) == 1 and np.allclose(sugg[0].get_xdata(), lr)
    spans = [p for p in ax.patches if p.get_label().startswith("suggest_range()")]
    assert len(spans) == 1
    x0 = spans[0].get_x()                                 # a Rectangle in (data x, axes y)
    assert math.isclose(x0, lo) and math.isclose(x0 + spans[0].get_width(), hi)
    texts = legend_texts(ax)
    assert any(t.startswith(f"suggested {lr:.3g}") for t in texts)
    assert any(t.startswith(f"suggest_range(): {lo:.3g} .. {hi:.3g}") for t in texts)
    assert ax.get_xscale() == "log"
    assert ax.get_xlim()[0] <= min(lo, lr) and ax.get_xlim()[1] >= max(hi, lr)


def test_finder_seed_band_and_diverged_marks():
    ax = parallel_result().plot()
    assert any(c.get_label() == "seed min-max" for c in ax.collections)
    assert any(t.startswith("diverged (1)") for t in legend_texts(ax))
    ax = parallel_result().plot(band="se")
    assert any(c.get_label().startswith("seed mean +-1 s.e.") for c in ax.collections)


def test_finder_coinciding_rules_both_visible():
    r = parallel_result()
    s = r.suggestions()
    assert s["best_final"] == s["minimum_div_10"]            # the premise: they coincide
    ax = r.plot()
    texts = legend_texts(ax)
    assert any(t.startswith("best_final") for t in texts)
    assert any(t.startswith("minimum_div_10") for t in texts)
    rules = {ln.get_label().split(":")[0]: ln for ln in ax.lines
             if ln.get_label().split(":")[0] in s}
    a, b = rules["best_final"], rules["minimum_div_10"]
    # same rate; distinct colour, marker and marker height (stacked at the top)
    assert np.allclose(a.get_xdata(), b.get_xdata())
    assert a.get_marker() != b.get_marker() and a.get_color() != b.get_color()
    assert a.get_ydata()[1] != b.get_ydata()[1]
    names = {t.get_text() for t in ax.texts}
    assert {"best_final", "minimum_div_10"} <= names           # annotated by name


def test_finder_title_is_the_task_not_a_function_repr():
    assert parallel_result().plot().get_title().startswith("digits-mlp: parallel finder")
    for task in ("<lambda>", "init", "init_fn", "make_params", "", "params"):
        title = parallel_result(task=task).plot().get_title()
        assert title.startswith("learning-rate finder: parallel finder, 6 rates x 2 seeds")
        assert "<" not in title and "init" not in title
    title = range_result(optimizer="__main__.<lambda>").plot().get_title()
    assert title == "learning-rate finder: range test, 60 steps"
    assert parallel_result().plot(title="mine").get_title() == "mine"


def test_range_test_range_that_excludes_the_suggestion_is_drawn_and_flagged():
    r = range_result()
    lr, (lo, hi) = r.suggestion, r.suggest_range()
    assert not lo <= lr <= hi                                 # the premise (see range_result)
    ax = r.plot()
    texts = legend_texts(ax)
    assert any(t.startswith(f"suggested {lr:.3g} (steepest)") for t in texts)
    span = [t for t in texts if t.startswith("suggest_range()")]
    assert span and "does not contain the suggestion" in span[0]
    assert ax.get_xlim()[0] <= lr and ax.get_xlim()[1] >= hi
    # a range that contains it says nothing of the sort
    texts = legend_texts(parallel_result().plot())
    assert not any("does not contain" in t for t in texts)


def test_finder_all_diverged_plots_without_suggestion():
    div = np.ones((6, 2), bool)
    r = parallel_result(diverged=div, final_losses=np.full((6, 2), np.nan),
                        valid_losses=np.full((6, 2), np.nan))
    ax = r.plot()
    assert not any(ln.get_label().startswith("suggested") for ln in ax.lines)
    assert any(t.startswith("diverged (6)") for t in legend_texts(ax))


# ---- sweeps -------------------------------------------------------------------------------

def test_sweep_curves_have_title_legend_and_labelled_top_k():
    fig = sweep_result().plot("curves", top=2)
    ax = fig.axes[0]
    assert "train_loss" in ax.get_title() and "random sweep, 6 trials" in ax.get_title()
    texts = legend_texts(ax)
    assert texts[0].startswith("#1 trial 3: learning_rate=0.1, weight_decay=0")
    assert texts[1].startswith("#2 trial 2: learning_rate=0.01")
    assert "(valid_loss 0.3)" in texts[0]
    assert any(t.startswith("other trials (3)") for t in texts)
    assert any(t.startswith("diverged (1)") for t in texts)
    greys = [ln for ln in ax.lines if ln.get_color() == "0.75"]
    assert len(greys) == 3
    assert ax.get_yscale() == "log"                    # 0.2 .. 2.35: more than a decade


def test_sweep_metric_plot_log_axis_follows_the_space():
    fig = sweep_result(log=True).plot()
    assert fig.axes[0].get_xscale() == "log" and fig.axes[1].get_xscale() == "linear"
    assert fig.axes[0].get_xlabel() == "learning_rate"
    assert fig.axes[0].get_ylabel() == "valid_loss"
    assert fig.get_suptitle().startswith("valid_loss per trial: random sweep, 6 trials")
    texts = legend_texts(fig.axes[0])
    assert any(t.startswith("best: valid_loss 0.3") for t in texts)
    assert any(t.startswith("diverged (1)") for t in texts)
    assert sweep_result(log=False).plot().axes[0].get_xscale() == "linear"
    # without a space entry: log when the values span more than a decade
    assert sweep_result(space={}).plot().axes[0].get_xscale() == "log"


def test_sweep_heatmap_has_colorbar_and_title():
    fig = sweep_result().plot("heatmap")
    assert len(fig.axes) == 2                          # the axes and its colorbar
    assert fig.axes[0].get_title().startswith("valid_loss over learning_rate x weight_decay")
    assert fig.axes[0].get_xscale() == "log"


def test_compare_plot_styles_and_log_rate_axis():
    fig = compare_result().plot()
    ax, ax_lr = fig.axes
    assert ax.get_title().startswith("jaxlr compare: digits-mlp, sgd, 40 steps")
    assert legend_texts(ax) == ["0.5", "0.02", "multistep"]
    assert ax_lr.get_yscale() == "log"                  # 0.005 .. 0.5
    rate_lines = ax_lr.get_lines()
    assert [ln.get_linestyle() for ln in rate_lines][:2] == ["-", "--"]
    assert len({ln.get_marker() for ln in rate_lines}) == 3
    assert len({str(ln.get_markevery()) for ln in rate_lines}) == 3    # staggered markers
    assert len({ln.get_zorder() for ln in rate_lines}) == 3
    flat = compare_result()
    flat.lrs = np.full_like(flat.lrs, 0.1)
    assert flat.plot().axes[1].get_yscale() == "linear"


def test_schedule_plot_distinct_styles():
    ax = plot_schedule([jaxlr.constant(0.5), jaxlr.constant(0.5)], 10, title="two")
    a, b = ax.get_lines()
    assert a.get_linestyle() != b.get_linestyle() and b.get_zorder() > a.get_zorder()
    assert ax.get_title() == "two"
