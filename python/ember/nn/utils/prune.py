"""Pruning, as torch.nn.utils.prune: zero a share of a parameter's entries through a mask.

Pruning ``module.weight`` moves the parameter to ``weight_orig``, adds a buffer ``weight_mask``
(1 keeps an entry, 0 prunes it) and a forward pre-hook that sets ``module.weight = weight_orig *
weight_mask`` before every forward, so pruned entries stay zero and get no gradient. Pruning
the same parameter again prunes among the entries still kept (a PruningContainer records the
sequence); ``remove`` makes the pruning permanent. Masks are chosen by magnitude (L1), by the
Ln norm of whole slices along ``dim`` (structured), at random, across several parameters at
once (``global_unstructured``), or given (``custom_from_mask``).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable

import numpy as np

from ember.random import rng
from ember.tensor import Tensor

__all__ = [
    "BasePruningMethod", "CustomFromMask", "Identity", "L1Unstructured", "LnStructured",
    "PruningContainer", "RandomStructured", "RandomUnstructured", "custom_from_mask",
    "global_unstructured", "identity", "is_pruned", "l1_unstructured", "ln_structured",
    "random_structured", "random_unstructured", "remove",
]  # fmt: skip


def _check_amount(amount) -> None:
    if not isinstance(amount, numbers.Real) or isinstance(amount, bool):
        raise TypeError(f"Invalid type for amount: {amount!r}. Must be int or float.")
    if (isinstance(amount, numbers.Integral) and amount < 0) or (
        not isinstance(amount, numbers.Integral) and not 0.0 <= float(amount) <= 1.0
    ):
        raise ValueError(
            f"amount={amount} should either be a float in the range [0, 1] or a non-negative "
            "integer"
        )


def _n_to_prune(amount, size: int) -> int:
    """How many of ``size`` units ``amount`` prunes: a count, or a fraction rounded."""
    if isinstance(amount, numbers.Integral):
        if amount > size:
            raise ValueError(
                f"amount={amount} should be smaller than the number of parameters to prune={size}"
            )
        return int(amount)
    return round(amount * size)


def _check_dim(t: np.ndarray, dim: int) -> int:
    if t.ndim <= 1:
        raise ValueError(
            f"Structured pruning can only be applied to multidimensional tensors. Found tensor "
            f"of shape {t.shape} with {t.ndim} dims"
        )
    if not -t.ndim <= dim < t.ndim:
        raise IndexError(f"Invalid index {dim} for tensor of size {t.shape}")
    return dim % t.ndim


def _keep_slices(t: np.ndarray, dim: int, keep: np.ndarray, default_mask: np.ndarray):
    """A mask of ones on the slices ``keep`` along ``dim``, times the mask already there."""
    mask = np.zeros_like(t)
    index = [slice(None)] * t.ndim
    index[dim] = keep
    mask[tuple(index)] = 1
    return mask * default_mask


class BasePruningMethod:
    """A way of choosing a mask: subclasses define ``compute_mask(t, default_mask)`` on
    Tensors as torch's (t the importance scores, default_mask the mask so far; ember's own
    define ``_compute`` on NumPy arrays) and PRUNING_TYPE
    ("unstructured", "structured" with a ``dim``, or "global")."""

    PRUNING_TYPE = "unstructured"
    _tensor_name: str | None = None

    def __call__(self, module, inputs):
        setattr(module, self._tensor_name, self.apply_mask(module))

    def compute_mask(self, t, default_mask):
        """The mask (a Tensor of t's shape) from importance scores ``t`` and the mask so far,
        as torch's; a subclass may override it in Tensor ops (torch's custom methods)."""
        return Tensor(self._compute(_array(t), _array(default_mask)))

    def _compute(self, t: np.ndarray, default_mask: np.ndarray) -> np.ndarray:
        """compute_mask on NumPy arrays: what ember's own methods define."""
        raise NotImplementedError

    def apply_mask(self, module) -> Tensor:
        orig = getattr(module, self._tensor_name + "_orig")
        mask = getattr(module, self._tensor_name + "_mask")
        return orig * mask.to(orig.dtype)

    @classmethod
    def apply(cls, module, name: str, *args, importance_scores=None, **kwargs):
        """Prune ``module.<name>`` with a new ``cls(*args, **kwargs)``, on top of any pruning
        already there."""
        old = _pruning_hook(module, name)
        method = cls(*args, **kwargs)
        method._tensor_name = name
        if old is not None:
            key, old_method = old
            if isinstance(old_method, PruningContainer):
                old_method.add_pruning_method(method)
                method = old_method
            else:
                method = PruningContainer(old_method, method)
        if not hasattr(module, name):
            raise AttributeError(f"{type(module).__name__} has no parameter or buffer {name!r}")
        orig = getattr(module, name)
        scores = orig if importance_scores is None else importance_scores
        if not isinstance(scores, Tensor) or tuple(scores.shape) != tuple(orig.shape):
            raise ValueError(
                f"importance_scores should have the same shape as parameter {name} of "
                f"{type(module).__name__}: {tuple(orig.shape)}, got "
                f"{getattr(scores, 'shape', type(scores).__name__)}"
            )
        if old is None:
            default_mask = np.ones(orig.shape, orig.dtype)
        else:
            default_mask = getattr(module, name + "_mask").data.astype(orig.dtype)
        mask = _mask(method, np.asarray(scores.data), default_mask)  # may raise: no change yet
        if old is None:
            del module._parameters[name]
            module.register_parameter(name + "_orig", orig)
            module.register_buffer(name + "_mask", Tensor(mask))
        else:
            del module._forward_pre_hooks[old[0]]
            setattr(module, name + "_mask", Tensor(mask))  # still a buffer
        setattr(module, name, method.apply_mask(module))
        module.register_forward_pre_hook(method)
        return method

    def prune(self, t: Tensor, default_mask=None, importance_scores=None) -> Tensor:
        """``t`` with this method's mask applied (no module involved)."""
        scores = t if importance_scores is None else importance_scores
        base = np.ones(t.shape, t.dtype) if default_mask is None else np.asarray(default_mask.data)
        return t * Tensor(_mask(self, np.asarray(scores.data), base).astype(t.dtype))

    def remove(self, module) -> None:
        """Make the pruning permanent: ``module.<name>`` becomes a parameter holding the
        masked values, and ``_orig``, ``_mask`` go."""
        name = self._tensor_name
        weight = self.apply_mask(module)
        if name in module.__dict__:
            delattr(module, name)
        orig = module._parameters[name + "_orig"]
        orig.data = weight.data
        delattr(module, name + "_orig")
        delattr(module, name + "_mask")
        module.register_parameter(name, orig)


def _array(t) -> np.ndarray:
    return np.asarray(t.data if isinstance(t, Tensor) else t)


def _mask(method, t: np.ndarray, default_mask: np.ndarray) -> np.ndarray:
    """method's mask as an array: through its compute_mask on Tensors when a subclass
    overrides it (a user's method, as torch's tutorial writes), else its _compute."""
    if type(method).compute_mask is BasePruningMethod.compute_mask:
        return method._compute(t, default_mask)
    out = method.compute_mask(Tensor(t), Tensor(default_mask))
    return np.asarray(_array(out), default_mask.dtype)


def _pruning_hook(module, name: str):
    """(key, method) of the pruning hook on ``module.<name>``, or None."""
    found = [
        (k, h)
        for k, h in module._forward_pre_hooks.items()
        if isinstance(h, BasePruningMethod) and h._tensor_name == name
    ]
    return found[0] if found else None


class PruningContainer(BasePruningMethod):
    """The sequence of methods applied to one parameter: each new mask is computed among the
    units the previous ones kept."""

    def __init__(self, *methods):
        self._pruning_methods: tuple = ()
        if len(methods) == 1 and not isinstance(methods[0], BasePruningMethod):
            methods = tuple(methods[0])  # an iterable of methods
        for m in methods:
            self.add_pruning_method(m)

    def add_pruning_method(self, method) -> None:
        if not isinstance(method, BasePruningMethod) and method is not None:
            raise TypeError(f"{type(method)} is not a BasePruningMethod subclass")
        if (
            method is not None
            and self._tensor_name is not None
            and self._tensor_name != (method._tensor_name)
        ):
            raise ValueError(
                f"Can only add pruning methods acting on the parameter named "
                f"'{self._tensor_name}' to PruningContainer {self}. Found "
                f"'{method._tensor_name}'"
            )
        if method is not None:
            self._tensor_name = method._tensor_name
            self._pruning_methods += (method,)

    def __len__(self):
        return len(self._pruning_methods)

    def __iter__(self):
        return iter(self._pruning_methods)

    def __getitem__(self, i):
        return self._pruning_methods[i]

    def _compute(self, t, default_mask):
        method = self._pruning_methods[-1]
        mask = default_mask.astype(t.dtype, copy=True)
        if method.PRUNING_TYPE == "unstructured":
            keep = mask == 1
        elif method.PRUNING_TYPE == "structured":
            dim = _check_dim(t, method.dim)
            others = tuple(d for d in range(t.ndim) if d != dim)
            index = [slice(None)] * t.ndim
            index[dim] = mask.sum(axis=others) != 0  # the slices not yet pruned
            keep = tuple(index)
        else:  # global
            keep = (slice(None),) * t.ndim
        mask[keep] = _mask(method, t[keep], mask[keep])
        return mask


class Identity(BasePruningMethod):
    """Prunes nothing: the mask is all ones."""

    def _compute(self, t, default_mask):
        return default_mask.copy()

    @classmethod
    def apply(cls, module, name):
        return super().apply(module, name)


class _Unstructured(BasePruningMethod):
    """Prunes the ``amount`` entries whose ``_scores`` are smallest."""

    def __init__(self, amount):
        _check_amount(amount)
        self.amount = amount

    def _compute(self, t, default_mask):
        k = _n_to_prune(self.amount, t.size)
        mask = default_mask.copy()
        if k:
            mask.reshape(-1)[np.argsort(self._scores(t), kind="stable")[:k]] = 0
        return mask


class RandomUnstructured(_Unstructured):
    """Prunes ``amount`` of the entries, chosen at random."""

    def _scores(self, t):
        return rng().random(t.size)

    @classmethod
    def apply(cls, module, name, amount):
        return super().apply(module, name, amount=amount)


class L1Unstructured(_Unstructured):
    """Prunes the ``amount`` entries of smallest magnitude."""

    def _scores(self, t):
        return np.abs(t).reshape(-1)

    @classmethod
    def apply(cls, module, name, amount, importance_scores=None):
        return super().apply(module, name, amount=amount, importance_scores=importance_scores)


class RandomStructured(BasePruningMethod):
    """Prunes ``amount`` of the slices along ``dim`` (whole channels), chosen at random."""

    PRUNING_TYPE = "structured"

    def __init__(self, amount, dim: int = -1):
        _check_amount(amount)
        self.amount, self.dim = amount, dim

    def _compute(self, t, default_mask):
        dim = _check_dim(t, self.dim)
        k = _n_to_prune(self.amount, t.shape[dim])
        if k == 0:
            return default_mask.copy()
        keep = np.sort(np.argsort(rng().random(t.shape[dim]), kind="stable")[k:])
        return _keep_slices(t, dim, keep, default_mask)

    @classmethod
    def apply(cls, module, name, amount, dim=-1):
        return super().apply(module, name, amount=amount, dim=dim)


class LnStructured(BasePruningMethod):
    """Prunes the ``amount`` slices along ``dim`` of smallest Ln norm (``n``: a number, inf,
    -inf, 'fro' or 'nuc' as torch.norm takes)."""

    PRUNING_TYPE = "structured"

    def __init__(self, amount, n, dim: int = -1):
        _check_amount(amount)
        self.amount, self.n, self.dim = amount, n, dim

    def _compute(self, t, default_mask):
        dim = _check_dim(t, self.dim)
        k = _n_to_prune(self.amount, t.shape[dim])
        if k == 0:
            return default_mask.copy()
        flat = np.moveaxis(t, dim, 0).reshape(t.shape[dim], -1)
        n = self.n
        if n == "fro":
            n = 2
        if n == "nuc":
            norms = np.array(
                [np.linalg.norm(np.moveaxis(t, dim, 0)[i], "nuc") for i in range(len(flat))]
            )
        else:
            norms = np.linalg.norm(flat, ord=float(n), axis=1)
        # keep the largest norms; among equal norms, the first slices, as a stable sort does
        keep = np.sort(np.argsort(-norms, kind="stable")[: t.shape[dim] - k])
        return _keep_slices(t, dim, keep, default_mask)

    @classmethod
    def apply(cls, module, name, amount, n, dim, importance_scores=None):
        return super().apply(
            module, name, amount=amount, n=n, dim=dim, importance_scores=importance_scores
        )


class CustomFromMask(BasePruningMethod):
    """Prunes where the given ``mask`` is 0."""

    PRUNING_TYPE = "global"

    def __init__(self, mask):
        self.mask = mask

    def _compute(self, t, default_mask):
        m = np.asarray(self.mask.data if isinstance(self.mask, Tensor) else self.mask)
        if m.shape != default_mask.shape:
            raise ValueError(
                f"custom_from_mask: mask of shape {m.shape} for a parameter of shape "
                f"{default_mask.shape}"
            )
        return default_mask * m.astype(default_mask.dtype)

    @classmethod
    def apply(cls, module, name, mask):
        return super().apply(module, name, mask=mask)


def identity(module, name: str):
    Identity.apply(module, name)
    return module


def random_unstructured(module, name: str, amount):
    RandomUnstructured.apply(module, name, amount)
    return module


def l1_unstructured(module, name: str, amount, importance_scores=None):
    L1Unstructured.apply(module, name, amount=amount, importance_scores=importance_scores)
    return module


def random_structured(module, name: str, amount, dim: int):
    RandomStructured.apply(module, name, amount, dim)
    return module


def ln_structured(module, name: str, amount, n, dim: int, importance_scores=None):
    LnStructured.apply(module, name, amount, n, dim, importance_scores=importance_scores)
    return module


def custom_from_mask(module, name: str, mask):
    CustomFromMask.apply(module, name, mask)
    return module


def global_unstructured(parameters, pruning_method, importance_scores=None, **kwargs) -> None:
    """Prune the (module, name) pairs in ``parameters`` together: e.g. with L1Unstructured and
    amount=0.2, the 20% of all their entries of smallest magnitude, wherever they are."""
    if not isinstance(parameters, Iterable):
        raise TypeError("global_unstructured(): parameters is not an Iterable")
    parameters = list(parameters)
    scores = {} if importance_scores is None else importance_scores
    if not isinstance(scores, dict):
        raise TypeError("global_unstructured(): importance_scores must be of type dict")
    method = pruning_method(**kwargs)
    if method.PRUNING_TYPE != "unstructured":
        raise TypeError(
            'Only "unstructured" PRUNING_TYPE supported for the `pruning_method`. Found method '
            f"{pruning_method} of type {method.PRUNING_TYPE}"
        )
    flat = np.concatenate(
        [np.asarray(scores.get((m, n), getattr(m, n)).data).reshape(-1) for m, n in parameters]
    )
    base = np.concatenate(
        [
            np.asarray(getattr(m, n + "_mask").data).reshape(-1)
            if hasattr(m, n + "_mask")
            else np.ones(getattr(m, n).numel())
            for m, n in parameters
        ]
    ).astype(flat.dtype)
    container = PruningContainer(method)
    final = container._compute(flat, base)
    start = 0
    for m, n in parameters:
        p = getattr(m, n)
        size = p.numel()
        custom_from_mask(m, n, final[start : start + size].reshape(p.shape))
        start += size


def remove(module, name: str):
    """Make the pruning of ``module.<name>`` permanent (see BasePruningMethod.remove)."""
    hook = _pruning_hook(module, name)
    if hook is None:
        raise ValueError(
            f"Parameter '{name}' of module {module} has to be pruned before pruning can be removed"
        )
    key, method = hook
    method.remove(module)
    del module._forward_pre_hooks[key]
    module._refresh_hooked()
    return module


def is_pruned(module) -> bool:
    """Whether ``module`` or any submodule has a pruning hook."""
    if not hasattr(module, "named_modules"):
        raise TypeError(f"is_pruned: expected an nn.Module, got {type(module).__name__}")
    return any(
        isinstance(h, BasePruningMethod)
        for _, sub in module.named_modules()
        for h in sub._forward_pre_hooks.values()
    )
