"""torch's output strides for copies and elementwise results (``.stride()`` as torch's).

NumPy lays a ufunc's result out in the inputs' order too (order='K'), but not by torch's
rules: a broadcast (stride-0) dim, equal strides and size-1 dims order differently, so a
result whose inputs are not all C-contiguous is checked here and re-laid out when the two
disagree. C-contiguous inputs (the common case) cost one flags test each.
"""

from __future__ import annotations

import numpy as np


def _elem_strides(a: np.ndarray) -> tuple:
    return tuple(s // a.itemsize for s in a.strides)


def non_overlapping_and_dense(shape, strides) -> bool:
    """c10's compute_non_overlapping_and_dense: the dims of size 2 and more, sorted by
    stride, tile memory without gaps or overlap."""
    dims = sorted((d for d in range(len(shape)) if shape[d] >= 2), key=lambda d: strides[d])
    need = 1
    for d in dims:
        if strides[d] != need:
            return False
        need *= shape[d]
    return True


def _order(shape, strides_list) -> list:
    """The dims fastest first, as TensorIterator's reorder_dimensions (and infer_dense_strides)
    sort them: by stride, a stride-0 (broadcast) dim ambiguous (it keeps its place), equal
    strides putting the smaller size first; each operand in turn breaks the ties the ones
    before it left. The same insertion sort as torch's, so the same order."""
    ndim = len(shape)
    perm = list(range(ndim - 1, -1, -1))

    def should_swap(d0, d1):
        for st in strides_list:
            s0, s1 = st[d0], st[d1]
            if s0 == 0 or s1 == 0:
                continue
            if s0 != s1:
                return -1 if s0 < s1 else 1
            if shape[d0] > shape[d1]:
                return 1
        return 0

    for i in range(1, ndim):
        d1 = i
        for d0 in range(i - 1, -1, -1):
            c = should_swap(perm[d0], perm[d1])
            if c > 0:
                perm[d0], perm[d1] = perm[d1], perm[d0]
                d1 = d0
            elif c < 0:
                break
    return perm


def _from_order(shape, perm, skip_small: bool) -> tuple:
    """Dense strides laying dims out in ``perm`` order (fastest first). infer_dense_strides
    steps over sizes 0 and 1 (skip_small); TensorIterator's compatible_stride multiplies by
    every size."""
    out = [0] * len(shape)
    step = 1
    for d in perm:
        out[d] = step
        if not skip_small or shape[d] > 1:
            step *= shape[d]
    return tuple(out)


def _contiguous(shape) -> tuple:
    out, step = [0] * len(shape), 1
    for d in range(len(shape) - 1, -1, -1):
        out[d] = step
        step *= max(shape[d], 1)
    return tuple(out)


def laid(a: np.ndarray) -> np.ndarray:
    """``a`` with torch's strides stated when it is empty. NumPy gives an empty array all-zero
    strides, which Tensor.stride reads as a fresh tensor's; a view of it (permute, diagonal,
    expand) would then report its own fresh strides, where torch's follow the input's (an empty
    (4, 0) tensor's t() has strides (1, 1), not (4, 1))."""
    if a.size or not a.ndim or any(a.strides):
        return a
    want = tuple(s * a.itemsize for s in _contiguous(a.shape))
    return np.lib.stride_tricks.as_strided(a, strides=want, writeable=a.flags.writeable)


def c_strides(y: np.ndarray) -> tuple:
    """torch's contiguous strides (in bytes) for y's shape and itemsize, cached."""
    key = (y.shape, y.itemsize)
    want = _C_ORDER.get(key)
    if want is None:
        want = tuple(s * y.itemsize for s in _contiguous(y.shape))
        if len(_C_ORDER) >= _CACHE_MAX:
            _C_ORDER.clear()
        _C_ORDER[key] = want
    return want


def c_order(y: np.ndarray) -> np.ndarray:
    """``y``, C-contiguous by NumPy's flag (which passes over the strides of size-1 dims),
    with torch's contiguous strides for those dims too (the product of the later sizes)."""
    want = c_strides(y)
    if y.strides == want or y.size == 0:
        return y
    return np.ndarray(y.shape, y.dtype, y, 0, want)


def preserved(a: np.ndarray) -> tuple:
    """The strides of torch's preserve_format copy of ``a`` (clone, empty_like and the other
    *_like factories): a's own when a is non-overlapping and dense, else dense strides in a's
    dim order (infer_dense_strides: an expanded dim keeps its place)."""
    key = (a.shape, a.strides, a.itemsize)
    want = _PRESERVED.get(key)
    if want is None:
        st = _elem_strides(a)
        if non_overlapping_and_dense(a.shape, st):
            want = st
        else:
            want = _from_order(a.shape, _order(a.shape, [st]), True)
        if len(_PRESERVED) >= _CACHE_MAX:
            _PRESERVED.clear()
        _PRESERVED[key] = want
    return want


def keep_size1(y: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``y``, a C-order copy of the C-contiguous array ``a``, with a's strides on its size-1
    dims too, as torch's preserve_format copy keeps them (NumPy's C flag passes over those
    dims: a (3, 1) tensor's t() has strides (1, 1) where a fresh (1, 3) has (3, 1)). ``y``
    may be of another dtype (a cast)."""
    if 1 in a.shape and y.size:
        want = a.strides
        if y.itemsize != a.itemsize:
            want = tuple(s // a.itemsize * y.itemsize for s in want)
        if y.strides != want:
            return np.ndarray(a.shape, y.dtype, y, 0, want)
    return y


def _channels_last(a: np.ndarray) -> bool:
    return a.ndim in (4, 5) and np.moveaxis(a, 1, -1).flags.c_contiguous


def elementwise(shape, arrays) -> tuple | None:
    """The strides of torch's TensorIterator output for inputs ``arrays`` (NumPy arrays; a
    Python number is a 0-d operand, as torch wraps it) broadcast to ``shape``; None for
    C-contiguous."""
    arrays = [a if type(a) is np.ndarray else np.empty(()) for a in arrays]
    same = all(a.shape == shape for a in arrays)
    if same:  # fast_set_up: all contiguous, all channels_last, or one dense layout shared
        if all(a.flags.c_contiguous for a in arrays):
            return None
        if all(_channels_last(a) for a in arrays):
            perm = [1, *range(len(shape) - 1, 1, -1), 0]
            return _from_order(shape, perm, False)
        first = _elem_strides(arrays[0])
        if non_overlapping_and_dense(shape, first) and all(
            _elem_strides(a) == first for a in arrays[1:]
        ):
            return first
    ndim = len(shape)
    strides_list = []
    for a in arrays:
        off = ndim - a.ndim
        st = [0] * off + [
            0 if n == 1 and shape[off + i] != 1 else s // a.itemsize
            for i, (n, s) in enumerate(zip(a.shape, a.strides, strict=True))
        ]
        strides_list.append(st)
    if ndim == 1:
        return (1,)
    return _from_order(shape, _order(shape, strides_list), False)


def empty(shape, strides, dtype) -> np.ndarray:
    """A fresh array of ``shape`` with element ``strides`` (dense: a permutation of C order,
    or torch's strides for a size-0 tensor)."""
    dtype = np.dtype(dtype)
    n = 1
    for s in shape:
        n *= s
    buf = np.empty(n, dtype)
    return np.ndarray(shape, dtype, buf, 0, tuple(s * dtype.itemsize for s in strides))


_CACHE: dict = {}  # (shape, the operands' shapes and strides) -> elementwise's strides
_PRESERVED: dict = {}  # (shape, strides, itemsize) -> preserved's strides
_C_ORDER: dict = {}  # (shape, itemsize) -> C-contiguous strides in bytes
_CACHE_MAX = 4096


def as_torch(y: np.ndarray, arrays) -> np.ndarray:
    """The elementwise result ``y`` of ``arrays`` laid out as torch's would be (itself when
    it already is). Callers test first that some input is not C-contiguous. The layouts a
    program uses repeat, so torch's rule (a sort in Python, some us) runs once for each."""
    key = (
        y.shape,
        *((a.shape, a.strides, a.itemsize) if type(a) is np.ndarray else 0 for a in arrays),
    )
    want = _CACHE.get(key)
    if want is None:
        want = elementwise(y.shape, arrays) or _contiguous(y.shape)
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[key] = want
    if _elem_strides(y) == want:
        return y
    out = empty(y.shape, want, y.dtype)
    np.copyto(out, y)
    return out


def view_strides(oldshape, oldstride, newshape) -> tuple | None:
    """torch's strides for a view of (oldshape, oldstride) as newshape (at::detail's
    computeStride), in elements; None when no view can give it (or the tensor is empty:
    NumPy's then). NumPy's reshape agrees on the dims of size 2 and more, not always on the
    size-1 ones (a (1,) tensor of stride 3 viewed as (1,) keeps 3 in torch)."""
    if not oldshape:
        return (1,) * len(newshape)
    numel = 1
    for s in oldshape:
        numel *= s
    if numel == 0:
        return None
    newstride = [0] * len(newshape)
    view_d = len(newshape) - 1
    chunk = oldstride[-1]
    tensor_numel = view_numel = 1
    for d in range(len(oldshape) - 1, -1, -1):
        tensor_numel *= oldshape[d]
        if d == 0 or (oldshape[d - 1] != 1 and oldstride[d - 1] != tensor_numel * chunk):
            while view_d >= 0 and (view_numel < tensor_numel or newshape[view_d] == 1):
                newstride[view_d] = view_numel * chunk
                view_numel *= newshape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if d > 0:
                chunk, tensor_numel, view_numel = oldstride[d - 1], 1, 1
    return tuple(newstride) if view_d == -1 else None


def viewed(y: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``y``, NumPy's reshape of ``a`` without a copy, with torch's view strides on its size-1
    dims (the others are the same: they follow from the elements' addresses). Callers test
    ``1 in y.shape`` first."""
    key = (a.shape, a.strides, y.shape, a.itemsize)
    want = _VIEWED.get(key)
    if want is None:
        st = view_strides(a.shape, _elem_strides(a), y.shape)
        want = y.strides if st is None else tuple(s * a.itemsize for s in st)
        if len(_VIEWED) >= _CACHE_MAX:
            _VIEWED.clear()
        _VIEWED[key] = want
    if y.strides == want or not y.size or not np.may_share_memory(y, a):
        return y
    return np.lib.stride_tricks.as_strided(y, strides=want, writeable=y.flags.writeable)


_VIEWED: dict = {}  # (shape, strides, new shape, itemsize) -> torch's view strides in bytes


def _expanded(shape, strides, target) -> tuple:
    """The strides of ``expand(target)`` (c10's inferExpandGeometry): a new leading dim of size
    1 takes the next dim's size * stride, a broadcast dim 0."""
    out = [0] * len(target)
    off = len(target) - len(shape)
    for i in range(len(target) - 1, -1, -1):
        d = i - off
        n = shape[d] if d >= 0 else 1
        s = strides[d] if d >= 0 else (target[i + 1] * out[i + 1] if i + 1 < len(target) else 1)
        out[i] = 0 if n != target[i] else s
    return tuple(out)


def advanced(x: np.ndarray, key, out_shape) -> tuple | None:
    """torch's strides (in elements) for x[key] with advanced (integer or bool array) indices,
    as its python indexing and at::index build them: the basic entries applied as views (a
    None's stride is the next dim's size * stride), a k-dim mask replaced by its nonzero()
    columns ((n,) of stride k), a True / False by a (1,) / (0,) index at a new dim, the indices
    broadcast by expand(), an int32 one copied to int64 (preserve_format), the indexed dims
    moved first when not adjacent, then the index kernel's TensorIterator over x restrided
    (stride 0 over the index shape) and the indices reshaped to the output's rank (view
    strides), ordered as ``elementwise`` orders operands. None where the key is not one this
    handles (NumPy's layout stays)."""
    if type(key) is not tuple:
        key = (key,)
    shape, st = x.shape, _elem_strides(x)
    used = 0
    for k in key:
        if type(k) is np.ndarray and k.dtype == bool:
            used += k.ndim
        elif k is not None and k is not Ellipsis and type(k) is not bool:
            used += 1
    dims, d = [], 0  # (size, stride, index operands or None) after the basic indexing
    for k in key:
        if k is None:
            dims.append((1, shape[d] * st[d] if d < len(shape) else 1, None))
        elif k is Ellipsis:
            for _ in range(len(shape) - used):
                dims.append((shape[d], st[d], None))
                d += 1
        elif type(k) is slice:
            start, stop, step = k.indices(shape[d])
            dims.append((len(range(start, stop, step)), st[d] * step, None))
            d += 1
        elif type(k) is np.ndarray and k.dtype.kind in "iu" and k.ndim:
            strides = _elem_strides(k)
            if k.dtype.itemsize < 8:  # (torch's .to(kLong) after the expand: see below)
                strides = ("int32", strides)
            dims.append((shape[d], st[d], [(k.shape, strides)]))
            d += 1
        elif type(k) is np.ndarray and k.dtype == bool and k.ndim:
            n = int(np.count_nonzero(k))  # (torch's nonzero columns: (n,) of stride k.ndim)
            for j in range(k.ndim):
                dims.append((shape[d + j], st[d + j], [((n,), (k.ndim,))]))
            d += k.ndim
        elif (type(k) is bool or type(k) is np.ndarray and k.dtype == bool) and not np.ndim(k):
            n = 1 if k else 0
            dims.append((1, shape[d] * st[d] if d < len(shape) else 1, [((n,), (1,))]))
        else:
            return None
    dims += [(shape[i], st[i], None) for i in range(d, len(shape))]
    at = [i for i, t in enumerate(dims) if t[2] is not None]
    if not at:
        return None
    index = [op for i in at for op in dims[i][2]]
    try:
        bshape = np.broadcast_shapes(*(s for s, _ in index))
    except ValueError:
        return None
    if at[-1] - at[0] + 1 != len(at):  # separated: torch moves the indexed dims to the front
        dims = [dims[i] for i in at] + [t for i, t in enumerate(dims) if t[2] is None]
        at = list(range(len(at)))
    before, after = dims[: at[0]], dims[at[-1] + 1 :]
    if tuple(out_shape) != (*(t[0] for t in before), *bshape, *(t[0] for t in after)):
        return None
    nb, na, k = len(before), len(after), len(bshape)
    src = (
        [t[0] for t in before] + list(bshape) + [t[0] for t in after],
        [t[1] for t in before] + [0] * k + [t[1] for t in after],
    )
    operands = [src]
    full = (1,) * nb + tuple(bshape) + (1,) * na
    for s, strides in index:
        cast = type(strides[0]) is str
        if cast:
            strides = strides[1]
        if tuple(s) != tuple(bshape):
            strides = _expanded(s, strides, bshape)
        if cast:  # int32: .to(int64) keeps a dense layout, else dense in its dim order
            if not non_overlapping_and_dense(bshape, strides):
                strides = _from_order(bshape, _order(bshape, [strides]), True)
        view = view_strides(bshape, strides, full) if bshape else (1,) * len(full)
        if view is None:  # (an empty index: reshape's own strides)
            view = _contiguous(full)
        operands.append((full, view))
    out_shape = tuple(out_shape)
    if len(out_shape) < 2:
        return None
    if all(tuple(s) == out_shape for s, _ in operands):  # TensorIterator's fast set-up
        if all(_is_contiguous(s, t) for s, t in operands):
            return _contiguous(out_shape)
        if all(_channels_last_strides(s, t) for s, t in operands):
            return _from_order(out_shape, [1, *range(len(out_shape) - 1, 1, -1), 0], False)
        first = operands[-1][1]
        if all(non_overlapping_and_dense(s, t) and tuple(t) == tuple(first) for s, t in operands):
            return tuple(first)
    ops = [
        [0 if n == 1 and out_shape[i] != 1 else t for i, (n, t) in enumerate(zip(s, ts))]
        for s, ts in operands
    ]
    perm = _order(out_shape, ops)
    if perm == list(range(len(out_shape) - 1, -1, -1)):
        return _contiguous(out_shape)
    return _from_order(out_shape, perm, False)


def _is_contiguous(shape, strides) -> bool:
    """c10's is_contiguous: C order over the dims of size 2 and more (any empty tensor)."""
    if 0 in shape:
        return True
    need = 1
    for n, s in zip(reversed(shape), reversed(strides)):
        if n != 1:
            if s != need:
                return False
            need *= n
    return True


def _channels_last_strides(shape, strides) -> bool:
    if len(shape) not in (4, 5):
        return False
    order = [1, *range(len(shape) - 1, 1, -1), 0]
    return _is_contiguous(
        [shape[d] for d in reversed(order)], [strides[d] for d in reversed(order)]
    )


class Face:
    """An array interface over memory that ``base`` owns, as NumPy's as_strided wrapper (whose
    ``base`` function.array_owner walks through): np.asarray(Face(...)) is the view. For
    views NumPy's indexing cannot make (an empty slice at its torch offset)."""

    __slots__ = ("__array_interface__", "base")

    def __init__(self, interface: dict, base: np.ndarray):
        self.__array_interface__ = interface
        self.base = base
