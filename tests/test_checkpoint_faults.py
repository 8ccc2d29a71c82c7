"""Checkpoints under faults: kill -9 during saves, damaged files, foreign checkpoints, full disks,
unwritable directories, and the directory check that runs before training."""

import errno
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import warnings

import chex
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest
from etils import epath

import jaxlr
from jaxlr.engine import _checkpoint as ck
from jaxlr.engine._checkpoint import CheckpointError, CheckpointManager, check_directory

# Built the same way in this process and in the child processes (kept in one string).
BUILD = textwrap.dedent("""
    import jax, jax.numpy as jnp, jaxlr

    def make_state(step=0, *, width=3, opt=None, key=True, dtype=jnp.float32):
        params = {"w": (jnp.arange(4 * width, dtype=jnp.float32).reshape(4, width) / 7
                        ).astype(dtype),
                  "b": jnp.zeros(width, dtype)}
        if opt is None:
            opt = jaxlr.adamw(jaxlr.warmup_cosine(0.05, warmup_steps=3, total_steps=20),
                              weight_decay=1e-3)
        state = jaxlr.TrainState.create(params, opt,
                                        key=jax.random.key(42) if key else None,
                                        plateau=jaxlr.controllers.reduce_on_plateau(factor=0.5))

        def move(x):  # every leaf depends on the step, so a step is recognisable bit for bit
            if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
                return jax.random.fold_in(x, step)
            if x.dtype == jnp.bool_:
                return jnp.logical_xor(x, jnp.asarray(step % 2 == 1))
            return x + jnp.asarray(step % 100 + 1, x.dtype)

        return jax.tree.map(move, state).replace(step=jnp.asarray(step, jnp.int32))
""")
_ns: dict = {}
exec(BUILD, _ns)  # noqa: S102 - test helper
make_state = _ns["make_state"]


def raw(tree):
    return jax.tree.map(
        lambda x: jax.random.key_data(x)
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x, tree)


def assert_same(a, b):
    chex.assert_trees_all_equal_structs(a, b)
    chex.assert_trees_all_equal(raw(a), raw(b))
    chex.assert_trees_all_equal_dtypes(raw(a), raw(b))


def _child_env():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(ck.__file__))))
    path = [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=os.pathsep.join(path))


# --------------------------------------------------------------------------- a pristine directory


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """Steps 3 and 6 of the same run (copied by each test that damages it)."""
    d = tmp_path_factory.mktemp("pristine") / "ckpt"
    with CheckpointManager(d) as m:
        m.save(make_state(3), 3)
        m.save(make_state(6), 6)
    return d


@pytest.fixture
def ckdir(pristine, tmp_path):
    d = tmp_path / "ckpt"
    shutil.copytree(pristine, d)
    return d


def _step_files():
    """The files of a real step directory, by path (hash-named data files grouped)."""
    with tempfile.TemporaryDirectory() as d:
        CheckpointManager(d).save(make_state(1), 1)
        groups = set()
        for root, _, names in os.walk(os.path.join(d, "1")):
            for n in names:
                rel = os.path.relpath(os.path.join(root, n), os.path.join(d, "1"))
                groups.add(_group(rel))
    return sorted(groups)


def _group(rel):
    parts = rel.replace(os.sep, "/").split("/")
    if re.fullmatch(r"[0-9a-f]{16,}", parts[-1]):
        parts[-1] = "*"
    return "/".join(parts)


STEP_FILES = _step_files()


def test_step_files_cover_orbax_and_jaxlr_files():
    # the parametrization below really walks what orbax writes (and jaxlr's two files)
    assert "jaxlr_checksums.json" in STEP_FILES
    assert "_CHECKPOINT_METADATA" in STEP_FILES
    assert any(f.startswith("state/") and f.endswith("_METADATA") for f in STEP_FILES)
    assert any(f.endswith("/*") for f in STEP_FILES)  # tensor data
    assert any(f.startswith("jaxlr/") for f in STEP_FILES)


def _members(step_dir, group):
    out = []
    for root, _, names in os.walk(step_dir):
        for n in names:
            rel = os.path.relpath(os.path.join(root, n), step_dir)
            if _group(rel) == group:
                out.append(rel)
    return sorted(out)


def _damage(path, how, rng):
    with open(path, "rb") as f:
        data = f.read()
    if how == "truncate":
        new = data[: len(data) // 2]
    elif how == "empty":
        new = b""
    elif how == "garble":
        new = bytes(rng.getrandbits(8) for _ in range(max(len(data), 16)))
    else:  # flip one bit in the middle
        i = len(data) // 2
        new = data[:i] + bytes([data[i] ^ 0x10]) + data[i + 1:]
    assert new != data
    with open(path, "wb") as f:
        f.write(new)


# --------------------------------------------------------------------------- damaged files


@pytest.mark.parametrize("how", ["truncate", "empty", "garble", "flip"])
@pytest.mark.parametrize("group", STEP_FILES)
def test_damaged_file_is_reported_and_fallback_resumes(ckdir, pristine, tmp_path, group, how):
    rng = random.Random(f"{group}/{how}")
    target = make_state(0)
    members = _members(ckdir / "6", group)
    assert members, group
    for rel in members:  # each file of the group in turn, on a fresh copy
        shutil.rmtree(ckdir)
        shutil.copytree(pristine, ckdir)
        _damage(ckdir / "6" / rel, how, rng)
        m = CheckpointManager(ckdir)
        with pytest.raises(CheckpointError) as info:
            m.restore(target)
        e = info.value
        msg = str(e)
        assert type(e) is CheckpointError and isinstance(e, ValueError)
        assert e.step == 6 and e.damaged and e.directory == str(ckdir)
        assert msg.startswith("CheckpointManager.restore: step 6 in ") and str(ckdir) in msg
        assert "is damaged" in msg
        if not rel.startswith("jaxlr_checksums"):
            assert rel in msg, msg  # which file
        assert "on_damaged='fallback') would resume from step 3" in msg
        assert "left in place" in msg
        # the explicit step, too
        with pytest.raises(CheckpointError, match="step 6 .* is damaged"):
            m.restore(target, 6)
        with pytest.warns(RuntimeWarning, match=r"skipped the damaged step 6 .*left in place"):
            state, step = m.restore_latest(target, on_damaged="fallback")
        assert step == 3
        assert_same(state, make_state(3))
        assert os.path.exists(ckdir / "6" / rel)  # never deleted
        assert sorted(os.listdir(ckdir)) == ["3", "6"]
        assert m.all_steps() == [3, 6]


def test_emptied_step_directory(ckdir):
    for p in (ckdir / "6").iterdir():
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    with pytest.raises(CheckpointError, match=r"step 6 in .* is damaged: its directory is empty"
                       r".*would resume from step 3"):
        jaxlr.restore_checkpoint(ckdir, make_state(0))
    with pytest.warns(RuntimeWarning, match="step 6") as rec:
        state = jaxlr.restore_checkpoint(ckdir, make_state(0), on_damaged="fallback")
    assert_same(state, make_state(3))
    with pytest.warns(RuntimeWarning, match="step 6") as rec2:
        state, step = CheckpointManager(ckdir).restore_latest(make_state(0), on_damaged="fallback")
    assert step == 3
    assert_same(state, make_state(3))
    assert rec[0].filename == rec2[0].filename == __file__  # the warnings point at the caller
    assert os.path.isdir(ckdir / "6")


@pytest.mark.parametrize("part", ["state", "jaxlr", "jaxlr_checksums.json", "state/d"])
def test_truncated_step_directory(ckdir, part):
    p = ckdir / "6" / part
    shutil.rmtree(p) if p.is_dir() else p.unlink()
    with pytest.raises(CheckpointError, match=r"step 6 in .* is damaged: .*(missing)"):
        CheckpointManager(ckdir).restore(make_state(0))


def test_orbax_failures_behind_good_checksums_are_wrapped(ckdir):
    # damage that the checksums cannot see (they were recomputed after it): orbax itself fails
    # while reading, and its exception is chained, never raised
    (ckdir / "6" / "state" / "_METADATA").write_bytes(b"\xff\xfe not json")
    ck._write_json_atomic(str(ckdir / "6" / ck._CHECKSUMS),
                          {"algorithm": "crc32", "files": ck._checksums(str(ckdir / "6"))})
    with pytest.raises(CheckpointError, match=r"step 6 .* is damaged: its arrays cannot be "
                       r"read .*would resume from step 3") as info:
        CheckpointManager(ckdir).restore(make_state(0))
    assert info.value.__cause__ is not None
    assert not isinstance(info.value.__cause__, CheckpointError)
    for f in (ckdir / "6" / "state" / "d").iterdir():
        f.write_bytes(os.urandom(f.stat().st_size))
    (ckdir / "6" / "state" / "_METADATA").write_bytes((ckdir / "3" / "state" / "_METADATA")
                                                       .read_bytes())
    ck._write_json_atomic(str(ckdir / "6" / ck._CHECKSUMS),
                          {"algorithm": "crc32", "files": ck._checksums(str(ckdir / "6"))})
    with pytest.raises(CheckpointError, match=r"its arrays cannot be read") as info:
        CheckpointManager(ckdir).restore(make_state(0))
    assert info.value.__cause__ is not None


def test_every_step_damaged(ckdir):
    for s in ("3", "6"):
        (ckdir / s / "_CHECKPOINT_METADATA").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"step 6 .* is damaged: .*No older step is intact"):
        CheckpointManager(ckdir).restore_latest(make_state(0))
    with pytest.warns(RuntimeWarning) as rec, pytest.raises(
            CheckpointError, match=r"no intact checkpoint in .*step 6: .*step 3: ") as info:
        CheckpointManager(ckdir).restore_latest(make_state(0), on_damaged="fallback")
    assert [re.search(r"step (\d)", str(w.message)).group(1) for w in rec] == ["6", "3"]
    assert info.value.step is None
    assert sorted(os.listdir(ckdir)) == ["3", "6"]


def test_on_damaged_is_checked(ckdir):
    m = CheckpointManager(ckdir)
    with pytest.raises(ValueError, match=re.escape("on_damaged='skip'")):
        m.restore_latest(make_state(0), on_damaged="skip")
    with pytest.raises(TypeError, match="on_damaged=True"):
        m.restore_latest(make_state(0), on_damaged=True)
    with pytest.raises(ValueError, match="cannot be combined with step=3"):
        jaxlr.restore_checkpoint(ckdir, make_state(0), step=3, on_damaged="fallback")
    with pytest.raises(FileNotFoundError, match="no step 4 .* steps 3, 6"):
        m.restore(make_state(0), 4)


def test_restore_latest_without_checkpoints(tmp_path):
    target = make_state(0)
    state, step = CheckpointManager(tmp_path / "none").restore_latest(target)
    assert step is None and state is target
    with pytest.raises(FileNotFoundError, match="no checkpoint in"):
        CheckpointManager(tmp_path).restore(target)


# --------------------------------------------------------------------------- foreign checkpoints


@pytest.mark.parametrize("other, words", [
    ({"width": 5}, (r"the leaf \.params\['b'\] has shape \(5,\) in the checkpoint but \(3,\) "
                    r"in the target")),
    ({"opt": jaxlr.sgd(0.1)}, r"the first differing leaf is \.opt_state"),
    ({"key": False}, (r"the first differing leaf is \.plateau\.scale in the checkpoint but "
                      r"\.key in the target")),
    ({"dtype": jnp.bfloat16}, (r"the leaf \.params\['b'\] has dtype bfloat16 in the checkpoint "
                               r"but float32 in the target")),
])
def test_checkpoint_of_another_model(tmp_path, other, words):
    d = tmp_path / "ck"
    jaxlr.save_checkpoint(d, make_state(4, **other))
    for on_damaged in ("raise", "fallback"):  # a mismatch is never skipped
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(CheckpointError, match=r"restore_checkpoint: step 4 in .* holds "
                               r"another state than the target: " + words) as info:
                jaxlr.restore_checkpoint(d, make_state(0), on_damaged=on_damaged)
    assert not info.value.damaged
    assert "Build the target exactly like the saved state" in str(info.value)
    assert info.value.__cause__ is None or not isinstance(info.value.__cause__, CheckpointError)


def test_longer_and_shorter_trees(tmp_path):
    d = tmp_path / "ck"
    jaxlr.save_checkpoint(d, {"a": jnp.ones(2)}, step=1)
    with pytest.raises(CheckpointError, match=r"holds 1 arrays and the target 2; the first leaf "
                       r"only in the target is \['b'\]"):
        jaxlr.restore_checkpoint(d, {"a": jnp.ones(2), "b": jnp.ones(2)})


def test_foreign_orbax_checkpoint_and_old_flat_format(tmp_path):
    # another program's orbax checkpoint
    d = tmp_path / "other"
    with ocp.StandardCheckpointer() as c:
        c.save((d / "5").absolute(), {"w": jnp.ones(3)})
    with pytest.raises(CheckpointError, match=r"step 5 in .* is not a jaxlr checkpoint.*another "
                       r"program.*flat checkpoints are not readable") as info:
        jaxlr.restore_checkpoint(d, make_state(0))
    assert not info.value.damaged
    # jaxlr's former layout: an orbax CheckpointManager item "default" of flat leaves
    d = tmp_path / "flat"
    opts = ocp.CheckpointManagerOptions(enable_async_checkpointing=False)
    with ocp.CheckpointManager(d.absolute(), options=opts) as m:
        m.save(2, args=ocp.args.StandardSave({"00000": np.zeros(3, np.float32)}))
    with pytest.raises(CheckpointError, match=r"step 2 in .* is not a jaxlr checkpoint \(it "
                       r"holds .*'default'"):
        jaxlr.restore_checkpoint(d, make_state(0))
    with pytest.raises(CheckpointError, match="not a jaxlr checkpoint"):
        jaxlr.restore_checkpoint(d, make_state(0), on_damaged="fallback")


def test_record_of_a_newer_format(ckdir):
    rec = ckdir / "6" / "jaxlr" / "metadata"
    doc = json.loads(rec.read_text())
    doc["version"] = 99
    rec.write_text(json.dumps(doc))
    ck._write_json_atomic(str(ckdir / "6" / ck._CHECKSUMS),
                          {"algorithm": "crc32", "files": ck._checksums(str(ckdir / "6"))})
    with pytest.raises(CheckpointError, match="format version 99.*reads version 1"):
        CheckpointManager(ckdir).restore(make_state(0))


# --------------------------------------------------------------------------- resources


_RESTORE_FAILS = textwrap.dedent("""
    import os, sys
    from jaxlr.engine import _checkpoint as ck
    d = sys.argv[1]
    m = ck.CheckpointManager(d)          # used like fit does: no close() after the failure
    m.save(make_state(3), 3)
    for f in os.scandir(os.path.join(d, "3", "state", "d")):
        with open(f.path, "r+b") as fh:
            fh.write(os.urandom(64))
    # checksums recomputed: orbax itself reads the damaged files and fails mid-restore
    ck._write_json_atomic(os.path.join(d, "3", ck._CHECKSUMS),
                          {"algorithm": "crc32", "files": ck._checksums(os.path.join(d, "3"))})
    for _ in range(8):  # orbax's in-flight reads do not always outlive its event loop
        try:
            m.restore(make_state(0), 3)
        except ck.CheckpointError as e:
            assert "its arrays cannot be read" in str(e), e
    print("restore failed cleanly")
""")


@pytest.mark.slow
def test_failed_restore_leaves_nothing_open(tmp_path):
    res = subprocess.run([sys.executable, "-W", "always::ResourceWarning", "-c",
                          BUILD + _RESTORE_FAILS, str(tmp_path / "ck")], capture_output=True,
                         text=True, env=_child_env(), timeout=240, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "restore failed cleanly" in res.stdout
    for bad in ("Event loop is closed", "ResourceWarning", "Traceback", "unclosed"):
        assert bad not in res.stderr, res.stderr[-3000:]


def test_manager_is_a_context_manager(tmp_path):
    with CheckpointManager(tmp_path / "ck") as m:
        m.save(make_state(1), 1)
        assert m.latest_step() == 1
    assert "CheckpointManager(" in repr(m)


# --------------------------------------------------------------------------- kill -9 during saves


_SAVER = textwrap.dedent("""
    import sys
    from jaxlr.engine._checkpoint import CheckpointManager
    m = CheckpointManager(sys.argv[1], max_to_keep=3)
    step = 0
    while True:
        m.save(make_state(step), step)
        print(f"saved {step}", flush=True)
        step += 1
""")


KILL_SEEDS = (0, 1, 2)


def _run_and_kill(d, seed, out):
    """Saves in a loop in a child process and SIGKILLs it at a random point of a save."""
    proc = subprocess.Popen([sys.executable, "-c", BUILD + _SAVER, str(d)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_child_env())
    try:
        first = proc.stdout.readline()  # the first save is done: imports and compilation paid
        if first.startswith("saved 0"):
            time.sleep(random.Random(seed).uniform(0.0, 0.5))
            os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        rest, err = proc.communicate(timeout=120)
    out[seed] = (first + rest, err, proc.returncode)


@pytest.mark.slow
def test_kill_during_saves_then_resume(tmp_path):
    # the savers run side by side (their start-up dominates), one directory each
    out: dict = {}
    threads = [threading.Thread(target=_run_and_kill, args=(tmp_path / f"ck{seed}", seed, out))
               for seed in KILL_SEEDS]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    for seed in KILL_SEEDS:
        d = tmp_path / f"ck{seed}"
        stdout, stderr, rc = out[seed]
        assert rc == -signal.SIGKILL, (seed, stderr[-3000:])
        saved = [int(x.split()[1]) for x in stdout.splitlines() if x.startswith("saved")]
        m = CheckpointManager(d)
        steps = m.all_steps()
        # every step reported saved is there (bar those max_to_keep pruned); at most one more:
        # a save that completed (and pruned the oldest) before it could be reported
        assert steps[-1] in (saved[-1], saved[-1] + 1), (seed, steps, saved)
        done = saved + [steps[-1]] if steps[-1] == saved[-1] + 1 else saved
        assert len(steps) <= 4 and set(done[-3:]) <= set(steps), (seed, steps, saved)
        # a fresh process sees whole steps only: no warning, the newest comes back bit for bit
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            state, step = m.restore_latest(make_state(0), on_damaged="fallback")
        assert step == steps[-1], seed
        assert_same(state, make_state(step))
        for s in steps[:-1]:  # the older ones are intact too (checksums and record)
            with ck._checkpointer(ocp) as c:
                m._precheck("test", s, c, ck._abstract("test", make_state(0))[1], hint=False)
        # what an interrupted save leaves is jaxlr's own: the directory check passes, and
        # saving the interrupted step again clears it
        check_directory("fit", d)
        m.save(make_state(step + 1), step + 1)
        assert [n for n in os.listdir(d) if n.startswith(f"{step + 1}.")] == [], seed
        assert m.latest_step() == step + 1


class _Crash(BaseException):
    """A process dying at this point: nothing after it runs (cleanup is switched off)."""


class _Death:
    """Once the process "died", every patched call dies too (so no cleanup can run)."""

    def __init__(self):
        self.dead = False

    def at(self, real, when=lambda *args: True):
        def wrapped(*args, **kwargs):
            if self.dead or when(*args):
                self.dead = True
                raise _Crash
            return real(*args, **kwargs)
        return wrapped


@pytest.mark.parametrize("point", ["orbax-write", "checksums-written", "before-rename",
                                   "move-aside", "prune"])
def test_crash_at_each_point_of_a_save(ckdir, monkeypatch, point):
    # deterministic companions of the kill -9 test: the process dies exactly here
    m = CheckpointManager(ckdir, max_to_keep=2 if point == "prune" else None)
    step, expect = 9, 6
    death = _Death()
    is_tmp = lambda src, *args: str(src).endswith(ck._TMP)
    with monkeypatch.context() as mp:
        # the clean-up of leftovers (at the start of a save) works until the "death"
        mp.setattr(CheckpointManager, "_remove_partial",
                   death.at(CheckpointManager._remove_partial, lambda *args: False))
        if point == "orbax-write":  # some array data written, then death
            real = ocp.StandardCheckpointHandler.async_save

            async def async_save(self, *args, **kwargs):
                for f in await real(self, *args, **kwargs) or []:
                    f.result()  # the array data is written (nothing left in flight) ...
                raise _Crash  # ... and the process dies before orbax finalizes the save

            mp.setattr(ocp.StandardCheckpointHandler, "async_save", async_save)
        elif point == "checksums-written":  # checksum file written, not yet renamed in place
            mp.setattr(ck.os, "replace", death.at(os.replace))
        elif point in ("before-rename", "move-aside"):
            if point == "move-aside":  # step 6 again: the old one moved aside, the new not in
                step, expect = 6, 3
            mp.setattr(ck.os, "rename", death.at(os.rename, is_tmp))
        else:  # max_to_keep: step 3 renamed for deletion, the deletion not done
            expect = 9
            mp.setattr(ck.shutil, "rmtree", death.at(shutil.rmtree))
        with pytest.raises(_Crash):
            m.save(make_state(step), step)
    fresh = CheckpointManager(ckdir, max_to_keep=2 if point == "prune" else None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        state, got = fresh.restore_latest(make_state(0), on_damaged="fallback")
    assert got == expect
    assert_same(state, make_state(expect))
    assert fresh.all_steps() == {"prune": [6, 9], "move-aside": [3]}.get(point, [3, 6])
    check_directory("fit", ckdir)  # the leftovers are jaxlr's own
    if point == "move-aside":
        assert "6.jaxlr-replaced-1" in os.listdir(ckdir)  # the old step 6, not deleted
    if point == "prune":
        step += 1  # step 9 was saved: save the next one
    fresh.save(make_state(step + 1), step)  # saving that step again works, leftovers go
    assert not [n for n in os.listdir(ckdir) if n.startswith(f"{step}.jaxlr-tmp")]
    assert_same(fresh.restore(make_state(0), step), make_state(step + 1))
    if point == "prune":  # the interrupted deletion was finished by the next prune
        assert sorted(os.listdir(ckdir)) == ["10", "9"]


# --------------------------------------------------------------------------- failing saves


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


async def _enospc_async(*args, **kwargs):
    _enospc()


def _check_failed_save(d, before, state, exc, step=9):
    msg = str(exc.value)
    assert type(exc.value) is OSError and exc.value.errno == errno.ENOSPC
    assert msg.startswith(f"CheckpointManager.save: could not save step {step} in ")
    assert str(d) in msg and "the disk is full" in msg
    assert "existing steps 3, 6 are untouched" in msg and "state in memory is unchanged" in msg
    assert "no partial files are left" in msg
    assert exc.value.__cause__ is not None
    assert sorted(os.listdir(d)) == ["3", "6"]  # nothing partial, nothing deleted
    m = CheckpointManager(d)
    assert_same(m.restore(make_state(0), 3), make_state(3))
    assert_same(m.restore(make_state(0)), make_state(6))
    assert_same(state, before)  # untouched in memory ...
    other = d.parent / "elsewhere"
    jaxlr.save_checkpoint(other, state)  # ... and can be saved elsewhere
    assert_same(jaxlr.restore_checkpoint(other, make_state(0)), before)


def test_disk_full_in_the_array_writer(ckdir, monkeypatch):
    state, before = make_state(9), make_state(9)
    m = CheckpointManager(ckdir, max_to_keep=1)
    with monkeypatch.context() as mp:
        mp.setattr(ocp.StandardCheckpointHandler, "async_save", _enospc_async)
        with pytest.raises(OSError) as exc:
            m.save(state, 9)
    _check_failed_save(ckdir, before, state, exc)


def test_disk_full_in_a_metadata_write(ckdir, monkeypatch):
    state, before = make_state(9), make_state(9)
    real = epath.Path.write_text

    def write_text(self, *args, **kwargs):
        if str(ckdir) in str(self):
            _enospc()
        return real(self, *args, **kwargs)

    with monkeypatch.context() as mp:
        mp.setattr(epath.Path, "write_text", write_text)
        with pytest.raises(OSError) as exc:
            CheckpointManager(ckdir, max_to_keep=2).save(state, 9)
    _check_failed_save(ckdir, before, state, exc)


def test_disk_full_while_writing_the_checksums(ckdir, monkeypatch):
    # the last write of a save (orbax is done): the step still never appears
    state, before = make_state(9), make_state(9)
    with monkeypatch.context() as mp:
        mp.setattr(ck.os, "fsync", _enospc)
        with pytest.raises(OSError) as exc:
            CheckpointManager(ckdir).save(state, 9)
    _check_failed_save(ckdir, before, state, exc)


def test_interrupt_during_save_is_not_converted(ckdir, monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as mp:
        mp.setattr(ck.os, "fsync", interrupt)
        with pytest.raises(KeyboardInterrupt):
            CheckpointManager(ckdir).save(make_state(9), 9)
    assert sorted(os.listdir(ckdir)) == ["3", "6"]


def test_unwritable_directory_on_save(ckdir, monkeypatch):
    # simulated (chmod does not stop root, and CI runs as root)
    path_cls = type(epath.Path(ckdir))  # the concrete class orbax's paths are
    real = path_cls.mkdir

    def mkdir(self, *args, **kwargs):
        if str(ckdir) in str(self):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real(self, *args, **kwargs)

    with monkeypatch.context() as mp:
        mp.setattr(path_cls, "mkdir", mkdir)
        with pytest.raises(OSError, match=r"could not save step 9 in .*: the directory is not "
                           r"writable .*Step 9 was not written") as exc:
            CheckpointManager(ckdir).save(make_state(9), 9)
    assert exc.value.errno == errno.EACCES
    assert sorted(os.listdir(ckdir)) == ["3", "6"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="chmod does not stop root; the simulated cases above run instead")
def test_read_only_directory_for_real(ckdir):
    os.chmod(ckdir, 0o555)
    try:
        with pytest.raises(OSError, match=r"could not save step 9 .*not writable"):
            CheckpointManager(ckdir).save(make_state(9), 9)
        with pytest.raises(ValueError, match="is not writable"):
            check_directory("fit", ckdir)
    finally:
        os.chmod(ckdir, 0o755)
    assert sorted(os.listdir(ckdir)) == ["3", "6"]


def test_save_into_a_regular_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(OSError, match=r"save_checkpoint: could not save step 1 in .*file.*not a "
                       r"directory") as exc:
        jaxlr.save_checkpoint(f, make_state(1))
    assert exc.value.errno == errno.ENOTDIR
    assert f.read_text() == "x"


def test_saving_an_existing_step_moves_it_aside(ckdir):
    m = CheckpointManager(ckdir)
    with pytest.warns(RuntimeWarning, match=r"already held a step 6; it was moved to "
                      r"'6\.jaxlr-replaced-1' \(not deleted\)") as rec:
        m.save(make_state(7), 6)
    assert rec[0].filename == __file__
    assert sorted(os.listdir(ckdir)) == ["3", "6", "6.jaxlr-replaced-1"]
    assert m.all_steps() == [3, 6]
    assert_same(m.restore(make_state(0), 6), make_state(7))
    check_directory("fit", ckdir)


def test_max_to_keep_prunes_only_after_a_good_save(tmp_path):
    m = CheckpointManager(tmp_path / "ck", max_to_keep=2)
    for s in range(4):
        m.save(make_state(s), s)
    assert sorted(os.listdir(tmp_path / "ck")) == ["2", "3"]


def test_bad_leaves_are_refused_before_writing(tmp_path):
    with pytest.raises(TypeError, match=r"save_checkpoint: the state leaf \['name'\] "
                       r"is a str"):
        jaxlr.save_checkpoint(tmp_path / "ck", {"w": jnp.ones(2), "name": "x"}, step=1)
    assert not (tmp_path / "ck" / "1").exists()


# --------------------------------------------------------------------------- the directory check


def test_check_directory_accepts_new_and_jaxlr_directories(tmp_path, ckdir):
    new = tmp_path / "a" / "b" / "c"
    assert check_directory("fit", new) == str(new)
    assert not (tmp_path / "a").exists()  # nothing left behind by the check
    assert check_directory("fit", str(ckdir)) == str(ckdir)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert check_directory("fit", empty) == str(empty)
    # leftovers of interrupted saves and of orbax are jaxlr's own
    for n in ("7.jaxlr-tmp", "7.jaxlr-tmp.orbax-checkpoint-tmp-123", "2.jaxlr-deleting",
              "6.jaxlr-replaced-1", "metadata"):
        (ckdir / n).mkdir()
    (ckdir / ".jaxlr-write-probe-abc").write_text("")
    assert check_directory("fit", ckdir) == str(ckdir)
    assert CheckpointManager(ckdir).all_steps() == [3, 6]


def test_check_directory_refuses_a_regular_file(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("x")
    with pytest.raises(ValueError, match=r"fit: `checkpoint_dir` must be a directory; got "
                       r"checkpoint_dir='.*notes\.txt', which is a regular file\. Pass a "
                       r"directory path"):
        check_directory("fit", f)
    with pytest.raises(ValueError, match=r"cannot be created: '.*notes\.txt' is not a directory"):
        check_directory("fit", f / "sub")
    with pytest.raises(ValueError, match=r"save_checkpoint: `directory` must be a directory"):
        check_directory("save_checkpoint", f, name="directory")


def test_check_directory_refuses_foreign_content(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    for n in ("README.md", "5"):
        (d / n).write_text("x")  # a *file* named like a step is foreign too
    for n in ("data", "checkpoint_100", "06"):
        (d / n).mkdir()
    with pytest.raises(ValueError, match=r"holds entries that are not jaxlr checkpoints: '06', "
                       r"'5', 'README.md', 'checkpoint_100', 'data'\. Use an empty or "
                       r"jaxlr-created directory") as info:
        check_directory("fit", d)
    assert str(d) in str(info.value)
    for i in range(4):
        (d / f"x{i}").write_text("")
    with pytest.raises(ValueError, match=r"and 4 more"):
        check_directory("fit", d)


def test_check_directory_refuses_an_unwritable_directory(tmp_path, monkeypatch):
    # simulated: as root (CI) chmod would not stop the write
    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(ck.tempfile, "mkstemp", denied)
    with pytest.raises(ValueError, match=r"fit: `checkpoint_dir`='.*' is not writable "
                       r"\(PermissionError: Permission denied\)") as info:
        check_directory("fit", tmp_path)
    assert isinstance(info.value.__cause__, PermissionError)
    with pytest.raises(ValueError, match="is not writable"):
        check_directory("fit", tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_check_directory_kinds(tmp_path):
    with pytest.raises(TypeError, match=r"fit: `checkpoint_dir` must be a path .* got "
                       r"checkpoint_dir=3 of type int"):
        check_directory("fit", 3)
    with pytest.raises(TypeError, match="must be a path"):
        check_directory("fit", b"/tmp/x")
    with pytest.raises(ValueError, match="must not be empty"):
        check_directory("fit", "")
    with pytest.raises(TypeError, match="CheckpointManager: `directory` must be a path"):
        CheckpointManager(None)


def test_fit_refuses_a_file_as_checkpoint_dir_before_training(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    executed = []

    def loss_fn(p, batch):
        jax.debug.callback(lambda: executed.append(1))
        return jnp.mean((batch[0] @ p["w"] - batch[1]) ** 2)

    data = (jnp.ones((8, 2)), jnp.ones((8, 1)))
    key = jax.random.key(0)
    opt = jaxlr.sgd(0.1)
    state = jaxlr.TrainState.create({"w": jnp.zeros((2, 1))}, opt)
    jaxlr.fit(loss_fn, opt, state, data, steps=2, batch_size=4, progress=False, key=key)
    jax.effects_barrier()
    assert executed  # the counter does count training steps
    executed.clear()
    with pytest.raises(ValueError, match=r"not a directory|regular file"):
        jaxlr.fit(loss_fn, opt, state, data, steps=2, batch_size=4, progress=False, key=key,
                  checkpoint_dir=str(f))
    jax.effects_barrier()
    assert executed == []  # refused before the first step, not at the final save
    assert f.read_text() == "x"
