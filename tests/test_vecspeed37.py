"""vecspeed37: float64 expm1 / sinh / cosh carried as hi + lo parts and rounded once (max ulp
against long double on seeded samples, in every SIMD clone for expm1; special values: 0, -0,
subnormals, +-inf, NaN, the overflow thresholds, against NumPy's libm and torch), and the rank
sort of short float32 / float64 rows (distinct values, ties, NaN, -0) against torch.sort and
NumPy's argsort."""

import warnings

import numpy as np
import pytest
from conftest import at_threads

import ember
from ember import _C

torch = pytest.importorskip("torch")

ISAS = [0, *_C._vecmath_isas()]  # 0: the clone the CPU dispatch picks

# measured here (ember on these samples, long double reference): expm1 0.60, sinh 0.57, cosh
# 0.52 (were 1.7 / 2.1 / 1.2; PyTorch 2.13's: 0.99 / 0.80 / 0.75, test_vecspeed36's samples)
BOUND = {"expm1": 0.65, "sinh": 0.62, "cosh": 0.6}


def _inputs(name):
    rng = np.random.default_rng(37)
    x = np.concatenate(
        [
            rng.uniform(-1, 1, 20000),
            rng.uniform(-0.36, 0.36, 10000),  # |r| <= ln2/2: n = 0 and its neighbours
            rng.uniform(-40, 40, 20000),
            rng.uniform(-709, 709, 10000),
            np.exp(rng.uniform(-700, 0, 5000)),
            np.array([36.0, 37.0, 37.5, 38.0, 53 * np.log(2), 54 * np.log(2), 709.7, 709.78]),
        ]
    )
    if name != "expm1":
        x = np.concatenate([x, rng.uniform(700, 710.47, 2000)])
    return np.concatenate([x, -x])


def _max_ulp(y, x, name):
    f = getattr(np, name)
    ref = f(x.astype(np.longdouble))
    ok = np.abs(ref) < np.finfo(np.float64).max
    r = ref[ok]
    u = np.exp2(np.floor(np.log2(np.maximum(np.abs(r), np.longdouble(2.0**-1022)))) - 52)
    e = np.abs(y[ok].astype(np.longdouble) - r) / u
    return float(e.max()), float(x[ok][np.argmax(e)])


@pytest.mark.skipif(np.finfo(np.longdouble).nmant < 63, reason="needs x87 long double")
@pytest.mark.parametrize("name", sorted(BOUND))
def test_float64_max_ulp(name):
    x = _inputs(name)
    y = getattr(ember, name)(ember.tensor(x)).numpy()
    e, where = _max_ulp(y, x, name)
    assert e <= BOUND[name], (where, e)


@pytest.mark.skipif(np.finfo(np.longdouble).nmant < 63, reason="needs x87 long double")
@pytest.mark.parametrize("isa", ISAS)
def test_float64_expm1_every_clone(isa):
    x = _inputs("expm1")
    y = _C._vecmath("expm1", x, isa)
    e, where = _max_ulp(y, x, "expm1")
    assert e <= BOUND["expm1"], (isa, where, e)


SPECIALS = [0.0, -0.0, 5e-324, -5e-324, 1e-310, -1e-310, 1e-300, -1e-300, 2.0**-28, 1e-20]
SPECIALS += [0.5 * np.log(2), np.log(2), 20.0, 36.7, 37.0, 37.5, -36.7, -37.5, -40.0, -745.0]
SPECIALS += [709.78, 709.79, 710.0, 710.47, 710.48, 711.0, -710.47, -710.48, 1e300, -1e300]
SPECIALS += [np.inf, -np.inf, np.nan]


@pytest.mark.parametrize("name", sorted(BOUND))
def test_float64_special_values(name):
    x = np.array(SPECIALS)
    y = getattr(ember, name)(ember.tensor(x)).numpy()
    with np.errstate(all="ignore"):
        ref = getattr(np, name)(x)  # libm's: within an ulp, inf exactly where it overflows
    fin = np.isfinite(ref)
    np.testing.assert_allclose(y[fin], ref[fin], rtol=3e-16, atol=0)
    np.testing.assert_array_equal(y[~fin], ref[~fin])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = getattr(torch, name)(torch.from_numpy(x)).numpy()
    zero = t == 0
    np.testing.assert_array_equal(np.signbit(y[zero]), np.signbit(t[zero]))


# ---- short rows: ranks ----------------------------------------------------------------------


def _rows(rows, n, kind, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, n))
    if kind == "ties":
        x[::2] = np.round(x[::2], 1)
    elif kind == "nan":
        x[::3, n // 2] = np.nan
        x[1::3, [0, -1]] = np.nan
    elif kind == "zeros":
        x[::2, 0] = 0.0
        x[::2, -1] = -0.0
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [2, 16, 65, 100, 112, 113, 128, 192, 193])
@pytest.mark.parametrize("kind", ["distinct", "ties", "nan", "zeros"])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_short_rows_as_torch(dtype, n, kind, descending):
    x = _rows(40, n, kind, dtype, seed=n)
    v, i = ember.sort(ember.tensor(x), -1, descending)
    tv, ti = torch.sort(torch.from_numpy(x), -1, descending)
    np.testing.assert_array_equal(i.numpy(), ti.numpy())
    np.testing.assert_array_equal(v.numpy(), tv.numpy())
    np.testing.assert_array_equal(np.signbit(v.numpy()), np.signbit(tv.numpy()))
    a = ember.argsort(ember.tensor(x), -1, descending)
    np.testing.assert_array_equal(a.numpy(), ti.numpy())
    assert a.dtype == ember.int64


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3000, 16), (700, 100), (400, 150)])
def test_argsort_many_short_rows_as_numpy(dtype, shape):
    # past the small-size path (> 65536 elements); distinct values: one order, NumPy's too
    x = _rows(*shape, "distinct", dtype, seed=shape[1])
    for desc in (False, True):
        got = ember.argsort(ember.tensor(x), -1, desc).numpy()
        want = np.argsort(-x if desc else x, axis=-1)
        np.testing.assert_array_equal(got, want)
    # a 3-D tensor's last dim, and a transposed (non-contiguous) one by the general path
    x3 = x.reshape(2, shape[0] // 2, shape[1])
    np.testing.assert_array_equal(
        ember.argsort(ember.tensor(x3)).numpy(), torch.argsort(torch.from_numpy(x3)).numpy()
    )
    xt = ember.tensor(x).t()
    np.testing.assert_array_equal(
        ember.argsort(xt, 0).numpy(), torch.argsort(torch.from_numpy(x).t(), 0).numpy()
    )


def test_sort_short_rows_threads():
    x = _rows(5000, 100, "ties", np.float64, seed=5)
    with at_threads(1):
        one = ember.argsort(ember.tensor(x)).numpy()
    with at_threads(2):
        two = ember.argsort(ember.tensor(x)).numpy()
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(one, torch.argsort(torch.from_numpy(x)).numpy())
