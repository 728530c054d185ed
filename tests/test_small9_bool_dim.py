"""A bool is no dim: torch refuses x.sum(True) with TypeError, ember must not read it as dim 1.
NumPy integers and negative dims stay accepted, as torch accepts them."""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


def _calls(lib):
    F = lib.nn.functional
    i64 = lib.int64

    def x(*s):
        return lib.ones(*s)

    return {
        "sum": lambda d: x(3, 4).sum(d),
        "sum_list": lambda d: x(3, 4).sum([d]),
        "mean": lambda d: x(3, 4).mean(d),
        "amax": lambda d: x(3, 4).amax(d),
        "argmax": lambda d: x(3, 4).argmax(d),
        "logsumexp": lambda d: x(3, 4).logsumexp(d),
        "softmax": lambda d: x(3, 4).softmax(d),
        "F.softmax": lambda d: F.softmax(x(3, 4), d),
        "F.log_softmax": lambda d: F.log_softmax(x(3, 4), d),
        "F.normalize": lambda d: F.normalize(x(3, 4), dim=d),
        "F.cosine_similarity": lambda d: F.cosine_similarity(x(3, 4), x(3, 4), d),
        "cat": lambda d: lib.cat([x(3, 4), x(3, 4)], d),
        "cat_grad": lambda d: lib.cat([x(3, 4).requires_grad_(), x(3, 4)], d),
        "stack": lambda d: lib.stack([x(3, 4), x(3, 4)], d),
        "flatten": lambda d: x(3, 4, 2).flatten(d),
        "squeeze": lambda d: x(1, 4).squeeze(d),
        "unsqueeze": lambda d: x(3, 4).unsqueeze(d),
        "transpose": lambda d: x(3, 4).transpose(d, 0),
        "movedim": lambda d: x(3, 4).movedim(d, 0),
        "gather": lambda d: x(3, 4).gather(d, lib.zeros(3, 4, dtype=i64)),
        "index_add": lambda d: lib.zeros(4, 4).index_add(d, lib.tensor([0, 2, 2, 1]), x(4, 4)),
        "index_select": lambda d: x(3, 4).index_select(d, lib.tensor([0])),
        "sort": lambda d: x(3, 4).sort(d),
        "topk": lambda d: x(3, 4).topk(1, d),
        "cumsum": lambda d: x(3, 4).cumsum(d),
        "flip": lambda d: x(3, 4).flip(d),
        "roll": lambda d: x(3, 4).roll(1, d),
        "chunk": lambda d: x(4, 4).chunk(2, d),
        "select": lambda d: x(3, 4).select(d, 0),
        "unbind": lambda d: x(3, 4).unbind(d),
        "size": lambda d: x(3, 4).size(d),
        "median": lambda d: x(3, 4).median(d),
        "nn.Softmax": lambda d: lib.nn.Softmax(d)(x(3, 4)),
    }


NAMES = list(_calls(torch))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", [True, False, np.True_])
def test_bool_dim_is_refused_as_torch(name, bad):
    with pytest.raises(TypeError):
        _calls(torch)[name](bad)
    with pytest.raises(TypeError, match="bool|int"):
        _calls(ember)[name](bad)


def test_permute_refuses_bool_and_float_dims_as_torch():
    for bad in [(True, 0), (1.0, 0)]:
        with pytest.raises(TypeError):
            torch.ones(3, 4).permute(bad)
        with pytest.raises(TypeError, match="permute: dim must be an int"):
            ember.ones(3, 4).permute(bad)


def _value(r):
    r = r[0] if isinstance(r, tuple | list) else r
    return np.asarray(r.detach().numpy() if hasattr(r, "detach") else r)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dim", [1, -1, np.int64(1), np.int32(-1), np.intp(0)])
def test_int_and_numpy_int_dims_are_accepted_as_torch(name, dim):
    t, e = _calls(torch)[name](dim), _calls(ember)[name](dim)
    np.testing.assert_allclose(_value(e), _value(t), rtol=1e-6)


@pytest.mark.parametrize("name", ["fft", "rfft", "ifft", "fftn", "fftshift", "ifftshift"])
def test_fft_bool_dim_is_refused_as_torch(name):
    for lib in (ember, torch):
        with pytest.raises(TypeError):
            getattr(lib.fft, name)(lib.ones(3, 4), dim=True)
    # ints and NumPy ints still name a dim
    np.testing.assert_allclose(
        getattr(ember.fft, name)(ember.ones(3, 4), dim=np.int64(1)).numpy(),
        getattr(torch.fft, name)(torch.ones(3, 4), dim=1).resolve_conj().numpy(),
    )
