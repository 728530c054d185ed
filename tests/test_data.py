"""TensorDataset, DataLoader, random_split, Subset; the scalers and PCA / ZCA whitening on
the digits; the initialisers against PyTorch's formulas."""

import math

import numpy as np
import pytest

import ember
from ember import nn
from ember.data import DataLoader, Dataset, Subset, TensorDataset, default_collate, random_split
from ember.datasets import load_digits
from ember.preprocessing import PCA, ZCA, MinMaxScaler, StandardScaler


def _ds(n=10):
    return TensorDataset(np.arange(n * 2, dtype=np.float32).reshape(n, 2), np.arange(n))


def test_tensor_dataset_and_loader_batches():
    ds = _ds(10)
    assert len(ds) == 10 and ds[3][1] == 3
    batches = list(DataLoader(ds, batch_size=4))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    assert isinstance(batches[0][0], ember.Tensor) and batches[0][0].shape == (4, 2)
    assert batches[0][1].dtype == np.int64
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in batches]), np.arange(10))
    assert len(DataLoader(ds, batch_size=4)) == 3
    dl = DataLoader(ds, batch_size=4, drop_last=True)
    assert len(dl) == 2 and [len(b[1]) for b in dl] == [4, 4]


def test_shuffle_is_seeded_and_a_permutation():
    ds = _ds(50)
    ember.manual_seed(1)
    a = [b[1].numpy() for b in DataLoader(ds, batch_size=8, shuffle=True)]
    ember.manual_seed(1)
    b = [b[1].numpy() for b in DataLoader(ds, batch_size=8, shuffle=True)]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    order = np.concatenate(a)
    assert sorted(order) == list(range(50)) and not np.array_equal(order, np.arange(50))
    g1 = DataLoader(ds, 8, shuffle=True, generator=np.random.default_rng(3))
    g2 = DataLoader(ds, 8, shuffle=True, generator=np.random.default_rng(3))
    e1, e2 = [b[1].numpy() for b in g1], [b[1].numpy() for b in g2]
    np.testing.assert_array_equal(np.concatenate(e1), np.concatenate(e2))
    assert not np.array_equal(np.concatenate(e1), np.concatenate([b[1].numpy() for b in g1]))


class _Items(Dataset):
    def __len__(self):
        return 5

    def __getitem__(self, i):
        return {"x": np.full(3, i, np.float32), "y": i}, np.float64(i) / 2


def test_collation_of_generic_datasets():
    (d, half), *_ = list(DataLoader(_Items(), batch_size=2))
    assert d["x"].shape == (2, 3) and d["y"].numpy().tolist() == [0, 1]
    assert half.numpy().tolist() == [0.0, 0.5]
    out = list(DataLoader(_Items(), batch_size=5, collate_fn=lambda b: len(b)))
    assert out == [5]
    with pytest.raises(RuntimeError, match="equal size"):  # PyTorch's error
        default_collate([np.ones(2), np.ones(3)])


def test_random_split_and_subset():
    ds = _ds(10)
    ember.manual_seed(0)
    a, b = random_split(ds, [7, 3])
    ids = np.concatenate([[a[i][1] for i in range(7)], [b[i][1] for i in range(3)]])
    assert sorted(ids) == list(range(10))
    c, d, e = random_split(ds, [0.5, 0.3, 0.2], generator=np.random.default_rng(0))
    assert (len(c), len(d), len(e)) == (5, 3, 2)
    xb, yb = next(iter(DataLoader(Subset(ds, [9, 2]), batch_size=2)))
    assert yb.numpy().tolist() == [9, 2]
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(ds, [5, 6])
    with pytest.raises(ValueError, match="non-negative"):
        random_split(ds, [-1, 11])


@pytest.mark.parametrize("bs", [0, -3])
def test_loader_refuses_bad_batch_size(bs):
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(_ds(), batch_size=bs)


def test_loader_and_dataset_refuse_bad_input():
    with pytest.raises(ValueError, match="batch_size"):  # PyTorch's error
        DataLoader(_ds(), batch_size=2.5)
    with pytest.raises(TypeError, match="generator"):
        DataLoader(_ds(), shuffle=True, generator=42)
    with pytest.raises(ValueError, match="Size mismatch"):
        TensorDataset(np.ones((3, 2)), np.ones(4))


# ---- preprocessing -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    return load_digits()[0]


def test_standard_scaler(digits):
    s = StandardScaler().fit(digits)
    z = s.transform(digits)
    assert z.dtype == np.float32
    var = digits.var(0)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(0)[var > 0], 1, rtol=1e-4)
    np.testing.assert_allclose(s.inverse_transform(z), digits, atol=1e-4)


def test_min_max_scaler(digits):
    s = MinMaxScaler((-1, 1))
    z = s.fit_transform(digits)
    rng = digits.max(0) > digits.min(0)
    np.testing.assert_allclose(z.min(0)[rng], -1, atol=1e-6)
    np.testing.assert_allclose(z.max(0)[rng], 1, atol=1e-6)
    np.testing.assert_allclose(s.inverse_transform(z), digits, atol=1e-4)


def test_pca_whitening_gives_identity_covariance(digits):
    x = digits.astype(np.float64)
    p = PCA(n_components=40, whiten=True).fit(x)
    z = p.transform(x)
    cov = np.cov(z, rowvar=False, bias=True)
    np.testing.assert_allclose(cov, np.eye(40), atol=1e-6)
    assert np.all(np.diff(p.explained_variance_) <= 0)
    full = PCA().fit(x)
    np.testing.assert_allclose(full.inverse_transform(full.transform(x)), x, atol=1e-8)
    np.testing.assert_allclose(full.explained_variance_ratio_.sum(), 1.0)


def test_zca_whitening_gives_identity_covariance(digits):
    x = digits.astype(np.float64)
    x = x[:, x.var(0) > 0]  # constant pixels have no direction to whiten
    zca = ZCA(eps=0.0).fit(x)
    z = zca.transform(x)
    np.testing.assert_allclose(np.cov(z, rowvar=False, bias=True), np.eye(x.shape[1]), atol=1e-6)
    np.testing.assert_allclose(zca.whitening_, zca.whitening_.T, atol=1e-10)  # symmetric
    np.testing.assert_allclose(zca.inverse_transform(z), x, atol=1e-8)


@pytest.mark.parametrize("eps", [0.0, 1e-8, 0.1])
def test_zca_inverse_transform_recovers_the_digits(digits, eps):
    # every pixel, constant ones included: they lie in the data's span, so they come back too
    zca = ZCA(eps=eps).fit(digits)
    z = zca.transform(digits)
    back = zca.inverse_transform(z)
    assert back.dtype == np.float32 and back.shape == digits.shape
    np.testing.assert_allclose(back, digits, atol=2e-4)
    x = digits.astype(np.float64)
    np.testing.assert_allclose(ZCA(eps=eps).fit(x).inverse_transform(zca.transform(x)), x,
                               atol=1e-9)  # fmt: skip
    # independent: W^-1 from the eigen-decomposition of the (1/N) covariance, on its span
    c = x - x.mean(0)
    vals, vecs = np.linalg.eigh(c.T @ c / len(x))
    keep = vals > 1e-9 * vals.max()
    u, lam = vecs[:, keep], vals[keep]
    np.testing.assert_allclose(zca.dewhitening_, (u * np.sqrt(lam + eps)) @ u.T, atol=1e-8)
    np.testing.assert_allclose(zca.dewhitening_ @ zca.whitening_, u @ u.T, atol=1e-8)
    with pytest.raises(ValueError, match="features"):
        zca.inverse_transform(z[:, :10])
    with pytest.raises(RuntimeError, match="fit"):
        ZCA().inverse_transform(z)


def test_preprocessing_refuses_bad_input(digits):
    with pytest.raises(RuntimeError, match="fit"):
        StandardScaler().transform(digits)
    s = StandardScaler().fit(digits)
    with pytest.raises(ValueError, match="features"):
        s.transform(digits[:, :10])
    with pytest.raises(ValueError, match="2-D"):
        StandardScaler().fit(digits[0])
    with pytest.raises(ValueError, match="feature_range"):
        MinMaxScaler((1, 0))
    with pytest.raises(ValueError, match="n_components"):
        PCA(n_components=0)
    with pytest.raises(ValueError, match="exceeds"):
        PCA(n_components=65).fit(digits)


# ---- initialisers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,param",
    [("linear", None), ("sigmoid", None), ("tanh", None), ("relu", None), ("selu", None),
     ("leaky_relu", None), ("leaky_relu", 0.2), ("conv2d", None)],
)  # fmt: skip
def test_calculate_gain_matches_pytorch(name, param):
    torch = pytest.importorskip("torch")
    assert nn.init.calculate_gain(name, param) == pytest.approx(
        torch.nn.init.calculate_gain(name, param), rel=1e-12
    )


def _std_uniform(bound):
    return bound / math.sqrt(3)


@pytest.mark.parametrize("shape", [(300, 200), (64, 32, 3, 3)], ids=str)
def test_init_statistics_follow_pytorch_formulas(shape):
    w = ember.empty(*shape)
    fan_in = shape[1] * int(np.prod(shape[2:]))
    fan_out = shape[0] * int(np.prod(shape[2:]))
    checks = [
        (lambda: nn.init.xavier_uniform_(w, gain=2.0), 2.0 * math.sqrt(2 / (fan_in + fan_out)),
         2.0 * math.sqrt(6 / (fan_in + fan_out))),
        (lambda: nn.init.xavier_normal_(w), math.sqrt(2 / (fan_in + fan_out)), None),
        (lambda: nn.init.kaiming_uniform_(w, a=math.sqrt(5)),
         math.sqrt(2 / 6) / math.sqrt(fan_in), math.sqrt(1 / fan_in)),
        (lambda: nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu"),
         math.sqrt(2 / fan_out), None),
        (lambda: nn.init.normal_(w, 0.5, 0.2), 0.2, None),
        (lambda: nn.init.uniform_(w, -0.3, 0.3), _std_uniform(0.3), 0.3),
    ]  # fmt: skip
    for fn, std, bound in checks:
        assert fn() is w
        v = w.numpy()
        assert v.dtype == np.float32
        np.testing.assert_allclose(v.std(), std, rtol=0.03)
        if bound is not None:
            assert np.abs(v).max() <= bound * (1 + 1e-6)
            assert np.abs(v).max() > 0.95 * bound
    nn.init.zeros_(w)
    assert np.all(w.numpy() == 0)
    nn.init.ones_(w)
    assert np.all(w.numpy() == 1)
    nn.init.constant_(w, 0.25)
    assert np.all(w.numpy() == 0.25)


def test_init_is_seeded_and_refuses_bad_input():
    a, b = ember.empty(4, 5), ember.empty(4, 5)
    ember.manual_seed(3)
    nn.init.kaiming_uniform_(a)
    ember.manual_seed(3)
    nn.init.kaiming_uniform_(b)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(ValueError, match="fan"):
        nn.init.xavier_uniform_(ember.empty(5))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        nn.init.kaiming_normal_(a, mode="fan_avg")
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.init.kaiming_normal_(a, nonlinearity="swish")
    with pytest.raises(RuntimeError, match="std"):  # PyTorch's error type
        nn.init.normal_(a, std=-1.0)


@pytest.mark.filterwarnings("ignore:'pin_memory' argument is set")  # as PyTorch on a CPU
def test_loader_takes_a_sampler_and_pytorch_worker_options():
    X = np.arange(10, dtype=np.float32).reshape(10, 1)
    ds = TensorDataset(X, np.arange(10))
    loader = DataLoader(ds, batch_size=4, sampler=[9, 1, 5, 3, 7], num_workers=2, pin_memory=True)
    assert len(loader) == 2
    batches = [yb.numpy().tolist() for _, yb in loader]
    assert batches == [[9, 1, 5, 3], [7]]
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, sampler=[0], shuffle=True)
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(ds, num_workers=-1)
