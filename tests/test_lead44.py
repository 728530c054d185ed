"""Session 44's merge and review mends: bincount's overflow and weights checks, out= of a
product overlapping its operands, Tensor.unfold's error class, float16 rounding to inf."""

import threading
import warnings

import numpy as np
import pytest

import ember
from ember import _C


# ---- bincount ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call",
    [
        lambda: ember.bincount(ember.tensor([3, 2**63 - 1]), minlength=4),
        lambda: ember.bincount(ember.tensor([2**63 - 1])),
        lambda: ember.bincount(
            ember.tensor([2**63 - 1]), ember.tensor([1.0], dtype=ember.float64), minlength=4
        ),
    ],
)
def test_bincount_refuses_int64_max_as_torch(call):
    # (hi + 1 overflowed: the kernel wrote far outside its result)
    with pytest.raises(RuntimeError, match="maximum value of input overflowed"):
        call()


def test_bincount_largest_value_below_the_limit_is_counted():
    x = np.array([0, 5, 5, 2], np.int64)
    np.testing.assert_array_equal(ember.bincount(ember.tensor(x)).numpy(), np.bincount(x))


@pytest.mark.parametrize("weights", [5, [1.0, 2.0], (1.0, 2.0), "ab"])
def test_c_bincount_weights_must_be_an_array(weights):
    with pytest.raises(TypeError, match="weights must be a NumPy array or None"):
        _C.bincount(np.array([1, 2], np.int64), weights, 0)


def test_bincount_complex_weights_warn_and_take_the_real_part():
    torch = pytest.importorskip("torch")
    x, w = [0, 1, 1], [1 + 2j, 3j, 4 + 0j]
    with pytest.warns(UserWarning, match="discards the imaginary part"):
        got = ember.bincount(ember.tensor(x), ember.tensor(w))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = torch.bincount(torch.tensor(x), torch.tensor(w))
    assert str(got.dtype).endswith("float64") and want.dtype == torch.float64
    np.testing.assert_array_equal(got.numpy(), want.numpy())


# ---- randint draws without the GIL, its values still NumPy's -----------------------------------
def test_randint_from_threads_matches_numpy_streams():
    results = {}

    def draw(i):
        g = ember.Generator().manual_seed(i)
        results[i] = ember.randint(0, 1000, (200, 50), generator=g).numpy()

    threads = [threading.Thread(target=draw, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        g = ember.Generator().manual_seed(i)
        np.testing.assert_array_equal(
            results[i], ember.randint(0, 1000, (200, 50), generator=g).numpy()
        )


# ---- out= overlapping a product's operands: the product, computed first ----------------------
@pytest.mark.parametrize("name", ["mm", "matmul", "addmm"])
def test_product_into_a_part_of_its_operand(name):
    e = ember.arange(64.0).reshape(8, 8)
    a, b = e[:4].numpy().copy(), e.numpy().copy()
    want = a @ b + (1.0 if name == "addmm" else 0.0)
    if name == "addmm":
        ember.addmm(ember.ones(4, 8), e[:4], e, out=e[4:])
    else:
        getattr(ember, name)(e[:4], e, out=e[4:])
    # (torch 2.13 writes while it reads here: garbage; ember's result is the product)
    np.testing.assert_array_equal(e[4:].numpy(), want)
    np.testing.assert_array_equal(e[:4].numpy(), a)


def test_bmm_into_a_part_of_its_operand():
    e = ember.arange(128.0).reshape(2, 8, 8)
    a, b = e[:, :4].numpy().copy(), e.numpy().copy()
    ember.bmm(e[:, :4], e, out=e[:, 4:])
    np.testing.assert_array_equal(e[:, 4:].numpy(), a @ b)


def test_elementwise_out_overlapping_its_input_still_refused_as_torch():
    e = ember.arange(8.0)
    with pytest.raises(RuntimeError, match="memory location|overlap"):
        ember.add(e[:4], 1.0, out=e[2:6])


# ---- Tensor.unfold -----------------------------------------------------------------------------
@pytest.mark.parametrize("size, step", [(5, 1), (2, 0), (-1, 1)])
def test_unfold_refusals_are_torchs_runtime_error(size, step):
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError):
        torch.zeros(3).unfold(0, size, step)
    with pytest.raises(RuntimeError, match="unfold"):
        ember.zeros(3).unfold(0, size, step)


# ---- float16 rounding beyond its range ---------------------------------------------------------
@pytest.mark.parametrize("n", [2, 100000])  # NumPy's cast, and the _C.cast16 kernel
def test_half_of_a_float_beyond_its_range_is_inf_without_warning(n):
    x = np.full(n, 1.0, np.float32)
    x[0], x[1] = 70000.0, -1e30
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = ember.tensor(x).half().numpy()
    assert y[0] == np.inf and y[1] == -np.inf and (y[2:] == 1).all()


def test_bincount_refuses_a_0d_input_as_torch():
    with pytest.raises(RuntimeError, match="1-D"):
        ember.bincount(ember.tensor(1))


# ---- complex add_/sub_ with alpha and an infinite number: alpha * b added once ----------------
@pytest.mark.parametrize(
    "method, b, alpha",
    [
        ("add_", complex(float("inf"), 0), 2),
        ("sub_", complex(0, float("inf")), 2),
        ("add_", complex(float("inf"), 0), 1.0),
        ("add_", float("inf"), 1),
        ("sub_", complex(float("inf"), 1), 1),
        ("add_", complex(1, 2), 2),
    ],
)
def test_complex_inplace_add_with_alpha_and_inf_as_torch(method, b, alpha):
    torch = pytest.importorskip("torch")
    got = getattr(ember.tensor([1 + 2j]), method)(b, alpha=alpha).numpy()
    want = getattr(torch.tensor([1 + 2j]), method)(b, alpha=alpha).numpy()
    np.testing.assert_array_equal(got, want)


# ---- GradientEdge inputs -----------------------------------------------------------------------
def test_grad_of_an_unused_gradient_edge():
    a = ember.tensor([1.0, 2.0], requires_grad=True)
    c, d = (a * 3).sum(), a * 7
    edge = ember.autograd.graph.get_gradient_edge(d)
    assert ember.autograd.grad(c, edge, allow_unused=True, retain_graph=True) == (None,)
    with pytest.raises(RuntimeError, match="materialize_grads cannot be used"):
        ember.autograd.grad(c, edge, allow_unused=True, materialize_grads=True)


@pytest.mark.parametrize("how", ["method", "function"])
def test_backward_with_one_gradient_edge_as_inputs(how):
    a = ember.tensor([1.0, 2.0], requires_grad=True)
    b = a * 2
    c = (b * b).sum()
    edge = ember.autograd.graph.get_gradient_edge(a)
    if how == "method":
        c.backward(inputs=edge)
    else:
        ember.autograd.backward(c, inputs=edge)
    np.testing.assert_array_equal(a.grad.numpy(), 8 * np.array([1.0, 2.0]))


def test_backward_with_a_non_leaf_edge_accumulates_nothing():
    a = ember.tensor([1.0, 2.0], requires_grad=True)
    b = a * 2
    (b * b).sum().backward(inputs=ember.autograd.graph.get_gradient_edge(b))
    assert a.grad is None


# ---- linalg results keep torch's column-major layout through clone and binary ops -------------
@pytest.mark.parametrize("upper", [False, True])
@pytest.mark.parametrize("shape", [(3, 3), (2, 3, 3)])
@pytest.mark.parametrize("dtype", ["float64", "complex128"])
def test_cholesky_strides_as_torch(upper, shape, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    m = rng.standard_normal(shape) + (1j * rng.standard_normal(shape) if dtype[0] == "c" else 0)
    A = m @ np.conj(np.swapaxes(m, -1, -2)) + 3 * np.eye(3)
    for name in ("cholesky", "cholesky_ex"):
        got = getattr(ember.linalg, name)(ember.tensor(A), upper=upper)
        want = getattr(torch.linalg, name)(torch.tensor(A), upper=upper)
        if name == "cholesky_ex":
            got, want = got.L, want.L
        assert got.stride() == want.stride()
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float64", "complex128"])
def test_a_2d_linalg_result_keeps_its_layout_as_torch(dtype):
    torch = pytest.importorskip("torch")
    A = np.array([[2.0, 1.0], [1.0, 3.0]], dtype)
    e, t = ember.linalg.inv(ember.tensor(A)), torch.linalg.inv(torch.tensor(A))
    ea, ta = ember.tensor(A), torch.tensor(A)
    for got, want in [(e, t), (e.clone(), t.clone()), (e + ea, t + ta), (e * ea, t * ta)]:
        assert got.stride() == want.stride()
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-14)


# ---- torch's RuntimeError (still a ValueError) for shapes that do not broadcast ---------------
@pytest.mark.parametrize(
    "call",
    [
        lambda: ember.where(ember.ones(2, 3) > 0, ember.ones(2, 3), ember.ones(4, 3)),
        lambda: ember.where(
            ember.ones(2, 3) > 0, ember.ones(2, 3, requires_grad=True), ember.ones(4, 3)
        ),
        lambda: ember.ones(2, 3).masked_fill_(ember.ones(4, 3) > 0, 1.0),
        lambda: ember.ones(2, 3).masked_fill_(ember.ones(1, 2, 3) > 0, 1.0),
        lambda: ember.randperm(-1),
    ],
)
def test_bad_shapes_are_runtime_and_value_errors(call):
    with pytest.raises(RuntimeError, match=r"broadcast|>= 0") as err:
        call()
    assert isinstance(err.value, ValueError)


def test_masked_fill_broadcast_mask_still_fills():
    got = ember.ones(2, 3).masked_fill_(ember.tensor([True, False, True]), 5.0)
    np.testing.assert_array_equal(got.numpy(), [[5, 1, 5], [5, 1, 5]])


@pytest.mark.parametrize("dtype", ["float64", "complex128"])
def test_vdot_node_is_torchs(dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    a_np = rng.standard_normal(4) + (1j * rng.standard_normal(4) if dtype[0] == "c" else 0)
    b_np = rng.standard_normal(4) + (1j * rng.standard_normal(4) if dtype[0] == "c" else 0)
    grads = []
    for lib in (ember, torch):
        a = lib.tensor(a_np, requires_grad=True)
        y = lib.vdot(a, lib.tensor(b_np))
        assert type(y.grad_fn).__name__ == "VdotBackward0"
        (y.real if dtype[0] == "c" else y).backward()
        grads.append(a.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12)


@pytest.mark.parametrize("name", ["kron", "outer"])
def test_kron_and_outer_into_their_operand_still_refused_as_torch(name):
    # (torch refuses these two, unlike the matmul family: "unsupported operation")
    e = ember.arange(64.0)
    out = e[2:10] if name == "kron" else e[2:10].view(4, 2)
    with pytest.raises(RuntimeError, match="memory location|overlap"):
        getattr(ember, name)(e[:4], e[:2], out=out)
