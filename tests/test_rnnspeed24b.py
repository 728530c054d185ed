"""The recurrent cells' short front (nn.functional._cell_fast: a contiguous 2-D Tensor input and
states of the weights' dtype outside any graph go straight to the kernel): values against torch
over float32 / float64, batch 1 / odd, hx None or given, bias or none; the same bits as the
checked path (which other inputs take) and on 1 and 2 threads; every check still raises;
gradients (the recorded path) by finite differences; weights replaced are checked again."""

import numpy as np
import pytest
from conftest import at_threads

import ember
from ember import nn
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")
from test_rnnspeed24 import CELLS, _pair, _tol  # noqa: E402  (its torch twins of the cells)


def _state(kind, h, c, wrap):
    if h is None:
        return None
    return (wrap(h), wrap(c)) if kind == "lstm" else wrap(h)


def _outs(kind, out):
    return [t.detach().numpy() for t in (out if kind == "lstm" else (out,))]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", list(CELLS))
@pytest.mark.parametrize("N", [1, 5])
@pytest.mark.parametrize("given", [False, True])
def test_cell_fast_path_matches_torch_and_checked_path(kind, N, given, dtype, rng):
    I, H = 7, 9
    em, tm = _pair(CELLS[kind], I, H, dtype=dtype, bias=N == 1)
    xn = rng.standard_normal((N, I)).astype(dtype)
    h, c = (rng.standard_normal((N, H)).astype(dtype) if given else None for _ in range(2))
    with ember.no_grad():
        fast = _outs(kind, em(ember.tensor(xn), _state(kind, h, c, ember.tensor)))
        # a transposed-back copy (not C-contiguous) of each state takes the checked path
        slow_x = ember.tensor(np.asfortranarray(np.ascontiguousarray(xn.T)).T)
        slow_s = _state(kind, h, c, lambda a: ember.tensor(np.asfortranarray(a)))
        slow = _outs(kind, em(slow_x, slow_s))
    with torch.no_grad():
        ref = _outs(kind, tm(torch.from_numpy(xn), _state(kind, h, c, torch.from_numpy)))
    for f, s, r in zip(fast, slow, ref, strict=True):
        assert f.dtype == np.dtype(dtype) and f.shape == (N, H)
        np.testing.assert_array_equal(f, s)
        np.testing.assert_allclose(f, r, **_tol(dtype))


@pytest.mark.parametrize("kind", list(CELLS))
def test_cell_fast_path_same_bits_on_1_and_2_threads(kind, rng):
    em, _ = _pair(CELLS[kind], 128, 256)
    x = ember.tensor(rng.standard_normal((3, 128)).astype(np.float32))

    def run():
        with ember.no_grad():
            s = None
            for _ in range(3):
                s = em(x, s)
        return _outs(kind, s)

    with at_threads(1):
        one = run()
    with at_threads(2):
        two = run()
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", list(CELLS))
def test_cell_fast_path_keeps_the_checks(kind):
    em, _ = _pair(CELLS[kind], 4, 3)
    ok = ember.zeros(2, 3)

    def call(x, s):
        return em(x, (s, ok) if kind == "lstm" else s)

    with ember.no_grad():
        with pytest.raises(ValueError, match="input_size"):
            call(ember.zeros(2, 5), ok)
        with pytest.raises(TypeError, match="float64"):
            call(ember.zeros(2, 4, dtype=ember.float64), ok)
        with pytest.raises(ValueError, match=r"Expected h0 of shape \(2, 3\)"):
            call(ember.zeros(2, 4), ember.zeros(3, 3))
        with pytest.raises(TypeError, match="float64"):
            call(ember.zeros(2, 4), ember.zeros(2, 3, dtype=ember.float64))
        with pytest.raises(ValueError, match="1-D or 2-D"):
            call(ember.zeros(1, 2, 4), ok)
        with pytest.raises(TypeError, match="floating point"):
            call(ember.zeros(2, 4, dtype=ember.int64), ok)
    if kind == "lstm":
        with pytest.raises(TypeError, match="hx must be None or a tuple"):
            em(ember.zeros(2, 4), (ok, None))
        with pytest.raises(TypeError, match="hx must be a tuple"):
            nn.functional.lstm_cell(ember.zeros(2, 4), (ok,), em.weight_ih, em.weight_hh)


@pytest.mark.parametrize("kind", list(CELLS))
def test_cell_inputs_other_than_the_fast_path_still_work(kind, rng):
    """Unbatched input, arrays for states, a Parameter as input: the checked path, as torch."""
    em, tm = _pair(CELLS[kind], 4, 3, dtype="float64")
    xn, h, c = rng.standard_normal(4), rng.standard_normal(3), rng.standard_normal(3)
    with ember.no_grad():
        got = _outs(kind, em(ember.tensor(xn), _state(kind, h, c, ember.tensor)))
        xp = nn.Parameter(ember.tensor(xn[None]))
        arr = _outs(kind, em(xp, _state(kind, h[None], c[None], np.copy)))
    with torch.no_grad():
        ref = _outs(kind, tm(torch.from_numpy(xn), _state(kind, h, c, torch.from_numpy)))
    for g, a, r in zip(got, arr, ref, strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(a[0], r, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("kind", list(CELLS))
@pytest.mark.parametrize("N", [1, 3])
def test_cell_gradients_by_finite_differences(kind, N, rng):
    em, _ = _pair(CELLS[kind], 3, 2, dtype="float64")
    x = ember.tensor(rng.standard_normal((N, 3)), requires_grad=True)
    h = ember.tensor(rng.standard_normal((N, 2)), requires_grad=True)
    c = ember.tensor(rng.standard_normal((N, 2)), requires_grad=True)
    if kind == "lstm":
        assert gradcheck(lambda x, h, c: em(x, (h, c))[1] * em(x, (h, c))[0], (x, h, c))
    else:
        assert gradcheck(lambda x, h: em(x, h), (x, h))
    # a weight that requires grad alone records the step too
    with ember.no_grad():
        out = em(x.detach(), None)
    assert (out[0] if kind == "lstm" else out).requires_grad is False
    out = em(x.detach(), None)
    assert (out[0] if kind == "lstm" else out).requires_grad is True


def test_cell_weights_replaced_are_checked_again(rng):
    em, _ = _pair("LSTMCell", 4, 3)
    x = ember.tensor(rng.standard_normal((2, 4)).astype(np.float32))
    with ember.no_grad():
        em(x)
        em.weight_hh.data = np.zeros((12, 4), np.float32)
        with pytest.raises(ValueError, match="w_hh must have shape"):
            em(x)
        em.weight_hh = nn.Parameter(ember.zeros(12, 3))
        h, c = em(x)
    assert h.shape == (2, 3) and c.shape == (2, 3)
