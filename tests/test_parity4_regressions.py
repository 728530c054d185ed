"""Regressions from a fourth sweep against PyTorch: edge values of elementwise maths and
creation ops, integer and empty inputs of activations, and nn modules / functional ops in
configurations the earlier sweeps did not list. Each test compares with torch directly."""

import math

import numpy as np
import pytest

import ember
import ember.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _same(e, t, rtol=0.0, atol=0.0):
    """ember result e equals torch result t: dtype, shape and values (bitwise by default)."""
    t = t.detach()
    assert str(e.dtype) == str(t.dtype).replace("torch.", ""), (e.dtype, t.dtype)
    assert tuple(e.shape) == tuple(t.shape), (e.shape, t.shape)
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=rtol, atol=atol)


# ---- tanh values just below 1: rounded as torch's (saturation at 9.01 / 19.06) ----------------


@pytest.mark.parametrize(("dtype", "lo", "hi"), [("float32", 8.0, 9.2), ("float64", 17.0, 19.3)])
def test_tanh_near_one_rounds_as_torch(dtype, lo, hi):
    x = np.linspace(lo, hi, 20001).astype(dtype)
    x = np.concatenate([x, -x])
    e, t = ember.tanh(ember.tensor(x)).numpy(), torch.tanh(torch.tensor(x)).numpy()
    # torch's (Sleef) is within 0.51 ulp; ember's is correctly rounded away from a hair's
    # width around the rounding boundaries, so all but a few values agree bit for bit
    assert np.mean(e != t) < 2e-3
    np.testing.assert_array_max_ulp(e, t, maxulp=1)
    first_one = x[: x.size // 2][e[: x.size // 2] == 1][0]
    torch_one = x[: x.size // 2][t[: x.size // 2] == 1][0]
    assert abs(first_one - torch_one) < 1e-4 * first_one
    # the saturation points of a correctly rounded tanh (1 - 2 exp(-2x) = 1 - ulp/4)
    assert abs(first_one - {"float32": 9.0109, "float64": 19.0616}[dtype]) < 1e-3


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tanh_is_within_an_ulp_or_two_everywhere(dtype):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(50000) * 4, np.linspace(-20, 20, 4001)]).astype(dtype)
    e = ember.tanh(ember.tensor(x)).numpy()
    np.testing.assert_array_max_ulp(e, torch.tanh(torch.tensor(x)).numpy(), maxulp=3)
    edge = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-30, -1e-30], dtype)
    _same(ember.tanh(ember.tensor(edge)), torch.tanh(torch.tensor(edge)))
    assert np.signbit(ember.tanh(ember.tensor(edge)).numpy()[1])


# ---- float64 arange: torch's vectorised fma formula, bit for bit --------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float_arange_matches_torch_bit_for_bit(dtype):
    rng = np.random.default_rng(3)
    for trial in range(300):
        start = float(rng.uniform(-50, 50)) if trial % 3 else float(rng.integers(-5, 5))
        step = float(rng.choice([0.1, 0.3, 1 / 3, 0.7, 1e-3, 2.5, -0.1, -0.37]))
        step *= float(rng.uniform(0.5, 2)) ** (trial % 2)
        n = int(rng.choice([1, 3, 7, 8, 9, 15, 16, 17, 33, 100, 1000]))
        end = start + step * n
        e = ember.arange(start, end, step, dtype=getattr(ember, dtype))
        t = torch.arange(start, end, step, dtype=getattr(torch, dtype))
        _same(e, t)


def test_float64_arange_spanning_threads_matches_torch():
    for n in (40000, 70001):
        e = ember.arange(0.1, 0.1 + 0.3 * n, 0.3, dtype=ember.float64)
        t = torch.arange(0.1, 0.1 + 0.3 * n, 0.3, dtype=torch.float64)
        if torch.get_num_threads() == ember.get_num_threads():
            _same(e, t)
        else:
            np.testing.assert_array_max_ulp(e.numpy(), t.numpy(), maxulp=1)


def test_default_dtype_float64_arange_as_torch():
    with_default = ember.get_default_dtype()
    ember.set_default_dtype(ember.float64)
    torch_default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        _same(ember.arange(0.1, 7.3, 0.3), torch.arange(0.1, 7.3, 0.3))
    finally:
        ember.set_default_dtype(with_default)
        torch.set_default_dtype(torch_default)


# ---- small gaps: frac, threshold, softmax, instance_norm, norm, maximum ---------------------


@pytest.mark.parametrize("dtype", ["bool", "int64", "uint8", "int32"])
def test_frac_of_integer_and_bool_refused_as_torch(dtype):
    x = np.array([1, 0, 1], dtype)
    with pytest.raises(NotImplementedError):
        torch.frac(torch.tensor(x))
    with pytest.raises(TypeError, match="frac"):
        ember.frac(ember.tensor(x))
    with pytest.raises(TypeError, match="frac"):
        ember.tensor(x).frac()
    f = np.array([1.5, -2.25, 0.0], "float32")
    _same(ember.frac(ember.tensor(f)), torch.frac(torch.tensor(f)))


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "int32", "int64"])
def test_threshold_of_integer_input_as_torch(dtype):
    x = np.array([0, 1, 5, 100, 127] + ([-1, -100] if dtype != "uint8" else [200, 255]), dtype)
    for thr in (-0.5, 0.5, 0.9, -1, 1, 127, 255.7, 256, -128.5, -129, math.nan, True):
        for val in (9, -2.7, 7.5, 300, -1):
            try:
                want = TF.threshold(torch.tensor(x), thr, val)
            except RuntimeError:
                with pytest.raises(RuntimeError, match="without overflow"):
                    F.threshold(ember.tensor(x), thr, val)
                continue
            _same(F.threshold(ember.tensor(x), thr, val), want)
    e, t = ember.tensor(x), torch.tensor(x)
    F.threshold(e, 1, 7, inplace=True)
    TF.threshold(t, 1, 7, inplace=True)
    _same(e, t)
    _same(
        ember.nn.Threshold(0.1, 20)(ember.tensor(x)), torch.nn.Threshold(0.1, 20)(torch.tensor(x))
    )


def test_threshold_refuses_values_out_of_a_float_dtypes_range_as_torch():
    # the threshold converts to the compute type (float32 for float16), the value to the dtype
    for dtype, args in (
        ("float32", (1e300, 1.0)), ("float32", (0.5, 1e39)), ("float16", (1e39, 1.0)),
        ("float16", (0.5, 70000.0)),
    ):  # fmt: skip
        x = np.array([1.0, 0.0], dtype)
        with pytest.raises(RuntimeError):
            TF.threshold(torch.tensor(x), *args)
        with pytest.raises(RuntimeError, match="threshold"):
            F.threshold(ember.tensor(x), *args)
    for dtype in ("float32", "float16"):
        x = np.array([1.0, 0.0], dtype)
        _same(
            F.threshold(ember.tensor(x), 70000.0, 1.0), TF.threshold(torch.tensor(x), 70000.0, 1.0)
        )
        for args in ((0.5, math.inf), (math.nan, 1.0), (-math.inf, 2.0)):
            _same(F.threshold(ember.tensor(x), *args), TF.threshold(torch.tensor(x), *args))
    with pytest.raises(TypeError):  # bool: NotImplementedError in torch
        F.threshold(ember.tensor(np.array([True])), 0, 1)


@pytest.mark.parametrize("shape", [(0, 3), (2, 0), (0,)])
@pytest.mark.parametrize("dtype", ["int64", "uint8", "bool"])
def test_softmax_family_of_an_empty_integer_tensor_as_torch(shape, dtype):
    x = np.zeros(shape, dtype)
    for name in ("softmax", "log_softmax", "softmin"):
        if name == "softmin" and dtype == "bool":
            continue  # torch refuses negating a bool tensor (test_parity3)
        e = getattr(F, name)(ember.tensor(x), dim=0)
        _same(e, getattr(TF, name)(torch.tensor(x), dim=0))
        _same(
            getattr(F, name)(ember.tensor(x), dim=-1, dtype=ember.float64),
            getattr(TF, name)(torch.tensor(x), dim=-1, dtype=torch.float64),
        )
    _same(ember.tensor(x).softmax(0), torch.tensor(x).softmax(0))
    _same(ember.tensor(x).log_softmax(-1), torch.tensor(x).log_softmax(-1))
    with pytest.raises(IndexError):
        F.softmax(ember.tensor(x), dim=len(shape))
    with pytest.raises(TypeError):  # not empty: refused (NotImplementedError in torch)
        F.softmax(ember.tensor(np.zeros((2, 2), "int64")), dim=0)


def test_instance_norm_of_a_2d_input_as_torch():
    x = np.random.default_rng(0).standard_normal((3, 5))
    rm, rv = np.linspace(-1, 1, 5), np.linspace(0.5, 2, 5)
    w, b = np.linspace(0.5, 1.5, 5), np.linspace(-0.2, 0.2, 5)
    e = F.instance_norm(
        ember.tensor(x), ember.tensor(rm), ember.tensor(rv), ember.tensor(w), ember.tensor(b),
        use_input_stats=False,
    )  # fmt: skip
    t = TF.instance_norm(
        torch.tensor(x), torch.tensor(rm), torch.tensor(rv), torch.tensor(w), torch.tensor(b),
        use_input_stats=False,
    )  # fmt: skip
    _same(e, t, rtol=1e-14)
    for shape in ((3, 5), (5,), (), (3, 5, 1)):  # with input statistics: refused as torch
        with pytest.raises(ValueError, match="more than 1 spatial element"):
            TF.instance_norm(torch.zeros(shape, dtype=torch.float64))
        with pytest.raises(ValueError, match="more than 1 spatial element"):
            F.instance_norm(ember.zeros(shape, dtype=ember.float64))
    # InstanceNorm1d reads a 2-D input as one unbatched (C, L) sample
    e, t = ember.nn.InstanceNorm1d(3)(ember.tensor(x)), torch.nn.InstanceNorm1d(3)(torch.tensor(x))
    _same(e, t, rtol=1e-12)


@pytest.mark.parametrize("p", [-1, -2, -0.5, -2.5, -math.inf])
@pytest.mark.parametrize("dim", [None, 1, (0, 1)])
def test_norm_with_negative_p_as_torch(p, dim):
    x = np.random.default_rng(1).standard_normal((3, 4))
    x[2, 1] = 0.0  # a zero entry: the norm of its row is 0 (|0|^p = inf), its gradient 0
    ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    e, t = ember.norm(ex, p=p, dim=dim), torch.norm(tx, p=p, dim=dim)
    _same(e, t, rtol=1e-13)
    _same(ex.norm(p=p, dim=dim), tx.norm(p=p, dim=dim), rtol=1e-13)
    e.sum().backward()
    t.sum().backward()
    _same(ex.grad, tx.grad, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("name", ["maximum", "minimum", "fmax", "fmin"])
def test_elementwise_extremes_take_a_python_number_as_a_0d_tensor(name):
    # torch refuses the bare number; design.md section 4 takes it as the 0-d tensor it makes
    x = np.array([0.5, -1.0, 2.0])
    for v in (0.5, np.float64(0.5), 1):
        with pytest.raises(TypeError):
            getattr(torch, name)(torch.tensor(x), v)
        want = getattr(torch, name)(torch.tensor(x), torch.tensor(v))
        _same(getattr(ember, name)(ember.tensor(x), v), want)
        _same(getattr(ember, name)(v, ember.tensor(x)), want)
        _same(getattr(ember.tensor(x), name)(v), want)
    # a 0-d tensor is a tensor
    _same(
        getattr(ember, name)(ember.tensor(x), ember.tensor(0.5)),
        getattr(torch, name)(torch.tensor(x), torch.tensor(0.5)),
    )


# ---- embedding_bag's scale_grad_by_freq: torch's CPU divisor ------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mode", ["sum", "mean"])
def test_embedding_bag_scale_grad_by_freq_divides_as_torch(mode, dtype):
    # torch divides the g-th smallest distinct index's gradient by the count of the g-th
    # sorted entry: [0, 2, 2, 2, 5, 1] gives index 5 a third (count(2)), not all of it
    rng = np.random.default_rng(0)
    cases = [
        (np.array([0, 2, 2, 2, 5, 1]), np.array([0, 2])),
        (np.array([[0, 2], [2, 2], [5, 1]]), None),
    ]
    for _ in range(30):
        n = int(rng.integers(1, 10))
        offsets = np.sort(rng.integers(0, n + 1, int(rng.integers(1, 4))))
        offsets[0] = 0
        cases.append((rng.integers(0, 6, n), offsets))
    for k, (idx, offsets) in enumerate(cases):
        kw = dict(mode=mode, scale_grad_by_freq=True, padding_idx=[None, 1, -2][k % 3])
        psw = rng.standard_normal(idx.shape).astype(dtype) if mode == "sum" and k % 2 else None
        w = rng.standard_normal((6, 3)).astype(dtype)
        ew, tw = ember.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
        eo = None if offsets is None else ember.tensor(offsets)
        to = None if offsets is None else torch.tensor(offsets)
        ep = None if psw is None else ember.tensor(psw, requires_grad=True)
        tp = None if psw is None else torch.tensor(psw, requires_grad=True)
        e = F.embedding_bag(ember.tensor(idx), ew, eo, per_sample_weights=ep, **kw)
        t = TF.embedding_bag(torch.tensor(idx), tw, to, per_sample_weights=tp, **kw)
        g = rng.standard_normal(tuple(t.shape)).astype(dtype)
        (e * ember.tensor(g)).sum().backward()
        (t * torch.tensor(g)).sum().backward()
        tol = 1e-12 if dtype == "float64" else 1e-5
        _same(e, t, rtol=tol, atol=tol)
        _same(ew.grad, tw.grad, rtol=tol, atol=tol)
        if psw is not None:
            _same(ep.grad, tp.grad, rtol=tol, atol=tol)


# ---- losses ---------------------------------------------------------------------------------


def test_ctc_loss_unbatched_1d_targets_are_concatenated_as_torch():
    # unbatched (T, C) log_probs: 1-D targets hold exactly target_length labels (torch's
    # concatenated form); (1, S) targets are padded
    lp = np.log(np.random.default_rng(0).dirichlet(np.ones(4), (6,)))
    for tl, ok, as_list in ((3, True, False), (3, True, True), (2, False, False), (0, False, True)):
        length = [tl] if as_list else tl

        def args(lib, length=length):
            return lib.tensor(lp), lib.tensor([2, 3, 3]), lib.tensor(6), lib.tensor(length)

        if ok:
            _same(F.ctc_loss(*args(ember), blank=1), TF.ctc_loss(*args(torch), blank=1), 1e-12)
            continue
        with pytest.raises(RuntimeError):
            TF.ctc_loss(*args(torch), blank=1)
        with pytest.raises(ValueError, match="sum\\(target_lengths\\)"):
            F.ctc_loss(*args(ember), blank=1)
    for tl in (2, 3):  # (1, S) padded targets
        e = F.ctc_loss(ember.tensor(lp), ember.tensor([[2, 3, 3]]), 6, ember.tensor(tl), blank=1)
        t = TF.ctc_loss(
            torch.tensor(lp), torch.tensor([[2, 3, 3]]), torch.tensor(6), torch.tensor(tl), blank=1
        )
        _same(e, t, 1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("graph", [False, True])
def test_binary_cross_entropy_gradients_at_the_ends_as_torch(reduction, graph, dtype):
    # d/dt = -logit(x): +-inf at x = 0 / 1 and past the forward's -100 clamp (x = 1e-50);
    # d/dx = (x - t) / max(x (1 - x), eps) with torch's eps, float32(1e-12) in float64 too
    x = np.array([0.0, 1.0, 0.3, 1e-50 if dtype == "float64" else 1e-30, 0.5, 1e-7], dtype)
    t = np.array([0.2, 0.7, 0.1, 0.5, 0.5, 0.5], dtype)
    ex, et = ember.tensor(x, requires_grad=True), ember.tensor(t, requires_grad=True)
    tx, tt = torch.tensor(x, requires_grad=True), torch.tensor(t, requires_grad=True)
    le = F.binary_cross_entropy(ex, et, reduction=reduction).sum()
    TF.binary_cross_entropy(tx, tt, reduction=reduction).sum().backward()
    if graph:
        ge = ember.autograd.grad(le, (ex, et), create_graph=True)
    else:
        le.backward()
        ge = (ex.grad, et.grad)
    tol = 1e-14 if dtype == "float64" else 1e-6
    _same(ge[0], tx.grad, rtol=tol)
    _same(ge[1], tt.grad, rtol=tol)


# ---- linear: torch's matmul + add beyond the (out, in) weight and (out,) bias -------------


@pytest.mark.parametrize(
    ("x", "w", "b"),
    [
        ((2, 3), (3,), None), ((3,), (3,), None), ((3,), (3,), ()), ((2, 2, 3), (3,), ()),
        ((2, 3), (4, 3), ()), ((2, 3), (4, 3), (1,)), ((2, 3), (4, 3), (2, 4)),
        ((5, 2, 3), (4, 3), (2, 4)), ((3,), (4, 3), ()),
    ],
)  # fmt: skip
def test_linear_with_a_1d_weight_or_a_broadcasting_bias_as_torch(x, w, b):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in (x, w)] + (
        [] if b is None else [rng.standard_normal(b)]
    )
    e = [ember.tensor(a, requires_grad=True) for a in arrays]
    t = [torch.tensor(a, requires_grad=True) for a in arrays]
    ye, yt = F.linear(*e), TF.linear(*t)
    _same(ye, yt, rtol=1e-13)
    g = rng.standard_normal(tuple(yt.shape))
    (ye * ember.tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    for a, c in zip(e, t, strict=True):
        _same(a.grad, c.grad, rtol=1e-13)


def test_linear_refuses_what_torch_refuses():
    for x, w, b in (
        ((2, 3), (3,), (2,)),
        ((2, 3), (4, 3), (3,)),
        ((2, 3), (2, 4, 3), None),
        ((2, 3), (), None),
    ):
        args = [np.ones(x), np.ones(w)] + ([] if b is None else [np.ones(b)])
        with pytest.raises(RuntimeError):
            TF.linear(*[torch.tensor(a) for a in args])
        with pytest.raises(ValueError, match="linear"):
            F.linear(*[ember.tensor(a) for a in args])


# ---- 16-bit interpolation: float32 taps and sums, one rounding (as torch) -------------------


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize(
    "kw",
    [
        dict(scale_factor=1.7, mode="bilinear"), dict(size=(9, 7), mode="bilinear"),
        dict(size=(9, 7), mode="bilinear", align_corners=True), dict(size=(9, 7), mode="bicubic"),
        dict(size=(9,), mode="linear"), dict(size=(4, 4, 4), mode="trilinear"),
    ],
)  # fmt: skip
def test_low_precision_interpolation_rounds_once_as_torch(kw, dtype):
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 5)).astype(np.float32)
    x = {"linear": x[:, :, 0], "trilinear": x[:, :, None]}.get(kw["mode"], x)
    tx = torch.tensor(x).to(getattr(torch, dtype))
    e = F.interpolate(ember.tensor(tx.float().numpy()).to(getattr(ember, dtype)), **kw)
    t = TF.interpolate(tx, **kw)
    assert str(e.dtype) == dtype
    e, t = e.numpy().astype(np.float32), t.float().numpy()
    # within one ulp of torch's (the 16-bit steps per axis were up to ten off); torch's
    # bicubic and 1-D linear kernels round differently in places: one ulp of the largest value
    ulp = np.spacing(np.abs(t).astype(getattr(np, dtype) if dtype == "float16" else np.float32))
    ulp = ulp.astype(np.float32) * (1 if dtype == "float16" else 2.0**16)
    limit = ulp if kw["mode"] in ("bilinear", "trilinear") else ulp.max()
    assert np.all(np.abs(e - t) <= limit), np.max(np.abs(e - t) / ulp)
