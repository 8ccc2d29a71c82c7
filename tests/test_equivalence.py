"""One engine: a finder candidate, a sweep trial and a fit run are the same training run.

With the same key, batches and initialisation:

* a finder candidate at a constant rate r == ``fit`` with that optimizer at rate r, bit for bit;
* a sweep trial == ``fit`` with that configuration, bit for bit;
* a one-lane population runs without vmap (it *is* the run); a lane inside a wider population
  equals it to float32 rounding (XLA picks other CPU kernels for other vmap widths);
* every ``fit`` feature works in the finders and sweeps: gradient clipping and accumulation (in
  the optimizer), a model state (batch-norm style), per-update keys (dropout), reduce-on-plateau
  and early stopping.

Compile by value: freshly built but equal optimizers, schedules, partials and lambdas reuse the
compiled programs of fit, both finders, sweep, sweep_task and the strategies.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlr

N, BS, T = 64, 8, 12
X = jax.random.normal(jax.random.key(1), (N, 3), jnp.float32)
Y = X @ jnp.array([1.0, -2.0, 0.5], jnp.float32) + 0.1
DATA, VALID = (X, Y), (X[:16] * 1.2, Y[:16] * 1.2)
KEY = jax.random.key(4)


def init(key):
    return {"w": 0.1 * jax.random.normal(key, (3,)), "b": jnp.zeros(())}


def loss(p, batch):
    x, y = batch
    return jnp.mean((x @ p["w"] + p["b"] - y) ** 2)


def fit(opt, steps=T, model=init, loss_fn=loss, key=None, **kw):
    kw.setdefault("batch_size", BS)
    return jaxlr.fit(loss_fn, opt, model, DATA, steps=steps, progress=False,
                     key=jax.random.fold_in(KEY, 0) if key is None else key, **kw)


FINDER = dict(num_steps=T, batch_size=BS, smoothing=0.0, key=KEY)


def test_finder_candidate_is_fit_bit_for_bit():
    r = 0.05
    found = jaxlr.parallel_lr_find(init, loss, DATA, lrs=[r], optimizer=jaxlr.adam, **FINDER)
    _, hist = fit(jaxlr.adam(r))
    np.testing.assert_array_equal(found.losses[0, 0], hist.train["loss"])
    # a built jaxlr optimizer: its rate is replaced, its other hyperparameters kept
    found = jaxlr.parallel_lr_find(init, loss, DATA, lrs=[r], optimizer=jaxlr.adam(1.0, b1=0.5),
                                   **FINDER)
    _, hist = fit(jaxlr.adam(r, b1=0.5))
    np.testing.assert_array_equal(found.losses[0, 0], hist.train["loss"])


def test_range_test_is_fit_with_the_ramp():
    found = jaxlr.lr_find(init, loss, DATA, min_lr=1e-3, max_lr=1.0, num_steps=T,
                          batch_size=BS, optimizer=jaxlr.sgd, smoothing=0.0, key=KEY)
    ramp = jaxlr.exponential_decay(1e-3, 1e3, decay_steps=T - 1, end_value=1.0)
    # the ramp is evaluated once and read from a table in every update: its values are the
    # schedule's (to the last bit of float32 exp) and fit with that table is the same run
    np.testing.assert_allclose(found.lrs, ramp(np.arange(T)), rtol=1e-6)
    _, hist = fit(jaxlr.sgd(jaxlr.schedules.table(found.lrs.astype(np.float32))), key=KEY)
    np.testing.assert_array_equal(found.losses, hist.train["loss"])
    _, hist = fit(jaxlr.sgd(ramp), key=KEY)
    np.testing.assert_allclose(found.losses, hist.train["loss"], rtol=1e-5)


def test_sweep_trial_is_fit_bit_for_bit():
    task = (init, loss, DATA, VALID)
    res = jaxlr.sweep_task(task, space=jaxlr.grid({"learning_rate": [0.03]}), key=KEY,
                           steps=T, batch_size=BS, optimizer="adam")
    state, hist = fit(jaxlr.adam(0.03), key=KEY)
    np.testing.assert_array_equal(res.curves["train_loss"][0], hist.train["loss"])
    assert res.metrics["valid_loss"][0] == pytest.approx(float(loss(state.params, VALID)),
                                                         rel=1e-6)
    # refit reproduces the trial and returns the state fit returns
    out = res.refit(key=KEY)
    np.testing.assert_array_equal(out.curve, hist.train["loss"])
    jax.tree_util.tree_map(np.testing.assert_array_equal, out.params, state.params)


def test_lane_in_a_population_equals_the_lane_alone():
    lrs = [0.01, 0.03, 0.05, 0.08, 0.1, 0.2, 0.3, 0.5]
    many = jaxlr.parallel_lr_find(init, loss, DATA, lrs=lrs, chunk_size=None, **FINDER)
    for i in (0, 2, 7):
        alone = jaxlr.parallel_lr_find(init, loss, DATA, lrs=[lrs[i]], **FINDER)
        np.testing.assert_allclose(many.losses[i, 0], alone.losses[0, 0], rtol=1e-5, atol=1e-7)


# --------------------------------------------------------------------------------------------
# every fit feature in the finders and the sweeps


def _same_in_finder_and_sweep(opt_factory, sweep_opt, *, model=init, loss_fn=loss, rate=0.05,
                              model_state=False):
    found = jaxlr.parallel_lr_find(model, loss_fn, DATA, lrs=[rate], optimizer=opt_factory,
                                   **FINDER)
    _, hist = fit(opt_factory(rate), model=model, loss_fn=loss_fn)
    np.testing.assert_array_equal(found.losses[0, 0], hist.train["loss"])
    res = jaxlr.sweep_task((model, loss_fn, DATA), space=jaxlr.grid({"learning_rate": [rate]}),
                           key=KEY, steps=T, batch_size=BS, optimizer=sweep_opt)
    _, hist = fit(opt_factory(rate), model=model, loss_fn=loss_fn, key=KEY)
    np.testing.assert_array_equal(res.curves["train_loss"][0], hist.train["loss"])


def test_gradient_clipping():
    clipped = lambda lr: jaxlr.adam(lr, max_grad_norm=0.05)  # noqa: E731
    _same_in_finder_and_sweep(clipped, lambda hp, lr: clipped(lr))
    plain = jaxlr.parallel_lr_find(init, loss, DATA, lrs=[0.05], **FINDER)
    found = jaxlr.parallel_lr_find(init, loss, DATA, lrs=[0.05], optimizer=clipped, **FINDER)
    assert not np.array_equal(plain.losses, found.losses)       # the clipping did something


def test_gradient_accumulation():
    acc = lambda lr: jaxlr.accumulate_gradients(jaxlr.sgd(lr), 2)  # noqa: E731
    _same_in_finder_and_sweep(acc, lambda hp, lr: acc(lr))


def test_model_state_and_dropout_keys():
    def init_ms(key):
        return jaxlr.Variables(init(key), {"mean": jnp.zeros(3)})

    def loss_ms(p, ms, batch, *, key):
        x, y = batch
        mask = jax.random.bernoulli(key, 0.8, x.shape).astype(jnp.float32) / 0.8          # dropout on the inputs
        new_ms = {"mean": 0.9 * ms["mean"] + 0.1 * jnp.mean(x, axis=0)}
        return jnp.mean(((x * mask - ms["mean"]) @ p["w"] + p["b"] - y) ** 2), new_ms

    _same_in_finder_and_sweep(jaxlr.sgd, "sgd", model=init_ms, loss_fn=loss_ms)
    state, _ = fit(jaxlr.sgd(0.05), model=init_ms, loss_fn=loss_ms)
    assert float(jnp.abs(state.model_state["mean"]).sum()) > 0        # the state was updated


def test_plateau_and_early_stopping_in_the_finder():
    flat = lambda p, b: {"loss": jnp.float32(1.0)}  # noqa: E731 - never improves
    plateau = jaxlr.controllers.reduce_on_plateau(factor=0.5, patience=0)
    found = jaxlr.parallel_lr_find(init, loss, DATA, lrs=[0.05], valid_data=VALID, eval_fn=flat,
                                   eval_every=3, plateau=plateau, monitor="val_loss", **FINDER)
    _, hist = fit(jaxlr.adam(0.05), valid_data=VALID,
                  eval_fn=flat, eval_every=3, plateau=plateau)
    assert hist.reductions.size > 0
    np.testing.assert_array_equal(found.losses[0, 0], hist.train["loss"])
    stop = jaxlr.early_stopping(patience=1)
    found = jaxlr.parallel_lr_find(init, loss, DATA, lrs=[0.05, 0.1], valid_data=VALID,
                                   eval_fn=flat, eval_every=3, early_stopping=stop, **FINDER)
    _, hist = fit(jaxlr.adam(0.05), valid_data=VALID, eval_fn=flat, eval_every=3,
                  early_stopping=stop)
    assert hist.stop_reason == "early_stopping"
    n = len(hist.train["loss"])                 # the finder's lane froze where fit stopped
    np.testing.assert_allclose(found.losses[0, 0, :n], hist.train["loss"], rtol=1e-5)


# --------------------------------------------------------------------------------------------
# compile by value


def _counted(counter):
    def loss_fn(p, batch):
        counter.append(1)
        return loss(p, batch)
    return loss_fn


def test_fit_fresh_optimizers_and_schedules_compile_once():
    from jaxlr.engine import _fit

    calls = []
    lf = _counted(calls)
    fit(jaxlr.adam(jaxlr.warmup_cosine(0.01, 3, 20)), loss_fn=lf, chunk_size=8)
    before, n = _fit._chunk_jit._cache_size(), len(calls)
    for peak in (0.02, 0.05):
        fit(jaxlr.adam(jaxlr.warmup_cosine(peak, 3, 20)), loss_fn=lf, chunk_size=8)
    assert _fit._chunk_jit._cache_size() == before and len(calls) == n


def test_finders_fresh_partials_and_lambdas_compile_once():
    calls = []

    def run(lo):
        lf = lambda p, b: (calls.append(1), loss(p, b))[1]  # noqa: E731 - fresh lambda
        opt = functools.partial(jaxlr.momentum, momentum=0.9)  # fresh partial
        jaxlr.parallel_lr_find(init, lf, DATA, min_lr=lo, max_lr=1.0, num_lrs=4,
                               optimizer=opt, **FINDER)
        jaxlr.lr_find(init, lf, DATA, min_lr=lo, max_lr=1.0, num_steps=T, batch_size=BS,
                      optimizer=opt, smoothing=0.0, key=KEY)

    run(1e-3)
    n = len(calls)
    run(1e-2)
    assert len(calls) == n


def test_sweeps_and_strategies_fresh_objects_compile_once():
    calls = []

    def task():
        return (lambda k: init(k), lambda p, b: (calls.append(1), loss(p, b))[1], DATA, VALID)

    space = {"learning_rate": jaxlr.loguniform(1e-3, 1e-1)}
    kw = dict(space=space, steps=T, batch_size=BS, num_trials=4)

    def run(seed):
        jaxlr.sweep_task(task(), key=seed, **kw)
        jaxlr.sweep_task(task(), key=seed, strategy="successive_halving", **kw)
        jaxlr.sweep_task(task(), key=seed, strategy="pbt", options={"interval": 4}, **kw)

    run(0)
    n = len(calls)
    run(1)
    assert len(calls) == n
    # jaxlr.sweep with a fresh lambda train_fn
    seen = []

    def sweep():
        fn = lambda hp, key: (seen.append(1), {"loss": hp["lr"] ** 2})[1]  # noqa: E731
        return jaxlr.sweep(fn, {"lr": jaxlr.uniform(0.0, 1.0)}, num_trials=3, key=0)

    sweep()
    m = len(seen)
    sweep()
    assert len(seen) == m
