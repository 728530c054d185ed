"""ember.linalg: PyTorch's torch.linalg on NumPy's LAPACK, with PyTorch's gradient formulas.

Matrices are the last two dims (batches in front). Singular or non-positive-definite input
raises ``LinAlgError`` (a RuntimeError, as torch's); non-square input a ValueError.

Complex64 / complex128 input takes LAPACK's complex routines, with torch's gradient convention
(ember/_complex.py): the holomorphic ops (det, inv, solve, lu) write their backward as a
transpose, which Function.apply conjugates; the others (svd, eigh, qr, cholesky, pinv, slogdet)
are ``_complex_native`` and write it with conjugate transposes (the real formula for real A).
"""

from __future__ import annotations

import builtins
import math
from collections import namedtuple

import numpy as np

from ember import _complex, _lowp, _strides, ops
from ember._errors import BadDtype, BadShapeOrValue, DtypeNotImplemented, not_implemented
from ember.autograd import graph as _graph
from ember.autograd.engine import unbroadcast
from ember.autograd.function import Function, named
from ember.tensor import Tensor


class LinAlgError(RuntimeError):
    """A matrix is singular or not positive-definite (torch.linalg.LinAlgError)."""


def _mT(a):  # noqa: N802 (PyTorch's name)
    return np.swapaxes(a, -1, -2)


def _mH(a):  # noqa: N802 (PyTorch's name: the conjugate transpose)
    return _mT(a).conj() if a.dtype.kind == "c" else _mT(a)


def _column_major(a, rows=None):
    """a with each matrix stored column by column (batch dims outermost): the layout, and so
    the strides, of torch's LAPACK results (inv, solve, cholesky, qr, eigh, eig, svd).
    ``rows``: the storage's leading dimension when it is more than a's rows (lstsq's
    solution: the first n rows of its (max(m, n), k) B). Size-0 dims count as 1 in the
    strides, as torch's."""
    if rows is None and a.size:  # (the common case, in one NumPy call: ~1 us, not ~4)
        # (a transposed view of a C array, not an owned F array: the fast paths read an array
        # without a base as C-ordered, and clone and binary ops keep a view's layout)
        return _mT(np.ascontiguousarray(_mT(a)))
    *batch, r, c = a.shape
    ld = builtins.max(r if rows is None else rows, 1)
    strides, step = [1, ld], ld * builtins.max(c, 1)
    for size in reversed(batch):
        strides.insert(0, step)
        step *= builtins.max(size, 1)
    out = _strides.empty((*batch, ld, c), strides, a.dtype)[..., :r, :]
    out[...] = a
    return out


def _lapack_float(op: str, A) -> Tensor:
    """A float or complex tensor LAPACK can take: float16/bfloat16 are refused, as torch's CPU
    linalg does."""
    A = ops._tensor_operand(A)
    if A.data.dtype in (np.complex64, np.complex128):
        return A
    name = op.removeprefix("linalg.")
    if name in _NO_INT_KERNEL and A.data.dtype.kind in "biu":
        raise not_implemented(op, A.dtype, f"expected a floating point tensor of shape {A.shape}")
    A = ops._float_only(op, A)
    if name in _NO_LOWP_KERNEL and A.data.dtype in (np.float16, _lowp.bfloat16):
        raise DtypeNotImplemented(  # (torch: '"lu_cpu" not implemented for 'Half'')
            f"{op}: low-precision dtypes are not supported, got {A.dtype} (not implemented, as "
            f"in torch; convert with .float()), shape {A.shape}"
        )
    _lowp.refuse(op, A.dtype)
    return A


# The ops whose LAPACK kernel torch has no float16/bfloat16 (or integer) instance of: their
# refusal is torch's NotImplementedError ('"lu_cpu" not implemented for 'Half''), the other
# ops' a RuntimeError from a dtype check before the kernel (inv, slogdet, pinv, lstsq, ...)
_NO_LOWP_KERNEL = {
    "det", "cholesky", "cholesky_ex", "eigh", "qr", "svd", "cond", "lu", "lu_factor",
    "lu_factor_ex", "lu_solve", "solve", "solve_ex", "solve_triangular", "tensorsolve",
    "householder_product", "ldl_factor", "ldl_factor_ex",
}  # fmt: skip
_NO_INT_KERNEL = {
    "eigh", "lu", "lu_factor", "lu_factor_ex", "solve_triangular", "householder_product",
}  # fmt: skip


def _square(op: str, A, complex_ok: bool = False, lapack: bool = True) -> Tensor:
    """A as batches of square float or complex matrices (complex_ok: complex also where float16
    is taken, ``lapack=False``)."""
    A = ops._tensor_operand(A)
    if not (complex_ok and A.data.dtype.kind == "c"):
        A = (_lapack_float if lapack else ops._float_only)(f"linalg.{op}", A)
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise BadShapeOrValue(
            f"linalg.{op}: A must be batches of square matrices, got shape {A.shape}"
        )
    return A


def _lapack(op: str, fn, *args):
    try:
        return fn(*args)
    except np.linalg.LinAlgError as e:
        raise LinAlgError(
            f"linalg.{op}: {e} (the input is singular or not positive-definite)"
        ) from None


def _tmT(a):  # noqa: N802 (PyTorch's name)
    return ops.transpose(a, -1, -2)


def _tmH(a):  # noqa: N802
    return _complex.conj(ops.transpose(a, -1, -2))


def _per_matrix(g):
    """g (one value per matrix) with two trailing size-1 dims, to scale matrices."""
    return ops.reshape(g, tuple(g.shape) + (1, 1))


def _others_product(s):
    """prod_{j != i} s_j along the last axis, without dividing (exact at zeros)."""
    ones = np.ones(s.shape[:-1] + (1,), s.dtype)
    left = np.cumprod(np.concatenate([ones, s[..., :-1]], -1), -1)
    right = np.flip(np.cumprod(np.concatenate([ones, np.flip(s, -1)[..., :-1]], -1), -1), -1)
    return left * right


# ---- determinants and inverses -------------------------------------------------------------


def _finite_stand_in(A):
    """A with the identity in place of each matrix holding a NaN / inf entry (whose SVD would
    not converge), and the (..., 1, 1) mask of those matrices: their results are NaN."""
    bad = ~np.isfinite(A).all(axis=(-2, -1), keepdims=True)
    if bad.any():
        A = np.where(bad, np.eye(A.shape[-2], A.shape[-1], dtype=A.dtype), A)
    return A, bad


def _nan_where_nan(A, y):
    """y (one value per matrix) NaN where A's matrix holds a NaN: LAPACK's pivot search can
    skip a NaN column, so det([[nan, 1], [1, 1]]) came out 0 (torch: NaN)."""
    has_nan = np.isnan(A).any(axis=(-2, -1))
    return np.where(has_nan, np.nan, y) if has_nan.any() else y


class Det(Function):
    @staticmethod
    @np.errstate(invalid="ignore")  # a NaN matrix: NaN, silently, as PyTorch
    def forward(ctx, A):
        ctx.save_for_backward(A)
        return np.asarray(_nan_where_nan(A, np.linalg.det(A)), A.dtype)

    @staticmethod
    def backward(ctx, g):
        A, bad = _finite_stand_in(ctx.saved_tensors[0])
        # d det / dA is the cofactor matrix; through the SVD A = U S Vh it is
        # det(U) det(Vh) U diag(prod_{j != i} s_j) Vh, defined for singular A too
        U, S, Vh = np.linalg.svd(A)
        signs = np.linalg.det(U) * np.linalg.det(Vh)
        if A.dtype.kind == "c":  # det(A) A^-T = det(U) det(Vh) conj(U) diag(...) conj(Vh)
            U, Vh = np.conj(U), np.conj(Vh)
        cof = np.where(bad, np.nan, (U * _others_product(S)[..., None, :]) @ Vh)
        return np.asarray(g * signs)[..., None, None] * cof

    @staticmethod
    def backward_graph(ctx, g):
        (A0,) = ctx.saved_tensors
        y0 = np.linalg.det(A0)
        (A,) = _graph.inputs(ctx, A0)
        if not np.all(y0):  # a singular matrix: backward's SVD form in Tensor ops, as torch's
            U, S, Vh = svd(A)
            signs = det(U) * det(Vh)
            if A0.dtype.kind == "c":
                U, Vh = ops.conj(U), ops.conj(Vh)
            # prod_{j != i} s_j without dividing: the products before i times those after
            ones = _graph.constant(np.ones(S.shape[:-1] + (1,), S.data.dtype))
            left = ops.cumprod(ops.cat([ones, S[..., :-1]], -1), -1)
            right = ops.flip(
                ops.cumprod(ops.cat([ones, ops.flip(S, (-1,))[..., :-1]], -1), -1), (-1,)
            )
            cof = ops.matmul(U * ops.unsqueeze(left * right, -2), Vh)
            return _per_matrix(g * signs) * cof
        # det(A) A^-T, with the node's output: differentiable again
        return _per_matrix(g * _graph.output(ctx, np.asarray(y0, A0.dtype))) * _tmT(inv(A))


def det(A) -> Tensor:
    """Determinant of (batches of) square matrices."""
    return named(Det.apply(_square("det", A, complex_ok=True)), "LinalgDetBackward0")


class Inv(Function):
    @staticmethod
    def forward(ctx, A):
        # a matrix with a NaN / inf entry inverts to NaN, as torch's (LAPACK's pivot search can
        # skip a NaN column and leave other entries finite)
        A, bad = _finite_stand_in(A)
        Y = _lapack("inv", np.linalg.inv, A)
        if bad.any():
            Y = np.where(bad, np.nan, Y).astype(Y.dtype, copy=False)
        Y = _column_major(Y)  # (torch's layout, as every LAPACK result here)
        ctx.save_for_backward(Y)
        return Y

    @staticmethod
    def backward(ctx, g):
        (Y,) = ctx.saved_tensors
        return -_mT(Y) @ g @ _mT(Y)

    @staticmethod
    def backward_graph(ctx, g):
        Y = _tmT(_graph.output(ctx, ctx.saved_tensors[0]))
        return -ops.matmul(ops.matmul(Y, g), Y)


def inv(A) -> Tensor:
    """Inverse of (batches of) square matrices; LinAlgError when singular."""
    return named(Inv.apply(_square("inv", A, complex_ok=True)), "LinalgInvExBackward0")


SlogDet = namedtuple("SlogDet", ["sign", "logabsdet"])


class SlogDetFn(Function):
    """(sign, log|det|); a complex A's sign det / |det| is complex and differentiable:
    d sign = sign i Im tr(A^-1 dA), so gA = (glog - i Im(conj(gsign) sign)) A^-H (torch's)."""

    _complex_native = True
    _materialize = False  # (a real sign alone gives A no gradient, None, as torch's)

    @staticmethod
    @np.errstate(invalid="ignore")  # a NaN matrix: NaN, silently, as PyTorch
    def forward(ctx, A):
        sign, logabs = np.linalg.slogdet(A)
        logabs = _nan_where_nan(A, logabs)
        if not np.iscomplexobj(sign):  # (a real NaN / inf matrix: sign 0, as torch; complex NaN)
            sign = np.where(np.isnan(logabs), 0, sign)
        ctx.save_for_backward(A, np.asarray(sign, A.dtype))  # (a real sign: gradient 0, as torch)
        return np.asarray(sign, A.dtype), np.asarray(logabs, _complex.real_of(A.dtype))

    @staticmethod
    def _scale(gsign, glog, sign):
        if sign.dtype.kind != "c" or gsign is None:
            return glog
        return glog - 1j * (np.conj(gsign) * sign).imag

    @staticmethod
    def backward(ctx, gsign, glog):
        if glog is None:
            if gsign is None or gsign.dtype.kind != "c":
                return None
            glog = np.zeros(gsign.shape, _complex.real_of(gsign.dtype))
        A, bad = _finite_stand_in(ctx.saved_tensors[0])
        g = SlogDetFn._scale(gsign, np.asarray(glog), ctx.saved_tensors[1])
        return np.asarray(g)[..., None, None] * np.where(bad, np.nan, _mH(np.linalg.pinv(A)))

    @staticmethod
    def backward_graph(ctx, gsign, glog):
        A0, sign0 = ctx.saved_tensors
        if glog is None and (gsign is None or A0.dtype.kind != "c"):
            return None
        (A,) = _graph.inputs(ctx, A0)
        g = 0.0 if glog is None else glog
        if A0.dtype.kind == "c" and gsign is not None:
            sign = _graph.output(ctx, sign0, 0)
            g = glog - 1j * _complex.imag(_complex.conj(gsign) * sign)
        return _per_matrix(g) * _tmH(inv(A))  # inv refuses a singular A


def slogdet(A) -> SlogDet:
    """(sign, log|det|) of square matrices: log|det| without overflow."""
    sign, logabsdet = SlogDetFn.apply(_square("slogdet", A))
    return SlogDet(sign, named(logabsdet, "LinalgSlogdetBackward0"))  # (one node for both)


class Solve(Function):
    @staticmethod
    def forward(ctx, A, B):
        As, bad = _finite_stand_in(A)  # NaN solutions for non-finite A, as Inv
        X = _lapack("solve", np.linalg.solve, As, B)
        if bad.any():
            X = np.where(bad, np.nan, X).astype(X.dtype, copy=False)
        X = _column_major(X)
        ctx.save_for_backward(A, X)
        ctx.shapes = (A.shape, B.shape)
        return X

    @staticmethod
    def backward(ctx, g):
        A, X = ctx.saved_tensors
        sa, sb = ctx.shapes
        gB = np.linalg.solve(_mT(A), g)
        return unbroadcast(-gB @ _mT(X), sa), unbroadcast(gB, sb)

    @staticmethod
    def backward_graph(ctx, g):
        A0, X0 = ctx.saved_tensors
        sa, sb = ctx.shapes
        (A,) = _graph.inputs(ctx, A0)
        gB = Solve.apply(_tmT(A), g)
        gA = -ops.matmul(gB, _tmT(_graph.output(ctx, X0)))
        return _graph.sum_to(gA, sa), _graph.sum_to(gB, sb)


def solve(A, B, *, left: bool = True) -> Tensor:
    """X with A X = B (left) or X A = B; B may be a vector (batch) when its shape is A's
    without the last dim."""
    return named(_solve(A, B, left=left), "LinalgSolveExBackward0")  # (torch's one node)


def _solve(A, B, *, left: bool = True) -> Tensor:
    ops._bool_args("linalg_solve", left=left)
    A = _square("solve", A, complex_ok=True)
    B = ops._tensor_operand(B) if A.data.dtype.kind == "c" else _lapack_float("solve", B)
    if B.dtype != A.dtype or B.ndim == 0:
        raise BadDtype(
            f"linalg.solve: B ({B.dtype}, {B.shape}) must be a {A.dtype} vector or matrix"
        )
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and B.shape == A.shape[:-1])
    if not left:
        if vector:
            raise BadShapeOrValue("linalg.solve: left=False needs B to be a matrix")
        return ops.transpose(_solve(ops.transpose(A, -1, -2), ops.transpose(B, -1, -2)), -1, -2)
    Bm = ops.unsqueeze(B, -1) if vector else B
    if Bm.shape[-2] != A.shape[-1]:
        raise BadShapeOrValue(f"linalg.solve: A {A.shape} and B {B.shape} do not fit A X = B")
    try:
        ops.broadcast_shapes(A.shape[:-2], Bm.shape[:-2])
    except ValueError:
        raise BadShapeOrValue(
            f"linalg.solve: batch dims of A {A.shape} and B {B.shape} differ"
        ) from None
    X = Solve.apply(A, Bm)
    return ops.squeeze(X, -1) if vector else X


def matrix_power(A, n: int) -> Tensor:
    """A @ A @ ... (n times) by repeated squaring; n = 0 gives identities, n < 0 powers of the
    inverse."""
    A = ops._tensor_operand(A)
    if isinstance(n, bool) or not isinstance(n, int | np.integer):  # (int(2.7) would be 2)
        raise TypeError(f"matrix_power: n must be an int, got {n!r}")
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise BadShapeOrValue(f"matrix_power: expected square matrices, got shape {A.shape}")
    n = int(n)
    if n == 0:  # identities, in the graph: A's gradient is 0 (as torch's), not missing
        eye = np.broadcast_to(np.eye(A.shape[-1], dtype=A.dtype), A.shape)
        if not A.requires_grad:
            return Tensor(eye.copy())
        return named(ops.where(np.zeros(A.shape, bool), A, eye), "CopyBackwards")
    if n == 1:  # a new tensor, never A itself (as torch)
        return ops.clone(A)
    if n < 0:
        A, n = inv(A), -n
    out = None
    while n:
        if n & 1:
            out = A if out is None else ops.matmul(out, A)
        n >>= 1
        if n:
            A = ops.matmul(A, A)
    return out


def multi_dot(tensors) -> Tensor:
    """Product of a chain of matrices (the first and last may be vectors)."""
    ts = [ops._tensor_operand(t) for t in tensors]
    if len(ts) < 2:
        raise BadShapeOrValue(f"multi_dot: expected at least 2 tensors, got {len(ts)}")
    first, last = ts[0].ndim == 1, ts[-1].ndim == 1
    if first:
        ts[0] = ops.unsqueeze(ts[0], 0)
    if last:
        ts[-1] = ops.unsqueeze(ts[-1], -1)
    if builtins.any(t.ndim != 2 for t in ts):
        raise BadShapeOrValue(
            f"multi_dot: expected 2-D tensors inside the chain, got {[t.shape for t in ts]}"
        )
    out = ts[0]
    for t in ts[1:]:
        out = ops.mm(out, t)
    if first:
        out = ops.squeeze(out, 0)
    if last:
        out = ops.squeeze(out, -1)
    return named(out, "ViewBackward0")  # (torch's last node)


def cross(a, b, *, dim: int = -1) -> Tensor:
    """Cross product of 3-vectors along dim (broadcasting the other dims)."""
    a, b = ops._tensor_operand(a), ops._tensor_operand(b)
    if a.data.dtype.kind == "b":  # (before the dtype match, as torch's)
        raise not_implemented("linalg.cross", a.dtype, f"shapes {a.shape} and {b.shape}")
    if a.dtype != b.dtype:  # (torch's kernel takes one dtype: no promotion)
        raise BadDtype(f"linalg.cross: expected scalar type {a.dtype} but found {b.dtype}")
    if a.ndim != b.ndim:
        raise BadShapeOrValue(
            f"linalg.cross: inputs must have the same number of dimensions, got shapes "
            f"{a.shape} and {b.shape}"
        )
    axis = ops._dim(dim, a.ndim, "cross")
    for v in (a, b):  # both sizes 3 before broadcasting: torch does not broadcast a 1 there
        if v.shape[axis] != 3:
            raise BadShapeOrValue(
                f"linalg.cross: inputs dimension {dim} must have length 3, got shapes "
                f"{a.shape} and {b.shape}"
            )
    a, b = ops.broadcast_tensors(*ops._promote_list([a, b]))
    x, y = ops.unbind(a, axis), ops.unbind(b, axis)
    parts = [x[1] * y[2] - x[2] * y[1], x[2] * y[0] - x[0] * y[2], x[0] * y[1] - x[1] * y[0]]
    return named(ops.stack(parts, axis), "LinalgCrossBackward0")


# ---- norms ----------------------------------------------------------------------------------


def _in_dtype(op: str, x, dtype):
    """x cast to a norm's ``dtype=`` first (with its gradient), which torch allows only
    without narrowing: float16 -> float32 is fine, float64 -> float32 is refused."""
    if dtype is None:
        return x
    x, dt = ops._tensor_operand(x), np.dtype(dtype)
    if x.data.dtype.kind in "biu":  # torch checks the input before the cast, as without dtype
        raise BadDtype(f"{op}: expected a floating point tensor, got {x.dtype}")
    if (x.data.dtype.kind == "c") != (dt.kind == "c"):  # (torch's RuntimeError)
        kind = "complex" if x.data.dtype.kind == "c" else "real"
        raise BadDtype(f"linalg.{op}: dtype should be {kind} for {kind} inputs, but got {dt}")
    if x.dtype != dt:
        if ops.promote_types(x.dtype, dt) != dt:
            raise BadShapeOrValue(
                f"linalg.{op}: the dtype of the input ({x.dtype}) should be convertible without "
                f"narrowing to the specified dtype ({dt})"
            )
        x = ops.cast(x, dt)
    return x


def vector_norm(
    x=None,
    ord=2,  # noqa: A002
    dim=None,
    keepdim: bool = False,
    *,
    dtype=None,
    input=None,  # noqa: A002
) -> Tensor:
    """(sum |x|^ord)^(1/ord) over dim (all entries by default); ord = inf, -inf: max, min |x|;
    ord = 0: the count of non-zeros. With ``dtype``, x is cast to it first. torch documents
    the tensor as ``x`` and its parser also takes it as ``input=``: both are accepted."""
    if (x is None) == (input is None):
        raise TypeError(
            "linalg.vector_norm() takes the tensor once, as x (or input=)"
            if x is not None
            else "linalg.vector_norm() missing 1 required argument: 'x'"
        )
    x = input if x is None else x
    if ord is None or isinstance(ord, str):  # (torch's argument parser: a Number)
        raise TypeError(
            f"linalg.vector_norm(): argument 'ord' must be Number, not {type(ord).__name__}"
        )
    if ord == 2 and dtype is None and type(x) is Tensor and x.data.dtype.char in "fd":
        return ops.norm(x, 2, dim, keepdim)  # the common call: ops.norm's fast path outside a graph
    x = _moduli("vector_norm", _in_dtype("vector_norm", x, dtype))
    axes = ops._axes(dim, x.ndim, "vector_norm")
    reduced = [x.shape[a] for a in (axes or range(x.ndim))]
    if (ord < 0 or ord == np.inf) and (not x.data.size if not axes else 0 in reduced):
        raise BadShapeOrValue(
            f"linalg.vector_norm: cannot compute the {ord} norm over an empty dim"
        )
    if ord in (np.inf, -np.inf):
        out = (ops.amax if ord > 0 else ops.amin)(ops.abs(x), axes, keepdim)
    elif ord > 0:
        out = ops.norm(x, ord, axes, keepdim)
    else:  # ord = 0 counts (gradient zero); ord < 0 gives zero entries a zero gradient, as torch
        out = ops.NormP.apply(x, float(ord), axes, keepdim)
    return named(out, "LinalgVectorNormBackward0")


def _moduli(op: str, x) -> Tensor:
    """x, or |x| for complex x (the vector norms and the entrywise matrix norms read only
    the moduli; the gradient through abs is torch's)."""
    x = ops._tensor_operand(x)
    return ops.abs(x) if x.data.dtype.kind == "c" else ops._float_only(op, x)


def _svdvals(A) -> Tensor:
    return svd(A, full_matrices=False).S


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: A002
    """'fro', 'nuc', 2 / -2 (largest / smallest singular value), 1 / -1 (max / min column
    sum of |A|), inf / -inf (max / min row sum) over the two dims (A cast to ``dtype`` first)."""
    ops._bool_args("linalg_matrix_norm", keepdim=keepdim)
    if not isinstance(dim, list | tuple):  # (torch's argument parser: dim is a pair of ints)
        t = type(dim).__name__
        raise TypeError(f"linalg.matrix_norm: dim must be a 2-tuple of ints, not {t}")
    A = _in_dtype("matrix_norm", A, dtype)
    ord = _scalar_ord(ord)  # noqa: A001
    if ord is None:  # (torch's argument parser)
        raise TypeError("linalg.matrix_norm(): ord must be a number or 'fro' / 'nuc', not None")
    if ord not in ("fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf) and isinstance(dim, list | tuple):
        raise BadShapeOrValue(
            f"linalg.matrix_norm: unsupported ord {ord!r} (Order {ord} not supported.)"
        )
    if ord not in ("nuc", 2, -2):
        A = _moduli("matrix_norm", A)  # the other norms read only |A|
    elif A.data.dtype.kind != "c":
        A = ops._float_only("matrix_norm", A)
    if A.ndim < 2:
        raise BadShapeOrValue(f"linalg.matrix_norm: A must have >= 2 dims, got shape {A.shape}")
    if len(dim) != 2:
        raise BadShapeOrValue(f"linalg.matrix_norm: dim must be a 2-tuple. Got {tuple(dim)}")
    d0, d1 = ops._two_dims("matrix_norm", A.ndim, *dim)
    if ord == "fro":
        out = ops.norm(A, 2, (d0, d1), True)
    elif ord == 2 and not A.shape[d0] * A.shape[d1]:  # no singular values: 0, as torch
        out = ops.sum(_moduli("matrix_norm", A), (d0, d1), True)
    elif ord in ("nuc", 2, -2):
        s = _svdvals(ops.movedim(A, (d0, d1), (-2, -1)))
        red = {"nuc": ops.sum, 2: ops.amax, -2: ops.amin}[ord](s, -1, True)
        out = ops.movedim(ops.unsqueeze(red, -1), (-2, -1), (d0, d1))
    elif ord in (1, np.inf) and not A.shape[d0] * A.shape[d1]:  # no entries: 0, as torch
        out = ops.sum(ops.abs(A), (d0, d1), True)
    elif ord in (1, -1, np.inf, -np.inf):
        sum_dim, ext_dim = (d0, d1) if ord in (1, -1) else (d1, d0)
        out = (ops.amax if ord > 0 else ops.amin)(ops.sum(ops.abs(A), sum_dim, True), ext_dim, True)
    else:
        raise BadShapeOrValue(f"linalg.matrix_norm: unsupported ord {ord!r}")
    if keepdim:
        return out
    # torch reduces without keepdim: its last node is the reduction's
    name = "LinalgVectorNormBackward0" if ord == "fro" else "SumBackward1" if ord == "nuc" else None
    name = name or ("AmaxBackward0" if ord > 0 else "AminBackward0")
    return named(ops.squeeze(out, (d0, d1)), name)


def _scalar_ord(ord):
    """A 0-d tensor ord as its number: torch's ord is a Scalar, which takes one."""
    if isinstance(ord, Tensor) and ord.ndim == 0:
        return ord.item()
    return ord


def norm(A, ord=None, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: A002
    """vector_norm over one dim (or all entries when ord is None), matrix_norm over two."""
    A = ops._tensor_operand(_in_dtype("norm", A, dtype))
    ord = _scalar_ord(ord)  # noqa: A001
    if A.data.dtype.kind != "c":
        A = ops._float_only("norm", A)
    if dim is None and ord is None:
        return vector_norm(A, 2, None, keepdim)
    if dim is None:
        if A.ndim not in (1, 2):
            raise BadShapeOrValue(
                f"linalg.norm: with ord, A must be 1-D or 2-D or dim given, got {A.shape}"
            )
        dim = (0,) if A.ndim == 1 else (0, 1)
    dims = (dim,) if isinstance(dim, int | np.integer) else tuple(dim)
    if len(dims) == 1 and isinstance(ord, str):  # ('fro' / 'nuc' are matrix norms: torch's error)
        raise BadShapeOrValue(f"linalg.matrix_norm: dim must be a 2-tuple. Got {dim}")
    if len(dims) == 1:
        return vector_norm(A, 2 if ord is None else ord, dims, keepdim)
    if len(dims) == 2:
        if ord is None:  # (torch's vector 2-norm over the dims: an IndexError for a 1-D A)
            for d in dims:
                ops._dim(d, A.ndim, "linalg.norm")
        return matrix_norm(A, "fro" if ord is None else ord, dims, keepdim)
    raise BadShapeOrValue(f"linalg.norm: dim must name 1 or 2 dims, got {dim}")


# ---- decompositions -------------------------------------------------------------------------


class Cholesky(Function):
    # complex: written with conjugate transposes in torch's convention (real: the same)
    _complex_native = True

    @staticmethod
    def forward(ctx, A, upper=False):
        # upper: A's upper triangle is read (torch's potrf('U')), the gradient torch's all the
        # same (its backward works on L = U^H)
        L = _lapack("cholesky", np.linalg.cholesky, _mH(A) if upper else A)
        # (upper: L row by row, so that cholesky's U = L^H is column-major as torch's)
        L = np.ascontiguousarray(L) if upper else _column_major(L)
        ctx.save_for_backward(L)
        return L

    @staticmethod
    def backward(ctx, g):
        (L,) = ctx.saved_tensors
        # gA = L^-H phi(L^H gL) L^-1, phi(X) = (tril(X) + tril(X, -1)^H) / 2: torch's (Murray
        # 2016), Hermitian but for the imaginary part of the diagonal
        T = np.tril(_mH(L) @ g)
        Linv = np.linalg.inv(L)
        gA = _mH(Linv) @ (0.5 * (T + _mH(np.tril(T, -1)))) @ Linv
        return gA if len(ctx.needs_input_grad) == 1 else (gA, None)

    @staticmethod
    def backward_graph(ctx, g):
        L = _graph.output(ctx, ctx.saved_tensors[0])
        T = ops.tril(ops.matmul(_tmH(L), g))
        Linv = inv(L)
        gA = ops.matmul(ops.matmul(_tmH(Linv), 0.5 * (T + _tmH(ops.tril(T, -1)))), Linv)
        return gA if len(ctx.needs_input_grad) == 1 else (gA, None)


def cholesky(A, *, upper: bool = False) -> Tensor:
    """L with A = L L^T for symmetric positive-definite A (its lower triangle is read)."""
    ops._bool_args("linalg_cholesky", upper=upper)
    A = _square("cholesky", A)
    L = Cholesky.apply(A, True) if upper else Cholesky.apply(A)
    if not np.isfinite(np.diagonal(L.data, 0, -2, -1)).all():  # NaN / inf factor: torch raises
        M = _mH(A.data) if upper else A.data
        _raise_info("cholesky", _cholesky_info(M).reshape(A.shape[:-2]), _NOT_PD)
    return named(_tmH(L) if upper else L, "LinalgCholeskyExBackward0")


QR = namedtuple("QR", ["Q", "R"])


class QRFn(Function):
    # complex: written with conjugate transposes in torch's convention (real: the same)
    _complex_native = True

    @staticmethod
    def forward(ctx, A, mode):
        ctx.mode = mode
        if mode == "r":  # (an empty Q; R recorded so that backward refuses, as torch's)
            R = np.asarray(np.linalg.qr(A, mode="r"), A.dtype)
            return np.zeros((0,), A.dtype), _column_major(R)
        Q, R = map(_column_major, np.linalg.qr(A, mode=mode))
        ctx.save_for_backward(Q, R)
        return Q, R

    @staticmethod
    def backward(ctx, gQ, gR):
        if ctx.mode == "r":
            raise RuntimeError(
                "The derivative of linalg.qr depends on Q, which is not computed when mode='r'. "
                "Please use linalg.qr(A, mode='reduced') if you are going to differentiate "
                "through linalg.qr."
            )
        Q, R = ctx.saved_tensors
        m, n = Q.shape[-2], R.shape[-1]
        if ctx.mode == "complete" and m > n:
            raise RuntimeError(
                "linalg.qr: the QR decomposition is not differentiable when mode='complete' and "
                f"nrows > ncols (got A of shape {Q.shape[:-1] + (n,)})"
            )
        if m >= n:
            return QRFn._square_or_tall(Q, R, gQ, gR), None
        # wide, as PyTorch: A = [X | Y], R = [U | V] with X = Q U (square) and Y = Q V, so V =
        # Q^T Y: Y's gradient is Q gV and Q's gains Y gV^T; X's follows the square rule.
        U, gU, gV = R[..., :m], gR[..., :m], gR[..., m:]
        Y = Q @ R[..., m:]
        gX = QRFn._square_or_tall(Q, U, gQ + Y @ _mH(gV), gU)
        return np.concatenate([gX, Q @ gV], axis=-1), None

    @staticmethod
    def _square_or_tall(Q, R, gQ, gR):
        # gA = (gQ + Q copyltu(M)) R^-H with M = R gR^H - gQ^H Q
        n = R.shape[-1]
        M = R @ _mH(gR) - _mH(gQ) @ Q
        low = np.tril(M, -1)
        d = np.einsum("...ii->...i", M).real  # (R's diagonal is real: its gradient too)
        M = low + _mH(low) + d[..., None] * np.eye(n, dtype=M.dtype)
        b = gQ + Q @ M
        return _mH(np.linalg.solve(R, _mH(b)))

    @staticmethod
    def backward_graph(ctx, gQ, gR):
        Q0, R0 = ctx.saved_tensors
        m, n = Q0.shape[-2], R0.shape[-1]
        if ctx.mode == "complete" and m > n:
            return QRFn.backward(ctx, gQ.data, gR.data)  # raises backward's error
        Q, R = _graph.output(ctx, Q0, 0), _graph.output(ctx, R0, 1)
        if m >= n:
            return QRFn._square_or_tall_graph(Q, R, gQ, gR), None
        U, gU, gV = R[..., :m], gR[..., :m], gR[..., m:]  # wide: as backward
        Y = ops.matmul(Q, R[..., m:])
        gX = QRFn._square_or_tall_graph(Q, U, gQ + ops.matmul(Y, _tmH(gV)), gU)
        return ops.cat([gX, ops.matmul(Q, gV)], -1), None

    @staticmethod
    def _square_or_tall_graph(Q, R, gQ, gR):
        M = ops.matmul(R, _tmH(gR)) - ops.matmul(_tmH(gQ), Q)
        low = ops.tril(M, -1)
        M = low + _tmH(low) + _complex.real(M) * _graph.constant(np.eye(R.shape[-1], dtype=M.dtype))
        return _tmH(solve(R, _tmH(gQ + ops.matmul(Q, M))))


def qr(A, mode: str = "reduced") -> QR:
    """A = Q R with orthonormal columns in Q and upper-triangular R ('reduced', 'complete';
    'r' gives an empty Q)."""
    if not isinstance(mode, str):
        raise TypeError(f"linalg_qr(): argument 'mode' must be str, not {type(mode).__name__}")
    A = _lapack_float("qr", A)
    if A.ndim < 2 or mode not in ("reduced", "complete", "r"):
        raise BadShapeOrValue(
            f"linalg.qr: needs >= 2 dims and mode reduced/complete/r, got {A.shape}, {mode!r}"
        )
    Q, R = QRFn.apply(A, mode)
    return QR(named(Q, "LinalgQrBackward0"), R)  # (one node for both)


Eigh = namedtuple("Eigh", ["eigenvalues", "eigenvectors"])


class EighFn(Function):
    # complex: written with conjugate transposes in torch's convention (real: the same)
    _complex_native = True

    @staticmethod
    def forward(ctx, A, uplo):
        L, V = _lapack("eigh", lambda a: np.linalg.eigh(a, UPLO=uplo), A)  # (NaN: torch's error)
        V = _column_major(V)
        ctx.save_for_backward(L, V)
        return L, V

    @staticmethod
    def backward(ctx, gL, gV):
        L, V = ctx.saved_tensors
        # gA = V (diag(gL) + skew(V^T gV) / E) V^T with E_ij = L_j - L_i (0 on the diagonal),
        # skew(M) = (M - M^T) / 2: torch's projection onto the orthogonal group's tangent
        # space (V's columns' signs and a repeated eigenvalue's basis are arbitrary), which
        # makes gA symmetric, as torch's linalg_eig_backward
        # (complex: skew-Hermitian, and the loss must not depend on the columns' phases)
        # A repeated eigenvalue with a gradient on the vectors: inf / NaN, as torch's (whose
        # eigenvalues-only backward skips the vectors' term, as here when gV is all zero)
        eye = np.eye(L.shape[-1], dtype=L.dtype)
        inner = gL[..., None, :] * eye
        if np.any(gV):
            E = L[..., None, :] - L[..., :, None] + eye  # (the diagonal is not divided by)
            VtgV = _mH(V) @ gV
            _phase_invariant("eigh", np.diagonal(VtgV, 0, -2, -1))
            with np.errstate(divide="ignore", invalid="ignore"):
                inner = inner + 0.5 * (VtgV - _mH(VtgV)) / E * (1 - eye)
        return V @ inner @ _mH(V), None

    @staticmethod
    def backward_graph(ctx, gL, gV):
        L0, V0 = ctx.saved_tensors
        L, V = _graph.output(ctx, L0, 0), _graph.output(ctx, V0, 1)
        eye = _graph.constant(np.eye(L0.shape[-1], dtype=L0.dtype))
        inner = ops.unsqueeze(gL, -2) * eye
        if gV.requires_grad or np.any(gV.data):  # (as backward)
            E = ops.unsqueeze(L, -2) - ops.unsqueeze(L, -1) + eye
            VtgV = ops.matmul(_tmH(V), gV)
            _phase_invariant("eigh", np.diagonal(VtgV.data, 0, -2, -1))
            with np.errstate(divide="ignore", invalid="ignore"):
                inner = inner + 0.5 * (VtgV - _tmH(VtgV)) / E * (1 - eye)
        if inner.dtype != V0.dtype:  # (the eigenvalues' term alone is real: V may be complex)
            inner = ops.cast(inner, V0.dtype)
        return ops.matmul(ops.matmul(V, inner), _tmH(V)), None


def _phase_invariant(op: str, d) -> None:
    """torch's check that a loss of complex singular / eigen vectors does not depend on their
    phases (which LAPACK picks): d is the imaginary part of the gradient along them."""
    if d.dtype.kind == "c" and not np.allclose(d.imag, 0, rtol=1e-2, atol=1e-2):
        raise BadShapeOrValue(
            f"linalg.{op} backward: the vectors are defined up to a phase e^{{i phi}}, and the "
            "loss depends on it, so its gradient is ill-defined"
        )


def eigh(A, UPLO: str = "L") -> Eigh:  # noqa: N803 (PyTorch's name)
    """Eigenvalues (ascending) and orthonormal eigenvectors of symmetric matrices; only the
    UPLO triangle is read."""
    if isinstance(UPLO, str) and UPLO in "lu" and len(UPLO) == 1:
        UPLO = UPLO.upper()  # noqa: N806 (torch takes 'l' and 'u' too)
    if not isinstance(UPLO, str):
        raise TypeError(f"linalg_eigh(): argument 'UPLO' must be str, not {type(UPLO).__name__}")
    if UPLO not in ("L", "U"):
        raise BadShapeOrValue(f"linalg.eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    w, V = EighFn.apply(_square("eigh", A), UPLO)
    return Eigh(named(w, "LinalgEighBackward0"), V)  # (one node for both)


def eigvalsh(A, UPLO: str = "L") -> Tensor:  # noqa: N803
    return eigh(A, UPLO).eigenvalues


Eig = namedtuple("Eig", ["eigenvalues", "eigenvectors"])


class EigFn(Function):
    """Eigen-decomposition of general matrices (LAPACK's geev through NumPy): complex
    eigenvalues and unit-norm eigenvectors. The backward is torch's linalg_eig_backward,
    written in its (conjugate) convention, so the complex-output conjugation is skipped."""

    _complex_native = True

    @staticmethod
    def forward(ctx, A):
        L, V = np.linalg.eig(A)
        dt = _complex.complex_of(A.dtype)
        L, V = L.astype(dt, copy=False), _column_major(V.astype(dt, copy=False))
        ctx.save_for_backward(L, V)
        ctx.real_input = A.dtype.kind != "c"
        return L, V

    @staticmethod
    def backward(ctx, gL, gV):
        L, V = ctx.saved_tensors
        Vh = np.conj(_mT(V))
        VhgV = Vh @ gV
        diag = np.diagonal(VhgV, 0, -2, -1)
        if not np.allclose(diag.imag, 0, rtol=1e-2, atol=1e-2):
            raise BadShapeOrValue(
                "linalg.eig backward: the eigenvectors are defined up to a phase e^{i phi}, and "
                "the loss depends on it, so its gradient is ill-defined"
            )
        # the skew-Hermitian part, over conj(L_j - L_i); the eigenvalues' gradient on the diagonal
        gA = VhgV - Vh @ (V * diag.real[..., None, :])
        Lc = np.conj(L)
        E = Lc[..., None, :] - Lc[..., :, None]
        n = L.shape[-1]
        E[..., np.arange(n), np.arange(n)] = 1
        gA = gA / E
        gA[..., np.arange(n), np.arange(n)] = gL
        gA = np.linalg.solve(Vh, gA @ Vh)
        return np.ascontiguousarray(gA.real) if ctx.real_input else gA

    @staticmethod
    def backward_graph(ctx, gL, gV):  # backward in Tensor ops (its outputs L, V recorded)
        L0, V0 = ctx.saved_tensors
        L, V = _graph.output(ctx, L0, 0), _graph.output(ctx, V0, 1)
        Vh = _complex.conj(_tmT(V))
        VhgV = ops.matmul(Vh, gV)
        diag = ops.diagonal(VhgV, 0, -2, -1)
        if not np.allclose(diag.data.imag, 0, rtol=1e-2, atol=1e-2):
            return EigFn.backward(ctx, gL.data, gV.data)  # (refuses, as backward)
        gA = VhgV - ops.matmul(Vh, V * ops.unsqueeze(_complex.real(diag), -2))
        Lc = _complex.conj(L)
        eye = _graph.constant(np.eye(L0.shape[-1], dtype=L0.real.dtype))
        E = ops.unsqueeze(Lc, -2) - ops.unsqueeze(Lc, -1) + eye  # (1 on the diagonal)
        gA = gA / E * (1 - eye) + ops.diag_embed(gL)
        gA = solve(Vh, ops.matmul(gA, Vh))
        return _complex.real(gA) if ctx.real_input else gA


def _general_square(op: str, A, finite: bool = True) -> Tensor:
    A = ops._tensor_operand(A)
    if A.data.dtype in (np.float16, _lowp.bfloat16):  # (torch's NotImplementedError: no kernel)
        raise not_implemented(f"linalg.{op}", A.dtype, f"shape {A.shape}")
    if A.dtype.kind not in "fc":
        raise BadDtype(f"linalg.{op}: expected a float or complex tensor, got {A.dtype}")
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise BadShapeOrValue(
            f"linalg.{op}: A must be batches of square matrices, got shape {A.shape}"
        )
    if finite and not np.isfinite(A.data).all():
        raise BadShapeOrValue(f"linalg.{op}: the input contains NaN or infinite values")
    return A


def eig(A) -> Eig:
    """Eigenvalues and eigenvectors of square matrices (not necessarily symmetric), complex
    as torch's: float32 -> complex64. A V = V diag(L); each eigenvector has norm 1."""
    w, V = EigFn.apply(_general_square("eig", A))
    return Eig(named(w, "LinalgEigBackward0"), V)  # (one node for both)


def eigvals(A) -> Tensor:
    """The (complex) eigenvalues of square matrices, as torch.linalg.eigvals; NaN for a matrix
    with a NaN or infinite entry (where torch's eig refuses, its eigvals gives NaN)."""
    A = _general_square("eigvals", A, finite=False)
    if not np.isfinite(A.data).all():
        return Tensor(np.full(A.shape[:-1], complex(np.nan, np.nan), _complex.complex_of(A.dtype)))
    return eig(A).eigenvalues


SVD = namedtuple("SVD", ["U", "S", "Vh"])


class SVDFn(Function):
    # complex: written with conjugate transposes in torch's convention (real: the same)
    _complex_native = True

    @staticmethod
    def forward(ctx, A, full_matrices):
        A, bad = _finite_stand_in(A)
        U, S, Vh = np.linalg.svd(A, full_matrices=full_matrices)
        if bad.any():  # NaN factors for a non-finite matrix, as PyTorch
            U, S, Vh = (
                np.where(bad, np.nan, U),
                np.where(bad[..., 0], np.nan, S),
                np.where(bad, np.nan, Vh),
            )
        U, Vh = _column_major(U), _column_major(Vh)
        ctx.save_for_backward(U, S, Vh)
        return U, S, Vh

    @staticmethod
    def backward(ctx, gU, gS, gVh):
        U, S, Vh = ctx.saved_tensors
        k = S.shape[-1]
        m, n = U.shape[-2], Vh.shape[-1]
        # (the extra columns of full_matrices=True are any basis of their subspace: their
        # gradients are ignored, as torch documents)
        U, gU, Vh, gVh = U[..., :k], gU[..., :k], Vh[..., :k, :], gVh[..., :k, :]
        if not np.any(gU) and not np.any(gVh):
            return (U * gS[..., None, :]) @ Vh, None
        # PyTorch's svd_backward:
        # gA = U [(skew(U^H gU) S + S skew(V^H gV)) / E + diag(gS)] V^H
        #      + (I - U U^H) gU S^-1 V^H + U S^-1 gV^H (I - V V^H),  E_jk = s_k^2 - s_j^2,
        # skew(X) = X - X^H; complex: the diagonal gains i Im(diag(U^H gU)) / S
        V, gV = _mH(Vh), _mH(gVh)
        UtgU, VtgV = _mH(U) @ gU, _mH(V) @ gV
        dU = np.diagonal(UtgU, 0, -2, -1)
        _phase_invariant("svd", dU + np.diagonal(VtgV, 0, -2, -1))
        s2 = S * S
        E = s2[..., None, :] - s2[..., :, None]
        eye = np.eye(k, dtype=S.dtype)
        E = E + eye  # the diagonal is not divided by
        inner = ((UtgU - _mH(UtgU)) * S[..., None, :] + S[..., :, None] * (VtgV - _mH(VtgV))) / E
        diag = gS + 1j * dU.imag / S if dU.dtype.kind == "c" else gS
        inner = inner * (1 - eye) + diag[..., None, :] * eye
        gA = U @ inner @ Vh
        if m > k:
            gA = gA + ((gU - U @ UtgU) / S[..., None, :]) @ Vh
        if n > k:
            gA = gA + U @ _mH((gV - V @ VtgV) / S[..., None, :])
        return gA, None

    @staticmethod
    def backward_graph(ctx, gU, gS, gVh):
        U0, S0, Vh0 = ctx.saved_tensors
        k, m, n = S0.shape[-1], U0.shape[-2], Vh0.shape[-1]
        mm = ops.matmul
        U, S = _graph.output(ctx, U0, 0)[..., :k], _graph.output(ctx, S0, 1)
        Vh = _graph.output(ctx, Vh0, 2)[..., :k, :]
        if not any(t.requires_grad or np.any(t.data) for t in (gU, gVh)):
            # the singular values' alone (svdvals): U diag(gS) Vh, as torch's, without the
            # 0 / 0 of the vectors' terms at repeated singular values
            return mm(U * ops.unsqueeze(gS, -2), Vh), None
        gU, gVh = gU[..., :k], gVh[..., :k, :]
        V, gV = _tmH(Vh), _tmH(gVh)
        UtgU, VtgV = mm(_tmH(U), gU), mm(_tmH(V), gV)
        dU = ops.diagonal(UtgU, 0, -2, -1)
        _phase_invariant("svd", dU.data + np.diagonal(VtgV.data, 0, -2, -1))
        row, col = ops.unsqueeze(S, -2), ops.unsqueeze(S, -1)
        eye = _graph.constant(np.eye(k, dtype=S0.dtype))
        E = row * row - col * col + eye  # the diagonal is not divided by
        inner = ((UtgU - _tmH(UtgU)) * row + col * (VtgV - _tmH(VtgV))) / E
        diag = gS + 1j * _complex.imag(dU) / S if U0.dtype.kind == "c" else gS
        gA = mm(mm(U, inner * (1 - eye) + ops.unsqueeze(diag, -2) * eye), Vh)
        if m > k:
            gA = gA + mm((gU - mm(U, UtgU)) / row, Vh)
        if n > k:
            gA = gA + mm(U, _tmH((gV - mm(V, VtgV)) / row))
        return gA, None


def _no_driver(op: str, driver) -> None:
    if driver is not None:  # (torch's driver= picks a cuSOLVER routine)
        raise BadShapeOrValue(
            f"linalg.{op}: keyword argument `driver=` is only supported on CUDA inputs with "
            f"cuSOLVER backend, got {driver!r}"
        )


def _refuse_nan(op: str, A) -> None:
    """torch's LinAlgError for an SVD of a matrix with a NaN (an inf gives NaN factors)."""
    bad = np.isnan(A.data).any((-2, -1)).reshape(-1)
    if bad.any():
        where = f"(Batch element {int(np.flatnonzero(bad)[0])}): " if A.ndim > 2 else ""
        raise LinAlgError(
            f"linalg.{op}: {where}The algorithm failed to converge because the input matrix "
            "contained non-finite values."
        )


def svd(A, full_matrices: bool = True, *, driver=None) -> SVD:
    """A = U diag(S) Vh with S descending; gradients as PyTorch's (the singular vectors need
    distinct singular values, and full_matrices=False when A is not square)."""
    ops._bool_args("linalg_svd", full_matrices=full_matrices)
    _no_driver("svd", driver)
    A = _lapack_float("svd", A)
    if A.ndim < 2:
        raise BadShapeOrValue(f"linalg.svd: A must have >= 2 dims, got shape {A.shape}")
    _refuse_nan("svd", A)
    U, S, Vh = SVDFn.apply(A, bool(full_matrices))
    return SVD(U, named(S, "LinalgSvdBackward0"), Vh)  # (one node for all three)


def svdvals(A, *, driver=None) -> Tensor:
    _no_driver("svdvals", driver)
    return _svdvals(A)


def _cutoff(S, m, n, atol, rtol):
    """PyTorch's threshold for 'zero' singular values: max(atol, rtol * largest), rtol
    defaulting to eps * max(m, n) when atol is not given."""
    if rtol is None:  # (per matrix: 0 where its atol > 0)
        rtol = np.finfo(S.dtype).eps * builtins.max(m, n)
        rtol = rtol if atol is None else np.where(np.asarray(atol) > 0, 0.0, rtol)
    smax = S.max(-1, keepdims=True) if S.shape[-1] else np.zeros(S.shape[:-1] + (1,), S.dtype)
    return np.maximum(0.0 if atol is None else atol, rtol * smax)


class Pinv(Function):
    """A's pseudo-inverse; with ``hermitian`` that of the Hermitian matrix A's lower triangle
    gives (torch's eigh path), whose gradient torch still takes by the formula below with A
    as given. Complex: the formulas with conjugate transposes, in torch's convention."""

    _complex_native = True

    @staticmethod
    def forward(ctx, A, atol, rtol, hermitian=False):
        A_svd, bad = _finite_stand_in(_hermitian_np(A) if hermitian else A)
        U, S, Vh = np.linalg.svd(A_svd, full_matrices=False)
        keep = S > _cutoff(S, A.shape[-2], A.shape[-1], atol, rtol)
        with np.errstate(divide="ignore"):
            sinv = np.where(keep, 1 / np.where(keep, S, 1), 0).astype(S.dtype)
        P = (_mH(Vh) * sinv[..., None, :]) @ _mH(U)
        P = np.where(_mT(bad), np.nan, P) if bad.any() else P  # non-finite A: NaN, as PyTorch
        ctx.save_for_backward(A, P)
        return P

    @staticmethod
    def backward(ctx, g):
        A, P = ctx.saved_tensors
        # Golub & Pereyra, for a locally constant rank:
        # gA = -P^H g P^H + (I - A P) g^H P P^H + P^H P g^H (I - P A)
        Pt, gt = _mH(P), _mH(g)
        first = -Pt @ g @ Pt
        second = (gt - A @ (P @ gt)) @ (P @ Pt)
        third = (Pt @ P) @ (gt - (gt @ P) @ A)
        return first + second + third, None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        A0, P0 = ctx.saved_tensors
        (A,) = _graph.inputs(ctx, A0)
        P = _graph.output(ctx, P0)
        mm, Pt, gt = ops.matmul, _tmH(P), _tmH(g)
        first = -mm(mm(Pt, g), Pt)
        second = mm(gt - mm(A, mm(P, gt)), mm(P, Pt))
        third = mm(mm(Pt, P), gt - mm(mm(gt, P), A))
        return first + second + third, None, None, None


def _tolerances(op, A, rcond_name, rcond, atol, rtol):
    """(atol, rtol) as arrays broadcasting against A's batch of singular values: torch's
    positional ``rcond``/``tol`` overload is (atol=0, rtol=rcond) for pinv and (atol=tol,
    rtol=0) for matrix_rank."""
    if rcond is not None:
        if atol is not None or rtol is not None:
            raise TypeError(f"linalg.{op}(): {rcond_name} cannot be given with atol or rtol")
        atol, rtol = (0.0, rcond) if rcond_name == "rcond" else (rcond, 0.0)

    def one(v):  # a tensor tolerance is one per matrix of the batch: (..., 1) against S
        return None if v is None else np.asarray(ops._data(v), A.dtype)[..., None]

    return one(atol), one(rtol)


def _hermitian(A: Tensor) -> Tensor:
    """The Hermitian matrix A's lower triangle gives (LAPACK's syevd / heevd reads only that,
    and the diagonal's real part), as torch's hermitian=True paths."""
    if A.data.dtype.kind == "c":
        d = ops.diagonal(A, 0, -2, -1)
        return ops.tril(A, -1) + _tmH(ops.tril(A, -1)) + ops.diag_embed(_complex.real(d))
    return ops.tril(A) + ops.transpose(ops.tril(A, -1), -2, -1)


def _hermitian_np(A):
    """_hermitian on an array."""
    low = np.tril(A, -1)
    d = np.diagonal(A, 0, -2, -1).real
    return low + _mH(low) + d[..., None] * np.eye(A.shape[-1], dtype=A.dtype)


def pinv(A, rcond=None, hermitian: bool = False, *, atol=None, rtol=None) -> Tensor:
    """Moore-Penrose pseudo-inverse: singular values up to max(atol, rtol * largest) count as
    zero (``rcond`` is torch's older spelling of rtol, with atol 0). With ``hermitian`` A is
    taken as symmetric: its lower triangle is read, as torch's eigh path."""
    ops._bool_args("linalg_pinv", hermitian=hermitian)
    A = _lapack_float("pinv", A)
    if A.ndim < 2:
        raise BadShapeOrValue(f"linalg.pinv: A must have >= 2 dims, got shape {A.shape}")
    atol, rtol = _tolerances("pinv", A, "rcond", rcond, atol, rtol)
    if hermitian and A.shape[-1] != A.shape[-2]:
        raise BadShapeOrValue(f"linalg.pinv: hermitian A must be square, got shape {A.shape}")
    if not hermitian:  # (its SVD's error, as torch's)
        _refuse_nan("svd", A)
    return named(Pinv.apply(A, atol, rtol, bool(hermitian)), "LinalgPinvBackward0")


def matrix_rank(A, tol=None, hermitian: bool = False, *, atol=None, rtol=None) -> Tensor:
    """The number of singular values (|eigenvalues| with ``hermitian``) above max(atol, rtol *
    largest) (int64); ``tol`` is torch's older spelling of atol, with rtol 0."""
    ops._bool_args("linalg_matrix_rank", hermitian=hermitian)
    A = _lapack_float("matrix_rank", A)
    if A.ndim < 2:
        raise BadShapeOrValue(f"linalg.matrix_rank: A must have >= 2 dims, got shape {A.shape}")
    atol, rtol = _tolerances("matrix_rank", A, "tol", tol, atol, rtol)
    if hermitian:
        if A.shape[-1] != A.shape[-2]:
            raise BadShapeOrValue(f"linalg.matrix_rank: hermitian A must be square, got {A.shape}")
        S = np.abs(np.linalg.eigvalsh(_hermitian(A).data))
    else:
        _refuse_nan("svd", A)
        S = np.linalg.svd(A.data, compute_uv=False)
    rank = np.sum(S > _cutoff(S, A.shape[-2], A.shape[-1], atol, rtol), -1)
    return Tensor(np.asarray(rank, np.int64))


def vecdot(x, y, *, dim: int = -1) -> Tensor:
    """Dot products along dim (broadcasting), x conjugated as torch: sum(conj(x) * y)."""
    if not isinstance(dim, int):  # (dim=None is torch's TypeError, not every dim)
        dim = ops._index_dim(dim, "linalg_vecdot", "dim")
    x, y = ops._tensor_operand(x), ops._tensor_operand(y)
    if x.dtype != y.dtype:  # (torch promotes neither operand)
        raise BadDtype(
            f"linalg.vecdot: Expected x and y to have the same dtype, but found x of type "
            f"{x.dtype} and y of type {y.dtype} instead"
        )
    if x.dtype.kind not in "fc" and x.dtype != _lowp.bfloat16:
        raise BadDtype(f"linalg.vecdot: Expected a floating point or complex tensor, got {x.dtype}")
    return ops.sum(ops.mul(_complex.conj(x), y), dim)


def solve_triangular(A, B, *, upper: bool, left: bool = True, unitriangular: bool = False):
    """X with A X = B (left) or X A = B for triangular A: only A's upper or lower triangle is
    read (and its diagonal taken as ones with unitriangular)."""
    ops._bool_args("linalg_solve_triangular", upper=upper, left=left, unitriangular=unitriangular)
    A = _square("solve_triangular", A)
    B = ops._tensor_operand(B)
    if B.ndim < 2:  # (no vector B, unlike solve)
        raise BadShapeOrValue(
            f"linalg.solve_triangular: B must have at least 2 dimensions, got shape {B.shape}"
        )
    if B.dtype != A.dtype and A.dtype.kind in "fc":  # torch solves in A's dtype (B cast to it)
        B = B.to(A.dtype)
    n = A.shape[-1]
    if (B.shape[-2] if left else B.shape[-1]) != n:
        raise BadShapeOrValue(
            f"linalg.solve_triangular: Incompatible shapes of A and B for the equation "
            f"{'AX = B' if left else 'XA = B'} ({n}x{n} and {B.shape[-2]}x{B.shape[-1]})"
        )
    # B's batch broadcast up front: solve must read B as matrices, never as a batch of vectors
    B = B.expand(*_batch("linalg.solve_triangular", A, B), *B.shape[-2:])
    T = ops.triu(A) if upper else ops.tril(A)
    if unitriangular:
        n = A.shape[-1]
        T = T - ops.diag_embed(ops.diagonal(T, 0, -2, -1)) + Tensor(np.eye(n, dtype=A.dtype))
    elif T.shape[-1] and (np.diagonal(T.data, 0, -2, -1) == 0).any():
        # torch's trsm divides by the zero pivot (inf / nan values, no error): substitution
        X = _substitute(T, B, upper) if left else _tmT(_substitute(_tmT(T), _tmT(B), not upper))
        return named(X, "LinalgSolveTriangularBackward0")
    return named(solve(T, B, left=left), "LinalgSolveTriangularBackward0")


def _batch(op: str, A, B) -> tuple:
    """The broadcast batch shape of matrices A and B (torch's RuntimeError if none)."""
    try:
        return np.broadcast_shapes(tuple(A.shape[:-2]), tuple(B.shape[:-2]))
    except ValueError:
        raise BadShapeOrValue(
            f"{op}: the batch dims of A {tuple(A.shape)} and B {tuple(B.shape)} do not broadcast"
        ) from None


def _substitute(T, B, upper: bool) -> Tensor:
    """X with T X = B for triangular T, row by row (forward or back substitution) in ember ops,
    dividing by each diagonal element as it comes, zero included (complex: NaN, as torch's)."""
    n = T.shape[-1]
    batch = np.broadcast_shapes(tuple(T.shape[:-2]), tuple(B.shape[:-2]))
    T, B = T.expand(*batch, n, n), B.expand(*batch, *B.shape[-2:])
    rows = [None] * n
    for i in range(n - 1, -1, -1) if upper else range(n):
        acc = B[..., i : i + 1, :]
        lo, hi = (i + 1, n) if upper else (0, i)  # the rows already solved
        if hi > lo:
            acc = acc - ops.matmul(T[..., i : i + 1, lo:hi], ops.cat(rows[lo:hi], -2))
        d = T[..., i : i + 1, i : i + 1]
        rows[i] = acc / d
        if d.data.dtype.kind == "c" and (d.data == 0).any():
            rows[i] = ops.where(d == 0, complex("nan+nanj"), rows[i])
    return ops.cat(rows, -2)


Lstsq = namedtuple("Lstsq", ["solution", "residuals", "rank", "singular_values"])


def lstsq(A, B, rcond=None, *, driver=None) -> Lstsq:
    """The least-squares solution X of A X = B (minimum norm when A is rank-deficient), through
    the pseudo-inverse. What else is filled in follows torch's LAPACK ``driver`` (default
    'gelsy'): rank for all but 'gels', singular values for 'gelsd'/'gelss' only, residuals
    when A is tall (m > n) except with 'gelsy', and (but for 'gels', which assumes it) every
    matrix has full rank; the rest are empty."""
    if driver is None:
        driver = "gelsy"
    if driver not in ("gels", "gelsy", "gelsd", "gelss"):
        raise BadShapeOrValue(
            f"linalg.lstsq: parameter `driver` should be one of (gels, gelsy, gelsd, gelss), "
            f"got {driver!r}"
        )
    A = _lapack_float("linalg.lstsq", A)
    B = _lapack_float("linalg.lstsq", B)
    # torch's rule: B is a (batch of) vector(s) when its shape is A's without the last dim;
    # else a matrix, and one with a dim less than A has its leading dims (its rows included)
    # broadcast against A's batch dims, as torch 2.13 does
    vector = B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1])
    Bm = ops.unsqueeze(B, -1) if vector else B
    if A.ndim < 2 or not 0 <= A.ndim - B.ndim <= 1 or Bm.ndim < 2 or Bm.shape[-2] != A.shape[-2]:
        raise BadShapeOrValue(f"linalg.lstsq: A {A.shape} and B {B.shape} do not fit A X = B")
    m, n = A.shape[-2:]
    eps = float(np.finfo(_complex.real_of(A.dtype)).eps)
    default = eps * builtins.max(m, n)
    rcond = default if rcond is None else float(rcond)
    # LAPACK's readings of rcond: gelsd takes eps for one outside (0, 1), gelss for a negative
    # one, gels ignores it (full rank assumed); each keeps singular values above rcond * largest
    if driver == "gelsd":
        rcond = rcond if 0 < rcond < 1 else eps
    elif driver == "gelss":
        rcond = rcond if rcond >= 0 else eps
    elif driver == "gels":
        rcond = 0.0
    S = np.linalg.svd(A.data, compute_uv=False)
    # torch's gradient is pinv(A) B's whatever the driver's solution: the driver's solution
    # plus pinv(A) B - (its value), exactly 0 (no cancellation in the value)
    X = ops.matmul(pinv(A), Bm)
    if driver == "gelsy":
        Xd, rank = _gelsy(A.data, Bm.data, rcond)
    else:
        rank = np.sum(S > _cutoff(S, m, n, None, rcond), -1)
        Xd = None if rcond == default else np.linalg.pinv(A.data, rcond) @ Bm.data
    if Xd is not None:
        X = (X - Tensor(X.data)) + Tensor(np.asarray(Xd, X.data.dtype))
    # torch's layout (strides): LAPACK's column-major (max(m, n), k) B, solved in place, its
    # first n rows. (X's node, an add or matmul, does not read its output: safe to swap.)
    X._data = _column_major(X.data, rows=builtins.max(m, n))
    if not vector and B.ndim == A.ndim - 1:
        try:
            batch = ops.broadcast_shapes(A.shape[:-2], B.shape[:-1])
        except ValueError:
            raise BadShapeOrValue(
                f"linalg.lstsq: the batch dims of A {A.shape} and the leading dims of B "
                f"{B.shape} do not broadcast"
            ) from None
        X = X.expand(*batch, *X.shape[-2:])
    tall = A.shape[-2] > A.shape[-1] and driver != "gelsy"
    if tall and (driver == "gels" or bool(np.all(rank == A.shape[-1]))):
        r = ops.matmul(A, X) - Bm
        residuals = ops.sum((ops.abs(r) if r.data.dtype.kind == "c" else r) ** 2, -2)
    else:
        residuals = Tensor(np.zeros(0, _complex.real_of(A.dtype)))
    X = named(ops.squeeze(X, -1) if vector else X, "LinalgLstsqBackward0")
    rank = np.zeros(0, np.int64) if driver == "gels" else np.asarray(rank, np.int64)
    S = S if driver in ("gelsd", "gelss") else np.zeros(0, S.dtype)
    return Lstsq(X, residuals, Tensor(rank), Tensor(S))


def _gelsy(A, B, rcond):
    """LAPACK gelsy's solution of A X = B and rank (arrays): the rank r is that of
    _gelsy_rank, X the minimum-norm solution for A's projection Q1 Q1^H A onto its first r
    columns (A itself at full rank). Per matrix of a batch."""
    batch = np.broadcast_shapes(A.shape[:-2], B.shape[:-2])
    A = np.broadcast_to(A, (*batch, *A.shape[-2:]))
    B = np.broadcast_to(B, (*batch, *B.shape[-2:]))
    X = np.zeros((*batch, A.shape[-1], B.shape[-1]), np.result_type(A, B))
    rank = np.zeros(batch, np.int64)
    for i in np.ndindex(*batch):
        a = A[i]
        r = rank[i] = _gelsy_rank(a, rcond)
        if 0 < r < builtins.min(a.shape):  # Q1 C with C = Q1^H A of full row rank r: the
            Q1 = np.linalg.qr(a[:, :r])[0]  # minimum-norm solution is pinv(C) Q1^H B (no
            Qh = Q1.conj().T  # rounding residue of the projection left to invert)
            X[i] = np.linalg.pinv(Qh @ a, rcond=0.0) @ (Qh @ B[i])
        elif r:
            X[i] = np.linalg.pinv(a, rcond=0.0) @ B[i]
    return X, rank


def _gelsy_rank(a, rcond) -> int:
    """gelsy's rank of the matrix a from its QR: grown column by column while the incremental
    condition estimates of R's leading block (LAPACK's laic1) keep smax * rcond <= smin. No
    column pivoting: torch 2.13 hands gelsy an uninitialised jpvt, which in practice fixes
    the columns in place (its rank then varies from call to call in rare cases)."""
    R = np.linalg.qr(a, mode="r")
    k = builtins.min(a.shape)
    if k == 0 or R[0, 0] == 0:
        return 0
    eps = float(np.finfo(R.dtype).eps)
    smax = smin = abs(R[0, 0])
    xmax = xmin = np.ones(1, R.dtype)
    rank = 1
    while rank < k:
        w, gamma = R[:rank, rank], R[rank, rank]
        sminpr, s1, c1 = _laic1(False, xmin, smin, w, gamma, eps)
        smaxpr, s2, c2 = _laic1(True, xmax, smax, w, gamma, eps)
        if not smaxpr * rcond <= sminpr:
            break
        xmin, xmax = np.append(s1 * xmin, c1), np.append(s2 * xmax, c2)
        smin, smax, rank = sminpr, smaxpr, rank + 1
    return rank


def _laic1(largest, x, sest, w, gamma, eps):
    """LAPACK dlaic1 (real; complex inputs by their moduli' formulas): the estimate of the
    largest (or smallest) singular value of the triangular matrix grown by one column (w,
    gamma), from ``sest`` and its vector ``x``; returns the estimate and the sine / cosine
    that grow x."""
    alpha = complex(np.vdot(x, w)) if np.iscomplexobj(w) else float(np.dot(x, w))
    absalp, absgam, absest = abs(alpha), abs(gamma), abs(sest)

    def sign(z):  # (a number's unit: LAPACK's SIGN(ONE, z))
        return z / abs(z) if z != 0 else 1.0

    if sest == 0:
        s1 = builtins.max(absgam, absalp)
        if s1 == 0:
            return 0.0, (0.0 if largest else 1.0), (1.0 if largest else 0.0)
        sn, cs = (alpha / s1, gamma / s1) if largest else (-gamma / s1, alpha / s1)
        t = math.hypot(abs(sn), abs(cs))
        return (s1 * t if largest else 0.0), sn / t, cs / t
    if absgam <= eps * absest:
        if largest:
            t = builtins.max(absest, absalp)
            return t * math.hypot(absest / t, absalp / t), 1.0, 0.0
        return absgam, 0.0, 1.0
    if absalp <= eps * absest:
        if (absgam <= absest) == largest:
            return absest, 1.0, 0.0
        return absgam, 0.0, 1.0
    if absest <= eps * absalp or absest <= eps * absgam:
        if absgam <= absalp:
            t = absgam / absalp
            u = math.sqrt(1 + t * t)
            if largest:
                return absalp * u, sign(alpha) / u, (gamma / absalp) / u
            return absest * (t / u), -(gamma / absalp) / u, sign(alpha) / u
        t = absalp / absgam
        u = math.sqrt(1 + t * t)
        if largest:
            return absgam * u, (alpha / absgam) / u, sign(gamma) / u
        return absest / u, -sign(gamma) / u, (alpha / absgam) / u
    z1, z2 = alpha / absest, gamma / absest
    a1, a2 = abs(z1) ** 2, abs(z2) ** 2
    if largest:
        b = (1 - a1 - a2) * 0.5
        t = a1 / (b + math.sqrt(b * b + a1)) if b > 0 else math.sqrt(b * b + a1) - b
        sn, cs, est = -z1 / t, -z2 / (1 + t), math.sqrt(t + 1) * absest
    else:
        norma = builtins.max(1 + a1 + abs(z1 * z2), abs(z1 * z2) + a2)
        if 1 + 2 * (a1 - a2) >= 0:
            b = (a1 + a2 + 1) * 0.5
            t = a2 / (b + math.sqrt(abs(b * b - a2)))
            sn, cs = z1 / (1 - t), -z2 / t
            est = math.sqrt(t + 4 * eps * eps * norma) * absest
        else:
            b = (a2 + a1 - 1) * 0.5
            t = -a1 / (b + math.sqrt(b * b + a1)) if b >= 0 else b - math.sqrt(b * b + a1)
            sn, cs = -z1 / t, -z2 / (1 + t)
            est = math.sqrt(1 + t + 4 * eps * eps * norma) * absest
    t = math.hypot(abs(sn), abs(cs))
    return est, sn / t, cs / t


def cond(A, p=None) -> Tensor:
    """Condition number: largest over smallest singular value (p None or 2, -2 the inverse),
    else matrix_norm(A, p) * matrix_norm(inv(A), p), inf where A is singular (as torch)."""
    A = _lapack_float("linalg.cond", A)
    if p in (None, 2, -2):
        s = svdvals(A)
        if s.shape[-1] == 0:  # 0 x 0 matrices: 0, as PyTorch
            return Tensor(np.zeros(s.shape[:-1], s.dtype))
        hi, lo = ops.amax(s, -1), ops.amin(s, -1)
        return named(hi / lo if p != -2 else lo / hi, "SqueezeBackward1")  # (torch's last node)
    A = _square("cond", A)
    if A.shape[-1] == 0:  # (every order, also -1 / -inf whose norm would reduce an empty dim)
        return Tensor(np.zeros(A.shape[:-2], _complex.real_of(A.dtype)))
    inv_A, info = inv_ex(A)
    singular = np.asarray(info.data) > 0
    if singular.any():  # (no NaN inverse into nuc's SVD, which refuses NaN: inf comes below)
        inv_A = ops.where(Tensor(singular[..., None, None]), 0.0, inv_A)
    c = matrix_norm(A, p) * matrix_norm(inv_A, p)
    c = ops.where(Tensor(singular), np.inf, c) if singular.any() else c  # inf, as torch
    return named(c, "NanToNumBackward0")  # (torch's last node)


def matrix_exp(A) -> Tensor:
    """exp(A) of square matrices by scaling and squaring with an 18-term Taylor series, built
    from ember ops so the gradient is exact for the computed series. Each matrix is scaled
    by 2^-s as torch's (1-norm over its degree-18 threshold), so that where the squarings
    overflow the infs and NaNs come out where torch's do."""
    # products only: float16 works, as in torch, and complex
    A = _square("matrix_exp", A, complex_ok=True, lapack=False)
    theta = 1.090863719290036 if _complex.real_of(A.dtype) == np.float64 else 3.010066362817634
    # (in float64: a float16 sum overflows from 65504; an inf norm, from an inf entry or an
    # overflowing sum, needs no scaling: the series is inf / NaN anyway)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        norm1 = np.abs(A.data).sum(-2, dtype=np.float64).max(-1, initial=0.0)
        s = np.where(
            (norm1 > theta) & np.isfinite(norm1), np.ceil(np.log2(norm1 / theta)), 0
        ).astype(np.int64)
    top = int(s.max()) if s.size else 0
    B = A * Tensor(np.ldexp(1.0, -s)[..., None, None].astype(A.data.dtype)) if top else A
    eye = Tensor(np.broadcast_to(np.eye(A.shape[-1], dtype=A.dtype), A.shape).copy())
    out = eye
    for k in range(18, 0, -1):  # Horner: I + B/1 (I + B/2 (I + ...))
        out = eye + ops.matmul(B, out) * (1.0 / k)
    for k in range(top):  # (each matrix squared its own s times)
        with np.errstate(over="ignore"):  # (float16's rounding of an overflow: inf, silently)
            sq = ops.matmul(out, out)
        out = sq if (s > k).all() else ops.where(Tensor((s > k)[..., None, None]), sq, out)
    return named(out, "LinalgMatrixExpBackward0")


def tensorinv(A, ind: int = 2) -> Tensor:
    """The inverse of A read as a matrix of its first ``ind`` dims by the rest."""
    A = _lapack_float("linalg.tensorinv", A)
    ind = ops._index_dim(ind, "linalg.tensorinv", "ind")  # (True is not ind 1)
    rows, cols = A.shape[:ind], A.shape[ind:]
    n = int(np.prod(rows))
    if not 0 < ind <= A.ndim or n != int(np.prod(cols)):
        raise BadShapeOrValue(f"linalg.tensorinv: A {A.shape} with ind={ind} is not square")
    Y = ops.reshape(inv(ops.reshape(A, (n, n))), cols + rows)  # (n, not -1: n may be 0)
    return named(Y, "ReshapeAliasBackward0")


def tensorsolve(A, B, dims=None) -> Tensor:
    """X with tensordot(A, X, X.ndim) = B (dims of A moved to the end first)."""
    A, B = _lapack_float("linalg.tensorsolve", A), _lapack_float("linalg.tensorsolve", B)
    if dims is not None:
        A = ops.movedim(A, dims, tuple(range(A.ndim - len(dims), A.ndim)))
    x_shape = A.shape[B.ndim :]
    if A.shape[: B.ndim] != B.shape or int(np.prod(x_shape)) != B.numel():
        raise BadShapeOrValue(f"linalg.tensorsolve: A {A.shape} and B {B.shape} do not fit")
    X = solve(ops.reshape(A, (B.numel(), -1)), ops.reshape(B, (-1,)))
    return ops.reshape(X, x_shape)


def vander(x, *, N=None) -> Tensor:
    """Powers x^0, x^1, ..., x^(N-1) along a new last dim (batched)."""
    x = ops._tensor_operand(x)
    x = ops.reshape(x, (1,)) if x.ndim == 0 else x  # (torch reads a 0-d x as one entry)
    N = x.shape[-1] if N is None else ops._index_dim(N, "linalg_vander", "N")
    if N < 2:
        raise BadShapeOrValue(f"linalg.vander: N must be greater than 1, got {N}")
    if x.dtype == np.bool_ or x.dtype == np.float16 or x.dtype == _lowp.bfloat16:
        raise BadDtype(  # (torch's RuntimeError)
            f"linalg.vander supports floating point, complex, and integer tensors, but got "
            f"{x.dtype}"
        )
    ones = Tensor(np.ones(x.shape + (1,), x.dtype))
    powers = ops.cumprod(ops.expand(ops.unsqueeze(x, -1), x.shape + (N - 1,)), -1)
    return named(ops.cat([ones, powers], -1), "CatBackward0")  # (also complex, as torch)


# ---- LU, and the *_ex forms that report failures in ``info`` instead of raising ---------------


def _lu_packed(A):
    """LAPACK getrf's LU with partial pivoting of (..., m, n) A, one column at a time with the
    trailing update vectorised over rows and batch: (LU packed as LAPACK's: unit L below the
    diagonal, U on and above; 1-based int32 pivots (..., min(m, n)); int32 info (...): the first
    zero pivot, 1-based, or 0). A zero pivot leaves its column as it is and goes on (as getrf)."""
    *batch, m, n = A.shape
    k = builtins.min(m, n)
    LU = np.array(A, copy=True).reshape(math.prod(batch), m, n)  # (not -1: m or n may be 0)
    piv = np.zeros((LU.shape[0], k), np.int32)
    info = np.zeros(LU.shape[0], np.int32)
    rows = np.arange(LU.shape[0])
    cplx = LU.dtype.kind == "c"
    with np.errstate(all="ignore"):  # NaN / inf input: NaN / inf out, as LAPACK
        for j in range(k):
            col = LU[:, j:, j]  # (complex: LAPACK's izamax compares |re| + |im|)
            p = j + np.argmax(np.abs(col.real) + np.abs(col.imag) if cplx else np.abs(col), axis=1)
            piv[:, j] = p + 1
            top = LU[:, j].copy()
            LU[:, j] = LU[rows, p]
            LU[rows, p] = top
            d = LU[:, j, j]
            zero = d == 0
            info[(info == 0) & zero] = j + 1
            mult = LU[:, j + 1 :, j] / np.where(zero, 1, d)[:, None]
            LU[:, j + 1 :, j] = mult
            LU[:, j + 1 :, j + 1 :] -= mult[:, :, None] * LU[:, j, None, j + 1 :]
    return LU.reshape(A.shape), piv.reshape(*batch, k), info.reshape(batch)


def _permutation(pivots, m: int):
    """perm (..., m) with A[perm] = L U from 1-based LAPACK pivots (..., k): the row swaps
    applied in order."""
    k, b = pivots.shape[-1], math.prod(pivots.shape[:-1])  # (not -1: m may be 0)
    perm = np.array(np.broadcast_to(np.arange(m), pivots.shape[:-1] + (m,))).reshape(b, m)
    piv = pivots.reshape(b, k).astype(np.int64) - 1
    rows = np.arange(perm.shape[0])
    for j in range(k):
        top = perm[:, j].copy()
        perm[:, j] = perm[rows, piv[:, j]]
        perm[rows, piv[:, j]] = top
    return perm.reshape(pivots.shape[:-1] + (m,))


def _p_matrix(perm, dtype):
    """P with A = P L U: column i of P is e_perm[i]."""
    m = perm.shape[-1]
    return _mT(np.eye(m, dtype=dtype)[perm])


def _check_pivots(op: str, LU: Tensor, pivots) -> np.ndarray:
    piv = np.asarray(pivots.data if isinstance(pivots, Tensor) else pivots)
    if piv.dtype.kind not in "iu":
        raise BadDtype(f"{op}: pivots must be an integer tensor (int32), got {piv.dtype}")
    m, n = LU.shape[-2:]
    if piv.shape[-1:] != (builtins.min(m, n),) or piv.shape[:-1] != LU.shape[:-2]:
        raise BadShapeOrValue(f"{op}: pivots {piv.shape} do not fit LU {LU.shape}")
    if piv.size and (piv.min() < 1 or piv.max() > m):
        raise BadShapeOrValue(f"{op}: pivots must be between 1 and LU.size(-2) = {m}")
    return piv


def _matrices(op: str, A) -> Tensor:
    A = _lapack_float(f"linalg.{op}", A)
    if A.ndim < 2:
        raise BadShapeOrValue(f"linalg.{op}: A must be batches of matrices, got shape {A.shape}")
    return A


def _no_pivot(op: str, pivot: bool) -> None:
    if not pivot:
        raise NotImplementedError(
            f"linalg.{op}: LU without pivoting is not implemented (torch: CPU)"
        )


class LUFn(Function):
    """(L, U) of A = P L U from the packed factors. The gradient, from dA = P (dL U + L dU):
    wide / square A (L m x m, U = [U1 U2]): gA = P L^-T [G U1^-T, gU2] with
    G = tril_-1(L^T gL - gU2 U2^T) + triu(gU1 U1^T); tall A (L = [L1; L2], U n x n):
    gA = P [L1^-T G; gL2] U^-T with G = tril_-1(L1^T gL1) + triu(gU U^T - L2^T gL2)."""

    @staticmethod
    def forward(ctx, A, LU, perm):
        m, n = LU.shape[-2:]
        k = builtins.min(m, n)
        L = np.tril(LU[..., :, :k], -1) + np.eye(m, k, dtype=LU.dtype)
        U = np.triu(LU[..., :k, :])
        ctx.save_for_backward(L, U)
        ctx.perm = perm
        return L, U

    @staticmethod
    def backward(ctx, gL, gU):
        L, U = ctx.saved_tensors
        gL = np.zeros_like(L) if gL is None else np.asarray(gL)
        gU = np.zeros_like(U) if gU is None else np.asarray(gU)
        m, n = L.shape[-2], U.shape[-1]
        k = builtins.min(m, n)
        solve_ = lambda a, b: _lapack("lu (backward)", np.linalg.solve, a, b)  # noqa: E731
        if m <= n:
            U1, U2, gU1, gU2 = U[..., :k], U[..., k:], gU[..., :k], gU[..., k:]
            G = np.tril(_mT(L) @ gL - gU2 @ _mT(U2), -1) + np.triu(gU1 @ _mT(U1))
            gX = solve_(_mT(L), np.concatenate([_mT(solve_(U1, _mT(G))), gU2], -1))
        else:
            L1, L2, gL1, gL2 = L[..., :k, :], L[..., k:, :], gL[..., :k, :], gL[..., k:, :]
            G = np.tril(_mT(L1) @ gL1, -1) + np.triu(gU @ _mT(U) - _mT(L2) @ gL2)
            gX = _mT(solve_(U, _mT(np.concatenate([solve_(_mT(L1), G), gL2], -2))))
        gA = np.empty_like(gX)
        np.put_along_axis(gA, ctx.perm[..., None], gX, axis=-2)  # P gX: row i goes to perm[i]
        return gA, None, None

    @staticmethod
    def backward_graph(ctx, gL, gU):
        # backward in Tensor ops (L and U are this node's outputs), as torch's linalg_lu_backward
        L0, U0 = ctx.saved_tensors
        L, U = _graph.output(ctx, L0, 0), _graph.output(ctx, U0, 1)
        gL = _graph.constant(np.zeros_like(L0)) if gL is None else gL
        gU = _graph.constant(np.zeros_like(U0)) if gU is None else gU
        m, n = L0.shape[-2], U0.shape[-1]
        k = builtins.min(m, n)
        mm = ops.matmul
        if m <= n:
            U1, U2, gU1, gU2 = U[..., :k], U[..., k:], gU[..., :k], gU[..., k:]
            G = ops.tril(mm(_tmT(L), gL) - mm(gU2, _tmT(U2)), -1) + ops.triu(mm(gU1, _tmT(U1)))
            gX = solve(_tmT(L), ops.cat([_tmT(solve(U1, _tmT(G))), gU2], -1))
        else:
            L1, L2, gL1, gL2 = L[..., :k, :], L[..., k:, :], gL[..., :k, :], gL[..., k:, :]
            G = ops.tril(mm(_tmT(L1), gL1), -1) + ops.triu(mm(gU, _tmT(U)) - mm(_tmT(L2), gL2))
            gX = _tmT(solve(U, _tmT(ops.cat([solve(_tmT(L1), G), gL2], -2))))
        return mm(_graph.constant(_p_matrix(ctx.perm, L0.dtype)), gX), None, None


PLU = namedtuple("PLU", ["P", "L", "U"])
LUFactor = namedtuple("LUFactor", ["LU", "pivots"])
LUFactorEx = namedtuple("LUFactorEx", ["LU", "pivots", "info"])


def _lu(op: str, A):
    A = _matrices(op, A)
    LUp, piv, info = _lu_packed(A.data)
    perm = _permutation(piv, A.shape[-2])
    L, U = LUFn.apply(A, LUp, perm)
    return Tensor(_p_matrix(perm, A.dtype)), L, U, piv, info


def _pack(L, U):
    """LAPACK's packed LU (m x n) from L (m x k) and U (k x n), differentiably."""
    m, n = L.shape[-2], U.shape[-1]
    low = ops.tril(L, -1)
    if m <= n:  # L is m x m: its strict lower triangle in U's first m columns
        zeros = Tensor(np.zeros(low.shape[:-1] + (n - m,), low.dtype))
        return ops.add(U, ops.cat([low, zeros], -1))
    zeros = Tensor(np.zeros(U.shape[:-2] + (m - n, n), U.dtype))
    return ops.add(low, ops.cat([U, zeros], -2))


def lu(A, *, pivot: bool = True) -> PLU:
    """A = P L U with partial pivoting (torch.linalg.lu) for (batches of) m x n matrices: P a
    permutation, L m x k unit lower triangular, U k x n upper, k = min(m, n). Singular A is
    factored too. Differentiable in A (as torch)."""
    ops._bool_args("linalg_lu", pivot=pivot)
    _no_pivot("lu", pivot)
    P, L, U, _, _ = _lu("lu", A)
    return PLU(P, named(L, "LinalgLuBackward0"), U)  # (one node for L and U)


def lu_factor_ex(A, *, pivot: bool = True, check_errors: bool = False) -> LUFactorEx:
    """(LU, pivots, info): LAPACK's packed factors, 1-based int32 pivots and info > 0 naming
    the first zero pivot of U (1-based) where A is singular (an error only with check_errors)."""
    ops._bool_args("linalg_lu_factor_ex", pivot=pivot, check_errors=check_errors)
    _no_pivot("lu_factor_ex", pivot)
    _, L, U, piv, info = _lu("lu_factor_ex", A)
    if check_errors:
        _raise_info("lu_factor_ex", info, "U[{i},{i}] is zero")
    LU = named(_pack(L, U), "LinalgLuFactorExBackward0")
    return LUFactorEx(LU, Tensor(piv), Tensor(info))


def lu_factor(A, *, pivot: bool = True) -> LUFactor:
    """(LU, pivots) of lu_factor_ex; LinAlgError when a pivot is zero (lu_solve would divide
    by it: use lu or lu_factor_ex to factor singular matrices)."""
    ops._bool_args("linalg_lu_factor", pivot=pivot)
    _no_pivot("lu_factor", pivot)
    _, L, U, piv, info = _lu("lu_factor", A)
    _raise_info("lu_factor", info, "U[{i},{i}] is zero and lu_solve would divide by it")
    return LUFactor(named(_pack(L, U), "LinalgLuFactorExBackward0"), Tensor(piv))


def _raise_info(op: str, info, what: str) -> None:
    info = np.asarray(info)
    if info.any():
        b = int(np.flatnonzero(info.reshape(-1))[0])
        i = int(info.reshape(-1)[b])
        raise LinAlgError(f"linalg.{op}: (batch element {b}): " + what.format(i=i))


def lu_unpack(LU_data, LU_pivots, unpack_data: bool = True, unpack_pivots: bool = True):  # noqa: N803
    """(P, L, U) from lu_factor's packed LU and pivots (torch.lu_unpack); differentiable in
    LU_data. What is not unpacked comes back as an empty tensor."""
    A = ops._tensor_operand(LU_data)  # (any dtype: torch's lu_unpack only slices and copies)
    if A.ndim < 2:
        raise BadShapeOrValue(
            f"linalg.lu_unpack: A must be batches of matrices, got shape {A.shape}"
        )
    piv = _check_pivots("lu_unpack", A, LU_pivots)
    m, n = A.shape[-2:]
    k = builtins.min(m, n)
    empty = Tensor(np.zeros(0, A.dtype))
    P = Tensor(_p_matrix(_permutation(piv, m), A.dtype)) if unpack_pivots else empty
    if not unpack_data:
        return PLU(P, empty, empty)
    L = ops.add(ops.tril(A[..., :, :k], -1), Tensor(np.eye(m, k, dtype=A.dtype)))
    U = ops.triu(A[..., :k, :])
    return PLU(P, named(L, "LuUnpackBackward0"), named(U, "LuUnpackBackward0"))


def lu_solve(LU, pivots, B, *, left: bool = True, adjoint: bool = False) -> Tensor:  # noqa: N803
    """X with A X = B (A^T X = B with adjoint; X A = B / X A^T = B with left=False) for
    A = P L U given by lu_factor; differentiable in LU and B (through triangular solves)."""
    ops._bool_args("linalg_lu_solve", left=left, adjoint=adjoint)
    F = _square("lu_solve", LU)
    piv = _check_pivots("lu_solve", F, pivots)
    B = _lapack_float("linalg.lu_solve", B)
    if B.dtype != F.dtype or B.ndim < 2:
        raise BadDtype(f"linalg.lu_solve: B ({B.dtype}, {B.shape}) must be {F.dtype} matrices")
    if not left:  # X A = B <=> A^H X^H = B^H
        return named(_tmH(lu_solve(F, piv, _tmH(B), adjoint=not adjoint)), "LinalgLuSolveBackward0")
    if B.shape[-2] != F.shape[-1]:
        raise BadShapeOrValue(f"linalg.lu_solve: LU {F.shape} and B {B.shape} do not fit A X = B")
    _batch("linalg.lu_solve", F, B)
    P = Tensor(_p_matrix(_permutation(piv, F.shape[-1]), F.dtype))
    if adjoint:  # A^H = U^H L^H P^T: X = P L^-H U^-H B
        Y = solve_triangular(_tmH(F), B, upper=False)
        X = ops.matmul(P, solve_triangular(_tmH(F), Y, upper=True, unitriangular=True))
    else:
        Y = solve_triangular(F, ops.matmul(_tmT(P), B), upper=False, unitriangular=True)
        X = solve_triangular(F, Y, upper=True)
    return named(X, "LinalgLuSolveBackward0")


CholeskyEx = namedtuple("CholeskyEx", ["L", "info"])
InvEx = namedtuple("InvEx", ["inverse", "info"])
SolveEx = namedtuple("SolveEx", ["result", "info"])


def _cholesky_info(A):
    """info (...) of the Cholesky factorisation: the order of the first leading minor that is
    not positive-definite, or 0 (column by column, vectorised over the batch). In a float32
    matrix of order <= 16 an infinite pivot before the last makes the column below it NaN, so
    the next minor fails: torch 2.13's float32 LAPACK (MKL's small-matrix path) does so; its
    float64, complex and larger float32 factorisations keep 0 there, as here."""
    inf_stops = A.dtype == np.float32 and A.shape[-1] <= 16
    dt = np.complex128 if A.dtype.kind == "c" else np.float64  # (Hermitian: L L^H)
    A = np.array(A, dt).reshape(math.prod(A.shape[:-2]), *A.shape[-2:])
    n = A.shape[-1]
    info = np.zeros(A.shape[0], np.int32)
    L = np.zeros_like(A)
    with np.errstate(all="ignore"):
        for j in range(n):
            d = A[:, j, j].real - np.sum(np.abs(L[:, j, :j]) ** 2, -1)
            bad = ~(d > 0) & (info == 0)
            info[bad] = j + 1
            ljj = np.sqrt(np.where(d > 0, d, 1))
            L[:, j, j] = ljj
            L[:, j + 1 :, j] = (
                A[:, j + 1 :, j] - np.einsum("bij,bj->bi", L[:, j + 1 :, :j], L[:, j, :j].conj())
            ) / ljj[:, None]
            if inf_stops:
                L[:, j + 1 :, j][np.isposinf(d)] = np.nan
    return info


_NOT_PD = "the leading minor of order {i} is not positive-definite"


def cholesky_ex(A, *, upper: bool = False, check_errors: bool = False) -> CholeskyEx:
    """(L, info) of cholesky: info > 0 is the order of the leading minor that is not
    positive-definite, 0 when A is; raises only with check_errors. Where it fails, L holds
    LAPACK potf2's partial factor, as torch's: the columns before the failing one factored,
    the failing pivot's value on the diagonal, A's own triangle after it."""
    ops._bool_args("linalg_cholesky_ex", upper=upper, check_errors=check_errors)
    A = _square("cholesky_ex", A)
    M = _tmH(A) if upper else A  # (upper: A's upper triangle is read, as torch's)
    info = _cholesky_info(M.data).reshape(A.shape[:-2])
    if check_errors:
        _raise_info("cholesky_ex", info, _NOT_PD)
    if not info.any():
        return CholeskyEx(cholesky(A, upper=upper), Tensor(info))
    bad = (info > 0)[..., None, None]
    eye = Tensor(np.eye(A.shape[-1], dtype=A.dtype))
    L = cholesky(ops.where(Tensor(bad), eye, M))
    L = ops.where(Tensor(bad), Tensor(_potf2_partial(M.data, info)), L)
    return CholeskyEx(_tmH(L) if upper else L, Tensor(info))


def _potf2_partial(A, info):
    """LAPACK (z)potf2's lower factor of each matrix of A whose Cholesky fails (info > 0, the
    order of the failing minor): columns before it factored, the failing pivot a_jj - |l_j|^2
    on the diagonal, A's lower triangle after it; the other matrices zero."""
    *batch, n, _ = A.shape
    out = np.zeros_like(A).reshape(-1, n, n)
    flat, inf = A.reshape(-1, n, n), np.asarray(info).reshape(-1)
    with np.errstate(all="ignore"):
        for b in np.flatnonzero(inf):
            L = np.tril(flat[b]).astype(flat.dtype, copy=True)
            for j in range(int(inf[b])):
                d = L[j, j].real - np.sum(np.abs(L[j, :j]) ** 2)
                if j == inf[b] - 1:
                    L[j, j] = d
                    break
                L[j, j] = np.sqrt(d)
                L[j + 1 :, j] = (L[j + 1 :, j] - L[j + 1 :, :j] @ L[j, :j].conj()) / L[j, j]
            out[b] = L
    return out.reshape(A.shape)


def _singular_stand_in(op: str, A: Tensor, lapack: bool = False):
    """info of A's LU (the first zero pivot, 1-based) and A with the identity in place of each
    singular matrix, whose result is then NaN. lapack: also count as singular the matrices
    LAPACK's own LU (np.linalg) rounds to an exact zero pivot where ours left a tiny one
    (info: their smallest pivot), so the _ex ops never raise."""
    LU, _, info = _lu_packed(A.data)
    if lapack and A.numel():
        flat, LU = A.data.reshape(-1, *A.shape[-2:]), LU.reshape(-1, *A.shape[-2:])
        for i in np.flatnonzero(info.reshape(-1) == 0):
            try:
                np.linalg.inv(flat[i])
            except np.linalg.LinAlgError:
                info.reshape(-1)[i] = np.argmin(np.abs(np.diagonal(LU[i]))) + 1
    bad = (info > 0)[..., None, None]
    if bad.any():
        A = ops.where(Tensor(bad), Tensor(np.eye(A.shape[-1], dtype=A.dtype)), A)
    return info, bad, A


def _unchecked(op: str, fn, A: Tensor, check_errors: bool):
    """(fn(A'), info, bad): A' is A with its singular matrices replaced (_singular_stand_in)."""
    info, bad, A2 = _singular_stand_in(op, A)
    if check_errors:
        _raise_info(op, info, "the diagonal element {i} is zero: the matrix is singular")
    try:
        return fn(A2), info, bad
    except LinAlgError:
        if check_errors:
            raise
        info, bad, A2 = _singular_stand_in(op, A, lapack=True)
        return fn(A2), info, bad


def inv_ex(A, *, check_errors: bool = False) -> InvEx:
    """(inverse, info): info > 0 the first zero pivot of A's LU where A is singular (its
    inverse is then NaN), raising only with check_errors."""
    ops._bool_args("linalg_inv_ex", check_errors=check_errors)
    A = _square("inv_ex", A)
    Y, info, bad = _unchecked("inv_ex", inv, A, check_errors)
    if bad.any():  # (torch's inv_ex is solve_ex(A, I))
        eye = np.broadcast_to(np.eye(A.shape[-1], dtype=A.dtype), A.shape)
        Y = ops.where(Tensor(bad), Tensor(_getrs_raw(A.data, eye)), Y)
    return InvEx(Y, Tensor(info))


def solve_ex(A, B, *, left: bool = True, check_errors: bool = False) -> SolveEx:
    """(result, info) of solve: info > 0 where A is singular (the result is then NaN), raising
    only with check_errors."""
    ops._bool_args("linalg_solve_ex", left=left, check_errors=check_errors)
    A = _square("solve_ex", A)
    X, info, bad = _unchecked("solve_ex", lambda A2: solve(A2, B, left=left), A, check_errors)
    if bad.any():  # LAPACK getrs's values through the zero pivot, as torch's
        Bd = B.data if isinstance(B, Tensor) else np.asarray(B)
        vector = X.ndim < A.ndim or Bd.ndim == 1  # (a batch of vectors: one dim less than A)
        Bm = Bd[..., None] if vector else Bd
        raw = _getrs_raw(A.data, Bm) if left else _mT(_getrs_raw(A.data, _mT(Bm), trans=True))
        X = ops.where(
            Tensor(bad[..., 0] if vector else bad), Tensor(raw[..., 0] if vector else raw), X
        )
    return SolveEx(X, Tensor(info))


def _getrs_raw(A, B, trans: bool = False):
    """X of A X = B (trans: A^T X = B) by A's LU with partial pivoting and the two triangular
    solves (LAPACK getrf + getrs, batched), dividing by a zero pivot as they do (inf / NaN):
    the values torch's solve_ex and inv_ex give for a singular A."""
    LU, piv, info = _lu_packed(A)
    batch = np.broadcast_shapes(LU.shape[:-2], B.shape[:-2])
    n = LU.shape[-1]
    LU = np.broadcast_to(LU, (*batch, n, n))
    X = np.array(np.broadcast_to(B, (*batch, *B.shape[-2:])), dtype=np.result_type(LU, B))
    perm = np.broadcast_to(_permutation(piv, n), (*batch, n))
    if trans:  # A^T = U^T L^T P^T: U^T (lower) first, then L^T (unit upper), then P
        LU = _mT(LU)
    else:
        X = np.take_along_axis(X, perm[..., None], axis=-2)
    with np.errstate(all="ignore"):
        for k in range(n) if trans else range(1, n):  # lower: U^T, or unit L
            X[..., k, :] -= np.einsum("...i,...ij->...j", LU[..., k, :k], X[..., :k, :])
            if trans:
                X[..., k, :] = _pivot_div(X[..., k, :], LU[..., k, k, None])
        for k in range(n - 1, -1, -1):  # upper: U, or unit L^T
            X[..., k, :] -= np.einsum("...i,...ij->...j", LU[..., k, k + 1 :], X[..., k + 1 :, :])
            if not trans:
                X[..., k, :] = _pivot_div(X[..., k, :], LU[..., k, k, None])
    if trans:
        out = np.empty_like(X)
        np.put_along_axis(out, perm[..., None], X, axis=-2)
        X = out
    # singular to LAPACK's rounding alone (_singular_stand_in's lapack test), not to ours: the
    # values depend on the rounding, NaN
    return np.where((info == 0)[..., None, None], np.nan, X).astype(X.dtype, copy=False)


def _pivot_div(x, d):
    """x / d; complex by a zero d: NaN, as LAPACK's complex division (numpy's gives inf)."""
    if x.dtype.kind == "c" and (d == 0).any():
        return np.where(d == 0, complex("nan+nanj"), x / np.where(d == 0, 1, d))
    return x / d


def householder_product(A, tau) -> Tensor:
    """The first n columns of H_1 ... H_k, H_i = I - tau_i v_i v_i^H with v_i the i-th column
    of A below the diagonal and a 1 on it (torch.linalg.householder_product, LAPACK's orgqr);
    differentiable in A and tau."""
    A = _matrices("householder_product", A)
    tau = _lapack_float("linalg.householder_product", tau)
    m, n = A.shape[-2:]
    k = tau.shape[-1] if tau.ndim else -1
    if m < n or n < k or tau.ndim != A.ndim - 1 or tau.shape[:-1] != A.shape[:-2]:
        raise BadShapeOrValue(
            f"linalg.householder_product: needs A (..., m, n) with m >= n and tau (..., k) with "
            f"k <= n and A's batch dims, got A {A.shape} and tau {tau.shape}"
        )
    if tau.dtype != A.dtype:
        raise BadDtype(
            f"linalg.householder_product: tau ({tau.dtype}) must be A's dtype ({A.dtype})"
        )
    V = ops.add(ops.tril(A[..., :, :k], -1), Tensor(np.eye(m, k, dtype=A.dtype)))
    Q = Tensor(np.broadcast_to(np.eye(m, n, dtype=A.dtype), A.shape).copy())
    for i in reversed(range(k)):  # Q <- H_i Q = Q - tau_i v_i (v_i^H Q)
        v = V[..., :, i : i + 1]
        t = ops.reshape(tau[..., i], tuple(tau.shape[:-1]) + (1, 1))
        Q = ops.sub(Q, ops.mul(t, ops.matmul(v, ops.matmul(_tmH(v), Q))))
    return named(Q, "LinalgHouseholderProductBackward0")


# ---- LDL^T with Bunch-Kaufman pivoting (LAPACK sytrf / sytrs; no gradient, as torch) ---------

_BK_ALPHA = (1 + 17**0.5) / 8  # Bunch-Kaufman's growth bound


def _ldl_one(A, herm: bool = False):
    """LAPACK dsytf2 on the lower triangle of one symmetric matrix: (LD, 1-based pivots with
    2 x 2 blocks as negative pairs, info = first zero pivot or 0). Complex: zsytf2, or zhetf2
    with ``herm`` (A Hermitian: A = P L D L^H P^T, D's diagonal real)."""
    A = np.array(A, copy=True)
    n = A.shape[0]
    herm = herm and A.dtype.kind == "c"
    # (complex: LAPACK compares |re| + |im|, and the real part alone on a Hermitian diagonal)
    mag = (lambda z: np.abs(z.real) + np.abs(z.imag)) if A.dtype.kind == "c" else np.abs
    dmag = (lambda z: np.abs(z.real)) if herm else mag
    piv = np.zeros(n, np.int32)
    info, k = 0, 0
    while k < n:
        kstep, absakk = 1, dmag(A[k, k])
        imax = k + 1 + int(np.argmax(mag(A[k + 1 :, k]))) if k < n - 1 else k
        colmax = mag(A[imax, k]) if k < n - 1 else 0.0
        if builtins.max(absakk, colmax) == 0 or np.isnan(absakk):
            info, kp = info or k + 1, k
            if herm:
                A[k, k] = A[k, k].real
        else:
            kp = k
            if absakk < _BK_ALPHA * colmax:  # look at row imax for the largest off-diagonal
                rowmax = mag(A[imax, k:imax]).max()
                if imax < n - 1:
                    rowmax = builtins.max(rowmax, mag(A[imax + 1 :, imax]).max())
                if absakk >= _BK_ALPHA * colmax * (colmax / rowmax):
                    kp = k
                elif dmag(A[imax, imax]) >= _BK_ALPHA * rowmax:
                    kp = imax
                else:
                    kp, kstep = imax, 2
            kk = k + kstep - 1
            if herm:
                _hetf2_swap(A, k, kk, kp, kstep)
            elif kp != kk:  # swap rows and columns kk and kp of the trailing lower triangle
                A[kp + 1 :, [kk, kp]] = A[kp + 1 :, [kp, kk]]
                t = A[kk + 1 : kp, kk].copy()
                A[kk + 1 : kp, kk] = A[kp, kk + 1 : kp]
                A[kp, kk + 1 : kp] = t
                A[[kk, kp], [kk, kp]] = A[[kp, kk], [kp, kk]]
                if kstep == 2:
                    A[[k + 1, kp], k] = A[[kp, k + 1], k]
            if herm:
                _hetf2_update(A, k, kstep)
            elif kstep == 1 and k < n - 1:
                x = A[k + 1 :, k].copy()
                d11 = 1 / A[k, k]
                A[k + 1 :, k + 1 :] -= np.outer(x, d11 * x)  # (dsyr's order)
                A[k + 1 :, k] = x * d11
            elif kstep == 2 and k < n - 2:
                d21 = A[k + 1, k]
                d11, d22 = A[k + 1, k + 1] / d21, A[k, k] / d21
                d21 = 1 / (d11 * d22 - 1) / d21
                a0, a1 = A[k + 2 :, k].copy(), A[k + 2 :, k + 1].copy()
                w0, w1 = d21 * (d11 * a0 - a1), d21 * (d22 * a1 - a0)
                A[k + 2 :, k + 2 :] = A[k + 2 :, k + 2 :] - np.outer(a0, w0) - np.outer(a1, w1)
                A[k + 2 :, k], A[k + 2 :, k + 1] = w0, w1
        piv[k : k + kstep] = kp + 1 if kstep == 1 else -(kp + 1)
        k += kstep
    return np.tril(A), piv, info


def _hetf2_swap(A, k, kk, kp, kstep):
    """zhetf2's interchange of rows and columns kk and kp (lower), conjugating what crosses
    the diagonal, with the pivots' diagonal made real."""
    if kp != kk:
        A[kp + 1 :, [kk, kp]] = A[kp + 1 :, [kp, kk]]
        t = np.conj(A[kk + 1 : kp, kk])
        A[kk + 1 : kp, kk] = np.conj(A[kp, kk + 1 : kp])
        A[kp, kk + 1 : kp] = t
        A[kp, kk] = np.conj(A[kp, kk])
        A[kk, kk], A[kp, kp] = A[kp, kp].real, A[kk, kk].real
        if kstep == 2:
            A[k, k] = A[k, k].real
            A[[k + 1, kp], k] = A[[kp, k + 1], k]
    else:
        A[k, k] = A[k, k].real
        if kstep == 2:
            A[k + 1, k + 1] = A[k + 1, k + 1].real


def _hetf2_update(A, k, kstep):
    """zhetf2's rank-1 (zher) or rank-2 update of the trailing lower triangle."""
    n = A.shape[0]
    if kstep == 1 and k < n - 1:
        x = A[k + 1 :, k].copy()
        r1 = 1 / A[k, k].real
        A[k + 1 :, k + 1 :] -= r1 * np.outer(x, np.conj(x))
        A[k + 1 :, k] = x * r1
    elif kstep == 2 and k < n - 2:
        d = abs(A[k + 1, k])
        d11, d22 = A[k + 1, k + 1].real / d, A[k, k].real / d
        d21 = A[k + 1, k] / d
        d = 1 / (d11 * d22 - 1) / d
        a0, a1 = A[k + 2 :, k].copy(), A[k + 2 :, k + 1].copy()
        w0, w1 = d * (d11 * a0 - d21 * a1), d * (d22 * a1 - np.conj(d21) * a0)
        A[k + 2 :, k + 2 :] -= np.outer(a0, np.conj(w0)) + np.outer(a1, np.conj(w1))
        A[k + 2 :, k], A[k + 2 :, k + 1] = w0, w1
    idx = np.arange(k + kstep, n)
    A[idx, idx] = A[idx, idx].real


LDLFactor = namedtuple("LDLFactor", ["LD", "pivots"])
LDLFactorEx = namedtuple("LDLFactorEx", ["LD", "pivots", "info"])


def ldl_factor_ex(A, *, hermitian: bool = False, check_errors: bool = False) -> LDLFactorEx:
    """(LD, pivots, info): A = P L D L^T P^T for symmetric A (its lower triangle is read) by
    Bunch-Kaufman pivoting, in LAPACK sytrf's compact form (D's 1 x 1 and 2 x 2 blocks on and
    below the diagonal, L's multipliers beneath, pivots 1-based and negative for 2 x 2
    blocks); info > 0 the first zero pivot (an error only with check_errors). No gradient."""
    ops._bool_args("linalg_ldl_factor_ex", hermitian=hermitian, check_errors=check_errors)
    A = _square("ldl_factor_ex", A)
    flat = A.data.reshape(math.prod(A.shape[:-2]), *A.shape[-2:])  # (-1: no size-0 matrices)
    parts = [_ldl_one(a, bool(hermitian)) for a in flat]
    LD = np.stack([p[0] for p in parts]).reshape(A.shape) if parts else np.zeros(A.shape, A.dtype)
    piv = np.array([p[1] for p in parts], np.int32).reshape(A.shape[:-1])
    info = np.array([p[2] for p in parts], np.int32).reshape(A.shape[:-2])
    if check_errors:
        _raise_info("ldl_factor_ex", info, "the diagonal element {i} is zero: A is singular")
    return LDLFactorEx(Tensor(LD.astype(A.dtype, copy=False)), Tensor(piv), Tensor(info))


def ldl_factor(A, *, hermitian: bool = False) -> LDLFactor:
    """(LD, pivots) of ldl_factor_ex; LinAlgError for singular A (as torch, which raises)."""
    ops._bool_args("linalg_ldl_factor", hermitian=hermitian)
    LD, piv, _ = ldl_factor_ex(A, hermitian=hermitian, check_errors=True)
    return LDLFactor(LD, piv)


def _ldl_solve_one(LD, piv, B, herm: bool = False):
    """LAPACK dsytrs (lower): X with A X = B from one matrix's ldl_factor (zhetrs with
    ``herm``: L^H in place of L^T)."""
    X, n = np.array(B, copy=True), LD.shape[0]
    cj = np.conj if herm and LD.dtype.kind == "c" else (lambda v: v)
    k = 0
    while k < n:  # L D Y = B
        kp = abs(int(piv[k])) - 1
        if piv[k] > 0:
            X[[k, kp]] = X[[kp, k]]
            X[k + 1 :] -= np.outer(LD[k + 1 :, k], X[k])
            X[k] /= LD[k, k]
            k += 1
        else:
            X[[k + 1, kp]] = X[[kp, k + 1]]
            X[k + 2 :] -= np.outer(LD[k + 2 :, k], X[k]) + np.outer(LD[k + 2 :, k + 1], X[k + 1])
            d = LD[k + 1, k]
            a0, a1 = LD[k, k] / cj(d), LD[k + 1, k + 1] / d
            b0, b1 = X[k] / cj(d), X[k + 1] / d
            denom = a0 * a1 - 1
            X[k], X[k + 1] = (a1 * b0 - b1) / denom, (a0 * b1 - b0) / denom
            k += 2
    k = n - 1
    while k >= 0:  # L^T X = Y
        kp = abs(int(piv[k])) - 1
        X[k] -= cj(LD[k + 1 :, k]) @ X[k + 1 :]
        if piv[k] < 0:
            X[k - 1] -= cj(LD[k + 1 :, k - 1]) @ X[k + 1 :]
        X[[k, kp]] = X[[kp, k]]
        k -= 1 if piv[k] > 0 else 2
    return X


def ldl_solve(LD, pivots, B, *, hermitian: bool = False) -> Tensor:  # noqa: N803
    """X with A X = B from ldl_factor's (LD, pivots) (LAPACK sytrs); no gradient (as torch)."""
    ops._bool_args("linalg_ldl_solve", hermitian=hermitian)
    F = _square("ldl_solve", LD)
    piv = np.asarray(pivots.data if isinstance(pivots, Tensor) else pivots)
    if piv.dtype.kind not in "iu":
        raise BadDtype(f"linalg.ldl_solve: pivots must be an integer tensor, got {piv.dtype}")
    if piv.shape != F.shape[:-1]:
        raise BadShapeOrValue(f"linalg.ldl_solve: pivots {piv.shape} do not fit LD {F.shape}")
    n = F.shape[-1]
    if piv.size and (np.abs(piv).min() < 1 or np.abs(piv).max() > n):
        raise BadShapeOrValue(
            f"linalg.ldl_solve: pivots must be between 1 and {n} in absolute value"
        )
    B = _lapack_float("linalg.ldl_solve", B)
    if B.dtype != F.dtype or B.ndim < 2 or B.shape[-2] != n:
        raise BadShapeOrValue(
            f"linalg.ldl_solve: LD {F.shape} and B ({B.dtype}, {B.shape}) do not fit"
        )
    batch = _batch("linalg.ldl_solve", F, B)
    k = math.prod(batch)  # (not -1: n or B's columns may be 0)
    Fb = np.broadcast_to(F.data, batch + F.shape[-2:]).reshape(k, n, n)
    Pb = np.broadcast_to(piv, batch + (n,)).reshape(k, n)
    Bb = np.broadcast_to(B.data, batch + B.shape[-2:]).reshape(k, *B.shape[-2:])
    with np.errstate(all="ignore"):  # a singular A: inf / NaN, as LAPACK
        X = [_ldl_solve_one(f, p, b, bool(hermitian)) for f, p, b in zip(Fb, Pb, Bb)]
    return Tensor(np.array(X, F.dtype).reshape(batch + B.shape[-2:]))


def diagonal(A, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    return ops.diagonal(A, offset, dim1, dim2)


matmul = ops.matmul


__all__ = [
    "LinAlgError", "cholesky", "cholesky_ex", "cond", "cross", "det", "diagonal", "eig", "eigh",
    "eigvals", "eigvalsh", "householder_product", "inv", "inv_ex", "ldl_factor", "ldl_factor_ex",
    "ldl_solve", "lstsq", "lu", "lu_factor", "lu_factor_ex", "lu_solve", "lu_unpack", "matmul",
    "matrix_exp", "matrix_norm", "matrix_power", "matrix_rank", "multi_dot", "norm", "pinv", "qr",
    "slogdet", "solve", "solve_ex", "solve_triangular", "svd", "svdvals", "tensorinv",
    "tensorsolve", "vander", "vecdot", "vector_norm",
]  # fmt: skip
