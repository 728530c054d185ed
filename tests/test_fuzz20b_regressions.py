"""Regressions from the fuzz20b differential sweep (against torch 2.13) over opsspeed20's
kernels, behave20's views, convspeed20's F.pad and rnnspeed20's GEMM epilogue."""

import warnings

import pytest

import ember


@pytest.mark.parametrize(
    "n,dtype,ok",
    [
        (128, ember.int8, True),
        (129, ember.int8, False),
        (256, ember.uint8, True),
        (257, ember.uint8, False),
        (2049, ember.float16, True),
        (2050, ember.float16, False),
    ],
)
def test_randperm_refuses_n_beyond_dtype_as_torch(n, dtype, ok):
    if ok:
        r = ember.randperm(n, dtype=dtype)
        assert r.dtype == dtype and sorted(r.numpy().tolist()) == list(range(n))
    else:  # (was: values wrapped / rounded silently)
        with pytest.raises(RuntimeError, match=r"converted to type|greater than 2049"):
            ember.randperm(n, dtype=dtype)


@pytest.mark.parametrize("dtype", [ember.bool, ember.complex64])
def test_randperm_refuses_bool_and_complex(dtype):
    with pytest.raises(RuntimeError, match="not implemented"):
        ember.randperm(3, dtype=dtype)


def test_randperm_out_takes_and_checks_outs_dtype():
    out = ember.empty(5, dtype=ember.int8)
    assert ember.randperm(5, out=out) is out
    assert sorted(out.numpy().tolist()) == [0, 1, 2, 3, 4]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (torch's resize warning)
        with pytest.raises(RuntimeError, match="int8 without overflow"):
            ember.randperm(200, out=ember.empty(3, dtype=ember.int8))


@pytest.mark.parametrize(
    "make",
    [
        lambda z: z((1, 2)).transpose(0, 1)[..., None].unsqueeze(-1),  # a size-1 dim's stride 2
        lambda z: z((1, 1, 3)).expand(2, 1, 3, 3).unsqueeze(-4),  # before an expanded size-1 dim
        lambda z: z((2, 3)).t().unsqueeze(1),
        lambda z: z((2, 1, 3))[::2].unsqueeze(2),
    ],
)
def test_unsqueeze_keeps_torchs_strides_of_size_one_dims(make):
    torch = pytest.importorskip("torch")
    e, t = make(ember.zeros), make(torch.zeros)  # (was: NumPy's reshape rewrote them)
    assert e.shape == tuple(t.shape) and e.stride() == t.stride()
    assert e.is_contiguous() == t.is_contiguous()


@pytest.mark.parametrize(
    "op,args", [("clamp_", (0.0, 0.5)), ("neg_", ()), ("abs_", ()), ("sqrt_", ()), ("exp_", ())]
)
def test_named_inplace_maths_write_through_a_view_of_an_expanded_tensor(op, args):
    torch = pytest.importorskip("torch")
    got = []
    for lib in (torch, ember):
        x = lib.arange(12.0).reshape(3, 4)
        v = x[:1].expand(3, 4)[1]  # no repeated memory location: torch writes x[0]
        getattr(v, op)(*args)  # (was: ValueError "activation: out is read-only")
        got.append(x.numpy().tolist())
    assert got[1] == got[0]
