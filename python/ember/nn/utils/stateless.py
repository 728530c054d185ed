"""functional_call: run a module with some parameters and buffers replaced (PyTorch's
torch.nn.utils.stateless)."""

from __future__ import annotations

from collections.abc import Mapping

from ember.tensor import Tensor


def _tensor_slots(module):
    """(owner module, registry, name, tensor) for every parameter and buffer by every dotted
    name (tied tensors appear under each of their names)."""
    out = {}
    stack = [("", module)]
    while stack:
        prefix, mod = stack.pop()
        for registry in (mod._parameters, mod._buffers):
            for name, t in registry.items():
                if t is not None:
                    out[prefix + name] = (mod, registry, name, t)
        for name, child in mod._modules.items():
            if child is not None:
                stack.append((prefix + name + ".", child))
    return out


def functional_call(
    module,
    parameter_and_buffer_dicts,
    args=None,
    kwargs=None,
    *,
    tie_weights: bool = True,
    strict: bool = False,
):
    """``module(*args, **kwargs)`` with the parameters and buffers named in
    ``parameter_and_buffer_dicts`` (a dict, or a sequence of dicts, of dotted names to
    Tensors) used in place of the module's own; the module is restored afterwards.

    Gradients flow to the given Tensors. With ``tie_weights`` a tensor reachable under two
    names is replaced under both when one is given; with ``strict`` every parameter and
    buffer must be given and no other name.
    """
    if isinstance(parameter_and_buffer_dicts, Mapping):
        values = dict(parameter_and_buffer_dicts)
    else:
        values = {}
        for d in parameter_and_buffer_dicts:
            clash = set(values) & set(d)
            if clash:
                raise ValueError(
                    f"{sorted(clash)} appeared in multiple dictionaries; behavior of "
                    "functional call is ambiguous"
                )
            values.update(d)
    slots = _tensor_slots(module)
    if strict:
        missing = [k for k in slots if k not in values]
        unexpected = [k for k in values if k not in slots]
        if missing or unexpected:
            msg = f"Error(s) in reparametrizing for {type(module).__name__}:"
            if unexpected:
                msg += "\n\tUnexpected key(s): " + ", ".join(map(repr, unexpected)) + "."
            if missing:
                msg += "\n\tMissing key(s): " + ", ".join(map(repr, missing)) + "."
            raise RuntimeError(msg)
    if tie_weights:
        by_tensor = {id(slots[k][3]): v for k, v in values.items() if k in slots}
        for k, (_, _, _, t) in slots.items():
            if k not in values and id(t) in by_tensor:
                values[k] = by_tensor[id(t)]
    swapped = []
    try:
        for k, v in values.items():
            if not isinstance(v, Tensor):
                v = Tensor(v)
            if k not in slots:  # as torch: set as a plain attribute for the call
                swapped.append(_set_plain(module, k, v))
                continue
            mod, registry, name, t = slots[k]
            swapped.append((mod, registry, name, t))
            registry[name] = v
            object.__setattr__(mod, name, v)
        if args is None:
            args = ()
        elif not isinstance(args, tuple):
            args = (args,)
        return module(*args, **(kwargs or {}))
    finally:
        for mod, registry, name, t in reversed(swapped):
            if registry is not None:
                registry[name] = t
                object.__setattr__(mod, name, t)
            elif t is _ABSENT:
                object.__delattr__(mod, name)
            else:
                object.__setattr__(mod, name, t)


_ABSENT = object()


def _set_plain(module, key: str, v: Tensor) -> tuple:
    """Set ``key`` (a dotted name that is no parameter or buffer) on its submodule as a plain
    attribute, as torch's non-strict functional_call does: (module, None, name, old value or
    _ABSENT) to restore it. The submodules on the way must exist; a submodule or a plain
    non-Tensor attribute is not replaced."""
    *path, name = key.split(".")
    mod = module
    for part in path:
        child = mod._modules.get(part)
        if child is None:
            raise AttributeError(f"{type(mod).__name__} has no attribute `{part}`")
        mod = child
    old = mod.__dict__.get(name, _ABSENT)
    if name in mod._modules or (old is not _ABSENT and not isinstance(old, Tensor)):
        raise TypeError(f"attribute `{name}`: {old!r} is not an instance of Tensor")
    object.__setattr__(mod, name, v)
    return mod, None, name, old
