"""Optimizer: parameter groups, per-parameter state, zero_grad, state_dict (PyTorch's layout)."""

from __future__ import annotations

import copy
import functools
import warnings
from collections import OrderedDict, defaultdict

import numpy as np

from ember import _C, _lowp
from ember._errors import BadDtype, BadShapeOrValue
from ember._sparse_grad import RowSparseGrad, clear_rows, sparse_rows
from ember.autograd import function as _function
from ember.ops import POW_SHORTCUTS
from ember.tensor import Tensor, get_default_dtype


class _Required:
    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()


def _check_implementation_flags(foreach, capturable, differentiable, fused) -> None:
    """PyTorch's implementation switches: ``foreach``, ``fused`` and ``capturable`` pick an
    implementation, not the maths, so they are accepted (any value, read by its truth as
    torch's) and change nothing (ember's step is always one fused C++ pass per parameter);
    ``differentiable`` (autograd through the step) is not supported."""
    if fused and foreach:
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
    if fused and differentiable:
        raise RuntimeError("`fused` does not support `differentiable`")
    if differentiable:
        raise NotImplementedError(
            "differentiable=True is not supported: steps run outside autograd"
        )


def _check_fused_group(group: dict) -> None:
    for p in group["params"]:
        if p.grad is not None and p.data.dtype.kind == "c":
            raise RuntimeError(
                f"`fused=True` requires all the params to be floating point Tensors, got {p.dtype}"
            )


# hooks run around every optimiser's step (register_optimizer_step_pre_hook / _post_hook)
_global_step_pre_hooks: OrderedDict = OrderedDict()
_global_step_post_hooks: OrderedDict = OrderedDict()


def _handle(hooks: OrderedDict, hook, prepend: bool = False):
    from ember.nn.modules.module import RemovableHandle

    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle


def register_optimizer_step_pre_hook(hook):
    """``hook(optimizer, args, kwargs)`` before every optimiser's step; may return new
    ``(args, kwargs)``."""
    return _handle(_global_step_pre_hooks, hook)


def register_optimizer_step_post_hook(hook):
    """``hook(optimizer, args, kwargs)`` after every optimiser's step."""
    return _handle(_global_step_post_hooks, hook)


def _with_step_hooks(step):
    """``step`` running PyTorch's step pre/post hooks (global, then the optimiser's own);
    with no hook registered it is one dictionary look-up more."""

    @functools.wraps(step)
    def wrapper(self, *args, **kwargs):
        own = self.__dict__.get("_step_hooks")
        if not (own or _global_step_pre_hooks or _global_step_post_hooks) or self.__dict__.get(
            "_in_step_hooks"
        ):
            out = step(self, *args, **kwargs)
            _function.note_step(self.param_groups)  # backward refuses graphs that saved them
            return out
        pre = own[0] if own else {}
        post = own[1] if own else {}
        args = (self, *args)  # as torch's: the hooks see step's arguments with self first
        self._in_step_hooks = True  # (a subclass's step calling super().step(): hooks once)
        try:
            for hook in (*_global_step_pre_hooks.values(), *pre.values()):
                res = hook(self, args, kwargs)
                if res is not None:
                    if not (isinstance(res, tuple) and len(res) == 2):
                        raise RuntimeError(
                            f"{hook} must return None or a tuple of (new_args, new_kwargs), "
                            f"but got {res}."
                        )
                    args, kwargs = res
            out = step(*args, **kwargs)
            _function.note_step(self.param_groups)
            for hook in (*post.values(), *_global_step_post_hooks.values()):
                hook(self, args, kwargs)
        finally:
            self._in_step_hooks = False
        return out

    return wrapper


class Optimizer:
    """Base class: subclasses define ``step()`` over ``self.param_groups``.

    Args:
        params: an iterable of Tensors, or of dicts (parameter groups) with a ``params`` key
            and their own hyper-parameters.
        defaults: hyper-parameters used by groups that do not set them.
    """

    # PyTorch's error when a row-sparse gradient (embedding(sparse=True)) reaches an optimiser
    # that refuses sparse gradients; None where PyTorch accepts them (SGD, Adagrad, LBFGS,
    # SparseAdam), the dense update then giving PyTorch's numbers.
    _sparse_error: str | None = "{name} does not support sparse gradients"
    # complex parameters are stepped as their (..., 2) real views, as torch's optimisers do
    # (exact for the elementwise ones; the others refuse complex parameters)
    _steps_complex = True
    # state entries that load_state_dict turns from plain numbers into 0-d Tensors (torch's
    # __setstate__ does so for each optimiser's step counter and its scalar state)
    _scalar_keys: frozenset = frozenset()
    # optimisers whose state Tensors (but the scalar ones) are shaped like their parameter set
    # this: load_state_dict then refuses another shape at once (torch fails at the next step)
    _p_shaped_state = False
    # the group entries torch's __setstate__ sets by default when a loaded state dict's
    # param_groups lack them (the implementation flags and a few options, per optimiser)
    _setstate_defaults: dict = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:
            cls.step = _with_step_hooks(cls.__dict__["step"])

    def _hooks(self, i: int) -> OrderedDict:
        # per-optimiser hook dicts, made on first use: step pre, step post, state_dict pre,
        # state_dict post, load_state_dict pre, load_state_dict post
        if "_all_hooks" not in self.__dict__:
            self._all_hooks = tuple(OrderedDict() for _ in range(6))
            self._step_hooks = self._all_hooks[:2]
        return self._all_hooks[i]

    def register_step_pre_hook(self, hook):
        """``hook(optimizer, args, kwargs)`` before ``step()``; may return new (args, kwargs)."""
        return _handle(self._hooks(0), hook)

    def register_step_post_hook(self, hook):
        """``hook(optimizer, args, kwargs)`` after ``step()``."""
        return _handle(self._hooks(1), hook)

    def register_state_dict_pre_hook(self, hook, prepend: bool = False):
        """``hook(optimizer)`` before ``state_dict()``."""
        return _handle(self._hooks(2), hook, prepend)

    def register_state_dict_post_hook(self, hook, prepend: bool = False):
        """``hook(optimizer, state_dict)`` after ``state_dict()``; may return a new one."""
        return _handle(self._hooks(3), hook, prepend)

    def register_load_state_dict_pre_hook(self, hook, prepend: bool = False):
        """``hook(optimizer, state_dict)`` before loading; may return the dict to load."""
        return _handle(self._hooks(4), hook, prepend)

    def register_load_state_dict_post_hook(self, hook, prepend: bool = False):
        """``hook(optimizer)`` after ``load_state_dict()``."""
        return _handle(self._hooks(5), hook, prepend)

    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        self.state: dict = defaultdict(dict)
        self.param_groups: list[dict] = []
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                f"dicts, but got {type(params).__name__}"
            )
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        # torch checks the constructor's hyper-parameters only: a group's own values (here or
        # by add_param_group, e.g. {'lr': -1}) are taken as given
        self._validate(defaults)
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, param_group: dict) -> None:
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead."
            )
        params = [params] if isinstance(params, Tensor) else list(params)
        # PyTorch's named parameters: (name, tensor) pairs, names kept in the group
        names = [p[0] for p in params if isinstance(p, tuple)]
        if names and len(names) != len(params):
            raise ValueError(
                "all optimizer params should be with/without names. Some param names are missing"
            )
        params = [p[1] if isinstance(p, tuple) else p for p in params]
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, got {type(p).__name__}")
            if not (p.is_leaf or p.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
            if not _lowp.is_float(p.data.dtype) and not (
                p.data.dtype.kind == "c" and self._steps_complex
            ):
                raise BadDtype(f"optimizer can only optimize float tensors, got {p.dtype}")
        # (frozen parameters, requires_grad=False, are accepted: they never get a gradient)
        group = {"params": params, **({"param_names": names} if names else {})}
        group.update((k, v) for k, v in param_group.items() if k not in group)
        for k, v in self.defaults.items():
            if v is required and k not in group:
                raise ValueError(f"parameter group didn't specify a value of required {k!r}")
            group.setdefault(k, v)
        if len({id(p) for p in params}) != len(params):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; in future, "
                "this will cause an error; see github.com/pytorch/pytorch/issues/40967 for more "
                "information",
                UserWarning,
                stacklevel=3,
            )
        if any(("param_names" in g) != bool(names) for g in self.param_groups):
            raise ValueError(
                "all optimizer param groups should be with/without names. "
                f"cannot add param group {'with' if names else 'without'} names to the optimizer"
            )
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def __getstate__(self) -> dict:
        # without the step wrapper an lr scheduler puts on the instance: a copy's step()
        # must step the copy (PyTorch pickles defaults, state and param_groups only)
        skip = ("step", "_opt_called", "_all_hooks", "_step_hooks", "_in_step_hooks")
        return {k: v for k, v in self.__dict__.items() if k not in skip}

    def _validate(self, group: dict) -> None:
        """Subclasses check hyper-parameters here (ValueError naming the bad value)."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        for g in self.param_groups:
            for p in g["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.data[...] = 0
                    clear_rows(p.grad)

    def step(self, closure=None):
        raise NotImplementedError

    def _check_sparse_grad(self, group: dict, p: Tensor) -> None:
        """Refuse p's gradient, as PyTorch, when it is row-sparse and this optimiser can't."""
        if self._sparse_error is not None and sparse_rows(p.grad) is not None:
            raise RuntimeError(self._sparse_error.format(name=type(self).__name__))

    def _params_with_grad(self):
        """(group, parameter, gradient array) for each parameter that has a gradient, group
        by group: the loop every ``step()`` runs."""
        state_of = self.state.get
        for group in self.param_groups:
            if group.get("fused"):  # (torch's check of the group, before its step)
                _check_fused_group(group)
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                # The common case, tested inline as it runs for every parameter at every step
                # (~1.5 us a parameter less): a dense gradient array of p's shape and dtype
                # (no sparse check to make), p and its state C-contiguous and real. What the
                # general path below would do with it: yield it as it is.
                if type(grad) is Tensor:
                    arr, g = p.data, grad.data
                    if (
                        type(g) is np.ndarray
                        and g.dtype is arr.dtype
                        and arr.dtype.kind == "f"
                        and g.shape == arr.shape
                        and g.flags.c_contiguous
                        and arr.flags.c_contiguous
                        and _contiguous_state(state_of(p))
                    ):
                        yield group, p, g
                        continue
                self._check_sparse_grad(group, p)
                arr = p.data
                strided = _strided(p, self.state.get(p))
                if not strided:
                    if arr.dtype.kind == "c":
                        yield from self._as_real(group, p)
                    else:
                        yield group, p, _grad_array(p)
                    continue
                # a strided parameter (from_numpy of a transposed or flipped array) or
                # state Tensor (one assigned by hand, ``zeros(4, 3).t()``): the fused
                # kernels update C-contiguous copies, written back into their storage
                # after the step, so the Tensor, and every view of its memory, sees the
                # update, as torch's in-place step
                held = [(v, v.data) for v in strided]
                for v, a in held:
                    v.data = np.ascontiguousarray(a)
                try:
                    if arr.dtype.kind == "c":
                        yield from self._as_real(group, p)
                    else:
                        yield group, p, _grad_array(p)
                finally:
                    for v, a in held:
                        if v.data.shape == a.shape:
                            np.copyto(a, v.data)
                        v.data = a

    def _as_real(self, group, p):
        """A complex parameter's step on its real view. Its state Tensors stay complex and
        shaped like p, as torch's: during the step each holds its (..., 2) real view (the same
        memory), and buffers the step creates from the real view get their complex form back."""
        arr = p.data
        g = _grad_array(p)
        p.data = _real_view(arr)
        for v in self.state.get(p, {}).values():
            if isinstance(v, Tensor) and v.data.dtype.kind == "c" and v.data.shape == arr.shape:
                v.data = _real_view(v.data)
        try:
            yield group, p, _real_view(g)
        finally:
            np.copyto(arr, p.data.view(arr.dtype).reshape(arr.shape))
            p.data = arr
            for v in self.state.get(p, {}).values():
                if isinstance(v, Tensor) and v.data.shape == arr.shape + (2,):
                    v.data = v.data.view(arr.dtype).reshape(arr.shape)

    # ---- state_dict: state keyed by the parameter's position across groups ----------------
    def state_dict(self) -> dict:
        for hook in self._hooks(2).values():
            hook(self)
        sd = self._state_dict()
        for hook in self._hooks(3).values():
            out = hook(self, sd)
            sd = sd if out is None else out
        return sd

    def _state_dict(self) -> dict:
        index = {}
        groups = []
        for g in self.param_groups:
            ids = []
            for p in g["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            groups.append({**{k: v for k, v in g.items() if k != "params"}, "params": ids})
        # As torch's, the state is not copied: its Tensors are the live ones, so a later step
        # shows in the returned dict (deepcopy it for a snapshot). Only NumPy arrays (a user
        # optimiser's) are copied into Tensors.
        # (a key that is no Tensor, state load_state_dict kept for an unknown index, stays
        # under that key, as torch's)
        state = {
            (index[id(p)] if isinstance(p, Tensor) else p): _export_state(s)
            for p, s in self.state.items()
            if id(p) in index or not isinstance(p, Tensor)
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        for hook in self._hooks(4).values():
            out = hook(self, state_dict)
            state_dict = state_dict if out is None else out
        self._load_state_dict(state_dict)
        for hook in self._hooks(5).values():
            hook(self)

    def _load_state_dict(self, state_dict: dict) -> None:
        groups = state_dict.get("param_groups")
        if groups is None or "state" not in state_dict:
            raise ValueError("load_state_dict: expected a dict with 'state' and 'param_groups'")
        if len(groups) != len(self.param_groups):
            raise ValueError(
                "loaded state dict has a different number of parameter groups "
                f"({len(groups)} vs {len(self.param_groups)})"
            )
        for saved, own in zip(groups, self.param_groups):
            if len(saved["params"]) != len(own["params"]):
                raise ValueError(
                    "loaded state dict contains a parameter group that doesn't match the size "
                    f"of optimizer's group ({len(saved['params'])} vs {len(own['params'])})"
                )
        by_index = {}
        for saved, own in zip(groups, self.param_groups):
            for i, p in zip(saved["params"], own["params"]):
                by_index[i] = p
        new_state: dict = defaultdict(dict)
        for i, s in state_dict["state"].items():
            p = by_index.get(i)
            if p is None:  # as torch: kept as it is, under its own key
                new_state[i] = s
                continue
            group = next(g for g in self.param_groups if any(q is p for q in g["params"]))
            step32 = bool(group.get("capturable") or group.get("fused"))
            new_state[p] = {k: self._load_state_value(p, k, v, step32) for k, v in s.items()}
            for k, v in new_state[p].items() if self._p_shaped_state else ():
                if isinstance(v, Tensor) and k not in self._scalar_keys and v.shape != p.shape:
                    raise ValueError(
                        f"load_state_dict: state {k!r} of parameter {i} has shape "
                        f"{tuple(v.shape)}, the parameter has shape {tuple(p.shape)}"
                    )
        self.state = new_state
        # as torch: each group becomes (a copy of) the saved one with this optimiser's
        # parameters (a hyper-parameter it lacks is not taken from the defaults), then gets
        # the flags torch's __setstate__ fills in
        new_groups = []
        for saved, own in zip(groups, self.param_groups):
            g = copy.deepcopy({k: v for k, v in saved.items()})
            g["params"] = own["params"]
            if "param_names" in own and "param_names" not in g:
                g["param_names"] = own["param_names"]
            for k, v in self._setstate_defaults.items():
                g.setdefault(k, v)
            new_groups.append(g)
        self.param_groups[:] = new_groups

    def _load_state_value(self, p: Tensor, k, v, step32: bool = False):
        """A loaded state entry, by torch's rule: tensors (ember's, torch's or NumPy arrays)
        become ember Tensors cast to a float parameter's dtype, except ``step`` (kept, or
        float32 in a capturable or fused group). An ember Tensor already of that dtype is taken
        as it is, not copied (torch's ``value.to(dtype)``); others are copied. Lists and dicts
        entry by entry; numbers under ``_scalar_keys`` become 0-d Tensors of the scalar dtype,
        as torch's ``__setstate__`` makes them; anything else is copied."""
        if isinstance(v, dict):
            return {kk: self._load_state_value(p, kk, vv, step32) for kk, vv in v.items()}
        if isinstance(v, list | tuple):
            return type(v)(self._load_state_value(p, None, x, step32) for x in v)
        if k in self._scalar_keys and isinstance(v, int | float | np.generic):
            if not isinstance(v, bool | np.bool_):
                v = np.array(v, dtype=_scalar_dtype())
        if isinstance(v, np.generic | str) or not hasattr(v, "__array__"):
            return copy.deepcopy(v)
        if isinstance(v, Tensor):
            a = v.data
        else:  # a NumPy array or another library's tensor: always copied
            if hasattr(v, "detach") and hasattr(v, "numpy"):  # torch's (any requires_grad)
                v = v.detach().cpu().numpy()
            a = np.array(v)
        if k == "step":
            dt = np.dtype(np.float32) if step32 else a.dtype
        elif _lowp.is_float(p.data.dtype):
            dt = p.data.dtype
        else:
            dt = a.dtype
        if isinstance(v, Tensor) and a.dtype == dt:
            return v
        return _wrap(a.astype(dt, copy=False))

    def __repr__(self) -> str:
        # torch's, character for character (a blank line between groups)
        out = f"{type(self).__name__} ("
        for i, g in enumerate(self.param_groups):
            out += f"\nParameter Group {i}\n"
            for k in sorted(g):
                if k != "params":
                    out += f"    {k}: {g[k]}\n"
        return out + ")"


# ---- helpers shared by the fused optimisers --------------------------------------------------


def _run_closure(closure):
    """Evaluate ``closure`` with grad mode on (optimisers step under no_grad)."""
    if closure is None:
        return None
    from ember.autograd.function import enable_grad

    with enable_grad():
        return closure()


def _strided(p: Tensor, state: dict | None) -> list:
    """p and those of its state Tensors whose arrays are writeable but not C-contiguous (the
    fused kernels refuse them): run for every parameter at every step."""
    out = []
    for v in (p, *state.values()) if state else (p,):
        if isinstance(v, Tensor):
            flags = v.data.flags
            if not flags.c_contiguous and flags.writeable:
                out.append(v)
    return out


def _contiguous_state(state: dict | None) -> bool:
    """Whether none of the state Tensors is strided (``_strided`` without the parameter)."""
    if state:
        for v in state.values():
            if isinstance(v, Tensor):
                flags = v.data.flags
                if not flags.c_contiguous and flags.writeable:
                    return False
    return True


def _real_view(a: np.ndarray) -> np.ndarray:
    """A C-contiguous complex array's (..., 2) real view (a 0-d one's too: NumPy refuses
    to view a 0-d array as a smaller dtype, so through its 1-element reshape)."""
    shape = a.shape  # (np.ascontiguousarray makes a 0-d array 1-d: the caller's shape kept)
    return np.ascontiguousarray(a).reshape(shape or (1,)).view(a.real.dtype).reshape(shape + (2,))


def _grad_array(p: Tensor) -> np.ndarray:
    """p's gradient as a C-contiguous array of p's dtype: the only copy is an explicit one.

    The parameter itself is updated in place by the kernel, so it must already be a
    C-contiguous, writeable float array (the kernel's binding refuses anything else)."""
    g = p.grad.data if isinstance(p.grad, Tensor) else np.asarray(p.grad)
    if isinstance(g, RowSparseGrad):
        g = g.view(np.ndarray)  # the kernels take the plain array
    if g.shape != p.data.shape:
        raise ValueError(f"optimizer: gradient shape {g.shape} differs from parameter {p.shape}")
    if g.dtype != p.data.dtype or not g.flags.c_contiguous:
        g = np.ascontiguousarray(g, dtype=p.data.dtype)
    return g


def _state_like(p: Tensor, fill: float = 0.0) -> np.ndarray:
    if p.data.dtype.kind == "c":  # both parts (the real view's every entry), as torch's Adagrad
        fill = complex(fill, fill)
    return np.full(p.data.shape, fill, dtype=p.data.dtype)


# ---- the live state: Tensors, as torch's, whose NumPy storage the fused kernels update -----


def _scalar_dtype():
    """torch's ``_get_scalar_dtype()``: float64 under set_default_dtype(float64), else float32."""
    return np.float64 if get_default_dtype() == np.float64 else np.float32


def _wrap(a: np.ndarray) -> Tensor:
    """A state Tensor over ``a`` itself (no copy)."""
    return Tensor._make(a, False, None, 0)


def _scalar(v, dtype=None) -> Tensor:
    """A 0-d state Tensor (torch's ``step``, ``eta``, ``mu``, ``mu_product``)."""
    return _wrap(np.array(v, dtype=dtype or _scalar_dtype()))


def _buffer(state: dict, k: str) -> np.ndarray:
    """The array of state Tensor ``k``, for a kernel to update in place: whatever Tensor the
    state holds now (one the user assigned or edited in place too), read at every step and
    never copied. A strided Tensor is made contiguous in place, and an array or a number put
    there by hand is wrapped as a Tensor first, so the state always holds what is updated."""
    v = state[k]
    if type(v) is Tensor:
        a = v.data
        if a.flags.c_contiguous:
            return a
    if isinstance(v, Tensor):
        v.data = np.ascontiguousarray(v.data)
        return v.data
    if isinstance(v, np.ndarray):
        v = state[k] = _wrap(np.ascontiguousarray(v))
        return v.data
    if isinstance(v, int | float | np.generic) and not isinstance(v, bool):
        v = state[k] = _scalar(v)
        return v.data
    raise TypeError(f"optimizer state {k!r} must be a Tensor, got {type(v).__name__}")


def _count(state: dict) -> float:
    """``state['step'] += 1`` in place, in the step Tensor's dtype (float32 stops counting at
    2**24, as torch's), and the new count as a Python float (torch's ``step_t.item()``)."""
    s = state["step"]
    a = s.data if type(s) is Tensor else _buffer(state, "step")
    a[()] = float(a) + 1.0
    return float(a)


def _advance(state: dict, p: Tensor, *buffers: str) -> list:
    """Count one more step in ``state`` (torch's ``step``: a 0-d float32 Tensor from 0), first
    creating any of the named buffers it lacks as zero Tensors shaped like ``p``. Returns
    ``[step count, array of each buffer...]``: the arrays the state Tensors hold now, for a
    kernel to update in place. (One call for the whole per-parameter bookkeeping, as it runs
    for every parameter at every step. A strided Tensor put there by hand is made
    contiguous for the step by ``_params_with_grad``.)"""
    s = state.get("step")
    if s is None:
        s = state["step"] = _scalar(0.0)
    a = s.data if type(s) is Tensor else _buffer(state, "step")
    a[()] = float(a) + 1.0
    out = [float(a)]
    for name in buffers:
        v = state.get(name)
        if v is None:
            v = state[name] = _wrap(_state_like(p))
        out.append(v.data if type(v) is Tensor else _buffer(state, name))
    return out


def _lr_dtype(lr: Tensor):
    """The NumPy type PyTorch's arithmetic on a Tensor lr is rounded to: a floating lr's own
    dtype; an integer or bool lr times a Python float gives the default dtype (float32)."""
    dt = np.asarray(lr.data).dtype
    return dt.type if dt.kind == "f" else np.dtype(get_default_dtype()).type


def _tensor_lr(lr, bias_correction1: float = 1.0, weight_decay=0.0):
    """PyTorch keeps a Tensor lr a tensor inside step(): ``lr / bias_correction1`` and the
    decoupled decay ``1 - lr * weight_decay`` are computed, and rounded, in the lr's dtype
    (float32 for ``torch.tensor(0.01)``). Returns the lr to hand a kernel that divides by
    ``bias_correction1`` itself (so it gets that rounded step size), and the decay factor
    (_decay_factor; None without decay). A Python lr comes back unchanged."""
    shrink = _decay_factor(lr, weight_decay) if float(weight_decay) else None
    if not isinstance(lr, Tensor):
        return float(lr), shrink
    ft = _lr_dtype(lr)
    lr_t = ft(np.asarray(lr.data).item())
    # rounded to ft, a float16 one computed in float32 first (torch's opmath)
    mt = np.float32 if np.dtype(ft).itemsize < 4 else ft
    step = ft(mt(lr_t) / mt(bias_correction1))
    return float(step) * bias_correction1, shrink


def _decay_factor(lr, weight_decay) -> float:
    """torch's decoupled decay factor ``1 - lr * weight_decay``: in double for Python numbers;
    when either is a Tensor (torch takes a 0-d weight_decay too), each operation rounded to
    the tensors' dtype (float32 for ``torch.tensor(0.1)``), a float16 one computed in float32
    first (torch's opmath: the Python scalar is not rounded to float16 on its own)."""
    tensors = [v for v in (lr, weight_decay) if isinstance(v, Tensor)]
    if not tensors:
        return 1.0 - float(lr) * float(weight_decay)
    ft = np.result_type(*(_lr_dtype(v) for v in tensors)).type
    mt = np.float32 if np.dtype(ft).itemsize < 4 else ft
    v = [
        np.asarray(x.data).item() if isinstance(x, Tensor) else float(x) for x in (lr, weight_decay)
    ]
    v = [ft(x) if isinstance(y, Tensor) else x for x, y in zip(v, (lr, weight_decay))]
    return float(ft(mt(1) - mt(ft(mt(v[0]) * mt(v[1])))))


def _tensor_decay_(p, group: dict) -> bool:
    """With a Tensor lr or weight_decay, torch's decoupled decay of ``p`` by ``1 - lr *
    weight_decay`` rounded in the Tensor's dtype (_decay_factor), applied here before the
    step's kernel: True when applied (the kernel then decays nothing)."""
    if not any(isinstance(group[k], Tensor) for k in ("lr", "weight_decay")):
        return False
    p.data *= p.data.dtype.type(_decay_factor(group["lr"], group["weight_decay"]))
    return True


def _torch_pow(x, e: float):
    """torch.pow(0-d tensor, Python scalar) on CPU for a NumPy scalar x: its shortcuts for some
    exponents (ops.POW_SHORTCUTS), else the libm pow in x's own precision."""
    f = POW_SHORTCUTS.get(e)
    return f(x) if f is not None else x ** type(x)(e)


def _lerp_(start: np.ndarray, end: np.ndarray, weight: float) -> None:
    """start += weight * (end - start) in place, with PyTorch's two-sided formula (exact
    ``end`` at weight 1); a fused multiply-add in the C++ kernel, as torch's."""
    if (
        isinstance(end, np.ndarray)
        and start.dtype in (np.float32, np.float64)
        and end.dtype == start.dtype
        and end.shape == start.shape
        and start.flags.c_contiguous
        and start.flags.writeable
        and end.flags.c_contiguous
    ):
        _C.lerp_(start, end, float(weight))
        return
    if abs(weight) < 0.5:
        start += weight * (end - start)
    else:
        start[...] = end - (end - start) * (1 - weight)


def _check_betas(betas) -> None:
    b1, b2 = betas
    if not 0.0 <= b1 < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {b1} (must be in [0, 1))")
    if not 0.0 <= b2 < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {b2} (must be in [0, 1))")


def _check_nonneg(group: dict, *names: str, nan_ok: bool = False) -> None:
    """Each of names >= 0; NaN refused too unless nan_ok (torch's SGD checks ``v < 0`` alone)."""
    for k in names:
        v = group[k]
        if v is required:  # (the defaults' placeholder: each group must give it)
            continue
        if k == "lr" and isinstance(v, Tensor):  # PyTorch's tensor lr (one element)
            if v.numel() != 1:
                raise ValueError("Tensor lr must be 1-element")
            v = float(v)
        elif k == "weight_decay" and isinstance(v, Tensor):  # torch takes it as its value
            if v.numel() != 1:
                raise BadShapeOrValue(
                    f"Tensor weight_decay must be 1-element, got shape {tuple(v.shape)}"
                )
            v = float(v)
        # (a bool is a number to torch: lr=True is lr 1)
        if not isinstance(v, int | float | np.floating | np.integer):
            raise TypeError(f"{k} must be a number, got {v!r}")
        if not v >= 0.0 and not (nan_ok and v != v):  # (NaN turns every parameter into NaN)
            label = {"lr": "learning rate", "eps": "epsilon value"}.get(k, f"{k} value")
            raise ValueError(f"Invalid {label}: {v}")


def _check_adam_family(group: dict) -> None:
    """The hyper-parameters Adam and its relatives share: lr, eps, weight_decay, betas."""
    _check_nonneg(group, "lr", "eps", "weight_decay")
    if len(tuple(group["betas"])) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {group['betas']!r}")
    _check_betas(group["betas"])


def _export_state(s):
    """A parameter's state (or one entry) as state_dict() gives it: itself, as torch's, unless
    it holds NumPy arrays (a user optimiser's), which are copied into Tensors."""
    if isinstance(s, np.ndarray):
        return Tensor(np.array(s))
    if isinstance(s, dict | list | tuple):
        items = list(s.items() if isinstance(s, dict) else enumerate(s))
        new = [(k, _export_state(v)) for k, v in items]
        if all(n is v for (_, n), (_, v) in zip(new, items)):
            return s
        return dict(new) if isinstance(s, dict) else type(s)(v for _, v in new)
    return s
