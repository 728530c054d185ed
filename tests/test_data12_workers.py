"""DataLoader worker processes (num_workers > 0) against torch.utils.data: sharding by
get_worker_info(), worker_init_fn, the workers' seeds, order, prefetch, persistent workers,
timeout, errors raised in workers, cleanup; then the rest of the data API (samplers,
collate, splits, datasets, DataLoader's argument errors) beside torch's answers.

Worker tests use tiny datasets and at most two workers (the CI machine has two cores: more
would draw torch's "excessive worker creation" warning, which is an error here). Every test
checks that no worker process outlives it."""

import collections
import gc
import multiprocessing
import os
import pickle
import random
import time
import warnings
from multiprocessing.reduction import ForkingPickler

import numpy as np
import pytest

import ember
import ember.creation
import ember.data as ED

torch = pytest.importorskip("torch")
TD = torch.utils.data


@pytest.fixture(autouse=True)
def _no_process_left():
    yield
    gc.collect()  # (an iterator in a reference cycle shuts its workers down when collected)
    assert multiprocessing.active_children() == []


def _struct(x):
    """A library-neutral description of a batch (ember and torch tensors alike)."""
    if isinstance(x, torch.Tensor | ember.Tensor):
        return ("T", str(x.dtype).split(".")[-1], tuple(x.shape), x.tolist())
    if isinstance(x, np.ndarray):
        return ("A", str(x.dtype), x.tolist())
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return ("NT", type(x).__name__, [_struct(v) for v in x])
    if isinstance(x, dict):
        return (type(x).__name__, {k: _struct(v) for k, v in x.items()})
    if isinstance(x, list | tuple):
        return (type(x).__name__, [_struct(v) for v in x])
    return (type(x).__name__, x)


def _both(make):
    """``make(lib)`` with lib = ember.data and torch.utils.data."""
    return make(ED), make(TD)


# ---- datasets defined at module level: 'spawn' workers import them by name ----------------
Pair = collections.namedtuple("Pair", "x label")


def _shards(lib, n=7):
    class Shards(lib.IterableDataset):
        """torch's documented pattern: each worker yields its own slice of the stream."""

        def __iter__(self):
            info = lib.get_worker_info()
            if info is None:
                return iter(range(n))
            return iter(range(info.id, n, info.num_workers))

    return Shards()


class WhoAmI(ED.Dataset):
    """Item i: (i, worker id, worker seed, draws from the worker's random, numpy and ember
    generators, the pid)."""

    def __init__(self, n=6):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        info = ED.get_worker_info()
        return {
            "i": i,
            "id": -1 if info is None else info.id,
            "seed": -1 if info is None else info.seed,
            "py": random.random(),
            "np": float(np.random.random()),
            "ember": float(ember.rand(()).item()),
            "pid": os.getpid(),
        }


def _record_init(worker_id):
    info = ED.get_worker_info()
    assert info is not None and info.id == worker_id
    info.dataset.init_ids.append(worker_id)  # (the worker's own copy of the dataset)


class InitSeen(ED.Dataset):
    def __init__(self):
        self.init_ids = []

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return np.array(self.init_ids, dtype=np.int64)


def _mixed_dataset(lib):
    tensor = ember.tensor if lib is ED else torch.tensor

    class Mixed(lib.Dataset):
        def __len__(self):
            return 7

        def __getitem__(self, i):
            return {
                "x": tensor([i, i + 0.5]),
                "n": i,
                "f": i / 2,
                "s": f"s{i}",
                "arr": np.full((2, 2), i, np.int32),
                "pair": Pair(np.float32(i), i % 2 == 0),
            }

    return Mixed()


# ---- worker processes ------------------------------------------------------------------------
def test_sharding_iterable_dataset_matches_torch_at_two_workers():
    for kw in (dict(batch_size=3), dict(batch_size=None), dict(batch_size=2, drop_last=True)):
        e = [_struct(b) for b in ED.DataLoader(_shards(ED), num_workers=2, **kw)]
        t = [_struct(b) for b in TD.DataLoader(_shards(TD), num_workers=2, **kw)]
        assert e == t, kw
    # every sample exactly once (the bug this replaces: every worker yielded everything)
    batches = ED.DataLoader(_shards(ED, 20), batch_size=3, num_workers=2)
    assert sorted(int(v) for b in batches for v in b) == list(range(20))
    assert ED.get_worker_info() is None


def test_worker_info_seeds_and_worker_init_fn():
    ember.manual_seed(123)
    items = list(ED.DataLoader(WhoAmI(6), batch_size=None, num_workers=2))
    ids = [int(it["id"]) for it in items]
    assert ids == [0, 1, 0, 1, 0, 1]  # tasks dealt to the workers in turn
    seeds = {int(it["id"]): int(it["seed"]) for it in items}
    base = seeds[0]
    assert seeds[1] == base + 1 and 0 <= base < 2**63
    assert len({int(it["pid"]) for it in items} | {os.getpid()}) == 3
    # each worker seeded Python's random and ember's with base_seed + id, NumPy's global one
    # as torch does (its _generate_state hash of base_seed and id)
    from torch.utils.data._utils.worker import _generate_state

    for wid in (0, 1):
        mine = [it for it in items if int(it["id"]) == wid]
        py = random.Random(base + wid)
        assert [float(it["py"]) for it in mine] == [py.random() for _ in mine]
        rs = np.random.RandomState(_generate_state(base, wid))
        assert [float(it["np"]) for it in mine] == [rs.random_sample() for _ in mine]
        ember.manual_seed(base + wid)
        assert [float(it["ember"]) for it in mine] == [ember.rand(()).item() for _ in mine]
    # the base seed is drawn from ember's generator: the same seed, the same workers' seeds
    ember.manual_seed(123)
    again = list(ED.DataLoader(WhoAmI(2), batch_size=None, num_workers=2))
    assert int(again[0]["seed"]) == base
    g = ember.Generator().manual_seed(5)
    first = list(ED.DataLoader(WhoAmI(1), batch_size=None, num_workers=1, generator=g))
    g.manual_seed(5)
    second = list(ED.DataLoader(WhoAmI(1), batch_size=None, num_workers=1, generator=g))
    assert int(first[0]["seed"]) == int(second[0]["seed"]) != base

    ds = InitSeen()
    got = [
        b.tolist()
        for b in ED.DataLoader(ds, batch_size=None, num_workers=2, worker_init_fn=_record_init)
    ]
    assert got == [[0], [1], [0], [1]]
    assert ds.init_ids == []  # the main process's dataset is untouched


def test_same_seed_same_order_at_any_num_workers():
    ds = ED.TensorDataset(np.arange(23))

    def orders(num_workers, **kw):
        ember.manual_seed(7)
        loader = ED.DataLoader(ds, batch_size=4, shuffle=True, num_workers=num_workers, **kw)
        return [[b[0].tolist() for b in loader] for _ in range(2)]

    at0 = orders(0)
    assert at0[0] != at0[1]  # a new order each epoch
    assert sorted(sum(at0[0], [])) == list(range(23))
    assert orders(2) == at0 == orders(1)
    assert orders(2, persistent_workers=True)[0] == at0[0]
    g = ember.Generator().manual_seed(3)
    a = [b[0].tolist() for b in ED.DataLoader(ds, batch_size=5, shuffle=True, generator=g)]
    g.manual_seed(3)
    w = ED.DataLoader(ds, batch_size=5, shuffle=True, generator=g, num_workers=2)
    assert [b[0].tolist() for b in w] == a


@pytest.mark.parametrize("num_workers", [1, 2])
def test_batches_cross_processes_unchanged(num_workers):
    """Every kind of batch (dicts, namedtuples, strings, numbers, arrays, Tensors) comes back
    from the workers as the main process would make it, and as torch makes it."""
    cases = [
        dict(batch_size=3),
        dict(batch_size=3, drop_last=True),
        dict(batch_size=None),
        dict(batch_size=2, collate_fn=lambda b: b),
        dict(batch_sampler=[[6, 0], [3], [1, 2, 5]]),
        dict(batch_size=2, sampler=[5, 1, 3]),
    ]
    for kw in cases:
        at0 = [_struct(b) for b in ED.DataLoader(_mixed_dataset(ED), **kw)]
        got = [_struct(b) for b in ED.DataLoader(_mixed_dataset(ED), num_workers=num_workers, **kw)]
        t = [_struct(b) for b in TD.DataLoader(_mixed_dataset(TD), num_workers=num_workers, **kw)]
        assert got == at0 == t, kw
    x, y = np.arange(40, dtype=np.float32).reshape(20, 2), np.arange(20)
    fast = ED.DataLoader(ED.TensorDataset(x, y), batch_size=6, num_workers=num_workers)
    t = TD.DataLoader(TD.TensorDataset(torch.tensor(x), torch.tensor(y)), batch_size=6)
    assert [_struct(b) for b in fast] == [_struct(b) for b in t]


def test_tensors_and_batches_pickle_back_equal():
    P = Pair
    x = ember.tensor([[1.5, -2.0], [3.0, 4.0]])
    for obj in [
        x,
        x.to(ember.float16),
        x.to(ember.bfloat16),
        ember.arange(6).reshape(2, 3).transpose(0, 1),  # a non-contiguous view
        ember.tensor(True),
        ED.default_collate([{"a": (1, 2.0), "b": P(np.ones(2), "s")}] * 3),
        ED.default_collate([(np.int32(1), [1.0, 2.0])] * 2),
    ]:
        for dumps in (pickle.dumps, lambda o: bytes(ForkingPickler.dumps(o))):
            back = pickle.loads(dumps(obj))
            assert _struct(back) == _struct(obj)
            assert type(back) is type(obj)
    leaf = ember.ones(2, requires_grad=True)
    back = pickle.loads(pickle.dumps(leaf))
    assert back.requires_grad and back.tolist() == [1.0, 1.0]


def test_in_order_false_and_prefetch_factor():
    ds = ED.TensorDataset(np.arange(12))
    loader = ED.DataLoader(ds, batch_size=2, num_workers=2, in_order=False, prefetch_factor=1)
    got = [b[0].tolist() for b in loader]
    assert sorted(got) == [[i, i + 1] for i in range(0, 12, 2)]
    assert loader.prefetch_factor == 1 and ED.DataLoader(ds, num_workers=1).prefetch_factor == 2
    with pytest.raises(AssertionError, match="prefetch_factor must be greater than 0"):
        iter(ED.DataLoader(ds, num_workers=1, prefetch_factor=0))
    for lib in (ED, TD):
        with pytest.raises(ValueError, match="prefetch_factor option should be non-negative"):
            lib.DataLoader(list(range(3)), num_workers=1, prefetch_factor=-1)


def test_persistent_workers_live_across_epochs():
    ds = WhoAmI(4)
    loader = ED.DataLoader(ds, batch_size=None, num_workers=2, persistent_workers=True)
    epochs = [[(int(it["i"]), int(it["pid"])) for it in loader] for _ in range(3)]
    assert [[i for i, _ in e] for e in epochs] == [[0, 1, 2, 3]] * 3
    pids = {p for e in epochs for _, p in e}
    assert len(pids) == 2 and all(p != os.getpid() for p in pids)
    # an epoch left early: the next one starts clean, with the same workers
    for _ in loader:
        break
    assert [(int(it["i"]), int(it["pid"]) in pids) for it in loader] == [
        (i, True) for i in range(4)
    ]
    # a replica stream that ends in one worker and not the other, restarted each epoch
    shards = ED.DataLoader(_shards(ED, 5), batch_size=2, num_workers=2, persistent_workers=True)
    assert [[b.tolist() for b in shards] for _ in range(2)] == [[[0, 2], [1, 3], [4]]] * 2
    del loader, shards
    gc.collect()
    assert multiprocessing.active_children() == []
    # not persistent: new workers every epoch
    loader = ED.DataLoader(ds, batch_size=None, num_workers=1)
    assert {int(it["pid"]) for it in loader}.isdisjoint(int(it["pid"]) for it in loader)


class Slow(ED.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        if i == 1:
            time.sleep(0.6)
        return i


def test_timeout_raises_torchs_error():
    loader = ED.DataLoader(Slow(), batch_size=None, num_workers=1, timeout=0.1)
    it = iter(loader)
    assert int(next(it)) == 0
    with pytest.raises(RuntimeError, match=r"^DataLoader timed out after 0.1 seconds$"):
        next(it)
    del it
    assert [int(v) for v in ED.DataLoader(Slow(), batch_size=None, num_workers=1, timeout=5)] == [
        0,
        1,
        2,
        3,
    ]
    for lib in (ED, TD):  # a timeout needs workers
        with pytest.raises(AssertionError, match="requires timeout == 0"):
            list(lib.DataLoader([1], timeout=1))


class Faulty(ED.Dataset):
    def __init__(self, exc):
        self.exc = exc

    def __len__(self):
        return 4

    def __getitem__(self, i):
        if i == 2:
            raise self.exc
        return i


class TwoArgError(Exception):
    def __init__(self, a, b):
        super().__init__(a, b)


def test_worker_exception_reraised_with_its_traceback():
    it = iter(ED.DataLoader(Faulty(ValueError("bad item")), batch_size=None, num_workers=2))
    assert [int(next(it)), int(next(it))] == [0, 1]
    with pytest.raises(ValueError) as e:
        next(it)
    msg = str(e.value)
    assert msg.startswith("Caught ValueError in DataLoader worker process 0.\nOriginal Traceback")
    assert "in __getitem__" in msg and "ValueError: bad item" in msg
    assert int(next(it)) == 3  # the loader goes on, as torch's
    with pytest.raises(StopIteration):
        next(it)
    with pytest.raises(KeyError) as e:
        list(ED.DataLoader(Faulty(KeyError("k")), num_workers=1))
    assert "Caught KeyError in DataLoader worker process 0" in repr(e.value)  # (not quoted)
    with pytest.raises(RuntimeError, match="Caught TwoArgError"):
        list(ED.DataLoader(Faulty(TwoArgError(1, 2)), num_workers=1))


def test_init_fn_error_and_unpicklable_batch_are_raised_not_hung():
    def bad_init(worker_id):
        raise OSError(f"no shard for {worker_id}")

    with pytest.raises(OSError, match="no shard for 0"):
        list(ED.DataLoader(list(range(4)), num_workers=1, worker_init_fn=bad_init))
    # a batch that cannot be pickled fails in the worker's queue thread: it comes back as
    # an error (torch's loader waits for ever there)
    loader = ED.DataLoader(
        list(range(3)), num_workers=1, collate_fn=lambda b: lambda: b, timeout=20
    )
    with pytest.raises(Exception, match="DataLoader worker process 0"):
        next(iter(loader))


class Dies(ED.Dataset):
    def __len__(self):
        return 3

    def __getitem__(self, i):
        if i == 1:
            os._exit(3)
        return i


def test_a_worker_that_dies_is_reported(monkeypatch):
    monkeypatch.setattr(ED, "_STATUS_INTERVAL", 0.2)
    with pytest.raises(
        RuntimeError, match=r"DataLoader worker \(pid\(s\) \d+\) exited unexpectedly"
    ):
        list(ED.DataLoader(Dies(), batch_size=None, num_workers=1))


def test_workers_end_when_the_loop_breaks_or_the_iterator_goes():
    loader = ED.DataLoader(ED.TensorDataset(np.arange(100)), batch_size=2, num_workers=2)
    for _ in loader:
        break
    assert multiprocessing.active_children() == []
    it = iter(loader)
    next(it)
    workers = list(it._workers)
    assert all(w.is_alive() for w in workers)
    del it
    assert multiprocessing.active_children() == []


def test_iterable_replicas_and_the_length_warning_as_torch():
    def make(lib):
        class Whole(lib.IterableDataset):  # not sharded: every worker yields all of it
            def __iter__(self):
                return iter(range(4))

            def __len__(self):
                return 4

        return Whole()

    # (torch compares the batches yielded with the dataset's length, as here)
    for kw in (dict(batch_size=1), dict(batch_size=None)):
        res = []
        for lib in (ED, TD):
            loader = lib.DataLoader(make(lib), num_workers=2, **kw)
            n = len(loader)
            with pytest.warns(
                UserWarning, match=r"Length of IterableDataset .* was reported to be"
            ) as w:
                res.append([_struct(b) for b in loader])
            assert "For multiprocessing data-loading" in str(w[0].message)
            assert n == 4
        assert res[0] == res[1], kw

    # in one process too (a __len__ that undercounts), without the workers' advice
    def short(lib):
        class Short(lib.IterableDataset):
            def __iter__(self):
                return iter(range(4))

            def __len__(self):
                return 2

        return Short()

    res = []
    for lib in (ED, TD):
        loader = lib.DataLoader(short(lib), batch_size=None)
        assert len(loader) == 2
        with pytest.warns(UserWarning, match="was reported to be 2") as w:
            res.append([int(b) for b in loader])
        assert len(w) == 2 and "multiprocessing" not in str(w[0].message)
    assert res[0] == res[1] == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "ctx",
    [
        "spawn",
        multiprocessing.get_context("fork"),
        # (its server process lives on until pytest exits)
        pytest.param("forkserver", marks=pytest.mark.slow),
    ],
    ids=["spawn", "fork-ctx", "forkserver"],
)
def test_start_methods(ctx):
    # (only ember's own functions and data here: a spawned worker imports what it unpickles,
    # and this module would bring torch. ember.rand is a wrapper pickle cannot find by name:
    # ember.creation.rand is the function itself)
    loader = ED.DataLoader(
        [(1,), (2,)], batch_size=None, num_workers=1, collate_fn=ember.creation.rand,
        worker_init_fn=ember.manual_seed, multiprocessing_context=ctx,
    )  # fmt: skip
    got = [b.tolist() for b in loader]
    ember.manual_seed(0)  # (the worker's init fn reseeded its ember generator with its id)
    assert got == [ember.rand(1).tolist(), ember.rand(2).tolist()]


def test_multiprocessing_context_and_worker_count_checks_as_torch():
    for kw, exc, msg in [
        (dict(num_workers=1, multiprocessing_context="nope"), ValueError, "a valid start method"),
        (dict(num_workers=1, multiprocessing_context=5), TypeError, "a valid context object"),
        (dict(multiprocessing_context="fork"), ValueError, "only be used with multi-process"),
    ]:
        for lib in (ED, TD):
            with pytest.raises(exc, match=msg):
                lib.DataLoader(list(range(3)), **kw)
    ctx = multiprocessing.get_context("spawn")
    assert (
        ED.DataLoader([1], num_workers=1, multiprocessing_context="spawn").multiprocessing_context
        is not None
    )
    assert (
        ED.DataLoader([1], num_workers=1, multiprocessing_context=ctx).multiprocessing_context
        is ctx
    )
    too_many = len(os.sched_getaffinity(0)) + 1
    for lib in (ED, TD):
        with pytest.warns(
            UserWarning, match=f"This DataLoader will create {too_many} worker processes"
        ):
            lib.DataLoader([1], num_workers=too_many)


@pytest.mark.filterwarnings("ignore:'pin_memory' argument is set")  # as torch on a CPU
def test_pin_memory_is_accepted_with_workers():
    loader = ED.DataLoader(
        ED.TensorDataset(np.arange(5)), batch_size=2, num_workers=1, pin_memory=True
    )
    assert [b[0].tolist() for b in loader] == [[0, 1], [2, 3], [4]]


# ---- the rest of the API beside torch ---------------------------------------------------------
def _outcome(f):
    """("ok", the result described) or ("err", the exception's type, message)."""
    try:
        return ("ok", _struct(f()))
    except Exception as e:
        return ("err", type(e), str(e))


def _same(e, t, message=True):
    """ember's outcome is torch's: the same result, or an error of torch's type (ember's
    may subclass it: _AssertionValueError is an AssertionError) and, with ``message``,
    torch's message."""
    if e[0] == "ok" or t[0] == "ok":
        return e == t
    return issubclass(e[1], t[1]) and (not message or e[2] == t[2])


def test_samplers_as_torch():
    for bs in (1, 3, 10, 11):
        for drop_last in (False, True):
            e, t = _both(lambda lib, bs=bs, dl=drop_last: lib.BatchSampler(range(10), bs, dl))
            assert list(e) == list(t) and len(e) == len(t)
    for bad in (dict(batch_size=0), dict(batch_size=2.0), dict(batch_size=True), dict(drop_last=1)):
        kw = dict(batch_size=2, drop_last=False) | bad
        e, t = _both(lambda lib, kw=kw: _outcome(lambda: lib.BatchSampler(range(3), **kw)))
        assert _same(e, t)
    assert list(ED.SequentialSampler(range(5))) == list(TD.SequentialSampler(range(5)))
    for kw in (dict(), dict(num_samples=25), dict(num_samples=3)):
        draws = list(ED.RandomSampler(range(10), **kw))
        assert len(draws) == len(list(TD.RandomSampler(range(10), **kw)))
        for start in range(0, len(draws), 10):  # without replacement: whole permutations
            block = draws[start : start + 10]
            assert len(set(block)) == len(block)
    with_r = list(ED.RandomSampler(range(4), replacement=True, num_samples=200))
    assert len(with_r) == 200 and set(with_r) == set(range(4))
    for bad in (
        dict(replacement=1),
        dict(num_samples=0),
        dict(num_samples=-1),
        dict(num_samples=2.0),
    ):
        e, t = _both(lambda lib, bad=bad: _outcome(lambda: lib.RandomSampler(range(3), **bad)))
        assert _same(e, t), bad
    assert sorted(ED.SubsetRandomSampler([5, 2, 9])) == [2, 5, 9]
    w = [0, 1, 0, 2]
    assert set(ED.WeightedRandomSampler(w, 50)) == {1, 3}
    assert sorted(ED.WeightedRandomSampler(w, 2, replacement=False)) == [1, 3]
    for n in (10, 11, 3):
        for kw in [dict(shuffle=False), dict(shuffle=False, drop_last=True)]:
            e, t = _both(
                lambda lib, n=n, kw=kw: [
                    list(lib.DistributedSampler(range(n), 3, r, **kw)) for r in range(3)
                ]
            )
            assert e == t
        # shuffled: the ranks together cover the dataset, padded to equal shares as torch
        e = sum((list(ED.DistributedSampler(range(n), 3, r, seed=4)) for r in range(3)), [])
        t = sum((list(TD.DistributedSampler(range(n), 3, r, seed=4)) for r in range(3)), [])
        assert set(e) == set(t) == set(range(n)) and len(e) == len(t)


def test_sampler_generators_make_the_order_repeatable():
    for make in (
        lambda g: list(ED.RandomSampler(range(20), generator=g)),
        lambda g: list(ED.RandomSampler(range(5), replacement=True, num_samples=30, generator=g)),
        lambda g: list(ED.SubsetRandomSampler(list(range(3, 40, 3)), generator=g)),
        lambda g: list(ED.WeightedRandomSampler([1.0, 2.0, 0.5, 3.0], 25, generator=g)),
        lambda g: [s.indices for s in ED.random_split(range(30), [0.5, 0.3, 0.2], generator=g)],
    ):
        assert make(ember.Generator().manual_seed(9)) == make(ember.Generator().manual_seed(9))
        assert make(ember.Generator().manual_seed(9)) != make(ember.Generator().manual_seed(10))
    ember.manual_seed(1)
    a = list(ED.RandomSampler(range(20), generator=ember.default_generator))
    ember.manual_seed(1)
    assert list(ED.RandomSampler(range(20))) == a
    g = ember.Generator().manual_seed(2)
    loader = ED.DataLoader(list(range(10)), shuffle=True, generator=ember.default_generator)
    assert sorted(int(b) for b in loader) == list(range(10))
    assert g.initial_seed() == 2


def test_collate_and_convert_as_torch():
    P = Pair
    batches = [
        [1, 2, 3],
        [1.0, 2.5],
        [True, False],
        [1, 2.5],
        ["a", "b"],
        [b"a", b"b"],
        [np.ones(2, np.float32), np.zeros(2, np.float32)],
        [np.ones(2, np.int32), np.zeros(2, np.int32)],
        [np.float32(1), np.float32(2)],
        [np.int64(1), np.int64(2)],
        [np.array(1.0), np.array(2.0)],
        [np.array([True]), np.array([False])],
        [(1, "a", 2.0), (3, "b", 4.0)],
        [[1, 2], [3, 4]],
        [{"a": 1, "b": [1.0, 2.0]}, {"a": 2, "b": [3.0, 4.0]}],
        [
            {"x": (np.ones(2), {"k": [1, 2]}), "s": "u"},
            {"x": (np.zeros(2), {"k": [3, 4]}), "s": "v"},
        ],
        [P(1, 2.0), P(3, 4.0)],
        [P(np.ones(1), "a"), P(np.zeros(1), "b")],
        [collections.OrderedDict(a=1, b=2), collections.OrderedDict(a=2, b=3)],
        [[1, 2], [3]],
        [np.ones(2), np.ones(3)],
        [None, None],
        [np.array(["a"]), np.array(["b"])],
    ]
    for b in batches:
        e, t = _both(lambda lib, b=b: _outcome(lambda: lib.default_collate(b)))
        assert _same(e, t, message=False), b
        e, t = _both(lambda lib, b=b: _outcome(lambda: lib.default_convert(b)))
        assert _same(e, t), b
    e = ED.default_collate([ember.tensor([1, 2]), ember.tensor([1.0, 2.0])])
    t = TD.default_collate([torch.tensor([1, 2]), torch.tensor([1.0, 2.0])])
    assert _struct(e) == _struct(t)


def test_random_split_and_datasets_as_torch():
    for n in (0, 1, 3, 7, 10, 100):
        for lengths in (
            [0.5, 0.5],
            [0.33, 0.33, 0.34],
            [0.25] * 4,
            [0.1, 0.1, 0.8],
            [1.0],
            [0.9, 0.05, 0.05],
        ):
            # the sizes, and torch's warnings about empty splits
            e, t = _both(
                lambda lib, n=n, lengths=lengths: _warned(
                    lambda: [len(s) for s in lib.random_split(range(n), lengths)]
                )
            )
            assert e == t, (n, lengths)
    # (torch accepts [-1, 11] and returns splits of 9 and 1: ember refuses negative lengths)
    with pytest.raises(ValueError, match="non-negative"):
        ED.random_split(range(10), [-1, 11])
    for lengths in ([3, 8], [0.5, 0.6], [1.5, -0.5]):
        e, t = _both(
            lambda lib, lengths=lengths: _outcome(lambda: lib.random_split(range(10), lengths))
        )
        assert _same(e, t, message=False), lengths
    parts = ED.random_split(range(10), [3, 7])
    assert sorted(parts[0].indices + parts[1].indices) == list(range(10))
    for idx in (0, 2, 4, -1, -5, 5, -6):
        e, t = _both(
            lambda lib, idx=idx: _outcome(lambda: lib.ConcatDataset([[1, 2], [3], [4, 5]])[idx])
        )
        assert _same(e, t, message=False), idx
    e, t = _both(lambda lib: lib.Subset(list(range(10)), [4, 1, 7]))
    assert [e[i] for i in (0, 1, 2, -1)] == [t[i] for i in (0, 1, 2, -1)] and len(e) == len(t)

    def it(lib, n):
        class Stream(lib.IterableDataset):
            def __iter__(self):
                return iter(range(n))

            def __len__(self):
                return n

        return Stream()

    e, t = _both(lambda lib: lib.ChainDataset([it(lib, 2), it(lib, 3)]))
    assert list(e) == list(t) and len(e) == len(t)
    e, t = _both(lambda lib: _outcome(lambda: list(lib.ChainDataset([it(lib, 2), [1]]))))
    assert _same(e, t)
    e, t = _both(lambda lib: _outcome(lambda: lib.ConcatDataset([it(lib, 2)])))
    assert _same(e, t)
    for args, kwargs in [(([1, 2], [3, 4]), {}), ((), dict(a=[1, 2], b=[3, 4]))]:
        e, t = _both(lambda lib, a=args, k=kwargs: lib.StackDataset(*a, **k))
        assert e[1] == t[1] and len(e) == len(t)
    for args, kwargs in [(([1],), dict(a=[1])), ((), {}), (([1], [1, 2]), {})]:
        e, t = _both(lambda lib, a=args, k=kwargs: _outcome(lambda: lib.StackDataset(*a, **k)))
        assert _same(e, t)
    e = _outcome(lambda: ED.TensorDataset(ember.ones(3), ember.ones(4)))
    t = _outcome(lambda: TD.TensorDataset(torch.ones(3), torch.ones(4)))
    assert _same(e, t, message=False) and t[2] in e[2]
    with pytest.raises(IndexError):
        ED.TensorDataset(ember.arange(3))[3]


def _warned(f):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out = f()
    return out, [str(m.message) for m in w]


def test_loader_lengths_and_argument_errors_as_torch():
    def stream(lib):
        class S(lib.IterableDataset):
            def __iter__(self):
                return iter(range(10))

            def __len__(self):
                return 10

        return S()

    for kw in (
        dict(batch_size=3),
        dict(batch_size=3, drop_last=True),
        dict(batch_size=None),
        dict(batch_size=11, drop_last=True),
    ):
        e, t = _both(lambda lib, kw=kw: len(lib.DataLoader(list(range(10)), **kw)))
        assert e == t, kw
        e, t = _both(lambda lib, kw=kw: len(lib.DataLoader(stream(lib), **kw)))
        assert e == t, kw
        e, t = _both(lambda lib, kw=kw: [_struct(b) for b in lib.DataLoader(stream(lib), **kw)])
        assert e == t, kw
    bad = [
        dict(batch_size=0),
        dict(batch_size=-2),
        dict(sampler=[0, 1], shuffle=True),
        dict(batch_sampler=[[0]], batch_size=2),
        dict(batch_sampler=[[0]], shuffle=True),
        dict(batch_sampler=[[0]], sampler=[0]),
        dict(batch_sampler=[[0]], drop_last=True),
        dict(batch_size=None, drop_last=True),
        dict(num_workers=-1),
        dict(timeout=-1),
        dict(prefetch_factor=2),
        dict(persistent_workers=True),
    ]
    for kw in bad:
        e = _outcome(lambda kw=kw: ED.DataLoader(list(range(3)), **kw))
        t = _outcome(lambda kw=kw: TD.DataLoader(list(range(3)), **kw))
        assert _same(e, t, message=False) and t[1] is ValueError, kw
        assert t[2].split(";")[0] in e[2], kw
    for kw in (dict(shuffle=True), dict(sampler=[0]), dict(batch_sampler=[[0]])):
        e, t = _both(lambda lib, kw=kw: _outcome(lambda: lib.DataLoader(stream(lib), **kw)))
        assert _same(e, t, message=False) and t[1] is ValueError
        assert e[2].split(",")[0] == t[2].split(",")[0]
    for name in (
        "batch_size",
        "sampler",
        "dataset",
        "drop_last",
        "batch_sampler",
        "persistent_workers",
    ):
        for lib in (ED, TD):
            with pytest.raises(ValueError, match=f"{name} attribute should not be set"):
                setattr(lib.DataLoader(list(range(3))), name, 2)


class Big(ED.Dataset):
    """Samples large enough that their batches travel through shared-memory files."""

    def __len__(self):
        return 6

    def __getitem__(self, i):
        return {
            "f64": np.full((200, 300), i, np.float64),
            "f16": np.full(90000, i, np.float16),
            "i8t": ember.tensor(np.full((300, 300), i, np.int8)).transpose(0, 1),
            "small": np.float32(i),
        }


def _shm_files():
    return [f for f in os.listdir(ED._SHM_DIR) if f.startswith(f"ember-dl-{os.getpid()}-")]


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="no /dev/shm: batches use the pipe")
def test_large_batches_through_shared_memory_leave_no_files():
    at0 = [_struct(b) for b in ED.DataLoader(Big(), batch_size=2)]
    loader = ED.DataLoader(Big(), batch_size=2, num_workers=2)
    got = list(loader)
    assert [_struct(b) for b in got] == at0
    arr = got[0]["f64"].numpy()
    assert type(arr.base).__name__ == "mmap"  # (it came through a file)
    assert type(got[0]["small"].numpy().base).__name__ != "mmap"  # (small: the pipe)
    assert arr.flags.writeable and _shm_files() == []
    got[0]["f64"].add_(1)  # (the file is gone: the mapping is this array's own memory)
    assert arr[0, 0, 0] == 1 and got[1]["f64"].numpy()[0, 0, 0] == 2
    # batches still in flight when the loop breaks are swept with the workers
    for _ in ED.DataLoader(Big(), batch_size=1, num_workers=2, prefetch_factor=3):
        time.sleep(0.2)  # (the workers fill their prefetch)
        break
    assert _shm_files() == []


def test_collate_keeps_mutable_container_types_as_torch():
    class Tagged(list):
        pass

    for b in (
        [collections.defaultdict(int, a=1), collections.defaultdict(int, a=2)],
        [Tagged([1, 2.0]), Tagged([3, 4.0])],
    ):
        e, t = _both(lambda lib, b=b: lib.default_collate(b))
        assert type(e) is type(t) and _struct(e) == _struct(t)
        e, t = _both(lambda lib, b=b: lib.default_convert(b))
        assert [type(x) for x in e] == [type(x) for x in t] and _struct(e) == _struct(t)
    assert ED.default_collate([collections.defaultdict(list, a=1)] * 2)["missing"] == []


def test_getitems_batched_reads_as_torch():
    def make(lib):
        class Batched(lib.Dataset):
            def __init__(self):
                self.calls = []

            def __len__(self):
                return 7

            def __getitem__(self, i):
                raise AssertionError("read one by one")

            def __getitems__(self, indices):
                self.calls.append(list(indices))
                return [(i, float(i) / 2) for i in indices]

        return Batched()

    for kw in (dict(batch_size=3), dict(batch_size=2, shuffle=False, drop_last=True)):
        (e, t) = _both(make)
        eb = [_struct(b) for b in ED.DataLoader(e, **kw)]
        tb = [_struct(b) for b in TD.DataLoader(t, **kw)]
        assert eb == tb and e.calls == t.calls
    e, t = _both(lambda lib: lib.Subset(make(lib), [6, 2, 4]))
    assert e.__getitems__([2, 0]) == t.__getitems__([2, 0]) and e.dataset.calls == [[4, 6]]
    for args, kwargs in [((make, range(7)), {}), ((), dict(a=make, b=range(7)))]:

        def stack(lib, args=args, kwargs=kwargs):
            real = [a(lib) if a is make else a for a in args]
            named = {k: v(lib) if v is make else v for k, v in kwargs.items()}
            return lib.StackDataset(*real, **named).__getitems__([5, 1])

        e, t = _both(stack)
        assert e == t
    # through the workers too
    w = [_struct(b) for b in ED.DataLoader(make(ED), batch_size=3, num_workers=2)]
    assert w == [_struct(b) for b in TD.DataLoader(make(TD), batch_size=3)]
