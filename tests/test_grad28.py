"""Second derivatives against torch 2.13 in float64: linalg.lu / lu_factor (+ lu_unpack,
lu_solve), ctc_loss (torch refuses), grid_sample in its grid, as_strided, quantile in q."""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")
F = ember.nn.functional
TF = torch.nn.functional


def _e(t, grad=False):
    return ember.tensor(t.detach().numpy().copy(), requires_grad=grad)


def _close(e, t, tol=1e-9):
    t = t.detach().numpy()
    e = np.asarray(e.detach().numpy())
    assert e.shape == t.shape
    np.testing.assert_allclose(e, t, atol=tol, rtol=tol)


def _outs(o):
    return list(o) if isinstance(o, tuple | list) else [o]


def _second(tfn, efn, leaves, seed=0):
    """First gradients (create_graph) of a random-weighted sum of the outputs, then the
    gradients of a random-weighted sum of those: torch's and ember's must agree."""
    g = torch.Generator().manual_seed(seed)
    ts = [t.detach().clone().requires_grad_() for t in leaves]
    es = [_e(t, True) for t in ts]
    to, eo = _outs(tfn(*ts)), _outs(efn(*es))
    for a, b in zip(eo, to, strict=True):
        _close(a, b)
    c1 = [torch.randn(o.shape, dtype=o.dtype, generator=g) for o in to]
    tg = torch.autograd.grad(to, ts, c1, create_graph=True)
    eg = ember.autograd.grad(eo, es, [_e(c) for c in c1], create_graph=True)
    c2 = [torch.randn(t.shape, dtype=t.dtype, generator=g) for t in ts]
    tl = [(v, c) for v, c in zip(tg, c2) if v.requires_grad]
    el = [(v, _e(c)) for v, c in zip(eg, c2) if v.requires_grad]
    assert len(tl) == len(el)
    tgg = torch.autograd.grad([v for v, _ in tl], ts, [c for _, c in tl], allow_unused=True)
    egg = ember.autograd.grad([v for v, _ in el], es, [c for _, c in el], allow_unused=True)
    for a, b in zip(eg, tg, strict=True):
        _close(a, b)
    for a, b in zip(egg, tgg, strict=True):
        if b is None:
            assert a is None or not np.asarray(a.numpy()).any()
        else:
            _close(a, b)


def _randn(*shape, seed=0):
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4), (3, 5), (5, 3)])
def test_lu_second_derivative(shape):
    # LUFn had no backward_graph: create_graph refused
    _second(lambda a: torch.linalg.lu(a)[1:], lambda a: ember.linalg.lu(a)[1:], [_randn(*shape)])


def test_lu_factor_unpack_and_solve_second_derivatives():
    A, B = _randn(2, 4, 4), _randn(2, 4, 3, seed=1)
    _second(lambda a: torch.linalg.lu_factor(a).LU, lambda a: ember.linalg.lu_factor(a).LU, [A])

    def solve(lib):
        def f(a, b):
            LU, piv = lib.linalg.lu_factor(a)
            return lib.linalg.lu_solve(LU, piv, b), lib.lu_unpack(LU, piv)[1]

        return f

    _second(solve(torch), solve(ember), [A, B])


def test_ctc_loss_gradient_is_given_but_not_differentiable_as_torch():
    # torch's _ctc_loss_backward has no derivative: create_graph works, the next grad raises
    lp = _randn(6, 2, 4).log_softmax(2)
    args = (torch.tensor([[1, 2], [3, 3]]), torch.tensor([6, 5]), torch.tensor([2, 2]))
    t = lp.clone().requires_grad_()
    (tg,) = torch.autograd.grad(TF.ctc_loss(t, *args), t, create_graph=True)
    e = _e(lp, True)
    eargs = [_e(a) for a in args]
    (eg,) = ember.autograd.grad(F.ctc_loss(e, *eargs), e, create_graph=True)
    _close(eg, tg)
    with pytest.raises(RuntimeError, match="is not implemented"):
        torch.autograd.grad(tg.sum(), t)
    with pytest.raises(RuntimeError, match="derivative for ctc_loss's backward is not implemented"):
        ember.autograd.grad(eg.sum(), e)


@pytest.mark.parametrize(
    "mode, padding_mode, align_corners",
    [
        ("bilinear", "zeros", True),
        ("bilinear", "border", False),
        ("bilinear", "reflection", True),
        ("bilinear", "reflection", False),
        ("bicubic", "zeros", False),
        ("bicubic", "border", True),
        ("bicubic", "reflection", False),
        ("nearest", "border", False),
    ],
)
def test_grid_sample_second_derivative_in_grid(mode, padding_mode, align_corners):
    # backward_graph refused once the grid required grad
    x = _randn(2, 2, 4, 5)
    grid = torch.rand(2, 3, 3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    grid = grid * 2.4 - 1.2  # points outside too

    def f(lib, fn):
        return lambda a, b: fn(a, b, mode, padding_mode, align_corners)

    _second(f(torch, TF.grid_sample), f(ember, F.grid_sample), [x, grid])


def test_grid_sample_3d_second_derivative_in_grid():
    x = _randn(1, 2, 3, 4, 3)
    grid = torch.rand(
        1, 2, 2, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4)
    )
    _second(
        lambda a, b: TF.grid_sample(a, b * 2.2 - 1.1, align_corners=False),
        lambda a, b: F.grid_sample(a, b * 2.2 - 1.1, align_corners=False),
        [x, grid],
    )


@pytest.mark.parametrize(
    "size, stride, offset",
    [((3, 2), (2, 1), 0), ((3, 3), (1, 1), 1), ((2, 2, 2), (1, 2, 1), None)],  # overlapping too
)
def test_as_strided_second_derivative(size, stride, offset):
    # AsStrided had no backward_graph; through a nonlinear op so the second derivative is real
    def f(lib):
        return lambda a: lib.as_strided(a * a, size, stride, offset).sin()

    _second(f(torch), f(ember), [_randn(8)])


def test_as_strided_of_a_view_second_derivative():
    def f(lib):
        return lambda a: lib.as_strided((a * a)[1:], (3, 2), (1, 1)).exp()

    _second(f(torch), f(ember), [_randn(9)])


@pytest.mark.parametrize("op", ["quantile", "nanquantile"])
def test_quantile_mixed_second_derivative_in_q_and_input(op):
    # d out / d q was a constant: its derivative in the input was lost
    x = _randn(3, 6)
    x[1, 2] = float("nan")
    q = torch.tensor([0.2, 0.55, 0.9], dtype=torch.float64)
    _second(
        lambda a, b: getattr(torch, op)(a * 1.5, b, dim=1),
        lambda a, b: getattr(ember, op)(a * 1.5, b, dim=1),
        [x, q],
    )
