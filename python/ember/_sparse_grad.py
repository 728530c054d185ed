"""Row-sparse gradients, kept dense: what ``embedding(sparse=True)`` produces.

PyTorch's sparse embedding gradient is a sparse COO tensor holding only the looked-up rows.
ember keeps the gradient dense (same values) but marks which rows the lookups touched, so
optimisers can follow PyTorch's sparse semantics: SparseAdam updates only those rows (its lazy
moments), and optimisers that refuse sparse gradients in PyTorch refuse them here.

The mark survives the engine's accumulation: adding two row-sparse gradients unions their rows,
adding a dense one makes the sum dense (as in PyTorch), and scaling by a number keeps the rows.
"""

from __future__ import annotations

import numpy as np

_SCALINGS = {np.multiply, np.true_divide, np.negative, np.positive}


class RowSparseGrad(np.ndarray):
    """A dense gradient whose nonzero rows (dim 0) are among ``rows`` (sorted unique int64);
    ``rows`` None means dense."""

    rows: np.ndarray | None

    def __array_finalize__(self, obj):
        # copies and casts keep the mark; views of another shape (slices, reshapes) are dense
        same = obj is not None and getattr(obj, "shape", None) == self.shape
        self.rows = getattr(obj, "rows", None) if same else None

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        plain = [x.view(np.ndarray) if isinstance(x, RowSparseGrad) else x for x in inputs]
        if out is not None:
            kwargs["out"] = tuple(
                o.view(np.ndarray) if isinstance(o, RowSparseGrad) else o for o in out
            )
        result = getattr(ufunc, method)(*plain, **kwargs)
        rows = _rows_after(ufunc, inputs) if method == "__call__" else None
        if out is not None:
            for o in out:
                if isinstance(o, RowSparseGrad):
                    o.rows = rows
            return out[0] if len(out) == 1 else out
        return result if rows is None else mark(result, rows)


def _rows_after(ufunc, inputs):
    """The rows a ufunc's result may be nonzero in, or None (dense)."""
    arrays = [x for x in inputs if np.ndim(x) > 0]
    marked = [x.rows for x in arrays if isinstance(x, RowSparseGrad) and x.rows is not None]
    if len(marked) != len(arrays):
        return None
    if ufunc in (np.add, np.subtract) and len(arrays) == len(inputs):
        return marked[0] if len(marked) == 1 else np.unique(np.concatenate(marked))
    if ufunc in _SCALINGS and len(arrays) == 1 and inputs[0] is arrays[0]:
        return marked[0]
    return None


def mark(g: np.ndarray, rows) -> RowSparseGrad:
    """``g`` (no copy) marked as nonzero only in ``rows`` along dim 0."""
    out = g.view(RowSparseGrad)
    out.rows = np.unique(np.asarray(rows, dtype=np.int64))
    return out


def sparse_rows(grad) -> np.ndarray | None:
    """The touched rows of a gradient (a Tensor's ``.grad`` or its array), or None if dense."""
    g = getattr(grad, "data", grad)
    return g.rows if isinstance(g, RowSparseGrad) else None


def clear_rows(grad) -> None:
    """A zeroed row-sparse gradient touches no rows (PyTorch's sparse ``zero_()``)."""
    g = getattr(grad, "data", grad)
    if isinstance(g, RowSparseGrad) and g.rows is not None:
        g.rows = np.zeros(0, np.int64)
