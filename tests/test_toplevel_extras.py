"""torch's remaining top-level names: constants and dtypes, the loss forms that take the
reduction as an int, recurrent cells, native_* ops, *_copy, default_generator and fork_rng,
and the mode queries. Values against torch where it is installed."""

import warnings

import numpy as np
import pytest

import ember

RNG = np.random.default_rng(0)


def test_constants_and_dtypes():
    assert ember.pi == np.pi and ember.e == np.e and ember.inf == np.inf and np.isnan(ember.nan)
    assert ember.newaxis is None and ember.zeros(2, 3)[:, ember.newaxis].shape == (2, 1, 3)
    for name in ("uint16", "uint32", "uint64"):
        assert ember.zeros(2, dtype=getattr(ember, name)).dtype == np.dtype(name)


@pytest.mark.parametrize("reduction", [0, 1, 2])
def test_losses_with_int_reductions_match_torch(reduction):
    torch = pytest.importorskip("torch")
    a, b = RNG.standard_normal((4, 5)), RNG.standard_normal((4, 5))
    sign = np.where(RNG.random(4) > 0.5, 1.0, -1.0)
    p = RNG.random((4, 5))
    cases = {
        "binary_cross_entropy_with_logits": lambda m: m.binary_cross_entropy_with_logits(
            m.tensor(a), m.tensor(p), m.tensor(p), m.tensor(b[0] ** 2), reduction
        ),
        "kl_div": lambda m: m.kl_div(
            m.log_softmax(m.tensor(a), 1), m.softmax(m.tensor(b), 1), reduction
        ),
        "margin_ranking_loss": lambda m: m.margin_ranking_loss(
            m.tensor(a[:, 0]), m.tensor(b[:, 0]), m.tensor(sign), 0.2, reduction
        ),
        "hinge_embedding_loss": lambda m: m.hinge_embedding_loss(
            m.tensor(a), m.tensor(np.sign(b)), 0.7, reduction
        ),
        "cosine_embedding_loss": lambda m: m.cosine_embedding_loss(
            m.tensor(a), m.tensor(b), m.tensor(sign), 0.1, reduction
        ),
        "triplet_margin_loss": lambda m: m.triplet_margin_loss(
            m.tensor(a), m.tensor(b), m.tensor(p), 1.0, 2, 1e-6, True, reduction
        ),
        "poisson_nll_loss": lambda m: m.poisson_nll_loss(
            m.tensor(a), m.tensor(p * 3), True, True, 1e-8, reduction
        ),
    }
    for name, f in cases.items():
        np.testing.assert_allclose(
            f(ember).numpy(), f(torch).numpy(), rtol=1e-10, atol=1e-12, err_msg=name
        )
    with pytest.raises(ValueError, match="reduction"):
        ember.kl_div(ember.tensor(a), ember.tensor(b), "mean")


def test_cells_match_torch():
    torch = pytest.importorskip("torch")
    n, i, h = 3, 4, 5
    x, h0, c0 = (
        RNG.standard_normal((n, i)),
        RNG.standard_normal((n, h)),
        RNG.standard_normal((n, h)),
    )
    for name, gates in (
        ("lstm_cell", 4),
        ("gru_cell", 3),
        ("rnn_tanh_cell", 1),
        ("rnn_relu_cell", 1),
    ):
        w_ih, w_hh = RNG.standard_normal((gates * h, i)), RNG.standard_normal((gates * h, h))
        b_ih, b_hh = RNG.standard_normal(gates * h), RNG.standard_normal(gates * h)
        outs = []
        for m in (ember, torch):
            hx = (m.tensor(h0), m.tensor(c0)) if name == "lstm_cell" else m.tensor(h0)
            args = [m.tensor(v) for v in (w_ih, w_hh, b_ih, b_hh)]
            out = getattr(m, name)(m.tensor(x), hx, *args)
            outs.append([t.numpy() for t in (out if isinstance(out, tuple) else (out,))])
        for mine, theirs in zip(*outs):
            np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12, err_msg=name)


def test_native_norms_match_torch():
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((4, 6, 3, 3))
    w, b = RNG.standard_normal(6), RNG.standard_normal(6)
    rm, rv = np.zeros(6), np.ones(6)
    got = {
        "layer": lambda m: m.native_layer_norm(m.tensor(x), (3, 3), None, None, 1e-5),
        "batch": lambda m: m.native_batch_norm(
            m.tensor(x), m.tensor(w), m.tensor(b), m.tensor(rm), m.tensor(rv), True, 0.1, 1e-5
        ),
        "batch_eval": lambda m: m.native_batch_norm(
            m.tensor(x), m.tensor(w), m.tensor(b), m.tensor(rm), m.tensor(rv), False, 0.1, 1e-5
        ),
        "group": lambda m: m.native_group_norm(
            m.tensor(x), m.tensor(w), m.tensor(b), 4, 6, 9, 3, 1e-5
        ),
    }
    for name, f in got.items():
        for mine, theirs in zip(f(ember), f(torch)):
            assert mine.shape == tuple(theirs.shape), name
            np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-9, atol=1e-12)


def test_dropout_forms():
    x = ember.ones(200, 8, 4)
    out, mask = ember.native_dropout(x, 0.25, True)
    np.testing.assert_allclose(out.numpy(), mask.numpy() / 0.75, rtol=1e-7)
    assert mask.dtype == np.bool_ and 0.6 < mask.numpy().mean() < 0.9
    same, full = ember.native_dropout(x, 0.25, False)
    assert full.numpy().all() and np.array_equal(same.numpy(), x.numpy())
    y = ember.feature_dropout(x, 0.5, True).numpy()
    per_channel = y.reshape(200, 8, 4)
    assert ((per_channel == 0).all(-1) | (per_channel == 2).all(-1)).all()  # whole channels
    assert ember.feature_dropout(x, 0.5, False) is not None


def test_copies_own_their_memory():
    x = ember.arange(12.0).reshape(3, 4)
    for out in (
        ember.t_copy(x), ember.transpose_copy(x, 0, 1), ember.view_copy(x, 12),
        ember.view_copy(x, (4, 3)), ember.select_copy(x, 0, 1), ember.slice_copy(x, 1, 1, 3),
        ember.diagonal_copy(x), ember.expand_copy(x[:1], (2, 4)), ember.alias_copy(x),
        ember.unsqueeze_copy(x, 0), ember.permute_copy(x, (1, 0)), *ember.split_copy(x, 2),
        *ember.unbind_copy(x), ember.unfold_copy(x, 1, 2, 2), ember.detach_copy(x),
    ):  # fmt: skip
        assert not np.shares_memory(out.numpy(), x.numpy())
    np.testing.assert_array_equal(ember.slice_copy(x, 1, 1, 3).numpy(), x.numpy()[:, 1:3])
    np.testing.assert_array_equal(ember.view_copy(x, (4, 3)).numpy(), x.numpy().reshape(4, 3))


def test_binomial_and_embedding_renorm():
    ember.manual_seed(0)
    draws = ember.binomial(ember.full((20000,), 10.0), ember.full((20000,), 0.3))
    assert draws.dtype == np.float32 and abs(draws.numpy().mean() - 3.0) < 0.05
    assert set(np.unique(draws.numpy())) <= set(range(11))
    with pytest.raises(ValueError, match="prob"):
        ember.binomial(ember.ones(2), ember.full((2,), 1.5))
    w = ember.tensor(np.full((3, 4), 2.0))
    ember.embedding_renorm_(w, ember.tensor([0, 2]), 1.0, 2.0)
    norms = np.linalg.norm(w.numpy(), axis=1)
    np.testing.assert_allclose(norms[[0, 2]], 1.0, rtol=1e-6)
    assert norms[1] == 4.0


def test_default_generator_and_fork_rng():
    ember.default_generator.manual_seed(7)
    a = ember.randn(3)
    ember.manual_seed(7)
    np.testing.assert_array_equal(a.numpy(), ember.randn(3).numpy())
    assert ember.default_generator.initial_seed() == 7
    state = ember.default_generator.get_state()
    b = ember.rand(2)
    ember.default_generator.set_state(state)
    np.testing.assert_array_equal(b.numpy(), ember.rand(2).numpy())
    before = ember.get_rng_state()
    with ember.random.fork_rng():
        ember.randn(100)
    assert ember.equal(ember.get_rng_state(), before)
    perm = ember.randperm(5, generator=ember.default_generator)
    assert sorted(perm.tolist()) == [0, 1, 2, 3, 4]


def test_mode_queries():
    assert not ember.is_inference_mode_enabled()
    with ember.inference_mode():
        assert ember.is_inference_mode_enabled() and not ember.is_grad_enabled()
        with ember.inference_mode(False):
            assert not ember.is_inference_mode_enabled()
    assert not ember.is_inference_mode_enabled()

    @ember.inference_mode(False)
    def f():
        return ember.is_inference_mode_enabled()

    with ember.inference_mode():
        assert f() is False
    ember.set_deterministic_debug_mode("warn")
    assert ember.get_deterministic_debug_mode() == 1
    assert ember.is_deterministic_algorithms_warn_only_enabled()
    ember.set_deterministic_debug_mode(0)
    assert not ember.are_deterministic_algorithms_enabled()
    with pytest.raises(RuntimeError, match="debug_mode"):
        ember.set_deterministic_debug_mode("loud")
    ember.set_warn_always(True)
    assert ember.is_warn_always_enabled()
    ember.set_warn_always(False)


def test_multithreading_switch():
    assert ember.autograd.is_multithreading_enabled()
    with ember.autograd.set_multithreading_enabled(False):
        assert not ember.autograd.is_multithreading_enabled()
    assert ember.autograd.is_multithreading_enabled()


def test_convolution_grid_sampler_and_lu_forms_match_torch():
    torch = pytest.importorskip("torch")
    x2, w2 = RNG.standard_normal((2, 3, 7, 7)), RNG.standard_normal((4, 3, 3, 3))
    x1, wt1 = RNG.standard_normal((1, 3, 6)), RNG.standard_normal((3, 2, 3))
    theta = RNG.standard_normal((2, 2, 3)) * 0.5
    A, b = RNG.standard_normal((4, 4)) + 4 * np.eye(4), RNG.standard_normal((4, 2))
    cases = [
        lambda m: m.convolution(
            m.tensor(x2), m.tensor(w2), None, [2, 1], [1, 0], [1, 2], False, [0, 0], 1
        ),
        lambda m: m.convolution(
            m.tensor(x1), m.tensor(wt1), m.tensor(np.ones(2)), [2], [1], [1], True, [1], 1
        ),
        lambda m: m.affine_grid_generator(m.tensor(theta), [2, 3, 4, 5], False),
        lambda m: m.grid_sampler(
            m.tensor(x2[:, :, :5, :5]),
            m.affine_grid_generator(m.tensor(theta), [2, 3, 4, 5], False), 0, 1, False,
        ),
        lambda m: m.grid_sampler(
            m.tensor(x2[:, :, :5, :5]),
            m.affine_grid_generator(m.tensor(theta), [2, 3, 4, 5], True), 1, 2, True,
        ),
        lambda m: m.lu_solve(m.tensor(b), *m.lu(m.tensor(A))),
        lambda m: m.nuclear_norm(m.tensor(A)),
    ]  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # both libraries: torch.lu is deprecated
        for i, f in enumerate(cases):
            np.testing.assert_allclose(
                f(ember).numpy(), f(torch).numpy(), rtol=1e-9, atol=1e-12, err_msg=str(i)
            )
        mine, theirs = ember.lu(ember.tensor(A)), torch.lu(torch.tensor(A))
    np.testing.assert_allclose(mine[0].numpy(), theirs[0].numpy(), rtol=1e-12)
    with pytest.warns(UserWarning, match="deprecated"):
        ember.lu(ember.tensor(A))
    with pytest.raises(ValueError, match="padding_mode"):
        ember.grid_sampler(ember.randn(1, 1, 3, 3), ember.randn(1, 2, 2, 2), 0, 5, False)


def test_low_rank_svd_and_pca():
    A = RNG.standard_normal((20, 8)) @ RNG.standard_normal((8, 6))
    U, S, V = ember.svd_lowrank(ember.tensor(A), q=3)
    assert U.shape == (20, 3) and S.shape == (3,) and V.shape == (6, 3)
    np.testing.assert_allclose(S.numpy(), np.linalg.svd(A, compute_uv=False)[:3], rtol=1e-10)
    U, S, V = ember.pca_lowrank(ember.tensor(A), q=2)
    centred = A - A.mean(0)
    np.testing.assert_allclose(S.numpy(), np.linalg.svd(centred, compute_uv=False)[:2], rtol=1e-10)
    proj = centred @ V.numpy()  # the principal directions: U S = A_c V
    np.testing.assert_allclose(np.abs(proj), np.abs(U.numpy() * S.numpy()), rtol=1e-8, atol=1e-10)
    with pytest.raises(ValueError, match="q must be"):
        ember.pca_lowrank(ember.tensor(A), q=7)


def test_tensor_lu_methods_and_output_nr():
    A = RNG.standard_normal((3, 3)) + 3 * np.eye(3)
    b = RNG.standard_normal((3, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the deprecated forms warn, as torch's
        LU, pivots = ember.tensor(A).lu()
        x = ember.tensor(b).lu_solve(LU, pivots)
    np.testing.assert_allclose(A @ x.numpy(), b, rtol=1e-10, atol=1e-12)
    leaf = ember.randn(6, requires_grad=True)
    parts = ember.chunk(leaf * 2, 3)
    assert [p.output_nr for p in parts] == [0, 1, 2] and leaf.output_nr == 0
    assert leaf.const_data_ptr() == leaf.data_ptr()
