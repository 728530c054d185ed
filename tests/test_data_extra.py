"""Samplers, iterable / concatenated / stacked datasets and the DataLoader options around
them, against torch.utils.data where the result is deterministic."""

import numpy as np
import pytest

import ember
from ember import data as D

torch = pytest.importorskip("torch")
TD = torch.utils.data


def test_exports_match_torch_names():
    for name in D.__all__:
        assert hasattr(TD, name), name


def test_sequential_and_batch_sampler_as_torch():
    ds = list(range(10))
    assert list(D.SequentialSampler(ds)) == list(TD.SequentialSampler(ds))
    for drop in (False, True):
        e = D.BatchSampler(D.SequentialSampler(ds), 3, drop)
        t = TD.BatchSampler(TD.SequentialSampler(ds), 3, drop)
        assert list(e) == list(t) and len(e) == len(t)
    assert list(D.BatchSampler([4, 2, 9], 2, False)) == [[4, 2], [9]]


@pytest.mark.parametrize(
    "make,err",
    [
        (lambda M: M.BatchSampler(range(3), 0, False), ValueError),
        (lambda M: M.BatchSampler(range(3), True, False), ValueError),
        (lambda M: M.BatchSampler(range(3), 2, 1), ValueError),
        (lambda M: M.RandomSampler(range(3), replacement=1), TypeError),
        (lambda M: M.RandomSampler(range(3), num_samples=0), ValueError),
        (lambda M: M.RandomSampler([]), ValueError),
        (lambda M: M.WeightedRandomSampler([1.0, 2.0], 0), ValueError),
        (lambda M: M.WeightedRandomSampler([1.0, 2.0], 2, replacement=1), ValueError),
        (lambda M: M.WeightedRandomSampler([[1.0, 2.0]], 2), ValueError),
        (lambda M: M.StackDataset(), ValueError),
        (lambda M: M.StackDataset([1], b=[2]), ValueError),
        (lambda M: M.StackDataset([1], [2, 3]), ValueError),
    ],
)
def test_bad_arguments_raise_as_torch(make, err):
    with pytest.raises(err):
        make(TD)
    with pytest.raises(err):
        make(D)


def test_random_sampler_permutation_replacement_and_determinism():
    ds = list(range(7))
    ember.manual_seed(0)
    a = list(D.RandomSampler(ds))
    ember.manual_seed(0)
    b = list(D.RandomSampler(ds))
    assert a == b and sorted(a) == ds
    c = list(D.RandomSampler(ds, num_samples=16))  # two full permutations and a part
    assert len(c) == 16 and sorted(c[:7]) == ds and sorted(c[7:14]) == ds
    g = np.random.default_rng(5)
    r = list(D.RandomSampler(ds, replacement=True, num_samples=7000, generator=g))
    counts = np.bincount(r, minlength=7)
    assert len(r) == 7000 and counts.min() > 850 and counts.max() < 1150
    r2 = list(
        D.RandomSampler(ds, replacement=True, num_samples=7000, generator=np.random.default_rng(5))
    )
    assert r == r2
    with pytest.raises(TypeError, match="generator"):
        D.RandomSampler(ds, generator=3)


def test_subset_and_weighted_samplers_statistics():
    ember.manual_seed(1)
    s = list(D.SubsetRandomSampler([3, 8, 11]))
    assert sorted(s) == [3, 8, 11]
    w = [0.0, 1.0, 3.0]
    ws = D.WeightedRandomSampler(w, 8000)
    draws = np.bincount(list(ws), minlength=3)
    assert len(ws) == 8000 and draws[0] == 0
    assert abs(draws[2] / draws[1] - 3.0) < 0.3
    no_rep = list(D.WeightedRandomSampler([1.0, 1.0, 5.0], 3, replacement=False))
    assert sorted(no_rep) == [0, 1, 2]
    with pytest.raises(RuntimeError):
        list(TD.WeightedRandomSampler([1.0, 1.0], 3, replacement=False))
    # checked when iterated, as torch's (test_leftovers13 compares the errors)
    with pytest.raises(RuntimeError):
        list(D.WeightedRandomSampler([1.0, 1.0], 3, replacement=False))
    # as torch: the zero-weight index comes after the positive one
    assert list(D.WeightedRandomSampler([1.0, 0.0], 2, replacement=False)) == [0, 1]
    with pytest.raises(RuntimeError):
        list(D.WeightedRandomSampler([1.0, -1.0], 2))


def _xy(n=10):
    return D.TensorDataset(np.arange(n, dtype=np.float32).reshape(n, 1), np.arange(n))


def test_loader_with_sampler_and_batch_sampler():
    ds = _xy()
    loader = D.DataLoader(ds, batch_size=4, sampler=D.SequentialSampler(ds), drop_last=True)
    assert [y.numpy().tolist() for _, y in loader] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert len(loader) == 2
    bs = D.BatchSampler(
        D.SubsetRandomSampler([1, 2, 3], generator=np.random.default_rng(0)), 2, False
    )
    batches = [y.numpy().tolist() for _, y in D.DataLoader(ds, batch_sampler=bs)]
    assert [len(b) for b in batches] == [2, 1] and sorted(sum(batches, [])) == [1, 2, 3]
    custom = [[0, 9], [5]]  # any iterable of index lists
    assert [y.numpy().tolist() for _, y in D.DataLoader(ds, batch_sampler=custom)] == custom
    for kw in ({"batch_size": 2}, {"shuffle": True}, {"drop_last": True}, {"sampler": [0]}):
        with pytest.raises(ValueError, match="mutually exclusive"):
            D.DataLoader(ds, batch_sampler=custom, **kw)
    with pytest.raises(ValueError, match="auto-batching"):
        D.DataLoader(ds, batch_size=None, drop_last=True)


def test_loader_shuffle_generator_deterministic_and_unbatched():
    ds = _xy(9)
    g = lambda: np.random.default_rng(7)  # noqa: E731
    a = [y.numpy().tolist() for _, y in D.DataLoader(ds, batch_size=4, shuffle=True, generator=g())]
    b = [y.numpy().tolist() for _, y in D.DataLoader(ds, batch_size=4, shuffle=True, generator=g())]
    assert (
        a == b and sorted(sum(a, [])) == list(range(9)) and a != [[0, 1, 2, 3], [4, 5, 6, 7], [8]]
    )
    ember.manual_seed(3)
    c = [y.numpy().tolist() for _, y in D.DataLoader(ds, batch_size=4, shuffle=True)]
    ember.manual_seed(3)
    assert c == [y.numpy().tolist() for _, y in D.DataLoader(ds, batch_size=4, shuffle=True)]
    samples = list(D.DataLoader(ds, batch_size=None))
    assert len(samples) == 9 and isinstance(samples[2][0], ember.Tensor)
    assert samples[2][0].shape == (1,) and int(samples[2][1].item()) == 2


class _Stream(D.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(np.arange(self.n, dtype=np.float64))

    def __len__(self):
        return self.n


def test_iterable_dataset_and_chain():
    out = [b.numpy().tolist() for b in D.DataLoader(_Stream(5), batch_size=2)]
    assert out == [[0.0, 1.0], [2.0, 3.0], [4.0]]
    assert len(D.DataLoader(_Stream(5), batch_size=2, drop_last=True)) == 2
    assert len(list(D.DataLoader(_Stream(5), batch_size=2, drop_last=True))) == 2
    chained = _Stream(2) + _Stream(3)
    assert isinstance(chained, D.ChainDataset) and len(chained) == 5
    assert [float(x) for x in chained] == [0, 1, 0, 1, 2]
    with pytest.raises(ValueError, match="shuffle"):
        D.DataLoader(_Stream(3), shuffle=True)
    with pytest.raises(ValueError, match="sampler"):
        D.DataLoader(_Stream(3), sampler=[0])
    with pytest.raises(TypeError, match="IterableDataset"):
        list(D.ChainDataset([[1, 2]]))


def test_concat_and_stack_datasets_as_torch():
    a, b = list(range(3)), list(range(10, 14))
    e, t = D.ConcatDataset([a, b]), TD.ConcatDataset([a, b])
    assert len(e) == len(t) == 7 and e.cumulative_sizes == t.cumulative_sizes
    assert [e[i] for i in range(-7, 7)] == [t[i] for i in range(-7, 7)]
    with pytest.raises(ValueError, match="exceed"):
        e[-8]
    with pytest.raises(ValueError, match="empty"):
        D.ConcatDataset([])
    assert len(_xy(2) + _xy(3)) == 5
    s = D.StackDataset(a, [5, 6, 7])
    assert s[1] == TD.StackDataset(a, [5, 6, 7])[1] == (1, 6)
    assert D.StackDataset(x=a, y=a)[2] == {"x": 2, "y": 2}


def test_default_convert_and_collate():
    conv = D.default_convert({"a": np.ones(2), "b": [np.zeros(1), "s"], "c": 3})
    assert isinstance(conv["a"], ember.Tensor) and isinstance(conv["b"][0], ember.Tensor)
    assert conv["b"][1] == "s" and conv["c"] == 3
    tconv = TD.default_convert({"a": np.ones(2), "c": 3})
    assert isinstance(tconv["a"], torch.Tensor) and tconv["c"] == 3
    assert D.default_collate(["x", "y"]) == TD.default_collate(["x", "y"]) == ["x", "y"]
    from collections import namedtuple

    P = namedtuple("P", "x y")
    got = D.default_collate([P(1.0, np.ones(2)), P(2.0, np.zeros(2))])
    assert isinstance(got, P) and got.x.numpy().tolist() == [1.0, 2.0] and got.y.shape == (2, 2)


def test_distributed_sampler_splits_like_torchs():
    from torch.utils.data.distributed import DistributedSampler as TorchSampler

    from ember.utils.data.distributed import DistributedSampler

    for n in (0, 1, 7, 10, 11):
        for replicas in (1, 3, 4):
            for drop_last in (False, True):
                for rank in range(replicas):
                    args = (list(range(n)), replicas, rank)
                    ours = DistributedSampler(*args, shuffle=False, drop_last=drop_last)
                    ref = TorchSampler(*args, shuffle=False, drop_last=drop_last)
                    assert list(ours) == list(ref) and len(ours) == len(ref)
    # shuffled: the ranks still cover the dataset, and set_epoch reshuffles
    parts = [list(DistributedSampler(range(10), 3, r, seed=5)) for r in range(3)]
    assert sorted(set(sum(parts, []))) == list(range(10)) and all(len(p) == 4 for p in parts)
    sampler = DistributedSampler(range(10))
    first = list(sampler)
    sampler.set_epoch(1)
    assert sorted(first) == list(range(10)) and list(sampler) != first
    with pytest.raises(ValueError, match="Invalid rank 2"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="positive integer"):
        DistributedSampler(range(4), num_replicas=0)
