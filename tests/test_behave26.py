"""Indexing matched to PyTorch 2.13: advanced-index result strides on non-contiguous inputs
(size-1 dims, stepped slices, expanded / transposed / int32 index tensors, bool masks and
True / False keys, empty results), an Ellipsis standing for no dim between index tensors,
numpy.bool_ keys refused, and the values a True / False key refuses."""

import random

import numpy as np
import pytest

import ember


def _torch():
    return pytest.importorskip("torch")


# ---- 1. advanced-index strides: random keys against torch ------------------------------------


def _input(L, shape, kind, r):
    x = L.tensor(np.arange(float(np.prod(shape))).reshape(shape).tolist())
    if kind in ("perm", "permslice") and len(shape) >= 2:
        p = list(range(len(shape)))
        r.shuffle(p)
        x = x.permute(*p)
    if kind in ("slice", "permslice"):
        d = r.randrange(x.ndim)
        key = [slice(None)] * x.ndim
        key[d] = slice(r.randint(0, max(0, x.shape[d] - 1)), None, r.choice([1, 2]))
        x = x[tuple(key)]
    if kind == "expand":
        d, sh = r.randrange(x.ndim), list(x.shape)
        x = (
            x.expand(*sh[:d], 3, *sh[d + 1 :])
            if sh[d] == 1
            else x.unsqueeze(d).expand(*sh[:d], 2, *sh[d:])
        )
    return x


def _laid(L, vals, layout, dtype):
    """An index tensor of values ``vals`` in one of several layouts."""
    if layout == "t" and vals.ndim >= 2:
        return L.tensor(vals.T.tolist(), dtype=dtype).t()
    if layout == "step":
        return L.tensor(np.repeat(vals, 2, axis=-1).tolist(), dtype=dtype)[..., ::2]
    if layout == "expand":
        return L.tensor(vals[..., :1].tolist(), dtype=dtype).expand(*vals.shape[:-1], 3)
    return L.tensor(vals.tolist(), dtype=dtype)


def _key(r, shape):
    spec, d, ell = [], 0, False
    while d < len(shape) and len(spec) < len(shape) + 2:
        c, n = r.random(), shape[d]
        if c < 0.1:
            spec.append(("none",))
        elif c < 0.13:
            spec.append(("bool", r.random() < 0.5))
        elif c < 0.17 and not ell:
            ell = True
            spec.append(("ell",))
            d = len(shape) - r.randint(0, len(shape) - d)
        elif c < 0.3:
            spec.append(("int", r.randrange(-n, n)))
            d += 1
        elif c < 0.5:
            spec.append(("slice", r.choice([None, 0, 1]), r.choice([None, -1, n]),
                         r.choice([None, 1, 2, 3])))  # fmt: skip
            d += 1
        elif c < 0.85:
            shp = [r.choice([1, 2, 3]) for _ in range(r.choice([1, 1, 2]))]
            vals = np.array([r.randrange(-n, n) for _ in range(int(np.prod(shp)))]).reshape(shp)
            spec.append(("idx", vals, r.choice(["c", "t", "step", "expand"]),
                         r.choice(["int64", "int32"])))  # fmt: skip
            d += 1
        else:
            k = r.choice([1, 2]) if len(shape) - d >= 2 else 1
            vals = np.array([r.random() < 0.5 for _ in range(int(np.prod(shape[d : d + k])))])
            spec.append(("mask", vals.reshape(shape[d : d + k]), r.choice(["c", "t", "step"])))
            d += k
    return spec


def _realize(L, spec):
    out = []
    for it in spec:
        kind = it[0]
        if kind in ("none", "ell"):
            out.append(None if kind == "none" else Ellipsis)
        elif kind in ("bool", "int"):
            out.append(it[1])
        elif kind == "slice":
            out.append(slice(*it[1:]))
        elif kind == "idx":
            out.append(_laid(L, it[1], it[2], getattr(L, it[3])))
        else:
            out.append(_laid(L, it[1], it[2], L.bool))
    return tuple(out)


def _outcome(L, seed):
    r = random.Random(seed)
    shape = [r.choice([1, 1, 2, 3, 4]) for _ in range(r.randint(1, 4))]
    kind = r.choice(["plain", "perm", "slice", "expand", "permslice"])
    xr = random.Random(seed + 1)
    shp = tuple(_input(np_lib, shape, kind, random.Random(seed + 1)).shape)
    spec = _key(r, list(shp))
    if not any(it[0] in ("idx", "mask", "bool") for it in spec):
        return None  # (basic indexing: views)
    x = _input(L, shape, kind, xr)
    try:
        y = x[_realize(L, spec)]
    except IndexError:
        return "IndexError"
    return tuple(y.shape), y.stride(), y.numpy().tolist()


np_lib = ember  # (shapes only: the input's shape is the same in both libraries)


def test_random_advanced_index_strides_match_torch():
    torch = _torch()
    compared = 0
    for seed in range(500):
        want = _outcome(torch, seed)
        if want is None or want == "IndexError":
            continue  # (torch reads no position of an empty result: no range check there)
        got = _outcome(ember, seed)
        assert got == want, seed
        compared += 1
    assert compared > 200


def test_advanced_index_strides_hard_coded():
    x = ember.tensor(np.arange(8.0).reshape(2, 4, 1, 1))
    # a stepped slice beside size-1 dims: torch's index kernel orders by the strides
    assert x[1, ::2, ember.tensor([-1, -1]), ::3].stride() == (1, 2, 4)
    # an index with a size-1 dim whose stride is not C's (a transpose)
    i = ember.tensor([[0, 0]]).t()
    assert i.stride() == (1, 2)
    y = ember.tensor([5.0])[i]
    assert y.stride() == (1, 2) and y.numpy().tolist() == [[5.0], [5.0]]
    # an empty result keeps the index kernel's strides
    z = ember.tensor(np.arange(9.0).reshape(3, 1, 1, 3))[ember.tensor([True, True, False]), 0:-1]
    assert z.shape == (2, 0, 1, 3) and z.stride() == (0, 3, 0, 1)
    # True / False keys: torch's index tensors of one / no position (copies)
    x = ember.tensor(np.arange(12.0).reshape(4, 3))
    t = x[False, None]
    assert t.shape == (0, 1, 4, 3) and t.stride() == (12, 0, 3, 1)
    w = x[True]
    w[0, 0, 0] = 100.0
    assert x[0, 0].item() == 0.0


def test_advanced_index_strides_hard_coded_match_torch():
    torch = _torch()

    def run(L):
        x = L.tensor(np.arange(8.0).reshape(2, 4, 1, 1).tolist())
        xt = L.tensor(np.arange(24.0).reshape(2, 3, 4).tolist()).permute(2, 1, 0)
        cases = [
            x[1, ::2, L.tensor([-1, -1]), ::3], L.tensor([5.0])[L.tensor([[0, 0]]).t()],
            x[L.tensor([True, False]), 0:0], x[False, None], x[True], x[..., True],
            xt[L.tensor([0, 1, 2])], xt[L.tensor([[0], [1]], dtype=L.int32).t()],
        ]  # fmt: skip
        return [(tuple(c.shape), c.stride(), c.numpy().tolist()) for c in cases]

    assert run(ember) == run(torch)


# ---- 2. an Ellipsis standing for no dim does not separate the index tensors ------------------


def test_empty_ellipsis_between_index_tensors_keeps_their_place():
    torch = _torch()

    def run(L):
        x = L.tensor(np.arange(24.0).reshape(2, 3, 4).tolist())
        i, j = L.tensor([0, 2, 1]), L.tensor([[3], [0]])
        out = []
        for key in [(slice(None), i, ..., j), (slice(1, None), i, ..., j), (0, i, ..., j)]:
            y = x[key]
            out.append((tuple(y.shape), y.numpy().tolist()))
        x[:, i, ..., j] = L.tensor(np.arange(12.0).reshape(2, 2, 3).tolist())
        return out, x.numpy().tolist()

    got = run(ember)
    assert got == run(torch)
    assert got[0][0][0] == (2, 2, 3)  # (NumPy's own: (2, 3, 2))


# ---- 3. numpy.bool_ keys, and the values a True / False key refuses ---------------------------

NP_BOOL = "only integers, slices .* are valid indices \\(got numpy.bool\\)"


@pytest.mark.parametrize("key", [np.False_, np.True_, (np.False_, 0), (0, np.True_)])
def test_numpy_bool_key_refused_as_torch(key):
    x = ember.zeros(2, 3)
    with pytest.raises(IndexError, match=NP_BOOL):
        x[key]
    with pytest.raises(IndexError, match=NP_BOOL):
        x[key] = 1.0
    assert x._version == 0 and not x.numpy().any()


@pytest.mark.parametrize("key", [False, True, (False, 0), (0, False), (True, 0), (..., False)])
@pytest.mark.parametrize("value", [[1.0, 2.0], np.array([1.0, 2.0]), (1, 2), None])
def test_bool_key_refuses_lists_and_arrays(key, value):
    x = ember.zeros(2, 3)
    with pytest.raises(TypeError, match=f"can't assign a {type(value).__name__}"):
        x[key] = value
    assert not x.numpy().any()


@pytest.mark.parametrize("key", [0, (slice(None), 1), ember.tensor([0, 1])])
def test_none_value_refused_not_written_as_nan(key):
    x = ember.zeros(2, 3)
    with pytest.raises(TypeError, match="can't assign a NoneType"):
        x[key] = None
    assert not np.isnan(x.numpy()).any()


def test_bool_key_reads_and_writes_match_torch():
    torch = _torch()

    def run(L, key, value):
        x = L.zeros(2, 3, dtype=L.float64)
        try:
            r = x[key]
            read = (tuple(r.shape), r.stride())
            x[key] = value
        except (TypeError, IndexError) as e:
            return type(e).__name__
        return read, x.numpy().tolist(), x._version

    for key in [False, True, (False, 0), (0, False), (True, 0), (True, ...), (None, False)]:
        for value in [1, 2.5, [1.0, 2.0], None]:
            assert run(ember, key, value) == run(torch, key, value), (key, value)


# ---- 4. a full backward hook's outputs refuse in-place writes, as torch's ---------------------

HOOK_VIEW = "Output 0 of (BackwardHookFunction|Select) is a view and is being modified inplace"


def _hooked(L, module, calls):
    module.register_full_backward_hook(lambda m, gi, go: calls.append(len(gi)))
    return module


@pytest.mark.parametrize(
    "write", [lambda y: y.mul_(2), lambda y: y[0].add_(1), lambda y: y.relu_()]
)
def test_full_backward_hook_output_written_in_place_raises(write):
    calls = []
    m = _hooked(ember, ember.nn.Linear(3, 2).double(), calls)
    y = m(ember.ones(1, 3, dtype=ember.float64, requires_grad=True))
    with pytest.raises(RuntimeError, match=HOOK_VIEW):
        write(y)
    assert calls == []
    y.sum().backward()  # (the refused write left the graph as it was: the hook runs)
    assert calls == [1]


def test_full_backward_hook_in_place_matches_torch():
    torch = _torch()

    def run(L, inplace_module, write):
        calls = []
        m = _hooked(L, L.nn.Sequential(L.nn.Linear(3, 2), L.nn.ReLU(inplace_module)), calls)
        m = m.double()
        with L.no_grad():
            m[0].weight.copy_(L.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]]))
            m[0].bias.copy_(L.tensor([0.1, -3.0]))
        x = L.ones(1, 3, dtype=L.float64, requires_grad=True)
        try:
            y = m(x)
            if write:
                y.add_(1)
            y.sum().backward()
        except RuntimeError as e:
            return "RuntimeError", str(e)[:60]
        return calls, x.grad.numpy().tolist()

    for inplace_module in (False, True):
        for write in (False, True):
            got, want = run(ember, inplace_module, write), run(torch, inplace_module, write)
            if isinstance(want, tuple) and want[0] == "RuntimeError":
                assert got == want
            else:
                assert got[0] == want[0]
                np.testing.assert_allclose(got[1], want[1], rtol=1e-12)
