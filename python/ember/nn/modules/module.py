"""Module, Parameter and Buffer: the layer machinery, with PyTorch's names and state_dict
keys."""

from __future__ import annotations

import functools
import inspect
import warnings
import weakref
from collections import OrderedDict, namedtuple
from collections.abc import Mapping

import numpy as np

from ember import _device, _inplace, _layout, _lowp
from ember._errors import BadShapeOrValue
from ember.autograd import function as _function
from ember.autograd.function import Function, is_grad_enabled, no_grad
from ember.tensor import Tensor, _as_array, get_default_dtype


def _check_size(cls: str, name: str, v, minimum: int = 1) -> int:
    """A layer's size argument: an int (TypeError otherwise) of at least ``minimum``."""
    if isinstance(v, bool) or not isinstance(v, int | np.integer):
        raise TypeError(f"{cls}: {name} must be an int, got {v!r}")
    if v < minimum:  # (torch's negative-dimension RuntimeError; ValueError too)
        raise BadShapeOrValue(f"{cls}: {name} must be >= {minimum}, got {v}")
    return int(v)


class _BadName(KeyError, ValueError):
    """A name register_buffer / register_parameter / add_module cannot take: a KeyError as
    PyTorch's, and a ValueError as ember's other argument checks."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class Parameter(Tensor):
    """A Tensor that a Module registers as a learnable parameter (requires_grad by default)."""

    __slots__ = ()

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = np.empty(0, dtype=get_default_dtype())
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
            data = np.empty(0, dtype=get_default_dtype())
        super().__init__(data.data if isinstance(data, Tensor) else data)
        self.persistent = persistent


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    __slots__ = ()

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


IncompatibleKeys = _IncompatibleKeys


class RemovableHandle:
    """Returned by every ``register_*_hook``: ``handle.remove()`` (or leaving a ``with``
    block) unregisters the hook."""

    next_id = 0

    def __init__(self, hooks_dict, *, extra_dict=None, owner=None):
        self.hooks_dict_ref = weakref.ref(hooks_dict)
        self.id = RemovableHandle.next_id
        RemovableHandle.next_id += 1
        extras = extra_dict if isinstance(extra_dict, list) else [extra_dict]
        self.extra_dict_ref = tuple(weakref.ref(d) for d in extras if d is not None)
        self._owner = None if owner is None else weakref.ref(owner)

    def remove(self) -> None:
        for ref in (self.hooks_dict_ref, *self.extra_dict_ref):
            d = ref()
            if d is not None:
                d.pop(self.id, None)
        owner = None if self._owner is None else self._owner()
        if owner is not None:
            owner._refresh_hooked()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


# Hooks on every module (``register_module_*``), run before each module's own hooks.
_global_forward_pre_hooks: OrderedDict = OrderedDict()
_global_forward_hooks: OrderedDict = OrderedDict()
_global_forward_hooks_with_kwargs: OrderedDict = OrderedDict()
_global_forward_hooks_always_called: OrderedDict = OrderedDict()
_global_backward_hooks: OrderedDict = OrderedDict()
_global_backward_pre_hooks: OrderedDict = OrderedDict()
_GLOBAL_HOOK_DICTS = (
    _global_forward_pre_hooks,
    _global_forward_hooks,
    _global_backward_hooks,
    _global_backward_pre_hooks,
)


class _GlobalHooksOwner:
    """Keeps ``Module._hooked`` (the class default) true exactly while a global hook exists."""

    @staticmethod
    def _refresh_hooked():
        Module._hooked = any(_GLOBAL_HOOK_DICTS)


_GLOBAL_OWNER = _GlobalHooksOwner()


def _register(hooks, hook, owner, prepend=False, extras=()):
    """Add ``hook`` to the ordered dict ``hooks``; ``extras`` are (dict, flag) pairs whose
    dict records this hook's id when flag is true (with_kwargs, always_call)."""
    handle = RemovableHandle(hooks, extra_dict=[d for d, _ in extras], owner=owner)
    hooks[handle.id] = hook
    for d, flag in extras:
        if flag:
            d[handle.id] = True
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    owner._refresh_hooked()
    return handle


def register_module_forward_pre_hook(hook) -> RemovableHandle:
    """A forward pre-hook run before every module's own (see Module.register_forward_pre_hook)."""
    return _register(_global_forward_pre_hooks, hook, _GLOBAL_OWNER)


def register_module_forward_hook(
    hook, *, with_kwargs: bool = False, always_call: bool = False
) -> RemovableHandle:
    """A forward hook run before every module's own (see Module.register_forward_hook)."""
    extras = (
        (_global_forward_hooks_with_kwargs, with_kwargs),
        (_global_forward_hooks_always_called, always_call),
    )
    return _register(_global_forward_hooks, hook, _GLOBAL_OWNER, extras=extras)


def register_module_full_backward_pre_hook(hook) -> RemovableHandle:
    """A backward pre-hook for every module (see Module.register_full_backward_pre_hook)."""
    return _register(_global_backward_pre_hooks, hook, _GLOBAL_OWNER)


def register_module_full_backward_hook(hook) -> RemovableHandle:
    """A backward hook for every module (see Module.register_full_backward_hook)."""
    return _register(_global_backward_hooks, hook, _GLOBAL_OWNER)


# Registration hooks (torch's register_module_*_registration_hook): hook(module, name, value)
# runs when any module registers a buffer / parameter / submodule, and may return a
# replacement value.
_global_buffer_registration_hooks: OrderedDict = OrderedDict()
_global_parameter_registration_hooks: OrderedDict = OrderedDict()
_global_module_registration_hooks: OrderedDict = OrderedDict()


class _NoOwner:
    @staticmethod
    def _refresh_hooked():
        pass


def register_module_buffer_registration_hook(hook) -> RemovableHandle:
    """``hook(module, name, buffer) -> None or a replacement``, for every buffer registered."""
    return _register(_global_buffer_registration_hooks, hook, _NoOwner)


def register_module_parameter_registration_hook(hook) -> RemovableHandle:
    """``hook(module, name, param) -> None or a replacement``, for every parameter registered."""
    return _register(_global_parameter_registration_hooks, hook, _NoOwner)


def register_module_module_registration_hook(hook) -> RemovableHandle:
    """``hook(module, name, submodule) -> None or a replacement``, for every submodule
    registered."""
    return _register(_global_module_registration_hooks, hook, _NoOwner)


def _registered(hooks, module, name, value):
    for hook in list(hooks.values()):
        out = hook(module, name, value)
        if out is not None:
            value = out
    return value


class _PrivateStateDictHook:
    """A ``_register_state_dict_hook`` hook: its return value may replace the state_dict."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, *args):
        return self.fn(*args)


class _WithoutModule:
    """A ``_register_load_state_dict_pre_hook`` hook called without the module."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, module, *args):
        return self.fn(*args)


class _BackwardHookFunction(Function):
    """Identity on a module's input (or output) Tensors whose backward runs the module's
    backward hooks, as PyTorch's BackwardHookFunction."""

    @staticmethod
    def forward(ctx, *arrays, hook=None, materialize=True):
        ctx.hook = hook
        # (the outputs' node: an output that got no gradient reaches the hooks as None, not
        # zeros, as torch's; an input that needs none still gets zeros there, as torch's)
        ctx.set_materialize_grads(materialize)
        ctx.mark_non_differentiable(*[i for i, n in enumerate(ctx.needs_input_grad) if not n])
        return arrays

    @staticmethod
    def backward(ctx, *grads):
        return ctx.hook(ctx, grads)

    @staticmethod
    def backward_graph(ctx, *grads):
        # create_graph: the hooks see, and may return, the recorded gradient Tensors
        return ctx.hook(ctx, grads, graph=True)


def _wrap(g):
    return g if g is None or isinstance(g, Tensor) else Tensor._make(g, False, None, 0)


def _unwrap(g, graph: bool = False):
    """A hook's gradient for the engine: its array, or in the recording pass the Tensor (a
    returned array then becomes a constant Tensor)."""
    if graph:
        return g if g is None or isinstance(g, Tensor) else Tensor(np.asarray(g))
    return g.data if isinstance(g, Tensor) else g


_MIXED_BACKWARD_HOOKS = (
    "Cannot use both regular backward hooks and full backward hooks on a single Module. Please "
    "use only one of them."
)


def _legacy_backward_hooks(module, args, result) -> None:
    """register_backward_hook's hooks, as PyTorch's: on the grad_fn of the output's first
    Tensor (nothing when it has none), with PyTorch's warning that grad_input may miss some
    of the module's inputs (given unless the node's inputs are exactly the inputs' nodes)."""
    var = result
    while not isinstance(var, Tensor):
        if isinstance(var, dict):
            var = next(v for v in var.values() if isinstance(v, Tensor))
        else:
            var = var[0]
    node = var.grad_fn
    if node is None:
        return
    kind = None
    if type(module).__name__ == "Linear" and node.name() in _ADDMM_ORDER:
        kind = "linear"
    elif node.name() == "ConvolutionBackward0" and len(node.next_functions) == 2:
        kind = "conv without bias"
    for hook in list(module._backward_hooks.values()):
        node.register_hook(_LegacyHook(module, hook, kind))
    outs = result if isinstance(result, tuple) else (result,)
    ins = args if isinstance(args, tuple) else (args,)
    if not all(isinstance(t, Tensor) for t in (*outs, *ins)):
        kind = "return" if not all(isinstance(t, Tensor) for t in outs) else "take as input"
        msg = (
            f"Using non-full backward hooks on a Module that does not {kind} a single Tensor or "
            "a tuple of Tensors is deprecated and will be removed in future versions. This hook "
            "will be missing some of the grad_output."
        )
    elif len({t.grad_fn for t in outs if t.grad_fn is not None}) > 1:
        msg = (
            "Using a non-full backward hook when outputs are generated by different autograd "
            "Nodes is deprecated and will be removed in future versions. This hook will be "
            "missing some grad_output."
        )
    elif {t.grad_fn for t in ins if t.grad_fn is not None} != {n for n, _ in node.next_functions}:
        msg = (
            "Using a non-full backward hook when the forward contains multiple autograd Nodes "
            "is deprecated and will be removed in future versions. This hook will be missing "
            "some grad_input. Please use register_full_backward_hook to get the documented "
            "behavior."
        )
    else:
        return
    warnings.warn(msg, FutureWarning, stacklevel=4)


# ember's Linear node gives (d input, d weight[, d bias]); PyTorch's addmm / mm node gives
# (d bias, d input, d weight^T) / (d input, d weight^T); its convolution node always has a
# bias slot (None without one): legacy hooks see PyTorch's tuples.
_ADDMM_ORDER = {"AddmmBackward0", "MmBackward0"}


class _LegacyHook:
    def __init__(self, module, hook, kind):
        self.module, self.hook, self.kind = module, hook, kind

    def __call__(self, grad_inputs, grad_outputs):
        gi = tuple(grad_inputs)
        t = lambda g: None if g is None else g.transpose(0, 1)  # noqa: E731
        if self.kind == "linear":
            gi = (gi[2], gi[0], t(gi[1])) if len(gi) == 3 else (gi[0], t(gi[1]))
        elif self.kind == "conv without bias":
            gi = (*gi, None)
        res = self.hook(self.module, gi, tuple(grad_outputs))
        if res is None or self.kind is None:
            return res
        res = tuple(res)
        if len(res) != len(gi):
            raise RuntimeError(
                f"backward hook returned {len(res)} gradients, expected {len(gi)} (grad_input)"
            )
        if self.kind == "conv without bias":
            return res[:2]
        return (res[1], t(res[2]), res[0]) if len(res) == 3 else (res[0], t(res[1]))


class _BackwardHook:
    """One forward call's backward hooks (PyTorch's torch.utils.hooks.BackwardHook): the
    output node records grad_output and runs the pre-hooks; the input node runs the hooks
    with grad_input."""

    def __init__(self, module, hooks, pre_hooks):
        self.module, self.hooks, self.pre_hooks = module, hooks, pre_hooks
        self.grad_outputs = None
        self.n_inputs = self.n_outputs = -1
        self.input_index = self.output_index = None

    @staticmethod
    def _pack(indices, values, size):
        res = [None] * size
        for i, v in zip(indices or (), values):
            res[i] = v
        return tuple(res)

    def _apply(self, args, hook, materialize=True):
        idx = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        if not (any(args[i].requires_grad for i in idx) and is_grad_enabled()):
            return args, None
        new = _BackwardHookFunction.apply(
            *(args[i] for i in idx), hook=hook, materialize=materialize
        )
        # (its outputs are its inputs' arrays: torch refuses an in-place write into them, which
        # would pass the hooks by, as into any custom Function's output that views an input)
        node = next((t._ctx for t in new if t._ctx is not None), None)
        if node is not None:
            _function._custom_views(node, new)
        out = list(args)
        for i, t in zip(idx, new):
            out[i] = t
        return tuple(out), idx

    def setup_input_hook(self, args):
        args, self.input_index = self._apply(args, self._input_hook)
        self.n_inputs = len(args)
        return args

    def setup_output_hook(self, result):
        is_tuple = isinstance(result, tuple)
        res, self.output_index = self._apply(
            result if is_tuple else (result,), self._output_hook, materialize=False
        )
        self.n_outputs = len(res)
        return res if is_tuple else res[0]

    def _input_hook(self, ctx, grads, graph=False):
        if self.grad_outputs is None:  # the gradient did not pass through the outputs
            return grads
        res = self._pack(self.input_index, map(_wrap, grads), self.n_inputs)
        for hook in self.hooks:
            out = hook(self.module, res, self.grad_outputs)
            if out is None:
                continue
            if len(out) != len(res):
                raise RuntimeError(
                    "Backward hook returned an invalid number of grad_input, "
                    f"got {len(out)}, but expected {len(res)}"
                )
            res = out
        self.grad_outputs = None
        return tuple(_unwrap(res[i], graph) for i in self.input_index)

    def _output_hook(self, ctx, grads, graph=False):
        self.grad_outputs = self._pack(self.output_index, map(_wrap, grads), self.n_outputs)
        for hook in self.pre_hooks:
            out = hook(self.module, self.grad_outputs)
            if out is None:
                continue
            if len(out) != len(self.grad_outputs):
                raise RuntimeError(
                    "Backward pre hook returned an invalid number of grad_output, "
                    f"got {len(out)}, but expected {len(self.grad_outputs)}"
                )
            self.grad_outputs = tuple(out)
        local = self.grad_outputs
        if self.input_index is None:  # no input needs a gradient: the hooks run now
            if self.hooks:
                warnings.warn(
                    "Full backward hook is firing when gradients are computed with respect to "
                    "module outputs since no inputs require gradients.",
                    stacklevel=2,
                )
            grad_inputs = (None,) * self.n_inputs
            for hook in self.hooks:
                res = hook(self.module, grad_inputs, self.grad_outputs)
                if res is not None and not (isinstance(res, tuple) and all(r is None for r in res)):
                    raise RuntimeError(
                        "Backward hook for Modules where no input requires gradient should "
                        "always return None or None for all gradients."
                    )
            self.grad_outputs = None
        return tuple(_unwrap(local[i], graph) for i in self.output_index)


# Per-module hook dictionaries (PyTorch's attribute names); _CALL_HOOK_DICTS are the ones
# __call__ must look at.
_CALL_HOOK_DICTS = (
    "_forward_pre_hooks",
    "_forward_hooks",
    "_backward_hooks",
    "_backward_pre_hooks",
)
_HOOK_DICTS = (
    *_CALL_HOOK_DICTS,
    "_forward_pre_hooks_with_kwargs",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_state_dict_pre_hooks",
    "_state_dict_hooks",
    "_load_state_dict_pre_hooks",
    "_load_state_dict_post_hooks",
)


# Modules asked to live on the meta device while the outermost constructor still runs.
_BUILDING = {"depth": 0, "meta": []}


# NumPy's refusals of a parameter too large to allocate (torch raises RuntimeError)
_NUMPY_SIZE_ERRORS = ("Maximum allowed dimension", "negative dimensions", "array is too big")


def _built_on_meta_when_asked(init):
    """Wrap a Module subclass's ``__init__`` so ``Linear(3, 4, device="meta")`` and modules
    built inside ``with ember.device("meta"):`` end up on the meta device, as PyTorch's. They
    are built on the CPU and their storage dropped when the outermost constructor returns, so
    a constructor may still initialise its submodules' weights."""
    try:
        params = list(inspect.signature(init).parameters.values())[1:]
    except (TypeError, ValueError):  # not a Python function: leave it as it is
        return init
    names = [p.name for p in params]
    at = names.index("device") if "device" in names else None
    positional = at is not None and params[at].kind is params[at].POSITIONAL_OR_KEYWORD

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        named = kwargs.get("device", args[at] if positional and len(args) > at else None)
        if at is not None:  # a bad device is refused at construction, as torch's factories
            _device.check(named)
        building = _BUILDING
        building["depth"] += 1
        try:
            init(self, *args, **kwargs)
        except BaseException as e:
            if building["depth"] == 1:
                building["meta"].clear()
            if type(e) is ValueError and str(e).startswith(_NUMPY_SIZE_ERRORS):  # torch's
                given = ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())])
                raise BadShapeOrValue(
                    f"{type(self).__name__}: bad parameter size: {e} (arguments: {given})"
                ) from e
            raise
        finally:
            building["depth"] -= 1
        if _device.names_meta(named) or _device.meta_by_default():
            building["meta"].append(self)
        if building["depth"] == 0:
            while building["meta"]:
                building["meta"].pop().to_empty(device="meta")

    return __init__


def _buffer_value(value, name: str):
    """A buffer holds a Tensor (a NumPy array is taken as one) or None; anything else (a
    Python number) is refused, as torch, rather than becoming a 0-d buffer."""
    if value is None or isinstance(value, Tensor):
        return value
    if isinstance(value, np.ndarray):
        return Tensor(value)
    raise TypeError(
        f"cannot assign '{type(value).__name__}' object to buffer '{name}' (Tensor, NumPy "
        "array or None required)"
    )


class Module:
    """Base class of every layer.

    Assigning a Parameter, a Module or (through ``register_buffer``) a buffer to an attribute
    registers it, so ``parameters()``, ``state_dict()`` and ``train()/eval()`` find it.
    Subclasses set their parameters in ``reset_parameters()`` and compute in ``forward()``.
    """

    training: bool
    dump_patches: bool = False
    _version: int = 1
    # When true, Module.__init__ calls super().__init__(*args, **kwargs) (cooperative
    # multiple inheritance), as PyTorch's.
    call_super_init: bool = False
    # True while this module (instance attribute) or any module (class attribute, global
    # hooks) has a forward or backward hook: __call__'s single check on its hot path.
    _hooked: bool = False
    _is_full_backward_hook = None  # register_(full_)backward_hook sets it: True or False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _built_on_meta_when_asked(cls.__dict__["__init__"])

    def __init__(self, *args, **kwargs):
        if not self.call_super_init and (args or kwargs):
            if kwargs:
                raise TypeError(
                    f"{type(self).__name__}.__init__() got an unexpected keyword argument "
                    f"'{next(iter(kwargs))}'"
                )
            raise TypeError(
                f"{type(self).__name__}.__init__() takes 1 positional argument but "
                f"{len(args) + 1} were given"
            )
        setattr_ = object.__setattr__
        setattr_(self, "_parameters", OrderedDict())
        setattr_(self, "_buffers", OrderedDict())
        setattr_(self, "_non_persistent", set())
        setattr_(self, "_modules", OrderedDict())
        setattr_(self, "training", True)
        for name in _HOOK_DICTS:
            setattr_(self, name, OrderedDict())
        if self.call_super_init:
            super().__init__(*args, **kwargs)

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
        if isinstance(value, Parameter):
            target = params
        elif isinstance(value, Module) and name not in params:  # torch refuses it over one
            target = modules
        elif name in params or name in modules:
            if value is None:  # None keeps the slot (and the state_dict order), as PyTorch
                (params if name in params else modules)[name] = None
                object.__setattr__(self, name, None)
                return
            # PyTorch's rule: a plain value would silently drop the parameter / submodule
            kind = "parameter" if name in params else "child module"
            want = "ember.nn.Parameter" if name in params else "ember.nn.Module"
            raise TypeError(
                f"cannot assign '{type(value).__name__}' as {kind} '{name}' ({want} or None "
                "expected)"
            )
        elif name in buffers:  # reassigning a buffer keeps it a buffer
            target = buffers
            value = _buffer_value(value, name)
        else:
            target = None
        for registry in (params, modules, buffers):
            if registry is not target:
                registry.pop(name, None)
        if target is not None:
            hooks = (
                _global_parameter_registration_hooks
                if target is params
                else _global_module_registration_hooks
                if target is modules
                else _global_buffer_registration_hooks
            )
            if hooks:
                value = _registered(hooks, self, name, value)
            target[name] = value  # a reassigned name keeps its place (state_dict order)
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        for registry in (self._parameters, self._modules, self._buffers):
            registry.pop(name, None)
        object.__delattr__(self, name)

    def _check_new_name(self, kind: str, name, registry) -> None:
        """PyTorch's checks on a name being registered: a str, not empty, no '.' (state_dict
        keys join names with dots), and not shadowing another attribute: a registered one, a
        plain (non-Tensor, non-Module) one or a method. ``None`` may be replaced, as in
        ``self.bias = None`` before ``register_parameter("bias", None)``."""
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
        if not name or "." in name:
            raise _BadName(f'{kind} name can\'t be empty or contain ".", got {name!r}')
        regs = (self._parameters, self._buffers, self._modules)
        clash = any(r.get(name) is not None for r in regs if r is not registry)
        if not clash and name not in registry:
            held = self.__dict__[name] if name in self.__dict__ else getattr(type(self), name, None)
            clash = held is not None and not isinstance(held, Tensor | Module)
        if clash:
            raise _BadName(f"attribute '{name}' already exists")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        self._check_new_name("parameter", name, self._parameters)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a Parameter or None")
        self.__setattr__(name, param)
        if param is None:
            self._parameters[name] = None

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """A non-learnable state saved in state_dict (e.g. batch norm's running mean)."""
        self._check_new_name("buffer", name, self._buffers)
        tensor = _buffer_value(tensor, name)
        if _global_buffer_registration_hooks:
            tensor = _registered(_global_buffer_registration_hooks, self, name, tensor)
        for registry in (self._parameters, self._modules):
            registry.pop(name, None)
        self._buffers[name] = tensor
        if persistent:  # re-registering a name may make it persistent again, as torch
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)
        object.__setattr__(self, name, tensor)

    def add_module(self, name: str, module: Module | None) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module, got {type(module).__name__}")
        self._check_new_name("module", name, self._modules)
        if _global_module_registration_hooks:
            module = _registered(_global_module_registration_hooks, self, name, module)
        self._modules[name] = module
        object.__setattr__(self, name, module)

    register_module = add_module

    # ---- traversal ------------------------------------------------------------------------
    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True):
        if memo is None:
            memo = set()
        stack = [(prefix, self)]
        while stack:  # iterative pre-order walk, children in registration order
            name, mod = stack.pop()
            if id(mod) in memo:
                continue
            if remove_duplicate:
                memo.add(id(mod))
            yield name, mod
            children = [
                (name + ("." if name else "") + n, m)
                for n, m in mod._modules.items()
                if m is not None
            ]
            stack.extend(reversed(children))

    def modules(self, remove_duplicate: bool = True):
        for _, m in self.named_modules(remove_duplicate=remove_duplicate):
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

    def _named_members(self, attr: str, prefix: str, recurse: bool, remove_duplicate: bool):
        """(name, tensor) of every module's ``attr`` dict; a tensor shared by several modules
        (tied weights) comes once unless ``remove_duplicate`` is False, as in PyTorch."""
        seen = set()
        if recurse:
            mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
        else:
            mods = [(prefix, self)]
        for mod_name, mod in mods:
            for name, t in getattr(mod, attr).items():
                if t is None or id(t) in seen:
                    continue
                if remove_duplicate:
                    seen.add(id(t))
                yield (mod_name + "." if mod_name else "") + name, t

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate=True):
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True):
        cls = type(self)
        if cls.named_parameters is not Module.named_parameters or (
            cls.named_modules is not Module.named_modules  # (its own walk: review24)
        ):
            for _, p in self.named_parameters(recurse=recurse):  # (a subclass's own names)
                yield p
            return
        # named_parameters' walk without its names: the loop every step runs (an optimiser,
        # clip_grad_norm_, model.zero_grad()) built a dotted name per module and per
        # parameter only to drop them (~40% of a 60-module model's parameters())
        seen = set()
        for mod in self._walk() if recurse else (self,):
            for t in mod._parameters.values():
                if t is not None and id(t) not in seen:
                    seen.add(id(t))
                    yield t

    def _walk(self):
        """The modules named_modules() yields (pre-order, children in registration order, each
        once), without their names."""
        memo = set()
        stack = [self]
        while stack:
            mod = stack.pop()
            if id(mod) in memo:
                continue
            memo.add(id(mod))
            yield mod
            children = [m for m in mod._modules.values() if m is not None]
            stack.extend(reversed(children))

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate=True):
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

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
        if not isinstance(requires_grad, bool):  # "no" would be truthy
            raise TypeError(f"requires_grad_: expected a bool, got {type(requires_grad).__name__}")
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                if p.grad.requires_grad:  # torch detaches a gradient that carries a graph
                    p.grad.detach_()
                p.grad.data[...] = 0

    def to(self, *args, dtype=None, device=None, non_blocking: bool = False, memory_format=None):
        """Cast floating-point parameters and buffers in place (the Parameter objects stay).
        Takes a dtype (``to(np.float64)``) and/or the CPU device (other devices are refused),
        and a memory format, which torch applies to the 4-D (5-D) ones: their weights. On the
        "meta" device they keep only their shapes (``to_empty`` gives them storage again)."""
        dtype, device = _device.parse_to_device(args, dtype, device)
        if device is not None and device.type == "meta":
            self.to_empty(device="meta")
        if memory_format is not None:
            _layout.check_format(memory_format)
            for t in list(self.parameters()) + list(self.buffers()):
                if memory_format.rank in (None, t.data.ndim):
                    t.data = _layout.relayout(t.data, memory_format)
        if dtype is None:
            return self
        dtype = np.dtype(dtype)
        if dtype.kind == "c":  # torch: floating and complex parameters and buffers become complex
            warnings.warn(
                "Complex modules are a new feature: some modules may not work as expected with "
                "complex parameters or buffers.",
                UserWarning,
                stacklevel=2,
            )
        elif not _lowp.is_float(dtype):
            raise TypeError(
                f"Module.to only accepts floating point or complex dtypes, but got {dtype}"
            )
        # torch's to() casts complex ones too, to a real dtype with its warning (double() and
        # float() keep them complex)
        return self._cast(dtype, floating_only=True, complex_too=True)

    def _cast(self, dtype, floating_only: bool, complex_too: bool = False):
        to_complex = dtype.kind == "c"
        for t in list(self.parameters()) + list(self.buffers()):
            kind = t.data.dtype.kind
            if kind == "c" and not to_complex and complex_too:
                t.data = _complex_to_real(t.data, dtype)
                if t._grad is not None:  # (._grad: a non-leaf buffer's .grad would warn)
                    t._grad.data = t._grad.data.real.astype(dtype)
            elif not floating_only or _lowp.is_float(t.data.dtype) or (to_complex and kind == "c"):
                t.data = t.data.astype(dtype)
                if t._grad is not None:
                    t._grad.data = t._grad.data.astype(dtype)
        return self

    def cpu(self):
        return self

    def cuda(self, device=None):
        """Refused: ember runs on the CPU only (RuntimeError, as ``to("cuda")``)."""
        _device.check("cuda" if device is None else device)
        return self

    def xpu(self, device=None):
        _device.check("xpu")
        return self

    def ipu(self, device=None):
        _device.check("ipu")
        return self

    def mtia(self, device=None):
        _device.check("mtia")
        return self

    def float(self):
        return self._cast(np.dtype(np.float32), floating_only=True)

    def double(self):
        return self._cast(np.dtype(np.float64), floating_only=True)

    def half(self):
        return self._cast(np.dtype(np.float16), floating_only=True)

    def bfloat16(self):
        return self._cast(np.dtype(_lowp.bfloat16), floating_only=True)

    def type(self, dst_type):
        """Cast every parameter and buffer (integer ones too, as PyTorch) to ``dst_type``."""
        try:
            dtype = np.dtype(dst_type)
        except TypeError:
            raise TypeError(f"Module.type: expected a dtype, got {dst_type!r}") from None
        return self._cast(dtype, floating_only=False)

    def share_memory(self):
        """A no-op: NumPy storage is process-local (PyTorch moves tensors to shared memory)."""
        return self

    def to_empty(self, *, device, recurse: bool = True):
        """Give every parameter and buffer fresh, uninitialised storage of its shape and
        dtype (PyTorch uses it after building on the meta device), or none ("meta")."""
        meta = _device.is_meta_device(device)
        params = self.parameters(recurse) if recurse else self._parameters.values()
        buffers = self.buffers(recurse) if recurse else self._buffers.values()
        for t in [*params, *buffers]:
            if t is not None:
                shape, dtype = t.data.shape, t.data.dtype
                t.data = _device.meta_array(shape, dtype) if meta else np.empty(shape, dtype)
                t.grad = None
        return self

    def compile(self, *args, **kwargs) -> None:
        """A no-op (ember has no graph compiler); PyTorch's compiles ``__call__`` in place."""
        return None

    # ---- state ----------------------------------------------------------------------------
    def get_extra_state(self):
        """Extra state to save in ``state_dict`` under ``<prefix>_extra_state``: override it
        together with ``set_extra_state``."""
        raise RuntimeError(
            "Reached a code path in Module.get_extra_state() that should never be called. "
            "Please file an issue at https://github.com/pytorch/pytorch/issues/new?template="
            "bug-report.yml to report this bug."
        )

    def set_extra_state(self, state) -> None:
        """Restore what ``get_extra_state`` returned (called by ``load_state_dict``)."""
        raise RuntimeError(
            "Reached a code path in Module.set_extra_state() that should never be called. "
            "Please file an issue at https://github.com/pytorch/pytorch/issues/new?template="
            "bug-report.yml to report this bug."
        )

    def _has_extra_state(self) -> bool:
        return type(self).get_extra_state is not Module.get_extra_state

    def _save_to_state_dict(self, destination, prefix: str, keep_vars: bool) -> None:
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent:
                destination[prefix + name] = b if keep_vars else b.detach()
        if self._has_extra_state():
            destination[prefix + "_extra_state"] = self.get_extra_state()

    def state_dict(self, *args, destination=None, prefix: str = "", keep_vars: bool = False):
        """Parameters and persistent buffers by PyTorch's dotted names, as Tensors sharing
        this module's memory (use ``{k: v.numpy() ...}`` for arrays). A submodule reachable
        under two names appears under both, as in PyTorch."""
        if args:  # PyTorch's deprecated positional form (destination, prefix, keep_vars)
            destination, prefix, keep_vars = (*args, *(destination, prefix, keep_vars)[len(args) :])
        if destination is None:
            destination = OrderedDict()
            destination._metadata = OrderedDict()
        metadata = getattr(destination, "_metadata", None)
        local_metadata = {"version": self._version}
        if metadata is not None:
            metadata[prefix[:-1]] = local_metadata
        for hook in self._state_dict_pre_hooks.values():
            hook(self, prefix, keep_vars)
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(
                    destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars
                )
        for hook in self._state_dict_hooks.values():
            got = hook(self, destination, prefix, local_metadata)
            if isinstance(hook, _PrivateStateDictHook):  # torch's old API: may replace it
                destination = destination if got is None else got
            elif got is not None:
                raise RuntimeError("state_dict post-hook must return None")
        return destination

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, errors
    ) -> None:
        for hook in self._load_state_dict_pre_hooks.values():
            hook(self, state_dict, prefix, local_metadata, strict, missing_keys,
                 unexpected_keys, errors)  # fmt: skip
        assign = local_metadata.get("assign_to_params_buffers", False)
        local = {
            **{k: v for k, v in self._parameters.items() if v is not None},
            **{
                k: v
                for k, v in self._buffers.items()
                if v is not None and k not in self._non_persistent
            },
        }
        for name, target in local.items():
            key = prefix + name
            if key not in state_dict:
                missing_keys.append(key)
                continue
            v = state_dict[key]
            if hasattr(v, "detach") and hasattr(v, "cpu") and not isinstance(v, Tensor):
                v = v.detach().cpu()  # a torch tensor; its bfloat16 has no .numpy()
                bf16 = str(v.dtype) == "torch.bfloat16"
                v = v.float().numpy().astype(_lowp.bfloat16) if bf16 else v.numpy()
            arr = np.asarray(v.data if isinstance(v, Tensor) else v)
            if target.ndim == 0 and arr.shape == (1,):  # torch's allowance for old checkpoints
                v = arr = arr.reshape(())
            if arr.shape != target.shape:
                errors.append(
                    f"size mismatch for {key}: copying a param with shape {arr.shape} from "
                    f"checkpoint, the shape in current model is {target.shape}."
                )
                continue
            if arr.dtype.kind not in "biuf" and arr.dtype != _lowp.bfloat16:
                errors.append(f"{key}: value of dtype {arr.dtype} is not numeric")
                continue
            if not assign:
                with no_grad():
                    np.copyto(target.data, arr, casting="unsafe")
                _inplace.note(target)  # as torch's param.copy_: saved old values are refused
            elif name in self._parameters:
                value = v if isinstance(v, Parameter) else None
                if value is None:
                    value = Parameter(arr, requires_grad=target.requires_grad)
                setattr(self, name, value)
            else:
                self._buffers[name] = v if isinstance(v, Tensor) else Tensor(arr)
                object.__setattr__(self, name, self._buffers[name])
        extra_key = prefix + "_extra_state"
        # as torch: the key is expected when the class can take it back (set_extra_state)
        if type(self).set_extra_state is not Module.set_extra_state:
            if extra_key in state_dict:
                self.set_extra_state(state_dict[extra_key])
            elif strict:
                missing_keys.append(extra_key)
        elif strict and extra_key in state_dict:
            unexpected_keys.append(extra_key)
        if strict:
            for key in state_dict:
                if key.startswith(prefix) and key != extra_key:
                    head, *rest = key[len(prefix) :].split(".", 1)
                    if (head not in self._modules) if rest else (head not in local):
                        unexpected_keys.append(key)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Copy values (Tensors, NumPy arrays, or anything np.asarray accepts, e.g. torch
        tensors) into this module's parameters and buffers, in place (``assign=True``: make
        the given values the parameters and buffers, keeping ``requires_grad``).

        Raises RuntimeError naming every shape mismatch, and with ``strict`` every missing
        and unexpected key. Returns ``_IncompatibleKeys(missing_keys, unexpected_keys)``.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing, unexpected, errors = [], [], []
        metadata = getattr(state_dict, "_metadata", None)
        state_dict = OrderedDict(state_dict)

        def load(module, local_state, prefix=""):
            local_metadata = {} if metadata is None else dict(metadata.get(prefix[:-1], {}))
            if assign:
                local_metadata["assign_to_params_buffers"] = assign
            module._load_from_state_dict(
                local_state, prefix, local_metadata, True, missing, unexpected, errors
            )
            for name, child in module._modules.items():
                if child is not None:
                    p = prefix + name + "."
                    load(child, {k: v for k, v in local_state.items() if k.startswith(p)}, p)
            keys = _IncompatibleKeys(missing, unexpected)
            for hook in module._load_state_dict_post_hooks.values():
                if hook(module, keys) is not None:
                    raise RuntimeError("load_state_dict post-hook must return None")

        load(self, state_dict)
        if strict:  # torch's wording to the character ('"a", "b". '): user code matches on it
            if unexpected:
                keys = ", ".join(f'"{k}"' for k in unexpected)
                errors.insert(0, f"Unexpected key(s) in state_dict: {keys}. ")
            if missing:
                keys = ", ".join(f'"{k}"' for k in missing)
                errors.insert(0, f"Missing key(s) in state_dict: {keys}. ")
        if errors:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                + "\n\t".join(errors)
            )
        return _IncompatibleKeys(missing, unexpected)

    # ---- lookup by dotted name ------------------------------------------------------------
    def _get_name(self) -> str:
        return type(self).__name__

    def get_submodule(self, target: str) -> Module:
        """The submodule at the dotted path ``target`` (``""`` is this module)."""
        mod = self
        if target == "":
            return mod
        for item in target.split("."):
            if not hasattr(mod, item):
                raise AttributeError(mod._get_name() + " has no attribute `" + item + "`")
            mod = getattr(mod, item)
            if not isinstance(mod, Module):
                raise AttributeError("`" + item + "` is not an nn.Module")
        return mod

    def set_submodule(self, target: str, module: Module, strict: bool = False) -> None:
        """Put ``module`` at the dotted path ``target`` (``strict``: only replace an existing
        attribute)."""
        if target == "":
            raise ValueError("Cannot set the submodule without a target name!")
        if not isinstance(module, Module):
            raise ValueError(f"`module` is not an nn.Module, found {type(module)}")
        parent_path, _, name = target.rpartition(".")
        parent = self.get_submodule(parent_path)
        if strict and not hasattr(parent, name):
            raise AttributeError(parent._get_name() + " has no attribute `" + name + "`")
        if hasattr(parent, name) and not isinstance(getattr(parent, name), Module):
            raise AttributeError("`" + name + "` is not an nn.Module")
        setattr(parent, name, module)

    def get_parameter(self, target: str) -> Parameter:
        """The Parameter at the dotted path ``target``."""
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if not hasattr(mod, name):
            raise AttributeError(mod._get_name() + " has no attribute `" + name + "`")
        param = getattr(mod, name)
        if not isinstance(param, Parameter):
            raise AttributeError("`" + name + "` is not an nn.Parameter")
        return param

    def get_buffer(self, target: str) -> Tensor:
        """The buffer at the dotted path ``target``."""
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if not hasattr(mod, name):
            raise AttributeError(mod._get_name() + " has no attribute `" + name + "`")
        if name not in mod._buffers:
            raise AttributeError("`" + name + "` is not a buffer")
        return getattr(mod, name)

    # ---- calling and printing -------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args, **kwargs):
        if self._hooked:
            return self._call_impl(args, kwargs)
        return self.forward(*args, **kwargs)

    def _call_impl(self, args, kwargs):
        """forward() with the hooks, in PyTorch's order: forward pre-hooks (global first),
        backward-hook wrapping of the inputs, forward, forward hooks, wrapping of the outputs."""
        result = None
        called_always = set()
        try:
            pre_hooks = (*_global_forward_pre_hooks.items(), *self._forward_pre_hooks.items())
            for hook_id, hook in pre_hooks:
                if hook_id in self._forward_pre_hooks_with_kwargs:
                    res = hook(self, args, kwargs)
                    if res is not None:
                        if not (isinstance(res, tuple) and len(res) == 2):
                            raise RuntimeError(
                                "forward pre-hook must return None or a tuple of "
                                f"(new_args, new_kwargs), but got {res}."
                            )
                        args, kwargs = res
                else:
                    res = hook(self, args)
                    if res is not None:
                        args = res if isinstance(res, tuple) else (res,)
            legacy = self._is_full_backward_hook is False  # register_backward_hook's
            own = () if legacy else self._backward_hooks.values()
            bw_hooks = [*_global_backward_hooks.values(), *own]
            bw_pre = [*_global_backward_pre_hooks.values(), *self._backward_pre_hooks.values()]
            bw_hook = None
            if bw_hooks or bw_pre:
                bw_hook = _BackwardHook(self, bw_hooks, bw_pre)
                args = bw_hook.setup_input_hook(args)
            result = self.forward(*args, **kwargs)
            for hook_id, hook in (*_global_forward_hooks.items(), *self._forward_hooks.items()):
                if hook_id in _global_forward_hooks_always_called or (
                    hook_id in self._forward_hooks_always_called
                ):
                    called_always.add(hook_id)
                result = self._forward_hook(hook_id, hook, args, kwargs, result)
            if bw_hook is not None:
                if not isinstance(result, Tensor | tuple):
                    warnings.warn(
                        "For backward hooks to be called, module output should be a Tensor or "
                        f"a tuple of Tensors but received {type(result)}",
                        stacklevel=2,
                    )
                result = bw_hook.setup_output_hook(result)
            if legacy and self._backward_hooks:
                _legacy_backward_hooks(self, args, result)
            return result
        except Exception:
            # forward hooks registered with always_call=True still run, errors silenced
            for hook_id, hook in (*_global_forward_hooks.items(), *self._forward_hooks.items()):
                always = hook_id in _global_forward_hooks_always_called or (
                    hook_id in self._forward_hooks_always_called
                )
                if not always or hook_id in called_always:
                    continue
                try:
                    result = self._forward_hook(hook_id, hook, args, kwargs, result)
                except Exception as e:
                    warnings.warn(
                        "module forward hook with ``always_call=True`` raised an exception "
                        f"that was silenced as another error was raised in forward: {e}",
                        stacklevel=2,
                    )
            raise

    # ---- hooks ----------------------------------------------------------------------------
    def _forward_hook(self, hook_id, hook, args, kwargs, result):
        """Run one forward hook; its non-None return replaces the output."""
        if hook_id in self._forward_hooks_with_kwargs or (
            hook_id in _global_forward_hooks_with_kwargs
        ):
            res = hook(self, args, kwargs, result)
        else:
            res = hook(self, args, result)
        return result if res is None else res

    def _refresh_hooked(self) -> None:
        if any(getattr(self, name) for name in _CALL_HOOK_DICTS):
            object.__setattr__(self, "_hooked", True)
        else:  # fall back to the class default (true while global hooks exist)
            self.__dict__.pop("_hooked", None)

    def register_forward_pre_hook(
        self, hook, *, prepend: bool = False, with_kwargs: bool = False
    ) -> RemovableHandle:
        """Run ``hook(module, args)`` before every forward call (``hook(module, args, kwargs)``
        with ``with_kwargs``). It may return new args (a single value is wrapped in a tuple),
        or with ``with_kwargs`` a tuple ``(args, kwargs)``. ``prepend`` runs it before the
        hooks already registered. Returns a handle whose ``remove()`` unregisters it."""
        extras = ((self._forward_pre_hooks_with_kwargs, with_kwargs),)
        return _register(self._forward_pre_hooks, hook, self, prepend, extras)

    def register_forward_hook(
        self,
        hook,
        *,
        prepend: bool = False,
        with_kwargs: bool = False,
        always_call: bool = False,
    ) -> RemovableHandle:
        """Run ``hook(module, args, output)`` after every forward call (``hook(module, args,
        kwargs, output)`` with ``with_kwargs``); a non-None return replaces the output.
        ``always_call`` runs it even when forward raises. Returns a removable handle."""
        extras = (
            (self._forward_hooks_with_kwargs, with_kwargs),
            (self._forward_hooks_always_called, always_call),
        )
        return _register(self._forward_hooks, hook, self, prepend, extras)

    def register_full_backward_pre_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        """Run ``hook(module, grad_output)`` when the gradients of the module's outputs are
        known; it may return a new grad_output tuple. Returns a removable handle."""
        return _register(self._backward_pre_hooks, hook, self, prepend)

    def register_backward_hook(self, hook) -> RemovableHandle:
        """PyTorch's deprecated ``hook(module, grad_input, grad_output)`` on the last autograd
        node of forward: grad_output is the output's gradient, grad_input the gradients of that
        node's inputs (for Linear, PyTorch's addmm order: bias, input, weight^T), which need not
        be the module's inputs. It may return a new grad_input tuple. A module takes either
        these or full backward hooks, not both. Prefer register_full_backward_hook."""
        if self._is_full_backward_hook is True:
            raise RuntimeError(_MIXED_BACKWARD_HOOKS)
        object.__setattr__(self, "_is_full_backward_hook", False)
        return _register(self._backward_hooks, hook, self)

    def register_full_backward_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        """Run ``hook(module, grad_input, grad_output)`` when the gradients of the module's
        Tensor inputs are computed (entries are None for non-Tensor inputs and inputs that do
        not require grad); it may return a new grad_input tuple. Returns a removable handle.

        Built, as PyTorch's, from an identity autograd node around the inputs and one around
        the outputs; the module's forward must take and return Tensors (or tuples of them).
        Tensor inputs that do not require grad get zero gradients, as in PyTorch; an output
        that received no gradient gets zeros where PyTorch passes None.
        """
        if self._is_full_backward_hook is False:
            raise RuntimeError(_MIXED_BACKWARD_HOOKS)
        object.__setattr__(self, "_is_full_backward_hook", True)
        return _register(self._backward_hooks, hook, self, prepend)

    def register_state_dict_pre_hook(self, hook) -> RemovableHandle:
        """Run ``hook(module, prefix, keep_vars)`` before ``state_dict`` visits this module."""
        return _register(self._state_dict_pre_hooks, hook, self)

    def register_state_dict_post_hook(self, hook) -> RemovableHandle:
        """Run ``hook(module, state_dict, prefix, local_metadata)`` after ``state_dict``
        visited this module; it may edit ``state_dict`` in place and must return None."""
        return _register(self._state_dict_hooks, hook, self)

    def register_load_state_dict_pre_hook(self, hook) -> RemovableHandle:
        """Run ``hook(module, state_dict, prefix, local_metadata, strict, missing_keys,
        unexpected_keys, error_msgs)`` before this module loads its entries."""
        return _register(self._load_state_dict_pre_hooks, hook, self)

    def _register_state_dict_hook(self, hook) -> RemovableHandle:
        """torch's older, private post-hook: ``hook(module, state_dict, prefix,
        local_metadata)`` may return a state_dict that replaces the one being built."""
        return _register(self._state_dict_hooks, _PrivateStateDictHook(hook), self)

    def _register_load_state_dict_pre_hook(self, hook, with_module: bool = False):
        """torch's older, private pre-hook: ``hook(state_dict, prefix, local_metadata,
        strict, missing_keys, unexpected_keys, error_msgs)``, the module first when
        ``with_module``."""
        fn = hook if with_module else _WithoutModule(hook)
        return _register(self._load_state_dict_pre_hooks, fn, self)

    def register_load_state_dict_post_hook(self, hook) -> RemovableHandle:
        """Run ``hook(module, incompatible_keys)`` after this module and its children were
        loaded; it may edit ``incompatible_keys`` (missing_keys / unexpected_keys) in place
        and must return None."""
        return _register(self._load_state_dict_post_hooks, hook, self)

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


def _complex_to_real(a: np.ndarray, dtype) -> np.ndarray:
    """The real part, with torch's warning (NumPy's own ComplexWarning is not torch's)."""
    warnings.warn(
        "Casting complex values to real discards the imaginary part", UserWarning, stacklevel=4
    )
    return a.real.astype(dtype)
