"""Lead fixes of session 40, each against torch."""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


def _draw(dtype, k, n=4099, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(n) * rng.uniform(0.1, 10)).astype(dtype) for _ in range(k)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "call",
    [
        ("add_", lambda b, c: ((b,), {"alpha": 0.3})),
        ("add_", lambda b, c: ((b,), {"alpha": -3})),
        ("sub_", lambda b, c: ((b,), {"alpha": 0.7})),
        ("addcmul_", lambda b, c: ((b, c), {"value": 0.7})),
        ("addcmul_", lambda b, c: ((b, c), {})),
        ("addcdiv_", lambda b, c: ((b, c), {"value": -1.3})),
        ("lerp_", lambda b, c: ((b, 0.8), {})),
        ("lerp_", lambda b, c: ((b, 1 / 3), {})),
        ("lerp_", lambda b, c: ((b, c), {})),
    ],
)
def test_inplace_fused_ops_are_torchs_bits(dtype, call):
    """The in-place forms round as their out-of-place ops and torch's kernels (one fma)."""
    name, args = call
    a, b, c = _draw(dtype, 3)
    c = np.abs(c) if name == "lerp_" else c
    x, xt = ember.tensor(a.copy()), torch.from_numpy(a.copy())
    ea, ek = args(ember.tensor(b), ember.tensor(c))
    ta, tk = args(torch.from_numpy(b), torch.from_numpy(c))
    v0 = x._version
    getattr(x, name)(*ea, **ek)
    getattr(xt, name)(*ta, **tk)
    np.testing.assert_array_equal(x.numpy(), xt.numpy())
    assert x._version == v0 + 1


def test_inplace_fused_ops_keep_their_checks_and_graph():
    a, b = _draw(np.float64, 2, n=5)
    x = ember.tensor(a, requires_grad=True)
    with pytest.raises(RuntimeError):  # a leaf that requires grad: torch's refusal
        x.add_(ember.tensor(b), alpha=0.5)
    y = ember.tensor(a, requires_grad=True) * 1
    y.addcmul_(ember.tensor(b), ember.tensor(b), value=0.5)  # in the graph: recorded
    y.sum().backward()
    with pytest.raises(TypeError):  # bool alpha on floats: torch's refusal
        ember.tensor(a).sub_(ember.tensor(b), alpha=True)
    with pytest.raises(RuntimeError):  # a broadcast result that does not fit self
        ember.tensor(a[:1]).addcdiv_(ember.tensor(b), ember.tensor(b))


def test_prelu_kernel_of_an_empty_input_with_channel_weights():
    """(N, C, 0) with one weight per channel: nothing written, dw zeros (it wrote past y)."""
    from ember import _C

    x, w = np.zeros((3, 4, 0), np.float32), np.ones(4, np.float32)
    assert _C.prelu(x, w).shape == (3, 4, 0)
    dx, dw = _C.prelu_backward(x, x, w)
    assert dx.shape == (3, 4, 0)
    np.testing.assert_array_equal(dw, np.zeros(4, np.float32))


def test_complex32_is_named_and_refused():
    assert ember.complex32 is ember.chalf
    for make in (
        lambda: ember.zeros(2, dtype=ember.complex32),
        lambda: ember.ones(2).to(ember.chalf),
    ):
        with pytest.raises(TypeError, match="complex32"):
            make()


@pytest.mark.parametrize("mode", ["no_grad", "enable_grad", "inference_mode"])
def test_grad_mode_decorators_cover_a_generators_body(mode):
    """As torch's: each resumption of a decorated generator runs under the mode."""

    def sampler(lib):
        @getattr(lib, mode)()
        def gen(x):
            for _ in range(2):
                sent = yield (x * 2).requires_grad
                yield sent

        return gen

    def run(lib, x):
        with lib.set_grad_enabled(mode == "no_grad"):  # (the mode's opposite outside)
            g = sampler(lib)(x)
            out = [next(g), g.send("s"), next(g)]
            g.close()
        return out

    assert run(ember, ember.ones(2, requires_grad=True)) == run(
        torch, torch.ones(2, requires_grad=True)
    )


def test_softmin_implicit_dim_warns_as_torch():
    x = np.random.default_rng(0).standard_normal((2, 3))
    for lib, t in ((ember, ember.tensor(x)), (torch, torch.tensor(x))):
        with pytest.warns(UserWarning, match="Implicit dimension choice for softmin"):
            y = lib.nn.Softmin()(t)
        np.testing.assert_allclose(
            np.asarray(y.numpy()), np.exp(-x) / np.exp(-x).sum(1, keepdims=True)
        )


def _same(f):
    """f(torch) and f(ember): the same values, or exceptions of one family."""
    out = []
    for lib in (torch, ember):
        try:
            r = f(lib)
            out.append(("ok", tuple(r.shape), np.asarray(r.tolist()).tolist()))
        except (TypeError, ValueError, RuntimeError, IndexError, OverflowError) as e:
            kinds = (TypeError, ValueError, RuntimeError, IndexError, OverflowError)
            fam = [c for c in kinds if isinstance(e, c)]
            out.append(("raises", fam))
    t, e = out
    if t[0] == "raises":  # ember's errors may belong to more families than torch's
        assert e[0] == "raises" and set(t[1]) <= set(e[1]), (t, e)
    else:
        assert t == e


@pytest.mark.parametrize(
    "case",
    [
        lambda L: L.tensor([[L.tensor(1.0), L.tensor(2.0)]], dtype=L.float32),
        lambda L: L.tensor(range(3), dtype=L.float32),
        lambda L: L.tensor(__import__("array").array("d", [1, 2]), dtype=L.float64),
        lambda L: L.tensor([__import__("decimal").Decimal("1.5")], dtype=L.float64),
        lambda L: L.tensor([None, 1.0], dtype=L.float32),
        lambda L: L.arange(12.0).reshape(6, 2)[L.tensor([5, 0, 3, 1])[::2]],
        lambda L: L.arange(12.0).reshape(6, 2)[L.tensor([1]).expand(3)],
        lambda L: L.ones(3).clamp_(max=1e300),
        lambda L: L.ones(3, 2).t().clamp_(min=-1e300),
        lambda L: L.ones(3, dtype=L.float16).clamp_(max=1e10),
        lambda L: L.ones(3).clamp_(max=2**70),
        lambda L: L.ones(2).to("c"),
        lambda L: L.tensor([float(L.tensor(1.5 + 0j)), int(L.tensor(2 + 0j))]),
    ],
)
def test_review_mends_against_torch(case):
    """Data with a dtype takes what NumPy converts (nested 0-d tensors, ranges, arrays,
    Decimals); x[idx] with a strided index; clamp_'s bound checks as clamp's; to() of NumPy
    codes refused; float()/int() of a complex with no imaginary part."""
    _same(case)


def test_casting_a_module_with_a_non_leaf_buffer_does_not_warn():
    m = ember.nn.Linear(2, 2)
    m.register_buffer("w", ember.ones(2, requires_grad=True) * 2)
    with __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("error")
        m.double()
    assert m.w.dtype == np.float64


@pytest.mark.parametrize(
    "op", [lambda x: 2 * x, lambda x: 2 + x, lambda x: 0.5 * x, lambda x: 3 + x]
)
def test_reflected_add_and_mul_list_self_first_as_torch(op):
    def edges(lib):
        x = lib.ones(3, dtype=lib.float64, requires_grad=True)
        y = op(x)
        y.sum().backward()
        names = [None if n is None else n.name() for n, _ in y.grad_fn.next_functions]
        return y.grad_fn.name(), names, y.tolist(), x.grad.tolist()

    assert edges(ember) == edges(torch)
