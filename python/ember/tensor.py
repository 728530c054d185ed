"""Tensor: one NumPy array plus what autograd needs (grad, requires_grad, the node that made it)."""

from __future__ import annotations

import functools
import sys
import types
import warnings

import numpy as np

from ember import _C, _lowp, _strides
from ember._errors import BadDtype, BadShapeOrValue, NotNumbers
from ember._keywords import install_methods, numpy_names
from ember._sparse_grad import RowSparseGrad

_FLOAT_KINDS = "fc"  # the dtypes that can require gradients
_default_float = np.dtype(np.float32)


def get_default_dtype() -> np.dtype:
    """The dtype of new float tensors (Python floats, zeros/rand/...): float32 unless set."""
    return _default_float


def set_default_dtype(d) -> None:
    """Set the dtype of new float tensors (float16, bfloat16, float32 or float64), as torch's."""
    global _default_float
    try:
        dt = np.dtype(d)
    except TypeError:
        raise TypeError(f"set_default_dtype: expected a dtype, got {d!r}") from None
    if dt not in (np.float16, np.float32, np.float64, _lowp.bfloat16):
        raise TypeError(f"set_default_dtype: only floating-point dtypes are supported, got {dt}")
    _default_float = dt


# How tensors print: torch.set_printoptions' options and profiles (torch/_tensor_str.py's
# PRINT_OPTS); __repr__ formats with torch's _Formatter rules below.
_PRINT_PROFILES = {
    "default": {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80},
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
    "full": {"precision": 4, "threshold": sys.maxsize, "edgeitems": 3, "linewidth": 80},
}
_PRINT_OPTIONS = {**_PRINT_PROFILES["default"], "sci_mode": None}


def set_printoptions(
    precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None
) -> None:
    """How tensors print, as torch.set_printoptions: a ``profile`` ('default', 'short', 'full')
    sets the four sizes, the other arguments override it; ``sci_mode`` True / False forces or
    forbids scientific notation, None (every call that leaves it out) makes it automatic."""
    if profile is not None:
        if profile not in _PRINT_PROFILES:
            raise ValueError(f"set_printoptions: profile must be one of {list(_PRINT_PROFILES)}")
        _PRINT_OPTIONS.update(_PRINT_PROFILES[profile])
    given = {"precision": precision, "threshold": threshold, "edgeitems": edgeitems}
    for name, value in {**given, "linewidth": linewidth}.items():
        if value is not None:
            if not isinstance(value, int | np.integer) or value < 0:
                raise ValueError(f"set_printoptions: sizes must be ints >= 0, got {value!r}")
            _PRINT_OPTIONS[name] = int(value)
    _PRINT_OPTIONS["sci_mode"] = None if sci_mode is None else bool(sci_mode)


# torch's legacy tensor type names, as Tensor.type takes them
_LEGACY_TYPES = {
    "FloatTensor": np.float32, "DoubleTensor": np.float64, "HalfTensor": np.float16,
    "BFloat16Tensor": _lowp.bfloat16, "LongTensor": np.int64, "IntTensor": np.int32,
    "ShortTensor": np.int16, "CharTensor": np.int8, "ByteTensor": np.uint8,
    "BoolTensor": np.bool_, "ComplexFloatTensor": np.complex64,
    "ComplexDoubleTensor": np.complex128,
}  # fmt: skip


class _Formatter:
    """torch's _Formatter: one width for all of a tensor's numbers. Floats print fixed with
    ``precision`` decimals, whole ones as "3.", and in scientific notation when the nonzero
    finite magnitudes span more than 1000x, exceed 1e8 or (not whole) fall below 1e-4; the
    width counts nonzero finite values only (so nan, inf and 0. are not padded to it)."""

    def __init__(self, a: np.ndarray):
        p = _PRINT_OPTIONS["precision"]
        self.floating = a.dtype.kind == "f"
        self.int_mode, self.sci_mode, self.width = True, False, 1
        flat = a.reshape(-1)
        if not self.floating:
            if flat.size:
                ends = np.array([flat.min(), flat.max()]) if a.dtype.kind in "iu" else flat
                self.width = max(len(str(v)) for v in np.unique(ends).tolist())
        else:
            vals = flat[np.isfinite(flat) & (flat != 0)].astype(np.float64)
            if not vals.size:
                return
            mags = np.abs(vals)
            lo, hi = mags.min(), mags.max()
            self.int_mode = bool((vals == np.ceil(vals)).all())
            auto = hi / lo > 1000.0 or hi > 1.0e8 or (not self.int_mode and lo < 1.0e-4)
            forced = _PRINT_OPTIONS["sci_mode"]
            self.sci_mode = auto if forced is None else forced  # (the width is the mode's)
            vals = np.unique(vals).tolist()
            if self.sci_mode:
                self.width = max(len(f"{v:.{p}e}") for v in vals)
            elif self.int_mode:
                self.width = max(len(f"{v:.0f}") + 1 for v in vals)
            else:
                self.width = max(len(f"{v:.{p}f}") for v in vals)

    def format(self, v) -> str:
        if self.floating:
            p = _PRINT_OPTIONS["precision"]
            if self.sci_mode:
                out = f"{v:{self.width}.{p}e}"
            elif self.int_mode:
                out = f"{v:.0f}" + ("" if v != v or v in (np.inf, -np.inf) else ".")
            else:
                out = f"{v:.{p}f}"
        else:
            out = str(v)
        return " " * (self.width - len(out)) + out


def _summarized(a: np.ndarray, edge: int) -> np.ndarray:
    """torch's get_summarized_data: the edge rows of every dim (what a summary prints)."""
    if a.ndim == 0:
        return a
    if a.ndim == 1:
        return np.concatenate((a[:edge], a[-edge:])) if a.shape[0] > 2 * edge else a
    if not edge:
        return a[(slice(0, 0),) * a.ndim]
    rows = list(range(edge)) + list(range(len(a) - edge, len(a))) if len(a) > 2 * edge else None
    return np.stack([_summarized(a[i], edge) for i in (rows or range(len(a)))])


def _number_str(v, f1: _Formatter, f2: _Formatter | None) -> str:
    if f2 is None:
        return f1.format(v)
    imag = (f2.format(v.imag) + "j").lstrip()  # (torch: "+" unless the sign is there)
    return f1.format(v.real) + (imag if imag[0] in "+-" else "+" + imag)


def _body(a: np.ndarray, indent: int, summarize: bool, f1, f2) -> str:
    """torch's _tensor_str_with_formatter: rows nested with torch's commas, newlines and
    indents; a summary keeps ``edgeitems`` rows at each end around "..."."""
    edge, width = _PRINT_OPTIONS["edgeitems"], _PRINT_OPTIONS["linewidth"]
    if a.ndim == 0:
        return _number_str(a.item(), f1, f2)
    if a.ndim == 1:
        size = f1.width + 2 + (f2.width + 1 if f2 is not None else 0)
        per_line = max(1, int((width - indent) // size))
        if summarize and not edge:
            parts = ["..."]
        elif summarize and a.shape[0] > 2 * edge:
            head, tail = a[:edge].tolist(), a[-edge:].tolist()
            parts = [_number_str(v, f1, f2) for v in head] + [" ..."]
            parts += [_number_str(v, f1, f2) for v in tail]
        else:
            parts = [_number_str(v, f1, f2) for v in a.tolist()]
        lines = [", ".join(parts[i : i + per_line]) for i in range(0, len(parts), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    n = a.shape[0]
    if summarize and n > 2 * edge:
        rows = [_body(a[i], indent + 1, summarize, f1, f2) for i in range(edge)] + ["..."]
        rows += [_body(a[i], indent + 1, summarize, f1, f2) for i in range(n - edge, n)]
    else:
        rows = [_body(a[i], indent + 1, summarize, f1, f2) for i in range(n)]
    return "[" + ("," + "\n" * (a.ndim - 1) + " " * (indent + 1)).join(rows) + "]"


def _tensor_str(a: np.ndarray, indent: int) -> str:
    """torch's _tensor_str of a non-empty array: 16-bit floats print as float32, a complex
    array's real and imaginary parts each get a formatter."""
    summarize = a.size > _PRINT_OPTIONS["threshold"]
    if a.dtype == np.float16 or a.dtype == _lowp.bfloat16:
        a = a.astype(np.float32)
    edge = _PRINT_OPTIONS["edgeitems"]
    seen = _summarized(a, edge) if summarize else a
    if a.dtype.kind == "c":
        return _body(a, indent, summarize, _Formatter(seen.real), _Formatter(seen.imag))
    return _body(a, indent, summarize, _Formatter(seen), None)


def _with_suffixes(text: str, suffixes: list, indent: int) -> str:
    """torch's _add_suffixes: ", suffix" on the last line while it fits the line width. A
    dtype counts as torch's longer "dtype=torch.float64", so lines break where torch's do."""
    out, last = [text], len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        size = len(suffix) + (6 if suffix.startswith("dtype=") else 0)
        if last + size + 2 > _PRINT_OPTIONS["linewidth"]:
            out.append(",\n" + " " * indent + suffix)
            last = indent + size
        else:
            out.append(", " + suffix)
            last += size + 2
    return "".join(out) + ")"


def _other(x, op: str):
    """The ``other`` of the ``*_as`` methods: a Tensor (or array), as PyTorch requires."""
    if not isinstance(x, Tensor | np.ndarray):
        raise TypeError(f"{op}(): argument 'other' must be Tensor, not {type(x).__name__}")
    return x


def _default_dtype(data) -> np.dtype | None:
    """PyTorch's defaults: Python floats -> the default dtype, ints -> int64, bools -> bool."""
    if isinstance(data, np.ndarray | np.generic):
        return None  # NumPy input keeps its dtype, as torch.tensor(ndarray) does
    arr = np.asarray(data)
    if isinstance(data, list | tuple) and arr.dtype.kind in "biufc" and arr.size:
        scalars = _leaf_types(data)
        if any(issubclass(t, np.generic) for t in scalars):
            # NumPy scalars in a list keep their dtype, Python numbers take torch's defaults,
            # promoted together: tensor([np.float64(1.5), 2]) is float64, as torch's
            return functools.reduce(_ops.promote_types, map(_scalar_dtype, scalars))
    if arr.dtype.kind == "f":
        return _default_float
    if arr.dtype.kind in "iu":
        return np.dtype(np.int64)
    if arr.dtype.kind == "c":  # torch's default complex: complex128 iff the default is float64
        return np.dtype(np.complex128 if _default_float == np.float64 else np.complex64)
    return None


def _leaf_types(data) -> set:
    """The types of the numbers in a nested list/tuple (a flat list in one C-level pass)."""
    types = set(map(type, data))
    if list in types or tuple in types:
        types -= {list, tuple}
        for v in data:
            if isinstance(v, list | tuple):
                types |= _leaf_types(v)
    return types


def _scalar_dtype(t: type) -> np.dtype:
    """A number type's dtype in torch.tensor's inference."""
    if issubclass(t, np.generic):
        return np.dtype(t)
    return _default_dtype(t(0)) or np.dtype(bool)  # bool stays bool


def _legacy_size(shape: tuple) -> tuple:
    if any(s < 0 for s in shape):
        raise ValueError(f"Tensor: negative dimension in size {shape}")
    return shape


_NOT_OPERANDS = (str, bytes, list, tuple, dict, set)  # of the comparison operators


def _as_array(data, dtype=None, copy=True) -> np.ndarray:
    if type(data) is np.ndarray and dtype is None and not copy:
        # Tensor(array), from_numpy: the array itself when no check below could apply (~0.5 us)
        dt = data.dtype
        if dt.isnative and dt.kind in "biufc" and dt.itemsize <= 16 and dt != np.longdouble:
            return data
    if isinstance(data, Tensor):
        data = data.data
    elif hasattr(data, "__array__") and not isinstance(data, np.ndarray):
        data = np.asarray(data)  # a torch tensor: NumPy 2 would warn on its __array__(copy=)
    elif isinstance(data, list | tuple) and any(isinstance(d, Tensor) for d in data):
        tensors = all(isinstance(d, Tensor) for d in data)
        data = [np.asarray(d) for d in data]
        if tensors:  # tensor([t1, t2]) keeps their (promoted) dtype, as torch's
            data = np.asarray(data)
    if isinstance(data, np.ndarray) and (
        data.dtype.kind not in "biufc"
        or data.dtype == np.longdouble
        or data.dtype.kind == "c"
        and data.dtype.itemsize > 16
    ):
        if data.dtype != _lowp.bfloat16:  # (torch's TypeError: float128, objects, strings, dates)
            raise BadDtype(
                f"ember tensors hold bool, integer, float or complex data, not {data.dtype} "
                "(can't convert np.ndarray of that type)"
            )
    elif dtype is not None and not isinstance(data, np.ndarray | np.generic):
        # (NumPy would read None as NaN, "1.5" as 1.5 and any str as True: torch refuses)
        leaves = _leaf_types(data) if isinstance(data, list | tuple) else {type(data)}
        if not all(issubclass(t, _NUMBERS) for t in leaves):
            if (error := _data_error(data, dtype)) is not None:
                raise error
        if leaves <= _FLOAT_LEAVES and np.dtype(dtype).kind in "iu":
            data = _floats_fit(data, np.dtype(dtype))
    try:
        if dtype is None:
            dtype = _default_dtype(data)
        if copy:  # (torch.tensor keeps a dense array's strides; others' copy is C-ordered)
            dense = type(data) is not np.ndarray or _strides.non_overlapping_and_dense(
                data.shape, _strides._elem_strides(data)
            )
            order = "K" if dense else "C"
            arr = np.array(data, dtype, copy=True, order=order)
        else:
            order = None
            arr = np.asarray(data, dtype)
    except RuntimeWarning:  # a user's error filter on NumPy's cast warning (1e300 as float32):
        with np.errstate(all="ignore"):  # torch's inf, silently
            arr = np.array(data, dtype, copy=True, order=order) if copy else np.asarray(data, dtype)
    except OverflowError:  # (NumPy refuses tensor([-1], dtype=uint8): torch wraps it)
        arr = _narrow_ints(data, np.dtype(dtype))
    except ValueError:  # ragged data, or NaN / inf into an integer dtype (RuntimeError)
        if isinstance(data, list | tuple) and (error := _data_error(data, dtype)) is not None:
            raise error from None
        if dtype is None or np.dtype(dtype).kind not in "biu":
            raise
        raise BadShapeOrValue(
            f"value cannot be converted to type {np.dtype(dtype)} without overflow (NaN or inf)"
        ) from None
    if not arr.dtype.isnative:  # big-endian data (from a file): the kernels read native order
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if arr.dtype.kind not in "biufc" and arr.dtype != _lowp.bfloat16:
        if isinstance(data, list | tuple) or not isinstance(data, np.ndarray | np.generic):
            if (error := _data_error(data, dtype)) is not None:
                raise error
            if arr.dtype.kind == "O":  # Python ints beyond 64 bits (torch's ValueError)
                raise BadShapeOrValue(
                    "tensor: an integer overflows int64 (Overflow when unpacking)"
                )
        raise BadDtype(
            f"ember tensors hold bool, integer, float or complex data, not {arr.dtype} "
            f"(got {type(data).__name__})"
        )
    return arr


def _data_error(data, dtype) -> Exception | None:
    """torch.tensor's refusal of Python data that is not nested sequences of numbers, else
    None. Its shape comes from the first elements (as torch reads it): a sequence where a
    number belongs or the reverse is a TypeError, rows of another length a ValueError (torch's
    words), a non-number (None, a dict, a str) a TypeError (and torch's RuntimeError 'Could
    not infer dtype' without a dtype: BadDtype is both)."""
    shape, first = [], data
    while isinstance(first, list | tuple):
        shape.append(len(first))
        if not first:
            break
        first = first[0]
    if isinstance(first, str) and shape:  # (torch reads a str as a sequence here)
        return NotNumbers("tensor: data must hold numbers: too many dimensions 'str'")

    def walk(x, dim: int):
        if dim == len(shape):
            if isinstance(x, list | tuple):
                return TypeError(f"tensor: a sequence where a number belongs, at dim {dim}")
            if isinstance(x, _NUMBERS) or (dtype is not None and not isinstance(x, _NOT_NUMBERS)):
                return None  # (with a dtype NumPy converts what has __float__, __array__...)
            what = type(x).__name__
            if dtype is None and not isinstance(x, str | bytes):
                return BadDtype(f"tensor: data must hold numbers: could not infer dtype of {what}")
            return TypeError(f"tensor: data must hold numbers: invalid data type '{what}'")
        if not isinstance(x, list | tuple):
            return TypeError(f"tensor: not a sequence at dim {dim}: {type(x).__name__}")
        if len(x) != shape[dim]:
            return ValueError(
                f"tensor: expected sequence of length {shape[dim]} at dim {dim} (got {len(x)})"
            )
        for v in x:
            if (e := walk(v, dim + 1)) is not None:
                return e
        return None

    return walk(data, 0)


_NUMBERS = (int, float, complex, np.generic, np.ndarray)
# what torch.tensor refuses as an element even with a dtype (NumPy would read None as NaN and
# a str as True)
_NOT_NUMBERS = (type(None), str, bytes, dict, set, frozenset, types.GeneratorType)


_FLOAT_LEAVES = frozenset((float, np.float64, np.float32))


def _floats_fit(data, dtype: np.dtype) -> np.ndarray:
    """Python floats as an integer dtype by torch.tensor's checked conversion: one outside
    [min, max] compared as doubles (NaN too) is refused; 2.0**63 passes into int64 (wrapping
    to its min, as torch's cast, silently)."""
    try:
        f = np.asarray(data, np.float64)
    except ValueError:  # (ragged: the general path words it)
        return data
    info = np.iinfo(dtype)
    if f.size and not (f.min() >= float(info.min) and f.max() <= float(info.max)):
        bad = f[~((f >= float(info.min)) & (f <= float(info.max)))].flat[0]
        raise BadShapeOrValue(f"value {bad} cannot be converted to type {dtype} without overflow")
    with np.errstate(invalid="ignore"):
        return f.astype(dtype)


def _narrow_ints(data, dtype: np.dtype) -> np.ndarray:
    """Python ints into a narrower integer dtype as torch.tensor: an unsigned dtype takes
    negatives down to -max in two's complement (-1 as uint8 is 255); past that, refused."""
    try:
        wide = np.array(data, dtype=np.int64)
    except OverflowError:
        wide = None
    if wide is not None and dtype.kind in "iu":
        info = np.iinfo(dtype)
        lo = -int(info.max) if dtype.kind == "u" else info.min
        if not wide.size or (wide.min() >= lo and wide.max() <= info.max):
            return wide.astype(dtype)
    raise BadShapeOrValue(f"value cannot be converted to type {dtype} without overflow")


class Size(tuple):
    """A tensor's shape (``Tensor.shape``, ``Tensor.size()``): a tuple, as ``torch.Size``."""

    __slots__ = ()

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n

    def __repr__(self) -> str:
        return f"ember.Size({list(self)})"

    # str() (and so f-strings and error messages) keeps the plain tuple form
    __str__ = tuple.__repr__

    def __getitem__(self, index):
        out = tuple.__getitem__(self, index)
        return Size(out) if isinstance(index, slice) else out

    def __add__(self, other):
        return Size(tuple.__add__(self, other))


def _is_dtype(a) -> bool:
    return isinstance(a, np.dtype) or (isinstance(a, type) and issubclass(a, np.generic))


_FLOAT_OF_GRAD_WARNED = [False]  # float() of a tensor requiring grad warned once (as torch)


_T_DEPRECATED = (
    "The use of `x.T` on tensors of dimension other than 2 to reverse their shape is "
    "deprecated and it will throw an error in a future release. Consider `x.mT` to transpose "
    "batches of matrices or `x.permute(*torch.arange(x.ndim - 1, -1, -1))` to reverse the "
    "dimensions of a tensor."
)
_NO_DIM = object()  # x.max()'s dim left out (an explicit None is refused, as torch's)


def _given_dim(dim, axis, op: str):
    """x.max/min's dim: None when left out; torch's TypeError for an explicit None (not read
    as the whole tensor)."""
    if dim is _NO_DIM:
        return None
    if dim is None and axis is None:
        raise TypeError(f"{op}(): argument 'dim' must be int, not NoneType")
    return dim


def _setitem_name(index, advanced: bool, value) -> str:
    """torch's node for x[index] = value in the graph: an advanced index's IndexPutBackward0;
    a whole-tensor key's fill_ (a number) or copy_ (a Tensor); else the view's CopySlices."""
    if advanced:
        return "IndexPutBackward0"
    parts = index if type(index) is tuple else (index,)
    if all(p is Ellipsis or (type(p) is slice and p == slice(None)) for p in parts):
        return (
            "FillBackward3" if not isinstance(value, Tensor) else "torch::autograd::CopyBackwards"
        )
    return "torch::autograd::CopySlices"


class Tensor:
    """An n-dimensional array with automatic differentiation.

    Args:
        data: array-like (NumPy array, nested lists, scalar, or Tensor).
        requires_grad: record operations on this tensor for ``backward()``.
        dtype: NumPy dtype; by default Python floats become float32, ints int64,
            and NumPy arrays keep theirs.

    Example::

        >>> x = ember.tensor([[1.0, 2.0]], requires_grad=True)
        >>> (x * x).sum().backward()
        >>> x.grad.numpy()
        array([[2., 4.]], dtype=float32)
    """

    # _hooks: set only on tensors that get hooks (register_hook, retain_grad, ...): op outputs
    # never touch it, so the per-op cost is unchanged (see autograd/engine.py's _Hooks).
    # _written / _versions: set only on tensors written in place while in the graph, the last
    # write's count and the graph positions before each write (autograd.function's
    # note_graph_write). _fw: set only on dual leaves, their forward-AD
    # tangent (autograd/forward_ad.py). _no_grad_view: set only on a view made with grad mode
    # off of a tensor that requires grad (autograd.function's no_grad_view); _chained_view: on
    # a graph view of such a view, its mark (autograd.function's chained_mark). _view_of: on
    # a view made outside the graph, its root; _views: on that root, weak references to them.
    # _no_grad_base: on a _no_grad_view, the tensor it views (for _base). _vc: set only on a
    # tensor given another's memory by ``t.data = other``, the version counter it keeps.
    # _made_at: on a view made outside the graph, the write count then (views_follow).
    __slots__ = (
        "_data", "_grad", "_requires_grad", "_ctx", "_idx", "_hooks", "_written", "_versions",
        "_fw", "_inference", "_no_grad_view", "_chained_view", "_view_of", "_views",
        "_no_grad_base", "_vc", "_made_at", "__weakref__",
    )  # fmt: skip
    __array_priority__ = 1000  # NumPy defers to our operators: ndarray + Tensor -> Tensor

    def __init__(self, data=(), *args, requires_grad: bool = False, dtype=None):
        if type(data) is int and all(type(s) is int for s in args):
            # PyTorch's legacy sizes form: Tensor(3, 4) is a (3, 4) float tensor (zero-filled
            # here, uninitialised in torch), as in nn.Parameter(torch.Tensor(out, in))
            args, data = (), np.zeros(_legacy_size((data, *args)), get_default_dtype())
        if args:  # Tensor(data, requires_grad, dtype) positionally
            requires_grad, *args = args
            if args:
                (dtype,) = args
        if dtype is None and isinstance(data, list | tuple):
            dtype = get_default_dtype()  # torch.Tensor([1, 2]) is float32, as PyTorch's
        self._data = _as_array(data, dtype, copy=False)
        self._grad = None
        self._ctx = None
        self._idx = 0
        self._requires_grad = False
        if requires_grad:
            self.requires_grad = True

    @staticmethod
    def _make(data, requires_grad, ctx, idx):
        """Fast constructor for op outputs: no checks, no copies (always a plain Tensor)."""
        t = object.__new__(Tensor)
        # (a row-sparse gradient keeps its subclass: it marks embedding(sparse=True)'s rows)
        d = type(data)
        t._data = data if d is np.ndarray or d is RowSparseGrad else np.asarray(data)
        t._grad = None
        t._requires_grad = requires_grad
        t._ctx = ctx
        t._idx = idx
        return t

    # ---- autograd state -------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and self.data.dtype.kind not in _FLOAT_KINDS and self.data.dtype != _lowp.bfloat16:
            raise RuntimeError(
                f"only floating point tensors can require gradients, not {self.data.dtype}"
            )
        if self._ctx is not None:  # (either way, as torch's setter; requires_grad_(True) passes)
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables."
                + (
                    ""
                    if value
                    else " If you want to use a computed variable in a subgraph that doesn't "
                    "require differentiation use var_no_grad = var.detach()."
                )
            )
        if value and getattr(self, "_inference", False) and not _autograd_state().inference:
            raise RuntimeError(
                "Setting requires_grad=True on inference tensor outside InferenceMode is not "
                "allowed."
            )
        if getattr(self, "_no_grad_view", None) is not None:
            if not value:  # (torch's view requires grad through its base: no effect)
                return
            # asked for explicitly, a view made under no_grad takes its gradient, as torch's
            # (which still refuses in-place writes to it: the leaf's refusal here)
            self._no_grad_view = None
        if bool(value) != self._requires_grad and getattr(self, "_views", None):
            _function.views_follow(self, bool(value))
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self._ctx is not None:  # a non-leaf already requires grad
            return self
        self.requires_grad = requires_grad
        return self

    @property
    def grad(self):
        """The accumulated gradient: a Tensor of this tensor's shape and dtype, or None."""
        if self._ctx is not None and not self.retains_grad:  # (torch's warning, its words)
            warnings.warn(
                "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. "
                "Its .grad attribute won't be populated during autograd.backward(). If you "
                "indeed want the .grad field to be populated for a non-leaf Tensor, use "
                ".retain_grad() on the non-leaf Tensor. If you access the non-leaf Tensor by "
                "mistake, make sure you access the leaf Tensor instead.",
                UserWarning,
                stacklevel=2,
            )
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        # torch's checks (RuntimeError there): a Tensor of the same shape and dtype, or None.
        # NumPy arrays are refused as torch does: a bare array would break accumulation.
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(
                    "assigned grad expected to be a Tensor or None but got grad of type "
                    f"{type(value).__name__}"
                )
            if value is self:
                raise ValueError("can't assign a tensor as its own grad")
            got, want = value.data, self.data
            if got.shape != want.shape:
                raise BadShapeOrValue(  # (torch: RuntimeError)
                    f"assigned grad has data of a different size: a gradient of shape "
                    f"{tuple(got.shape)} for a tensor of shape {tuple(want.shape)}"
                )
            if got.dtype != want.dtype:
                raise BadDtype(  # (torch: RuntimeError)
                    f"assigned grad has data of a different type: a gradient of dtype "
                    f"{got.dtype} for a tensor of dtype {want.dtype}"
                )
        self._grad = value

    @property
    def grad_fn(self):
        if self._requires_grad and _function._graph_writes:  # (no write yet: nothing to check)
            _function.rebased_no_grad_view(self)
            _inplace.regenerate(self)
        ctx = self._ctx
        return ctx if ctx is None else _function.public_node(ctx)

    @property
    def _base(self):
        """torch's ``_base``: the tensor this view's memory belongs to (the root of a chain of
        views), None for a tensor that is not a view (detach(), .data, a copy) or is an inference
        tensor (torch's record no view metadata). Walked on demand: view ops pay nothing."""
        if self.data.base is None and self.data.size or getattr(self, "_inference", False) is True:
            return None
        if self._ctx is None:
            src = getattr(self, "_view_of", None)
            if src is None:
                src = getattr(self, "_no_grad_base", None)
                if src is None:
                    return None
            root = src._base
            return src if root is None else root
        t = _inplace.graph_root(self)
        if t is self:
            return None
        root = t._base
        return t if root is None else root

    def _is_view(self) -> bool:
        """torch's ``_is_view()``: whether this tensor is a view of another (has a _base)."""
        return self._base is not None

    @property
    def _version(self) -> int:
        """torch's version counter: how many in-place writes this tensor's memory (shared
        with its views and its base) has taken. Counted from the first recorded graph node or
        ``_version`` read on (before that nothing needs it, and pure inference pays nothing)."""
        if getattr(self, "_inference", False) is True:  # (not once detached outside the mode)
            raise RuntimeError("Inference tensors do not track version counter.")
        if _function._swapped:
            counter = _function.counter_of(self)
            if counter is not None:
                return counter[2]
        return _function.version(self.data)

    @property
    def is_leaf(self) -> bool:
        if self._requires_grad and _function._graph_writes:
            _function.rebased_no_grad_view(self)
        return self._ctx is None

    def backward(
        self, gradient=None, retain_graph=None, create_graph: bool = False, inputs=None
    ) -> None:
        """Accumulate the gradient of this tensor into every leaf that requires grad.

        Args:
            gradient: d(out)/d(self) for a non-scalar tensor; defaults to 1 for a scalar.
            retain_graph: keep the graph so backward can run through it again.
            create_graph: record the gradients' own graph (higher-order gradients); implies
                retain_graph unless that is given.
            inputs: accumulate only into these tensors' ``.grad`` (leaves or not).
        """
        _engine.backward(self, gradient, retain_graph, create_graph, inputs)

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned tensor
        replaces the gradient. Returns a handle whose ``remove()`` unregisters the hook."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if _function._graph_writes:  # (a view whose base was written: its rebuilt node's hook)
            _inplace.regenerate(self)
        return _engine.hooks_of(self).add("pre", hook)

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(tensor)`` after a leaf's ``.grad`` has been accumulated."""
        if self._ctx is not None:
            raise RuntimeError("post-accumulate grad hooks can only be registered on leaves")
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        return _engine.hooks_of(self).add("post", hook)

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in ``.grad`` (a no-op on leaves)."""
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if _function._graph_writes:
            _inplace.regenerate(self)
        if self._ctx is not None:
            _engine.hooks_of(self).retain = True

    @property
    def retains_grad(self) -> bool:
        hooks = getattr(self, "_hooks", None)
        return self._ctx is not None and hooks is not None and hooks.retain

    def detach(self) -> Tensor:
        """The same data (no copy), cut from the graph. As torch's: a normal tensor's stays
        normal (made in inference_mode too), an inference tensor's stays one, which outside the
        mode may yet be written in place (its views may not): ``_inference`` "detached"."""
        # (Tensor._make's body: its marking version, while an inference_mode block is open,
        # would take self's memory for inference memory, as if t owned it)
        t = object.__new__(Tensor)
        t._data, t._grad, t._requires_grad, t._ctx, t._idx = self.data, None, False, None, 0
        if _function._swapped and (counter := _function.counter_of(self)) is not None:
            t._vc = counter  # (torch's detach() shares the version counter)
        if _function._inference_made:
            inference = getattr(self, "_inference", False)
            if inference and not _autograd_state().inference:
                inference = "detached"
            t._inference = inference
        return t

    def detach_(self) -> Tensor:
        if _autograd_state().inference:  # (torch's inference mode skips autograd's detach_:
            return self  # the tensor keeps its grad_fn and requires_grad, views included)
        # (torch refuses every view; ember knows those made under no_grad of a tensor that
        # requires grad, a graph view by its node's input, and a view made outside the graph
        # by its link (_view_of). Not a view ember's own modules return from a fresh buffer
        # where torch's do not, e.g. an RNN's h_n, which training loops detach_())
        ctx = self._ctx  # a graph view: its node's input shares its memory (x[0], x.view(-1))
        if (
            getattr(self, "_no_grad_view", None) is not None
            or getattr(self, "_view_of", None) is not None
        ) or (
            ctx is not None
            and not ctx._not_view  # (x's own array written, or not a view: Function._not_view)
            and any(
                p is not None and _function.shares_memory(self.data, p.data) for p in ctx.parents
            )
        ):
            raise RuntimeError(  # (torch's words)
                "Can't detach views in-place. Use detach() instead. If you are using "
                "DistributedDataParallel (DDP) for training, and gradient_as_bucket_view is set "
                "as True, gradients are views of DDP buckets, and hence detach_() cannot be "
                "called on these gradients. To fix this error, please refer to the Optimizer."
                "zero_grad() function in torch/optim/optimizer.py as the solution."
            )
        if ctx is not None:  # nodes recorded before (its views' too) keep their edge, as torch's
            _function.note_graph_write(self, values=False)
        if self._requires_grad and getattr(self, "_views", None):
            _function.views_follow(self, False)
        self._ctx = None
        self._requires_grad = False
        return self

    # ---- pickling and copying -------------------------------------------------------------
    # As torch: a pickle (or copy.copy) holds the values with their strides, dtype, subclass,
    # requires_grad and attributes -- never the graph, hooks or ``.grad``: an op's output comes
    # back as a leaf. A view holds the memory it views, whole, and its offset there (torch's
    # storage: storage_offset() survives; views pickled together each hold their own copy, as
    # torch's, hence a new array object per view). deepcopy copies the memory and ``.grad``
    # and refuses non-leaves.
    def __reduce_ex__(self, protocol):
        payload = _storage_payload(self.data)
        if payload is None:
            payload = _strided_payload(self.data)
        else:
            payload = (payload[0].view(), *payload[1:])
        return _rebuild_tensor, (type(self), payload, self._requires_grad, _extra_state(self))

    def __deepcopy__(self, memo):
        import copy

        if self._ctx is not None:
            raise RuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support the deepcopy "
                "protocol at the moment."
            )
        # (the memory it views, whole: views deep-copied together share their copy, each at
        # its offset, as torch's storages in one deepcopy)
        payload = _storage_payload(self.data) or _strided_payload(self.data)
        payload, state = copy.deepcopy((payload, _extra_state(self)), memo)
        new = _rebuild_tensor(type(self), payload, self._requires_grad, state)
        memo[id(self)] = new
        if self._grad is not None and not _is_parameter(self):  # (torch's Parameter drops it)
            new._grad = copy.deepcopy(self._grad, memo)
        return new

    # ---- array facts ----------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        # a plain tuple (equal to a Size): ops read shapes all the time, and a Size per read
        # costs ~0.5 us on a small add
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    def dim(self) -> int:
        return self.data.ndim

    def size(self, dim: int | None = None):
        """The shape (PyTorch's ``size()``), or the length of one dimension."""
        if dim is None:
            return Size(self.data.shape)
        if type(dim) is not int:
            dim = _ops._index_dim(dim, "size")  # (True is no dim, as torch)
        return self.data.shape[dim]

    def numel(self) -> int:
        return self.data.size

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def is_floating_point(self) -> bool:
        return _lowp.is_float(self.data.dtype)

    def is_complex(self) -> bool:
        return self.data.dtype.kind == "c"

    def is_signed(self) -> bool:
        return self.data.dtype.kind in "ifc" or self.data.dtype == _lowp.bfloat16

    def is_contiguous(self, memory_format=None) -> bool:
        if memory_format is None:
            return self.data.flags.c_contiguous
        return _layout.is_in(self.data, memory_format)

    def stride(self, dim: int | None = None):
        """Steps between elements along each dim, in elements (as torch), not bytes."""
        d = self.data
        if d.size or any(d.strides):  # (an empty view, or torch's layout set: _index_laid)
            n = d.itemsize  # (a list's comprehension: ~0.2 us less than a generator's)
            strides = tuple([s // n for s in d.strides])
        else:  # (NumPy's are all 0: torch's of a fresh empty tensor, each size counted >= 1)
            strides, step = [0] * d.ndim, 1
            for i in range(d.ndim - 1, -1, -1):
                strides[i], step = step, step * max(d.shape[i], 1)
            strides = tuple(strides)
        if dim is None:
            return strides
        if isinstance(dim, bool) or (type(dim) is Tensor and (dim.ndim or dim.dtype == np.bool_)):
            raise TypeError(
                f"stride(): argument 'dim' (position 1) must be int, not {type(dim).__name__}"
            )
        return strides[dim]

    def data_ptr(self) -> int:
        return self.data.ctypes.data

    const_data_ptr = data_ptr

    def is_set_to(self, tensor) -> bool:
        """Whether both tensors view the same elements in the same layout (torch's: one
        storage, offset, size and stride)."""
        a, b = self.data, tensor.data
        return (
            np.may_share_memory(a, b)
            and a.ctypes.data == b.ctypes.data
            and a.dtype == b.dtype
            and self.shape == tensor.shape
            and self.stride() == tensor.stride()
        )

    @property
    def output_nr(self) -> int:
        """Which output of the node that made it this tensor is (0 for a leaf)."""
        return self._idx if self._ctx is not None else 0

    def lu(self, pivot: bool = True, get_infos: bool = False):
        """torch.Tensor.lu (deprecated there for linalg.lu_factor)."""
        from ember import _aliases

        return _aliases.lu(self, pivot, get_infos)

    def lu_solve(self, LU_data, LU_pivots):  # noqa: N803
        """torch.Tensor.lu_solve: this tensor as the right-hand side b."""
        from ember import _aliases

        return _aliases.lu_solve(self, LU_data, LU_pivots)

    def untyped_storage(self):
        """The memory the tensor views, as torch's UntypedStorage: the NumPy array that owns
        it (``data_ptr()`` equal for tensors that share memory, ``nbytes()``)."""
        return _Storage(self.data)

    def dim_order(self, *, ambiguity_check: bool = False) -> tuple:
        """The dims from outermost to innermost in memory (by decreasing stride)."""
        strides = self.stride()
        return tuple(sorted(range(self.ndim), key=lambda d: -strides[d]))

    def to_dense(self, dtype=None, *, masked_grad=None) -> Tensor:
        """A dense tensor: ember's tensors are dense already (itself, or a cast)."""
        return self if dtype is None else self.to(dtype)

    def element_size(self) -> int:
        return self.data.itemsize

    @property
    def itemsize(self) -> int:
        return self.data.itemsize

    @property
    def nbytes(self) -> int:
        return self.data.nbytes

    nelement = numel
    ndimension = dim

    @property
    def is_cpu(self) -> bool:
        return True

    def is_same_size(self, other) -> bool:
        return self.shape == _other(other, "is_same_size").shape

    def is_nonzero(self) -> bool:
        if self.data.size != 1:
            raise RuntimeError(
                f"is_nonzero: a tensor with {self.data.size} elements has no single truth value"
            )
        return bool(self.data.reshape(-1)[0])

    def sum_to_size(self, *sizes, size=None):
        """Sum this tensor down to ``size`` (which must expand to its shape), with gradients."""
        if not sizes and size is None:  # (torch's TypeError)
            raise TypeError('sum_to_size() missing 1 required positional arguments: "size"')
        size = sizes or (size,)  # (size=: torch's keyword)
        size = tuple(size[0]) if len(size) == 1 and isinstance(size[0], tuple | list) else size
        lead = self.ndim - len(size)
        if lead < 0 or any(s != 1 and s != n for s, n in zip(size, self.shape[lead:])):
            raise BadShapeOrValue(  # (torch's RuntimeError)
                f"sum_to_size: size {size} is not expandable to shape {self.shape}"
            )
        dims = tuple(range(lead)) + tuple(
            lead + i for i, s in enumerate(size) if s == 1 and self.shape[lead + i] != 1
        )
        return _ops.reshape(_ops.sum(self, dims, keepdim=True), size) if dims else self

    # ---- conversion -----------------------------------------------------------------------
    def numpy(self, force: bool = False) -> np.ndarray:
        """The underlying array itself (no copy; ``force`` is torch's, for tensors that
        require grad, which ember never refuses)."""
        return self.data

    def item(self):
        if self.data.size != 1:  # (torch's RuntimeError; float(t) / int(t): its ValueError)
            raise BadShapeOrValue(
                f"item(): a Tensor with {self.data.size} elements cannot be converted to "
                f"Scalar (only one-element tensors can, got shape {tuple(self.shape)})"
            )
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def __array__(self, dtype=None, copy=None):
        if copy:
            return np.array(self.data, dtype=dtype, copy=True)
        if dtype is None or np.dtype(dtype) == self.data.dtype:
            return self.data
        if copy is False:
            raise ValueError("__array__: a dtype change needs a copy")
        return self.data.astype(dtype)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        # NEP 13: common ufuncs on Tensors become ember ops (with gradients). Any other use
        # (out=, where=, reduce, at, ...) runs NumPy's ufunc on the arrays, as on a torch
        # tensor: `p.data += -lr * p.grad` writes into the parameter's array, unrecorded.
        fn = _UFUNCS.get(ufunc) if method == "__call__" and not kwargs else None
        if fn is not None:
            if len(inputs) == 2 and isinstance(inputs[0], np.generic) and ufunc in _REFLECTED:
                # np.float64(2) - x: torch's x.__rsub__(2) (NumPy's scalar defers to the
                # tensor there): its node and edges (RsubBackward1; mul's x edge first)
                return getattr(inputs[1], _REFLECTED[ufunc])(inputs[0])
            return fn(*inputs)

        def array(x):
            return x.data if isinstance(x, Tensor) else x

        out = kwargs.get("out")
        kwargs = {k: array(v) for k, v in kwargs.items()}
        if out is not None:
            kwargs["out"] = tuple(array(o) for o in out)
        result = getattr(ufunc, method)(*map(array, inputs), **kwargs)
        if out is not None:  # NumPy's rule: the result is the out argument itself
            return out[0] if len(out) == 1 else out
        return result

    def __dlpack__(self, **kwargs):
        return self.data.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self.data.__dlpack_device__()

    def astype(self, dtype) -> Tensor:
        return _ops.cast(self, np.dtype(dtype))

    def to(
        self,
        *args,
        dtype=None,
        device=None,
        non_blocking: bool = False,
        copy: bool = False,
        memory_format=None,
        tensor=None,
    ):
        """A cast to a dtype (``to(np.float64)``, ``to(other_tensor)``, torch's
        ``to(tensor=other)``) and/or a memory format; "cpu" changes nothing, "meta" gives a
        shape-only tensor, other devices are refused."""
        if len(args) == 1 and type(args[0]) is type and not copy and memory_format is None:
            dt = _TO_DTYPES.get(args[0])  # the common .to(float16): no device parsing (~1.5 us)
            if dt is not None and dtype is None and device is None and tensor is None:
                return self if dt == self.dtype else _ops.cast(self, dt)
        if args and type(args[-1]) is bool:  # torch's positional (..., non_blocking, copy)
            flags = [a for a in args if type(a) is bool]
            args = args[: len(args) - len(flags)]
            if len(flags) > 2 or not args or any(type(a) is bool for a in args):
                raise TypeError(f"to(): got an invalid combination of positional arguments {args}")
            non_blocking, copy = (*flags, copy)[:2] if len(flags) == 1 else flags
        if tensor is not None:
            args = (tensor, *args)
        dtype, device = _device.parse_to_device(args, dtype, device)
        if device is not None:
            out = self._to_device(device, dtype)
            if out is not None:
                return out
        if isinstance(dtype, str):  # (NumPy's codes 'c', 'U', 'O', 'M8' name no tensor dtype)
            try:
                ok = np.dtype(dtype).kind in "biufc" or _lowp.is_float(np.dtype(dtype))
            except TypeError:
                ok = False
            if not ok:  # (torch's RuntimeError: not a device string either)
                raise BadDtype(f"to(): {dtype!r} is neither a dtype nor a device")
        if dtype is None or np.dtype(dtype) == self.dtype:
            out = self.clone() if copy else self
        else:
            out = _ops.cast(self, np.dtype(dtype))
        return out if memory_format is None else out._in_layout(memory_format)

    def _cast_in(self, dtype, memory_format) -> Tensor:
        """float(), byte(), ...: a cast, then torch's optional memory_format."""
        out = _ops.cast(self, dtype)
        return out if memory_format is None else out._in_layout(memory_format)

    def _in_layout(self, memory_format) -> Tensor:
        """This tensor, or a copy (in the graph) laid out in ``memory_format``."""
        array = _layout.relayout(self.data, memory_format)
        if array is self.data:
            return self
        out = _ops.clone(self)  # the graph node: a copy passes its gradient through
        out.data = array
        return out

    def _to_device(self, device, dtype):
        """This tensor on the meta device, or None where it stays on the CPU."""
        if device.type == "meta":
            dt = self.dtype if dtype is None else np.dtype(dtype)
            return Tensor(_device.meta_array(self.shape, dt), requires_grad=self.requires_grad)
        if self.is_meta:
            raise NotImplementedError("Cannot copy out of meta tensor; no data!")
        return None

    def cpu(self, memory_format=None) -> Tensor:
        out = self._to_device(_device.CPU, None) or self
        return out if memory_format is None else out._in_layout(memory_format)

    @property
    def device(self):
        # (an array owning its memory is never meta: that test alone covers most tensors)
        d = self.data
        return _device.META if d.base is not None and _device.is_meta(d) else _device.CPU

    @property
    def is_meta(self) -> bool:
        d = self.data
        return d.base is not None and _device.is_meta(d)

    @property
    def is_cuda(self) -> bool:
        return False

    def float(self, memory_format=None) -> Tensor:
        return self._cast_in(np.dtype(np.float32), memory_format)

    def double(self, memory_format=None) -> Tensor:
        return self._cast_in(np.dtype(np.float64), memory_format)

    def long(self, memory_format=None) -> Tensor:
        return self._cast_in(np.dtype(np.int64), memory_format)

    def int(self, memory_format=None) -> Tensor:
        return self._cast_in(np.dtype(np.int32), memory_format)

    def bool(self, memory_format=None) -> Tensor:
        return self._cast_in(np.dtype(np.bool_), memory_format)

    def clone(self, memory_format=None) -> Tensor:
        d = self._data
        if (
            memory_format is None
            and not self._requires_grad
            and type(d) is np.ndarray
            and d.ndim == 2
            and d.base is not None
            and d.flags.f_contiguous
            and not d.flags.c_contiguous
        ):
            # overhead36: x.t().clone() outside autograd: torch's preserve_format keeps the
            # transposed layout (ops._clone_array's dense strides), here as the C-order copy of
            # its transpose, transposed back (~1.3 us of the general layout rules less)
            return _plain(_ops._copy(d.T).T)
        out = _ops.clone(self)
        return out if memory_format is None else out._in_layout(memory_format)

    def contiguous(self, memory_format=None) -> Tensor:
        if memory_format is not None:
            return self._in_layout(memory_format)
        return self if self.data.flags.c_contiguous else _ops.contiguous_copy(self)

    def copy_(self, src, non_blocking: bool = False) -> Tensor:
        """Copy src's values into this tensor's storage, in place (recorded when src is in the
        graph and this tensor is not). non_blocking is torch's device-copy flag: a no-op here."""
        if is_grad_enabled() and isinstance(src, Tensor) and src._requires_grad:
            self[...] = src
            return self
        self._needs_record(None, rebind=False)  # graph tensors: refuse, not wrong gradients
        src = np.asarray(src.data if isinstance(src, Tensor) else src)
        try:
            src = np.broadcast_to(src, self.shape)
        except ValueError:  # (NumPy's words; torch's RuntimeError)
            raise BadShapeOrValue(
                f"copy_: the source's shape {src.shape} could not be broadcast to "
                f"{tuple(self.shape)}"
            ) from None
        if src.dtype.kind == "c" and self.data.dtype.kind not in "bc":  # (not NumPy's warning)
            warnings.warn(
                "Casting complex values to real discards the imaginary part", UserWarning, 2
            )
            src = src.real
        if src.dtype == _lowp.bfloat16 and self.data.dtype.kind in "iu":
            src = _lowp.widen(src)  # (through float32, as torch: ml_dtypes' casts saturate)
        try:
            np.copyto(self.data, src, casting="unsafe")
        except RuntimeWarning:  # (a user's error filter: NaN -> int is torch's value, silently)
            _ops._quiet_all(np.copyto, self.data, src, "unsafe")
        return self

    def zero_(self) -> Tensor:
        return self.fill_(0)

    def fill_(self, value) -> Tensor:
        if isinstance(value, Tensor) and value.ndim:  # (torch's refusal, even of one element)
            raise BadShapeOrValue(
                f"fill_ only supports 0-dimension value tensor but got tensor with {value.ndim} "
                "dimensions."
            )
        d = self.data
        if not d.flags.writeable:  # an expand()ed tensor: torch fills the memory it views
            if isinstance(value, Tensor):  # (but not with a tensor's value)
                _check_no_internal_overlap(d)
            d = _expanded_alias(d)
            if d is None:
                self._writeable(any_order=not isinstance(value, Tensor) or value.data.size == 1)
                d = self.data
        if d is self.data or self._requires_grad:  # graph tensors: refuse, not wrong gradients
            self._needs_record(None, rebind=False, writeable=d is not self.data)
        if isinstance(value, Tensor):  # (cast as .to casts: a bfloat16 NaN into int32 is INT_MIN)
            value = value.detach()
            if value.data.dtype.kind == "c" and d.dtype.kind != "c":
                value = value.real  # (torch's fill_ drops the imaginary part without a warning)
            v = value.data
            d[...] = v if v.dtype == d.dtype else value.to(self.dtype).data
        else:
            d[...] = _ops._fill_value(value, self.dtype)
        return self

    def __repr__(self) -> str:
        # torch/_tensor_str.py's _str_intern: the body, then size / dtype / grad_fn or
        # requires_grad suffixes (dtype when not the default float or complex, int64 or bool;
        # an empty tensor's unless the default float)
        d, dt = self.data, self.data.dtype
        suffixes = []
        if d.size == 0:
            if d.ndim != 1:
                suffixes.append(f"size={tuple(d.shape)}")
            if dt != _default_float:
                suffixes.append(f"dtype={dt}")
            body = "[]"
        else:
            if not _PRINT_OPTIONS["edgeitems"]:
                suffixes.append(f"size={tuple(d.shape)}")
            complex_default = np.complex128 if _default_float == np.float64 else np.complex64
            if dt not in (_default_float, complex_default, np.int64, np.bool_):
                suffixes.append(f"dtype={dt}")
            body = _tensor_str(d, len("tensor("))
        if self._ctx is not None:
            suffixes.append(f"grad_fn=<{self._ctx.name}>")
        elif self._requires_grad:
            suffixes.append("requires_grad=True")
        return _with_suffixes("tensor(" + body, suffixes, len("tensor("))

    def __format__(self, spec: str) -> str:
        # f"{loss:.4f}": a 0-d tensor formats as its value, as PyTorch's
        if self.data.ndim == 0:
            return self.data.item().__format__(spec)
        return object.__format__(self, spec)

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise RuntimeError(
                f"the truth value of a tensor with {self.data.size} elements is ambiguous"
            )
        return bool(self.data)

    def __float__(self) -> float:
        if self._requires_grad and not _FLOAT_OF_GRAD_WARNED[0] and is_grad_enabled():
            # torch 2.13 warns on float() (not int(), bool() or item()) of a tensor that
            # requires grad while grad mode is on (not under no_grad, as in an optimiser's
            # step), once per process (TORCH_WARN_ONCE)
            _FLOAT_OF_GRAD_WARNED[0] = True
            warnings.warn(
                "Converting a tensor with requires_grad=True to a scalar may lead to unexpected "
                "behavior.\nConsider using tensor.detach() first.",
                UserWarning,
                stacklevel=2,
            )
        return float(self._real_item("double"))

    def __int__(self) -> int:
        v = self._real_item("int64_t")
        if self.data.dtype.kind == "c":  # torch's checked int64 conversion of the real part
            if not -(2.0**63) <= v <= 2.0**63:  # (as doubles: NaN and inf fail, 2**63 passes)
                raise BadShapeOrValue(
                    f"value {v} cannot be converted to type int64_t without overflow"
                )
            return int(v) if v < 2.0**63 else -(2**63)  # (2**63 wraps, as torch's cast)
        return int(v)

    def __complex__(self) -> complex:
        return complex(self.item())

    def _real_item(self, to: str):
        """The one value for float() / int(): a complex one is refused (torch's
        RuntimeError)."""
        v = self.item()
        if type(v) is complex:
            if v.imag == 0:  # (torch converts a complex with no imaginary part)
                return v.real
            raise BadDtype(f"value {v} cannot be converted to type {to} (a complex tensor)")
        return v

    def __index__(self) -> int:
        if self.data.dtype.kind not in "biu" or self.data.size != 1:
            raise TypeError("only integer tensors of a single element can be used as an index")
        return int(self.data.item())

    __hash__ = object.__hash__

    def __iter__(self):
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.data.shape[0]))

    # ---- arithmetic (broadcasting, gradients reduced to each input's shape) ----------------
    # (+ - * / of two Tensors: _binary_method, set after the class)
    def __radd__(self, other):
        if (type(other) is float or type(other) is int) and (
            y := _by_number(self, other, 0, True)
        ) is not None:
            return y
        return _ops.add(self, other)  # (torch's order: self's edge first; the sum commutes)

    def __rsub__(self, other):  # (a number minus a tensor: torch's RsubBackward1)
        out = _ops.sub(other, self)
        return out if out._ctx is None else _function.named(out, "RsubBackward1")

    def __rmul__(self, other):
        if (type(other) is float or type(other) is int) and (
            y := _by_number(self, other, 2, True)
        ) is not None:
            return y
        return _ops.mul(self, other)  # (torch's order: self's edge first; the product commutes)

    def __rtruediv__(self, other):
        if isinstance(other, _REAL_SCALARS) and self.data.dtype.kind in "fiub":
            # torch's number / tensor (a NumPy scalar is a number to torch too): reciprocal
            # times the number (its rounding; the backward keeps only the result, not self)
            return _ops.mul(_ops.reciprocal(self), other)
        return _ops.div(other, self)

    def __floordiv__(self, other):
        return _ops.floor_divide(self, other)

    def __rfloordiv__(self, other):
        return _ops.floor_divide(other, self)

    def __mod__(self, other):
        return _ops.remainder(self, other)

    def __rmod__(self, other):
        return _ops.remainder(other, self)

    def __pow__(self, other):
        if (
            (type(other) is int or type(other) is float)
            and type(self) is Tensor
            and self._requires_grad
            and _function._state.enabled
        ):  # overhead40: x ** 2 in autograd, pow's node straight (~1 us of pow's frames); a
            d = self._data  # fresh float array: no layout step (_unary_apply's _laid) to take
            if (d.dtype is _F32 or d.dtype is _F64) and d.base is None:
                return _ops.Pow.apply(self, other)
        return _ops.pow(self, other)

    def __rpow__(self, other):
        return _ops.pow(other, self)

    def __matmul__(self, other):
        return _ops.matmul(self, other)

    def __rmatmul__(self, other):
        return _ops.matmul(other, self)

    def __neg__(self):
        d = self.data
        if (
            not self._requires_grad
            and d.ndim  # (NumPy negates a 0-d array to a scalar, which no kernel takes)
            and (d.dtype is _F32 or d.dtype is _F64)
            and d.flags.c_contiguous
        ):
            return _plain(_ops.Neg._values(d))  # (ops.neg's frames are ~0.5 us of a 64x64 -x)
        return _ops.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops.abs(self)

    def __iadd__(self, other):
        return self._inplace(np.add, other)

    def __isub__(self, other):
        return self._inplace(np.subtract, other)

    def __imul__(self, other):
        return self._inplace(np.multiply, other)

    def __itruediv__(self, other):
        return self._inplace(np.true_divide, other)

    # The rarer augmented assignments write into self too (without them Python would rebind
    # the name to `x // y`, and other references to x would keep the old values).
    def __ifloordiv__(self, other):
        return self._inplace(_ops.floor_divide, other)

    def __imod__(self, other):
        return self._inplace(_ops.remainder, other)

    def __ipow__(self, other):
        return self._inplace(_ops.pow, other)

    def __iand__(self, other):
        return self._inplace(np.bitwise_and, other)

    def __ior__(self, other):
        return self._inplace(np.bitwise_or, other)

    def __ixor__(self, other):
        return self._inplace(np.bitwise_xor, other)

    def __ilshift__(self, other):
        return self._inplace(np.left_shift, other)

    def __irshift__(self, other):
        return self._inplace(np.right_shift, other)

    def _read_only(self) -> RuntimeError:
        # (NumPy's "output array is read-only" otherwise, naming neither op nor cause)
        return RuntimeError(
            f"in-place update of a read-only tensor of shape {self.shape} (an expand()ed or "
            "broadcast view, or a read-only NumPy array): clone() it first"
        )

    def _writeable(self, any_order: bool = False) -> None:
        """Before an in-place write into self's read-only array: as torch, a view of an
        expand()ed tensor (``x[:, 0]`` of a (3, 1) expanded to (3, 4)) writes the memory it
        views, unless two of its own elements are one memory location; self then holds a
        writeable alias of the same memory. Else raise. ``any_order``: a write whose result
        is the same in any order (a fill), which torch also does into overlapping windows."""
        alias = _writeable_alias(self.data)
        if alias is None:
            raise self._read_only()
        _check_no_internal_overlap(alias)
        # (overlapping windows, unfold's: torch writes them in its loop order, and an
        # arithmetic op's result hangs on that order, so ember refuses it)
        if not any_order and not _distinct(alias):
            raise self._read_only()
        self.data = alias

    def _records(self, other) -> bool:
        """Whether self op= other is a graph op (recorded by ember/_inplace.py's write)."""
        graph = self._ctx is not None or (isinstance(other, Tensor) and other._requires_grad)
        return graph and is_grad_enabled()

    def _needs_record(self, other, rebind: bool, writeable: bool = False) -> bool:
        """Whether an in-place update of self by other must be recorded in the graph. A leaf
        that requires grad is refused (as PyTorch). Named methods (x.add_(y)) get here only
        when nothing is recorded (ember/_inplace.py records the others before calling them),
        except those with no gradient (apply_, map_), which are refused on graph tensors."""
        if not (writeable or self.data.flags.writeable) and not (rebind and self._records(other)):
            self._writeable()
        if not is_grad_enabled():
            if _function._fw_level is not None and self._requires_grad:
                _forward_ad.refuse_no_grad_write(self)
            return False
        if self._requires_grad and self._ctx is None:
            _function.refuse_no_grad_view_write(self)
            raise RuntimeError(
                "a leaf tensor that requires grad is being used in an in-place operation; "
                "wrap it in `with ember.no_grad():` or use an out-of-place op"
            )
        # (self._records(other), inlined: grad mode is on here)
        record = self._ctx is not None or (isinstance(other, Tensor) and other._requires_grad)
        if record and not rebind:
            raise RuntimeError(
                "this in-place method has no gradient, so it cannot write into a tensor in "
                "the autograd graph: detach() or clone() the tensor first"
            )
        return record

    def _inplace(self, op, other, rebind: bool = True, scaled: bool = False):
        """``x op= y`` (rebind) or a named in-place method ``x.op_(y)`` (no rebind); ``op`` is
        a NumPy ufunc (written straight into x's array) or an ember op (computed, then copied).
        ``scaled``: other is already alpha * y (add_/sub_), not to be multiplied again."""
        if _function._inference_made:  # (an inference tensor outside the mode: refused)
            _function.refuse_inference_write(self)
        if not rebind and isinstance(other, list | tuple):  # (x.add_([1, 2]): torch's refusal)
            raise TypeError(
                f"{op.__name__}_(): argument 'other' must be Tensor, not {type(other).__name__}"
            )
        if (
            type(other) is Tensor
            and self._ctx is None
            and not (self._requires_grad or other._requires_grad)
            and op in _ops._BINARY_CODE
            and self.data.flags.writeable
            and _ops._binary_kernel(op, self.data, other.data, self.data) is not None
        ):
            # the hot case, two plain float tensors: nothing to record or refuse (see
            # _needs_record), and the C++ kernel wrote into self (~1 us of checks less).
            # The write is noted for autograd here for x += y (a named x.add_(y) by its
            # wrapper, ember/_inplace.py).
            if rebind:
                _function.note_write(self.data, self)
            return self
        if op is np.subtract:
            _ops.check_bool_sub(self, other)
        if type(other) is Tensor and not (other.data.flags.owndata and self.data.flags.owndata):
            _inplace._refuse_partial_overlap(op.__name__, self.data, other.data)  # (torch's)
        if self._needs_record(other, rebind):
            # A graph intermediate (`out += identity`) or a graph value added into a plain
            # tensor (`acc += x`): recorded as torch records it (ember/_inplace.py).
            return _inplace.write(self, _INPLACE_OPS.get(op, op), (other,), name=op.__name__)
        if not isinstance(op, np.ufunc):
            np.copyto(self.data, self._inplace_result(op, other).data, casting="unsafe")
        else:
            self._ufunc_into(op, other, scaled)
        if rebind:
            _function.note_write(self.data, self)
        return self

    def _ufunc_into(self, op, other, scaled: bool = False) -> None:
        """self := op(self, other) in self's array, for a NumPy ufunc op."""
        other = other.data if isinstance(other, Tensor) else other
        if type(other) is np.bool_:  # a float to torch (ops._as_operand): int8 += it refuses
            other = float(other)
        if type(other) is int and self.data.dtype.kind in "iu":
            other = _ops._wrapped(other, self.data.dtype)  # uint8 += 300 adds 44, as torch
        d = self.data
        if op in _ops._BINARY_CODE and _ops._binary_kernel(op, d, other, d) is not None:
            return  # (float arrays: the C++ kernel wrote into self)
        if (op is np.add or op is np.subtract) and d.dtype.kind == "c" and not scaled:
            # torch's complex x += inf is inf + nanj: it adds (1 + 0j) * other (ops.add)
            if (one := _ops._times_one(other, d.dtype)) is not None:
                other = one
        if (op is np.multiply or op is np.true_divide) and _ops._half_by_number(d, other):
            np.copyto(d, _ops._bcast(op, d, other, _ops._quiet_all))  # (in float32: see _bcast)
            return
        try:  # (quietly, as out of place: x /= 0 or x += 1e39 in float32 give inf / nan silently)
            if op is np.true_divide or _ops._big_number(other):
                _ops._quiet_all(_same_kind_into, op, d, other)
            else:
                op(d, other, out=d, casting="same_kind")
        except (TypeError, ValueError):  # NumPy refuses int64 into uint8 (torch only a lower
            # category) and integers to negative powers (torch's integer pow takes them)
            result = self._inplace_result(_INPLACE_OPS[op], other)  # (shape, cast checks)
            np.copyto(self.data, result.data, casting="unsafe")

    def _inplace_result(self, op, other) -> Tensor:
        """op(self, other), checked to fit into self's shape and dtype."""
        out = op(self, other)
        if out.shape != self.shape:
            raise RuntimeError(
                f"output with shape {self.shape} doesn't match the broadcast shape {out.shape}"
            )
        _check_inplace_cast(out.dtype, self.dtype)
        return out

    def _assign(self, values, depends_on=None) -> Tensor:
        """Named in-place update: self's storage := values (no graph; see _needs_record)."""
        self._needs_record(depends_on, rebind=False)
        d = self.data
        if not (type(values) is np.ndarray and values.shape == d.shape):  # (broadcast_to ~1 us)
            values = np.broadcast_to(values, d.shape)
        try:
            np.copyto(d, values, casting="same_kind")
        except TypeError:  # NumPy refuses int64 into uint8, torch only a lower category
            _check_inplace_cast(np.asarray(values).dtype, d.dtype)
            np.copyto(d, values, casting="unsafe")
        return self

    # PyTorch's named in-place methods as NumPy writes (EMA weights, hand-written optimiser
    # steps, init); ember/_inplace.py wraps each to record it when autograd must.
    def add_(self, other, *, alpha=1) -> Tensor:
        if type(alpha) is not int or alpha != 1:  # (alpha in a + b's dtype, as torch)
            if (arrays := _ops._addc_arrays(self, other, None, alpha)) is not None:
                return self._assign(_C.addc(*arrays, alpha, 0), other)  # (torch's fma)
            return self._inplace(np.add, _ops._times_alpha(self, other, alpha), False, True)
        return self._inplace(np.add, other, rebind=False)

    def sub_(self, other, *, alpha=1) -> Tensor:
        if type(alpha) is not int or alpha != 1:  # (alpha in a + b's dtype, as torch)
            if (arrays := _ops._addc_arrays(self, other, None, alpha)) is not None:
                return self._assign(_C.addc(*arrays, -alpha, 0), other)  # (torch's fma)
            return self._inplace(np.subtract, _ops._times_alpha(self, other, alpha), False, True)
        return self._inplace(np.subtract, other, rebind=False)

    def mul_(self, other) -> Tensor:
        return self._inplace(np.multiply, other, rebind=False)

    def div_(self, other, *, rounding_mode=None) -> Tensor:
        if rounding_mode is not None:
            return self._assign(self.div(other, rounding_mode=rounding_mode).data, other)
        return self._inplace(np.true_divide, other, rebind=False)

    def pow_(self, exponent) -> Tensor:
        # (integer powers by ember's pow: NumPy's in-place one refuses negative exponents midway;
        # complex ones too, for torch's special values: 0 ** 0 is NaN there)
        if self.data.dtype in _lowp.LOWP and type(exponent) in (int, float):
            _ops._lowp_exponent(exponent, self.data.dtype)  # (torch's checked conversion)
        return self._inplace(
            np.power if self.data.dtype.kind == "f" else _ops.pow, exponent, rebind=False
        )

    def _map_(self, ufunc, kernel=None, lo=0.0, hi=1.0) -> Tensor:
        """self := ufunc(self) in self's array (named in-place maths). A real float array is
        written in place, by the unary kernel ``kernel`` (the ufunc's bits, no warnings) where
        it takes the array, else by ``ufunc(out=)``: no temporary, no copy back; other dtypes
        take _assign's checks and casts."""
        d = self.data
        if type(d) is not np.ndarray or d.dtype.kind != "f":
            return self._assign(ufunc(d))
        if self._requires_grad or self._ctx is not None or not d.flags.writeable:
            self._needs_record(None, rebind=False)  # (refuses read-only and graph leaves)
            d = self.data  # (a view of an expand()ed tensor: now its writeable alias)
        if kernel is not None and _ops._kernel_ok(d):
            _ops._act_forward(kernel, d, lo, hi, d)  # (out=d: lo, hi are clamp's bounds)
        else:
            ufunc(d, out=d)
        return self

    def neg_(self) -> Tensor:
        if self.data.dtype == np.bool_:
            _ops.neg(self)  # (raises torch's refusal: no negation of bool)
        return self._map_(np.negative, "neg")

    def abs_(self) -> Tensor:
        if self.data.dtype == np.bool_:
            _ops.abs(self)  # (raises torch's refusal: no abs kernel for bool)
        return self._map_(np.abs, "abs")

    def sqrt_(self) -> Tensor:
        return self._map_(np.sqrt, "sqrt")

    def exp_(self) -> Tensor:
        with np.errstate(over="ignore"):  # (exp(1000) is inf, silently, as ember.exp)
            return self._map_(np.exp, "exp")  # (the kernel's bits, as ember.exp's)

    def clamp_(self, min=None, max=None) -> Tensor:  # noqa: A002  (PyTorch's names)
        if (
            type(min) in _ops._NUMBER_OR_NONE
            and type(max) in _ops._NUMBER_OR_NONE
            and (min is not None or max is not None)
            and _ops._kernel_ok(self.data)
        ):  # the hot case (a float array, number bounds): _clamp_kernel_bounds' bounds straight
            if not (_ops._plain_bound(min) and _ops._plain_bound(max)):
                _ops._clamp_range(self.data.dtype, min, max)  # (clamp's refusals)
            lo = -np.inf if min is None else float(min)
            hi = np.inf if max is None else float(max)
            return self._map_(None, "clamp", lo, hi)
        _ops._clamp_bounds("clamp_", self, min, max)
        if self.data.dtype.kind == "c":  # (as ember.clamp: np.clip would order complex values)
            _ops._complex.refuse("clamp", self)
        _ops._clamp_range(self.data.dtype, min, max)
        min, max = _ops._int_bounds(self.data.dtype, min, max)  # noqa: A001
        kernel = _ops._clamp_kernel_bounds(self.data, min, max)
        if kernel is not None:  # a float array and number bounds: np.clip's values, ~5 us less
            return self._map_(None, "clamp", *kernel)
        return self._assign(np.clip(self.data, _ops._data(min), _ops._data(max)))

    def lerp_(self, end, weight) -> Tensor:
        """self += weight * (end - self), with PyTorch's two-sided formula (exact at 0 and 1)."""
        _ops.lerp_dtypes(self, end, weight)
        try:  # (torch's refusal of operands that broadcast beyond self)
            wide = np.broadcast_shapes(
                self.shape, *(np.shape(_ops._data(v)) for v in (end, weight))
            )
        except ValueError:
            wide = None
        if wide != tuple(self.shape):
            raise BadShapeOrValue(
                f"lerp_: output with shape {list(self.shape)} doesn't match the broadcast shape "
                f"of end {list(np.shape(_ops._data(end)))} and weight "
                f"{list(np.shape(_ops._data(weight)))}"
            )
        if (y := _ops._lerp_straight(self, end, weight)) is not None:  # (lerp's kernel: its bits)
            return self._assign(y.data, end)
        e, w = np.asarray(_ops._data(end)), np.asarray(_ops._data(weight))
        if type(weight) in (float, int) and self.data.dtype in (np.float32, np.float64):
            w = w.astype(self.data.dtype)  # a weak number, as in lerp (16-bit: computed wider)
        d = e - self.data
        return self._assign(np.where(np.abs(w) < 0.5, self.data + w * d, e - d * (1 - w)), end)

    def addcmul_(self, tensor1, tensor2, *, value=1) -> Tensor:
        if (arrays := _ops._addc_arrays(self, tensor1, tensor2, value)) is not None:
            return self._assign(_C.addc(*arrays, value, 1), tensor1)  # (addcmul's bits)
        t1, t2, value = _ops._addc_operands("addcmul_", self, tensor1, tensor2, value)
        return self._inplace(np.add, np.multiply(t1.data, t2.data) * value, rebind=False)

    def addcdiv_(self, tensor1, tensor2, *, value=1) -> Tensor:
        if (arrays := _ops._addc_arrays(self, tensor1, tensor2, value)) is not None:
            return self._assign(_C.addc(*arrays, value, 2), tensor1)  # (addcdiv's bits)
        t1, t2, value = _ops._addc_operands("addcdiv", self, tensor1, tensor2, value)
        return self._inplace(np.add, np.true_divide(t1.data, t2.data) * value, rebind=False)

    def masked_fill_(self, mask, value) -> Tensor:
        if type(mask) is Tensor and (type(value) is float or type(value) is int):
            d, m = self.data, mask.data
            if (
                (d.dtype is _F32 or d.dtype is _F64) and m.dtype == np.bool_ and m.shape == d.shape
            ):  # the common call: the value written where mask holds, no where() array made
                # (the same checks in the same order as below; ~5 us less of a 32x32 one)
                if type(value) is float:  # (torch's refusals; the kernel rounds it as NumPy)
                    if not -_ops._F32_MAX <= value <= _ops._F32_MAX:  # (in range: none apply)
                        _ops._checked_scalar(value, d.dtype)
                    v = value
                else:
                    v = float(_ops._fill_value(value, d.dtype))  # (exact in the dtype)
                if self._requires_grad or self._ctx is not None or not d.flags.writeable:
                    self._needs_record(value, rebind=False)  # (its refusals; else it passes)
                if (
                    d.size >= _ops._KERNEL_MIN
                    and d.flags.c_contiguous
                    and m.flags.c_contiguous
                    and _ops._kernel_scalar(v, d.dtype)
                ):  # (_ops._where's choice, its tests made here: _C.where's branch-free select)
                    np.copyto(d, _C.where(m, v, d))
                else:
                    np.copyto(d, _ops._where(m, v, d))
                return self
        mask = np.asarray(_ops._data(mask))
        if mask.dtype != np.bool_:
            raise BadDtype(f"masked_fill_: mask must be a bool tensor, got {mask.dtype}")
        v = _ops._fill_value(_ops._data(value), self.dtype)
        if _ops.broadcast_shapes(mask.shape, self.shape) != self.shape:  # (torch's RuntimeError)
            raise BadShapeOrValue(
                f"masked_fill_: mask of shape {mask.shape} does not broadcast to {self.shape}"
            )
        return self._assign(np.where(np.broadcast_to(mask, self.shape), v, self.data), value)

    def _plain_fill(self, generator) -> np.ndarray | None:
        """overhead43: self's array when a random fill may write it straight (the global
        stream, a writeable float32/float64 array of its own outside the graph: nothing for
        _needs_record or init's checks to refuse, no meta tensor), else None."""
        if generator is None and not self._requires_grad and self._ctx is None:
            d = self.data
            if (d.dtype is _F32 or d.dtype is _F64) and d.base is None and d.flags.writeable:
                return d
        return None

    def uniform_(self, a: float = 0.0, b: float = 1.0, *, generator=None) -> Tensor:
        d = self._plain_fill(generator)
        if d is not None and type(a) is float and type(b) is float and -_INF < a <= b < _INF:
            # (init.uniform_'s draw and write, ~8 -> ~4 us of a 32x32)
            d[...] = _random._generator.uniform(a, b, d.shape)
            _function.note_write(d, self)
            return self
        from ember.nn import init

        self._needs_record(None, rebind=False)
        return init.uniform_(self, a, b, generator=generator)

    def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator=None) -> Tensor:
        d = self._plain_fill(generator)
        if d is not None and type(mean) is float and type(std) is float and std >= 0:
            # (random.normal_samples' draw, into self's array straight: ~6 -> ~3 us)
            _C.normal_fill(d, _random._generator.bit_generator.random_raw(), mean, std)
            _function.note_write(d, self)
            return self
        from ember.nn import init

        self._needs_record(None, rebind=False)
        return init.normal_(self, mean, std, generator=generator)

    # Random fills and draws from ember's seeded generator (ember.manual_seed) or `generator`.
    def bernoulli(self, p=None, *, generator=None):
        """1 with probability p (default: this tensor's values), else 0, in this dtype."""
        return _creation.bernoulli(self, p, generator=generator)

    def bernoulli_(self, p=0.5, *, generator=None) -> Tensor:
        p = np.broadcast_to(_ops._data(p), self.shape).astype(np.float64)
        return self._assign(_creation.bernoulli(p, generator=generator).data)

    def exponential_(self, lambd: float = 1.0, *, generator=None) -> Tensor:
        if lambd <= 0:
            raise ValueError(f"exponential_: lambd must be positive, got {lambd}")
        return self._assign(_random.rng(generator).exponential(1 / lambd, self.shape))

    def geometric_(self, p: float, *, generator=None) -> Tensor:
        if not 0 < p <= 1:
            raise ValueError(f"geometric_: p must be in (0, 1], got {p}")
        return self._assign(_random.rng(generator).geometric(p, self.shape))

    def log_normal_(self, mean: float = 1.0, std: float = 2.0, *, generator=None) -> Tensor:
        if std <= 0:
            raise ValueError(f"log_normal_: std must be positive, got {std}")
        return self._assign(_random.rng(generator).lognormal(mean, std, self.shape))

    def cauchy_(self, median: float = 0.0, sigma: float = 1.0, *, generator=None) -> Tensor:
        draw = _random.rng(generator).standard_cauchy(self.shape)
        return self._assign(median + sigma * draw)

    def random_(self, from_=0, to=None, *, generator=None) -> Tensor:
        """Integers uniform in [from_, to - 1]; ``random_(to)`` is [0, to - 1]; without bounds,
        [0, 2**mantissa] for floats or the dtype's maximum for integers (as torch)."""
        if to is None and from_ != 0:
            from_, to = 0, from_
        if to is None:
            dt = self.dtype
            to = (
                2 ** (np.finfo(dt).nmant + 1) + 1
                if dt.kind == "f"
                else (2 if dt.kind == "b" else int(np.iinfo(dt).max) + 1)
            )
        if to <= from_:
            raise ValueError(f"random_: expects 'from' ({from_}) < 'to' ({to})")
        draw = _random.rng(generator).integers(from_, to, self.shape)
        return self._assign(draw.astype(self.dtype))

    def multinomial(self, num_samples: int, replacement: bool = False, *, generator=None):
        return _creation.multinomial(self, num_samples, replacement, generator=generator)

    # ---- new tensors like this one, and shape helpers --------------------------------------
    # (**factory: requires_grad=, device=, layout=, pin_memory=, checked by the factories)
    def new_zeros(self, *sizes, size=None, dtype=None, **factory):
        sizes = sizes or (size,)  # (size=: torch's keyword)
        return _creation.zeros(*sizes, dtype=dtype or self.dtype, **factory)

    def new_ones(self, *sizes, size=None, dtype=None, **factory):
        sizes = sizes or (size,)
        return _creation.ones(*sizes, dtype=dtype or self.dtype, **factory)

    def new_full(self, size, fill_value, dtype=None, **factory):
        return _creation.full(size, fill_value, dtype or self.dtype, **factory)

    def new_empty(self, *sizes, size=None, dtype=None, **factory):
        sizes = sizes or (size,)
        return _creation.empty(*sizes, dtype=dtype or self.dtype, **factory)

    def new_tensor(self, data, dtype=None, **factory):
        return _creation.tensor(data, dtype=dtype or self.dtype, **factory)

    def expand_as(self, other):
        return _ops.expand(self, _other(other, "expand_as").shape)

    def view_as(self, other):
        if type(other) is Tensor:  # (_other's test passes it)
            return self.view(*other.data.shape)
        return self.view(*_other(other, "view_as").shape)

    def reshape_as(self, other):
        return _ops.reshape(self, _other(other, "reshape_as").shape)

    def type(self, dtype=None, non_blocking: bool = False):
        """Without an argument the type name (e.g. 'ember.float32'); with one, a cast
        (``non_blocking`` matters only for GPU copies)."""
        if dtype is None:
            return f"ember.{self.dtype.name}"
        if isinstance(dtype, str):  # torch's legacy type names: 'torch.DoubleTensor'
            head, _, name = dtype.rpartition(".")
            legacy = _LEGACY_TYPES.get(name) if head in ("torch", "ember") else None
            if legacy is None:
                raise ValueError(f"invalid type: {dtype!r}")
            dtype = legacy
        elif isinstance(dtype, _creation._LegacyTensorType):
            dtype = dtype.dtype
        return self.to(dtype)

    def half(self, memory_format=None) -> Tensor:
        return self._cast_in(np.dtype(np.float16), memory_format)

    def byte(self, memory_format=None) -> Tensor:
        return self._cast_in(np.dtype(np.uint8), memory_format)

    def char(self, memory_format=None) -> Tensor:
        return self._cast_in(np.dtype(np.int8), memory_format)

    def short(self, memory_format=None) -> Tensor:
        return self._cast_in(np.dtype(np.int16), memory_format)

    def cuda(self, device=None, non_blocking: bool = False):
        return self.to("cuda" if device is None else device)  # refused: ember is CPU-only

    def pin_memory(self) -> Tensor:
        return self  # no device to copy to: pinning has nothing to do

    def is_pinned(self) -> bool:
        return False

    def bfloat16(self, memory_format=None) -> Tensor:
        return self._cast_in(_lowp.bfloat16, memory_format)

    def share_memory_(self) -> Tensor:
        return self  # one process's memory: nothing to move (DataLoader workers are threads)

    def is_shared(self) -> bool:
        return False

    def get_device(self) -> int:
        return -1  # PyTorch's answer for CPU tensors

    @property
    def layout(self):
        return _layout.strided

    # Flags of layouts and devices ember does not have
    is_sparse = is_sparse_csr = is_quantized = is_mps = is_xla = is_xpu = property(
        lambda self: False
    )
    is_mkldnn = is_nested = is_ipu = is_maia = is_mtia = is_vulkan = property(lambda self: False)

    def is_inference(self) -> bool:
        """Whether this tensor was made inside ``inference_mode()`` (autograd/function.py):
        outside the mode it may not require grad, be written in place, or be saved for
        backward by a recorded op, as torch's inference tensors."""
        return bool(getattr(self, "_inference", False))

    # complex parts: views, settable (x.imag = v writes into x), as torch's (ember/_complex.py)
    real = property(
        lambda self: _complex.real(self), lambda self, v: _complex.set_part(self, "real", v)
    )
    imag = property(
        lambda self: _complex.imag(self), lambda self, v: _complex.set_part(self, "imag", v)
    )

    def new(self, *args) -> Tensor:
        """Legacy ``x.new(sizes...)`` (zeros of x's dtype) or ``x.new(data)``."""
        if len(args) == 1 and not isinstance(args[0], int | np.integer):
            return _creation.tensor(args[0], dtype=self.dtype)
        return _creation.zeros(*(args or (0,)), dtype=self.dtype)  # (x.new(): torch's (0,))

    def new_empty_strided(self, size, stride, *, dtype=None, **factory):
        return _creation.empty_strided(size, stride, dtype=dtype or self.dtype, **factory)

    def resize_(self, *sizes, size=None, memory_format=None) -> Tensor:
        """Give x the shape ``sizes`` (or ``size=``) in place, keeping its elements in row-major
        order (new ones are zeros; PyTorch leaves them uninitialised)."""
        if size is not None:
            if sizes:
                raise TypeError("resize_(): got multiple values for argument 'size'")
            sizes = (size,)
        shape = tuple(sizes[0]) if len(sizes) == 1 and not isinstance(sizes[0], int) else sizes
        if self._requires_grad:
            raise RuntimeError(
                "cannot resize variables that require grad (resize_ on a tensor that requires grad)"
            )
        flat = self.data.reshape(-1)
        n = int(np.prod(shape))
        data = np.zeros(n, self.dtype)
        data[: min(n, flat.size)] = flat[:n]
        _function.keep_counter(self, data)  # (torch's resize_ is a write: counted, not reset)
        self.data = data.reshape(shape)
        if memory_format is not None:  # (channels_last: the same values, NHWC strides)
            from ember import _layout

            self.data = _layout.relayout(self.data, memory_format)
        return self

    def resize_as_(self, other) -> Tensor:
        return self.resize_(_other(other, "resize_as_").shape)

    def map_(self, other, fn) -> Tensor:
        """Each element replaced by fn(element, other's element) (other broadcast), in place."""
        b = np.broadcast_to(_other(other, "map_").data, self.shape)
        out = np.vectorize(fn, otypes=[self.dtype])(self.data, b) if self.data.size else self.data
        return self._assign(out)

    def prelu(self, weight) -> Tensor:
        from ember.nn import functional as F

        return F.prelu(self, weight)

    def hardshrink(self, lambd: float = 0.5) -> Tensor:
        from ember.nn import functional as F

        return F.hardshrink(self, lambd)

    def storage_offset(self) -> int:
        """Elements between the start of the storage (the array that owns the memory, past
        as_strided's NumPy wrappers: the offset as_strided reads) and this view's first."""
        d = self.data
        base = _function.array_owner(d)
        return (
            d.__array_interface__["data"][0] - base.__array_interface__["data"][0]
        ) // d.itemsize

    def apply_(self, fn) -> Tensor:
        """Each element replaced by fn(element), a Python callable (slow, as in PyTorch)."""
        out = np.vectorize(fn, otypes=[self.dtype])(self.data) if self.data.size else self.data
        return self._assign(out)

    # Comparisons give bool tensors (no gradient), as PyTorch's. None, strings and Python
    # sequences are not operands: NotImplemented, as torch's, so Python answers (== is False,
    # != True, < a TypeError).
    def __eq__(self, other):  # type: ignore[override]
        if other is None or isinstance(other, _NOT_OPERANDS):
            return NotImplemented
        return _ops.compare(np.equal, self, other)

    def __ne__(self, other):  # type: ignore[override]
        if other is None or isinstance(other, _NOT_OPERANDS):
            return NotImplemented
        return _ops.compare(np.not_equal, self, other)

    def __lt__(self, other):
        if other is None or isinstance(other, _NOT_OPERANDS):
            return NotImplemented
        return _ops.compare(np.less, self, other)

    def __le__(self, other):
        if other is None or isinstance(other, _NOT_OPERANDS):
            return NotImplemented
        return _ops.compare(np.less_equal, self, other)

    def __gt__(self, other):
        if other is None or isinstance(other, _NOT_OPERANDS):
            return NotImplemented
        return _ops.compare(np.greater, self, other)

    def __ge__(self, other):
        if other is None or isinstance(other, _NOT_OPERANDS):
            return NotImplemented
        return _ops.compare(np.greater_equal, self, other)

    # Bitwise, as PyTorch: logical on bool tensors, bitwise on integers, a TypeError on floats.
    def __invert__(self):
        return _ops.bitwise_not(self)

    def __and__(self, other):
        return _ops.bitwise_and(self, other)

    def __or__(self, other):
        return _ops.bitwise_or(self, other)

    def __xor__(self, other):
        return _ops.bitwise_xor(self, other)

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def __lshift__(self, other):
        return _ops.bitwise_left_shift(self, other)

    def __rshift__(self, other):
        return _ops.bitwise_right_shift(self, other)

    def __rlshift__(self, other):
        return _ops.bitwise_left_shift(other, self)

    def __rrshift__(self, other):
        return _ops.bitwise_right_shift(other, self)

    # ---- math -----------------------------------------------------------------------------
    # (exp, log, sqrt, tanh, sigmoid, relu: _unary_method, set after the class)
    def abs(self):
        return _ops.abs(self)

    def softmax(self, dim: int, dtype=None):
        if dim is None:  # (the method's dim is an int: no implicit dim, unlike F.softmax)
            raise TypeError("softmax(): argument 'dim' must be int, not NoneType")
        return _F.softmax(self, dim, dtype=dtype)

    def log_softmax(self, dim: int, dtype=None):
        if dim is None:
            raise TypeError("log_softmax(): argument 'dim' must be int, not NoneType")
        return _F.log_softmax(self, dim, dtype=dtype)

    # (clamp, clip: ops.clamp itself, set after the class)

    def pow(self, exponent):
        return _ops.pow(self, exponent)

    def matmul(self, other):
        return _ops.matmul(self, other)

    def add(self, other, *, alpha=1):
        return _ops.add(self, other, alpha=alpha)

    def sub(self, other, *, alpha=1):
        return _ops.sub(self, other, alpha=alpha)

    def mul(self, other):
        return _ops.mul(self, other)

    def div(self, other, **kw):  # (rounding_mode: ops.div tells an explicit None from none)
        return _ops.div(self, other, **kw)

    def polygamma(self, n: int):
        return _ops.polygamma(n, self)

    def where(self, condition, other):
        return _ops.where(condition, self, other)

    def neg(self):
        return _ops.neg(self)

    # ---- reductions -----------------------------------------------------------------------
    # The most used reductions take NumPy's axis=/keepdims= in their own signatures (a
    # wrapper would add a call); the other reductions get them from _keywords.
    def sum(self, dim=None, keepdim: bool = False, *, dtype=None, axis=None, keepdims=None):
        if axis is not None or keepdims is not None:
            dim, keepdim = numpy_names(dim, keepdim, axis, keepdims)
        return _ops.sum(self, dim, keepdim, dtype=dtype)

    def mean(self, dim=None, keepdim: bool = False, *, dtype=None, axis=None, keepdims=None):
        if axis is not None or keepdims is not None:
            dim, keepdim = numpy_names(dim, keepdim, axis, keepdims)
        return _ops.mean(self, dim, keepdim, dtype=dtype)

    def var(self, dim=None, unbiased: bool = True, keepdim: bool = False, *, correction=None):
        return _ops.var(self, dim, unbiased, keepdim, correction=correction)

    def std(self, dim=None, unbiased: bool = True, keepdim: bool = False, *, correction=None):
        return _ops.std(self, dim, unbiased, keepdim, correction=correction)

    def max(self, _dim=_NO_DIM, keepdim: bool = False, *, dim=_NO_DIM, other=None, axis=None,
            keepdims=None):  # fmt: skip
        if axis is not None or keepdims is not None:
            dim = _given_dim(_dim if dim is _NO_DIM else dim, axis, "max")
            dim, keepdim = numpy_names(dim, keepdim, axis, keepdims)
            return _ops.max(self, _NO_DIM if dim is None else dim, keepdim, other=other)
        # (as ember.max: a Tensor second is ``other``, a Tensor as dim= is a dim)
        return _ops.max(self, _dim, keepdim, dim=dim, other=other)

    def min(self, _dim=_NO_DIM, keepdim: bool = False, *, dim=_NO_DIM, other=None, axis=None,
            keepdims=None):  # fmt: skip
        if axis is not None or keepdims is not None:
            dim = _given_dim(_dim if dim is _NO_DIM else dim, axis, "min")
            dim, keepdim = numpy_names(dim, keepdim, axis, keepdims)
            return _ops.min(self, _NO_DIM if dim is None else dim, keepdim, other=other)
        # (as ember.min: a Tensor second is ``other``, a Tensor as dim= is a dim)
        return _ops.min(self, _dim, keepdim, dim=dim, other=other)

    def argmax(self, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
        if axis is not None or keepdims is not None:
            dim, keepdim = numpy_names(dim, keepdim, axis, keepdims)
        return _ops.argmax(self, dim, keepdim)

    def argmin(self, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
        if axis is not None or keepdims is not None:
            dim, keepdim = numpy_names(dim, keepdim, axis, keepdims)
        return _ops.argmin(self, dim, keepdim)

    # ---- shapes and views -----------------------------------------------------------------
    def reshape(self, *sizes, shape=None):  # (shape=: torch's keyword)
        return _ops.reshape(self, sizes[0] if len(sizes) == 1 else sizes or shape)

    def view(self, *shape, size=None, dtype=None):
        """The same data in another shape. As torch's, it never copies: a shape the strides
        cannot give (a transposed tensor flattened) raises; use reshape() there.
        ``view(dtype)`` reinterprets the bytes instead (not differentiable, as torch's)."""
        if shape and type(shape[0]) is int and type(self) is Tensor:
            # the common call, x.view(n, m) of a C-contiguous x: its view straight (that
            # reshape always gives, no memory check to make); a bad shape: the path below
            if self.data.flags.c_contiguous and _ops._plain_shape(shape):
                try:
                    return _ops._view(_ops.Reshape, self, shape)
                except ValueError:
                    pass
        if not shape and (size is not None or dtype is not None):  # torch's keywords
            shape = (dtype if size is None else size,)
        if len(shape) == 1 and _is_dtype(shape[0]):
            return self._view_as_dtype(np.dtype(shape[0]))
        out = _ops.reshape(self, shape[0] if len(shape) == 1 else shape, _as_view=True)
        # (a C-contiguous array always reshapes to a view: no memory check needed)
        d = self.data
        if out.data.size and not d.flags.c_contiguous and not np.may_share_memory(out.data, d):
            raise RuntimeError(
                f"view: shape {tuple(out.shape)} is not compatible with the strides of this "
                f"tensor of shape {self.shape} (it would need a copy); use .reshape(...) instead"
            )
        return out

    def _view_as_dtype(self, dt: np.dtype):
        d = self.data
        if dt.itemsize != d.dtype.itemsize:  # the last dim grows or shrinks: torch's rules
            why = f"to view {d.dtype} as {dt} (different element sizes)"
            if d.ndim == 0:
                raise RuntimeError(f"view: a 0-d tensor has no last dim to resize {why}")
            if d.strides[-1] != d.dtype.itemsize:
                raise RuntimeError(f"view: the last dim must have stride 1 {why}")
            if (d.shape[-1] * d.dtype.itemsize) % dt.itemsize:
                raise RuntimeError(
                    f"view: size {d.shape[-1]} of the last dim must be divisible by "
                    f"{dt.itemsize // d.dtype.itemsize} {why}"
                )
        return Tensor(d.view(dt))

    def transpose(self, dim0: int, dim1: int):
        return _ops.transpose(self, dim0, dim1)

    def permute(self, *order, dims=None):  # (dims=: torch's keyword)
        if order and type(order[0]) is int:  # x.permute(1, 0): ints, the common call
            return _ops.permute(self, order if dims is None else dims)
        if len(order) == 1 and not isinstance(order[0], int | np.integer):
            order = order[0]  # x.permute((1, 0)), and x.permute(0) of a 1-D x as torch
        elif not order and dims is None:  # (torch's TypeError, even for a 0-d x)
            raise TypeError('permute() missing 1 required positional arguments: "dims"')
        return _ops.permute(self, order if dims is None else dims)

    @property
    def T(self):  # noqa: N802 (PyTorch's name)
        # all dims reversed is always a permutation: permute's checks (~2 us) have nothing to do
        nd = self.data.ndim
        if nd != 2:  # (torch's deprecation, as its own words)
            warnings.warn(_T_DEPRECATED, UserWarning, stacklevel=2)
        return _ops._view(_ops.Permute, self, tuple(range(nd - 1, -1, -1)))

    @property
    def mT(self):  # noqa: N802
        nd = self.data.ndim
        if nd >= 2 and type(self) is Tensor:  # (transpose(-2, -1)'s view straight)
            return _ops._view(_ops.Transpose, self, (*range(nd - 2), nd - 1, nd - 2))
        if nd < 2:
            return _ops.below_matrices(
                self, "Tensor.mT", "This function is the identity in these cases."
            )
        return _ops.transpose(self, -2, -1)

    def t(self):
        if self.data.ndim > 2:
            raise BadShapeOrValue(f"t() expects a tensor with <= 2 dims, got shape {self.shape}")
        if self.data.ndim == 2:  # the common case, without permute's checks
            return _ops._view(_ops._T, self, (1, 0))
        return _ops._view(_ops._T, self, tuple(range(self.data.ndim - 1, -1, -1)))

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        return _ops.flatten(self, start_dim, end_dim)

    # (squeeze and unsqueeze take NumPy's axis= themselves: the wrapper other dim-taking
    # methods get would add a tenth to these cheap views)
    def squeeze(self, dim=_NO_DIM, *, axis=None):
        if axis is None and (dim is _NO_DIM or type(dim) is int or type(dim) is tuple):
            return _ops.squeeze(self, dim)
        _given_dim(dim, axis, "squeeze")  # (x.squeeze(None) is refused, as torch's)
        if type(dim) is Tensor:  # (torch's method takes a one-element integer tensor)
            dim = _ops._list_dim(dim, "squeeze")
        return _ops.squeeze(self, dim if axis is None else axis)

    def unsqueeze(self, dim: int | None = None, *, axis=None):
        if dim is None:
            if axis is None:
                raise TypeError("unsqueeze() missing 1 required positional argument: 'dim'")
            dim = axis
        return _ops.unsqueeze(self, dim)

    def expand(self, *sizes, size=None, implicit: bool = False):  # (size=: torch's keyword)
        # (implicit: torch's tracer flag, no effect on the result)
        if not sizes and size is None:  # (x.expand(()) and x.expand(size=()) are a 0-d's own)
            raise TypeError('expand() missing 1 required positional arguments: "size"')
        return _ops.expand(self, sizes[0] if len(sizes) == 1 else sizes or size)

    def split(self, split_size, dim: int = 0):  # (torch's method calls it split_size)
        return _ops.split(self, split_size, dim)

    def chunk(self, chunks: int, dim: int = 0):
        return _ops.chunk(self, chunks, dim)

    def masked_fill(self, mask, value):
        return _ops.masked_fill(self, mask, value)

    def gather(self, dim: int, index, *, sparse_grad: bool = False):
        return _ops.gather(self, dim, index, sparse_grad=sparse_grad)

    def repeat(self, *sizes, repeats=None):  # (repeats=: torch's keyword)
        return _ops.repeat(self, *(sizes or (repeats,)))

    def type_as(self, other):
        return _ops.cast(self, _other(other, "type_as").dtype)

    def __getitem__(self, index):
        if type(index) is Tensor and not index._data.ndim and index._data.dtype.kind == "i":
            index = int(index._data)  # (torch reads a 0-d integer Tensor as its int: a view)
        elif (
            type(index) is Tensor
            and (d := index.data.dtype).kind == "i"
            and d.itemsize >= 4  # (int8 / int16: the generic path refuses them, as torch)
            and _ops._outside_graph(self)
        ):
            # x[idx], an integer index tensor and no graph: GetItem's forward straight (the
            # generic apply is ~2.5 us of a 32x32 gather); an IndexError takes the generic path,
            # which raises it with the shapes
            try:
                out = _ops.GetItem.forward(
                    _ops.GetItem.__new__(_ops.GetItem), self.data, index.data, True
                )
                return Tensor._make(out, False, None, 0)
            except IndexError:
                pass
        if type(index) is tuple and (out := _column_select(self, index)) is not None:
            return out
        if type(index) is tuple or type(index) is slice:
            _ops.positive_steps(index)
            key = index if type(index) is tuple else (index,)  # (x[1:3]: x[(1:3,)], overhead37)
            if (out := _ops.basic_view(self, key)) is not None:
                return out  # (x[:, j], x[1:3] outside the graph: speed only)
            if type(index) is tuple and (ints := _zero_dim_ints(index)) is not index:
                return self[ints]
        split = _split_int_index(index) if type(index) is tuple else None
        if split is not None:
            out = _ops.getitem(_ops.getitem(self, split[0]), split[1])
        else:
            out = _ops.getitem(self, index)
        return _function.view_made(out, self) if _function._open_blocks[0] else out

    def __setitem__(self, index, value):
        if (
            type(index) is tuple
            and not self._requires_grad
            and not _function._inference_made
            and _int_slice_key(index)
        ):
            # overhead42: x[:, i] = v of plain tensors, ints and slices alone (their NumPy
            # meaning is torch's): the write straight (~3.4 -> ~2 us of a 32x32), where the
            # steps below would find nothing to check or convert; errors take those steps
            d = self._data
            if type(value) is Tensor and not value._requires_grad:
                v = value._data
                if d.flags.writeable and d.flags.owndata and v.flags.owndata and v.dtype == d.dtype:
                    try:
                        d[index] = v
                    except (ValueError, IndexError, TypeError):
                        pass  # (nothing written: the words below)
                    else:
                        _function.note_write(d, self)
                        return
        if value is None or isinstance(value, str):  # (NumPy would write None as NaN)
            raise TypeError(f"can't assign a {type(value).__name__} to a {self.dtype} tensor")
        if type(value) is complex and self.data.dtype.kind != "c":  # (torch's conversions)
            if self.data.dtype.kind == "b" or value.imag == 0:
                value = bool(value) if self.data.dtype.kind == "b" else value.real
            else:
                raise BadDtype(
                    f"value {value} cannot be converted to {self.dtype} (its imaginary part)"
                )
        bool_key = type(index) is bool or (
            type(index) is tuple and any(type(p) is bool for p in index)
        )
        if bool_key:
            # torch takes a Tensor or a number for a key with True / False, a list or an
            # array it refuses, also where nothing is written (ember's own wider set of values
            # stands for other keys)
            if not isinstance(value, _BOOL_KEY_VALUES):
                raise TypeError(f"can't assign a {type(value).__name__} to a {self.dtype} tensor")
            if index is False:  # torch's x[False] = v writes, records and counts nothing
                return
        if _function._inference_made:  # (an inference tensor outside the mode: refused)
            _function.refuse_inference_write(self)
        if is_grad_enabled() and self._requires_grad and self._ctx is None:
            _function.refuse_view_write(self)
            _function.refuse_no_grad_view_write(self, chained=True)  # (torch: x[i] is a view)
            raise RuntimeError(
                "index assignment into a leaf tensor that requires grad is not differentiable; "
                "wrap it in `with ember.no_grad():` or build the tensor with ember.cat/where"
            )
        if _function._fw_level is not None and self._requires_grad and not is_grad_enabled():
            _forward_ad.refuse_no_grad_write(self)
        if type(index) is tuple:  # (several ``...``: torch's reading, NumPy refuses them)
            index = _ops.ellipses(index, self.data.ndim)
        # Tensors inside a tuple key become arrays: NumPy would read a one-element integer
        # Tensor through __index__ as a plain int (dropping its dim), an empty one as intp
        index, advanced = _ops._index_arg(index, self)
        if advanced and bool_key:
            # (a True / False among basic entries writes as torch's, through a view: CopySlices)
            parts = index if type(index) is tuple else (index,)
            advanced = any(isinstance(p, np.ndarray | list) for p in parts)
        if type(index) is tuple or type(index) is slice:
            _ops.positive_steps(index)
        split = _split_int_index(index) if type(index) is tuple else None
        if is_grad_enabled() and (
            self._ctx is not None or (isinstance(value, Tensor) and value._requires_grad)
        ):
            # t = zeros(...); t[i] = x (also again, as an RNN loop filling its outputs does):
            # t joins the graph, writing the array alone would drop x's gradient silently.
            if split is not None:  # one key of flat positions, in torch's layout
                flat = np.arange(self.data.size).reshape(self.shape)
                index = np.unravel_index(flat[split[0]][_ops._index_arg(split[1])[0]], self.shape)
            if not self.data.flags.writeable and split is None and not advanced:
                # an expand()ed graph view: torch's x[i] = v is x[i].copy_(v), refused only if
                # x[i] itself repeats a memory location
                src = value if isinstance(value, Tensor) else Tensor(np.asarray(value, self.dtype))
                self[index].copy_(src)
                return
            if (
                _inplace.view_root(self)[0] is not None
                if self._ctx is not None
                else getattr(self, "_view_of", None) is not None
                or getattr(self, "_chained_view", None) is not None
            ):
                # a view of another tensor (h[:, 0][1] = v): that tensor changes too
                _inplace.write(self, _inplace.put, (index, value), name="index assignment")
                return
            _ops.index_put_(self, index, value)
            _function.named(self, _setitem_name(index, advanced, value))
            return
        d = self.data
        if not d.flags.writeable:
            alias = _writeable_alias(d) if split is None and not advanced else None
            if alias is None:
                raise self._read_only()
            # torch's x[i] = v: x[i].copy_(v), refused only if x[i] repeats a memory location
            key = index if type(index) is tuple else (index,)
            d = alias[key if any(k is ... for k in key) else (*key, ...)]  # (0-d: a view too)
            _check_no_internal_overlap(d)
            # (overlapping windows: torch writes a single value into them, and refuses nothing)
            one = np.size(value.data if isinstance(value, Tensor) else value) == 1
            if not one and not _distinct(d):
                raise self._read_only()
            index = ...
        if isinstance(value, Tensor):
            value = value.data
            if not (advanced or split is not None or value.flags.owndata and d.flags.owndata):
                # torch's x[i] = v is x[i].copy_(v): refused where v shares part of x[i]
                _inplace._refuse_partial_overlap("index assignment", d[index], value)
        if (type(value) is int or type(value) is float) and self.data.dtype.kind in "iu":
            # uint8 t[0] = -1 writes 255; a float out of range (or NaN) torch's RuntimeError
            value = _ops._fill_value(value, self.data.dtype)
        elif getattr(value, "dtype", None) == _lowp.bfloat16 and d.dtype.kind in "iu":
            value = _lowp.widen(value)  # (through float32, as torch: ml_dtypes' casts saturate)
        elif isinstance(value, np.ndarray) and value.dtype.kind == "c" and d.dtype.kind not in "bc":
            warnings.warn(  # (torch's warning, not NumPy's ComplexWarning)
                "Casting complex values to real discards the imaginary part", UserWarning, 2
            )
            value = value.real
        if type(value) is np.ndarray and value.ndim and value.shape[0] == 1:
            # torch drops a value's leading size-1 dims (slicePrefix1sDims): x[0, 1] = v of
            # shape (1,) writes, where NumPy refuses a sequence for one element
            value = value.reshape(
                value.shape[next((i for i, n in enumerate(value.shape) if n != 1), value.ndim) :]
            )
        if split is not None:
            first = split[0] if any(k is Ellipsis for k in split[0]) else (*split[0], Ellipsis)
            d[first][_ops._index_arg(split[1])[0]] = value  # (the Ellipsis: a view, 0-d too)
        else:
            try:
                d[index] = value
            except ValueError as e:  # torch's classes: a str TypeError, a shape RuntimeError
                if isinstance(value, str):
                    raise TypeError(f"can't assign a str to a {self.dtype} tensor") from None
                if "broadcast" in str(e) or "sequence" in str(e):
                    raise BadShapeOrValue(
                        f"index assignment: a value of shape {np.shape(value)} does not fit "
                        f"the indexed shape {np.shape(d[index])} ({e})"
                    ) from None
                raise
        _function.note_write(d, self)  # nodes that saved the old values refuse to backward


# ``Tensor.data``: the array, in the slot ``_data``. Reading goes straight to the slot's C
# getter (reads are on every op's path: ~15 ns a read, a property's ~45 ns, the bare slot's
# ~5 ns); assigning is torch's ``t.data = other`` (set_data), checked, so a Tensor never lands
# in the slot.
_ARRAY = Tensor.__dict__["_data"]


def _set_data(self, value) -> None:
    """``t.data = value``: t (its identity, grad, requires_grad, graph node, hooks) takes
    value's array -- a Tensor's (sharing its memory, as torch shares the storage) or a NumPy
    array -- whatever its shape and dtype; views of the old array keep the old memory."""
    d = type(value)
    if d is np.ndarray and value.dtype.kind in _FLOAT_KINDS and value.dtype.isnative:
        _function.keep_written_counter(self, value)  # (torch's set_data: t keeps its counter)
        _ARRAY.__set__(self, value)  # (the common case, ember's own writes: nothing to check)
        return
    if isinstance(value, Tensor):
        array = _ARRAY.__get__(value)
    elif isinstance(value, np.ndarray):  # (ember's storage: torch would ask for a Tensor)
        array = value if d is np.ndarray or d is RowSparseGrad else np.asarray(value)
        dt = array.dtype
        if not (dt.isnative and dt.kind in "biufc") and dt != _lowp.bfloat16:
            raise TypeError(f"ember tensors hold bool, integer, float or complex data, not {dt}")
    else:  # (torch's words)
        raise TypeError(f"Variable data has to be a tensor, but got {type(value).__name__}")
    dt = array.dtype
    if (
        dt.kind not in _FLOAT_KINDS
        and getattr(self, "_requires_grad", False)
        and dt != _lowp.bfloat16
    ):
        raise RuntimeError(
            "data set to a tensor that requires gradients must be floating point or complex dtype"
        )
    if d is not np.ndarray and isinstance(value, Tensor):  # (torch's set_data: t keeps its
        _function.keep_counter(self, array)  # version counter; ember's own arrays need none)
    else:
        _function.keep_written_counter(self, array)
    _ARRAY.__set__(self, array)


def _del_data(self) -> None:
    raise RuntimeError("Deleting tensor data is not allowed. Delete tensor instead!")


Tensor.data = _C.slot_property(_ARRAY, _set_data, _del_data)


# Op outputs outside the graph (ops.py imports _plain: defined before the imports below)
_new = object.__new__
_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)
_INF = float("inf")  # (uniform_'s finite bounds)


def _plain(data: np.ndarray) -> Tensor:
    """A fresh array as an op's Tensor outside the graph: Tensor._make(data, False, None, 0)
    for an ndarray, without its staticmethod call and type test."""
    t = _new(Tensor)
    t._data = data
    t._grad = None
    t._requires_grad = False
    t._ctx = None
    t._idx = 0
    if _marking:  # (inference_mode: as Tensor._make's marking, set by autograd.function)
        _function._mark(t, data)
    return t


_marking = False  # an inference_mode block is open, or inference tensors exist


from ember import _complex, _device, _inplace, _layout  # noqa: E402
from ember import creation as _creation  # noqa: E402
from ember import ops as _ops  # noqa: E402  (ops build on Tensor)
from ember import random as _random  # noqa: E402
from ember.autograd import engine as _engine  # noqa: E402
from ember.autograd import forward_ad as _forward_ad  # noqa: E402
from ember.autograd import function as _function  # noqa: E402
from ember.autograd.function import is_grad_enabled  # noqa: E402
from ember.nn import functional as _F  # noqa: E402


# ---- the hot calls straight ---------------------------------------------------------------
# The commonest small calls -- two plain float tensors combined, a parameterless kernel on
# one -- by their kernel from the method itself: the general entry's layers of frames and
# tests cost more than the ~0.5 us kernel call of a 32x32 op (x / y 1.3 -> 0.9 us). Anything
# else (autograd, other dtypes, strides, broadcasting the kernel does not take) goes on to
# the general entry, which gives the same result there (tests/test_small8_paths.py).
def _by_number(t, s, code: int, flip: bool):
    """t op s (s op t when flip) for a plain float32/float64 Tensor t outside autograd and a
    Python float or int s, else None: the general path's _C.binary_scalar call under its own
    tests (ops._binary_kernel), without its ~1.5 us of frames (x * 0.5, x + 1, 2 * x)."""
    if type(t) is not Tensor or t._requires_grad:
        return None
    d = t.data
    if (
        (d.dtype is _F32 or d.dtype is _F64)
        and d.size >= _ops._KERNEL_MIN
        and d.flags.c_contiguous
        and (d.base is None or 1 not in d.shape)  # (x.t() of a (n, 1) x: ops._laid's layout)
        and _ops._kernel_scalar(s, d.dtype)
    ):
        return _plain(_C.binary_scalar(d, s, code, flip, None))
    return None


def _binary_method(code: int, general):
    """``self op other`` (op: _C.binary's code): two Tensors outside autograd by
    _C.binary_auto, whose own tests (one float32/float64 dtype, the larger operand
    C-contiguous, the other of its shape, one value, or a row or column) are those of the
    general path's kernel call (ops._binary_kernel); anything else by ``general``."""

    def method(self, other):
        to = type(other)
        if to is Tensor and not (self._requires_grad or other._requires_grad):
            d, e = self._data, other._data
            # (a view with a size-1 dim of another stride: torch's layout, ops._laid's path;
            # the base and shape tests inline, as most operands fail them)
            if not (
                (d.base is not None and 1 in d.shape and _ops._size1_strided(d))
                or (e.base is not None and 1 in e.shape and _ops._size1_strided(e))
            ):
                y = _C.binary_auto(d, e, code)
                if y is not None:
                    return _plain(y)
        elif (to is float or to is int) and (y := _by_number(self, other, code, False)) is not None:
            return y
        return general(self, other)

    return method


def _recorded_binary(node, general):
    """The C ``self op other``'s fallback: two fresh float32/float64 Tensors of one dtype and
    shape, one in autograd, by ``node.apply`` straight (ops._float_binary's call for them,
    without the frames of general and its tests: ~0.4 us, overhead36); else ``general``."""

    def method(self, other):
        if (
            type(other) is Tensor
            and type(self) is Tensor
            and (self._requires_grad or other._requires_grad)
            and _function._state.enabled
        ):
            d, e = self._data, other._data
            if (
                d.dtype is e.dtype
                and (d.dtype is _F32 or d.dtype is _F64)
                and d.base is None
                and e.base is None
                and (d.shape == e.shape or not e.ndim or not d.ndim)
            ):  # (overhead40: x * a 0-d tensor too, which always broadcasts: ~1 us less)
                return node.apply(self, other)
        return general(self, other)

    return method


def _neg(self):
    """-self where the C path declines (Tensor.__neg__ and neg's fallback): a fresh float
    tensor in autograd by Neg.apply straight (ops.neg's node, whose layout step leaves a fresh
    array's result as it is: ~1 us of its frames, overhead36); anything else by ops.neg."""
    if type(self) is Tensor and self._requires_grad and _function._state.enabled:
        d = self._data
        if (d.dtype is _F32 or d.dtype is _F64) and d.base is None:
            return _ops.Neg.apply(self)
    return _ops.neg(self)


def _unary_method(name: str, general, node, *args):
    """``self.name()`` for a parameterless unary kernel: a float32/float64 Tensor outside
    autograd and C-contiguous by that kernel (the call ops._kernel_unary makes), in autograd
    by ``node.apply(self, *args)`` (the node general makes for it: ~0.3 us of frames less);
    anything else by ``general``."""
    act = _ops._ACT_ID[name]
    apply = node.apply

    def method(self):
        d = self._data
        if d.dtype is _F32 or d.dtype is _F64:
            if not self._requires_grad:
                if d.flags.c_contiguous:
                    return _plain(_C.activation(d, act, 0.0, 1.0, None))
            elif _function._state.enabled:
                out = apply(self, *args)
                if d.base is not None:  # (x.t(): torch keeps its order; see ops._permuted)
                    st = d.strides
                    if st[0] < st[1] if len(st) == 2 else _ops._permuted(d):
                        out.data = _ops._laid(out.data, (d,))
                return out
        return general(self)

    method.__name__ = name
    method.__doc__ = getattr(general, "__doc__", None)
    return method


Tensor.clamp = Tensor.clip = _ops.clamp  # (self is its x: no frame of a method around it)
Tensor.__add__ = _binary_method(0, _ops.add)
Tensor.__sub__ = _binary_method(1, _ops.sub)
Tensor.__mul__ = _binary_method(2, _ops.mul)
Tensor.__truediv__ = _binary_method(3, _ops.div)
for _name, _general, _node in (
    ("exp", _ops.exp, _ops.Exp), ("log", _ops.log, _ops.Log), ("sqrt", _ops.sqrt, _ops.Sqrt),
):  # fmt: skip
    setattr(Tensor, _name, _unary_method(_name, _general, _node))
for _name, _general in (("tanh", _F.tanh), ("sigmoid", _F.sigmoid), ("relu", _F.relu)):
    setattr(Tensor, _name, _unary_method(_name, _general, _F.Activation, _name, _F._NO_PARAMS))


def _install_fast_methods() -> None:
    """The fast paths above (and __radd__ / __rmul__ / __neg__ / neg's) in C, with the Python
    ones as their fallbacks (csrc/bindings/bind_fast.cpp: the same tests, kernels and result;
    ~0.4 us of frames and Tensor building less: a 32x32 a + b ~0.95 -> ~0.5 us, NumPy's)."""
    unary = ("exp", "log", "sqrt", "tanh", "sigmoid", "relu")
    acts = {name: _ops._ACT_ID[name] for name in unary}
    acts["__neg__"] = acts["neg"] = _ops._ACT_ID["neg"]
    fallbacks = {name: Tensor.__dict__[name] for name in (*unary, "__radd__", "__rmul__")}
    fallbacks.update(
        __add__=_recorded_binary(_ops.Add, _ops.add),
        __sub__=_recorded_binary(_ops.Sub, _ops.sub),
        __mul__=_recorded_binary(_ops.Mul, _ops.mul),
        __truediv__=_recorded_binary(_ops.Div, _ops.div),
    )
    fallbacks.update(__neg__=_neg, neg=_neg)
    # speed27b: abs, number - / tensor, ** number, comparisons, x op= y (the Python methods)
    acts["__abs__"] = acts["abs"] = _ops._ACT_ID["abs"]
    fallbacks.update(__abs__=_ops.abs, abs=_ops.abs)
    for name in ("__rsub__", "__rtruediv__", "__pow__", "pow", "__iadd__", "__isub__",
                 "__imul__", "__itruediv__", "__lt__", "__le__", "__gt__", "__ge__", "__eq__",
                 "__ne__"):  # fmt: skip
        fallbacks[name] = Tensor.__dict__[name]
    methods = _C.fast_methods(
        Tensor, globals(), _ops._size1_strided, _C.binary_auto, fallbacks, acts,
        vars(_function), _function.note_write,
    )  # fmt: skip
    for name, method in methods.items():
        setattr(Tensor, name, method)
    # every in-place write is counted (torch's _version from creation): note_write's common
    # case in C (~0.1 us where the Python one was ~0.3 us of a small x.zero_()); the Python
    # one, which fast_methods keeps, does the rest
    _function.note_write = _C.count_write


def _install_fast_inplace() -> None:
    """Tensor.add_ / sub_ / mul_ / div_ in C (the in-place paths of _install_fast_methods),
    their fallbacks ember/_inplace.py's wrapped methods: ember/__init__.py calls this after
    _inplace.install (a 32x32 x.add_(y) ~x -> ~y us). speed28: fill_(number) and zero_ too
    (a 32x32 zero_ ~2.8 -> ~0.3 us) and copy_ (~4.7 -> ~0.5 us)."""
    names = ("add_", "sub_", "mul_", "div_", "fill_", "zero_", "copy_")
    for name, method in _C.fast_inplace_methods({n: Tensor.__dict__[n] for n in names}).items():
        setattr(Tensor, name, method)


_install_fast_methods()


def _same_kind_into(op, d, other) -> None:
    op(d, other, out=d, casting="same_kind")


_REAL_SCALARS = (int, float, np.integer, np.floating)  # numbers to torch, NumPy scalars too
_REFLECTED = {np.add: "__radd__", np.subtract: "__rsub__", np.multiply: "__rmul__",
              np.true_divide: "__rtruediv__", np.power: "__rpow__"}  # fmt: skip
_UFUNCS = {
    np.add: _ops.add,
    np.subtract: _ops.sub,
    np.multiply: _ops.mul,
    np.true_divide: _ops.div,
    np.negative: _ops.neg,
    np.power: _ops.pow,
    np.matmul: _ops.matmul,
    np.exp: _ops.exp,
    np.log: _ops.log,
    np.sqrt: _ops.sqrt,
    np.absolute: _ops.abs,
    np.tanh: _F.tanh,
    # the other operators, so that a NumPy scalar on the left (np.float32(2) // t, np.int64(1)
    # < t, np.int64(1) << t) gives a Tensor as torch's does, not an ndarray
    np.floor_divide: _ops.floor_divide,
    np.remainder: _ops.remainder,
    np.less: _ops.lt,
    np.less_equal: _ops.le,
    np.greater: _ops.gt,
    np.greater_equal: _ops.ge,
    np.equal: _ops.eq,
    np.not_equal: _ops.ne,
    np.bitwise_and: _ops.bitwise_and,
    np.bitwise_or: _ops.bitwise_or,
    np.bitwise_xor: _ops.bitwise_xor,
    np.left_shift: _ops.bitwise_left_shift,
    np.right_shift: _ops.bitwise_right_shift,
}


def _autograd_state():
    from ember.autograd.function import _state

    return _state


_BOOL_KEY_VALUES = (Tensor, int, float, complex, np.number)  # what torch writes at a bool key


def _column_select(x, index):
    """x[:, i] (full slices around one 1-D int64 index Tensor, i within x's dim) outside the
    graph: the index_select kernel GetItem.forward calls, straight (its index checks and the
    generic apply were ~11 us of a 32x32 call, NumPy's x[:, i] ~1.4). x C-contiguous without
    size-1 dims: torch's result is then C order (_index_laid's dense case). Else None."""
    if len(index) < 2 or not _ops._outside_graph(x):
        return None
    a = x._data
    if not (a.flags.c_contiguous and len(index) <= a.ndim and a.dtype.char in _ops._SELECT_CHARS):
        return None
    axis = None
    for d, p in enumerate(index):
        if type(p) is Tensor and axis is None:
            axis = d
        elif type(p) is not slice or p != _ops._FULL:
            return None
    if axis is None:
        return None
    i = index[axis]._data
    if i.dtype is not _ops._I64 or i.ndim != 1 or not i.flags.c_contiguous or 1 in a.shape:
        return None
    try:
        out = _C.index_select(a, i, axis)
    except IndexError:  # (negative or out of range: the generic path's steps and words)
        return None
    return Tensor._make(out, False, None, 0)


def _int_slice_key(index: tuple) -> bool:
    """index holds Python ints and slices of int (or no) bounds and positive steps alone."""
    for p in index:
        if type(p) is slice:
            a, b, c = p.start, p.stop, p.step
            if not (
                (a is None or type(a) is int)
                and (b is None or type(b) is int)
                and (c is None or (type(c) is int and c > 0))
            ):
                return False
        elif type(p) is not int:
            return False
    return True


def _zero_dim_ints(index: tuple) -> tuple:
    """``index`` with each 0-d integer Tensor as its int: torch's select (x[:, i] a view, i
    of int8 too), where NumPy would read an advanced index (a copy). ``index`` when none."""
    if not any(type(p) is Tensor and not p._data.ndim and p._data.dtype.kind == "i" for p in index):
        return index
    return tuple(
        int(p._data) if type(p) is Tensor and not p._data.ndim and p._data.dtype.kind == "i" else p
        for p in index
    )


def _split_int_index(index: tuple):
    """PyTorch applies the integer entries of an index first (as selects), NumPy counts them
    among the advanced indices: ``x[0, :, [1, 3]]`` is (4, 2) in torch, (2, 4) in NumPy for x of
    shape (3, 4, 5). Return (ints_and_newaxes, the_rest), two indices applied one after the
    other, when the index mixes integers with arrays; else None."""
    ints = arrays = False
    for p in index:
        if type(p) is int or isinstance(p, np.integer):
            ints = True
        elif isinstance(p, Tensor | np.ndarray):
            if p.ndim == 0 and p.dtype.kind in "iu" and not _uint8_tensor(p):
                ints = True
            elif p.ndim or p.dtype.kind == "b":
                arrays = True
        elif isinstance(p, list | bool | np.bool_):  # (x[0, :, False] is (3, 0, 4) in torch)
            arrays = True
    if not (ints and arrays):
        return None
    first, rest = [], []
    for p in index:
        if p is None:
            first.append(None)
            rest.append(slice(None))  # the new dim exists for the second index
        elif p is Ellipsis:
            first.append(p)
            rest.append(p)
        elif (isinstance(p, int | np.integer) and not isinstance(p, bool)) or (
            isinstance(p, Tensor | np.ndarray)
            and p.ndim == 0
            and p.dtype.kind in "iu"
            and not _uint8_tensor(p)
        ):
            first.append(int(p))
        else:
            mask = np.asarray(p.data if isinstance(p, Tensor) else p)
            is_mask = mask.dtype == np.bool_ or _uint8_tensor(p)
            first.extend([slice(None)] * (mask.ndim if is_mask else 1))
            rest.append(p)
    return tuple(first), tuple(rest)


def _uint8_tensor(p) -> bool:
    """A uint8 Tensor in an index is a mask (ops._index_array), as in torch."""
    return type(p) is Tensor and p.data.dtype == np.uint8


# .to(t) of these scalar types takes a fast path (Tensor.to)
_TO_DTYPES = {
    t: np.dtype(t)
    for t in (np.float16, _lowp.bfloat16.type, np.float32, np.float64, np.int32, np.int64)
}
_TENSOR_SLOTS = frozenset(Tensor.__slots__)


def _expanded_alias(a: np.ndarray):
    """A writeable array on the elements a read-only ``a`` views when ``a`` is an expanded
    (stride-0) view of writeable memory (its stride-0 dims kept at size 1), else None."""
    if 0 not in a.strides or not a.size:
        return None
    owner = _function.array_owner(a)  # (through as_strided's interface objects too)
    if not owner.flags.writeable or not (owner.flags.c_contiguous or owner.flags.f_contiguous):
        return None
    v = a[tuple(slice(0, 1) if s == 0 else slice(None) for s in a.strides)]
    start = v.__array_interface__["data"][0] - owner.__array_interface__["data"][0]
    flat = owner.reshape(-1, order="A").view(np.uint8)
    return np.lib.stride_tricks.as_strided(flat[start:].view(a.dtype), v.shape, v.strides)


def _writeable_alias(a: np.ndarray):
    """A writeable array with ``a``'s shape and strides on the memory a read-only ``a`` views
    (an expand()ed tensor or a view of one), when that memory is a writeable array's; else
    None (a read-only NumPy array stays read-only)."""
    owner = _function.array_owner(a)
    if (
        owner is a
        or not owner.flags.writeable
        or not (owner.flags.c_contiguous or owner.flags.f_contiguous)
        or any(st < 0 for st in a.strides)
    ):
        return None
    start = a.__array_interface__["data"][0] - owner.__array_interface__["data"][0]
    raw = owner.reshape(-1, order="A").view(np.uint8)
    return np.ndarray(a.shape, a.dtype, raw, start, a.strides)


def _check_no_internal_overlap(a: np.ndarray) -> None:
    """torch's assert_no_internal_overlap: a written-to tensor with a stride-0 dim of size 2 or
    more (an expand()ed one) is refused."""
    if any(st == 0 and n > 1 for n, st in zip(a.shape, a.strides, strict=True)):
        raise RuntimeError(
            "unsupported operation: more than one element of the written-to tensor refers to a "
            f"single memory location (a tensor of shape {tuple(a.shape)} and strides "
            f"{tuple(st // a.itemsize for st in a.strides)}). Please clone() the tensor before "
            "performing the operation."
        )


def _distinct(a: np.ndarray) -> bool:
    """Whether no two elements of ``a`` share memory, by the sufficient test: its dims of size
    2 or more, by stride, each step past the whole span of the smaller ones."""
    span = a.itemsize
    for st, n in sorted((abs(st), n) for n, st in zip(a.shape, a.strides, strict=True) if n > 1):
        if st < span:
            return False
        span = st * (n - 1) + span
    return True


def _strided_payload(a: np.ndarray):
    """What a pickle holds of ``a``: ``a`` itself when NumPy's pickle keeps its layout (C or
    Fortran order), else the span of memory ``a`` views and its strides, so a transposed or
    sliced tensor (or an expanded one's stride 0) comes back with torch's strides."""
    if a.flags.c_contiguous or a.flags.f_contiguous:
        return a
    step = a.itemsize
    if any(s < 0 or s % step for s in a.strides):  # (not torch's layouts: stored C-ordered)
        return np.ascontiguousarray(a)
    span = 1 + sum((n - 1) * s // step for n, s in zip(a.shape, a.strides, strict=True))
    # (through raw bytes: as_strided keeps only plain dtypes, not bfloat16)
    # (writeable if a is: a copy.copy shares a's memory, as torch's)
    raw = np.lib.stride_tricks.as_strided(a.view(f"V{step}"), (span,), (step,))
    return raw, a.dtype, a.shape, a.strides, a.flags.writeable


def _storage_payload(a: np.ndarray):
    """(the array owning a's memory, a's byte offset in it, dtype, shape, strides, writeable)
    for a view of a contiguous owner, else None."""
    if a.base is None:
        return None
    owner = _function.array_owner(a)
    if (
        owner is a
        or owner.dtype.hasobject
        or not (owner.flags.c_contiguous or owner.flags.f_contiguous)
        or any(st < 0 for st in a.strides)
    ):
        return None
    start = a.__array_interface__["data"][0] - owner.__array_interface__["data"][0]
    return owner, start, a.dtype, a.shape, a.strides, a.flags.writeable


def _from_payload(payload) -> np.ndarray:
    if isinstance(payload, np.ndarray):
        return payload
    if len(payload) == 6:  # (_storage_payload's)
        owner, start, dtype, shape, strides, writeable = payload
        raw = owner.reshape(-1, order="A").view(np.uint8)
        a = np.ndarray(shape, dtype, raw, start, strides)
        a.flags.writeable = writeable
        return a
    raw, dtype, shape, strides, writeable = payload
    # (an expanded tensor, stride 0, stays read-only)
    return np.lib.stride_tricks.as_strided(raw, shape, strides, writeable=writeable).view(dtype)


def _extra_state(t: Tensor) -> dict | None:
    """A subclass's own attributes (its extra slots, its __dict__) for pickle and deepcopy."""
    state = {}
    for cls in type(t).__mro__[:-2]:  # (up to Tensor, whose slots are pickled as above)
        for name in getattr(cls, "__slots__", ()):
            if name not in _TENSOR_SLOTS and hasattr(t, name):
                state[name] = getattr(t, name)
    state.update(getattr(t, "__dict__", {}))
    return state or None


def _is_parameter(t: Tensor) -> bool:
    from ember.nn import Parameter

    return isinstance(t, Parameter)


def _rebuild_tensor(cls, payload, requires_grad: bool, state) -> Tensor:
    """Unpickle a Tensor (or subclass, whose __init__ is not run, as torch's rebuild): a leaf."""
    t = object.__new__(cls)
    t._data = _from_payload(payload)
    t._grad = None
    t._ctx = None
    t._idx = 0
    t._requires_grad = requires_grad
    for name, value in (state or {}).items():
        object.__setattr__(t, name, value)
    return t


_INPLACE_OPS = {np.add: _ops.add, np.subtract: _ops.sub, np.multiply: _ops.mul,
                np.true_divide: _ops.div, np.power: _ops.pow, np.bitwise_and: Tensor.__and__,
                np.bitwise_or: Tensor.__or__, np.bitwise_xor: Tensor.__xor__,
                np.left_shift: Tensor.__lshift__, np.right_shift: Tensor.__rshift__}  # fmt: skip


class _Storage:
    """Tensor.untyped_storage(): the owning array's bytes."""

    __slots__ = ("_owner",)
    device = "cpu"

    def __init__(self, array: np.ndarray):
        while isinstance(array.base, np.ndarray):
            array = array.base
        self._owner = array

    def data_ptr(self) -> int:
        return self._owner.ctypes.data

    def nbytes(self) -> int:
        return self._owner.nbytes

    size = __len__ = nbytes

    def __repr__(self) -> str:
        return f"ember.UntypedStorage({self.nbytes()} bytes at {self.data_ptr():#x})"


def _check_inplace_cast(result: np.dtype, out: np.dtype) -> None:
    """torch's rule for in-place ops: int_tensor += 1.5 is refused (a float result does not
    go into an integer tensor), float32 += float64 and uint8 += int64 (wrapping) are fine."""
    if result is not out and not _ops.can_cast(result, out):  # (one dtype: the common case)
        raise RuntimeError(f"result type {result} can't be cast to the desired output type {out}")


# the named in-place maths whose values on a kernel array (ops._kernel_ok) are the unary kernel
# of their name's (ops._kernel_unary): x.name_() writes them into x's array by _map_, with no
# temporary copied back
_KERNEL_MAPS = frozenset(
    "log relu sigmoid tanh sin cos log1p expm1 rsqrt reciprocal square".split()
)


def _inplace_method(name: str):
    """``x.name_(...)``: x := x.name(...) in x's storage and dtype (no graph: see _needs_record)."""
    kernel = name if name in _KERNEL_MAPS else None

    def method(self, *args, **kwargs):
        if kernel is not None and not args and not kwargs and _ops._kernel_ok(self.data):
            return self._map_(None, kernel)
        out = getattr(Tensor, name)(self, *args, **kwargs)
        if out.shape != self.shape:
            raise RuntimeError(
                f"{name}_: output with shape {self.shape} doesn't match the broadcast shape "
                f"{out.shape}"
            )
        _check_inplace_cast(out.dtype, self.dtype)
        grad_arg = None
        for a in args:  # (a loop, not a generator: most calls have no argument at all)
            if isinstance(a, Tensor) and a._requires_grad:
                grad_arg = a
                break
        return self._assign(out.data, grad_arg)

    method.__name__ = f"{name}_"
    method.__doc__ = f"In-place {name}."
    return method


for _name in (
    "eq", "ne", "lt", "le", "gt", "ge", "greater", "greater_equal", "less", "less_equal",
    "not_equal", "logical_and", "logical_or", "logical_xor", "logical_not", "subtract",
    "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "bitwise_left_shift",
    "bitwise_right_shift", "gcd", "lcm",
    "multiply", "divide", "true_divide", "floor_divide", "remainder", "fmod", "negative",
    "float_power", "clamp_min", "clamp_max", "clip", "erf", "erfc", "erfinv", "lgamma",
    "digamma", "polygamma", "i0", "sinc", "logit", "xlogy", "atan2", "arctan2", "hypot",
    "copysign", "heaviside", "exp2", "frac", "fix", "sgn", "deg2rad", "rad2deg", "nan_to_num",
    "asinh", "acosh", "atanh", "arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh",
    "absolute", "ldexp", "nextafter", "mvlgamma", "acos", "asin", "atan", "ceil", "cos", "cosh",
    "expm1", "floor", "log10", "log1p", "log2", "log", "reciprocal", "relu", "round", "rsqrt",
    "sigmoid", "sign", "sin", "sinh", "square", "tan", "tanh", "trunc",
):  # fmt: skip
    setattr(Tensor, f"{_name}_", _inplace_method(_name))

# NumPy's axis=/keepdims= on the other reductions (ember/_keywords.py)
install_methods(
    Tensor,
    skip=(
        "size",
        "stride",
        "sum",
        "mean",
        "max",
        "min",
        "argmax",
        "argmin",
        "squeeze",
        "unsqueeze",
    ),
)
