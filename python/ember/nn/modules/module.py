"""Module, Parameter and Buffer: the layer machinery, with PyTorch's names and state_dict
keys."""

from __future__ import annotations

from collections import OrderedDict, namedtuple

import numpy as np

from ember import _device
from ember.autograd.function import no_grad
from ember.tensor import Tensor, _as_array


class Parameter(Tensor):
    """A Tensor that a Module registers as a learnable parameter (requires_grad by default)."""

    __slots__ = ()

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = np.empty(0, dtype=np.float32)
        super().__init__(_as_array(data, copy=False), requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Buffer(Tensor):
    """A Tensor that a Module registers as a buffer when assigned to an attribute, as
    ``torch.nn.Buffer``: ``self.stats = nn.Buffer(x, persistent=False)`` is
    ``self.register_buffer("stats", x, persistent=False)`` (the module keeps a plain Tensor)."""

    __slots__ = ("persistent",)

    def __init__(self, data=None, *, persistent: bool = True):
        if data is None:
            data = np.empty(0, dtype=np.float32)
        super().__init__(data.data if isinstance(data, Tensor) else data)
        self.persistent = persistent


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of every layer.

    Assigning a Parameter, a Module or (through ``register_buffer``) a buffer to an attribute
    registers it, so ``parameters()``, ``state_dict()`` and ``train()/eval()`` find it.
    Subclasses set their parameters in ``reset_parameters()`` and compute in ``forward()``.
    """

    training: bool

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---- registration ---------------------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() call in {type(self).__name__}"
            )
        if isinstance(value, Buffer):
            plain = Tensor._make(value.data, False, None, 0)
            self.register_buffer(name, plain, persistent=value.persistent)
            return
        params, modules, buffers = self._parameters, self._modules, self._buffers
        was_buffer = name in buffers
        for registry in (params, modules, buffers):
            registry.pop(name, None)
        if isinstance(value, Parameter):
            params[name] = value
        elif isinstance(value, Module):
            modules[name] = value
        elif was_buffer:  # reassigning a buffer keeps it a buffer
            buffers[name] = value if value is None or isinstance(value, Tensor) else Tensor(value)
            value = buffers[name]
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        for registry in (self._parameters, self._modules, self._buffers):
            registry.pop(name, None)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a Parameter or None")
        self.__setattr__(name, param)
        if param is None:
            self._parameters[name] = None

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """A non-learnable state saved in state_dict (e.g. batch norm's running mean)."""
        if tensor is not None and not isinstance(tensor, Tensor):
            tensor = Tensor(np.asarray(tensor))
        for registry in (self._parameters, self._modules):
            registry.pop(name, None)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)
        object.__setattr__(self, name, tensor)

    def add_module(self, name: str, module: Module | None) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module, got {type(module).__name__}")
        self._modules[name] = module
        object.__setattr__(self, name, module)

    register_module = add_module

    # ---- traversal ------------------------------------------------------------------------
    def named_modules(self, memo=None, prefix: str = ""):
        if memo is None:
            memo = set()
        stack = [(prefix, self)]
        while stack:  # iterative pre-order walk, children in registration order
            name, mod = stack.pop()
            if id(mod) in memo:
                continue
            memo.add(id(mod))
            yield name, mod
            children = [
                (name + ("." if name else "") + n, m)
                for n, m in mod._modules.items()
                if m is not None
            ]
            stack.extend(reversed(children))

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        seen = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_name, mod in mods:
            for name, p in mod._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (mod_name + "." if mod_name else "") + name, p

    def parameters(self, recurse: bool = True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True):
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_name, mod in mods:
            for name, b in mod._buffers.items():
                if b is not None:
                    yield (mod_name + "." if mod_name else "") + name, b

    def buffers(self, recurse: bool = True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn):
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ---- modes and gradients --------------------------------------------------------------
    def train(self, mode: bool = True):
        if not isinstance(mode, bool):
            raise ValueError("train: mode is expected to be a bool")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.data[...] = 0

    def to(self, *args, dtype=None, device=None, non_blocking: bool = False):
        """Cast floating-point parameters and buffers in place (the Parameter objects stay).
        Takes a dtype (``to(np.float64)``) and/or the CPU device; other devices are refused."""
        dtype = _device.parse_to(args, dtype, device)
        if dtype is None:
            return self
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"Module.to: only floating point dtypes are supported, got {dtype}")
        for t in list(self.parameters()) + list(self.buffers()):
            if t.data.dtype.kind == "f":
                t.data = t.data.astype(dtype)
                if t.grad is not None:
                    t.grad.data = t.grad.data.astype(dtype)
        return self

    def cpu(self):
        return self

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    # ---- state ----------------------------------------------------------------------------
    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False):
        """Parameters and persistent buffers by PyTorch's dotted names, as Tensors sharing
        this module's memory (use ``{k: v.numpy() ...}`` for arrays)."""
        if destination is None:
            destination = OrderedDict()
        for mod_name, mod in self.named_modules(prefix=prefix.rstrip(".")):
            head = mod_name + "." if mod_name else ""
            for name, p in mod._parameters.items():
                if p is not None:
                    destination[head + name] = p if keep_vars else p.detach()
            for name, b in mod._buffers.items():
                if b is not None and name not in mod._non_persistent:
                    destination[head + name] = b if keep_vars else b.detach()
        return destination

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy values (Tensors, NumPy arrays, or anything np.asarray accepts, e.g. torch
        tensors) into this module's parameters and buffers, in place.

        Raises RuntimeError naming every missing key, unexpected key and shape mismatch
        (missing/unexpected keys only when ``strict``). Returns (missing_keys, unexpected_keys).
        """
        if not hasattr(state_dict, "items"):
            raise TypeError(
                f"load_state_dict: expected a dict-like, got {type(state_dict).__name__}"
            )
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        values = {}
        for k, target in own.items():
            if k not in state_dict:
                continue
            v = state_dict[k]
            if hasattr(v, "detach") and hasattr(v, "cpu") and not isinstance(v, Tensor):
                v = v.detach().cpu().numpy()  # a torch tensor
            arr = np.asarray(v.data if isinstance(v, Tensor) else v)
            if arr.shape != target.shape:
                errors.append(
                    f"size mismatch for {k}: copying a param with shape {arr.shape} from "
                    f"checkpoint, the shape in current model is {target.shape}"
                )
                continue
            if arr.dtype.kind not in "biuf":
                errors.append(f"{k}: value of dtype {arr.dtype} is not numeric")
                continue
            values[k] = arr
        if strict:
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(map(repr, missing)))
            if unexpected:
                errors.insert(
                    0, "Unexpected key(s) in state_dict: " + ", ".join(map(repr, unexpected))
                )
        if errors:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                + "\n\t".join(errors)
            )
        with no_grad():
            for k, arr in values.items():
                np.copyto(own[k].data, arr, casting="unsafe")
        return IncompatibleKeys(missing, unexpected)

    # ---- calling and printing -------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        for name, m in self._modules.items():
            body = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {body}")
        main = type(self).__name__ + "("
        if not lines:
            return main + ")"
        if len(lines) == 1 and not self._modules:
            return main + lines[0] + ")"
        return main + "\n  " + "\n  ".join(lines) + "\n)"

    def __dir__(self):
        return sorted(set(super().__dir__()))
