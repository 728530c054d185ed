"""behave37: Python numbers and NumPy scalars as 0-d tensors where torch takes a Tensor only
(design.md section 4), dims torch refuses, the strides of empty views, torch's error families
and grad_fn names, each against torch 2.13."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")

_FAMILIES = (TypeError, ValueError, RuntimeError, IndexError)


def _outcome(f, lib):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return f(lib), None
        except Exception as e:  # noqa: BLE001 (the exception's family is compared)
            return None, e


def _same(a, b):
    if isinstance(b, tuple | list):
        assert isinstance(a, tuple | list) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    elif isinstance(b, torch.Tensor):
        assert isinstance(a, ember.Tensor), type(a)
        assert str(a.dtype) == str(b.dtype).removeprefix("torch."), (a.dtype, b.dtype)
        assert tuple(a.shape) == tuple(b.shape)
        np.testing.assert_allclose(a.numpy(), b.resolve_conj().numpy(), rtol=1e-6, equal_nan=True)
    else:
        assert a == b


# (ember's call, torch's call on torch.tensor(number) where torch refuses the number itself)
NUMBERS = {
    "exp(1.0)": (lambda L: L.exp(1.0), lambda: torch.exp(torch.tensor(1.0))),
    "abs(3)": (lambda L: L.abs(3), lambda: torch.abs(torch.tensor(3))),
    "abs(np.float32)": (
        lambda L: L.abs(np.float32(-3)),
        lambda: torch.abs(torch.tensor(np.float32(-3))),
    ),
    "abs(np.int8)": (lambda L: L.abs(np.int8(-3)), lambda: torch.abs(torch.tensor(np.int8(-3)))),
    "pow(10, 2)": (lambda L: L.pow(10, 2), lambda: torch.pow(torch.tensor(10), 2)),
    "float_power(2, 3)": (
        lambda L: L.float_power(2, 3),
        lambda: torch.float_power(torch.tensor(2), 3),
    ),
    "sin(True)": (lambda L: L.sin(True), lambda: torch.sin(torch.tensor(True))),
    "exp(1+2j)": (lambda L: L.exp(1 + 2j), lambda: torch.exp(torch.tensor(1 + 2j))),
    "sqrt(np.float64)": (
        lambda L: L.sqrt(np.float64(2.0)),
        lambda: torch.sqrt(torch.tensor(np.float64(2.0))),
    ),
    "atan2(t, 2.0)": (
        lambda L: L.atan2(L.tensor([0.5, -1.0]), 2.0),
        lambda: torch.atan2(torch.tensor([0.5, -1.0]), torch.tensor(2.0)),
    ),
    "t.atan2(2)": (
        lambda L: L.tensor([0.5, -1.0]).atan2(2),
        lambda: torch.tensor([0.5, -1.0]).atan2(torch.tensor(2)),
    ),
    "logical_and(t, True)": (
        lambda L: L.logical_and(L.tensor([0, 1, 2]), True),
        lambda: torch.logical_and(torch.tensor([0, 1, 2]), torch.tensor(True)),
    ),
    "xlogy(1, 2)": (lambda L: L.xlogy(1, 2), lambda: torch.xlogy(torch.tensor(1), 2)),
    "atleast_1d(3)": (lambda L: L.atleast_1d(3), lambda: torch.atleast_1d(torch.tensor(3))),
    "broadcast_tensors(t, 2.0)": (
        lambda L: L.broadcast_tensors(L.tensor([1.0, 2.0]), 2.0),
        lambda: torch.broadcast_tensors(torch.tensor([1.0, 2.0]), torch.tensor(2.0)),
    ),
    "cumsum(2, 0)": (lambda L: L.cumsum(2, 0), lambda: torch.cumsum(torch.tensor(2), 0)),
    "sum(2.5)": (lambda L: L.sum(2.5), lambda: torch.sum(torch.tensor(2.5))),
    "t.type_as(1.0)": (
        lambda L: L.tensor([1, 2]).type_as(1.0),
        lambda: torch.tensor([1, 2]).type_as(torch.tensor(1.0)),
    ),
    "t.expand_as(3)": (  # (the op's own shape rule refuses it, as torch's for a 0-d tensor)
        lambda L: L.zeros(2, 2).expand_as(3),
        lambda: torch.zeros(2, 2).expand_as(torch.tensor(3)),
    ),
    "clamp(-1.0, max=-2.0)": (
        lambda L: L.clamp(-1.0, max=-2.0),
        lambda: torch.clamp(torch.tensor(-1.0), max=-2.0),
    ),
}


@pytest.mark.parametrize("case", NUMBERS)
def test_numbers_are_0d_tensors_where_torch_takes_tensors_only(case):
    mine, ref = NUMBERS[case]
    _, terr = _outcome(mine, torch)
    assert isinstance(terr, TypeError), (case, terr)  # (torch refuses the number itself)
    want, werr = _outcome(lambda _: ref(), torch)
    got, gerr = _outcome(mine, ember)
    if werr is not None:
        assert gerr is not None, case
        assert {c for c in _FAMILIES if isinstance(gerr, c)} & {
            c for c in _FAMILIES if isinstance(werr, c)
        }, (case, werr, gerr)
        return
    assert gerr is None, (case, gerr)
    _same(got, want)


REFUSED = {
    "exp([1.0])": lambda L: L.exp([1.0]),
    "exp('a')": lambda L: L.exp("a"),
    "exp(None)": lambda L: L.exp(None),
    "exp(object())": lambda L: L.exp(object()),
    "abs((1, 2))": lambda L: L.abs((1, 2)),
    "pow([2], 2)": lambda L: L.pow([2], 2),
    "t.atan2([2.0])": lambda L: L.tensor([1.0]).atan2([2.0]),
    "broadcast_tensors(t, [2.0])": lambda L: L.broadcast_tensors(L.tensor([1.0]), [2.0]),
    "t.expand_as((2, 2))": lambda L: L.zeros(2, 2).expand_as((2, 2)),
    "t.view_as(None)": lambda L: L.zeros(2, 2).view_as(None),
}


@pytest.mark.parametrize("case", REFUSED)
def test_non_numbers_refused_as_torch(case):
    for lib in (torch, ember):
        with pytest.raises(TypeError):
            REFUSED[case](lib)


def _x(L):
    return L.tensor(np.arange(6.0).reshape(1, 2, 3))


# dims: both refuse with one family, or both take them alike
DIMS = {
    "squeeze(x, [0] tensor)": lambda L: L.squeeze(_x(L), L.tensor([0])),
    "squeeze(x, None)": lambda L: L.squeeze(_x(L), None),
    "squeeze(x, 0-d tensor)": lambda L: L.squeeze(_x(L), L.tensor(0)),
    "x.squeeze([0] tensor)": lambda L: _x(L).squeeze(L.tensor([0])),
    "x.squeeze((0-d,))": lambda L: _x(L).squeeze((L.tensor(0),)),
    "count_nonzero(x, [0] tensor)": lambda L: L.count_nonzero(_x(L), L.tensor([0])),
    "count_nonzero(x, 0-d tensor)": lambda L: L.count_nonzero(_x(L), L.tensor(1)),
    "x.count_nonzero([0] tensor)": lambda L: _x(L).count_nonzero(L.tensor([0])),
    "flip(x, -1)": lambda L: L.flip(_x(L), -1),
    "flip(x, 0-d tensor)": lambda L: L.flip(_x(L), L.tensor(0)),
    "flip(x, np.int64)": lambda L: L.flip(_x(L), np.int64(1)),
    "flip(x, (1.0,))": lambda L: L.flip(_x(L), (1.0,)),
    "flip(x, (True,))": lambda L: L.flip(_x(L), (True,)),
    "flip(x, (0-d,))": lambda L: L.flip(_x(L), (L.tensor(2),)),
    "x.flip(-1)": lambda L: _x(L).flip(-1),
    "x.flip(0-d tensor)": lambda L: _x(L).flip(L.tensor(2)),
    "x.stride(True)": lambda L: _x(L).stride(True),
    "x.stride([0] tensor)": lambda L: _x(L).stride(L.tensor([0])),
    "x.stride(0-d tensor)": lambda L: _x(L).stride(L.tensor(1)),
    "rot90(x, 1, ([1] tensor, 2))": lambda L: L.rot90(_x(L), 1, (L.tensor([1]), 2)),
    "fliplr(x)": lambda L: L.fliplr(_x(L)[0]),
    "flipud(x)": lambda L: L.flipud(_x(L)[0]),
    "flatten(x, 2, 1)": lambda L: L.flatten(_x(L), 2, 1),
    "x.permute()": lambda L: L.tensor(1.0).permute(),
    "x1d.H": lambda L: L.ones(3).H,
    "x3d.H": lambda L: _x(L).H,
    "x0d.H": lambda L: L.tensor(2.0).H,
    "x3d.t()": lambda L: _x(L).t(),
    "x.expand(3, 2)": lambda L: L.ones(2, 3).expand(3, 2),
    "unfold(0-d, 0, 0, 1)": lambda L: L.tensor(2.0).unfold(0, 0, 1),
    "unfold(0-d, 0, 1, 1)": lambda L: L.tensor(2.0).unfold(0, 1, 1),
    # the probe's error families (torch's RuntimeError where ember said ValueError/TypeError)
    "combinations(0-d)": lambda L: L.combinations(L.tensor(1.0)),
    "vander(2-d)": lambda L: L.vander(L.ones(2, 2)),
    "histc(int)": lambda L: L.histc(L.tensor([1, 2])),
    "histogram(int)": lambda L: L.histogram(L.tensor([1, 2])),
    "histc(bins=0)": lambda L: L.histc(L.tensor([1.0, 2.0]), bins=0),
    "meshgrid(2-d)": lambda L: L.meshgrid(L.ones(2, 2), indexing="ij"),
    "bincount(2-d)": lambda L: L.bincount(L.tensor([[1, 2]])),
    "bucketize(b 2-d)": lambda L: L.bucketize(L.tensor([1.0]), L.ones(2, 2)),
    "block_diag(3-d)": lambda L: L.block_diag(L.ones(1, 1, 1)),
    "dsplit(2-d)": lambda L: L.dsplit(L.zeros(2, 2), 2),
    "hsplit(0-d)": lambda L: L.hsplit(L.tensor(1.0), 1),
    "diag_embed(0-d)": lambda L: L.diag_embed(L.tensor(1.0)),
    "x.sum_to_size()": lambda L: L.zeros(3).sum_to_size(),
    "x.sum_to_size(5)": lambda L: L.zeros(2, 3).sum_to_size(5),
    "mean(int)": lambda L: L.mean(L.tensor([1, 2])),
    "std(bool)": lambda L: L.std(L.tensor([True, False])),
    "var(int, 0)": lambda L: L.var(L.tensor([1, 2]), 0),
    "norm(int)": lambda L: L.norm(L.tensor([1, 2])),
    "quantile(int)": lambda L: L.quantile(L.tensor([1, 2]), 0.5),
    "quantile(q=2)": lambda L: L.quantile(L.tensor([1.0, 2.0]), 2.0),
    "logcumsumexp(int)": lambda L: L.logcumsumexp(L.tensor([1, 2]), 0),
}


@pytest.mark.parametrize("case", DIMS)
def test_dims_and_errors_as_torch(case):
    want, werr = _outcome(DIMS[case], torch)
    got, gerr = _outcome(DIMS[case], ember)
    if werr is not None:
        assert gerr is not None, (case, got)
        fam = {c for c in _FAMILIES if isinstance(werr, c)}
        assert fam & {c for c in _FAMILIES if isinstance(gerr, c)}, (case, werr, gerr)
        return
    assert gerr is None, (case, gerr)
    _same(got, want)


_BASES = {
    "fresh": lambda L, s: L.zeros(s),
    "permuted": lambda L, s: L.zeros(s[::-1]).permute(*range(len(s) - 1, -1, -1)),
}
_VIEWS = {
    "t": lambda x: x.t() if x.dim() <= 2 else x.mT,
    "T": lambda x: x.T if x.dim() <= 2 else x.permute(*range(x.dim() - 1, -1, -1)),
    "mT": lambda x: x.mT,
    "permute": lambda x: x.permute(*range(x.dim() - 1, -1, -1)),
    "transpose": lambda x: x.transpose(0, -1),
    "movedim": lambda x: x.movedim(0, -1),
    "swapdims": lambda x: x.swapdims(0, 1),
    "diagonal": lambda x: x.diagonal(),
    "diagonal(1)": lambda x: x.diagonal(1),
    "expand": lambda x: x.expand(2, *x.shape),
    "unfold": lambda x: x.unfold(0, min(1, x.shape[0]), 1),
    "squeeze": lambda x: x.squeeze(),
    "squeeze(1)": lambda x: x.squeeze(1),
    "unsqueeze(1)": lambda x: x.unsqueeze(1),
    "contiguous": lambda x: x.contiguous(),
    "t().contiguous()": lambda x: x.mT.contiguous(),
    "as_strided": lambda x: x.as_strided(x.shape, x.stride()),
}


@pytest.mark.parametrize("shape", [(4, 0), (0, 4), (2, 0, 3), (2, 1, 0), (1, 2, 1), (3, 1)])
@pytest.mark.parametrize("base", _BASES)
@pytest.mark.parametrize("view", _VIEWS)
def test_views_of_empty_and_size1_tensors_have_torchs_strides(view, base, shape):
    t, e = _VIEWS[view](_BASES[base](torch, shape)), _VIEWS[view](_BASES[base](ember, shape))
    assert tuple(e.shape) == tuple(t.shape)
    assert e.stride() == t.stride(), (e.stride(), t.stride())
    assert e.is_contiguous() == t.is_contiguous()
    assert e.storage_offset() == t.storage_offset()


def test_ravel_of_an_expanded_tensor_is_contiguous_as_torch():
    for lib in (torch, ember):
        r = lib.zeros(1, 1).expand(2, 3).ravel()
        assert r.is_contiguous() and r.stride() == (1,) and tuple(r.shape) == (6,)
        r[0] = 1.0  # (a copy: writable)


def test_an_empty_view_is_still_a_view_and_keeps_values():
    x = ember.zeros(0, 4)
    for v in (x.t(), x.T, x.diagonal(1), x.expand(2, 0, 4), x.unsqueeze(1).squeeze(1)):
        assert v.numel() == 0 and v._base is x


GRAD_FNS = {
    "roll flat": lambda L, x: L.roll(x, 1),
    "x.roll(1)": lambda L, x: x.roll(1),
    "roll dim": lambda L, x: L.roll(x, 1, 0),
    "trace": lambda L, x: L.trace(x),
    "kron": lambda L, x: L.kron(x, x),
    "prod(dim)": lambda L, x: L.prod(x, 1),
    "prod": lambda L, x: L.prod(x),
    "dist": lambda L, x: L.dist(x, x * 2),
    "cdist": lambda L, x: L.cdist(x, x * 2),
    "diag": lambda L, x: L.diag(x),
    "unfold of 0-d": lambda L, x: x[0, 0].unfold(0, 1, 1),
    "squeeze(dim)": lambda L, x: x[None].squeeze(0),
    "t": lambda L, x: x.t(),
    "permute": lambda L, x: x.permute(1, 0),
}


@pytest.mark.parametrize("case", GRAD_FNS)
def test_grad_fn_names_and_gradients_as_torch(case):
    a = np.arange(1.0, 10.0).reshape(3, 3) / 4
    t = torch.tensor(a, requires_grad=True)
    e = ember.tensor(a, requires_grad=True)
    assert GRAD_FNS[case](ember, e).grad_fn.name() == GRAD_FNS[case](torch, t).grad_fn.name()
    assert ember.autograd.gradcheck(lambda v: GRAD_FNS[case](ember, v), (e,))
