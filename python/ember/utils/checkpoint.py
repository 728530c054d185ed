"""Activation checkpointing (``torch.utils.checkpoint``): trade compute for memory by keeping
only a segment's inputs and running its forward again during backward.

``checkpoint(fn, *args)`` runs ``fn`` without recording a graph, so none of its intermediate
activations are kept; backward reruns ``fn`` with the graph on, from the saved inputs and with
the random state they first saw (dropout draws the same masks), and backpropagates through that.
Gradients reach the inputs and every parameter ``fn`` uses, as with PyTorch's non-reentrant
checkpoint (the reentrant one gives parameters no gradient when no input requires grad).
"""

from __future__ import annotations

import warnings

import numpy as np

from ember import _lowp
from ember import random as _random
from ember.autograd import engine
from ember.autograd import graph as _graph
from ember.autograd.function import Function, enable_grad, is_grad_enabled, no_grad
from ember.tensor import Tensor

# A leaf that requires grad, passed to every checkpoint node so the node is recorded even when
# no input requires grad (the parameters inside fn still need their gradients).
_ANCHOR = Tensor(np.zeros(()), requires_grad=True)


def _outputs(out, op: str) -> tuple:
    outs = out if isinstance(out, tuple | list) else (out,)
    if not outs or not all(isinstance(o, Tensor) for o in outs):
        kinds = [type(o).__name__ for o in outs]
        raise TypeError(
            f"{op}: the function must return a Tensor or a tuple of Tensors, got {kinds}"
        )
    return tuple(outs)


class _Checkpoint(Function):
    @staticmethod
    def forward(ctx, anchor, run, preserve_rng_state, *arrays):
        ctx.run, ctx.arrays = run, arrays
        ctx.rng = _random.get_rng_state() if preserve_rng_state else None
        with no_grad():
            out = _outputs(run(*(Tensor._make(a, False, None, 0) for a in arrays)), "checkpoint")
        ctx.mark_non_differentiable(*(i for i, o in enumerate(out) if not _lowp.is_float(o.dtype)))
        return tuple(o.data for o in out)

    @staticmethod
    def backward(ctx, *grads):
        needs = ctx.needs_input_grad[3:]
        inputs = [
            Tensor._make(a, False, None, 0).requires_grad_(n)
            if n
            else Tensor._make(a, False, None, 0)
            for a, n in zip(ctx.arrays, needs)
        ]
        now = _random.get_rng_state()
        if ctx.rng is not None:
            _random.set_rng_state(ctx.rng)  # the same dropout masks as the first run
        try:
            with enable_grad():
                out = _outputs(ctx.run(*inputs), "checkpoint")
        finally:
            _random.set_rng_state(now)
        pairs = [(o, g) for o, g in zip(out, grads) if o.requires_grad and g is not None]
        if pairs:
            engine.backward(
                [o for o, _ in pairs], [Tensor._make(g, False, None, 0) for _, g in pairs]
            )
        input_grads = tuple(
            t._grad.data if n and t._grad is not None else None for t, n in zip(inputs, needs)
        )
        return (None, None, None, *input_grads)

    @staticmethod
    def backward_graph(ctx, *grads):
        # the recomputation recorded on the inputs as they are in the graph, and differentiated
        xs = _graph.inputs(ctx, None, None, None, *ctx.arrays)[3:]
        now = _random.get_rng_state()
        if ctx.rng is not None:
            _random.set_rng_state(ctx.rng)
        try:
            got = _graph.recompute(ctx, grads, lambda *t: _outputs(ctx.run(*t), "checkpoint"), *xs)
        finally:
            _random.set_rng_state(now)
        return (None, None, None, *got)


class _Run:
    """fn with its non-Tensor arguments and keyword arguments bound, taking the Tensors."""

    def __init__(self, fn, args, kwargs):
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.tuple_out = False  # whether fn returned a tuple (else one Tensor)
        self.others = ()  # fn's non-Tensor outputs by position: they pass through, as torch's

    def __call__(self, *tensors):
        it = iter(tensors)
        out = self.fn(*[next(it) if isinstance(a, Tensor) else a for a in self.args], **self.kwargs)
        self.tuple_out = isinstance(out, tuple | list)
        outs = tuple(out) if self.tuple_out else (out,)
        if self.tuple_out:  # the node carries the Tensors only
            self.others = tuple((i, o) for i, o in enumerate(outs) if not isinstance(o, Tensor))
            outs = tuple(o for o in outs if isinstance(o, Tensor)) or outs
        return outs

    def rebuild(self, tensors: tuple):
        """fn's output again: the node's Tensors with the non-Tensor outputs put back."""
        if not self.tuple_out:
            return tensors[0]
        out = list(tensors)
        for i, o in self.others:
            out.insert(i, o)
        return tuple(out)


def checkpoint(function, *args, use_reentrant: bool | None = None, context_fn=None,
               determinism_check: str = "default", debug: bool = False,
               preserve_rng_state: bool = True, **kwargs):  # fmt: skip
    """``function(*args, **kwargs)`` without keeping its activations; they are recomputed in
    backward. ``use_reentrant`` is accepted either way (ember's is the non-reentrant behaviour,
    but for torch's reentrant refusal of kwargs and its no-grad result when no input requires
    grad);
    ``preserve_rng_state`` replays the random state for the recomputation."""
    if context_fn is not None:
        raise ValueError("checkpoint: context_fn is not supported")
    if use_reentrant and kwargs:  # torch's reentrant variant passes positional args only
        raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
    if not is_grad_enabled():
        return function(*args, **kwargs)
    run = _Run(function, args, kwargs)
    tensors = [a for a in args if isinstance(a, Tensor)]
    if use_reentrant and not any(t.requires_grad for t in tensors):
        # torch's reentrant checkpoint records nothing then: outputs without grad
        warnings.warn(
            "None of the inputs have requires_grad=True. Gradients will be None", stacklevel=2
        )
        with no_grad():
            return function(*args, **kwargs)
    return run.rebuild(_Checkpoint.apply(_ANCHOR, run, preserve_rng_state, *tensors))


def checkpoint_sequential(functions, segments: int, input, use_reentrant: bool | None = None,  # noqa: A002
                          **kwargs):  # fmt: skip
    """Run a Sequential (or list of modules) in ``segments`` chunks, checkpointing all but the
    last, as ``torch.utils.checkpoint.checkpoint_sequential``."""
    from ember.nn import Sequential

    fns = list(functions.children()) if isinstance(functions, Sequential) else list(functions)
    if not isinstance(segments, int) or not 1 <= segments:
        raise ValueError(f"checkpoint_sequential: segments must be an int >= 1, got {segments!r}")
    if segments > len(fns):
        raise ValueError(f"checkpoint_sequential: {segments} segments for {len(fns)} functions")
    size = len(fns) // segments

    def run_segment(start, end):
        def forward(x):
            for f in fns[start : end + 1]:
                x = f(x)
            return x

        return forward

    end = -1
    for start in range(0, size * (segments - 1), size):
        end = start + size - 1
        input = checkpoint(run_segment(start, end), input, use_reentrant=use_reentrant, **kwargs)  # noqa: A001
    return run_segment(end + 1, len(fns) - 1)(input)
