"""PyTorch's everyday shape, indexing, reduction, product and linear-algebra functions
(ember.ops, ember.linalg): each case runs the same code on ember and on torch, compares the
values, and checks ember's gradients by finite differences in float64."""

import warnings

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")


def _arr(*shape, seed=0, lo=-2.0, hi=2.0):
    return np.random.default_rng(seed).uniform(lo, hi, shape)


def _nan(*shape, seed=0):
    a = _arr(*shape, seed=seed)
    a.reshape(-1)[[1, 4, 5]] = np.nan
    a[-1] = np.nan
    return a


def _mat(*shape, seed=0):
    """Well-conditioned square matrices."""
    return _arr(*shape, seed=seed, lo=-0.5, hi=0.5) + 2 * np.eye(shape[-1])


def _to(m, a):
    return m.tensor(a) if m is ember else torch.from_numpy(np.array(a))


def _flat(out):
    if isinstance(out, tuple | list):
        return [v for o in out for v in _flat(o)]
    return [out]


def _compare(e_out, t_out):
    e_vals, t_vals = _flat(e_out), _flat(t_out)
    assert len(e_vals) == len(t_vals)
    for e, t in zip(e_vals, t_vals):
        if isinstance(t, torch.Tensor):
            t = t.numpy()
            assert isinstance(e, ember.Tensor), type(e)
            assert e.shape == t.shape, (e.shape, t.shape)
            assert e.dtype == t.dtype, (e.dtype, t.dtype)
            e = e.numpy()
        np.testing.assert_allclose(e, t, rtol=1e-10, atol=1e-12)


# id: (f(module, *inputs), input arrays, gradcheck?)
CASES = {
    "broadcast_to": (lambda m, x: m.broadcast_to(x, (2, 3, 4)), [_arr(3, 1)], True),
    "broadcast_tensors": (lambda m, x, y: m.broadcast_tensors(x, y), [_arr(3, 1), _arr(4)], True),
    "movedim": (lambda m, x: m.movedim(x, (0, -1), (2, 0)), [_arr(2, 3, 4)], True),
    "moveaxis": (lambda m, x: x.moveaxis(1, -1), [_arr(2, 3, 4)], True),
    "swapaxes": (lambda m, x: m.swapaxes(x, 0, 2), [_arr(2, 3, 4)], True),
    "swapdims": (lambda m, x: x.swapdims(-1, 1), [_arr(2, 3, 4)], True),
    "narrow": (lambda m, x: m.narrow(x, 1, -3, 2), [_arr(2, 4)], True),
    "select": (lambda m, x: x.select(-1, 2), [_arr(2, 4)], True),
    "ravel": (lambda m, x: m.ravel(x.T), [_arr(2, 4)], True),
    "unflatten": (lambda m, x: x.unflatten(1, (2, -1)), [_arr(3, 6)], True),
    "unfold": (lambda m, x: x.unfold(1, 3, 2), [_arr(2, 8, 3)], True),
    "unfold_last": (lambda m, x: x.unfold(-1, 2, 1), [_arr(4, 3)], True),
    "tile": (lambda m, x: m.tile(x, (2, 1, 3)), [_arr(2, 3)], True),
    "tile_short": (lambda m, x: x.tile((2,)), [_arr(2, 3)], True),
    "roll": (lambda m, x: m.roll(x, (1, -2), (0, 1)), [_arr(3, 4)], True),
    "roll_flat": (lambda m, x: x.roll(5), [_arr(3, 4)], True),
    "rot90": (lambda m, x: m.rot90(x, 1, (1, 2)), [_arr(2, 3, 4)], True),
    "rot90_k2": (lambda m, x: x.rot90(2), [_arr(3, 4)], True),
    "rot90_k3": (lambda m, x: m.rot90(x, -1, (0, 1)), [_arr(3, 4)], True),
    "fliplr": (lambda m, x: m.fliplr(x), [_arr(3, 4)], True),
    "flipud": (lambda m, x: x.flipud(), [_arr(3, 4)], True),
    "repeat_interleave": (lambda m, x: x.repeat_interleave(2), [_arr(2, 3)], True),
    "repeat_interleave_dim": (
        lambda m, x: m.repeat_interleave(x, m.tensor([1, 0, 2]), dim=1),
        [_arr(2, 3)],
        True,
    ),
    "repeat_interleave_int_dim": (
        lambda m, x: m.repeat_interleave(x, 3, dim=-2),
        [_arr(2, 3, 2)],
        True,
    ),
    "repeat_interleave_zero": (lambda m, x: x.repeat_interleave(0, dim=1), [_arr(2, 3)], True),
    "repeat_interleave_counts": (
        lambda m, x: m.repeat_interleave(m.tensor([2, 0, 3])),
        [_arr(1)],
        False,
    ),
    "tensor_split_n": (lambda m, x: m.tensor_split(x, 3, dim=1), [_arr(2, 7)], True),
    "tensor_split_idx": (lambda m, x: x.tensor_split([1, 5, 3, 9]), [_arr(7, 2)], True),
    "hsplit": (lambda m, x: m.hsplit(x, 2), [_arr(3, 4)], True),
    "hsplit_1d": (lambda m, x: x.hsplit([1, 3]), [_arr(5)], True),
    "vsplit": (lambda m, x: m.vsplit(x, [1]), [_arr(3, 4)], True),
    "dsplit": (lambda m, x: x.dsplit(2), [_arr(2, 3, 4)], True),
    "split_with_sizes": (lambda m, x: x.split_with_sizes([1, 3], 1), [_arr(2, 4)], True),
    "hstack": (lambda m, x, y: m.hstack([x, y]), [_arr(2, 3), _arr(2, 1)], True),
    "hstack_1d": (lambda m, x, y: m.hstack((x, y)), [_arr(3), _arr(2)], True),
    "vstack": (lambda m, x, y: m.vstack([x, y]), [_arr(3), _arr(2, 3)], True),
    "row_stack": (lambda m, x, y: m.row_stack([x, y]), [_arr(3), _arr(3)], True),
    "dstack": (lambda m, x, y: m.dstack([x, y]), [_arr(2, 3), _arr(2, 3, 2)], True),
    "column_stack": (lambda m, x, y: m.column_stack([x, y]), [_arr(3), _arr(3, 2)], True),
    "concat": (lambda m, x, y: m.concat([x, y], dim=-1), [_arr(2, 3), _arr(2, 1)], True),
    "concatenate": (lambda m, x, y: m.concatenate([x, y], axis=0), [_arr(2, 3), _arr(1, 3)], True),
    "atleast": (
        lambda m, a, b, c: (m.atleast_1d(a), m.atleast_2d(a, b), m.atleast_3d([a, b, c])),
        [np.array(1.5), _arr(3), _arr(2, 3)],
        True,
    ),
    "t": (lambda m, x: m.t(x), [_arr(2, 3)], True),
    # ---- indexing and scatter
    "take": (lambda m, x: m.take(x, m.tensor([[0, -1], [5, 2]])), [_arr(2, 3)], True),
    "take_along_dim": (
        lambda m, x: m.take_along_dim(x, m.tensor([[0], [2]]), 1),
        [_arr(2, 3)],
        True,
    ),
    "take_along_dim_bcast": (
        lambda m, x: x.take_along_dim(m.tensor([[[1, 0]]]), dim=2),
        [_arr(2, 3, 4)],
        True,
    ),
    "take_along_dim_flat": (
        lambda m, x: m.take_along_dim(x, m.tensor([4, 0])),
        [_arr(2, 3)],
        True,
    ),
    "masked_select": (lambda m, x: m.masked_select(x, x > 0), [_arr(3, 4)], True),
    "masked_select_bcast": (
        lambda m, x: x.masked_select(m.tensor([True, False, True])),
        [_arr(2, 3)],
        True,
    ),
    "masked_scatter": (
        lambda m, x, s: x.masked_scatter(m.tensor([[True], [False]]), s),
        [_arr(2, 3), _arr(2, 4)],
        True,
    ),
    "scatter_src": (
        lambda m, x, s: m.scatter(x, 0, m.tensor([[1, 0, 2], [0, 2, 1]]), s),
        [_arr(3, 4), _arr(3, 4)],
        True,
    ),
    "scatter_value": (
        lambda m, x: x.scatter(1, m.tensor([[1], [3]]), 2.5),
        [_arr(2, 4)],
        True,
    ),
    "scatter_add_reduce": (
        lambda m, x, s: x.scatter(1, m.tensor([[1, 1], [3, 0]]), s, reduce="add"),
        [_arr(2, 4), _arr(2, 3)],
        True,
    ),
    "scatter_multiply": (
        lambda m, x, s: x.scatter(1, m.tensor([[1, 1], [3, 0]]), s, reduce="multiply"),
        [_arr(2, 4), _arr(2, 3)],
        False,
    ),
    "scatter_add": (
        lambda m, x, s: m.scatter_add(x, 0, m.tensor([[1, 0, 1], [1, 2, 1]]), s),
        [_arr(3, 3), _arr(2, 3)],
        True,
    ),
    "index_add": (
        lambda m, x, s: m.index_add(x, 1, m.tensor([2, 0, 2]), s, alpha=-2.0),
        [_arr(2, 3), _arr(2, 3)],
        True,
    ),
    "index_copy": (
        lambda m, x, s: x.index_copy(0, m.tensor([2, 0]), s),
        [_arr(3, 2), _arr(2, 2)],
        True,
    ),
    "index_fill": (lambda m, x: x.index_fill(1, m.tensor([0, 2]), -1.0), [_arr(2, 3)], True),
    "index_fill_tensor": (
        lambda m, x, v: m.index_fill(x, -1, m.tensor([1]), v),
        [_arr(2, 3), np.array(0.5)],
        True,
    ),
    "index_put": (
        lambda m, x, v: x.index_put((m.tensor([0, 1, 0]), m.tensor([2, 0, 1])), v),
        [_arr(2, 3), _arr(1)],
        True,
    ),
    "index_put_accumulate": (
        lambda m, x, v: m.index_put(x, (m.tensor([0, 1, 0]), m.tensor([2, 0, 2])), v, True),
        [_arr(2, 3), _arr(3)],
        True,
    ),
    "nonzero": (lambda m, x: (m.nonzero(x > 0), x.nonzero(as_tuple=True)), [_arr(3, 4)], False),
    "argwhere": (lambda m, x: m.argwhere(x > 0), [_arr(3, 4)], False),
    "count_nonzero": (
        lambda m, x: (
            m.count_nonzero(x > 0),
            (x > 0).count_nonzero(dim=(0, 1)),
            m.count_nonzero(x > 0, dim=-1),
        ),
        [_arr(3, 4)],
        False,
    ),  # fmt: skip
    "tri_indices": (
        lambda m, x: (m.tril_indices(3, 4, 1), m.triu_indices(4, 3, -1), m.tril_indices(0, 2)),
        [_arr(1)],
        False,
    ),
    "diag": (lambda m, x, v: (m.diag(x, 1), v.diag(-1)), [_arr(3, 4), _arr(3)], True),
    "diagonal": (lambda m, x: m.diagonal(x, -1, 2, 0), [_arr(3, 2, 4)], True),
    "diagonal_offset": (lambda m, x: x.diagonal(2), [_arr(3, 4)], True),
    "diag_embed": (lambda m, x: m.diag_embed(x, 1, 0, 2), [_arr(2, 3)], True),
    "diag_embed_default": (lambda m, x: x.diag_embed(-1), [_arr(2, 3)], True),
    "diagflat": (lambda m, x: m.diagflat(x, -1), [_arr(2, 2)], True),
    "trace": (lambda m, x: (m.trace(x), x.trace()), [_arr(3, 4)], True),
    "meshgrid": (lambda m, x, y: m.meshgrid(x, y, indexing="ij"), [_arr(3), _arr(2)], True),
    "meshgrid_xy": (
        lambda m, x, y, z: m.meshgrid([x, y, z], indexing="xy"),
        [_arr(3), _arr(2), _arr(4)],
        True,
    ),
    "cartesian_prod": (lambda m, x, y: m.cartesian_prod(x, y), [_arr(3), _arr(2)], True),
    "searchsorted": (
        lambda m, x: (
            m.searchsorted(m.tensor([1.0, 2.0, 2.0, 4.0]), x),
            m.searchsorted(m.tensor([1.0, 2.0, 2.0, 4.0]), x, right=True),
            m.searchsorted(
                m.tensor([[1.0, 3.0], [0.0, 2.0]]),
                m.tensor([[2.0], [2.0]]),
                side="right",
                out_int32=True,
            ),
        ),
        [np.array([[0.5, 2.0], [2.5, 9.0]])],
        False,
    ),  # fmt: skip
    "bucketize": (
        lambda m, x: (
            m.bucketize(x, m.tensor([1.0, 2.0, 4.0])),
            m.bucketize(x, m.tensor([1.0, 2.0, 4.0]), right=True),
        ),
        [np.array([0.5, 1.0, 2.0, 3.0, 4.0, 5.0])],
        False,
    ),  # fmt: skip
    # ---- reductions
    "amax": (
        lambda m, x: (m.amax(x, (0, 2)), x.amax(-1, keepdim=True), m.amax(x)),
        [_arr(2, 3, 4)],
        True,
    ),
    "amin": (lambda m, x: (m.amin(x, 1), x.amin((0, 1), True)), [_arr(2, 3, 4)], True),
    "amax_ties": (
        lambda m, x: m.amax(x, 1),
        [np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])],
        "torch",
    ),
    "aminmax": (lambda m, x: (m.aminmax(x), x.aminmax(dim=1, keepdim=True)), [_arr(3, 4)], True),
    "std": (lambda m, x: (m.std(x), m.std(x, 1), x.std(0, keepdim=True)), [_arr(3, 4)], True),
    "std_correction": (lambda m, x: m.std(x, (0, 1), correction=0), [_arr(3, 4)], True),
    "var_positional": (  # PyTorch's order: (dim, unbiased, keepdim), and (unbiased)
        lambda m, x: (
            m.var(x, 1, False, True),
            x.var(False),
            x.std(0, False),
            m.std(x, True),
            m.var_mean(x, 0, False, True),
            m.std_mean(x, False),
        ),
        [_arr(3, 4)],
        True,
    ),  # fmt: skip
    "var_mean": (lambda m, x: (m.var_mean(x, 1), m.std_mean(x, dim=0)), [_arr(3, 4)], True),
    "nansum": (lambda m, x: (m.nansum(x), x.nansum(1)), [_nan(3, 4)], True),
    "nanmean": (lambda m, x: (m.nanmean(x), x.nanmean(0, keepdim=True)), [_nan(3, 4)], True),
    "median": (lambda m, x: (m.median(x), x.median(1), m.median(x, 0, True)), [_arr(3, 5)], True),
    "median_nan": (lambda m, x: (m.median(x), x.median(1)), [_nan(3, 5)], False),
    "nanmedian": (
        lambda m, x: (m.nanmedian(x), x.nanmedian(1), m.nanmedian(x.T, 0, True)),
        [_nan(3, 4)[:2]],
        False,
    ),
    "nanmedian_grad": (lambda m, x: m.nanmedian(x, -1), [_arr(3, 4)], True),
    "kthvalue": (lambda m, x: (m.kthvalue(x, 2), x.kthvalue(3, 0, True)), [_arr(3, 4)], True),
    "mode": (
        lambda m, x: (m.mode(x), x.mode(0)),
        [
            np.array(
                [[1.0, 2.0, 2.0, 1.0, 3.0], [4.0, 0.0, 4.0, 0.0, 0.0], [1.0, 1.0, 5.0, 5.0, 1.0]]
            )
        ],
        "torch",
    ),
    "quantile": (
        lambda m, x: (
            m.quantile(x, 0.3),
            x.quantile(m.tensor([0.0, 0.25, 1.0], dtype=m.float64), dim=1),
            m.quantile(x, 0.5, dim=0, keepdim=True),
            x.quantile(0.4, keepdim=True),
        ),
        [_arr(3, 5)],
        True,
    ),  # fmt: skip
    "quantile_modes": (
        lambda m, x: tuple(
            m.quantile(x, m.tensor([0.1, 0.5, 0.7], dtype=m.float64), 1, interpolation=i)
            for i in ("lower", "higher", "midpoint", "nearest")
        ),
        [_arr(2, 6)],
        True,
    ),  # fmt: skip
    "quantile_nan": (
        lambda m, x: (
            m.quantile(x, 0.5, 1),
            m.nanquantile(x, m.tensor([0.2, 0.9], dtype=m.float64), 1),
            x.nanquantile(0.3),
        ),
        [_nan(3, 4)],
        False,
    ),  # fmt: skip
    "cummax": (lambda m, x: (m.cummax(x, 1), x.cummin(0)), [_arr(3, 4)], True),
    "cummax_ties_nan": (
        lambda m, x: (m.cummax(x, 0), m.cummin(x, 0)),
        [np.array([1.0, 3.0, 2.0, 3.0, np.nan, 0.0, np.nan, 9.0])],
        False,
    ),
    "cumprod": (lambda m, x: (m.cumprod(x, 1), x.cumprod(0)), [_arr(3, 4)], True),
    "cumprod_zeros": (
        lambda m, x: m.cumprod(x, -1),
        [
            np.array(
                [[2.0, 0.0, 3.0, 0.0, 1.5], [0.0, 1.0, 2.0, 3.0, 0.5], [1.0, 2.0, 3.0, 4.0, 0.0]]
            )
        ],
        True,
    ),
    "logcumsumexp": (
        lambda m, x: (m.logcumsumexp(x, 1), x.logcumsumexp(0)),
        [_arr(3, 4, hi=40.0)],
        True,
    ),
    "diff": (
        lambda m, x, p: (m.diff(x), x.diff(2, 0), m.diff(x, dim=1, prepend=p, append=x)),
        [_arr(4, 3), _arr(4, 2)],
        True,
    ),
    "msort": (lambda m, x: (m.msort(x), x.msort()), [_arr(4, 3)], True),
    "cov": (lambda m, x: (m.cov(x), x.cov(correction=0), m.cov(x[0])), [_arr(3, 6)], True),
    "cov_weights": (
        lambda m, x: m.cov(
            x,
            fweights=m.tensor([1, 2, 1, 3, 1, 1]),
            aweights=m.tensor([0.5, 1.0, 2.0, 1.0, 0.3, 1.0], dtype=m.float64),
        ),
        [_arr(3, 6)],
        True,
    ),  # fmt: skip
    "corrcoef": (lambda m, x: (m.corrcoef(x), x.corrcoef()), [_arr(3, 6)], True),
    # ---- products
    "dot": (
        lambda m, a, b: (m.dot(a, b), a.vdot(b), m.inner(a, b)),
        [_arr(4), _arr(4, seed=1)],
        True,
    ),
    "inner": (lambda m, a, b: (m.inner(a, b), m.inner(a, b[0, 0])), [_arr(2, 3), _arr(4, 3)], True),
    "outer": (lambda m, a, b: (m.outer(a, b), a.ger(b)), [_arr(3), _arr(2)], True),
    "mv": (lambda m, a, v: (m.mv(a, v), a.mv(v)), [_arr(2, 3), _arr(3)], True),
    "addmm": (
        lambda m, c, a, b: (m.addmm(c, a, b), c.addmm(a, b, beta=0.5, alpha=-2.0)),
        [_arr(2, 4), _arr(2, 3), _arr(3, 4)],
        True,
    ),
    "addmm_bcast_beta0": (
        lambda m, c, a, b: m.addmm(c, a, b, beta=0),
        [_arr(4), _arr(2, 3), _arr(3, 4)],
        True,
    ),
    "addmv": (
        lambda m, c, a, v: m.addmv(c, a, v, beta=2.0, alpha=0.5),
        [_arr(2), _arr(2, 3), _arr(3)],
        True,
    ),
    "addbmm": (
        lambda m, c, a, b: (m.addbmm(c, a, b, alpha=3.0), m.baddbmm(c, a, b, beta=-1.0)),
        [_arr(2, 4), _arr(3, 2, 5), _arr(3, 5, 4)],
        True,
    ),
    "addr": (lambda m, c, a, b: m.addr(c, a, b, beta=2.0), [_arr(3, 2), _arr(3), _arr(2)], True),
    "kron": (lambda m, a, b: (m.kron(a, b), a.kron(b[0])), [_arr(2, 3), _arr(2, 2, 1)], True),
    "tensordot": (
        lambda m, a, b: (m.tensordot(a, b), m.tensordot(a, b[0, 0], 0), m.tensordot(a, b[0], 1)),
        [_arr(3, 2, 4), _arr(2, 4, 5)],
        True,
    ),
    "tensordot_pairs": (
        lambda m, a, b: m.tensordot(a, b, ([0, 2], [1, 0])),
        [_arr(3, 2, 4), _arr(4, 3)],
        True,
    ),
    "einsum_matmul": (lambda m, a, b: m.einsum("ij,jk->ik", a, b), [_arr(2, 3), _arr(3, 4)], True),
    "einsum_implicit": (
        lambda m, a, b: m.einsum("bij,bjk", a, b),
        [_arr(2, 2, 3), _arr(2, 3, 4)],
        True,
    ),
    "einsum_trace_diag": (
        lambda m, a: (
            m.einsum("ii", a),
            m.einsum("ii->i", a),
            m.einsum("iij->j", a[None].expand(3, 3, 3)),
        ),
        [_arr(3, 3)],
        True,
    ),
    "einsum_ellipsis": (
        lambda m, a, b: m.einsum("...ij,...jk->...ik", a, b),
        [_arr(2, 1, 2, 3), _arr(4, 3, 2)],
        True,
    ),
    "einsum_sum_outer": (
        lambda m, a, b, c: m.einsum("ij,k,jl->lk", a, b, c),
        [_arr(2, 3), _arr(4), _arr(3, 2)],
        True,
    ),
    "chain_matmul": (
        lambda m, a, b, c: (m.chain_matmul(a, b, c), m.linalg.multi_dot([a[0], b, c])),
        [_arr(2, 3), _arr(3, 4), _arr(4, 2)],
        True,
    ),
    "cross": (
        lambda m, a, b: (m.cross(a, b, dim=0), m.linalg.cross(a.T, b.T), a.cross(b, 0)),
        [_arr(3, 4), _arr(3, 4, seed=1)],
        True,
    ),
    "cdist": (
        lambda m, a, b: tuple(m.cdist(a, b, p) for p in (1.0, 2.0, 3.0, float("inf"))),
        [_arr(2, 3, 4), _arr(2, 5, 4, seed=1)],
        True,
    ),
    "cdist_mm": (  # > 25 rows: one matrix product, as torch
        lambda m, a, b: (
            m.cdist(a, b),
            m.cdist(a[0], b[0, :3], compute_mode="use_mm_for_euclid_dist"),
        ),
        [_arr(2, 30, 4), _arr(2, 5, 4, seed=1)],
        True,
    ),
    "dist": (lambda m, a, b: (m.dist(a, b), a.dist(b, 3)), [_arr(3, 4), _arr(4, seed=1)], True),
    "renorm": (
        lambda m, x: (m.renorm(x, 2, 0, 1.5), x.renorm(1, 1, 2.0)),
        [_arr(3, 4)],
        True,
    ),
    # ---- linear algebra
    "det": (lambda m, a: (m.det(a), a.det(), m.linalg.det(a)), [_mat(2, 3, 3)], True),
    "det_singular": (lambda m, a: m.det(a), [np.array([[1.0, 2.0], [2.0, 4.0]])], True),
    "inverse": (lambda m, a: (m.inverse(a), m.linalg.inv(a)), [_mat(2, 3, 3)], True),
    "slogdet": (
        lambda m, a: (m.slogdet(a), m.linalg.slogdet(a), a.logdet(), m.logdet(-a)),
        [_mat(3, 3)],
        True,
    ),
    "solve": (
        lambda m, a, b: (
            m.linalg.solve(a, b),
            m.linalg.solve(a, b[..., 0]),
            m.linalg.solve(a, b.mT, left=False),
        ),
        [_mat(2, 3, 3), _arr(2, 3, 1)],
        True,
    ),  # fmt: skip
    "solve_broadcast": (lambda m, a, b: m.linalg.solve(a, b), [_mat(3, 3), _arr(2, 3, 2)], True),
    "matrix_power": (
        lambda m, a: (m.matrix_power(a, 3), a.matrix_power(0), m.linalg.matrix_power(a, -2)),
        [_mat(2, 3, 3)],
        True,
    ),
    "vector_norm": (
        lambda m, x: (
            tuple(
                m.linalg.vector_norm(x, o, 1)
                for o in (2, 1, 0.5, -1, float("inf"), -float("inf"), 0)
            )
            + (m.linalg.vector_norm(x), m.linalg.vector_norm(x, 3, (0, 1), True))
        ),
        [_arr(3, 4)],
        True,
    ),  # fmt: skip
    "matrix_norm": (
        lambda m, x: (
            tuple(
                m.linalg.matrix_norm(x, o)
                for o in ("fro", "nuc", 2, -2, 1, -1, float("inf"), -float("inf"))
            )
            + (m.linalg.matrix_norm(x, 1, (0, 2), keepdim=True),)
        ),
        [_arr(2, 3, 4)],
        True,
    ),  # fmt: skip
    "norm": (
        lambda m, x: (
            m.linalg.norm(x),
            m.linalg.norm(x, 1),
            m.linalg.norm(x[0], 1),
            m.linalg.norm(x, "fro", (0, 1)),
            m.linalg.norm(x, 3, 1, True),
        ),
        [_arr(3, 4)],
        True,
    ),  # fmt: skip
    "cholesky": (
        lambda m, a: (
            m.linalg.cholesky(a @ a.mT + a.new_ones(3).diag()),
            m.linalg.cholesky(a @ a.mT + a.new_ones(3).diag(), upper=True),
        ),
        [_arr(2, 3, 3)],
        True,
    ),  # fmt: skip
    "qr": (lambda m, a: m.linalg.qr(a), [_arr(2, 4, 3)], True),
    "eigh": (  # eigenvectors up to sign: compare sign-free functions of them
        lambda m, a: (lambda L, V: (L, V * V, V @ L.diag_embed() @ V.mT))(*m.linalg.eigh(a + a.mT)),
        [_arr(2, 3, 3)],
        True,
    ),
    "eigvalsh": (lambda m, a: m.linalg.eigvalsh(a + a.mT), [_arr(2, 3, 3)], True),
    "svdvals": (
        lambda m, a: (m.linalg.svdvals(a), m.linalg.svd(a, False).S),
        [_arr(2, 4, 3)],
        True,
    ),
    "pinv": (
        lambda m, a: (m.linalg.pinv(a), m.pinverse(a.mT), a.pinverse()),
        [_arr(2, 4, 3)],
        True,
    ),
    "vecdot": (lambda m, a, b: m.linalg.vecdot(a, b, dim=0), [_arr(3, 4), _arr(3, 1)], True),
    # ---- more shapes and scatters
    "block_diag": (
        lambda m, a, b, c: m.block_diag(a, b, c),
        [_arr(2, 3), _arr(3), np.array(1.5)],
        True,
    ),
    "combinations": (
        lambda m, x: (m.combinations(x), m.combinations(x, 3, with_replacement=True)),
        [_arr(4)],
        True,
    ),
    "trapezoid": (
        lambda m, y, x: (
            m.trapezoid(y),
            m.trapezoid(y, dx=0.5, dim=0),
            m.trapezoid(y, x[0]),
            m.trapz(y, x, dim=1),
            m.cumulative_trapezoid(y, x[0]),
            m.cumulative_trapezoid(y, dx=2.0, dim=0),
        ),
        [_arr(3, 4), _arr(3, 4, seed=1).cumsum(1)],
        True,
    ),  # fmt: skip
    "vander": (
        lambda m, x: (m.vander(x), m.vander(x, 2, increasing=True), m.vander(x, N=0)),
        [_arr(3)],
        True,
    ),
    "put": (
        lambda m, x, s: (x.put(m.tensor([0, -1, 3]), s), m.put(x, m.tensor([1, 1, 2]), s, True)),
        [_arr(2, 3), _arr(3)],
        True,
    ),
    "select_scatter": (
        lambda m, x, s: m.select_scatter(x, s, 1, -1),
        [_arr(2, 3), _arr(2)],
        True,
    ),
    "slice_scatter": (
        lambda m, x, s: x.slice_scatter(s, 1, 0, None, 2),
        [_arr(2, 5), _arr(2, 3)],
        True,
    ),
    "solve_triangular": (
        lambda m, a, b: (
            m.linalg.solve_triangular(a, b, upper=True),
            m.linalg.solve_triangular(a, b.mT, upper=False, left=False, unitriangular=True),
        ),
        [_mat(2, 3, 3), _arr(2, 3, 2)],
        True,
    ),  # fmt: skip
    "lstsq": (
        lambda m, a, b: (m.linalg.lstsq(a, b).solution, m.linalg.lstsq(a, b[..., 0]).solution),
        [_arr(2, 5, 3), _arr(2, 5, 2)],
        True,
    ),
    "cond": (
        lambda m, a: (
            m.linalg.cond(a),
            m.linalg.cond(a, -2),
            m.linalg.cond(a, "fro"),
            m.linalg.cond(a, 1),
        ),
        [_mat(2, 3, 3)],
        True,
    ),  # fmt: skip
    "linalg_diagonal": (lambda m, a: m.linalg.diagonal(a, offset=1), [_arr(2, 3, 4)], True),
    "cholesky_solve": (
        lambda m, l, b: (m.cholesky_solve(b, l.tril()), l.triu().cholesky_inverse(upper=True)),
        [_mat(3, 3), _arr(3, 2)],
        True,
    ),
    "matrix_exp": (
        lambda m, a, b: (m.linalg.matrix_exp(a), m.linalg.matrix_exp(b)),
        [_arr(2, 3, 3, lo=-0.3, hi=0.3), _arr(3, 3, seed=1) * 2],
        True,
    ),
    "index_reduce": (
        lambda m, x, s: tuple(
            m.index_reduce(x, 1, m.tensor([2, 0, 2]), s, r, include_self=i)
            for r in ("prod", "mean", "amax", "amin")
            for i in (True, False)
        ),
        [_arr(2, 4), _arr(2, 3, seed=1)],
        True,
    ),  # fmt: skip
    "diagonal_scatter": (
        lambda m, x, s: (
            m.diagonal_scatter(x, s, 1, 2, 0),
            x[0].diagonal_scatter(s.reshape(-1)[:3], -1),
        ),
        [_arr(3, 4, 5), _arr(4, 2)],
        True,
    ),
    "sum_to_size": (
        lambda m, x: (x.sum_to_size(3, 1), x.sum_to_size((1, 4))),
        [_arr(2, 3, 4)],
        True,
    ),
    "narrow_copy": (lambda m, x: m.narrow_copy(x, 1, 1, 2), [_arr(2, 4)], True),
    "nonzero_static": (
        lambda m, x: (m.nonzero_static(x > 0, size=9), x.nonzero_static(size=2, fill_value=7)),
        [_arr(3, 4)],
        False,
    ),
    "histogram": (
        lambda m, x: (
            m.histogram(x, 4),
            m.histogram(
                x, m.tensor([-2.0, 0.0, 0.5, 2.0], dtype=m.float64), weight=x * x, density=True
            ),
            x.histogram(3, range=(-1.0, 1.0)),
        ),
        [_arr(20)],
        False,
    ),  # fmt: skip
    "tensorinv": (
        lambda m, a: (
            m.linalg.tensorinv(a.reshape(2, 3, 6)),
            m.linalg.tensorinv(a.reshape(6, 2, 3), 1),
        ),
        [_mat(6, 6)],
        True,
    ),
    "tensorsolve": (
        lambda m, a, b: (
            m.linalg.tensorsolve(a.reshape(2, 3, 6), b),
            m.linalg.tensorsolve(a.reshape(6, 2, 3), b, dims=(0,)),
        ),
        [_mat(6, 6), _arr(2, 3)],
        True,
    ),  # fmt: skip
    "linalg_vander": (
        lambda m, x: (m.linalg.vander(x), m.linalg.vander(x[0], N=4)),
        [_arr(2, 3)],
        True,
    ),
    "legacy_linalg": (  # torch.cholesky / qr / svd / matrix_exp / frobenius_norm
        lambda m, a: (
            m.cholesky(a @ a.mT),
            a.qr(),
            m.qr(a, some=False).R,
            m.matrix_exp(a * 0.1),
            (lambda U, S, V: (U * U, S, V * V, U @ S.diag_embed() @ V.mT))(*a.svd()),
            m.frobenius_norm(a, (0, 1)),
            m.svd(a, compute_uv=False).S,
        ),
        [_mat(3, 3)],
        True,
    ),  # fmt: skip
}

SCATTER_REDUCE = [(r, s) for r in ("sum", "prod", "mean", "amax", "amin") for s in (True, False)]


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_gradients(name):
    f, arrays, check_grad = CASES[name]
    with warnings.catch_warnings():  # torch deprecates scatter's reduce=
        warnings.simplefilter("ignore")
        expected = f(torch, *[_to(torch, a) for a in arrays])
    _compare(f(ember, *[_to(ember, a) for a in arrays]), expected)
    if check_grad == "torch":  # at ties finite differences do not apply: match torch's choice
        _same_grads_as_torch(f, arrays)
    elif check_grad:
        inputs = [ember.tensor(a, requires_grad=True) for a in arrays]
        assert gradcheck(lambda *xs: tuple(_flat(f(ember, *xs))), inputs)


def _same_grads_as_torch(f, arrays):
    grads = []
    for m in (ember, torch):
        xs = [_to(m, a).requires_grad_() for a in arrays]
        outs = [o for o in _flat(f(m, *xs)) if o.dtype in (np.float64, torch.float64)]
        rng = np.random.default_rng(2)
        sum((o * _to(m, rng.standard_normal(tuple(o.shape)))).sum() for o in outs).backward()
        grads.append([np.asarray(x.grad.numpy()) for x in xs])
    for e, t in zip(*grads):
        np.testing.assert_allclose(e, t, atol=1e-12)


@pytest.mark.parametrize("reduce,include_self", SCATTER_REDUCE)
def test_scatter_reduce(reduce, include_self):
    x, src = _arr(3, 4), _arr(2, 4, seed=1)
    src[0, 1] = 0.0  # a zero in prod's path
    x[1, 3] = src[1, 3] = 1.25  # a tie for amax/amin

    def f(m, a, s):
        index = m.tensor([[1, 0, 1, 1], [1, 2, 1, 1]])
        return m.scatter_reduce(a, 0, index, s, reduce, include_self=include_self)

    _compare(f(ember, ember.tensor(x), ember.tensor(src)), f(torch, _to(torch, x), _to(torch, src)))
    _same_grads_as_torch(f, [x, src])


def test_integer_inputs_match_torch():
    a = np.arange(24).reshape(2, 3, 4)
    for f in [
        lambda m, x: m.roll(x, 1, 2),
        lambda m, x: x.unfold(2, 2, 2),
        lambda m, x: m.scatter_reduce(x, 2, m.tensor([[[0, 0]] * 3] * 2), x[..., :2], "mean"),
        lambda m, x: m.scatter_reduce(
            x, 2, m.tensor([[[0, 3]] * 3] * 2), -x[..., :2], "amax", include_self=False
        ),  # fmt: skip
        lambda m, x: m.index_add(x, 0, m.tensor([1]), x[:1]),
        lambda m, x: m.diag_embed(x),
        lambda m, x: m.trace(x[0]),
        lambda m, x: m.unique(m.tensor([3, 1, 3, 0]), return_inverse=True, return_counts=True),
        lambda m, x: m.unique(m.tensor([[1, 2], [1, 2], [0, 5]]), dim=0, return_inverse=True),
        lambda m, x: m.unique_consecutive(
            m.tensor([1, 1, 2, 2, 3, 1, 1]), return_inverse=True, return_counts=True
        ),  # fmt: skip
        lambda m, x: m.unique_consecutive(
            m.tensor([[1, 1, 2], [1, 1, 3]]), dim=1, return_counts=True
        ),  # fmt: skip
        lambda m, x: (m.bincount(m.tensor([0, 3, 3])), m.bincount(m.tensor([1]), minlength=3)),
        lambda m, x: m.bincount(m.tensor([0, 2, 2]), m.tensor([0.5, 1.0, 2.0])),
        lambda m, x: m.histc(m.tensor([0.0, 1.0, 1.5, 3.0, 9.0]), bins=4, min=0, max=3),
        lambda m, x: m.histc(m.tensor([1.0, 2.0, 2.0, 5.0]), bins=3),
        lambda m, x: m.masked_select(x, x > 6),
        lambda m, x: m.cartesian_prod(m.tensor([1, 2]), m.tensor([3, 4, 5])),
        lambda m, x: m.hstack([m.tensor(1), m.tensor([2, 3])]),
        lambda m, x: m.repeat_interleave(x[0], 2, dim=0),
        lambda m, x: (m.amax(x, (0, 2)), x.amin(1), m.aminmax(x)),
        lambda m, x: (m.cumprod(x, 1), m.cummax(x, 2), x.cummin(0), m.cumprod(x > 3, 2)),
        lambda m, x: (
            m.median(x),
            x.median(1),
            m.kthvalue(x, 2, 0),
            m.mode(m.tensor([[3, 1, 1, 3, 2], [0, 0, 5, 5, 5]]), 1),
        ),
        lambda m, x: (m.diff(x, dim=1), m.diff(x > 4, dim=2), m.nansum(x), m.msort(x)),
        lambda m, x: m.count_nonzero(x, (0, 2)),
        lambda m, x: (
            m.sum(x, 1, dtype=m.float32),
            m.mean(x, dtype=m.float64),
            x.prod(0, dtype=m.float64),
        ),
        lambda m, x: (m.cumsum(x, 1, dtype=m.float32), x.cumprod(2, dtype=m.float64)),
        lambda m, x: (m.nansum(x, dtype=m.float64), m.nanmean(x.double(), 0, dtype=m.float32)),
        lambda m, x: (m.dot(x[0, 0], x[1, 1]), m.outer(x[0, 0], x[1, 0]), m.mv(x[0], x[0, 0])),
        lambda m, x: (m.kron(x[0], x[1, :2]), m.tensordot(x, x[0], ([1, 2], [0, 1]))),
        lambda m, x: (m.einsum("bij,bkj->bik", x, x), m.matrix_power(x[0, :, :3], 3)),
        lambda m, x: (
            m.addmm(x[0, 0, :3], x[0, :, :2], x[1, :2, :3]),
            m.cross(x[0, :, :3], x[1, :, :3], dim=1),
        ),
    ]:
        _compare(f(ember, ember.tensor(a)), f(torch, torch.from_numpy(a)))


def _y(m):
    return _to(m, _arr(5, 4, seed=3))


def test_edge_cases_match_torch():
    x = np.arange(12.0).reshape(3, 4)
    for f in [
        lambda m, a: m.index_fill(a, 0, m.tensor([-1]), 1.0),  # negative: index_fill only
        lambda m, a: (m.median(a[:0, 0]), m.nanmedian(a[:0, 0])),  # empty: NaN
        lambda m, a: (m.block_diag(), m.combinations(a[0], 0), m.combinations(a[0], 5)),
        lambda m, a: m.unique_consecutive(a[:0, 0], return_counts=True),
        lambda m, a: (m.nonzero(a[0, 0]), m.nonzero(a[:0]), m.count_nonzero(a[0, 0])),
        lambda m, a: (m.einsum("ij->", a[:0]), m.einsum("ij,jk->ik", a[:, :0], a[:0])),
        lambda m, a: (m.tensor_split(a, 5, 1), m.tensor_split(a, [-1, 9], 1)),
        lambda m, a: (m.diag(a, 5), m.diagonal(a, -5), m.roll(a[0, :0], 1, 0)),
        lambda m, a: (m.logdet(-a[:3, :3] * 0 - m.eye(3, dtype=a.dtype)), m.det(a[:0, :0])),
    ]:
        _compare(f(ember, ember.tensor(x)), f(torch, torch.from_numpy(x)))


@pytest.mark.filterwarnings("ignore:index_reduce\\(\\) is in beta:UserWarning")  # torch's, once
def test_in_place_scatter_and_fill_diagonal():
    for f in [
        lambda m, x: x.scatter_(1, m.tensor([[0], [2]]), 7.0),
        lambda m, x: x.scatter_add_(0, m.tensor([[1, 1, 0, 0]]), m.ones(1, 4, dtype=x.dtype)),
        lambda m, x: x.index_add_(1, m.tensor([0, 0]), m.ones(5, 2, dtype=x.dtype), alpha=3),
        lambda m, x: x.fill_diagonal_(-1.0),
        lambda m, x: x.fill_diagonal_(2.0, wrap=True),
        lambda m, x: x.index_copy_(0, m.tensor([4, 1]), m.ones(2, 4, dtype=x.dtype)),
        lambda m, x: x.index_fill_(1, m.tensor([3]), 0.5),
        lambda m, x: x.masked_scatter_(x > 0, _y(m)),
        lambda m, x: x.scatter_reduce_(1, m.tensor([[0, 0]] * 5), _y(m)[:, 2:], "amax"),
        lambda m, x: x.put_(m.tensor([0, 19]), m.ones(2, dtype=x.dtype), accumulate=True),
        lambda m, x: x.addmm_(_y(m)[:, :2], _y(m)[:2], beta=0.5),
        lambda m, x: x.addbmm_(_y(m)[None, :, :1], _y(m)[None, :1]),
        lambda m, x: x[0].addmv_(_y(m)[:4].T, _y(m)[:4, 0], alpha=2),
        lambda m, x: x.addr_(_y(m)[:, 0], _y(m)[0]),
        lambda m, x: x[None].baddbmm_(_y(m)[None, :, :1], _y(m)[None, :1]),
        lambda m, x: x.renorm_(2, 0, 1.0),
        lambda m, x: x.cumprod_(0),
        lambda m, x: x.cumsum_(1).tril_(-1).triu_(-2),
        lambda m, x: x.index_put_((m.tensor([0, 4]), m.tensor([1, 1])), _y(m)[0, :2], True),
        lambda m, x: x.index_reduce_(0, m.tensor([1, 1]), _y(m)[:2], "amax", include_self=False),
    ]:
        e, t = ember.tensor(_arr(5, 4)), _to(torch, _arr(5, 4))
        out = f(ember, e)
        assert out is e or np.shares_memory(out.numpy(), e.numpy())  # x[0].addmv_ gives x[0]
        f(torch, t)
        _compare(e, t)
    leaf = ember.tensor(_arr(2, 2), requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        leaf.scatter_(0, ember.tensor([[0, 1]]), 1.0)


def test_svd_values_and_gradients():
    a = _arr(4, 3)
    U, S, Vh = ember.linalg.svd(ember.tensor(a))
    assert U.shape == (4, 4) and Vh.shape == (3, 3)
    np.testing.assert_allclose((U.numpy()[:, :3] * S.numpy()) @ Vh.numpy(), a, atol=1e-12)
    np.testing.assert_allclose(S.numpy(), np.linalg.svd(a, compute_uv=False), rtol=1e-12)

    def sign_free(x):  # singular vectors are unique up to a joint sign: products of them are not
        U, S, Vh = ember.linalg.svd(x, full_matrices=False)
        return U * U, Vh * Vh, S, U @ (S * S).diag_embed() @ Vh

    for shape in [(2, 4, 3), (3, 5), (3, 3)]:
        assert gradcheck(sign_free, [ember.tensor(_arr(*shape), requires_grad=True)])
    square = ember.tensor(_arr(3, 3), requires_grad=True)
    assert gradcheck(lambda x: sign_free(x)[0] + ember.linalg.svd(x).U * 0, [square])
    torch = pytest.importorskip("torch")
    # full_matrices: the extra columns take no gradient, as torch
    x = ember.tensor(a, requires_grad=True)
    (ember.linalg.svd(x).S.sum() + (ember.linalg.svd(x).U[:, :3] ** 2).sum()).backward()
    tx = torch.tensor(a, requires_grad=True)
    (torch.linalg.svd(tx).S.sum() + (torch.linalg.svd(tx).U[:, :3] ** 2).sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), atol=1e-8)


def test_view_methods_in_place():
    for f in [
        lambda m, x: x.t_(),
        lambda m, x: x.transpose_(0, -1),
        lambda m, x: x.swapaxes_(0, 1),
        lambda m, x: x.unsqueeze_(1).squeeze_(1),
        lambda m, x: x.unsqueeze_(-1),
        lambda m, x: (x.mH, x.H, m.adjoint(x), x.adjoint()),
    ]:
        e, t = ember.tensor(_arr(2, 3)), _to(torch, _arr(2, 3))
        out_e, out_t = f(ember, e), f(torch, t)
        _compare(out_e, out_t)
        _compare(e, t)
    leaf = ember.tensor(_arr(2, 3), requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        leaf.t_()


def test_float32_keeps_dtype():
    x = ember.tensor(_arr(3, 4).astype(np.float32))
    for out in [x.unfold(1, 2, 1), ember.rot90(x), x.roll(1), ember.diag(x), x.diag_embed(),
                x.take(ember.tensor([1])), x.scatter(0, ember.tensor([[1]]), 2.0),
                ember.hstack([x, x]), x.index_fill(0, ember.tensor([0]), 1), x.amax(0), x.median(),
                x.quantile(0.5), x.cumprod(1), x.logcumsumexp(0), x.cov(), ember.einsum("ij->j", x),
                ember.linalg.inv(x[:, :3]), ember.det(x[:, :3]),
                ember.linalg.solve(x[:, :3], x), ember.cdist(x, x), x.kron(x)]:  # fmt: skip
        assert out.dtype == np.float32


@pytest.mark.parametrize(
    "call,error",
    [
        (lambda: ember.movedim(ember.zeros(2, 3), 0, 5), IndexError),
        (lambda: ember.narrow(ember.zeros(3), 0, 4, 1), IndexError),
        (lambda: ember.narrow(ember.zeros(3), 0, 2, 2), RuntimeError),
        (lambda: ember.zeros(3).select(0, 5), IndexError),
        (lambda: ember.broadcast_shapes((2,), (3,)), ValueError),
        (lambda: ember.zeros(2, 3).unfold(1, 4, 1), ValueError),
        (lambda: ember.zeros(2, 3).unfold(3, 1, 1), IndexError),
        (lambda: ember.zeros(3).repeat_interleave(ember.tensor([1, 2])), RuntimeError),
        (lambda: ember.hsplit(ember.zeros(2, 3), 2), RuntimeError),
        (lambda: ember.rot90(ember.zeros(3, 3), 1, (0, 0)), RuntimeError),
        (lambda: ember.zeros(3).scatter(0, ember.tensor([5]), 1.0), IndexError),
        (lambda: ember.zeros(3).scatter(0, ember.tensor([1.0]), 1.0), TypeError),
        (
            lambda: ember.zeros(3).scatter_add(0, ember.tensor([1]), ember.zeros(1, dtype=int)),
            TypeError,
        ),  # fmt: skip
        (
            lambda: ember.zeros(3).scatter_reduce(0, ember.tensor([1]), ember.zeros(1), "maximum"),
            ValueError,
        ),  # fmt: skip
        (
            lambda: ember.index_add(ember.zeros(3), 0, ember.tensor([0]), ember.zeros(2)),
            RuntimeError,
        ),  # fmt: skip
        (lambda: ember.take(ember.zeros(3), ember.tensor([5])), IndexError),
        (lambda: ember.masked_select(ember.zeros(3), ember.ones(3)), TypeError),
        (
            lambda: ember.masked_scatter(ember.zeros(3), ember.ones(3) > 0, ember.zeros(2)),
            ValueError,
        ),  # fmt: skip
        (lambda: ember.diag(ember.zeros(2, 2, 2)), ValueError),
        (lambda: ember.diagonal(ember.zeros(2, 2), 0, 1, -1), RuntimeError),
        (lambda: ember.trace(ember.zeros(3)), ValueError),
        (lambda: ember.zeros(2, 3, 3).fill_diagonal_(1.0), ValueError),
        (lambda: ember.bincount(ember.tensor([-1, 2])), ValueError),
        (lambda: ember.histc(ember.tensor([1, 2])), TypeError),
        (lambda: ember.meshgrid(ember.zeros(2, 2)), ValueError),
        (lambda: ember.searchsorted(ember.zeros(2, 3), ember.zeros(3, 1)), ValueError),
        (lambda: ember.amax(ember.zeros(2, 0), 1), IndexError),
        (lambda: ember.amax(ember.zeros(2, 3), (0, 2)), IndexError),
        (lambda: ember.median(ember.zeros(2, 3), 2), IndexError),
        (lambda: ember.kthvalue(ember.zeros(3), 4), RuntimeError),
        (lambda: ember.quantile(ember.zeros(3), 1.5), ValueError),
        (lambda: ember.quantile(ember.zeros(3), 0.5, interpolation="cubic"), ValueError),
        (lambda: ember.quantile(ember.tensor([1, 2]), 0.5), TypeError),
        (lambda: ember.nanmean(ember.tensor([1, 2])), RuntimeError),
        (lambda: ember.cumprod(ember.zeros(3), 1), IndexError),
        (lambda: ember.diff(ember.tensor(1.0)), ValueError),
        (lambda: ember.cov(ember.zeros(2, 2, 2)), ValueError),
        (lambda: ember.cov(ember.zeros(2, 3), fweights=ember.tensor([1.0, 1.0, 1.0])), TypeError),
        (lambda: ember.dot(ember.zeros(3), ember.zeros(4)), ValueError),
        (lambda: ember.dot(ember.zeros(3), ember.zeros(3, dtype=np.float64)), TypeError),
        (lambda: ember.mv(ember.zeros(2, 3), ember.zeros(2)), ValueError),
        (lambda: ember.addmm(ember.zeros(3, 3), ember.zeros(2, 3), ember.zeros(3, 4)), ValueError),
        (lambda: ember.tensordot(ember.zeros(2, 3), ember.zeros(4, 5), 1), ValueError),
        (lambda: ember.einsum("ij,jk->ik", ember.zeros(2, 3), ember.zeros(4, 5)), ValueError),
        (lambda: ember.einsum("ij->ij", ember.zeros(2)), ValueError),
        (lambda: ember.einsum("ij,jk", ember.zeros(2, 2)), ValueError),
        (lambda: ember.cross(ember.zeros(2, 4), ember.zeros(2, 4)), ValueError),
        (lambda: ember.linalg.cross(ember.zeros(3, 2), ember.zeros(3, 2)), ValueError),
        (lambda: ember.cdist(ember.zeros(2, 3), ember.zeros(2, 4)), ValueError),
        (lambda: ember.linalg.inv(ember.zeros(2, 2)), ember.linalg.LinAlgError),
        (lambda: ember.linalg.inv(ember.zeros(2, 2)), RuntimeError),
        (lambda: ember.linalg.inv(ember.zeros(2, 3)), ValueError),
        (lambda: ember.linalg.solve(ember.zeros(2, 2), ember.ones(2)), ember.linalg.LinAlgError),
        (lambda: ember.linalg.solve(ember.eye(2), ember.ones(3)), ValueError),
        (lambda: ember.linalg.solve(ember.eye(2), ember.ones(2, dtype=np.float64)), TypeError),
        (lambda: ember.linalg.cholesky(-ember.eye(2)), ember.linalg.LinAlgError),
        (lambda: ember.det(ember.zeros(3)), ValueError),
        (lambda: ember.matrix_power(ember.zeros(2, 3), 2), ValueError),
        (lambda: ember.linalg.matrix_norm(ember.zeros(2, 2), "bad"), ValueError),
        (lambda: ember.linalg.norm(ember.zeros(2, 2, 2), 2), ValueError),
        (lambda: ember.linalg.multi_dot([ember.zeros(2, 2)]), ValueError),
        (lambda: ember.linalg.eigh(ember.eye(2), "X"), ValueError),
        (
            lambda: ember.index_copy(ember.zeros(3), 0, ember.tensor([-1]), ember.zeros(1)),
            IndexError,
        ),
        (lambda: ember.det(ember.tensor([[1, 0], [0, 1]])), TypeError),
        (lambda: ember.cdist(ember.tensor([[1, 0]]), ember.tensor([[1, 0]])), TypeError),
        (lambda: ember.linalg.vector_norm(ember.tensor([1, 2])), TypeError),
        (lambda: ember.trapezoid(ember.ones(3) > 0), TypeError),
    ],
)
def test_bad_input(call, error):
    with pytest.raises(error):
        call()
