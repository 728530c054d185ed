"""Pins from the fix25b round against PyTorch: scatter with a 0-d src, the exception classes of
shape and dim checks (torch's RuntimeError/TypeError, not ValueError), and roll's and narrow's
messages."""

import numpy as np
import pytest

import ember
import ember.nn.functional as F

torch = pytest.importorskip("torch")
tF = torch.nn.functional


@pytest.mark.parametrize("op", ["scatter_add", "scatter", "scatter_reduce"])
def test_scatter_reads_a_0d_src_as_size_1(op):
    # a 0-d src is size 1 in every dim: an index of size 1 reads it, of size 2 is refused
    # (ember's size check zipped the empty shape: NumPy's IndexError, or a ValueError for 0-d self)
    extra = ("sum",) if op == "scatter_reduce" else ()

    def run(lib, shape, ishape, src):
        x, i = lib.zeros(shape), lib.zeros(ishape, dtype=lib.int64)
        return getattr(x, op)(0, i, src, *extra)

    for shape, ishape, src in [((3,), (1,), ()), ((), (), (1,))]:
        want = run(torch, shape, ishape, torch.ones(src))
        got = run(ember, shape, ishape, ember.ones(src))
        assert got.shape == tuple(want.shape) and got.tolist() == want.tolist()
    with pytest.raises(RuntimeError):
        run(torch, (3,), (2,), torch.tensor(1.0))
    with pytest.raises(RuntimeError, match=r"index \(2,\) is larger than src \(\)"):
        run(ember, (3,), (2,), ember.tensor(1.0))


def _same_class(f, match):
    """f(lib) raises the same class for torch and ember; ember's message matches."""
    with pytest.raises(Exception) as want:
        f(torch)
    with pytest.raises(want.type, match=match):
        f(ember)


@pytest.mark.parametrize(
    "f, match",
    [
        (lambda t: t.gather(t.zeros(2, 2), 0, t.zeros(1, 3, dtype=t.int64)),
         r"index \(1, 3\) is larger than input \(2, 2\)"),
        (lambda t: t.take_along_dim(t.zeros(2, 3), t.zeros(3, 2, dtype=t.int64), 1),
         r"indices \(3, 2\) do not broadcast with input \(2, 3\)"),
        (lambda t: t.hsplit(t.zeros(2, 4), 0), "hsplit: dim 1 of size 4 .* 0 equal"),
        (lambda t: t.hsplit(t.zeros(2, 4), 3), "hsplit: dim 1 of size 4 .* 3 equal"),
        (lambda t: t.vsplit(t.zeros(4, 2), 3), "vsplit: dim 0 of size 4"),
        (lambda t: t.dsplit(t.zeros(2, 2, 4), 0), "dsplit: dim 2 of size 4"),
        (lambda t: t.zeros(2, 3).permute(0, -2), "not a permutation"),
        (lambda t: t.rot90(t.zeros(2, 3), 1, (0, -2)), "rot90: dims .* must differ"),
        (lambda t: t.rot90(t.zeros(3), 1, (0, 1)), "rot90: needs 2 dims and a tensor of >= 2"),
        (lambda t: t.diagonal(t.zeros(2, 3), 0, 1, -1), "diagonal: dim1 and dim2 must differ"),
        (lambda t: t.linalg.diagonal(t.zeros(2, 3), dim1=0, dim2=0), "dim1 and dim2 must differ"),
        (lambda t: t.diag_embed(t.zeros(2, 3), 0, 0, 0), "diag_embed: dim1 and dim2 must differ"),
        (lambda t: t.linalg.norm(t.zeros(2, 3), dim=(1, -1)), "dim1 and dim2 must differ"),
        (lambda t: t.linalg.norm(t.zeros(2, 3), 2, dim=(0, 0)), "dim1 and dim2 must differ"),
        (lambda t: t.zeros(3, 2).index_add(0, t.tensor([0]), t.zeros(1, 2, 1)),
         r"source shape \(1, 2, 1\) should be \(1, 2\)"),
        (lambda t: t.zeros(3, 2).index_add_(0, t.tensor([0, 1]), t.zeros(1, 2)),
         r"source shape \(1, 2\) should be \(2, 2\)"),
        (lambda t: t.zeros(2, 6).unflatten(1, (4, 2)), r"sizes \(4, 2\) do not multiply to dim 1"),
        (lambda t: t.multinomial(t.ones(3), 4), "cannot draw 4 samples without replacement"),
        (lambda t: t.ones(2, 3).multinomial(4), "cannot draw 4 samples without replacement"),
        (lambda t: t.repeat_interleave(t.zeros(3), -1), "repeats must be non-negative"),
        (lambda t: t.repeat_interleave(t.zeros(3), t.tensor([1, -1, 1])), "non-negative"),
        (lambda t: t.repeat_interleave(t.zeros(3), t.tensor([1, 1])), "2 repeats for dim"),
        (lambda t: t.repeat_interleave(t.tensor([1, -1])), "repeats must be non-negative"),
        (lambda t: t.zeros(2, 6).unflatten(1, (-1, -1)), "only one of sizes"),
        (lambda t: t.aminmax(t.zeros(2, 3), dim=(0, 0)), "aminmax: dim must be an int"),
        (lambda t: t.aminmax(t.zeros(2, 3), dim=(0,)), "aminmax: dim must be an int"),
        (lambda t: t.nanmean(t.arange(4), dtype=t.float32), "nanmean: input dtype"),
    ],
)  # fmt: skip
def test_shape_and_dim_checks_raise_torchs_class(f, match):
    _same_class(f, match)


@pytest.mark.parametrize(
    "s1, s2, st", [((3, 4), (3, 4), (2,)), ((2, 3, 4), (2, 3, 4), (2,)), ((4,), (4,), (1,))]
)
def test_cosine_embedding_loss_shape_checks_raise_runtime_error(s1, s2, st):
    def f(t):
        fn = tF if t is torch else F
        return fn.cosine_embedding_loss(t.zeros(s1), t.zeros(s2), t.ones(st))

    _same_class(f, "cosine_embedding_loss: (input1 and input2|target shape)")


def test_aminmax_still_takes_one_int_dim():
    a = np.arange(6.0).reshape(2, 3)
    got, want = ember.aminmax(ember.tensor(a), dim=1), torch.aminmax(torch.tensor(a), dim=1)
    assert got.min.tolist() == want.min.tolist() and got.max.tolist() == want.max.tolist()


def test_roll_names_the_shift_and_narrow_a_negative_length():
    with pytest.raises(TypeError):
        torch.roll(torch.zeros(3), 1.5, 0)
    with pytest.raises(TypeError, match="roll: shift must be an int, got float"):
        ember.roll(ember.zeros(3), 1.5, 0)
    with pytest.raises(RuntimeError, match="length must be non-negative"):
        torch.narrow(torch.zeros(3), 0, 1, -1)
    with pytest.raises(RuntimeError, match="narrow: length must be non-negative, got -1"):
        ember.narrow(ember.zeros(3), 0, 1, -1)
    with pytest.raises(RuntimeError, match=r"start \(1\) \+ length \(3\) exceeds"):
        ember.narrow(ember.zeros(3), 0, 1, 3)
