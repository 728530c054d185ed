"""Saving and loading weights and training checkpoints as safetensors.

``ember.save(obj, f)`` / ``ember.load(f)`` are torch.save / torch.load: nested dicts, lists and
tuples of Tensors, arrays, numbers and strings (a state_dict, an optimiser's, a checkpoint dict)
are written as one safetensors file whose metadata holds the structure as JSON. Anything else
(``ember.save(model, f)``) is pickled, and ``ember.load`` unpickles it only when called with
``weights_only=False``, as torch.load (whose default also refuses pickled code).

``save_state_dict`` writes a model's state_dict under PyTorch's key names, so
``safetensors.torch.load_file(path)`` gives a state_dict torch loads. ``save_checkpoint`` adds
the optimiser state (arrays under ``optimizer.state.<index>.<name>``, the rest as JSON
metadata), the scheduler state and any JSON-able extras. Files are written to a temporary
file in the same directory and renamed, so a crash never leaves a half-written checkpoint.

safetensors is an optional dependency (``pip install safetensors`` or ``ember[examples]``).

``ember.load`` also reads files written by ``torch.save`` (its zip format), the way
``torch.load(weights_only=True)`` does: a restricted unpickler that builds only tensors,
parameters, containers, numbers, strings, dtypes and devices, so a downloaded checkpoint cannot
run code. A PyTorch-trained model's weights load without torch installed.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import tempfile
import zipfile
from collections import Counter, OrderedDict

import numpy as np

from ember import _lowp
from ember.tensor import Tensor

__all__ = [
    "load",
    "load_checkpoint",
    "load_state_dict",
    "save",
    "save_checkpoint",
    "save_state_dict",
]

_OPT_PREFIX = "optimizer.state."


def _safetensors():
    try:
        import safetensors.numpy as st
    except ImportError:
        raise ImportError(
            "ember.io needs the 'safetensors' package to save and load weights and "
            "checkpoints: pip install safetensors (or: pip install 'ember[examples]')"
        ) from None
    # safetensors.numpy writes ml_dtypes' bfloat16 as BF16 but has no NumPy type to read it as
    st._TYPES.setdefault("BF16", _lowp.bfloat16)
    return st


class _Encoder(json.JSONEncoder):
    def default(self, o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return {"__ndarray__": o.tolist(), "dtype": str(o.dtype)}
        if isinstance(o, Tensor):  # a Tensor lr in param_groups (torch allows one)
            return {"__tensor__": o.data.tolist(), "dtype": str(o.data.dtype)}
        return super().default(o)

    def encode(self, o):
        return super().encode(_tag(o))


def _tag(o):
    if isinstance(o, _Ref):
        return {"__ref__": [o.key, o.tensor, o.requires_grad]}
    if isinstance(o, Counter):
        return {"__counter__": [[k, v] for k, v in o.items()]}
    if isinstance(o, dict):
        return {"__dict__": [[_tag(k), _tag(v)] for k, v in o.items()]}
    if isinstance(o, tuple):
        return {"__tuple__": [_tag(v) for v in o]}
    if isinstance(o, list):
        return [_tag(v) for v in o]
    return o


def _untag(o):
    if isinstance(o, list):
        return [_untag(v) for v in o]
    if isinstance(o, dict):
        if "__counter__" in o:
            return Counter({_untag(k): v for k, v in o["__counter__"]})
        if "__dict__" in o:
            return {_hashable(_untag(k)): _untag(v) for k, v in o["__dict__"]}
        if "__tuple__" in o:
            return tuple(_untag(v) for v in o["__tuple__"])
        if "__ndarray__" in o:
            return np.asarray(o["__ndarray__"], dtype=o["dtype"])
        if "__tensor__" in o:
            return Tensor(np.asarray(o["__tensor__"], dtype=o["dtype"]))
    return o


def _hashable(k):
    return tuple(k) if isinstance(k, list) else k


def to_json(obj) -> str:
    """JSON with dict keys, tuples, Counters and arrays preserved (see ``from_json``)."""
    return json.dumps(obj, cls=_Encoder)


def from_json(text: str):
    return _untag(json.loads(text))


def _arrays(state_dict) -> dict[str, np.ndarray]:
    out = {}
    for k, v in state_dict.items():
        if not isinstance(k, str):
            raise TypeError(f"save_state_dict: keys must be strings, got {k!r}")
        if hasattr(v, "detach") and hasattr(v, "cpu") and not isinstance(v, Tensor):
            v = v.detach().cpu().numpy()  # a torch tensor
        a = v.data if isinstance(v, Tensor) else np.asarray(v)
        out[k] = np.asarray(a, order="C")
    return out


def _atomic_write(path, payload: bytes) -> None:
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".safetensors", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_state_dict(state_dict, path, metadata: dict[str, str] | None = None) -> None:
    """Write ``{name: array or Tensor}`` to ``path`` as safetensors (atomically)."""
    st = _safetensors()
    _atomic_write(path, st.save(_arrays(state_dict), metadata=metadata))


def load_state_dict(path) -> dict[str, np.ndarray]:
    """Read a safetensors file into ``{name: numpy array}`` (for ``Module.load_state_dict``)."""
    return dict(_safetensors().load_file(os.fspath(path)))


def save_checkpoint(path, model=None, optimizer=None, scheduler=None, **extra) -> None:
    """Save model weights (PyTorch's keys), optimiser and scheduler state and JSON-able
    ``extra`` values to one safetensors file, atomically."""
    st = _safetensors()
    tensors, meta = {}, {"format": "ember-checkpoint"}
    if model is not None:
        tensors.update(_arrays(model.state_dict()))
    if optimizer is not None:
        sd = optimizer.state_dict()
        scalars = {}
        for idx, s in sd["state"].items():
            for k, v in s.items():
                v = v.data if isinstance(v, Tensor) else v  # (state_dict() holds Tensors)
                if isinstance(v, np.ndarray) and v.ndim > 0:
                    tensors[f"{_OPT_PREFIX}{idx}.{k}"] = np.asarray(v, order="C")
                else:
                    scalars.setdefault(str(idx), {})[k] = _plain(v)
        meta["optimizer"] = to_json({"param_groups": sd["param_groups"], "scalars": scalars})
    if scheduler is not None:
        meta["scheduler"] = to_json(scheduler.state_dict())
    meta["extra"] = to_json(extra)
    _atomic_write(path, st.save(tensors, metadata=meta))


def _plain(v):
    """A JSON-able copy of a scalar optimiser state entry: Tensors (0-d ones too, and those
    inside LBFGS's lists) as arrays, which keep their dtype through JSON (a float64
    ``mu_product`` comes back float64, a float32 ``step`` float32)."""
    if isinstance(v, Tensor):
        v = v.data
    if isinstance(v, list | tuple):
        return type(v)(_plain(x) for x in v)
    return v


def load_checkpoint(path, model=None, optimizer=None, scheduler=None) -> dict:
    """Restore what ``save_checkpoint`` wrote into the given objects; returns the extras."""
    st = _safetensors()
    path = os.fspath(path)
    with st.safe_open(path, framework="numpy") as f:
        meta = f.metadata() or {}
    if meta.get("format") != "ember-checkpoint":
        raise ValueError(f"load_checkpoint: {path} is not an ember checkpoint")
    tensors = st.load_file(path)
    if model is not None:
        model.load_state_dict({k: v for k, v in tensors.items() if not k.startswith(_OPT_PREFIX)})
    if optimizer is not None:
        if "optimizer" not in meta:
            raise ValueError(f"load_checkpoint: {path} holds no optimizer state")
        o = from_json(meta["optimizer"])
        state: dict = {}
        for idx, s in o["scalars"].items():
            state.setdefault(int(idx), {}).update(s)
        for k, v in tensors.items():
            if k.startswith(_OPT_PREFIX):
                idx, name = k[len(_OPT_PREFIX) :].split(".", 1)
                state.setdefault(int(idx), {})[name] = v
        optimizer.load_state_dict({"state": state, "param_groups": o["param_groups"]})
    if scheduler is not None:
        if "scheduler" not in meta:
            raise ValueError(f"load_checkpoint: {path} holds no scheduler state")
        scheduler.load_state_dict(from_json(meta["scheduler"]))
    return from_json(meta.get("extra", "{}"))


class _Ref:
    """Stands for an array of a saved object while its structure goes through JSON."""

    def __init__(self, key: str, tensor: bool, requires_grad: bool = False):
        self.key, self.tensor, self.requires_grad = key, tensor, requires_grad


def _split(obj, arrays: dict):
    """obj with every Tensor and array replaced by a _Ref to its entry in ``arrays``."""
    if isinstance(obj, Tensor | np.ndarray):
        key = str(len(arrays))
        arrays[key] = np.asarray(obj.data if isinstance(obj, Tensor) else obj, order="C")
        return _Ref(key, isinstance(obj, Tensor), getattr(obj, "requires_grad", False))
    if isinstance(obj, Counter):  # counts only: nothing to split (kept a Counter by to_json)
        return obj
    if isinstance(obj, dict):
        return {k: _split(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_split(v, arrays) for v in obj)
    if obj is None or isinstance(obj, bool | int | float | str | np.generic):
        return obj
    raise TypeError(
        f"ember.save: cannot save a {type(obj).__name__} (ember.save takes nested dicts, lists "
        "and tuples of Tensors, arrays, numbers and strings; it never pickles)"
    )


def _join(obj, arrays: dict):
    if isinstance(obj, dict) and "__ref__" in obj:
        key, tensor, requires_grad = obj["__ref__"]
        a = arrays[key]
        return Tensor(a, requires_grad=requires_grad) if tensor else a
    if isinstance(obj, dict) and not isinstance(obj, Counter):
        return {k: _join(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_join(v, arrays) for v in obj)
    return obj


_PICKLED = b"ember-pickle\n"  # the head of a file that holds a pickled object


def save(obj, f, pickle_module=pickle, pickle_protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
    """Save ``obj`` to the path or binary file ``f``, as torch.save: nested containers of
    tensors, arrays, numbers and strings as safetensors (see the module docstring); anything
    else (a whole Module, an optimiser object) pickled, which ``load`` reads back only with
    ``weights_only=False``, as torch.load."""
    arrays: dict = {}
    try:
        meta = {"format": "ember-save", "object": to_json(_split(obj, arrays))}
    except TypeError as unsplit:
        try:
            payload = _PICKLED + pickle_module.dumps(obj, protocol=pickle_protocol)
        except (pickle.PicklingError, AttributeError, TypeError) as e:  # (a lambda, a lock)
            raise TypeError(f"{unsplit.args[0].split(' (')[0]}: it cannot be pickled ({e})") from e
    else:
        payload = _safetensors().save(arrays, metadata=meta)
    if hasattr(f, "write"):
        f.write(payload)
    else:
        _atomic_write(f, payload)


def load(f, map_location=None, weights_only: bool = True, **kwargs):
    """Read what ``ember.save`` wrote, from a path or binary file. Tensors come back as
    Tensors (with their requires_grad), arrays as arrays. ``map_location`` may only name the
    CPU. A pickled object (a whole Module) is unpickled only with ``weights_only=False``: as
    torch.load, the default refuses to run a file's code."""
    from ember import _device

    if map_location is not None:
        _device.check(map_location)
    if hasattr(f, "read"):
        payload = f.read()
    else:
        with open(os.fspath(f), "rb") as fh:
            payload = fh.read()
    if payload[:4] == b"PK\x03\x04":
        return _load_torch_zip(payload)
    if payload.startswith(_PICKLED):
        if weights_only:
            raise pickle.UnpicklingError(
                "Weights only load failed: the file holds a pickled object (ember.save of a "
                "whole Module or other object), and unpickling can run arbitrary code. If you "
                "trust its source, load it with weights_only=False"
            )
        return pickle.loads(payload[len(_PICKLED) :])
    if payload[:2] == b"\x80\x02":
        raise ValueError(
            "ember.load: this is torch.save's legacy (pre-1.6) format, which ember does not "
            "read; re-save it with a recent torch"
        )
    try:
        n = int.from_bytes(payload[:8], "little")
        meta = json.loads(payload[8 : 8 + n]).get("__metadata__") or {}
    except (ValueError, UnicodeDecodeError):
        meta = {}
    if meta.get("format") != "ember-save":
        raise ValueError("ember.load: not a file written by ember.save")
    arrays = dict(_safetensors().load(payload))
    return _join(from_json(meta["object"]), arrays)


# --- torch.save's zip format, read as torch.load(weights_only=True) reads it -----------------

_TORCH_STORAGES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": _lowp.bfloat16, "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}  # fmt: skip
_TORCH_DTYPES = {
    "float32": np.float32, "float": np.float32, "float64": np.float64, "double": np.float64,
    "float16": np.float16, "half": np.float16, "bfloat16": _lowp.bfloat16, "int64": np.int64,
    "long": np.int64, "int32": np.int32, "int": np.int32, "int16": np.int16, "int8": np.int8,
    "uint8": np.uint8, "bool": np.bool_,
}  # fmt: skip


def _rebuild_tensor(storage, offset, size, stride, requires_grad=False, *_):
    """A torch tensor's values: ``size`` elements ``stride`` apart from ``offset`` in storage."""
    size, stride = tuple(size), tuple(stride)
    # A damaged or crafted file: a negative offset, size or stride, or a stride per dim missing,
    # made the view below read memory outside the storage (garbage, or a crash).
    fits = len(size) == len(stride) and isinstance(storage, np.ndarray)
    if not fits or not all(type(v) is int and v >= 0 for v in (offset, *size, *stride)):
        raise pickle.UnpicklingError(
            f"ember.load: a tensor with offset {offset!r}, size {size!r} and stride {stride!r} "
            "does not fit its storage"
        )
    itemsize = storage.itemsize
    need = offset + sum((n - 1) * st for n, st in zip(size, stride)) + 1 if all(size) else 0
    if need > storage.size:
        raise pickle.UnpicklingError("ember.load: a tensor reaches past the end of its storage")
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], tuple(size), tuple(st * itemsize for st in stride), writeable=False
    )
    return Tensor(np.array(view), requires_grad=bool(requires_grad))


def _rebuild_parameter(data, requires_grad=True, *_):
    from ember.nn import Parameter

    return Parameter(data, requires_grad=bool(requires_grad))


def _torch_device(kind, index=None):
    from ember import _device

    return _device.device(kind)  # a CUDA device is refused, as map_location="cpu" would not be


class _TorchUnpickler(pickle.Unpickler):
    """Builds only what a weights file holds; any other global is refused."""

    _ALLOWED = {
        ("collections", "OrderedDict"): OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
        ("torch", "device"): _torch_device,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
    }

    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str):
        super().__init__(io.BytesIO(data))
        self._archive, self._prefix, self._storages = archive, prefix, {}

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[(module, name)]
        if module == "torch" and (name in _TORCH_STORAGES or name in _TORCH_DTYPES):
            return _TORCH_STORAGES.get(name) or np.dtype(_TORCH_DTYPES[name])
        raise pickle.UnpicklingError(
            f"ember.load: refusing to load {module}.{name}: a weights file holds only tensors, "
            "containers, numbers and strings (as torch.load(weights_only=True))"
        )

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"ember.load: unknown persistent id {pid!r}")
        _, dtype, key, _location, numel = pid
        if key not in self._storages:
            raw = self._archive.read(f"{self._prefix}data/{key}")
            array = np.frombuffer(raw, np.dtype(dtype).newbyteorder("<"))
            self._storages[key] = array[:numel]
        return self._storages[key]


def _load_torch_zip(payload: bytes):
    try:
        archive = zipfile.ZipFile(io.BytesIO(payload))
    except zipfile.BadZipFile as e:
        raise ValueError(f"ember.load: a damaged zip file ({e})") from None
    pickles = [n for n in archive.namelist() if n.endswith("data.pkl")]
    if len(pickles) != 1:
        raise ValueError("ember.load: a zip file that torch.save did not write")
    prefix = pickles[0][: -len("data.pkl")]
    if f"{prefix}byteorder" in archive.namelist():
        if archive.read(f"{prefix}byteorder").strip() != b"little":
            raise ValueError("ember.load: a big-endian torch file is not supported")
    return _TorchUnpickler(archive.read(pickles[0]), archive, prefix).load()
