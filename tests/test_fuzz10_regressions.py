"""Fuzz round 10 (the straight paths of session 19 and the 16-bit trampoline): each finding of a
fork-isolated fuzz of the public API against torch and of every ember._C entry, as the clear
error or torch's result it now gets."""

import numpy as np
import pytest

import ember
from ember import _C

torch = pytest.importorskip("torch")


# ---- float16 through the float32 trampoline (_lowp) ------------------------------------------
def _calls(lib):
    F = lib.nn.functional
    return {
        "tanh": lambda x: x.tanh(),
        "sigmoid": lambda x: x.sigmoid(),
        "relu": lambda x: x.relu(),
        "gelu": lambda x: F.gelu(x),
        "softmax": lambda x: F.softmax(x, 0),
        "log_softmax": lambda x: F.log_softmax(x, -1),
    }


@pytest.mark.parametrize("op", sorted(_calls(torch)))
def test_float16_zero_dim_keeps_its_shape(op):
    # the trampoline's float32 copy was np.ascontiguousarray, which makes a 0-dim array 1-D:
    # a float16 scalar came back with shape (1,)
    v = np.array(0.75, np.float16)
    got = _calls(ember)[op](ember.tensor(v))
    want = _calls(torch)[op](torch.tensor(v))
    assert got.shape == tuple(want.shape) == ()
    assert got.dtype == ember.float16
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def _adam(p, m, v, g):
    kw = dict(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0)
    _C.adam_step(p, m, v, None, g, **kw, decoupled=False, maximize=False, step=1)


def _read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


@pytest.mark.parametrize("dt", [np.float16, "bfloat16"])
def test_sixteen_bit_read_only_in_place_argument_is_refused(dt):
    # a read-only 16-bit array got a writeable float32 copy: the kernel updated the copy and
    # the write-back skipped the read-only original, so the update was lost without an error
    # (a read-only float32 array is refused)
    dt = np.dtype(ember.bfloat16 if dt == "bfloat16" else dt)
    z = np.zeros(3, dt)
    with pytest.raises(ValueError, match="adam_step: param is read-only"):
        _adam(_read_only(np.ones(3, dt)), z.copy(), z.copy(), np.ones(3, dt))
    with pytest.raises(ValueError, match="adam_step: exp_avg is read-only"):
        _adam(np.ones(3, dt), _read_only(z), z.copy(), np.ones(3, dt))
    c = np.broadcast_to(np.ones((1, 2), dt), (2, 2))  # a stride-0 view is read-only too
    with pytest.raises(ValueError, match="gemm: c is read-only"):
        _C.gemm(np.ones((2, 2), dt), np.ones((2, 2), dt), c, beta=1.0)
    x = np.ones((2, 3, 4), dt)
    rm = _read_only(np.zeros(3, dt))
    with pytest.raises(ValueError, match="running_mean is read-only"):
        _C.batch_norm_forward(x, None, None, rm, np.ones(3, dt), True, 0.1, 1e-5)
    # read-only inputs stay accepted, and a writeable param is updated as a float32 one
    p, p32 = np.ones(3, dt), np.ones(3, np.float32)
    _adam(p, z.copy(), z.copy(), _read_only(np.full(3, 0.5, dt)))
    _adam(p32, np.zeros(3, np.float32), np.zeros(3, np.float32), np.full(3, 0.5, np.float32))
    np.testing.assert_array_equal(p, p32.astype(dt))


# ---- one dim: an int, as torch ---------------------------------------------------------------
_ONE_DIM = {
    "cumsum": lambda L, d: L.cumsum(L.ones(3, 4), d),
    "cumsum_1d": lambda L, d: L.cumsum(L.ones(4), d),
    "cumsum_0d": lambda L, d: L.cumsum(L.ones(()), d),
    "cumsum_int": lambda L, d: L.cumsum(L.ones(4, dtype=L.int64), d),
    "sort": lambda L, d: L.sort(L.ones(3, 4, dtype=L.int64), d),
    "argsort": lambda L, d: L.argsort(L.ones(3, 4, dtype=L.int32), d),
    "topk": lambda L, d: L.topk(L.ones(3, 4, dtype=L.int64), 1, d),
    "split": lambda L, d: L.split(L.ones(3, 4), 2, d),
    "chunk": lambda L, d: L.chunk(L.ones(3, 4), 2, d),
    "unbind": lambda L, d: L.unbind(L.ones(3, 4), d),
    "prod": lambda L, d: L.ones(3, 4).prod(d),
    "index_select": lambda L, d: L.index_select(L.ones(3, 4), d, L.tensor([0])),
}


@pytest.mark.parametrize(
    ("op", "dim"),
    # (prod(dim=None) stays ember's whole-tensor product)
    [(op, d) for op in sorted(_ONE_DIM) for d in ([0], (0,), None) if (op, d) != ("prod", None)],
)
def test_one_dim_refuses_a_list_or_none(op, dim):
    # these read dim=[0] as dim 0 and dim=None as every dim (one dim: 1-D results, otherwise
    # "too many values to unpack"); torch refuses both with TypeError
    with pytest.raises(TypeError):
        _ONE_DIM[op](torch, dim)
    with pytest.raises(TypeError, match="dim must be an int"):
        _ONE_DIM[op](ember, dim)


@pytest.mark.parametrize("op", sorted(_ONE_DIM))
def test_one_dim_still_takes_numpy_and_negative_ints(op):
    for d in (np.int64(0), -1):
        want = _ONE_DIM[op](torch, int(d))
        got = _ONE_DIM[op](ember, d)
        want = want if isinstance(want, tuple | list) else (want,)
        got = got if isinstance(got, tuple | list) else (got,)
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g.numpy(), w.numpy())


@pytest.mark.parametrize("dt", ["int64", "float32", "float64"])
def test_topk_refuses_a_bool_or_float_k(dt):
    # k=True was read as k 1 (the straight case takes only int k; the general one compared it)
    for k in (True, np.bool_(True), 2.0):
        with pytest.raises(TypeError):
            torch.topk(torch.arange(5).to(getattr(torch, dt)), k)
        with pytest.raises(TypeError, match="topk"):
            ember.topk(ember.arange(5).to(getattr(ember, dt)), k)
    got = ember.topk(ember.arange(5).to(getattr(ember, dt)), np.int64(2))
    want = torch.topk(torch.arange(5).to(getattr(torch, dt)), 2)
    np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())
    np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())


# ---- _C.cumsum's dim (the straight path's argument) -----------------------------------------
@pytest.mark.parametrize(
    ("dim", "error", "match"),
    [
        (1.5, TypeError, "cumsum: dim must be an int, got float"),
        ("1", TypeError, "cumsum: dim must be an int, got str"),
        (True, TypeError, "cumsum: dim must be an int, got bool"),
        (2, ValueError, "cumsum: dim 2 is out of range for shape \\(3, 4\\)"),
        (-3, ValueError, "cumsum: dim -3 is out of range"),
        (2**70, ValueError, "cumsum: dim 1180591620717411303424 is out of range"),
    ],
)
def test_c_cumsum_dim_is_checked(dim, error, match):
    # a float or str dim leaked pybind11's RuntimeError "Unable to cast ... to C++ type '?'",
    # True was read as dim 1
    with pytest.raises(error, match=match):
        _C.cumsum(np.ones((3, 4)), False, dim)
    x = np.arange(12.0).reshape(3, 4)
    for d in (np.int64(1), -2):
        np.testing.assert_array_equal(_C.cumsum(x, False, d), np.cumsum(x, int(d)))
