"""Function.apply's shortcuts for its common argument patterns (one or two leading plain
Tensors, options after them) against its general path, with torch's autograd.Function as the
reference: needs_input_grad, the recorded edges and the gradients must not depend on which
path an argument pattern takes."""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


def _probe(lib):
    class Probe(lib.autograd.Function):
        """Sums its Tensor arguments (times 2, 3, ... by position); numbers pass through."""

        @staticmethod
        def forward(ctx, *args):
            ctx.seen = tuple(ctx.needs_input_grad)
            ctx.kinds = tuple(isinstance(a, lib.Tensor) for a in args)
            out = None
            for i, a in enumerate(args):
                if isinstance(a, lib.Tensor):
                    out = a * (i + 2) if out is None else out + a * (i + 2)
            return out

        @staticmethod
        def backward(ctx, g):
            return tuple(
                g * (i + 2) if k and n else None
                for i, (k, n) in enumerate(zip(ctx.kinds, ctx.needs_input_grad))
            )

    return Probe


# each argument: "g" a plain tensor requiring grad, "c" a plain constant tensor, "p" a
# Parameter, or a Python value passed through
PATTERNS = [
    ("g",),
    ("g", "c"),
    ("c", "g"),
    ("g", "g"),
    ("g", 2.0),
    ("g", 3),
    ("g", "p"),
    ("p", "g"),
    ("g", "tanh", 1.5),
    ("g", 1.0, "g"),
    ("g", "c", "g"),
    ("g", "p", None),
    ("c", 2.0, "g"),
    ("g", "c", "g", "p"),
    (2.0, "g"),
]


def _args(lib, pattern, values):
    out = []
    for k, v in zip(pattern, values):
        if k == "g":
            out.append(lib.tensor(v, requires_grad=True))
        elif k == "c":
            out.append(lib.tensor(v))
        elif k == "p":
            out.append(lib.nn.Parameter(lib.tensor(v)))
        else:
            out.append(k)
    return out


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda p: "-".join(map(str, p)))
def test_apply_patterns_match_torch(pattern):
    rng = np.random.default_rng(len(pattern))
    values = [rng.standard_normal(5) for _ in pattern]
    got, want = _args(ember, pattern, values), _args(torch, pattern, values)
    y = _probe(ember).apply(*got)
    yt = _probe(torch).apply(*want)
    assert y.requires_grad and yt.requires_grad
    assert y.grad_fn.seen == yt.grad_fn.seen
    # one edge per Tensor argument, (None, 0) for one not requiring grad, as torch's
    assert [n is not None for n, _ in y.grad_fn.next_functions] == [
        n is not None for n, _ in yt.grad_fn.next_functions
    ]
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-12)
    gy = rng.standard_normal(5)
    y.backward(ember.tensor(gy))
    yt.backward(torch.tensor(gy))
    for a, b in zip(got, want):
        if isinstance(b, torch.Tensor):
            assert (a.grad is None) == (b.grad is None)
            if b.grad is not None:
                np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize(
    "op",
    [
        lambda x, w: (x * w + x).tanh() - 0.5,  # Tensor-Tensor, Tensor-number, activation
        lambda x, w: (x @ w.reshape(5, 1)).sum(0) * x,  # matmul, reduction's options
        lambda x, w: x.clamp(-0.3, 0.4) * w.sigmoid(),  # three arguments, two options
    ],
)
def test_op_chain_grads_match_torch(op):
    rng = np.random.default_rng(3)
    xv, wv = rng.standard_normal(5), rng.standard_normal(5)
    x, w = ember.tensor(xv, requires_grad=True), ember.tensor(wv, requires_grad=True)
    xt, wt = torch.tensor(xv, requires_grad=True), torch.tensor(wv, requires_grad=True)
    y, yt = op(x, w), op(xt, wt)
    assert y.grad_fn.name() == yt.grad_fn.name()
    y.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(w.grad.numpy(), wt.grad.numpy(), rtol=1e-10)


def test_complex_output_of_the_one_array_path_keeps_conjugate_gradients():
    v = np.array([0.3 + 1.2j, -0.7 + 0.1j])
    z, zt = ember.tensor(v, requires_grad=True), torch.tensor(v, requires_grad=True)
    (z.exp() * z).abs().sum().backward()
    (zt.exp() * zt).abs().sum().backward()
    np.testing.assert_allclose(z.grad.numpy(), zt.grad.numpy(), rtol=1e-10)


def test_node_made_after_a_write_runs_and_one_made_before_refuses():
    # nodes take the write count when they are made (the class default 0 only before any
    # write): the node after the write is valid, the one before it refuses
    w = ember.tensor([1.0, 2.0], requires_grad=True)
    a = w.clone()
    before = a.sin()  # (saves its input)
    a.mul_(2.0)
    after = a.sin()
    after.sum().backward(retain_graph=True)
    np.testing.assert_allclose(w.grad.numpy(), 2 * np.cos([2.0, 4.0]))
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        before.sum().backward()


def test_forward_ad_through_the_shortcuts():
    import ember.autograd.forward_ad as fwad

    x = np.array([0.2, -0.5, 1.1])
    with fwad.dual_level():
        d = fwad.make_dual(ember.tensor(x), ember.tensor(np.ones(3)))
        out = fwad.unpack_dual((d * 2.0 + d).tanh()).tangent
    np.testing.assert_allclose(out.numpy(), 3 / np.cosh(3 * x) ** 2, rtol=1e-12)
