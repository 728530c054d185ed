"""ember.utils.checkpoint: outputs and gradients equal the plain run's (inputs, parameters,
dropout replayed from the saved random state), the forward keeps no graph, gradcheck through
it, multi-output and keyword functions, checkpoint_sequential, and bad input."""

import numpy as np
import pytest

import ember
from ember import nn
from ember.autograd import gradcheck
from ember.utils.checkpoint import checkpoint, checkpoint_sequential


def _model():
    ember.manual_seed(0)
    return nn.Sequential(
        nn.Linear(4, 8), nn.Tanh(), nn.Dropout(0.3), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2)
    )


def _grads(model, x):
    return [p.grad.numpy().copy() for p in model.parameters()] + [x.grad.numpy().copy()]


@pytest.mark.parametrize(
    "wrap",
    [
        lambda m, x: checkpoint(m, x, use_reentrant=False),
        lambda m, x: checkpoint(m, x, use_reentrant=True),
        lambda m, x: checkpoint_sequential(m, 1, x),
        lambda m, x: checkpoint_sequential(m, 3, x, use_reentrant=False),
        lambda m, x: checkpoint_sequential(m, 6, x),
    ],
)
def test_same_outputs_and_gradients_as_the_plain_run(wrap):
    m = _model()
    x = ember.randn(5, 4, requires_grad=True)
    ember.manual_seed(7)
    want = m(x)
    (want * want).sum().backward()
    want_grads = _grads(m, x)
    m.zero_grad()
    x.grad = None
    ember.manual_seed(7)
    got = wrap(m, x)
    after_forward = ember.random.get_rng_state()
    (got * got).sum().backward()
    assert ember.equal(
        ember.random.get_rng_state(), after_forward
    )  # the replay leaves the stream alone
    np.testing.assert_array_equal(got.detach().numpy(), want.detach().numpy())
    for a, b in zip(_grads(m, x), want_grads):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_forward_records_nothing_and_backward_recomputes():
    modes = []

    def fn(x):
        modes.append(ember.is_grad_enabled())
        return (x * 2).sin()

    x = ember.randn(3, requires_grad=True)
    y = checkpoint(fn, x, use_reentrant=False)
    assert modes == [False] and y.requires_grad
    y.sum().backward()
    assert modes == [False, True]
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.cos(2 * x.detach().numpy()), rtol=1e-6)


def test_parameters_get_gradients_when_no_input_requires_grad():
    m = _model().eval()
    out = checkpoint(m, ember.randn(3, 4), use_reentrant=False)
    out.sum().backward()
    assert all(p.grad is not None and np.abs(p.grad.numpy()).sum() > 0 for p in m.parameters())


def test_gradcheck_multi_output_keywords_and_constants():
    def fn(a, scale, b, *, power):
        return (a * b) ** power * scale, (a - b).exp()

    def wrapped(a, b):
        first, second = checkpoint(fn, a, 3.0, b, power=2, use_reentrant=False)
        return first.sum() + second.sum()

    rng = np.random.default_rng(0)
    a = ember.tensor(rng.standard_normal(4), requires_grad=True)
    b = ember.tensor(rng.standard_normal(4), requires_grad=True)
    assert gradcheck(wrapped, (a, b))
    one, two = checkpoint(fn, a, 3.0, b, power=2, use_reentrant=False)
    np.testing.assert_allclose(one.detach().numpy(), 3 * (a.numpy() * b.numpy()) ** 2)


def test_integer_outputs_carry_no_gradient_and_no_grad_mode_just_runs():
    x = ember.randn(4, requires_grad=True)
    vals, idx = checkpoint(lambda t: (t * 1, t.argmax()), x, use_reentrant=False)
    assert vals.requires_grad and not idx.requires_grad
    with ember.no_grad():
        y = checkpoint(lambda t: t * 2, x, use_reentrant=False)
    assert not y.requires_grad


def test_bad_input():
    x = ember.randn(2, requires_grad=True)
    with pytest.raises(TypeError, match="must return a Tensor or a tuple of Tensors"):
        checkpoint(lambda t: t.sum().item(), x, use_reentrant=False)
    with pytest.raises(ValueError, match="3 segments for 2 functions"):
        checkpoint_sequential([nn.Tanh(), nn.ReLU()], 3, x)
    with pytest.raises(ValueError, match="segments must be an int >= 1"):
        checkpoint_sequential([nn.Tanh()], 0, x)
    with pytest.raises(ValueError, match="context_fn"):
        checkpoint(nn.Tanh(), x, use_reentrant=False, context_fn=lambda: None)
