"""Parity with torch 2.13 for gaps earlier sessions left: result strides of the binary ops
off _apply_broadcasting, out= resizing, expanded inputs, inference-mode views, pickled views,
the generator's seed and state, complex inputs, keyword aliases and a few small ones."""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


def _layouts(lib, dtype):
    """(name, tensor) pairs of one (3, 4) shape: contiguous, transposed, two expanded."""
    return {
        "c": lib.arange(12, dtype=dtype).reshape(3, 4) + 1,
        "t": lib.arange(1, 13, dtype=dtype).reshape(4, 3).t(),
        "e_row": lib.arange(1, 5, dtype=dtype).reshape(1, 4).expand(3, 4),
        "e_col": lib.arange(1, 4, dtype=dtype).reshape(3, 1).expand(3, 4),
    }


_PAIRS = [("t", "c"), ("c", "t"), ("t", "t"), ("e_row", "t"), ("t", "e_col"), ("e_row", "e_col")]
_FLOAT_OPS = [
    "hypot", "maximum", "minimum", "atan2", "copysign", "floor_divide", "fmod", "remainder",
    "xlogy", "logical_and", "logical_or", "logical_xor", "fmax", "fmin", "nextafter",
    "logaddexp", "heaviside", "eq", "lt", "igamma",
]  # fmt: skip
_INT_OPS = [
    "bitwise_and", "bitwise_or", "bitwise_xor", "maximum", "floor_divide", "fmod",
    "remainder", "gcd", "bitwise_left_shift", "logical_and",
]  # fmt: skip


@pytest.mark.parametrize("pair", _PAIRS)
@pytest.mark.parametrize(
    "op,dtype", [(o, "float32") for o in _FLOAT_OPS] + [(o, "int64") for o in _INT_OPS]
)
def test_binary_result_strides_follow_torch(op, dtype, pair):
    tx = _layouts(torch, getattr(torch, dtype))
    ex = _layouts(ember, getattr(ember, dtype))
    want = getattr(torch, op)(tx[pair[0]], tx[pair[1]])
    got = getattr(ember, op)(ex[pair[0]], ex[pair[1]])
    assert got.stride() == want.stride()
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5)  # (libm's last bits)


def test_binary_result_strides_methods_operators_and_grad():
    tt, tc = _layouts(torch, torch.int64)["t"], _layouts(torch, torch.int64)["c"]
    et, ec = _layouts(ember, ember.int64)["t"], _layouts(ember, ember.int64)["c"]
    for f in (lambda a, b: a & b, lambda a, b: a ^ b, lambda a, b: a // b, lambda a, b: a % b):
        assert f(et, ec).stride() == f(tt, tc).stride()
    tt, tc = _layouts(torch, torch.float64)["t"], _layouts(torch, torch.float64)["c"]
    et, ec = _layouts(ember, ember.float64)["t"], _layouts(ember, ember.float64)["c"]
    assert et.fmod(2.5).stride() == tt.fmod(2.5).stride()
    assert et.remainder(2.5).stride() == tt.remainder(2.5).stride()
    ta = torch.arange(12.0, dtype=torch.float64).reshape(4, 3).requires_grad_()
    ea = ember.arange(12.0, dtype=ember.float64).reshape(4, 3).requires_grad_()
    ta, ea = ta.t(), ea.t()  # (in the graph: the node's path)
    for name in ("hypot", "atan2", "maximum", "xlogy"):
        want = getattr(torch, name)(ta, tc)
        got = getattr(ember, name)(ea, ec)
        assert got.stride() == want.stride(), name


@pytest.mark.parametrize("pair", [("t", "c"), ("c", "t"), ("e_row", "t")])
def test_clamp_tensor_bounds_strides(pair):
    tx, ex = _layouts(torch, torch.float32), _layouts(ember, ember.float32)
    a, b = pair
    for kw in ({"min": 0}, {"max": 0}):
        key = next(iter(kw))
        want = torch.clamp(tx[a], **{key: tx[b]})
        got = ember.clamp(ex[a], **{key: ex[b]})
        assert got.stride() == want.stride()
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    want = torch.clamp(tx[a], tx[b], tx[b] + 3)
    got = ember.clamp(ex[a], ex[b], ex[b] + 3)
    assert got.stride() == want.stride()
    np.testing.assert_array_equal(got.numpy(), want.numpy())


# ---- out= ------------------------------------------------------------------------------------


def _out_call(lib, name, out):
    one = lib.ones
    calls = {
        "addmm": lambda: lib.addmm(one(2, 3), one(2, 4), one(4, 3), out=out),
        "addmv": lambda: lib.addmv(one(2), one(2, 3), one(3), out=out),
        "gather": lambda: lib.gather(one(2, 3), 1, lib.zeros(2, 3, dtype=lib.int64), out=out),
        "index_select": lambda: lib.index_select(one(2, 3), 1, lib.tensor([0, 1, 2]), out=out),
        "cross": lambda: lib.linalg.cross(one(2, 3), one(2, 3), out=out),
        "take": lambda: lib.take(one(2, 3), lib.tensor([[0, 1, 2], [3, 4, 5]]), out=out),
        "sort": lambda: lib.sort(one(2, 3), out=(out, lib.zeros(2, 3, dtype=lib.int64))),
        "topk": lambda: lib.topk(one(2, 3), 3, out=(out, lib.zeros(2, 3, dtype=lib.int64))),
    }
    return calls[name]()


@pytest.mark.parametrize(
    "name", ["addmm", "addmv", "gather", "index_select", "cross", "take", "sort", "topk"]
)
def test_out_of_another_dtype_is_refused_where_torch_refuses(name):
    shape = (2,) if name == "addmv" else (2, 3)
    with pytest.raises(RuntimeError):
        _out_call(torch, name, torch.zeros(shape, dtype=torch.float64))
    with pytest.raises(RuntimeError, match="dtype"):
        _out_call(ember, name, ember.zeros(shape, dtype=ember.float64))
    got = ember.zeros(shape)  # float32: written
    _out_call(ember, name, got)
    want = torch.zeros(shape)
    _out_call(torch, name, want)
    np.testing.assert_allclose(got.numpy(), want.numpy())


def test_median_values_out_is_strict():
    with pytest.raises(RuntimeError):
        tidx = torch.zeros((), dtype=torch.int64)
        torch.median(torch.ones(3), 0, out=(torch.zeros((), dtype=torch.float64), tidx))
    idx = ember.zeros((), dtype=ember.int64)
    with pytest.raises(RuntimeError, match="dtype"):
        ember.median(ember.ones(3), 0, out=(ember.zeros((), dtype=ember.float64), idx))


@pytest.mark.parametrize("name", ["arange", "linspace"])
@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_range_out_of_the_right_size_keeps_its_shape(name, dtype):
    def call(lib):
        out = lib.full((2, 3), 7, dtype=getattr(lib, dtype))
        r = lib.arange(6, out=out) if name == "arange" else lib.linspace(0, 5, 6, out=out)
        assert r is out
        return out

    want, got = call(torch), call(ember)
    assert got.shape == tuple(want.shape) and got.dtype == getattr(ember, dtype)
    np.testing.assert_array_equal(got.numpy(), want.numpy())


# ---- new tensors from expanded or transposed inputs ----------------------------------------


def _strided(lib, kind):
    if kind == "col":
        return lib.arange(1.0, 4.0).reshape(3, 1).expand(3, 4)
    if kind == "row":
        return lib.arange(1.0, 5.0).reshape(1, 4).expand(3, 4)
    return lib.arange(1.0, 13.0).reshape(4, 3).t()


_FROM_STRIDED = {
    "nan_to_num": lambda x: x.nan_to_num(),
    "nan_to_num_args": lambda x: x.nan_to_num(0.0, 1.0, -1.0),
    "roll": lambda x: x.roll(1, 0),
    "logcumsumexp": lambda x: x.logcumsumexp(1),
    "repeat": lambda x: x.repeat(1, 2),
    "repeat_ones": lambda x: x.repeat(1, 1),
    "cumsum": lambda x: x.cumsum(1),
    "sum_keepdim": lambda x: x.sum(1, keepdim=True),
    "lerp": lambda x: x.lerp(x * 2, 0.25),
}


@pytest.mark.parametrize("kind", ["col", "row", "t"])
@pytest.mark.parametrize("name", sorted(_FROM_STRIDED))
def test_new_tensor_from_strided_input_has_torchs_layout(name, kind):
    f = _FROM_STRIDED[name]
    want, got = f(_strided(torch, kind)), f(_strided(ember, kind))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    assert got.is_contiguous() == want.is_contiguous()
    if want.numel() and min(want.shape) > 1:
        assert got.stride() == want.stride()
    if want.is_contiguous():
        np.testing.assert_allclose(got.view(-1).numpy(), want.view(-1).numpy(), rtol=1e-6)


def test_repeat_of_expanded_input_is_a_copy():
    x = ember.ones(3, 1).expand(3, 4)
    r = x.repeat(1, 2)
    r[0, 0] = 5.0  # a view of x's stride-0 storage would write many places
    assert float(r.sum()) == 3 * 8 - 1 + 5
    assert float(x.sum()) == 12


# ---- views made in inference_mode ------------------------------------------------------------

_VIEWS = {
    "squeeze": lambda L, x: x.squeeze(0),
    "unsqueeze": lambda L, x: x.unsqueeze(0),
    "expand": lambda L, x: x.expand(2, 3, 4),
    "narrow": lambda L, x: x.narrow(1, 0, 2),
    "select": lambda L, x: x.select(1, 0),
    "unbind": lambda L, x: x.unbind(1)[2],
    "split": lambda L, x: x.split(2, 2)[1],
    "chunk": lambda L, x: x.chunk(2, 2)[0],
    "diagonal": lambda L, x: x.diagonal(0, 1, 2),
    "t": lambda L, x: x[0].t(),
    "transpose": lambda L, x: x.transpose(1, 2),
    "fn_squeeze": lambda L, x: L.squeeze(x, 0),
    "fn_narrow": lambda L, x: L.narrow(x, 1, 0, 2),
    "fn_select": lambda L, x: L.select(x, 1, 0),
    "fn_unbind": lambda L, x: L.unbind(x, 1)[0],
    "fn_chunk": lambda L, x: L.chunk(x, 2, 2)[1],
    "fn_diagonal": lambda L, x: L.diagonal(x, 0, 1, 2),
}


@pytest.mark.parametrize("name", sorted(_VIEWS))
def test_views_in_inference_mode_keep_the_source_kind(name):
    f = _VIEWS[name]
    before = (ember.Tensor.squeeze, ember.squeeze, ember.Tensor.narrow)
    got = []
    for lib in (torch, ember):
        normal = lib.ones(1, 3, 4)
        with lib.inference_mode():
            inf = lib.ones(1, 3, 4)
            of_normal, of_inf, fresh = f(lib, normal), f(lib, inf), f(lib, normal) + 1
        got.append((of_normal.is_inference(), of_inf.is_inference(), fresh.is_inference()))
    assert got[1] == got[0]
    # outside the mode the ops are as defined (no wrapper left behind)
    assert before == (ember.Tensor.squeeze, ember.squeeze, ember.Tensor.narrow)


def test_view_of_normal_tensor_made_in_inference_mode_can_be_written_after():
    x = ember.zeros(1, 3)
    with ember.inference_mode():
        v = x.squeeze(0)
    v.add_(1)  # torch allows it: v is a normal tensor
    np.testing.assert_array_equal(x.numpy(), np.ones((1, 3), np.float32))


# ---- pickled views ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["t", "slice", "step", "expand", "narrow"])
def test_pickled_view_keeps_values_and_strides(kind):
    import pickle

    def view(lib):
        x = lib.arange(12.0).reshape(3, 4)
        return {
            "t": lambda: x.t(),
            "slice": lambda: x[1:, 1:3],
            "step": lambda: x[:, ::2],
            "expand": lambda: lib.arange(3.0).reshape(3, 1).expand(3, 4),
            "narrow": lambda: x.narrow(0, 1, 2),
        }[kind]()

    want = pickle.loads(pickle.dumps(view(torch)))
    got = pickle.loads(pickle.dumps(view(ember)))
    assert got.stride() == want.stride() and got.is_contiguous() == want.is_contiguous()
    np.testing.assert_array_equal(got.numpy(), want.numpy())


# ---- seeds and generator state ---------------------------------------------------------------


@pytest.mark.parametrize("seed", [1.5, 2.0, "3", True, np.int64(4)])
def test_manual_seed_reads_int_of_its_argument_as_torch(seed):
    torch.manual_seed(seed)  # (torch's int(seed))
    ember.manual_seed(seed)
    a = ember.rand(4)
    ember.manual_seed(int(seed))
    np.testing.assert_array_equal(a.numpy(), ember.rand(4).numpy())


@pytest.mark.parametrize("seed", [None, [1]])
def test_manual_seed_refuses_what_int_refuses(seed):
    with pytest.raises(TypeError):
        torch.manual_seed(seed)
    with pytest.raises(TypeError):
        ember.manual_seed(seed)


@pytest.mark.parametrize("seed", [1.5, True, "3"])
def test_generator_manual_seed_takes_only_an_int(seed):
    for lib in (torch, ember):
        with pytest.raises(RuntimeError, match="expected a long"):
            lib.Generator().manual_seed(seed)
        with pytest.raises(RuntimeError, match="expected a long"):
            lib.default_generator.manual_seed(seed)


@pytest.mark.parametrize("which", ["generator", "default", "global"])
def test_generator_state_is_a_uint8_tensor_that_round_trips(which):
    g = ember.Generator().manual_seed(11)
    get, put, draw = {
        "generator": (g.get_state, g.set_state, lambda: ember.rand(7, generator=g)),
        "default": (
            ember.default_generator.get_state,
            ember.default_generator.set_state,
            lambda: ember.rand(7),
        ),
        "global": (ember.get_rng_state, ember.set_rng_state, lambda: ember.randn(7)),
    }[which]
    draw()
    state = get()
    assert isinstance(state, ember.Tensor) and state.dtype == ember.uint8 and state.ndim == 1
    a = draw()
    put(state)
    np.testing.assert_array_equal(draw().numpy(), a.numpy())
    assert ember.equal(get(), get()) and not ember.equal(state, get())
    ts = torch.get_rng_state()
    assert isinstance(ts, torch.Tensor) and ts.dtype == torch.uint8 and ts.ndim == 1


def test_generator_set_state_refuses_bad_input_as_torch():
    g, tg = ember.Generator(), torch.Generator()
    with pytest.raises(TypeError):
        tg.set_state([1, 2])
    with pytest.raises(TypeError, match="ByteTensor"):
        g.set_state([1, 2])
    with pytest.raises(TypeError, match="ByteTensor"):
        g.set_state({"bit_generator": "PCG64"})
    with pytest.raises(TypeError):
        tg.set_state(torch.zeros(5056))
    with pytest.raises(TypeError, match="ByteTensor"):
        g.set_state(g.get_state().float())
    with pytest.raises(RuntimeError):
        tg.set_state(torch.zeros(10, dtype=torch.uint8))
    with pytest.raises(RuntimeError, match="size"):
        g.set_state(ember.zeros(10, dtype=ember.uint8))
    with pytest.raises(RuntimeError, match="Invalid"):
        g.set_state(ember.zeros(g.get_state().shape[0], dtype=ember.uint8))


# ---- complex input ---------------------------------------------------------------------------

_COMPLEX_VALS = np.array([[1 + 2j, -0.5 + 0.1j, 0.3 - 1j, 0.0], [2 - 1j, 0.1 + 0.1j, -1 + 0j, 3j]])
_COMPLEX_OPS = {
    "cumprod": lambda L, x: L.cumprod(x, 1),
    "exp2": lambda L, x: L.exp2(x),
    "logaddexp": lambda L, x: L.logaddexp(x, x * 0.5 - 1j),
    "logsumexp": lambda L, x: L.logsumexp(x, 1),
    "logsumexp_all_keepdim": lambda L, x: L.logsumexp(x, (0, 1), keepdim=True),
    "logcumsumexp": lambda L, x: L.logcumsumexp(x, 1),
    "sinc": lambda L, x: L.sinc(x),
    "method_cumprod": lambda L, x: x.cumprod(0),
    "method_logsumexp": lambda L, x: x.logsumexp(0),
}


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
@pytest.mark.parametrize("name", sorted(_COMPLEX_OPS))
def test_complex_input_values_and_gradients_as_torch(name, dtype):
    f = _COMPLEX_OPS[name]
    res = []
    for lib in (torch, ember):
        x = lib.tensor(_COMPLEX_VALS.astype(dtype), requires_grad=True)
        y = f(lib, x)
        w = np.linspace(0.3, 1.7, y.numel()).reshape(tuple(y.shape)) * (1 - 0.5j)
        (y * lib.tensor(w.astype(dtype))).abs().sum().backward()
        res.append((y.detach().numpy(), x.grad.resolve_conj().numpy(), str(y.dtype)))
    (tv, tg, tdt), (ev, eg, edt) = res
    assert edt == tdt.replace("torch.", "")
    tol = 1e-4 if dtype == "complex64" else 1e-10
    np.testing.assert_allclose(ev, tv, rtol=tol, atol=tol)
    np.testing.assert_allclose(eg, tg, rtol=10 * tol, atol=10 * tol)


@pytest.mark.parametrize("name", ["kthvalue", "cummax", "cummin"])
def test_complex_input_still_refused_where_torch_refuses(name):
    x = _COMPLEX_VALS.astype(np.complex64)
    args = (2, 1) if name == "kthvalue" else (1,)
    with pytest.raises(RuntimeError):
        getattr(torch, name)(torch.tensor(x), *args)
    with pytest.raises(TypeError, match="complex"):
        getattr(ember, name)(ember.tensor(x), *args)


# ---- keywords --------------------------------------------------------------------------------


def test_to_takes_torchs_tensor_keyword():
    want = torch.ones(2).to(tensor=torch.zeros(2, dtype=torch.float64))
    got = ember.ones(2).to(tensor=ember.zeros(2, dtype=ember.float64))
    assert str(got.dtype) == str(want.dtype).replace("torch.", "")
    with pytest.raises(TypeError):
        ember.ones(2).to(other=ember.zeros(2))  # (not a torch keyword either)


@pytest.mark.parametrize("name", ["zeros", "ones", "empty", "rand", "randn"])
def test_factories_take_size_keyword(name):
    assert getattr(ember, name)(size=(2, 3)).shape == tuple(getattr(torch, name)(size=(2, 3)).shape)


# ---- small ones ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        lambda L: (L.zeros(3, 1), lambda x: x.expand(3, 4).narrow(1, 0, 2).fill_(2)),
        lambda L: (L.zeros(2, 3), lambda x: x[:, 1:2].expand(2, 5).fill_(7)),
        lambda L: (L.ones(2, 3), lambda x: x[:, 1:2].expand(2, 5).zero_()),
        lambda L: (L.arange(6.0).reshape(2, 3), lambda x: x.t()[:, :1].expand(3, 4).fill_(5)),
    ],
)
def test_fill_of_an_expanded_view_writes_the_memory_it_views(case):
    res = []
    for lib in (torch, ember):
        base, f = case(lib)
        out = f(base)
        res.append((base.numpy().copy(), out.numpy().copy()))
    np.testing.assert_array_equal(res[1][0], res[0][0])
    np.testing.assert_array_equal(res[1][1], res[0][1])


def test_add_into_an_expanded_view_still_refused():
    with pytest.raises(RuntimeError):
        torch.zeros(3, 1).expand(3, 4).add_(1)
    with pytest.raises(RuntimeError):
        ember.zeros(3, 1).expand(3, 4).add_(1)


@pytest.mark.parametrize(
    "call",
    [
        lambda L: L.ones(3).lerp_(L.zeros(3, dtype=L.float64), 0.5),
        lambda L: L.ones(3, dtype=L.float16).lerp_(L.zeros(3), 0.5),
        lambda L: L.ones(3).lerp_(L.zeros(3), L.full((3,), 0.5, dtype=L.float64)),
        lambda L: L.lerp(L.ones(3), L.zeros(3, dtype=L.float64), 0.5),
        lambda L: L.lerp(L.ones(3, dtype=L.float64), L.zeros(3, dtype=L.float64), L.ones(3)),
    ],
)
def test_lerp_refuses_other_dtypes_as_torch(call):
    with pytest.raises(RuntimeError, match="expected dtype"):
        call(torch)
    with pytest.raises(RuntimeError, match="expected dtype"):
        call(ember)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_lerp_keeps_dtype_and_values(dtype):
    res = []
    for lib in (torch, ember):
        dt = getattr(lib, dtype)
        x = lib.tensor([1.0, -2.0, 3.5], dtype=dt)
        x.lerp_(lib.tensor([0.5, 4.0, -1.0], dtype=dt), 0.3)
        y = lib.lerp(x, lib.zeros(3, dtype=dt), lib.tensor(0.75, dtype=lib.float64))
        res.append((str(x.dtype), x.float().numpy(), str(y.dtype), y.float().numpy()))
    (a, b, c, d), (e, f, g, h) = res
    assert (e, g) == (a.replace("torch.", ""), c.replace("torch.", ""))
    np.testing.assert_allclose(f, b, rtol=1e-2 if "16" in dtype else 1e-6)
    np.testing.assert_allclose(h, d, rtol=1e-2 if "16" in dtype else 1e-6)


@pytest.mark.parametrize(
    "f",
    [
        lambda x: x.sum(1),
        lambda x: x.sum(1, keepdim=True),
        lambda x: x.sum(0),
        lambda x: x.mean(2),
        lambda x: x.mean((0, 2)),
        lambda x: x.amax(1),
        lambda x: x.amin((1, 2)),
        lambda x: x.prod(1),
    ],
)
@pytest.mark.parametrize("grad", [False, True])
def test_reductions_of_permuted_input_are_c_contiguous(f, grad):
    res = []
    for lib in (torch, ember):
        x = lib.arange(1.0, 25.0, dtype=lib.float64).reshape(4, 3, 2).requires_grad_(grad)
        y = f(x.permute(2, 1, 0))
        res.append((y.stride(), y.detach().reshape(-1).numpy()))
        y.view(-1)  # (torch's is contiguous)
    assert res[1][0] == res[0][0]
    np.testing.assert_allclose(res[1][1], res[0][1])


_SORT_INPUTS = {
    "contiguous": lambda L: L.arange(60.0).reshape(3, 4, 5) % 7,
    "transposed": lambda L: (L.arange(12.0) % 5).reshape(4, 3).t(),
    "permuted": lambda L: (L.arange(24.0) % 7).reshape(4, 3, 2).permute(2, 0, 1),
    "sliced": lambda L: (L.arange(24.0) % 5).reshape(3, 8)[:, ::2],
    "expanded": lambda L: L.arange(3.0).reshape(3, 1).expand(3, 4),
    "int_transposed": lambda L: (L.arange(12) % 5).reshape(4, 3).t(),
}


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("kind", sorted(_SORT_INPUTS))
def test_sort_and_topk_results_laid_out_as_torch(kind, dim):
    t, e = _SORT_INPUTS[kind](torch), _SORT_INPUTS[kind](ember)
    for f in (
        lambda x: x.sort(dim),
        lambda x: x.sort(dim, descending=True),
        lambda x: x.sort(dim=dim, stable=True),
        lambda x: x.topk(2, dim),
    ):
        want, got = f(t), f(e)
        assert (got[0].stride(), got[1].stride()) == (want[0].stride(), want[1].stride())
        np.testing.assert_array_equal(got[0].numpy(), want[0].numpy())
    assert e.argsort(dim=dim, stable=True).stride() == t.argsort(dim=dim, stable=True).stride()
