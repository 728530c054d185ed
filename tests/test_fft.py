"""ember.fft, stft and istft: values against NumPy and torch, gradients against torch and finite
differences, dtypes, out= and the errors bad arguments get."""

import warnings

import numpy as np
import pytest

import ember

RNG = np.random.default_rng(0)


def crandn(*shape):
    return RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)


# name: (call on a module (ember or torch), input kind, input shape)
CASES = {
    "fft": (lambda m, x: m.fft.fft(x), "c", (3, 6)),
    "fft-n-dim-ortho": (lambda m, x: m.fft.fft(x, n=7, dim=0, norm="ortho"), "c", (5, 3)),
    "fft-real-trim": (lambda m, x: m.fft.fft(x, n=4), "r", (3, 6)),
    "ifft-forward": (lambda m, x: m.fft.ifft(x, norm="forward"), "c", (3, 6)),
    "fft2-s": (lambda m, x: m.fft.fft2(x, s=(3, 8)), "c", (2, 4, 5)),
    "ifft2": (lambda m, x: m.fft.ifft2(x, norm="ortho"), "c", (2, 4, 5)),
    "fftn": (lambda m, x: m.fft.fftn(x, dim=(0, 2)), "c", (2, 4, 5)),
    "ifftn": (lambda m, x: m.fft.ifftn(x), "c", (2, 4, 5)),
    "rfft-odd-n": (lambda m, x: m.fft.rfft(x, n=9), "r", (3, 6)),
    "rfft-ortho": (lambda m, x: m.fft.rfft(x, norm="ortho"), "r", (3, 6)),
    "rfft2": (lambda m, x: m.fft.rfft2(x, norm="forward"), "r", (2, 4, 6)),
    "rfftn-s": (lambda m, x: m.fft.rfftn(x, s=(3, 5)), "r", (2, 4, 6)),
    "irfft": (lambda m, x: m.fft.irfft(x), "c", (3, 5)),
    "irfft-n-ortho": (lambda m, x: m.fft.irfft(x, n=7, norm="ortho"), "c", (3, 5)),
    "irfft2-forward": (lambda m, x: m.fft.irfft2(x, s=(4, 6), norm="forward"), "c", (2, 3, 5)),
    "irfftn": (lambda m, x: m.fft.irfftn(x), "c", (2, 3, 5)),
    "hfft": (lambda m, x: m.fft.hfft(x, n=8), "c", (3, 5)),
    "ihfft": (lambda m, x: m.fft.ihfft(x), "r", (3, 6)),
    "hfft2": (lambda m, x: m.fft.hfft2(x), "c", (3, 5)),
    "ihfft2": (lambda m, x: m.fft.ihfft2(x, norm="ortho"), "r", (3, 6)),
    "hfftn-s": (lambda m, x: m.fft.hfftn(x, s=(3, 6)), "c", (3, 5)),
    "ihfftn": (lambda m, x: m.fft.ihfftn(x), "r", (3, 6)),
    "shifts": (lambda m, x: m.fft.fftshift(x, dim=1) + m.fft.ifftshift(x), "c", (3, 5)),
}


def _input(kind, shape):
    return crandn(*shape) if kind == "c" else RNG.standard_normal(shape)


def _loss_weights(shape, complex_out):
    return crandn(*shape) if complex_out else RNG.standard_normal(shape)


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_dtypes_and_gradients_match_torch(name):
    torch = pytest.importorskip("torch")
    fn, kind, shape = CASES[name]
    a = _input(kind, shape)
    e, t = ember.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    ye, yt = fn(ember, e), fn(torch, t)
    assert ye.dtype == np.dtype(str(yt.dtype).split(".")[1])
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().resolve_conj().numpy(), atol=1e-12)
    w = _loss_weights(tuple(yt.shape), yt.is_complex())
    (ye * ember.tensor(w)).real.sum().backward()
    (yt * torch.tensor(w)).real.sum().backward()
    assert e.grad.dtype == e.dtype
    np.testing.assert_allclose(e.grad.numpy(), t.grad.resolve_conj().numpy(), atol=1e-12)


@pytest.mark.parametrize("name", ["fft-real-trim", "rfft-odd-n", "irfft", "hfft", "ihfft2"])
def test_gradcheck(name):
    fn, kind, shape = CASES[name]
    x = ember.tensor(_input(kind, shape), requires_grad=True)
    assert ember.autograd.gradcheck(lambda v: fn(ember, v), (x,))


def test_values_against_numpy_and_float32_gives_complex64():
    a = RNG.standard_normal((4, 8)).astype(np.float32)
    x = ember.tensor(a)
    y = ember.fft.fft(x)
    assert y.dtype == np.complex64
    np.testing.assert_allclose(y.numpy(), np.fft.fft(a), rtol=1e-5, atol=1e-5)
    r = ember.fft.rfft(x, dim=0)
    assert r.dtype == np.complex64 and r.shape == (3, 8)
    np.testing.assert_allclose(r.numpy(), np.fft.rfft(a, axis=0), rtol=1e-5, atol=1e-5)
    back = ember.fft.irfft(ember.fft.rfft(x), n=8)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back.numpy(), a, rtol=1e-5, atol=1e-6)
    i = ember.fft.fft(ember.arange(4))  # integers: the default float, then complex
    assert i.dtype == np.complex64
    np.testing.assert_allclose(i.numpy(), np.fft.fft(np.arange(4)), atol=1e-6)
    np.testing.assert_allclose(ember.fft.fftn(ember.tensor(a)).numpy(), np.fft.fftn(a), rtol=1e-4)


def test_freqs_and_shifts_against_numpy():
    np.testing.assert_allclose(ember.fft.fftfreq(7, 0.5).numpy(), np.fft.fftfreq(7, 0.5))
    np.testing.assert_allclose(ember.fft.rfftfreq(8).numpy(), np.fft.rfftfreq(8))
    assert ember.fft.fftfreq(4).dtype == np.float32
    assert ember.fft.rfftfreq(4, dtype=ember.float64).dtype == np.float64
    a = RNG.standard_normal((3, 4))
    np.testing.assert_array_equal(ember.fft.fftshift(ember.tensor(a)).numpy(), np.fft.fftshift(a))
    np.testing.assert_array_equal(
        ember.fft.ifftshift(ember.tensor(a), dim=0).numpy(), np.fft.ifftshift(a, axes=0)
    )


def test_out_keyword():
    x = ember.tensor(crandn(5))
    out = ember.empty(5, dtype=ember.complex128)
    got = ember.fft.fft(x, out=out)
    assert got is out
    np.testing.assert_allclose(out.numpy(), np.fft.fft(x.numpy()))
    with pytest.raises(RuntimeError, match="can't be cast"):
        ember.fft.fft(x, out=ember.empty(5, dtype=ember.float64))


@pytest.mark.parametrize(
    "call, err, match",
    [
        (lambda: ember.fft.fft(ember.ones(3), norm="bad"), ValueError, "normalization"),
        (lambda: ember.fft.fft(ember.ones(3), n=0), ValueError, "number of data points"),
        (lambda: ember.fft.rfft(ember.ones(3, dtype=ember.complex64)), TypeError, "real input"),
        (lambda: ember.fft.fft(ember.ones(3), dim=2), IndexError, "out of range"),
        (lambda: ember.fft.fftn(ember.ones(3, 3), s=(2,), dim=(0, 1)), ValueError, "sizes"),
        (lambda: ember.fft.fft2(ember.ones(3, 3), dim=(0, 0)), RuntimeError, "unique"),
        (lambda: ember.fft.fft(ember.tensor(1.0)), IndexError, "out of range"),
        (lambda: ember.fft.irfft(ember.ones(1, dtype=ember.complex64)), ValueError, "points"),
        (lambda: ember.fft.fftfreq(-1), ValueError, "non-negative"),
    ],
)
def test_bad_arguments(call, err, match):
    with pytest.raises(err, match=match):
        call()


# ---- stft / istft ----------------------------------------------------------------------------

STFT = {
    "hann": (lambda m, x, w: m.stft(x, 16, hop_length=4, window=w, return_complex=True), 16),
    "short-window-normalized-constant": (
        lambda m, x, w: m.stft(
            x, 16, 5, 10, w, normalized=True, pad_mode="constant", return_complex=True
        ),
        10,
    ),
    "two-sided-uncentred": (
        lambda m, x, w: m.stft(x, 16, window=w, center=False, onesided=False, return_complex=True),
        16,
    ),
    "replicate": (
        lambda m, x, w: m.stft(x, 16, window=w, pad_mode="replicate", return_complex=True),
        16,
    ),
    "circular": (
        lambda m, x, w: m.stft(x, 16, window=w, pad_mode="circular", return_complex=True),
        16,
    ),
}


@pytest.mark.parametrize("batched", [False, True])
@pytest.mark.parametrize("name", sorted(STFT))
def test_stft_matches_torch_with_gradients(name, batched):
    torch = pytest.importorskip("torch")
    fn, wl = STFT[name]
    a = RNG.standard_normal((2, 64) if batched else 64)
    w = np.hanning(wl + 2)[1:-1]
    e, ew = ember.tensor(a, requires_grad=True), ember.tensor(w, requires_grad=True)
    t, tw = torch.tensor(a, requires_grad=True), torch.tensor(w, requires_grad=True)
    ye, yt = fn(ember, e, ew), fn(torch, t, tw)
    assert ye.shape == tuple(yt.shape) and ye.dtype == np.complex128
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), atol=1e-12)
    g = crandn(*yt.shape)
    (ye * ember.tensor(g)).real.sum().backward()
    (yt * torch.tensor(g)).real.sum().backward()
    np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(ew.grad.numpy(), tw.grad.numpy(), atol=1e-12)


ISTFT = {
    "length": dict(hop_length=4, length=70),
    "default-length": dict(hop_length=4),
    "longer-normalized": dict(hop_length=4, length=80, normalized=True),
    "uncentred": dict(hop_length=4, center=False, length=40),
}


@pytest.mark.parametrize("name", sorted(ISTFT))
def test_istft_matches_torch_with_gradients(name):
    torch = pytest.importorskip("torch")
    kw = ISTFT[name]
    w = np.hanning(18)[1:-1]
    spec = ember.stft(
        ember.tensor(RNG.standard_normal((2, 70))),
        16,
        4,
        window=ember.tensor(w),
        center=kw.get("center", True),
        return_complex=True,
    ).numpy()
    e, ew = ember.tensor(spec, requires_grad=True), ember.tensor(w, requires_grad=True)
    t, tw = torch.tensor(spec, requires_grad=True), torch.tensor(w, requires_grad=True)
    with warnings.catch_warnings():  # (length beyond the signal: both warn)
        warnings.simplefilter("ignore", UserWarning)
        ye, yt = ember.istft(e, 16, window=ew, **kw), torch.istft(t, 16, window=tw, **kw)
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), atol=1e-12)
    g = RNG.standard_normal(tuple(yt.shape))
    (ye * ember.tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(ew.grad.numpy(), tw.grad.numpy(), atol=1e-12)


def test_stft_istft_round_trip_float32_and_methods():
    x = ember.randn(100)
    w = ember.hann_window(32)
    z = x.stft(32, 8, window=w, return_complex=True)
    assert z.dtype == np.complex64 and z.shape == (17, 13)
    y = z.istft(32, 8, window=w, length=100)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), x.numpy(), atol=1e-5)
    with pytest.warns(UserWarning, match="return_complex=False is deprecated"):
        r = ember.stft(x, 32, 8, window=w, return_complex=False)
    assert r.shape == (17, 13, 2)
    np.testing.assert_array_equal(r.numpy()[..., 1], z.numpy().imag)


@pytest.mark.parametrize(
    "call, err, match",
    [
        (lambda: ember.stft(ember.ones(64), 16), ValueError, "return_complex"),
        (lambda: ember.stft(ember.ones(64), 0, return_complex=True), ValueError, "n_fft"),
        (
            lambda: ember.stft(ember.ones(64), 16, window=ember.ones(8), return_complex=True),
            ValueError,
            "window",
        ),
        (lambda: ember.stft(ember.ones(2, 2, 64), 16, return_complex=True), ValueError, "1-D"),
        (lambda: ember.stft(ember.ones(8), 16, return_complex=True), ValueError, "reflect"),
        (lambda: ember.istft(ember.ones(9, 5), 16), TypeError, "complex"),
        (
            lambda: ember.istft(
                ember.ones(9, 5, dtype=ember.complex64), 16, window=ember.zeros(16)
            ),
            ValueError,
            "envelope",
        ),
        (lambda: ember.istft(ember.ones(7, 5, dtype=ember.complex64), 16), ValueError, "frequency"),
    ],
)
def test_stft_bad_arguments(call, err, match):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # (the missing-window warning)
        with pytest.raises(err, match=match):
            call()


def test_stft_without_window_warns_once_as_torch():
    import ember._stft as s

    s._warned_window = False
    with pytest.warns(UserWarning, match="window was not provided"):
        ember.stft(ember.ones(64), 16, return_complex=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ember.stft(ember.ones(64), 16, return_complex=True)


def test_frequencies_equal_torchs_bit_for_bit():
    torch = pytest.importorskip("torch")
    for n, d in [(0, 1.0), (1, 1.0), (5, 0.1), (8, 0.0), (101, -1e-3)]:  # bit for bit, 0 too
        for mine, theirs in (
            (ember.fft.fftfreq, torch.fft.fftfreq),
            (ember.fft.rfftfreq, torch.fft.rfftfreq),
        ):
            np.testing.assert_array_equal(mine(n, d).numpy(), theirs(n, d).numpy())
