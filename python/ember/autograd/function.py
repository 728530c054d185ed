"""Function: one node of the autograd graph, and the grad-mode switches.

A Function subclass defines ``forward(ctx, *args)`` and ``backward(ctx, *grads)`` as static
methods, side by side. Both work on NumPy arrays: ``forward`` receives the ``.data`` of every
Tensor argument (other arguments as given) and returns an array (or a tuple of arrays);
``backward`` receives the gradient of each output and returns one gradient array (or None) per
forward argument. ``ctx`` is the node itself: ``ctx.save_for_backward(...)`` keeps arrays for
backward, ``ctx.needs_input_grad`` says which inputs want a gradient, and any other attribute
may be set on it. That is the contract of ember's own ops; a subclass defined outside the
``ember`` package gets PyTorch's: Tensors in and out of ``forward`` / ``backward`` (run without
recording), and optionally ``forward(*args)`` with ``setup_context(ctx, inputs, output)``.

Example::

    class Square(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return 2 * x * grad

    y = Square.apply(ember.tensor([3.0], requires_grad=True))
"""

from __future__ import annotations

import functools
import itertools
import sys
import threading
import weakref

import numpy as np

from ember import _lowp


class _State(threading.local):
    # The class default serves every thread that never set it: a plain threading.local
    # raised (and getattr swallowed) an AttributeError on each op, ~0.3 us.
    enabled = True  # ops record: grad mode on and no inference_mode(True) block open
    wanted = True  # grad mode as set (is_grad_enabled): enable_grad inside inference_mode
    # turns it on but records nothing, as torch's
    # saved_tensors_hooks: the (pack, unpack) pairs entered, innermost last; a message while
    # disable_saved_tensors_hooks is active
    saved_hooks = ()
    saved_hooks_off = None
    inference = False  # inside an inference_mode(True) block
    user_ctx = None  # the ctx of the custom Function whose forward just ran (_user_apply's)


_state = _State()


def is_grad_enabled() -> bool:
    return _state.wanted


# How many threads have grad mode off now: mark_view's one test in grad mode (a race of two
# threads may miscount; at worst a view made under no_grad goes unmarked, or the test reads on)
_grad_off = 0


def _set_enabled(mode: bool) -> None:
    global _grad_off
    _state.wanted = mode = bool(mode)
    mode = mode and not _state.inference
    if mode != _state.enabled:
        _grad_off += -1 if mode else 1
        _state.enabled = mode


def _decorate(make, fn):
    """fn run under the context manager ``make()``; a generator function's body runs under
    it at each resumption, as torch's decorators (not only while the generator is made)."""
    import functools
    import inspect

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator(*args, **kwargs):
            gen = fn(*args, **kwargs)
            try:
                with make():
                    out = gen.send(None)
                while True:
                    try:
                        sent = yield out
                    except GeneratorExit:
                        with make():
                            gen.close()
                        raise
                    except BaseException as e:
                        with make():
                            out = gen.throw(e)
                    else:
                        with make():
                            out = gen.send(sent)
            except StopIteration as stop:
                return stop.value

        return generator

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with make():
            return fn(*args, **kwargs)

    return wrapper


class _GradMode:
    """Context manager and decorator that sets grad mode and restores the previous one."""

    _mode = True

    def __new__(cls, func=None, *args, **kwargs):
        if callable(func):  # bare ``@no_grad``, as PyTorch allows
            return cls()(func)
        return super().__new__(cls)

    def __enter__(self):
        self._prev = is_grad_enabled()
        _set_enabled(self._mode)
        return self

    def __exit__(self, *exc):
        _set_enabled(self._prev)
        return False

    def __call__(self, fn):
        return _decorate(self.__class__, fn)


class no_grad(_GradMode):  # noqa: N801 (PyTorch's name)
    """Disable graph recording: ``with ember.no_grad(): ...`` or ``@ember.no_grad()``."""

    _mode = False


class enable_grad(_GradMode):  # noqa: N801
    """Re-enable graph recording inside a ``no_grad`` block."""

    _mode = True


class inference_mode(no_grad):  # noqa: N801
    """PyTorch's inference_mode: ``no_grad``, and the tensors made inside are inference tensors
    (``is_inference()``): outside the mode they may not require grad, be written in place or be
    saved for backward by a recorded op (RuntimeError, torch's messages). ``inference_mode(False)``
    turns grad mode on inside its block, as torch's (even within no_grad or inference_mode).

    While a block is open (in any thread), ``Tensor._make`` is swapped for a version that marks
    its tensors when the calling thread is in the mode, so tensors made outside the mode pay
    nothing for it."""

    def __new__(cls, mode=True):
        if callable(mode):  # bare ``@inference_mode``
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode: bool = True):
        self._inference = bool(mode)
        self._mode = not mode

    def __enter__(self):
        self._was_inference = _state.inference
        _state.inference = self._inference
        _inference_blocks(+1)
        return super().__enter__()

    def __exit__(self, *exc):
        _state.inference = self._was_inference
        _inference_blocks(-1)
        return super().__exit__(*exc)

    def __call__(self, fn):
        return _decorate(lambda: inference_mode(self._inference), fn)


_open_blocks = [0]  # inference_mode blocks open, in every thread
_inference_made = False  # an inference tensor was ever made: the checks on them then run
_plain_make = _plain_init = None  # Tensor._make and __init__ as defined (set at the first block)


# The memory of inference tensors: id(owning array) -> a weak reference to it. A tensor made
# outside the mode on that memory (a view: x[0], x.t(), x.view(...)) is an inference tensor
# too, as torch's views of one are.
_inference_memory: dict = {}


def _owner(data):
    """The array owning ``data``'s memory (data itself when it owns it; as_strided's views
    hold their array through an interface object's ``base``)."""
    while True:
        base = data.base
        if not isinstance(base, np.ndarray):
            base = getattr(base, "base", None)
            if not isinstance(base, np.ndarray):
                return data
        data = base


def _on_inference_memory(data) -> bool:
    ref = _inference_memory.get(id(owner := _owner(data)))
    return ref is not None and ref() is owner


def _mark(t, data) -> None:
    """Mark t (made on ``data``) an inference tensor in the mode, or a view of one outside it."""
    global _inference_made
    if _state.inference:
        t._inference = _inference_made = True
        # only memory the tensor owns: a view made in the mode of a normal tensor must not
        # turn that tensor's later views into inference tensors
        if type(data) is np.ndarray and data.base is None and id(data) not in _inference_memory:
            key = id(data)
            _inference_memory[key] = weakref.ref(
                data, lambda _, k=key: _inference_memory.pop(k, None)
            )
    elif _inference_memory and type(data) is np.ndarray and _on_inference_memory(data):
        t._inference = True


def view_made(out, src):
    """``out``, a view op's result on ``src`` (indexing, reshape, view, permute): one made in
    the mode on src's memory is an inference tensor only if src is one (torch keeps the views
    of a normal tensor normal; ops' fresh results are marked by _mark)."""
    if _state.inference and _owner(out.data) is _owner(src.data):
        out._inference = bool(getattr(src, "_inference", False))
    return out


def no_grad_view(out, srcs):
    """``out`` (a Tensor made with grad mode off from ``srcs``, tensors that require grad): as
    torch's, a view of one of them (x[1:], x.t(), x.view(...) under no_grad or inference_mode)
    still requires grad, a leaf without grad_fn whose gradient goes nowhere and which refuses
    in-place writes in grad mode (``_no_grad_view``: the mode it was made in, and the version
    of its memory then)."""
    d = out.data
    base = d.base
    if base is None:  # (a fresh array: most ops)
        return out
    for p in srcs:  # (base is p's array: most views, without the walk to the owners)
        if p is not None and (base is p.data or _owner(d) is _owner(p.data)):
            if d.dtype.kind in "fc" or d.dtype == _lowp.bfloat16:
                out._requires_grad = True
                # (the mode, and its memory's version: a later write to the base or to any of
                # its views makes the view unusable in grad mode, see rebased_no_grad_view)
                out._no_grad_view = (_MADE_IN[_state.inference], version(d))
                out._no_grad_base = p
                global _no_grad_views_made
                _no_grad_views_made = True
            break
    return out


_MADE_IN = ("no_grad mode", "inference mode")  # (by _state.inference)
_LEAF_VIEW = "a leaf's view"  # (the mark of a view whose base took requires_grad_ later)
# A view made outside the graph carries (as _chained_view) the mode it was made in, as
# torch's creation_meta: under no_grad / inference_mode, or by a multi-output view op (split,
# chunk, unbind) in grad mode. torch refuses to write into it with a value that requires
# grad. A multi-output view in the graph carries (_MULTI, its memory's version then), as does
# (_CUSTOM, ...) a custom Function's output that views an input (or is one returned as-is).
_MULTI = "multi-output"
_CUSTOM = "custom Function"
_PLAIN_MARKS = ((_MADE_IN[0], None), (_MADE_IN[1], None))
MULTI_VIEW = (_MULTI, None)
_FRESH_MARKS = {_MULTI: (_MULTI, 0), _CUSTOM: (_CUSTOM, 0)}
_multi_owners: dict = {}  # id(array) -> weakref to it: the memory of graph multi-output views
_multi_written = False  # one of them was written in place: ops check their inputs' marks


def multi_view(res: tuple, kind: str = _MULTI) -> tuple:
    """``res``, the outputs of a multi-output view node (split, chunk, unbind) in the graph,
    or (kind _CUSTOM) a custom Function's outputs that view its inputs: as torch's, each
    refuses in-place writes, and refuses use once its memory (the base, a sibling) was written
    in place (Function.apply checks that once such a write happened)."""
    if not res:
        return res
    owner = res[0].data.base  # (a piece's base: the owner, but for as_strided's chains)
    if type(owner) is not np.ndarray or owner.base is not None:
        owner = array_owner(res[0].data)
    key = id(owner)
    if key not in _multi_owners:
        _multi_owners[key] = weakref.ref(owner, lambda _, k=key: _multi_owners.pop(k, None))
    mark = _FRESH_MARKS[kind]
    if _graph_writes:  # (version(owner), inlined: 0 before any write)
        hit = _written_owners.get(key)
        if hit is not None and hit[0]() is owner:
            mark = (kind, hit[2])
    for t in res:
        t._chained_view = mark
    return res


def _node_words(t) -> str:
    """torch's "Output 0 of Split" for t, the output of a node."""
    return f"Output {t._idx} of {t._ctx.name.rstrip('0123456789').removesuffix('Backward')}"


_MULTI_WORDS = (
    " This view is the output of a function that returns multiple views. Such functions do "
    "not allow the output views to be modified inplace. You should replace the inplace "
    "operation by an out-of-place one."
)
_VIEW_WORDS = {  # the marks whose views refuse in-place writes in the graph, torch's reasons
    _MULTI: _MULTI_WORDS,
    _CUSTOM: " This view was created inside a custom Function (or because an input was "
    "returned as-is) and the autograd logic to handle view+inplace would override the custom "
    "backward associated with the custom Function, leading to incorrect gradients. This "
    "behavior is forbidden. You can fix this by cloning the output of the custom Function.",
}


def refuse_view_write(t, marks=()) -> None:
    """An in-place write, in grad mode with a value that requires grad, into t: refused as
    torch refuses it when t is a view made by a multi-output view op, or outside the graph
    under no_grad / inference_mode (t's _chained_view, or that of a graph view in ``marks``,
    the views between t and the tensor it views)."""
    mark = getattr(t, "_chained_view", None)
    if mark is None or (mark[0] not in _VIEW_WORDS and t._ctx is not None):
        mark = next((m for m in marks if m is not None and m[0] in _VIEW_WORDS), None)
        if mark is None:
            return
    if mark[0] in _VIEW_WORDS:
        if t._ctx is not None:
            words = _node_words(t)
            raise RuntimeError(
                f"{words} is a view and is being modified inplace." + _VIEW_WORDS[mark[0]]
            )
        raise RuntimeError(
            "A view was created in no_grad mode and is being modified inplace with grad mode "
            "enabled." + _MULTI_WORDS
        )
    grad, block = _mode_words(mark[0])
    raise RuntimeError(
        f"A view was created in {mark[0]} and is being modified inplace {grad}. Given that "
        "this use case is ambiguous and error-prone, it is forbidden. You can clarify your "
        f"code by moving both the view and the inplace either both inside the {block} block "
        "(if you don't want the inplace to be tracked) or both outside (if you want the "
        "inplace to be tracked)."
    )


def _multi_mark(t):
    """The mark of the graph multi-output view that t is (a graph view of), else None."""
    d, s = t.data, t
    while s._ctx is not None:
        mark = getattr(s, "_chained_view", None)
        if mark is not None and mark[0] in _VIEW_WORDS:
            return mark
        parents = s._ctx.parents
        s = next((p for p in parents if p is not None and shares_memory(d, p.data)), None)
        if s is None:
            return None
    return None


_ref = weakref.ref


def mark_view(out, src) -> None:
    """``out`` (a Tensor made outside the graph on the array ``out.data``) views ``src``'s
    memory: link it to its root (``_view_of``, torch's ``_base``: detach_ refuses views, and
    a view follows its base's later requires_grad_, as torch's). The root lists its views by
    weak reference (``_views``), for views_follow."""
    b = out.data.base
    if b is None or type(src) is not Tensor:
        return
    d = src.data
    if not (b is d or b is d.base or _owner(out.data) is _owner(d)):  # (as_strided, unfold)
        return
    mark = None
    if d.base is not None:  # (a view of a view: its root, as torch's _base; no chain)
        try:
            root = src._view_of
        except AttributeError:  # (a view not linked: of a NumPy view given to ember)
            pass
        else:
            mark = src._chained_view  # (set on every linked view: its mark carries on)
            src = root
    if _grad_off and not _state.enabled and (mark is None or mark[0] is not _MADE_IN[1]):
        # made under no_grad / inference_mode: torch refuses a later write with a graph value
        mark = _PLAIN_MARKS[bool(_open_blocks[0]) and _state.inference]
    out._chained_view = mark
    out._view_of = src
    out._made_at = _graph_writes  # (views_follow: was its memory written since?)
    try:
        views = src._views
    except AttributeError:  # (the first view)
        src._views = [_ref(out)]
        return
    views.append(_ref(out))
    n = len(views)
    if n >= 64 and not n & (n - 1):  # (at each power of two the dead go: amortised O(1))
        views[:] = [w for w in views if w() is not None]


def mark_views(outs, src, over=None) -> None:
    """mark_view(o, src) for each of ``outs``, the pieces of src's array a multi-output view
    op made (split, chunk, unbind), src's share of the work once (a 32x32 chunk(4) spent ~1.3
    us in four mark_view calls); ``over``, when given, their _chained_view instead."""
    d = src.data if type(src) is Tensor else None
    db = d.base if d is not None else None
    for o in outs:
        b = o.data.base
        if b is None or not (b is d or (db is not None and b is db)):  # (mark_view's cases)
            for t in outs:
                mark_view(t, src)
                if over is not None:
                    t._chained_view = over
            return
    mark, root = None, src
    if db is not None:  # (as mark_view: a view of a view links to its root)
        try:
            root = src._view_of
        except AttributeError:
            pass
        else:
            mark = src._chained_view
    if _grad_off and not _state.enabled and (mark is None or mark[0] is not _MADE_IN[1]):
        mark = _PLAIN_MARKS[bool(_open_blocks[0]) and _state.inference]
    if over is not None:
        mark = over
    made = _graph_writes
    for o in outs:
        o._chained_view, o._view_of, o._made_at = mark, root, made
    refs = [_ref(o) for o in outs]
    try:
        views = root._views
    except AttributeError:
        root._views = refs
        return
    n0 = len(views)
    views += refs
    n = len(views)
    if n >= 64 and n.bit_length() > n0.bit_length():  # (mark_view's pruning, at 2**k)
        views[:] = [w for w in views if w() is not None]


def views_follow(base, on: bool = True) -> None:
    """``base`` was just made to require grad (``on``) or not (requires_grad_(False),
    detach_()): its live views made outside the graph (``_views``) follow it, as torch's do
    through their base: on, leaves without grad_fn whose gradient goes nowhere and which
    refuse in-place writes (no_grad_view's behaviour); off, plain views again."""
    live = [v for w in base._views if (v := w()) is not None]
    base._views = [_ref(v) for v in live]
    for v in live:
        if v._ctx is not None:
            continue
        if (
            on
            and not v._requires_grad
            and (v.data.dtype.kind in "fc" or v.data.dtype == _lowp.bfloat16)
        ):
            v._requires_grad = True
            # (a view made in grad mode keeps its version: once its memory is written, torch
            # rebuilds its grad_fn from the base, AsStridedBackward0; see rebased_no_grad_view.
            # One made under no_grad / inference_mode or by split, chunk, unbind keeps its
            # mode and version: torch refuses its use in grad mode once its memory is written)
            made = getattr(v, "_chained_view", None)
            mode = _LEAF_VIEW if made is None else _MADE_IN[made[0] is _MADE_IN[1]]
            seen = version(v.data)
            hit = _written_owners.get(id(array_owner(v.data)))
            if hit is not None and hit[1] > v._made_at:
                # (written since it was made: torch's view rebuilds its grad_fn at its use,
                # or refuses it there if it was made under no_grad or by split)
                seen = -1
            v._no_grad_view = (mode, seen)
            global _no_grad_views_made
            _no_grad_views_made = True  # (the flag Function.apply checks first)
        elif not on and getattr(v, "_no_grad_view", None) is not None:  # (set above)
            v._requires_grad = False
            v._no_grad_view = None


def _mode_words(mode: str) -> tuple[str, str]:
    """(the grad mode a write came in, the block's name) for torch's no-grad-view messages."""
    if mode == "no_grad mode":
        return "with grad mode enabled", "no_grad"
    return "in normal mode", "inference_mode"


# A view with a version to check was ever made: recorded ops then check their parents (torch
# refuses a rebased view as an op's input in grad mode, not only at backward)
_no_grad_views_made = False


def rebased_no_grad_view(t) -> None:
    """t, a view made under no_grad/inference_mode of a tensor that requires grad, whose
    memory (its base, another view of it, or t itself) was written in place since: torch
    refuses to use it in grad mode (its grad_fn would have to be rebuilt from a base whose
    write was never recorded)."""
    mark = getattr(t, "_no_grad_view", None)
    what = "A view was created"
    if mark is None:  # a graph view of such a view (torch: "a view of a view")
        mark = getattr(t, "_chained_view", None)
        if mark is None and _multi_written and t._ctx is not None and t.data.base is not None:
            mark = _multi_mark(t)  # (a graph view of a multi-output view)
        if mark is not None and mark[0] in _VIEW_WORDS:
            if mark[1] is not None and version(t.data) != mark[1]:
                raise RuntimeError(
                    f"{_node_words(t)} is a view and its base or another view of its base "
                    "has been modified inplace." + _VIEW_WORDS[mark[0]]
                )
            return
        if mark is not None and t._ctx is not None:
            what = f"Output {t._idx} of {t._ctx.name} is a view of a view which was created"
    if mark is None or mark[1] is None or version(t.data) == mark[1]:
        return
    mode = mark[0]
    if mode is _LEAF_VIEW:  # (views_follow's: a gather from its base, as torch's)
        from ember import _inplace

        t._no_grad_view = None
        _inplace._regather(t, t._base)
        return
    grad, block = _mode_words(mode)
    raise RuntimeError(
        f"{what} in {mode} and its base or another view of its base has been "
        f"modified inplace {grad}. Given that this use case is ambiguous and error-prone, it "
        "is forbidden. You can clarify your code by moving both the view and the inplace "
        f"either both inside the {block} block (if you don't want the inplace to be tracked) "
        "or both outside (if you want the inplace to be tracked)."
    )


def chained_mark(parents, out):
    """The no-grad-view mark (see no_grad_view) a recorded op's result ``out`` (an array or
    a tuple of them) inherits as a view of a parent that has one (``w = v[1:]`` of ``v``
    made under no_grad): torch refuses such a view too once the memory is written. Else
    None."""
    for p in parents:
        if p is None:
            continue
        mark = getattr(p, "_no_grad_view", None) or getattr(p, "_chained_view", None)
        if mark is not None and mark[1] is not None:
            for o in out if isinstance(out, tuple) else (out,):
                if isinstance(o, np.ndarray) and shares_memory(o, p.data):  # (empty ones too)
                    return mark
    return None


def refuse_no_grad_view_write(t, chained=False) -> None:
    """An in-place write in grad mode into a view made under no_grad/inference_mode (or into
    a view of one: ``chained``, True or that graph view): torch refuses it as ambiguous."""
    mark = getattr(t, "_no_grad_view", None)
    if mark is None:
        return
    mode = mark[0]
    if mode is _LEAF_VIEW:
        raise RuntimeError(
            "a view of a leaf Variable that requires grad is being used in an in-place operation."
        )
    if chained is not True and chained is not False and chained._ctx is not None:  # (the view)
        made = getattr(t, "_chained_view", None)
        if made is not None and made[0] is _MULTI:  # (of split, chunk, unbind: torch's words)
            raise RuntimeError(f"{_node_words(chained)} is a view and is being modified "
                               "inplace." + _MULTI_WORDS)  # fmt: skip
        chained = _node_words(chained) + " is a view of a view"
    grad, block = _mode_words(mode)
    what = (
        f"{chained if type(chained) is str else 'a view of a view'} which was created in {mode}"
        if chained
        else f"A view was created in {mode}"
    )
    raise RuntimeError(
        f"{what} and is being modified inplace {grad}. Given that this use case is ambiguous "
        "and error-prone, it is forbidden. You can clarify your code by moving both the view "
        f"and the inplace either both inside the {block} block (if you don't want the inplace "
        "to be tracked) or both outside (if you want the inplace to be tracked)."
    )


# The view ops whose results, made in the mode on a normal tensor, stay normal (torch's); the
# others (indexing, reshape, view, permute, detach) call view_made themselves. These are
# wrapped only while a block is open (_swap_views), so outside the mode they cost nothing.
_VIEW_OPS = (
    "squeeze unsqueeze expand expand_as narrow select unbind split split_with_sizes "
    "tensor_split hsplit vsplit dsplit chunk diagonal t transpose swapaxes swapdims movedim "
    "moveaxis as_strided unfold"
).split()
_unwrapped_views: dict = {}  # (namespace, name) -> the op as defined, while wrapped


def _view_marking(fn):
    """``fn`` (a view op taking its source first), its results passed through view_made."""

    @functools.wraps(fn)
    def op(*args, **kwargs):
        out = fn(*args, **kwargs)
        src = args[0] if args else kwargs.get("input")
        if isinstance(src, Tensor) and _state.inference:
            for o in out if isinstance(out, tuple | list) else (out,):
                if isinstance(o, Tensor):
                    view_made(o, src)
        return out

    return op


def _swap_views(on: bool) -> None:
    """Wrap (on) or restore the view ops of Tensor and the ember namespace."""
    if on == bool(_unwrapped_views):
        return
    if not on:
        for (ns, name), fn in _unwrapped_views.items():
            setattr(ns, name, fn)
        _unwrapped_views.clear()
        return
    for ns in (Tensor, sys.modules["ember"]):
        for name in _VIEW_OPS:
            fn = ns.__dict__.get(name) if ns is Tensor else getattr(ns, name, None)
            if callable(fn) and not isinstance(fn, property | staticmethod | classmethod):
                _unwrapped_views[(ns, name)] = fn
                setattr(ns, name, _view_marking(fn))


def _make_marking(data, requires_grad, ctx, idx):
    """Tensor._make once an inference_mode block was opened: its tensors made in the mode (in
    this thread) are marked as inference tensors, and views of them made outside it."""
    t = _plain_make(data, requires_grad, ctx, idx)
    _mark(t, data)
    return t


def _init_marking(self, *args, **kwargs):
    """Tensor.__init__ likewise (ember.tensor([...]), Parameter(...) in the mode)."""
    _plain_init(self, *args, **kwargs)
    _mark(self, self.data)


def _inference_blocks(step: int) -> None:
    global _plain_make, _plain_init
    with _blocks_lock:
        if _plain_make is None:
            _plain_make, _plain_init = Tensor._make, Tensor.__init__
        _open_blocks[0] += step
        # once inference tensors exist, their views made outside the mode are marked too
        on = _open_blocks[0] > 0 or bool(_inference_memory)
        Tensor._make = staticmethod(_make_marking if on else _plain_make)
        Tensor.__init__ = _init_marking if on else _plain_init
        sys.modules["ember.tensor"]._marking = on  # (its _plain: ops' fast results)
        _swap_views(_open_blocks[0] > 0)


_blocks_lock = threading.Lock()


def _refuse_inference_saved(args, saved) -> None:
    """A recorded op saved an inference tensor's array (torch: only what is saved counts: an
    inference tensor added to a graph tensor is fine, multiplied is not)."""
    ids = {id(a.data) for a in args if isinstance(a, Tensor) and getattr(a, "_inference", False)}
    if ids and any(id(s) in ids for s in saved if isinstance(s, np.ndarray)):
        raise RuntimeError(
            "Inference tensors cannot be saved for backward. Please do not use Tensors created "
            "in inference mode in computation tracked by autograd. To work around this, you can "
            "make a clone to get a normal tensor and use it in autograd, or use "
            "`torch.no_grad()` instead of `torch.inference_mode()`."
        )


def refuse_inference_write(t) -> None:
    """An in-place write into an inference tensor outside inference_mode (torch refuses it)."""
    # (not a detach()ed inference tensor, _inference "detached": torch lets it be written)
    if getattr(t, "_inference", False) is True and not _state.inference:
        raise RuntimeError(  # (torch's words, run together as torch's are)
            "Inplace update to inference tensor outside InferenceMode is not allowed.You can "
            "make a clone to get a normal tensor before doing inplace update.See "
            "https://github.com/pytorch/rfcs/pull/17 for more details."
        )


class set_multithreading_enabled:  # noqa: N801
    """Recorded only (torch's switch for running backward on several devices' threads;
    ember's backward runs in the calling thread). Sets the mode at once, as torch's, and
    restores the previous one when used as a context manager."""

    def __init__(self, mode: bool = True):
        self._prev = _multithreading[0]
        _multithreading[0] = bool(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _multithreading[0] = self._prev
        return False


_multithreading = [True]


def is_multithreading_enabled() -> bool:
    return _multithreading[0]


def is_inference_mode_enabled() -> bool:
    """Whether an ``inference_mode()`` block is open (torch.is_inference_mode_enabled)."""
    return _state.inference


class _Anomaly:
    enabled = False  # read by Function.apply (record the forward stack) and the engine
    check_nan = True
    node = None  # the node the engine runs, while anomaly mode is on


_anomaly = _Anomaly()


class detect_anomaly:  # noqa: N801
    """Anomaly detection, as torch's: each recorded op keeps the stack of its forward call;
    a backward pass that fails prints that stack (a warning) before the error, and with
    ``check_nan`` a node whose gradient holds a NaN raises, naming the node. Slow: for
    debugging. A context manager and a decorator."""

    def __init__(self, check_nan: bool = True):
        self._mode, self._check_nan = True, check_nan

    def __enter__(self):
        self._prev = (_anomaly.enabled, _anomaly.check_nan)
        if self._mode:
            import warnings

            warnings.warn(
                "Anomaly Detection has been enabled. This mode will increase the runtime and "
                "should only be enabled for debugging.",
                UserWarning,
                stacklevel=2,
            )
        _anomaly.enabled, _anomaly.check_nan = self._mode, self._check_nan
        return self

    def __exit__(self, *exc):
        _anomaly.enabled, _anomaly.check_nan = self._prev
        return False

    def __call__(self, fn):
        import functools

        mode, check_nan = self._mode, self._check_nan

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_detect_anomaly(mode, check_nan):
                return fn(*args, **kwargs)

        return wrapper


class set_detect_anomaly(detect_anomaly):  # noqa: N801
    """Switch anomaly detection on or off now (``set_detect_anomaly(True)``), or for a block."""

    def __init__(self, mode: bool, check_nan: bool = True):
        self._prev = (_anomaly.enabled, _anomaly.check_nan)
        self._mode, self._check_nan = bool(mode), check_nan
        _anomaly.enabled, _anomaly.check_nan = self._mode, check_nan

    def __enter__(self):
        return self

    def __call__(self, fn):
        _anomaly.enabled, _anomaly.check_nan = self._prev  # as a decorator: only inside fn
        return super().__call__(fn)


def is_anomaly_enabled() -> bool:
    return _anomaly.enabled


def is_anomaly_check_nan_enabled() -> bool:
    return _anomaly.check_nan


def Variable(data, requires_grad: bool = False, volatile: bool = False):  # noqa: N802
    """Pre-0.4 PyTorch's wrapper: a tensor sharing ``data``'s memory, with ``requires_grad``."""
    t = Tensor._make(data.data, False, None, 0)
    return t.requires_grad_() if requires_grad else t


class set_grad_enabled(_GradMode):  # noqa: N801
    """Set grad mode now (``ember.set_grad_enabled(False)``) or for a ``with`` block, as PyTorch."""

    def __init__(self, mode: bool):
        if type(mode) is not bool:  # torch's TypeError (not even 1 or a numpy bool)
            t = type(mode)
            name = t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__name__}"
            raise TypeError(
                f"set_grad_enabled(): argument 'enabled' (position 1) must be bool, not "
                f"{'Tensor' if isinstance(mode, Tensor) else name}"
            )
        self._prev = is_grad_enabled()
        self._mode = mode
        _set_enabled(self._mode)

    def __enter__(self):
        return self

    def __call__(self, fn):
        _set_enabled(self._prev)  # as a decorator it only applies inside fn
        mode = self._mode
        return _decorate(lambda: set_grad_enabled(mode), fn)


# In-place writes count here: writes into tensors of the graph (x.relu_(), x[i] = v,
# outputs[t] = h in a loop), and writes outside it (w.mul_(2) under no_grad, an optimiser's
# step, init, x.exp_() on a plain tensor that a node saved). Each node records the count it was
# made at (_epoch). A tensor written in the graph keeps the graph position it had before each
# write (_versions), so nodes that used it earlier still send their gradient there. Every
# write notes the array owner it wrote into, and backward refuses a node that holds an array
# of an owner written after the node was made (it may have saved the old values), as
# PyTorch's version counter does (views share their base's owner, as they share torch's
# counter). Zero until the first write, so the engine's checks cost nothing before.
_graph_writes = 0
_graph_moves = False  # whether note_graph_write ever ran (the engine's version_seen walks)
_regenerate = None  # ember._inplace.regenerate (set there: it builds on ops)
_moved_at = 0  # _graph_writes at the last write of a graph tensor's values (note_graph_write)
# Every write is noted, from import on (torch's _version counts from a tensor's creation:
# ember.zeros(3).add_(1)._version is 1).
# id(owner array) -> [weakref to it, the last write's count, how many writes (its _version)]
_written_owners: dict = {}


def shares_memory(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether a may view b's memory: NumPy's test, and for an empty a (x[1:] of one row,
    which NumPy says shares nothing) the same owner array (torch's x[1:] is still a view)."""
    return np.may_share_memory(a, b) or (not a.size and array_owner(a) is array_owner(b))


def array_owner(a):
    """The ndarray at the bottom of a's chain of views: the one its memory belongs to."""
    while a.base is not None:
        b = a.base
        if not isinstance(b, np.ndarray):
            # as_strided's view: its base is NumPy's DummyArray, whose base is the array
            b = getattr(b, "base", None)
            if not isinstance(b, np.ndarray):
                break
        a = b
    return a


def note_write(a, t=None) -> None:
    """Array a's memory was just written in place (an in-place method, an optimiser step,
    ``out=``), through the tensor t when known: nodes made before now that hold any view of
    it refuse to backward."""
    global _graph_writes, _multi_written
    if a.base is not None:
        a = array_owner(a)
    _graph_writes += 1
    if _multi_owners and id(a) in _multi_owners:  # (multi-output views on it: see multi_view)
        _multi_written = True
    counter = counter_of(t) if _swapped and t is not None else None
    if counter is not None:  # (t keeps the counter it had before ``t.data = other``)
        counter[1] = _graph_writes
        counter[2] += 1
    # (an entry is always its live owner's: the weakref's callback drops it as the owner dies)
    hit = _written_owners.get(id(a))
    if hit is not None:
        if hit is not counter:
            hit[1] = _graph_writes
            hit[2] += counter is None  # (the memory's own count: not through t's counter)
        return
    key = id(a)
    drop = lambda _, key=key: _written_owners.pop(key, None)  # noqa: E731
    _written_owners[key] = [weakref.ref(a, drop), _graph_writes, int(counter is None)]


# torch's version counter belongs to a tensor (shared with its views and detach()), ember's
# to the memory, the same in all but one case: ``t.data = other`` gives t other's memory and
# keeps t's counter (torch's set_data). Such a t holds its old memory's entry of
# _written_owners (``_vc``): its writes, and its views', count there (and still refuse the
# nodes that saved the old memory) and not in other's counter.
_swapped = False  # a ``t.data = other`` moved a tensor to another memory


def counter_of(t):
    """The entry of _written_owners that counts t's writes if t (or the tensor it views)
    took another's memory by ``.data =``, else None (its memory's own)."""
    root = t._base
    return getattr(t if root is None else root, "_vc", None)


def keep_counter(t, new) -> None:
    """``t.data = new`` (an array) is about to happen: t keeps its version counter."""
    global _swapped
    if getattr(t, "_data", None) is None:  # (a tensor being made: nothing to keep)
        return
    counter = counter_of(t) if _swapped else None  # (its own, or its base's)
    if counter is None:
        a = array_owner(t.data)
        if array_owner(new) is a:
            return
        counter = _written_owners.get(id(a))
        if counter is None:
            key = id(a)
            drop = lambda _, key=key: _written_owners.pop(key, None)  # noqa: E731
            counter = _written_owners[key] = [weakref.ref(a, drop), 0, 0]
    t._vc = counter
    _swapped = True


def keep_written_counter(t, new) -> None:
    """``t.data = new`` (a plain array): t keeps its version counter, as
    keep_counter, when t's memory or new's was written (two unwritten memories count the
    same from 0: ember's fresh outputs that take a relaid array pass here at no cost)."""
    if (
        _written_owners
        and getattr(t, "_data", None) is not None
        and (
            (_swapped and counter_of(t) is not None)
            or id(array_owner(new)) in _written_owners
            or id(array_owner(t.data)) in _written_owners
        )
    ):
        keep_counter(t, new)


def note_step(param_groups) -> None:
    """An optimiser's step wrote its parameters that have a gradient (the others it skips,
    as torch's) in place, by C++ kernels or NumPy: one note per parameter."""
    array = _ARRAY_SLOT.__get__  # (a Parameter's .data is a property: the slot is cheaper)
    for group in param_groups:
        for p in group["params"]:
            if p.grad is not None:
                note_write(array(p), p)


def version(a) -> int:
    """How many in-place writes array a's memory has taken since its creation (writes are
    counted from import on): Tensor._version."""
    a = array_owner(a)
    hit = _written_owners.get(id(a))
    return hit[2] if hit is not None and hit[0]() is a else 0


def note_graph_write(t, values: bool = True) -> None:
    """t is about to take a new place in the graph (and, with ``values``, new values in its
    array): remember where it was, for the nodes that used it before."""
    global _graph_moves, _moved_at, _graph_writes
    _graph_moves = True
    if values:
        note_write(t.data, t)
        _moved_at = _graph_writes
    else:
        _graph_writes += 1
    # (a leaf's version is dropped: nodes that used the tensor then have no edge to it)
    versions = [v for v in getattr(t, "_versions", None) or () if v[1] is not None]
    versions.append((_graph_writes, t._ctx, t._idx, t.data.shape, values))
    t._versions, t._written = versions, _graph_writes


def version_seen(t, epoch: int) -> tuple:
    """(node, output index, shape) that t was when a node made at ``epoch`` used it."""
    if getattr(t, "_written", 0) > epoch:
        for count, ctx, idx, shape, _ in t._versions:
            if count > epoch:
                return ctx, idx, shape
    return t._ctx, t._idx, t.data.shape


# How many saved_tensors_hooks blocks are open, in all threads (the hooks are per thread).
_saved_hooks_entered = 0


# The forward-AD level entered (ember.autograd.forward_ad.dual_level), None outside one: the
# one test Function.apply makes for forward mode.
_fw_level = None


# Each recorded node's creation count, negated (Function._order): the backward engine's heap
# runs the newest node first, a topological order.
_creation_order = itertools.count(0, -1)

_new = object.__new__  # (a node, an output Tensor: no __init__ to run)
# Function.apply's needs_input_grad / parents for one Tensor argument
_NEEDS_ONE, _NEEDS_NONE, _NO_PARENT = (True,), (False,), (None,)


def _split(args) -> tuple:
    """Function.apply's arguments: (forward's arguments, the Tensors' arrays in place of the
    Tensors; needs_input_grad; parents; whether any argument requires grad)."""
    raw = []
    needs = []
    parents = []
    any_grad = False
    for a in args:
        if type(a) is Tensor or isinstance(a, Tensor):  # (the identity test: most arguments)
            raw.append(a.data)
            if a._requires_grad:
                needs.append(True)
                parents.append(a)
                any_grad = True
                continue
        else:
            raw.append(a)
        needs.append(False)
        parents.append(None)
    return raw, tuple(needs), tuple(parents), any_grad


def _check_grad_count(ctx, out) -> None:
    """A custom backward may return trailing Nones past its inputs (torch allows them), not
    more gradients: those would be silently dropped."""
    n = len(ctx.needs_input_grad)
    if isinstance(out, tuple | list) and len(out) > n and any(o is not None for o in out[n:]):
        raise RuntimeError(
            f"function {_torch_name(ctx)} returned an incorrect number of gradients "
            f"(expected {n}, got {len(out)})"
        )
    tensor_args = ctx.__dict__.get("_tensor_args")
    if tensor_args is not None and isinstance(out, tuple | list):
        for i, (o, is_tensor) in enumerate(zip(out, tensor_args)):
            if o is not None and not is_tensor:  # (torch's words, its 1-based position)
                raise RuntimeError(
                    f"function {_torch_name(ctx)} returned a gradient different "
                    f"than None at position {i + 1}, but the corresponding forward input was "
                    "not a Variable"
                )


class Function:
    """Base class of every differentiable op; see the module docstring."""

    # parents: the forward arguments that are Tensors requiring grad (None elsewhere).
    # _n_out / _out_meta: how many outputs, and (shape, dtype) of each to make zero gradients
    # for outputs that received none.
    parents: tuple
    saved_tensors: tuple
    needs_input_grad: tuple
    _n_out = 1  # set per node only for tuple outputs
    _epoch = 0  # _graph_writes when the node was made
    # backward reads shapes alone (the view ops): as torch's nodes that save no tensors, such a
    # node is not freed after backward, so a view taken once (w[0] outside a training loop)
    # serves every later backward
    _reusable = False
    _order: int  # minus the node's creation count (see _creation_order)
    _tensor_hooks = None  # {output index: (weakref to the tensor, its _Hooks)}: engine.hooks_of
    _freed = False  # set once backward has run through the node (without retain_graph)
    _node_hooks = None  # the node's own register_prehook / register_hook hooks (a _Hooks)
    _materialize = True  # set_materialize_grads
    _fw_out = None  # forward AD: the outputs' tangents (autograd/forward_ad.py)
    _complex_native = False  # backward written for complex itself (see ember/_complex.py)
    # the node's output is its input's own array written in place (index assignment, a custom
    # Function's mark_dirty), or a piece autograd does not treat as a view (unsafe_split):
    # not a view of the input, for in-place writes (_inplace.view_root) and detach_()
    _not_view = False

    def __reduce_ex__(self, protocol):  # (torch's nodes can be neither pickled nor copied)
        raise TypeError(f"cannot pickle '{self.name()}' object")

    def save_for_backward(self, *arrays):
        if _saved_hooks_entered:  # (a global: cheaper than the thread-local test each op)
            hooks = _state.saved_hooks
            if hooks and self._records():
                pack, unpack = hooks[-1]
                arrays = _Packed(unpack, [_pack(pack, a) for a in arrays])
        self.saved_tensors = arrays

    def _records(self) -> bool:
        """Whether this node goes into the graph (so its saved values are packed)."""
        rec = self.__dict__.get("_recording")  # a user Function's forward runs under no_grad
        if rec is None:
            rec = _state.enabled and any(getattr(self, "needs_input_grad", ()))
        return rec

    def save_for_forward(self, *tensors):
        """Tensors a custom Function's ``jvp`` reads back as ``ctx.saved_tensors``."""
        self._fw_saved = tensors

    def mark_non_differentiable(self, *outputs):
        """Outputs that never carry a gradient, e.g. argmax indices (by position in ember's
        ops; the output Tensors themselves in a custom Function, as torch)."""
        self._non_diff = outputs

    def set_materialize_grads(self, value: bool) -> None:
        """False: backward receives None (not zeros) for outputs that got no gradient."""
        self._materialize = bool(value)

    def mark_dirty(self, *tensors) -> None:
        """A custom Function's forward modified these inputs in place (and returns them): the
        caller's tensor becomes the output, as torch."""
        self._dirty = tensors

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError

    @staticmethod
    def jvp(ctx, *grad_inputs):
        """A custom Function's forward-mode rule: the output tangent(s) from one tangent per
        forward input, as torch's (see ember.autograd.forward_ad)."""
        raise NotImplementedError

    @staticmethod
    def backward_graph(ctx, *grads):
        """``backward`` in Tensor ops, for create_graph=True: the gradients are Tensors, the
        result one Tensor (or None) per forward argument, computed with ember ops (under grad
        mode) so it records its own graph. The inputs are ``ctx.parents`` (those that require
        grad); see ember.autograd.graph for the helpers. Ops without one refuse double
        backward rather than give a wrong (constant) second derivative."""
        raise NotImplementedError(
            f"double backward through {ctx.name} is not supported (create_graph=True needs "
            f"the gradient of {ctx.name}'s backward, which ember does not define)"
        )

    # Subclasses written outside ember get PyTorch's contract: forward and backward see Tensors
    # (with no graph recorded inside), and forward may leave ctx to ``setup_context``.
    _tensor_api = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if (
            cls.__module__.partition(".")[0] == "ember"
            or "_forward_cls" in cls.__dict__
            or "_public" in cls.__dict__  # (public_node's subclasses of ember's nodes)
        ):
            return
        cls._tensor_api = True
        # the class of the user's nodes (ctx), as torch's: type(y.grad_fn).__name__ is
        # "<Class>Backward" and grad_fn._forward_cls the user's class
        cls._backward_cls = type(
            f"{cls.__name__}Backward",
            (cls,),
            {"_forward_cls": cls, "__module__": cls.__module__,
             "__qualname__": f"{cls.__qualname__}Backward"},
        )  # fmt: skip
        if "vjp" in cls.__dict__:  # torch's alias of backward
            if "backward" in cls.__dict__:
                raise TypeError(
                    f"{cls.__name__}: implementing both 'backward' and 'vjp' for a custom "
                    "Function is not allowed"
                )
            cls.backward = cls.__dict__["vjp"]
        if "backward" in cls.__dict__ or "vjp" in cls.__dict__:
            user_backward = cls.backward
            user_backward = getattr(user_backward, "__func__", user_backward)

            def backward(ctx, *grads):
                with no_grad():
                    out = user_backward(ctx, *(None if g is None else Tensor(g) for g in grads))
                _check_grad_count(ctx, out)
                if isinstance(out, tuple | list):
                    return tuple(o.data if isinstance(o, Tensor) else o for o in out)
                return out.data if isinstance(out, Tensor) else out

            cls.backward = staticmethod(backward)

            def backward_graph(ctx, *grads):
                if getattr(user_backward, "_once_differentiable", False):
                    return _once(ctx, grads)
                # as torch: the user's backward, recording, on the saved Tensors as they are in
                # the graph (forward saw detached copies of the inputs and made its outputs)
                saved = getattr(ctx, "saved_tensors", ())
                # (under saved_tensors_hooks, unpack's tensor stands for the one saved)
                ids = saved.ids() if isinstance(saved, _Packed) else map(id, saved)
                ctx.saved_tensors = tuple(_in_graph(ctx, s, i) for s, i in zip(saved, ids))
                try:
                    out = user_backward(ctx, *grads)
                finally:
                    ctx.saved_tensors = saved
                _check_grad_count(ctx, out)
                return out

            cls.backward_graph = staticmethod(backward_graph)
        if "apply" not in cls.__dict__:
            cls.apply = classmethod(_user_apply)
        if "__call__" not in cls.__dict__:
            cls.__call__ = _legacy_call

    @classmethod
    def _forward_tensors(cls, ctx, args, kwargs):
        inputs = tuple(
            Tensor._make(a.data, False, None, 0) if isinstance(a, Tensor) else a for a in args
        )
        ctx._recording = _state.enabled and any(ctx.needs_input_grad)
        with no_grad():
            if cls.setup_context is Function.setup_context:
                out = cls.forward(ctx, *inputs, **kwargs)
            else:  # PyTorch 2's style: forward(*args) then setup_context(ctx, inputs, output)
                out = cls.forward(*inputs, **kwargs)
                cls.setup_context(ctx, inputs, out)
        one = False
        if not isinstance(out, tuple | Tensor):
            # a list, None, a number: one object that torch returns as it is (a list's Tensors
            # made without recording); the one output of a tuple here, unwrapped by _user_apply
            ctx._plain_one = one = True
            out = (out,)
        outs = tuple(out) if isinstance(out, tuple | list) else (out,)
        if isinstance(out, tuple | list) and not all(isinstance(o, Tensor) for o in outs):
            # other objects among the outputs (torch returns them as they are): a stand-in in
            # the node's outputs, swapped back by _user_apply
            ctx._plain_outs = {i: o for i, o in enumerate(outs) if not isinstance(o, Tensor)}
            stand_in = Tensor._make(np.empty(0), False, None, 0)
            outs = out = tuple(o if isinstance(o, Tensor) else stand_in for o in outs)
            ctx._non_diff = (*(ctx.__dict__.get("_non_diff") or ()), stand_in)
        saved = ctx.__dict__.get("saved_tensors", ())
        if not isinstance(saved, _Packed):
            for i, s in enumerate(saved):
                if s is not None and not isinstance(s, Tensor):
                    raise TypeError(
                        "save_for_backward can only save variables, but argument "
                        f"{i} is of type {type(s).__name__}"
                    )
        # torch's ctx.mark_non_differentiable names outputs (ember's apply takes positions);
        # integer and bool outputs never carry a gradient either, as torch's
        non_diff = ctx.__dict__.get("_non_diff") or ()
        nd = tuple(
            i
            for i, o in enumerate(outs)
            if isinstance(o, Tensor)
            and (o.data.dtype.kind in "biu" or any(o is t for t in non_diff))
        )
        if nd or non_diff:
            ctx._non_diff = nd
        if (any(ctx.needs_input_grad) and _state.enabled) or "_dirty" in ctx.__dict__ or one:
            # a node (for backward_graph's _in_graph), or inputs marked dirty (_user_apply)
            seen = tuple((a, b) for a, b in zip(inputs, args) if isinstance(b, Tensor))
            ctx._made = (seen, outs)
            # (forward AD passes jvp a zero tangent for each Tensor input without one)
            ctx._tensor_args = tuple(isinstance(b, Tensor) for b in args)
        _state.user_ctx = ctx  # (for _user_apply, once forward's own Functions are done)
        if isinstance(out, tuple | list):
            return tuple(o.data if isinstance(o, Tensor) else o for o in out)
        return out.data if isinstance(out, Tensor) else out

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = _new(cls)
        # A plain Tensor first, then at most two arguments, Tensors or options (an op's dim, an
        # activation's name): most ops' calls. Their arrays, flags and parents as tuples
        # straight, without _split's lists (~0.3 us of each op).
        n = len(args)
        a = args[0] if n else None
        if type(a) is not Tensor or n > 3:
            raw, needs, parents, any_grad = _split(args)
        elif n == 1:
            raw = (a.data,)
            any_grad = a._requires_grad
            needs, parents = (_NEEDS_ONE, args) if any_grad else (_NEEDS_NONE, _NO_PARENT)
        elif n == 2:
            b = args[1]
            ra = a._requires_grad
            if type(b) is Tensor:
                rb = b._requires_grad
                raw = (a.data, b.data)
                needs = (ra, rb)
                parents = (a if ra else None, b if rb else None)
                any_grad = ra or rb
            elif isinstance(b, Tensor):  # (a Parameter)
                raw, needs, parents, any_grad = _split(args)
            else:
                raw = (a.data, b)
                needs = (ra, False)
                parents = (a if ra else None, None)
                any_grad = ra
        elif isinstance(args[1], Tensor) or isinstance(args[2], Tensor):
            raw, needs, parents, any_grad = _split(args)
        else:
            ra = a._requires_grad
            raw = (a.data, args[1], args[2])
            needs = (ra, False, False)
            parents = (a if ra else None, None, None)
            any_grad = ra
        record = any_grad and _state.enabled  # is_grad_enabled(), inlined
        if _fw_level is not None and any_grad and not record:  # (dual inputs under no_grad)
            out = _forward_ad._no_grad_apply(cls, parents, args, kwargs)
            if out is not None:
                return out
        ctx.needs_input_grad = needs
        if cls._tensor_api:
            out = cls._forward_tensors(ctx, args, kwargs)
        elif kwargs:
            out = cls.forward(ctx, *raw, **kwargs)
        else:  # (no empty dict to unpack: most ops)
            out = cls.forward(ctx, *raw)
        if not record:
            if any_grad:  # grad mode off on a tensor that requires grad: views still require it
                if isinstance(out, tuple):
                    return tuple(
                        no_grad_view(Tensor._make(o, False, None, 0), parents) for o in out
                    )
                return no_grad_view(Tensor._make(out, False, None, 0), parents)
            return _unrecorded(out, a)
        return _recorded(cls, ctx, args, parents, out)

    # ---- the node as PyTorch's graph objects show it (torch.autograd.graph.Node) -------------
    # ---- the node as PyTorch's graph objects show it (torch.autograd.graph.Node) -------------
    @property
    def name(self) -> str:
        """PyTorch's name for this node ("MulBackward0"; "<Class>Backward" for a user Function).
        A str that can also be called, as torch's ``grad_fn.name()``."""
        return _Name(_torch_name(self))

    @property
    def next_functions(self) -> tuple:
        """One ``(node, output_nr)`` per forward input up to the last that requires grad: the
        input's grad_fn, an AccumulateGrad for a leaf, ``(None, 0)`` for an input that needs
        no gradient (a constant, an option such as ``dim``)."""
        parents = getattr(self, "parents", ())
        flags = self.__dict__.get("_tensor_args")
        if flags is not None:  # a custom Function: torch's edge per Tensor argument, none else
            return tuple(_edge(p) for p, t in zip(parents, flags) if t)
        n = len(parents)
        while n and parents[n - 1] is None:
            n -= 1
        name = _torch_name(self)
        if name in _SCALAR_FIRST:  # torch's rsub(x, number) / pow(number, x): x's edge alone
            return tuple(_edge(p) for p in parents[:n] if p is not None)
        edges = _TORCH_EDGES.get(name)
        if edges is not None:  # torch's node has an edge, (None, 0) if need be, per tensor
            n = max(n, edges if type(edges) is int else edges(self))  # input (a number add,
            parents = (*parents, *(None,) * (n - len(parents)))  # mul, ... operand is one)
        return tuple(_edge(p) for p in parents[:n])

    @property
    def metadata(self) -> dict:
        """A dict for the user's own annotations, kept on the node (torch's Node.metadata)."""
        meta = self.__dict__.get("_metadata")
        if meta is None:
            meta = self._metadata = {}
        return meta

    def register_prehook(self, fn):
        """``fn(grad_outputs) -> None | new grad_outputs`` before this node's backward runs."""
        return self._add_hook("pre", fn)

    def register_hook(self, fn):
        """``fn(grad_inputs, grad_outputs) -> None | new grad_inputs`` after it ran."""
        return self._add_hook("post", fn)

    def _add_hook(self, kind: str, fn):
        from ember.autograd.engine import _Hooks, _node_post_hooks

        hooks = self._node_hooks
        if hooks is None:
            hooks = self._node_hooks = _Hooks()
            if self._tensor_hooks is None:
                self._tensor_hooks = {}  # the engine's one test for a node with (pre-)hooks
            # Post-hooks: this node's own backward runs them, so the engine's loop has no
            # test for them (the engine calls node.backward(node, ...): the instance's first).
            cls = type(self)

            def backward(ctx, *grads):
                return _node_post_hooks(ctx, cls.backward(ctx, *grads), grads, False)

            def backward_graph(ctx, *grads):
                return _node_post_hooks(ctx, cls.backward_graph(ctx, *grads), grads, True)

            self.backward, self.backward_graph = backward, backward_graph
        return hooks.add(kind, fn)

    def __repr__(self) -> str:
        return f"<{self.name.rpartition('::')[2]} object at {id(self):#x}>"


def _unrecorded(out, a):
    """Function.apply's results outside the graph (no input requires grad): plain Tensors,
    each view of the first argument linked to it (x[0], x.unfold, chunk's pieces)."""
    if isinstance(out, tuple):
        res = tuple(Tensor._make(o, False, None, 0) for o in out)
        for o in res:
            mark_view(o, a)
        return res
    res = Tensor._make(out, False, None, 0)
    if res.data.base is not None:  # (a view of the first argument: x[0], x.unfold)
        mark_view(res, a)
    return res


def _recorded(cls, ctx, args, parents, out):
    """Function.apply's node ctx, its forward run on ``args`` (``out``): into the graph, and
    its output Tensor(s). (_C.fast_apply makes the common one itself: see _install_fast_apply.)"""
    ctx.parents = parents
    if _inference_made:  # (a global tested per recorded op; the scan once one exists)
        _refuse_inference_saved(args, getattr(ctx, "saved_tensors", ()))
    if _graph_writes:  # (else the class default, 0)
        if _no_grad_views_made or _multi_written:
            for p in parents:
                if p is not None:
                    rebased_no_grad_view(p)
        if _moved_at:  # a view whose base was written in the graph since: rebuilt
            for p in parents:
                if (
                    p is not None
                    and p._ctx is not None
                    and p._ctx._epoch < _moved_at
                    and p.data.base is not None
                ):
                    _regenerate(p)
        ctx._epoch = _graph_writes
    if _anomaly.enabled:  # (detect_anomaly: where the op was called, for backward's errors)
        import traceback

        ctx._fw_stack = traceback.format_stack()[:-3]  # (less apply's and this frame)
    ctx._order = next(_creation_order)
    chained = chained_mark(parents, out) if _no_grad_views_made else None
    if type(out) is np.ndarray:  # one array, most ops: Tensor._make inlined
        res = _new(Tensor)
        # (the slot itself: ``.data =`` is the checked set_data, whose checks a fresh
        # output needs none of: ~0.3 us of every recorded op)
        res._data, res._grad, res._requires_grad, res._ctx, res._idx = out, None, True, ctx, 0
        if chained is not None:
            res._chained_view = chained
        if out.dtype.kind != "c":
            if _fw_level is not None:
                _forward_ad._propagate(ctx, res)
            return res
        first = res
    elif isinstance(out, tuple):
        ctx._n_out = len(out)
        non_diff = getattr(ctx, "_non_diff", ())
        meta, res = [], []
        for i, o in enumerate(out):  # (a loop: ~1 us of a chunk(4) in genexprs)
            diff = i not in non_diff
            if type(o) is np.ndarray:  # (Tensor._make inlined, as above: ~0.15 us a piece)
                meta.append((o.shape, o.dtype))
                t = _new(Tensor)
                t._data, t._grad, t._requires_grad = o, None, diff
                t._ctx, t._idx = ctx if diff else None, i
                res.append(t)
                continue
            meta.append((np.shape(o), np.result_type(o)))
            res.append(Tensor._make(o, diff, ctx if diff else None, i))
        ctx._out_meta, res = tuple(meta), tuple(res)
        first = res[0] if res else None
    else:
        first = res = Tensor._make(out, True, ctx, 0)
    if chained is not None and type(out) is not np.ndarray:  # (split, unbind: each a view)
        for t in res if isinstance(res, tuple) else (res,):
            t._chained_view = chained
    # a complex output: torch's conjugate gradient convention (ember/_complex.py)
    if first is not None and first.data.dtype.kind == "c" and not cls._complex_native:
        if not cls._tensor_api:
            _complex.conj_grads(ctx, cls)
    if _fw_level is not None:  # forward-mode AD: tangents in, a tangent out
        _forward_ad._propagate(ctx, res)
    return res


def _install_fast_apply() -> None:
    """Function.apply's common case in C (bind_fast.cpp's fast_apply: ~1.2 us of Python per
    recorded op); the classmethod above is its path for everything else. Installed here, before
    tensor.py and ops.py bind ``node.apply`` methods at import."""
    from ember import _C  # (the module alone: tensor.py installs the methods fast_apply reads)

    global _python_apply
    _python_apply = Function.__dict__["apply"]
    slow = _python_apply.__func__
    # what the C path reads, named here: the objects, and the mode globals it reads by name
    # each call (rebound by the modes) with their values when no rare mode is on; it checks
    # each is a global of that value now, so a rename fails at import, not silently
    common = {"_fw_level": None, "_inference_made": False, "_graph_writes": 0}
    common["_no_grad_views_made"] = False
    Function.apply = classmethod(
        _C.make_fast_apply(
            slow, _recorded, _unrecorded, globals(), common,
            _new, _state, _anomaly, _creation_order,
        )
    )  # fmt: skip


_install_fast_apply()


class _Name(str):
    """A node's name: a str (error messages format it) that may be called as torch's name()."""

    __slots__ = ()

    def __call__(self) -> str:
        return str(self)


def _sum_name(op):
    def name(ctx):
        shape, axes, keepdim = ctx.meta
        return f"{op}Backward{int(keepdim or len(axes) != len(shape))}"

    return name


# PyTorch's node names where ember's class name is not already torch's op name (the rest are
# "<Class>Backward0": AddBackward0, MulBackward0, ExpBackward0, ...).
def _getitem_name(node) -> str:
    """torch's node for a basic index: the last view its indexing applied (an int's select, a
    slice's, a None's unsqueeze; in a tuple a slice over a whole dim applies none), else an
    alias; an advanced index's IndexBackward0."""
    shape, _, index, advanced = node.meta
    if advanced or type(index) is bool:
        return "IndexBackward0"
    if type(index) is not tuple:  # (a single slice is applied even when it is whole)
        index = (index, True)
    parts = [p for p in index if p is not True]
    if any(type(p) is bool for p in parts):
        return "IndexBackward0"
    last, dim = "AliasBackward0", 0
    for i, p in enumerate(parts):
        if p is Ellipsis:
            dim = len(shape) - sum(1 for q in parts[i + 1 :] if q is not None and q is not Ellipsis)
        elif p is None:
            last = "UnsqueezeBackward0"
        elif type(p) is slice:
            # (torch skips a slice from 0 (as written: not -n) with step 1 to the end or past)
            if index[-1] is True or not (
                p.start in (None, 0)
                and p.step in (None, 1)
                and (p.stop is None or p.stop >= shape[dim])
            ):
                last = "SliceBackward0"
            dim += 1
        else:
            last, dim = "SelectBackward0", dim + 1
    return last


def _elementwise_name(node) -> str:
    """torch's node for an Elementwise op: its name (by derivative), as torch spells it."""
    from ember import ops

    df = node.df
    name = ops._DF_NAME.get(df) or df.__qualname__.partition(".<locals>")[0]
    if df is ops._nan_to_num_grad:
        name = "nan_to_num"
    name = _ELEMENTWISE_SPELLING.get(name) or "".join(p.capitalize() for p in name.split("_"))
    return name + "Backward0"


def _matmul_name(node) -> str:
    """torch's node for a matmul: dot, mv or mm by the operands' dims; a batched matmul is
    folded into one and viewed back (UnsafeViewBackward0)."""
    dims = node.dims
    if max(dims) > 2:
        return "UnsafeViewBackward0"
    return {(1, 1): "DotBackward0", (2, 1): "MvBackward0"}.get(dims, "MmBackward0")


_ELEMENTWISE_SPELLING = {"log1p": "Log1P", "square": "Pow", "deg2rad": "Deg2Rad",
                         "rad2deg": "Rad2Deg", "i1": "SpecialI1"}  # fmt: skip
_ACTIVATION_SPELLING = {"logsigmoid": "LogSigmoid"}
_POINTWISE_NAMES = {"selu": "EluBackward0", "celu": "CeluBackward0", "softsign": "DivBackward0",
                    "threshold": "ThresholdBackward0", "softshrink": "SoftshrinkBackward0",
                    "hardshrink": "HardshrinkBackward0"}  # fmt: skip
_REGRESSION_NAMES = {"mse": "MseLossBackward0", "smooth_l1": "SmoothL1LossBackward0",
                     "huber": "HuberLossBackward0"}  # fmt: skip
_L1_NAMES = {"mean": "MeanBackward0", "sum": "SumBackward0", "none": "AbsBackward0"}


_NAMES = {
    "Linear": lambda c: (
        ("MmBackward0", "AddmmBackward0")
        if len(c.lead) < 2
        else ("UnsafeViewBackward0", "ViewBackward0")
    )[bool(c.has_bias)],
    "Elementwise": _elementwise_name,
    "Pointwise": lambda c: _POINTWISE_NAMES[c.df.op],
    "MatMul": _matmul_name,
    "ReduceExtreme": lambda c: c.kind,
    "ExtremeDim": lambda c: "MaxBackward0" if c.use_max else "MinBackward0",
    "AMax": lambda c: "AmaxBackward0" if c.use_max else "AminBackward0",
    "CumProd": "CumprodBackward0",
    "LogCumSumExp": "LogcumsumexpBackward0",
    "Var": lambda c: "StdBackward0" if c.meta[4] else "VarBackward0",
    "Norm2": "LinalgVectorNormBackward0",
    "RegressionLoss": lambda c: _REGRESSION_NAMES.get(c.meta[0]) or _L1_NAMES[c.meta[2]],
    "BCEWithLogitsLoss": "BinaryCrossEntropyWithLogitsBackward0",
    "GroupNorm": "NativeGroupNormBackward0",
    "GLU": "GluBackward0",
    "PReLU": "PreluKernelBackward0",
    "ConstantPad": "ConstantPadNdBackward0",
    "Activation": lambda c: (
        (_ACTIVATION_SPELLING.get(c.act) or "".join(p.capitalize() for p in c.act.split("_")))
        + "Backward0"
    ),
    "Softmax": lambda c: "LogSoftmaxBackward0" if c.log else "SoftmaxBackward0",
    "Sum": _sum_name("Sum"),
    "SumLowp": _sum_name("Sum"),
    "Mean": _sum_name("Mean"),
    "Pow": lambda c: "PowBackward0" if c.scalar else "PowBackward1",
    "Square": "PowBackward0",
    "_OuterMul": "MulBackward0",  # (ember.outer's recorded node: Mul's, its values by _C.outer)
    "Clamp": "ClampBackward1",
    "Reshape": "ViewBackward0",
    "_Normalize2": "DivBackward0",  # (F.normalize: torch's last op, the division)
    "CopySlices": "torch::autograd::CopySlices",
    "OverlapCopySlices": "torch::autograd::CopySlices",
    "AsStridedGather": "AsStridedBackward0",
    "Squeeze": "SqueezeBackward0",
    "SqueezeDim": "SqueezeBackward1",
    "SqueezeDims": "SqueezeBackward2",
    "Cast": "ToCopyBackward0",
    "GetItem": _getitem_name,
    "Join": lambda c: "StackBackward0" if c.meta[2] else "CatBackward0",
    "Conv2d": "ConvolutionBackward0",
    "MaxPool2d": "MaxPool2DWithIndicesBackward0",
    "AvgPool2d": "AvgPool2DBackward0",
    "BatchNorm": "NativeBatchNormBackward0",
    "LayerNorm": "NativeLayerNormBackward0",
    "MSELoss": "MseLossBackward0",
    "NLLLoss": "NllLossBackward0",
    "LogSumExp": "LogsumexpBackward0",
    "CumSum": "CumsumBackward0",
}


def named(t, name: str):
    """t (a result), its node named ``name`` as torch names it (an op ember composes from
    another node, e.g. masked_fill from where): the name is all that changes."""
    if t._ctx is not None:
        t._ctx._named = name
    return t


# torch's edge count for nodes whose first inputs are ember's node's first (the tensor
# operands; options such as dim after them): next_functions lists each of those
_TORCH_EDGES = dict.fromkeys(
    (
        "AddBackward0", "SubBackward0", "MulBackward0", "DivBackward0", "PowBackward1",
        "MaximumBackward0", "MinimumBackward0", "Atan2Backward0", "CopysignBackward0",
        "FmodBackward1", "RemainderBackward1", "HypotBackward0", "WhereBackward0",
        "MmBackward0", "MseLossBackward0", "MaskedFillBackward1", "IndexCopyBackward0",
        "IndexPutBackward0", "IndexAddBackward0", "ScatterAddBackward0", "LerpBackward0",
    ),
    2,
)  # fmt: skip
_TORCH_EDGES.update(
    LerpBackward1=3,
    AddcmulBackward0=3,
    AddcdivBackward0=3,
    ClampBackward0=3,
    CatBackward0=lambda c: len(c.meta[1]),
    BlockDiagBackward0=lambda c: len(c.meta),
)
_TORCH_EDGES.update(dict.fromkeys(("AddmmBackward0", "AddmvBackward0", "AddrBackward0",
                                   "BaddbmmBackward0", "AddbmmBackward0"), 3))  # fmt: skip
_TORCH_EDGES["StackBackward0"] = _TORCH_EDGES["CatBackward0"]
# nodes of a number and a tensor that ember records as (number, tensor): torch's one edge
_SCALAR_FIRST = frozenset(("RsubBackward1", "PowBackward2"))


def _torch_name(node) -> str:
    own = node.__dict__.get("_named")
    if own is not None:
        return own
    cls = type(node)
    if "_public" in cls.__dict__:  # (public_node's class: its name is torch's)
        return cls._public
    if cls._tensor_api:  # a user's Function, as torch names its node (its _backward_cls)
        return cls.__name__ if "_forward_cls" in cls.__dict__ else f"{cls.__name__}Backward"
    rule = _NAMES.get(cls.__name__)
    if rule is None:
        return cls.__name__.strip("_").removesuffix("Fn") + "Backward0"
    if not callable(rule):
        return rule
    try:
        return rule(node)
    except AttributeError:  # a node whose forward has not run (yet)
        return cls.__name__ + "Backward0"


_public_classes = {}  # (ember's node class, torch's name) -> the class public_node gives


def public_node(node):
    """``node`` as the user sees it (grad_fn, next_functions): a built-in node's class becomes,
    on this first sight, a subclass of its own named as torch's node class, so that
    ``type(y.grad_fn).__name__`` is "AddBackward0" as torch's. Done here rather than when the
    node is made: creating nodes costs nothing more."""
    cls = type(node)
    if cls._tensor_api or "_public" in cls.__dict__:
        return node
    name = _torch_name(node)
    sub = _public_classes.get((cls, name))
    if sub is None:
        short = name.rpartition("::")[2]  # (torch's class CopySlices, named ...::CopySlices)
        sub = _public_classes[cls, name] = type(
            short, (cls,), {"_public": name, "__module__": "builtins", "__qualname__": short}
        )
    node.__class__ = sub
    return node


class AccumulateGrad:
    """The node a leaf's gradient flows into (torch's AccumulateGrad): ``variable`` is the
    leaf. One per leaf, as long as the leaf lives, so graph walkers that key nodes by ``id``
    see a leaf used twice once (and two leaves never share an id)."""

    next_functions = ()

    def __init__(self, variable):
        key = id(variable)
        self._ref = weakref.ref(variable, lambda _: _accumulators.pop(key, None))
        self.metadata = {}

    @property
    def variable(self):
        return self._ref()

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"

    def register_prehook(self, fn):
        """``fn((grad,)) -> None | (new_grad,)`` before the gradient is accumulated."""

        def hook(g):
            out = fn((g,))
            return None if out is None else out[0]

        return self.variable.register_hook(hook)

    def register_hook(self, fn):
        raise NotImplementedError(
            "AccumulateGrad.register_hook: use the leaf's register_post_accumulate_grad_hook"
        )

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {id(self):#x}>"


_accumulators = {}  # id(leaf) -> its AccumulateGrad, dropped when the leaf dies


def _edge(t):
    if t is None:
        return (None, 0)
    if t._ctx is not None:
        return (public_node(t._ctx), t._idx)
    node = _accumulators.get(id(t))
    if node is None:
        node = _accumulators[id(t)] = AccumulateGrad(t)
    return (node, 0)


# ---- custom Functions' extras (PyTorch's contract) ---------------------------------------------


def _legacy_call(self, *args, **kwargs):
    """Calling a custom Function's instance: torch's refusal of the legacy (pre-1.3) style."""
    raise RuntimeError(
        "Legacy autograd function with non-static forward method is deprecated. Please use "
        "new-style autograd function with static forward method. (Example: "
        "https://pytorch.org/docs/stable/autograd.html#torch.autograd.Function)"
    )


def _bind_by_position(cls, args: tuple, kwargs: dict) -> tuple:
    """apply()'s keyword arguments placed at forward's positions, as torch's apply: with
    setup_context, forward's defaults fill the rest (inspect's bind); without, the keywords
    must fill the positions after ``args`` up to the last given one (torch's C++ apply)."""
    import inspect

    params = list(inspect.signature(cls.forward).parameters.values())
    new_style = cls.setup_context is not Function.setup_context
    if not new_style:
        params = params[1:]  # (ctx)
    names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    for k in kwargs:
        if k not in names:
            raise TypeError(f"forward() got an unexpected keyword argument '{k}'")
        if names.index(k) < len(args):
            raise TypeError(f"forward() got multiple values for argument '{k}'")
    if new_style:
        bound = inspect.Signature(params).bind(*args, **kwargs)
        bound.apply_defaults()
        return bound.args
    last = max(names.index(k) for k in kwargs)
    for i in range(len(args), last + 1):
        if names[i] not in kwargs:
            raise TypeError(f"forward() missing required argument: '{names[i]}' (position {i})")
    return (*args, *(kwargs[n] for n in names[len(args) : last + 1]))


def _user_apply(cls, *args, **kwargs):
    """A custom Function's apply: Function.apply, then torch's treatment of a single output
    marked non-differentiable and of inputs marked dirty (modified in place)."""
    _state.user_ctx = None  # (set by _forward_tensors: forward AD's own path may skip it)
    if kwargs:  # as torch: bound to forward's positions, so a Tensor given by name is an input
        args, kwargs = _bind_by_position(cls, args, kwargs), {}
    res = Function.apply.__func__(cls.__dict__.get("_backward_cls", cls), *args, **kwargs)
    ctx, _state.user_ctx = _state.user_ctx, None
    if ctx is None:  # (forward AD's own path)
        return res
    plain = ctx.__dict__.get("_plain_outs")
    if plain:  # the outputs that are not Tensors, as forward returned them
        res = tuple(plain.get(i, o) for i, o in enumerate(res))
    outs = res if isinstance(res, tuple) else (res,)
    dirty = ctx.__dict__.get("_dirty")
    made = ctx.__dict__.get("_made")
    if dirty and made is not None and not all(any(d is o for o in made[1]) for d in dirty):
        raise RuntimeError(
            "Some elements marked as dirty during the forward method were not returned as "
            "output. The inputs that are modified inplace must all be outputs of the Function."
        )
    if ctx.__dict__.get("_plain_one"):
        one = res[0]
        if type(one) is list and made is not None:  # forward's inputs: the caller's Tensors
            one = [next((b for a, b in made[0] if o is a), o) for o in one]
        return one
    if not any(isinstance(o, Tensor) and o._ctx is ctx for o in outs):  # nothing recorded
        if dirty and "_made" in ctx.__dict__:  # the dirty inputs themselves, as torch
            outs = list(outs)
            for i, o in enumerate(ctx._made[1]):
                for a, b in ctx._made[0]:
                    if o is a and any(o is d for d in dirty):
                        if not b._requires_grad:  # (one that does: a new tensor, as torch's)
                            outs[i] = b
                        note_write(b.data, b)  # (torch bumps a dirty input's version)
            return tuple(outs) if isinstance(res, tuple) else outs[0]
        return res
    if not isinstance(res, tuple) and ctx.__dict__.get("_non_diff"):
        return Tensor._make(res.data, False, None, 0)
    if not dirty:
        _custom_views(ctx, outs)
        return res
    seen, made = ctx._made
    outs = list(outs)
    parents = list(ctx.parents)
    for i, o in enumerate(made):
        for a, b in seen:
            if o is a and any(o is d for d in dirty):
                if b._ctx is None and b._requires_grad:
                    raise RuntimeError(
                        f"{cls.__name__}: a leaf Variable that requires grad is being used in "
                        "an in-place operation (mark_dirty)"
                    )
                root, chain = _dirty_root(b)
                # the node's input is b as it was; b itself becomes the node's output
                j = [m for m, p in enumerate(parents) if p is b]
                old = Tensor._make(b.data, b._requires_grad, b._ctx, b._idx)
                for m in j:
                    parents[m] = old
                note_graph_write(b)  # earlier nodes that saved b's old values refuse backward
                b._ctx, b._idx, b._requires_grad = ctx, i, True
                _engine_hooks_moved(b)
                if root is not None:
                    _dirty_view_write(b, root, chain)
                outs[i] = b
    ctx.parents = tuple(parents)
    ctx._epoch = _graph_writes
    ctx._not_view = True  # (its outputs are the dirty inputs themselves, not views of them)
    return tuple(outs) if isinstance(res, tuple) else outs[0]


def _dirty_root(b):
    """(the graph tensor whose memory the dirty input b views, the views between) or (None,
    ()); a view of a leaf that requires grad is refused (view_root, torch's words)."""
    from ember import _inplace

    return (None, ()) if b._ctx is None else _inplace.view_root(b)


def _dirty_view_write(b, root, chain) -> None:
    """b, a view of the graph tensor root, was modified in place by a custom Function whose
    node now gives b's new values: root takes a CopySlices node (its other elements from its
    old node, b's from the Function's), and b and the views between read back from it
    (torch's AsStridedBackward0), as torch's mark_dirty on a view."""
    from ember import _inplace, ops

    flat = _inplace.positions(b.data, root.data)
    new_b = Tensor._make(b.data.copy(), True, b._ctx, b._idx)
    old = Tensor._make(root.data.copy(), root._requires_grad, root._ctx, root._idx)
    with enable_grad():
        buf = old.reshape(-1).clone()
        buf[flat] = new_b  # (flat: b's shape)
        new = ops.CopySlices.apply(buf, root.shape)
    # (forward's write into root's memory was noted: this is root's move in the graph only,
    # so the Function's input, b as it was, is not taken for a view read after the write)
    note_graph_write(root, values=False)
    root._ctx, root._idx, root._requires_grad = new._ctx, new._idx, True
    _engine_hooks_moved(root)
    for t in (b, *chain):
        _inplace._regather(t, root)


def _engine_hooks_moved(t) -> None:
    from ember.autograd.engine import hooks_moved

    hooks_moved(t)


def _custom_views(ctx, outs) -> None:
    """A custom Function's recorded outputs that view an input (or are one returned as-is):
    torch refuses in-place writes into them (its backward would be overridden), and their use
    once their memory was written (multi_view's _CUSTOM marks)."""
    arrays = [p.data for p in ctx.parents if p is not None]
    views = tuple(
        o
        for o in outs
        if isinstance(o, Tensor)
        and o._ctx is ctx
        and any(np.may_share_memory(o.data, a) for a in arrays)
    )
    if views:
        multi_view(views, _CUSTOM)


def once_differentiable(fn):
    """Decorate a custom Function's backward that is not itself differentiable: it runs
    without recording, and differentiating its result again raises, as torch."""
    import functools

    @functools.wraps(fn)
    def wrapper(ctx, *grads):
        with no_grad():
            return fn(ctx, *grads)

    wrapper._once_differentiable = True
    return wrapper


class _DelayedError(Function):
    """Stands for a once_differentiable backward in the recorded graph (or a built-in op's
    backward that torch does not differentiate, naming it, hung from that backward's
    ``inputs`` so that differentiating back to them reaches this node): its gradient raises."""

    @staticmethod
    def forward(ctx, r, op=None, *inputs):
        ctx.op = op
        return r

    @staticmethod
    def backward(ctx, g):
        if ctx.op is not None:
            raise NotImplementedError(f"derivative for {ctx.op}'s backward is not implemented")
        raise RuntimeError(
            "trying to differentiate twice a function that was marked with @once_differentiable"
        )

    backward_graph = backward


def _once(ctx, grads) -> tuple:
    """backward_graph of a once_differentiable backward: its values, behind a node that
    refuses to be differentiated when a gradient it was given requires grad."""
    out = type(ctx).backward(ctx, *(None if g is None else g.data for g in grads))
    out = out if isinstance(out, tuple) else (out,)
    if not any(g is not None and g.requires_grad for g in grads):  # torch's rule
        return tuple(None if r is None else Tensor(r) for r in out)
    # as torch: each result hangs from the error node by a detached alias that requires grad
    return tuple(
        None if r is None else _DelayedError.apply(Tensor._make(np.asarray(r), True, None, 0))
        for r in out
    )


# ---- saved-tensor hooks (ember.autograd.graph.saved_tensors_hooks) ------------------------------
# What save_for_backward keeps while hooks are active: each Tensor or array went through pack,
# and unpack runs each time backward reads it (iterating or indexing ctx.saved_tensors).


def _pack(pack, a):
    if isinstance(a, Tensor):
        return (True, pack(a), id(a))
    if isinstance(a, np.ndarray):  # an ember op's array: the hook sees a Tensor of it
        return (False, pack(Tensor._make(a, False, None, 0)), None)
    return None, a, None  # None, a shape, a number: kept as given, as torch keeps non-tensors


def _unpack(unpack, item):
    kind, packed, _ = item
    if kind is None:
        return packed
    t = unpack(packed)
    if not isinstance(t, Tensor):
        raise TypeError(
            f"saved_tensors_hooks: unpack_hook must return a Tensor, got {type(t).__name__}"
        )
    return t if kind else t.data


class _Packed:
    """ctx.saved_tensors under saved_tensors_hooks: a sequence that unpacks on each read."""

    __slots__ = ("unpack", "items")

    def __init__(self, unpack, items):
        self.unpack, self.items = unpack, items

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        return (_unpack(self.unpack, it) for it in self.items)

    def ids(self) -> list:
        """The ids of the Tensors saved (a custom Function's double backward maps them)."""
        return [it[2] for it in self.items]

    def __getitem__(self, i):
        if isinstance(i, slice):
            return tuple(_unpack(self.unpack, it) for it in self.items[i])
        return _unpack(self.unpack, self.items[i])


def _in_graph(ctx, t, ident: int):
    """A user Function's saved Tensor ``t`` (saved as the object with id ``ident``) as it is
    in the graph: forward's detached copy of an input is the input itself, forward's output
    is the node's output."""
    seen, outs = ctx._made
    for a, b in seen:
        if id(a) == ident:
            return b
    for i, o in enumerate(outs):
        if id(o) == ident:
            return Tensor._make(t.data, True, ctx, i)
    return t


from ember.autograd import forward_ad as _forward_ad  # noqa: E402
from ember.tensor import Tensor  # noqa: E402  (circular: Tensor ops are Functions)

_ARRAY_SLOT = Tensor.__dict__["_data"]  # the slot a Tensor keeps its array in

# isort: split
from ember import _complex  # noqa: E402  (after Tensor: it defines Functions)
