"""Containers: Sequential, ModuleList, ModuleDict."""

from __future__ import annotations

import operator
from collections import OrderedDict

from ember.nn.modules.module import Module


def _renumber(container, modules) -> None:
    """Re-register ``modules`` under the keys 0..n-1 (list edits renumber, as in PyTorch)."""
    for name in list(container._modules):
        delattr(container, name)
    for i, m in enumerate(modules):
        container.add_module(str(i), m)


class Sequential(Module):
    """Modules applied in order. ``Sequential(a, b)`` or ``Sequential(OrderedDict(...))``.

    Example::

        >>> net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    """

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, m in args[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), m)

    def forward(self, input):
        for m in self._modules.values():
            input = m(input)
        return input

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return Sequential(OrderedDict(list(self._modules.items())[idx]))
        idx = operator.index(idx)
        keys = list(self._modules)
        if not -len(keys) <= idx < len(keys):
            raise IndexError(f"index {idx} is out of range for Sequential of length {len(keys)}")
        return self._modules[keys[idx]]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self

    _reset = _renumber

    def extend(self, sequential) -> Sequential:
        for m in sequential:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> Sequential:
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.insert: expected a Module, got {type(module).__name__}")
        n = len(self)
        if not -n <= index <= n:
            raise IndexError(f"Sequential.insert: index {index} is out of range for length {n}")
        mods = list(self)
        mods.insert(index, module)
        self._reset(mods)
        return self

    def pop(self, key) -> Module:
        m = self[key]
        del self[key]
        return m

    def __delitem__(self, idx) -> None:
        mods = list(self)
        del mods[idx]
        self._reset(mods)

    def __setitem__(self, idx: int, module: Module) -> None:
        self.add_module(list(self._modules)[idx], module)

    def __add__(self, other) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError("add operator supports only objects of Sequential class")
        return Sequential(*self, *other)

    def __iadd__(self, other) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError("add operator supports only objects of Sequential class")
        return self.extend(other)

    def __mul__(self, other: int) -> Sequential:
        if not isinstance(other, int):  # torch: TypeError for the type, ValueError for <= 0
            raise TypeError(f"Sequential: can only multiply by a positive int, got {other!r}")
        if other <= 0:
            raise ValueError(f"Sequential: can only multiply by a positive int, got {other!r}")
        return Sequential(*(list(self) * other))  # the same modules repeated, as PyTorch

    __rmul__ = __mul__

    def __imul__(self, other: int) -> Sequential:
        self._reset(list(self * other))
        return self


class ModuleList(Module):
    """A list of modules, registered so their parameters are found."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _key(self, idx) -> str:
        idx = operator.index(idx)  # an int, or a 0-d integer Tensor / NumPy integer, as torch
        n = len(self)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range for ModuleList of length {n}")
        return str(idx % n)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ModuleList(list(self._modules.values())[idx])
        return self._modules[self._key(idx)]

    def __setitem__(self, idx, module):
        # (an index past the end is refused, as torch's: it wrapped round onto another entry)
        self.add_module(self._key(idx), module)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules) -> ModuleList:
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        mods = list(self)
        mods.insert(index, module)
        self._reset(mods)

    _reset = _renumber

    def __delitem__(self, idx) -> None:
        mods = list(self)
        del mods[idx]
        self._reset(mods)

    def pop(self, key) -> Module:
        m = self[key]
        del self[key]
        return m

    def __add__(self, other) -> ModuleList:
        return ModuleList([*self, *other])

    def __iadd__(self, modules) -> ModuleList:
        return self.extend(modules)

    def __repr__(self) -> str:
        # torch's: a run of equal children is one line, "(0-5): 6 x TransformerEncoderLayer(...)"
        reprs = [repr(m) for m in self]
        if not reprs:
            return type(self).__name__ + "()"
        runs = []  # [first index, last index, repr]
        for i, r in enumerate(reprs):
            if runs and runs[-1][2] == r:
                runs[-1][1] = i
            else:
                runs.append([i, i, r])
        lines = [
            (f"({a}): {r}" if a == b else f"({a}-{b}): {b - a + 1} x {r}").replace("\n", "\n  ")
            for a, b, r in runs
        ]
        return type(self).__name__ + "(\n  " + "\n  ".join(lines) + "\n)"


class ModuleDict(Module):
    """A dict of modules, registered under their keys."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key) -> bool:
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def __delitem__(self, key: str) -> None:
        delattr(self, key)

    def clear(self) -> None:
        for key in list(self._modules):
            del self[key]

    def pop(self, key: str) -> Module:
        m = self[key]
        del self[key]
        return m

    def update(self, modules) -> None:
        """Adds the (key, module) pairs of a mapping (in its order) or of a sequence of pairs."""
        for j, pair in enumerate(modules.items() if hasattr(modules, "items") else modules):
            if not isinstance(pair, tuple | list) or len(pair) != 2:
                raise ValueError(
                    f"ModuleDict update sequence element #{j} should be a (key, module) pair"
                )
            self[pair[0]] = pair[1]


def _as_parameter(value):
    from ember.nn.modules.module import Parameter
    from ember.tensor import Tensor

    if isinstance(value, Parameter) or value is None:
        return value
    if isinstance(value, Tensor):  # PyTorch wraps plain tensors too
        return Parameter(value.data)
    raise TypeError(f"expected a Parameter or Tensor, got {type(value).__name__}")


def _parameters_repr(items) -> str:
    """PyTorch's listing of a parameter container: one "(key): Parameter containing: [...]"
    line per entry, giving dtype and size rather than the values."""
    return "\n".join(
        f"  ({k}): Parameter containing: [{p.dtype} of size {'x'.join(map(str, p.shape))}]"
        for k, p in items
    )


class ParameterList(Module):
    """A list of parameters registered under "0", "1", ... (plain Tensors become Parameters).
    As torch's, other values (numbers, strings, None) may be held too: they are kept as plain
    attributes, listed and indexed but not parameters (nor in state_dict)."""

    def __init__(self, values=None):
        super().__init__()
        self._size = 0
        if values is not None:
            self.extend(values)

    def _key(self, idx) -> str:
        idx = operator.index(idx)
        n = self._size
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range for ParameterList of length {n}")
        return str(idx % n)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ParameterList([self[i] for i in range(*idx.indices(self._size))])
        return getattr(self, self._key(idx))

    def __setitem__(self, idx, param):
        self._set(self._key(idx), param)

    def _set(self, key: str, value) -> None:
        from ember.tensor import Tensor

        # (Module.__setattr__: a Parameter replaces a plain value; a plain value over a
        # Parameter is refused, as torch's)
        setattr(self, key, _as_parameter(value) if isinstance(value, Tensor) else value)

    def __len__(self) -> int:
        return self._size

    def __iter__(self):
        return iter([self[i] for i in range(self._size)])

    def append(self, value) -> ParameterList:
        self._size += 1
        self._set(str(self._size - 1), value)
        return self

    def extend(self, values) -> ParameterList:
        for v in values:
            self.append(v)
        return self

    __iadd__ = extend

    def extra_repr(self) -> str:
        from ember.tensor import Tensor

        return "\n".join(
            _parameters_repr([(str(i), v)])
            if isinstance(v, Tensor)
            else f"  ({i}): Object of type: {type(v).__name__}"
            for i, v in enumerate(self)
        )


class ParameterDict(Module):
    """A dict of parameters registered under their keys (plain Tensors become Parameters).
    As torch's, other values (numbers, strings, None) may be held too: they are kept as plain
    attributes, listed and looked up but not parameters (nor in state_dict)."""

    def __init__(self, parameters=None):
        super().__init__()
        self._keys: dict[str, None] = {}  # the insertion order of every key
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key: str):
        if key not in self._keys:
            raise KeyError(key)
        return getattr(self, key)

    def __setitem__(self, key: str, value) -> None:
        from ember.tensor import Tensor

        if not isinstance(key, str):
            raise TypeError(f"ParameterDict keys must be strings, got {type(key).__name__}")
        # (Module.__setattr__: a Parameter replaces a plain value; a plain value over a
        # Parameter is refused, as torch's)
        setattr(self, key, _as_parameter(value) if isinstance(value, Tensor) else value)
        self._keys[key] = None

    def __delitem__(self, key: str) -> None:
        del self._keys[key]
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self):
        return iter(self._keys)

    def __contains__(self, key) -> bool:
        return key in self._keys

    def keys(self):
        return self._keys.keys()

    def values(self):
        return [self[k] for k in self._keys]

    def items(self):
        return [(k, self[k]) for k in self._keys]

    def update(self, parameters) -> None:
        """Adds (key, value) pairs: in order from an OrderedDict, ParameterDict or sequence of
        pairs, sorted by key from any other mapping (as PyTorch does)."""
        if isinstance(parameters, OrderedDict | ParameterDict):
            items = parameters.items()
        elif hasattr(parameters, "items"):
            items = sorted(parameters.items())
        else:
            items = parameters
        for k, v in items:
            self[k] = v

    def pop(self, key: str):
        value = self[key]
        del self[key]
        return value

    # the rest of dict's interface, as PyTorch's ParameterDict
    def get(self, key: str, default=None):
        return self[key] if key in self else default

    def setdefault(self, key: str, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def popitem(self):
        key = next(reversed(self._keys))
        return key, self.pop(key)

    def clear(self) -> None:
        for key in list(self._keys):
            del self[key]

    def copy(self) -> ParameterDict:
        return ParameterDict(OrderedDict(self.items()))

    @staticmethod
    def fromkeys(keys, default=None) -> ParameterDict:
        return ParameterDict([(k, default) for k in keys])

    def __or__(self, other) -> ParameterDict:
        out = self.copy()
        out.update(other)
        return out

    def __ior__(self, other) -> ParameterDict:
        self.update(other)
        return self

    def __reversed__(self):
        return reversed(list(self._keys))

    def extra_repr(self) -> str:
        from ember.tensor import Tensor

        return "\n".join(
            _parameters_repr([(k, v)])
            if isinstance(v, Tensor)
            else f"  ({k}): Object of type: {type(v).__name__}"
            for k, v in self.items()
        )
