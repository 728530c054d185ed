"""The lead's mends of session 33 (review26's findings), each against torch."""

import numpy as np
import pytest

import ember
import ember.nn.functional as F

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("flag", [np.True_, np.False_])
def test_numpy_bool_flag_names_its_type_as_torch(flag):
    with pytest.raises(TypeError) as theirs:
        torch.nn.functional.dropout(torch.ones(3), training=flag)
    with pytest.raises(TypeError, match=r"must be bool, not numpy\.bool") as ours:
        F.dropout(ember.ones(3), training=flag)
    assert str(theirs.value).endswith("not numpy.bool") and str(ours.value).endswith("numpy.bool")


@pytest.mark.parametrize("name", ["xlogy", "xlog1py"])
@pytest.mark.parametrize("g", [0.0, 1.0, -2.5])
def test_xlog_x_gradient_as_torch_where_the_incoming_gradient_is_zero(name, g):
    # torch's backward is xlogy(g, .): 0 where g is 0 even at b = inf (0 * inf would be NaN)
    x, y = [0.0, 2.0, 0.0, 0.0, 0.0, 3.0], [np.inf, np.inf, 0.0, -1.0, np.nan, 0.5]
    grads = []
    for lib in (torch, ember):
        a = lib.tensor(x, dtype=lib.float64, requires_grad=True)
        b = lib.tensor(y, dtype=lib.float64, requires_grad=True)
        with np.errstate(all="ignore"):
            getattr(lib.special, name)(a, b).backward(lib.full((6,), g, dtype=lib.float64))
        grads.append([np.asarray(a.grad.tolist()), np.asarray(b.grad.tolist())])
    for want, got in zip(*grads):
        np.testing.assert_allclose(got, want, equal_nan=True)


@pytest.mark.filterwarnings("ignore::UserWarning")  # (torch's and ember's casting notice)
@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_to_complex_runs_and_steps_as_torch(dtype, bias):
    # Module.to(complex) gave a Linear whose forward refused its own weights (review26 F2)
    torch.manual_seed(0)
    tm = torch.nn.Linear(4, 3, bias=bias).to(getattr(torch, dtype))
    em = ember.nn.Linear(4, 3, bias=bias).to(getattr(ember, dtype))
    for name, p in tm.named_parameters():
        getattr(em, name).data[...] = p.detach().numpy()
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((5, 4)) + 1j * rng.standard_normal((5, 4))).astype(dtype)
    xt, xe = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
    topt, eopt = torch.optim.SGD(tm.parameters(), lr=0.1), ember.optim.SGD(em.parameters(), lr=0.1)
    yt, ye = tm(xt), em(xe)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == "complex64" else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ye.numpy(), yt.detach().numpy(), **tol)
    yt.abs().sum().backward()
    ye.abs().sum().backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), **tol)
    topt.step()
    eopt.step()
    for name, p in tm.named_parameters():
        np.testing.assert_allclose(getattr(em, name).numpy(), p.detach().numpy(), **tol)
    with pytest.raises(TypeError, match="share one complex dtype"):
        em(ember.tensor(x.real.copy()))


@pytest.mark.parametrize("name", ["linspace", "logspace"])
@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_complex_ends_refuse_a_real_dtype(name, dtype):
    # ember dropped the imaginary parts silently (review26 F6)
    with pytest.raises(RuntimeError, match="can't be safely cast to passed dtype"):
        getattr(torch, name)(0, 1 + 1j, 3, dtype=getattr(torch, dtype))
    with pytest.raises(RuntimeError, match="can't be safely cast to passed dtype") as err:
        getattr(ember, name)(0, 1 + 1j, 3, dtype=getattr(ember, dtype))
    assert isinstance(err.value, TypeError)  # (BadDtype: design.md's class too)


@pytest.mark.parametrize("name", ["linspace", "logspace"])
def test_complex_ends_with_a_complex_dtype_as_torch(name):
    want = getattr(torch, name)(0, 1 + 1j, 4, dtype=torch.complex128).numpy()
    got = getattr(ember, name)(0, 1 + 1j, 4, dtype=ember.complex128).numpy()
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_module_size_error_names_the_arguments():
    # (review26 F8: NumPy's "array is too big" alone; torch names the sizes)
    with pytest.raises(RuntimeError, match=r"bad parameter size: .*\(arguments: 1099511627776, "):
        ember.nn.Linear(2**40, 2**40, bias=False)
