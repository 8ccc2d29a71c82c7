"""jaxlr.fit: scan-fused chunks, data paths, evaluation, controllers, time budget, errors."""

import json
import re
import warnings

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlr
from jaxlr.engine import _data as data_lib
from jaxlr.engine import _fit as fit_lib

N, BS = 40, 8  # 5 batches per epoch


def loss_fn(p, batch):
    x, y = batch
    return jnp.mean((x @ p["w"] + p["b"] - y) ** 2)


def metric_fn(p, batch):
    return {"loss": loss_fn(p, batch), "neg": -loss_fn(p, batch)}


def _data(n=N, seed=0):
    kx = jax.random.key(seed)
    x = jax.random.normal(kx, (n, 3))
    y = x @ jnp.array([[1.0], [-2.0], [0.5]]) + 0.3
    return x, y


def _params():
    return {"w": jnp.zeros((3, 1)), "b": jnp.zeros((1,))}


KEY = jax.random.key(7)
# One optimizer object shared by the tests: fit's compiled chunk programs are cached on
# (loss_fn, optimizer, chunk_size, batch_size), so sharing it keeps the file fast.
SGD = jaxlr.sgd(0.05)
ADAM = jaxlr.adam(jaxlr.cosine_decay(0.05, 20))
LINEAR = jaxlr.linear(1.0, 0.0, 100)
SGD_LINEAR = jaxlr.sgd(LINEAR)  # shared by the time-clock tests (same compiled programs)


def _manual(opt, steps, data=None, key=KEY):
    """Reference: a Python loop of the jitted step over jaxlr.engine._data batches."""
    data = _data() if data is None else data
    state = jaxlr.TrainState.create(_params(), opt)
    step = jaxlr.make_train_step(loss_fn, opt)
    losses = []
    for t in range(steps):
        state, m = step(state, data_lib.get_batch(data, key, jnp.int32(t), BS))
        losses.append(float(m["loss"]))
    return state, np.array(losses)


@pytest.mark.parametrize("pregather", [True, False])
def test_fit_equals_python_loop_and_chunking_is_invisible(pregather, monkeypatch):
    # pregather=False: the batches' indices are drawn before each chunk's loop, every update
    # gathers its own batch (large data)
    from jaxlr.engine import _run

    if not pregather:
        monkeypatch.setattr(_run, "PREGATHER_BYTES", 0)
    opt = ADAM
    ref, ref_losses = _manual(opt, 13)
    outs = []
    for chunk in (4, 64):
        st, h = jaxlr.fit(loss_fn, opt, _params(), _data(), steps=13, batch_size=BS, key=KEY,
                          chunk_size=chunk, progress=False)
        chex.assert_trees_all_close(st.params, ref.params, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(h.train["loss"], ref_losses, rtol=1e-6)
        outs.append(st)
    chex.assert_trees_all_equal(outs[0].params, outs[1].params)  # bit-identical
    assert h.steps.tolist() == list(range(13)) and h.stop_reason == "completed"
    np.testing.assert_allclose(h.train["lr"][:3], jaxlr.cosine_decay(0.05, 20)(jnp.arange(3)),
                               rtol=1e-6)
    json.dumps(h.to_dict())


def test_fit_does_not_consume_inputs_and_compiles_once_for_new_values():
    opt = ADAM
    state = jaxlr.TrainState.create(_params(), opt, key=KEY)
    jaxlr.fit(loss_fn, opt, state, _data(), steps=7, batch_size=BS, chunk_size=4,
              progress=False)
    before = fit_lib._chunk_jit._cache_size()
    for peak in (0.01, 0.2):
        sched = jaxlr.cosine_decay(peak, 30)
        s2 = state.replace(opt_state=jaxlr.set_hyperparams(state.opt_state,
                                                           learning_rate=sched, b1=0.5))
        out, h = jaxlr.fit(loss_fn, opt, s2, _data(), steps=9, batch_size=BS, chunk_size=4,
                           progress=False)
        np.testing.assert_allclose(h.train["lr"], sched(jnp.arange(9)), rtol=1e-6)
    assert fit_lib._chunk_jit._cache_size() == before  # state still usable, no new program
    assert float(state.params["w"][0, 0]) == 0.0


def test_stream_of_batches_with_prefetch():
    opt = ADAM
    ref, ref_losses = _manual(opt, 6)
    batches = [data_lib.get_batch(_data(), KEY, jnp.int32(t), BS) for t in range(6)]
    gen = (b for b in batches)
    st, h = jaxlr.fit(loss_fn, opt, _params(), gen, progress=False, chunk_size=4)
    chex.assert_trees_all_close(st.params, ref.params, rtol=1e-6)
    np.testing.assert_allclose(h.train["loss"], ref_losses, rtol=1e-6)
    # a list with epochs is re-iterated; steps caps the run
    st, h = jaxlr.fit(loss_fn, opt, _params(), batches, epochs=3, progress=False)
    assert int(st.step) == 18
    st, h = jaxlr.fit(loss_fn, opt, _params(), batches, steps=20, progress=False)
    assert int(st.step) == 6 and h.stop_reason == "data_exhausted"


@pytest.mark.parametrize("stream", [False, True], ids=["arrays", "stream"])
def test_nonfinite_stops_with_last_finite_state(stream):
    x, y = _data()
    y = y.at[0].set(1e30)  # finite data, but the squared error of example 0 overflows
    opt = SGD
    # the step that first sees example 0
    order = [np.asarray(data_lib.batch_indices(KEY, jnp.int32(t), N, BS)) for t in range(10)]
    bad = next(t for t, idx in enumerate(order) if 0 in idx)
    data = (x, y)
    if stream:
        data = [data_lib.get_batch((x, y), KEY, jnp.int32(t), BS) for t in range(10)]
    with pytest.warns(RuntimeWarning, match=f"non-finite at step {bad}"):
        st, h = jaxlr.fit(loss_fn, opt, _params(), data, steps=None if stream else 10,
                          batch_size=None if stream else BS, key=KEY, progress=False)
    assert h.stop_reason == "nonfinite" and h.nonfinite_step == bad and int(st.step) == bad
    ref, _ = _manual(opt, bad, data=(x, y))
    chex.assert_trees_all_close(st.params, ref.params, rtol=1e-6)
    assert len(h.train["loss"]) == bad and np.isfinite(h.train["loss"]).all()


@pytest.mark.parametrize("case", ["clean", "nonfinite", "controllers"])
def test_dispatching_the_next_chunk_ahead_changes_nothing(case, monkeypatch):
    # Without a time budget, fit dispatches the next chunk and the evaluation (and steps
    # controllers that read a validation metric on the device) before it reads a chunk's
    # records; a run that waits for every chunk is the reference, bit for bit, including a
    # non-finite stop and an early stop with a speculative chunk in flight.
    x, y = _data()
    if case == "nonfinite":
        y = y.at[0].set(1e30)      # the squared error of example 0 overflows
    extra = {}
    if case == "controllers":      # reduces at once, stops after two evaluations without gain
        extra = dict(plateau=jaxlr.controllers.reduce_on_plateau(patience=0, threshold=0.5,
                                                                 factor=0.5),
                     early_stopping=jaxlr.early_stopping(patience=2, min_delta=0.05))
    dispatched, stepped = [], []
    original, original_step = fit_lib._Loop._dispatch, fit_lib._Loop._step_controllers

    def counting(self, state, n, clock):
        dispatched[-1] += 1
        return original(self, state, n, clock)

    def counting_step(self, state, ev):
        stepped[-1] += 1
        return original_step(self, state, ev)

    monkeypatch.setattr(fit_lib._Loop, "_dispatch", counting)
    monkeypatch.setattr(fit_lib._Loop, "_step_controllers", counting_step)
    runs = []
    for ahead in (True, False):
        monkeypatch.setattr(fit_lib, "DISPATCH_AHEAD", ahead)
        dispatched.append(0)
        stepped.append(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            runs.append(jaxlr.fit(loss_fn, SGD, _params(), (x, y), steps=40, batch_size=BS,
                                  key=KEY, chunk_size=3, valid_data=_data(16, seed=1),
                                  eval_every=4, progress=False, **extra))
    (a, ha), (b, hb) = runs
    chex.assert_trees_all_equal(a.params, b.params)
    chex.assert_trees_all_equal(a.opt_state, b.opt_state)
    assert ha.steps.tolist() == hb.steps.tolist()
    for k in ha.train:
        np.testing.assert_array_equal(ha.train[k], hb.train[k])
    assert ha.eval_steps.tolist() == hb.eval_steps.tolist()
    np.testing.assert_array_equal(ha.eval["val_loss"], hb.eval["val_loss"])
    np.testing.assert_array_equal(ha.lr_scale, hb.lr_scale)
    assert ha.reductions.tolist() == hb.reductions.tolist()
    assert (ha.stop_reason, ha.nonfinite_step, ha.best_step) == (
        hb.stop_reason, hb.nonfinite_step, hb.best_step)
    if case == "nonfinite":
        assert ha.stop_reason == "nonfinite" and int(a.step) == ha.nonfinite_step < 5
        # the speculative chunk dispatched after the bad one was discarded
        assert dispatched[0] == dispatched[1] + 1
    elif case == "controllers":
        assert ha.stop_reason == "early_stopping" and len(ha.reductions) >= 1
        assert stepped[0] == len(ha.eval_steps) and stepped[1] == 0  # stepped on the device
        assert dispatched[0] == dispatched[1] + 1      # the chunk after the stop: discarded
    else:
        assert ha.stop_reason == "completed" and ha.eval_steps.tolist() == list(range(4, 41, 4))
        assert dispatched[0] == dispatched[1]


def test_chunk_program_is_as_long_as_the_longest_chunk(monkeypatch):
    # chunks end at every evaluation: a 256-update program would gather 256 updates' batches
    # for each 5-update chunk
    assert fit_lib._longest_chunk(256, 22, None) == 22
    assert fit_lib._longest_chunk(256, None, 50) == 50
    assert fit_lib._longest_chunk(256, None, None) == 256
    assert fit_lib._longest_chunk(8, 22, 50) == 8
    lengths = []
    original = fit_lib._chunk_jit

    def spy(plan, *args):
        lengths.append(plan.num_steps)
        return original(plan, *args)

    monkeypatch.setattr(fit_lib, "_chunk_jit", spy)
    jaxlr.fit(loss_fn, SGD, _params(), _data(), steps=12, batch_size=BS, key=KEY,
              valid_data=_data(16, seed=1), eval_every=5, progress=False)
    jaxlr.fit(loss_fn, SGD, _params(), _data(), steps=12, batch_size=BS, key=KEY,
              progress=False)
    # runs of any length share the default program (steps do not shape it)
    assert set(lengths[:3]) == {5} and set(lengths[3:]) == {256}


@pytest.mark.parametrize("where", ["data", "valid_data"])
def test_nonfinite_data_is_an_error_before_training(where):
    x, y = _data()
    bad = (x, y.at[3, 0].set(jnp.nan))
    kw = {"data": bad} if where == "data" else {"data": (x, y), "valid_data": bad}
    with pytest.raises(ValueError, match=re.escape(f"`{where}` contains 1 non-finite")):
        jaxlr.fit(loss_fn, SGD, _params(), steps=3, batch_size=BS, key=KEY, progress=False,
                  **kw)


def test_evaluation_history_writer_and_plot(tmp_path):
    seen = []
    opt = ADAM
    st, h = jaxlr.fit(loss_fn, opt, _params(), _data(), epochs=3, batch_size=BS, key=KEY,
                      valid_data=_data(16, seed=1), eval_fn=metric_fn, progress=False,
                      writer=lambda step, s: seen.append((step, dict(s))))
    assert h.eval_steps.tolist() == [5, 10, 15]
    np.testing.assert_allclose(h.eval["val_neg"], -h.eval["val_loss"])
    np.testing.assert_allclose(h.eval["val_loss"][-1], loss_fn(st.params, _data(16, seed=1)),
                               rtol=1e-6)
    assert any("val_loss" in s for _, s in seen) and any("loss" in s for _, s in seen)
    fig = h.plot()
    fig.savefig(tmp_path / "h.png")
    assert (tmp_path / "h.png").stat().st_size > 0


def test_plateau_in_fit_reduces_on_flat_metric():
    # the validation metric never improves (it does not depend on the params)
    flat = lambda p, b: {"loss": jnp.float32(1.0)}  # noqa: E731
    ctrl = jaxlr.controllers.reduce_on_plateau(factor=0.5, patience=1)
    opt = SGD
    st, h = jaxlr.fit(loss_fn, opt, _params(), _data(), steps=30, batch_size=BS, key=KEY,
                      valid_data=_data(8), eval_fn=flat, eval_every=5, plateau=ctrl,
                      progress=False)
    # PyTorch convention: evaluation 1 sets best, reductions after patience+1 bad evaluations
    sim = jaxlr.controllers.simulate(ctrl, jnp.ones(6))
    want = [5 * (i + 1) for i in range(6) if bool(sim.reduced[i])]
    assert h.reductions.tolist() == want and want
    np.testing.assert_allclose(h.lr_scale, sim.scale)
    np.testing.assert_allclose(jaxlr.current_lr(st), 0.05 * sim.scale[-1], rtol=1e-6)
    # the train lr metric reflects the scale after each reduction
    np.testing.assert_allclose(h.train["lr"][5:10], 0.05 * sim.scale[0], rtol=1e-6)
    np.testing.assert_allclose(h.train["lr"][-1], 0.05 * sim.scale[-2], rtol=1e-6)


def test_early_stopping_restores_best_params():
    # validation loss: distance of w to a target the training does not head to
    target = jnp.full((3, 1), 0.2)
    val = lambda p, b: jnp.sum((p["w"] - target) ** 2)  # noqa: E731
    es = jaxlr.early_stopping(patience=2)
    opt = SGD
    st, h = jaxlr.fit(loss_fn, opt, _params(), _data(), steps=200, batch_size=BS, key=KEY,
                      valid_data=_data(8), eval_fn=val, eval_every=2, early_stopping=es,
                      progress=False)
    assert h.stop_reason == "early_stopping" and int(st.step) < 200
    best = int(np.argmin(h.eval["val_loss"]))
    assert h.best_step == h.eval_steps[best]
    np.testing.assert_allclose(val(st.params, None), h.eval["val_loss"][best], rtol=1e-6)
    # restore_best=False: the same run returns its last parameters
    st2, h2 = jaxlr.fit(loss_fn, opt, _params(), _data(), steps=200, batch_size=BS, key=KEY,
                        valid_data=_data(8), eval_fn=val, eval_every=2, progress=False,
                        early_stopping=jaxlr.early_stopping(patience=2, restore_best=False))
    assert int(st2.step) == int(st.step) and h2.best_step == h.best_step
    np.testing.assert_allclose(val(st2.params, None), h2.eval["val_loss"][-1], rtol=1e-6)
    assert h2.eval["val_loss"][-1] > h2.eval["val_loss"][best]


def test_monitor_train_metric():
    es = jaxlr.early_stopping(patience=0, mode="max")  # a decreasing "loss" never improves
    st, h = jaxlr.fit(loss_fn, SGD, _params(), _data(), steps=50, batch_size=BS,
                      key=KEY, early_stopping=es, monitor="loss", eval_every=5,
                      progress=False)
    assert h.stop_reason == "early_stopping" and int(st.step) == 10


class FakeClock:
    """Deterministic clock: each call advances by ``dt`` seconds."""

    def __init__(self, dt):
        self.t, self.dt = 0.0, dt

    def __call__(self):
        self.t += self.dt
        return self.t


def test_time_budget_stops_and_time_clock_drives_schedule():
    sched, opt = LINEAR, SGD_LINEAR
    st, h = jaxlr.fit(loss_fn, opt, _params(), _data(), batch_size=BS, key=KEY,
                      time_budget=20.0, schedule_clock="time", clock=FakeClock(1.0),
                      chunk_size=4, progress=False)
    assert h.stop_reason == "time_budget"
    lr = h.train["lr"]
    assert lr[0] >= 0.8 and np.all(np.diff(lr) <= 1e-7)  # follows elapsed time, not steps
    assert lr[-1] < 0.3  # most of the "cosine over 20 s" was spent
    # the same run with a step clock: the rate follows steps (100-step horizon)
    st2, h2 = jaxlr.fit(loss_fn, opt, _params(), _data(), batch_size=BS, key=KEY,
                        time_budget=20.0, clock=FakeClock(1.0), chunk_size=4, progress=False)
    np.testing.assert_allclose(h2.train["lr"], sched(jnp.arange(len(h2.train["lr"]))),
                               rtol=1e-6)


@pytest.mark.parametrize("kwargs,err,text", [
    (dict(steps=0), ValueError, "steps=0"),
    (dict(steps=-3, batch_size=8), ValueError, "steps=-3"),
    (dict(epochs=0, batch_size=8), ValueError, "epochs=0"),
    (dict(steps=5, batch_size=8, time_budget=0.0), ValueError, "time_budget=0.0"),
    (dict(steps=5, batch_size=8, checkpoint_every=2), ValueError, "checkpoint_dir"),
    (dict(steps=5, batch_size=100), ValueError, "batch_size=100"),
    (dict(steps=5, batch_size=8, time_budget=-1.0), ValueError, "time_budget=-1.0"),
    (dict(steps=5, batch_size=8, schedule_clock="wall"), ValueError, "schedule_clock='wall'"),
    (dict(steps=5, batch_size=8, schedule_clock="time"), ValueError, "time_budget=None"),
    (dict(steps=5, batch_size=8, plateau=jaxlr.controllers.reduce_on_plateau(), monitor="val_acc"),
     ValueError, "monitor='val_acc'"),
    (dict(steps=5, batch_size=8, plateau=jaxlr.controllers.reduce_on_plateau(), monitor="acc"),
     ValueError, "monitor='acc'"),
    (dict(steps=5, batch_size=8, plateau=jaxlr.early_stopping(patience=1)), ValueError,
     "plateau"),
    (dict(steps=5), TypeError, "batch_size=None"),
    (dict(steps=5, batch_size=8, key=None), TypeError, "key=None"),
    (dict(steps=5, epochs=1, batch_size=8), ValueError, "not both"),
])
def test_bad_arguments(kwargs, err, text):
    kwargs.setdefault("key", KEY)
    with pytest.raises(err, match=re.escape(text)):
        jaxlr.fit(loss_fn, SGD, _params(), _data(), progress=False, **kwargs)


def test_bad_loss_and_params():
    with pytest.raises(TypeError, match="calling `loss_fn` on a batch failed"):
        jaxlr.fit(lambda p, b: loss_fn(p, b[0]), SGD, _params(), _data(),
                  steps=2, batch_size=8, key=KEY, progress=False)
    with pytest.raises(ValueError, match=re.escape("shape (8, 1)")):
        jaxlr.fit(lambda p, b: b[0] @ p["w"], SGD, _params(), _data(), steps=2,
                  batch_size=8, key=KEY, progress=False)
    with pytest.raises(TypeError, match=re.escape("params['n']")):
        jaxlr.fit(loss_fn, SGD, {"n": jnp.arange(3)}, _data(), steps=2,
                  batch_size=8, key=KEY, progress=False)


def test_progress_bar_is_off_without_tty():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, h = jaxlr.fit(loss_fn, SGD, _params(), _data(), steps=3, batch_size=8,
                         key=KEY, progress=True)
    assert fit_lib._progress_bar(True, 3, 0) is None  # pytest captures stderr: not a TTY


def test_stream_time_budget_and_plateau_on_train_metric():
    batches = [data_lib.get_batch(_data(), KEY, jnp.int32(t), BS) for t in range(5)]
    ctrl = jaxlr.controllers.reduce_on_plateau(factor=0.5, patience=0, mode="max")  # loss never "rises"
    st, h = jaxlr.fit(loss_fn, SGD, _params(), batches, epochs=100, time_budget=12.0,
                      clock=FakeClock(1.0), plateau=ctrl, monitor="loss", eval_every=2,
                      progress=False)
    assert h.stop_reason == "time_budget" and 0 < int(st.step) < 500
    assert h.reductions.size >= 1
    np.testing.assert_allclose(jaxlr.hyperparams(st)["learning_rate"],
                               0.05 * float(st.plateau.scale), rtol=1e-6)


def test_time_clock_state_counts_steps_again_in_a_step_clock_fit():
    sched, opt = LINEAR, SGD_LINEAR
    st, h = jaxlr.fit(loss_fn, opt, _params(), _data(), batch_size=BS, key=KEY,
                      time_budget=10.0, schedule_clock="time", clock=FakeClock(1.0),
                      chunk_size=4, progress=False)
    assert int(st.opt_state.schedule_step) >= 0
    st2, h2 = jaxlr.fit(loss_fn, opt, st, _data(), steps=int(st.step) + 2, batch_size=BS,
                        chunk_size=4, progress=False)
    np.testing.assert_allclose(h2.train["lr"], sched(int(st.step) + jnp.arange(2)), rtol=1e-6)
