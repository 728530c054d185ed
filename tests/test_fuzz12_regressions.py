"""Regressions for what the fuzz12 differential sweep (ember vs torch 2.13) found wrong in the
attention, MultiheadAttention and transformer code merged on this branch's base."""

import warnings

import numpy as np
import pytest

import ember
import ember.nn as enn

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("torch_one_thread")

_NP = {torch.float32: np.float32, torch.float64: np.float64}


def _load(em, tm):
    em.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()}, strict=True)


def _et(t):
    return None if t is None else ember.tensor(t.detach().numpy())


def _mha_pair(tdt, heads=1):
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(4, heads, dtype=tdt)
    em = enn.MultiheadAttention(4, heads, dtype=_NP[tdt])
    _load(em, tm)
    return tm, em


def _run(f):
    """(result, exception) with warnings silenced (mixed mask dtypes warn in both)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return f(), None
        except Exception as ex:  # noqa: BLE001
            return None, ex


# MultiheadAttention adds its masks to the logits as torch does: a bool mask becomes a float
# one of the query's dtype, the two masks are summed (promoting), and the sum must be of the
# query's dtype (need_weights) or float32 or it (the SDPA path). ember refused any float mask
# Tensor of another dtype, so a float64 model given torch's default float32 causal mask raised.
@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize(
    "qdt,mdt",
    [
        (torch.float64, torch.float32),
        (torch.float32, torch.float64),
        (torch.float32, torch.float16),
    ],
)
@pytest.mark.parametrize("masks", ["am", "kpm", "am+kpm", "am+kpm_q", "bool_am+kpm", "causal"])
def test_mha_float_mask_dtypes_as_torch(qdt, mdt, need_weights, masks):
    tm, em = _mha_pair(qdt)
    torch.manual_seed(1)
    x = torch.randn(3, 2, 4, dtype=qdt)
    am = torch.where(torch.rand(3, 3) < 0.3, float("-inf"), torch.randn(3, 3)).to(mdt)
    kpm = torch.where(torch.rand(2, 3) < 0.3, float("-inf"), 0.0).to(mdt)
    kw = {
        "am": dict(attn_mask=am),
        "kpm": dict(key_padding_mask=kpm),
        "am+kpm": dict(attn_mask=am, key_padding_mask=kpm),
        "am+kpm_q": dict(attn_mask=am, key_padding_mask=kpm.to(qdt)),
        "bool_am+kpm": dict(attn_mask=am.isinf(), key_padding_mask=kpm),
        "causal": dict(
            attn_mask=torch.nn.Transformer.generate_square_subsequent_mask(3, dtype=mdt),
            is_causal=True,
        ),
    }[masks]
    want, terr = _run(lambda: tm(x, x, x, need_weights=need_weights, **kw))
    ex = _et(x)
    ekw = {k: _et(v) if isinstance(v, torch.Tensor) else v for k, v in kw.items()}
    got, eerr = _run(lambda: em(ex, ex, ex, need_weights=need_weights, **ekw))
    if terr is not None:
        assert isinstance(eerr, TypeError), (terr, eerr)
        return
    assert eerr is None, eerr
    o, t = got[0].numpy(), want[0].detach().numpy()
    np.testing.assert_array_equal(np.isnan(o), np.isnan(t))
    np.testing.assert_allclose(np.nan_to_num(o), np.nan_to_num(t), rtol=1e-5, atol=1e-6)


def test_transformer_encoder_float64_with_default_float32_causal_mask():
    # the usual recipe: generate_square_subsequent_mask's default dtype, a double() model
    torch.manual_seed(0)
    kw = dict(dim_feedforward=8, dropout=0.0, batch_first=True)
    tl = torch.nn.TransformerEncoderLayer(4, 1, dtype=torch.float64, **kw)
    tm = torch.nn.TransformerEncoder(tl, 2, enable_nested_tensor=False)
    em = enn.TransformerEncoder(enn.TransformerEncoderLayer(4, 1, dtype=np.float64, **kw), 2)
    _load(em, tm)
    x = torch.randn(2, 5, 4, dtype=torch.float64)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(5)  # float32
    kpm = torch.tensor([[False] * 5, [False, False, False, True, True]])
    for kpm_ in (None, kpm):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = tm(x, mask, kpm_)
            got = em(_et(x), _et(mask), _et(kpm_))
        np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-9, atol=1e-9)


# An empty batch with a mask that has the batch dim (a key_padding_mask of batch 0, say): the
# kernel's stride check refused the mask of no elements (ValueError); torch returns the empty
# output, and no mask gradient.
@pytest.mark.parametrize("mshape", [(0, 1, 3, 4), (0, 2, 3, 4), (3, 4)])
def test_sdpa_empty_batch_with_mask(mshape):
    q, k = ember.randn(0, 2, 3, 2, requires_grad=True), ember.randn(0, 2, 4, 2)
    m = ember.randn(*mshape, requires_grad=True)
    for causal in (False, True):
        out = ember.nn.functional.scaled_dot_product_attention(q, k, k, m, is_causal=causal)
        assert out.shape == (0, 2, 3, 2)
        out.sum().backward()
        assert m.grad is None
        tm = torch.randn(mshape, requires_grad=True)
        t = torch.nn.functional.scaled_dot_product_attention(
            torch.randn(0, 2, 3, 2),
            torch.randn(0, 2, 4, 2),
            torch.randn(0, 2, 4, 2),
            tm,
            is_causal=causal,
        )
        assert tuple(t.shape) == out.shape


def test_mha_and_encoder_empty_batch_with_padding_mask():
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(4, 2, batch_first=True, dtype=torch.float64).eval()
    em = enn.MultiheadAttention(4, 2, batch_first=True, dtype=np.float64).eval()
    _load(em, tm)
    x, kpm = torch.randn(0, 3, 4, dtype=torch.float64), torch.zeros(0, 3, dtype=torch.bool)
    for need in (False, True):
        with torch.no_grad(), ember.no_grad():
            want = tm(x, x, x, key_padding_mask=kpm, need_weights=need)[0]
            ex = _et(x)
            got = em(ex, ex, ex, key_padding_mask=_et(kpm), need_weights=need)[0]
        assert got.shape == tuple(want.shape)
    el = enn.TransformerEncoderLayer(4, 2, 8, 0.0, batch_first=True, dtype=np.float64)
    enc = enn.TransformerEncoder(el, 2, enable_nested_tensor=False).eval()
    with ember.no_grad():
        assert enc(_et(x), src_key_padding_mask=_et(kpm)).shape == (0, 3, 4)


# A head dim E of 0 alone is no empty attention for torch (its output is the mean of v): it
# refuses attn_mask with is_causal there; ember took it for empty and returned.
def test_sdpa_zero_head_dim_mask_with_is_causal_refused_as_torch():
    q, k, v = torch.randn(1, 2, 3, 0), torch.randn(1, 2, 4, 0), torch.randn(1, 2, 4, 2)
    m = torch.rand(3, 4) < 0.5
    with pytest.raises(RuntimeError):
        torch.nn.functional.scaled_dot_product_attention(q, k, v, m, is_causal=True)
    with pytest.raises(ValueError, match="not both"):
        ember.nn.functional.scaled_dot_product_attention(
            _et(q), _et(k), _et(v), _et(m), is_causal=True
        )
    # without is_causal both give the mean of the allowed values
    want = torch.nn.functional.scaled_dot_product_attention(q, k, v, m)
    got = ember.nn.functional.scaled_dot_product_attention(_et(q), _et(k), _et(v), _et(m))
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-6)


# torch's eval fast path of the encoder layer (torch._transformer_encoder_layer_fwd) knows only
# relu and exact gelu: a GELU(approximate="tanh") module runs there as the exact one.
def test_encoder_layer_fast_path_tanh_gelu_runs_exact():
    torch.manual_seed(0)
    kw = dict(dim_feedforward=8, dropout=0.0, batch_first=True)
    tl = torch.nn.TransformerEncoderLayer(
        4, 2, activation=torch.nn.GELU(approximate="tanh"), dtype=torch.float64, **kw
    ).eval()
    el = enn.TransformerEncoderLayer(
        4, 2, activation=enn.GELU(approximate="tanh"), dtype=np.float64, **kw
    ).eval()
    _load(el, tl)
    x = torch.randn(2, 3, 4, dtype=torch.float64) * 3
    with torch.no_grad(), ember.no_grad():  # the fast path
        np.testing.assert_allclose(el(_et(x)).numpy(), tl(x).numpy(), rtol=1e-10, atol=1e-10)
    want = tl(x)  # grad mode with parameters requiring grad: the module's tanh gelu
    np.testing.assert_allclose(el(_et(x)).detach().numpy(), want.detach().numpy(), atol=1e-10)


# add/sub alpha (found by fuzz12, fixed by the lead): alpha * other is computed in the dtype
# of self + other, as torch (in-place add_ scaled a uint8 other in uint8: 254 for -3; a
# float16 other was scaled in float16), and torch's alpha rules are enforced.
_u8 = lambda m, v: m.tensor(np.array(v, np.uint8))  # noqa: E731
_ALPHA_CASES = [
    (lambda m: m.tensor([1.0, 2.0]), lambda m: m.tensor(np.array([3, 4], np.uint8)), -1),
    (lambda m: m.tensor([1.0, 2.0]), lambda m: m.tensor(np.array([3, 4], np.int8)), 100),
    (lambda m: m.tensor([0.0]), lambda m: m.tensor(np.array([1.0009765625], np.float16)), 3),
    (lambda m: m.tensor(np.array([1, 2], np.int16)), lambda m: np.float32(1.5), -1),
    (lambda m: m.tensor([1, 2]), lambda m: 2.5, 2),
    (lambda m: m.tensor([1, 2]), lambda m: m.tensor([1, 3]), 0.5),
    (lambda m: m.tensor([1, 2]), lambda m: m.tensor([1, 3]), np.float64(2)),
    (lambda m: m.tensor([1, 2]), lambda m: m.tensor([1, 3]), np.int64(2)),
    (lambda m: m.tensor([1, 2]), lambda m: m.tensor([1, 3]), 1.0),
    (lambda m: m.tensor([1.0, 2.0]), lambda m: m.tensor([1.0, 3.0]), True),
    (lambda m: m.tensor([True]), lambda m: m.tensor([True]), True),
    (lambda m: m.tensor([1.0, 2.0]), lambda m: 2.5, 1j),
    (lambda m: _u8(m, [1, 2]), lambda m: _u8(m, [1, 3]), -1),
    (lambda m: m.tensor(np.array([1.0, 2.0])), lambda m: m.tensor(np.array([5, -7], np.int32)), 3),
]  # fmt: skip


@pytest.mark.parametrize("case", range(len(_ALPHA_CASES)))
@pytest.mark.parametrize("form", ["add", "sub", "add_", "sub_"])
def test_add_sub_alpha_as_torch(case, form):
    make_a, make_b, alpha = _ALPHA_CASES[case]

    def run(m):
        a, b = make_a(m), make_b(m)
        if form.endswith("_"):
            return getattr(a, form)(b, alpha=alpha)
        return getattr(m, form)(a, b, alpha=alpha)

    try:
        want = run(torch)
    except RuntimeError:
        with pytest.raises((TypeError, RuntimeError)):
            run(ember)
        return
    got = run(ember)
    assert str(got.dtype) == str(want.dtype).replace("torch.", "")
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_add_alpha_gradient_reaches_a_narrower_other():
    a = ember.tensor([1.0, 2.0], requires_grad=True)
    b = ember.tensor(np.array([0.5, 0.25], np.float16), requires_grad=True)
    ember.add(a, b, alpha=3).sum().backward()
    assert b.grad.dtype == np.float16
    np.testing.assert_array_equal(b.grad.numpy(), [3.0, 3.0])
    np.testing.assert_array_equal(a.grad.numpy(), [1.0, 1.0])


# Tensor.permute's varargs as torch's: one int is one dim (x.permute(0) of a 1-D x; was
# "'int' object is not iterable"), one sequence is the dims, dims= the keyword
@pytest.mark.parametrize("shape, args, kw", [
    ((4,), (0,), {}), ((4,), ((0,),), {}), ((4,), (np.int64(0),), {}),
    ((2, 3), (1, 0), {}), ((2, 3), ([1, 0],), {}), ((2, 3), (), {"dims": (1, 0)}), ((), ((),), {}),
])  # fmt: skip
def test_permute_call_forms_as_torch(shape, args, kw):
    x = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    got = ember.tensor(x).permute(*args, **kw)
    want = torch.tensor(x).permute(*args, **kw)
    assert got.shape == tuple(want.shape)
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_permute_of_one_int_on_a_matrix_is_refused_as_torch():
    with pytest.raises(RuntimeError):
        torch.randn(2, 3).permute(0)
    with pytest.raises(RuntimeError, match="not a permutation"):
        ember.randn(2, 3).permute(0)
