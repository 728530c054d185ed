"""The ``generator=`` argument of every random draw: a seeded ember.Generator gives the same
draws each time and leaves ember's global stream untouched; anything else is a TypeError."""

import numpy as np
import pytest

import ember
from ember import nn

P = ember.tensor([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]])
X = ember.zeros(4, 5)

DRAWS = {
    "rand_like": lambda g: ember.rand_like(X, generator=g),
    "randn_like": lambda g: ember.randn_like(X, generator=g),
    "randint_like": lambda g: ember.randint_like(X, 0, 100, generator=g),
    "normal": lambda g: ember.normal(ember.zeros(3), ember.ones(3), generator=g),
    "normal_size": lambda g: ember.normal(0.0, 1.0, (3, 2), generator=g),
    "poisson": lambda g: ember.poisson(ember.full((6,), 4.0), generator=g),
    "bernoulli": lambda g: ember.bernoulli(ember.full((20,), 0.5), generator=g),
    "bernoulli_p": lambda g: ember.bernoulli(X, 0.5, generator=g),
    "multinomial": lambda g: ember.multinomial(P, 6, replacement=True, generator=g),
    "T.multinomial": lambda g: P.multinomial(2, generator=g),
    "T.bernoulli": lambda g: ember.full((20,), 0.5).bernoulli(generator=g),
    "T.uniform_": lambda g: ember.zeros(5).uniform_(-1, 1, generator=g),
    "T.normal_": lambda g: ember.zeros(5).normal_(generator=g),
    "T.bernoulli_": lambda g: ember.zeros(20).bernoulli_(0.5, generator=g),
    "T.exponential_": lambda g: ember.zeros(5).exponential_(generator=g),
    "T.geometric_": lambda g: ember.zeros(5).geometric_(0.3, generator=g),
    "T.log_normal_": lambda g: ember.zeros(5).log_normal_(generator=g),
    "T.cauchy_": lambda g: ember.zeros(5).cauchy_(generator=g),
    "T.random_": lambda g: ember.zeros(5).random_(0, 1000, generator=g),
    "randn": lambda g: ember.randn(5, generator=g),
    "randint": lambda g: ember.randint(0, 1000, (5,), generator=g),
    "init.sparse_": lambda g: nn.init.sparse_(ember.zeros(6, 4), 0.5, generator=g),
}


@pytest.mark.parametrize("name", list(DRAWS))
def test_generator_gives_its_own_reproducible_stream(name):
    draw = DRAWS[name]
    ember.manual_seed(0)
    before = ember.random.get_rng_state()
    a = draw(ember.Generator().manual_seed(7)).numpy()
    assert ember.equal(ember.random.get_rng_state(), before)  # the global stream did not move
    b = draw(ember.Generator().manual_seed(7)).numpy()
    np.testing.assert_array_equal(a, b)
    draws = [draw(ember.Generator().manual_seed(s)).numpy() for s in range(8, 12)]
    assert any(not np.array_equal(a, d) for d in draws)  # the seed matters
    np.testing.assert_array_equal(draw(None).numpy().shape, a.shape)  # None: the global one


@pytest.mark.parametrize("name", ["multinomial", "T.uniform_", "normal_size", "randn"])
@pytest.mark.parametrize("bad", [7, "seed", np.random.RandomState(0)])
def test_generator_that_is_not_a_generator_is_a_type_error(name, bad):
    with pytest.raises(TypeError, match="generator must be an ember.Generator"):
        DRAWS[name](bad)


def test_parameter_containers_list_their_entries_like_pytorch():
    pl = nn.ParameterList([nn.Parameter(ember.zeros(2, 3)), nn.Parameter(ember.zeros(1))])
    assert repr(pl) == (
        "ParameterList(\n    (0): Parameter containing: [float32 of size 2x3]\n"
        "    (1): Parameter containing: [float32 of size 1]\n)"
    )
    pd = nn.ParameterDict({"w": nn.Parameter(ember.zeros(4, dtype=np.float64))})
    assert repr(pd) == "ParameterDict(  (w): Parameter containing: [float64 of size 4])"
