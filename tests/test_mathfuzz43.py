"""Round 43 fuzz against torch 2.13: node class names and custom Functions' edges, lstsq's
drivers (rcond, gelsy's rank, gradients), matrix_exp's per-matrix scaling, qr(mode='r')'s
backward, optimisers and lr schedulers over random configurations."""

import warnings

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


# ---- node classes named as torch's -----------------------------------------------------------
def _ops(lib):
    """(name, f(x)) whose node the test reads through the next op's next_functions."""

    def copy_slices(x):
        y = x.clone()
        y[0] = 1.0
        return y

    return [
        ("exp", lambda x: x.exp()),
        ("sum", lambda x: x.sum()),
        ("sum_keepdim", lambda x: x.sum(0, keepdim=True)),
        ("select", lambda x: x[0]),
        ("dot", lambda x: x @ x),
        ("view", lambda x: x.view(3, 1)),
        ("add", lambda x: x + 1),
        ("mul", lambda x: x * x),
        ("copy_slices", copy_slices),
    ]


@pytest.mark.parametrize("i", range(9), ids=[n for n, _ in _ops(torch)])
def test_node_class_name_is_torchs(i):
    names = []
    for lib in (torch, ember):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = _ops(lib)[i][1](x)
        node = (y * 2).grad_fn.next_functions[0][0]
        names.append((type(node).__name__, type(node).__qualname__, node.name()))
        if lib is ember:  # still the op's node: backward and hooks run through it
            seen = []
            node.register_prehook(lambda g, seen=seen: seen.append(1))
            (y * 2).sum().backward()
            assert seen == [1]
            want = x.grad.numpy().copy()
    assert names[0] == names[1]
    xt = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (_ops(torch)[i][1](xt) * 2).sum().backward()
    np.testing.assert_allclose(want, xt.grad.numpy(), rtol=1e-6)


def test_node_class_keeps_ember_class_and_is_cached():
    x = ember.randn(3, requires_grad=True, generator=ember.Generator().manual_seed(0))
    a = (x.exp() * 2).grad_fn.next_functions[0][0]
    b = (x.exp() * 3).grad_fn.next_functions[0][0]
    assert type(a) is type(b) and isinstance(a, ember.ops.Exp)
    assert type(a).__module__ == "builtins"


def _fn(lib):
    class F(lib.autograd.Function):
        @staticmethod
        def forward(*args):
            return args[0] * 2

        @staticmethod
        def backward(ctx, g):
            return (g * 2,) + (None,) * (ctx.n - 1)

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.n = len(inputs)

    return F


@pytest.mark.parametrize("pattern", ["g1", "g1c", "gc", "cg", "g1g", "gN5", "g"])
def test_custom_function_next_functions_per_tensor_argument(pattern):
    rng = np.random.default_rng(1)
    vals = rng.standard_normal((len(pattern), 3))
    edges = []
    for lib in (torch, ember):
        args = []
        for k, v in zip(pattern, vals):
            if k == "g":
                args.append(lib.tensor(v, requires_grad=True))
            elif k == "c":
                args.append(lib.tensor(v))
            else:
                args.append(None if k == "N" else float(k))
        if pattern[0] != "g":  # (the first argument is what forward doubles)
            args = [args[1], args[0], *args[2:]]
        y = _fn(lib).apply(*args)
        edges.append([None if n is None else type(n).__name__ for n, _ in y.grad_fn.next_functions])
    assert edges[0] == edges[1]


# ---- lstsq -----------------------------------------------------------------------------------
def _lstsq(lib, A, B, **kw):
    out = lib.linalg.lstsq(lib.tensor(A), lib.tensor(B), **kw)
    return out.solution.numpy(), out.rank.numpy()


@pytest.mark.parametrize("seed", range(4))
def test_lstsq_gelsy_rcond_rank_and_solution(seed):
    # torch 2.13 hands LAPACK gelsy an uninitialised pivot array: its column order, so its rank
    # and solution, vary from call to call (even at the right rank), so the reference is NumPy's.
    # Orthogonal columns of decreasing norms: the rank is known
    rng = np.random.default_rng(seed)
    for _ in range(10):
        m, n = (int(v) for v in rng.integers(1, 6, 2))
        k = min(m, n)
        Q = np.linalg.qr(rng.standard_normal((m, m)))[0][:, :k]
        d = np.sort(rng.uniform(0.05, 4.0, k))[::-1]
        A = np.concatenate([Q * d, Q @ rng.standard_normal((k, n - k)) * 0.01], axis=1)
        B = rng.standard_normal((m, 2))
        rcond = float(rng.choice([0.9, 0.5, 0.3, 0.1, 0.01]))
        x, r = _lstsq(ember, A, B, rcond=rcond, driver="gelsy")
        assert r == np.sum(d >= rcond * d[0]), (d, rcond)
        Q1 = np.linalg.qr(A[:, :r])[0]  # the minimum-norm solution for A's projection onto
        want = np.linalg.pinv(Q1 @ Q1.T @ A, rcond=1e-12) @ B  # its first r columns
        np.testing.assert_allclose(x, want, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("driver", ["gelsd", "gelss"])
@pytest.mark.parametrize("rcond", [0.0, -1.0, 2.0, 0.2, None])
def test_lstsq_svd_drivers_rcond(driver, rcond):
    rng = np.random.default_rng(3)
    U, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    V, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    A = U[:, :4] @ np.diag([3.0, 1.0, 0.5, 1e-13]) @ V.T
    B = rng.standard_normal((5, 2))
    got, want = _lstsq(ember, A, B, rcond=rcond, driver=driver)
    exp, rank = _lstsq(torch, A, B, rcond=rcond, driver=driver)
    assert int(want) == int(rank)
    if int(rank) < 4:  # (at full rank both solutions are the 1e-13 one's noise)
        np.testing.assert_allclose(got, exp, rtol=1e-7, atol=1e-9)


def test_lstsq_gels_ignores_rcond():
    rng = np.random.default_rng(4)
    A, B = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    got, _ = _lstsq(ember, A, B, rcond=0.5, driver="gels")
    want, _ = _lstsq(torch, A, B, rcond=0.5, driver="gels")
    np.testing.assert_allclose(got, want, rtol=1e-10)


@pytest.mark.parametrize("driver", ["gelsy", "gelsd", "gelss"])
def test_lstsq_gradient_is_torchs_rank_deficient(driver):
    rng = np.random.default_rng(5)
    A = rng.standard_normal((2, 5, 3))
    A[..., -1] = A[..., 0]
    B = rng.standard_normal((2, 5, 2))
    W = rng.standard_normal((2, 3, 2))
    grads = []
    for lib in (torch, ember):
        a = lib.tensor(A, requires_grad=True)
        b = lib.tensor(B, requires_grad=True)
        x = lib.linalg.lstsq(a, b, rcond=0.3, driver=driver).solution
        (x * lib.tensor(W)).sum().backward()
        grads.append((x.detach().numpy(), a.grad.numpy(), b.grad.numpy()))
    # (torch's gelsy solution at a reduced rank depends on its uninitialised pivots: the
    # gradients alone, which are pinv(A) B's, of a loss linear in the solution so that they do
    # not depend on it)
    for g, w in list(zip(grads[1], grads[0]))[driver == "gelsy" :]:
        np.testing.assert_allclose(g, w, rtol=1e-7, atol=1e-9)


def test_lstsq_gradcheck_full_rank():
    rng = np.random.default_rng(6)
    a = ember.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    b = ember.tensor(rng.standard_normal((4, 2)), requires_grad=True)
    for driver in ("gelsy", "gelsd"):
        assert ember.autograd.gradcheck(
            lambda a, b, d=driver: ember.linalg.lstsq(a, b, driver=d).solution, (a, b)
        )


# ---- matrix_exp ------------------------------------------------------------------------------
def test_matrix_exp_scales_each_matrix_of_a_batch():
    rng = np.random.default_rng(7)
    A = rng.standard_normal((3, 3, 3)) * np.array([0.5, 40.0, 300.0])[:, None, None]
    for dt in ("float64", "float32"):
        got = ember.linalg.matrix_exp(ember.tensor(A.astype(dt))).numpy()
        want = torch.linalg.matrix_exp(torch.tensor(A.astype(dt))).numpy()
        # the same matrices overflow (which of inf / NaN fills them follows the arithmetic)
        np.testing.assert_array_equal(
            np.isfinite(got).all((-2, -1)), np.isfinite(want).all((-2, -1))
        )
        fin = np.isfinite(want).all((-2, -1))
        rtol = 1e-10 if dt == "float64" else 2e-4
        for g, w in zip(got[fin], want[fin]):
            np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * np.abs(w).max())


def test_matrix_exp_gradcheck_scaled():
    rng = np.random.default_rng(8)
    a = ember.tensor(rng.standard_normal((2, 3, 3)) * np.array([0.3, 3.0])[:, None, None])
    a.requires_grad_(True)
    assert ember.autograd.gradcheck(ember.linalg.matrix_exp, (a,))


# ---- qr(mode='r') ----------------------------------------------------------------------------
def test_qr_mode_r_backward_refuses_as_torch():
    rng = np.random.default_rng(9)
    A = rng.standard_normal((2, 4, 3))
    a = ember.tensor(A, requires_grad=True)
    q, r = ember.linalg.qr(a, mode="r")
    qt, rt = torch.linalg.qr(torch.tensor(A), mode="r")
    assert tuple(q.shape) == tuple(qt.shape)
    np.testing.assert_allclose(np.abs(r.detach().numpy()), np.abs(rt.numpy()), rtol=1e-10)
    assert r.requires_grad
    with pytest.raises(RuntimeError, match="mode='r'"):
        r.sum().backward()


# ---- optimisers ------------------------------------------------------------------------------
def _opt_configs(rng):
    def u(lo, hi):
        return float(rng.uniform(lo, hi))

    def ch(*a):
        return a[int(rng.integers(len(a)))]

    betas = (u(0.5, 0.99), u(0.9, 0.999))
    return {
        "SGD": dict(lr=u(0.01, 0.3), momentum=0.9, dampening=ch(0.0, 0.3),
                    weight_decay=u(0, 0.1), maximize=ch(False, True)),
        "Adam": dict(lr=u(0.001, 0.1), betas=betas, weight_decay=u(0, 0.1),
                     amsgrad=ch(False, True), maximize=ch(False, True)),
        "AdamW": dict(lr=u(0.001, 0.1), betas=betas, weight_decay=u(0, 0.1),
                      amsgrad=ch(False, True)),
        "Adamax": dict(lr=u(0.001, 0.1), betas=betas, weight_decay=u(0, 0.1)),
        "Adadelta": dict(lr=u(0.1, 2), rho=u(0.5, 0.99), weight_decay=u(0, 0.1)),
        "Adagrad": dict(lr=u(0.01, 0.5), lr_decay=u(0, 0.1), weight_decay=u(0, 0.1),
                        initial_accumulator_value=u(0, 1)),
        "RMSprop": dict(lr=u(0.001, 0.1), alpha=u(0.5, 0.99), momentum=u(0, 0.9),
                        centered=ch(False, True), weight_decay=u(0, 0.1)),
        "Rprop": dict(lr=u(0.001, 0.1), etas=(u(0.3, 0.7), u(1.1, 1.5)),
                      step_sizes=(u(1e-6, 1e-3), u(1, 50))),
        "NAdam": dict(lr=u(0.001, 0.1), betas=betas, weight_decay=u(0, 0.1),
                      momentum_decay=u(1e-3, 1e-1), decoupled_weight_decay=ch(False, True)),
        "RAdam": dict(lr=u(0.001, 0.1), betas=betas, weight_decay=u(0, 0.1),
                      decoupled_weight_decay=ch(False, True)),
        "ASGD": dict(lr=u(0.001, 0.1), lambd=u(0, 0.1), alpha=u(0.3, 1),
                     t0=float(rng.integers(0, 6)), weight_decay=u(0, 0.1)),
    }  # fmt: skip


def _run_optimiser(lib, name, kw, init, coef, cplx):
    dt = lib.complex128 if cplx else lib.float64
    ps = [lib.nn.Parameter(lib.tensor(x).to(dt)) for x in init]
    half = {k: v * 0.5 for k, v in kw.items() if k in ("lr", "weight_decay")}
    opt = getattr(lib.optim, name)([{"params": ps[:2]}, {"params": ps[2:], **half}], **kw)
    hist = []
    for step in range(10):
        for p, (a, b) in zip(ps, coef):
            v = p.detach().numpy()
            p.grad = lib.tensor(np.asarray(a * v + b + 0.1 * v**3 * (step % 3))).to(dt)
        opt.step()
        hist.append([p.detach().numpy().copy() for p in ps])
    return hist, opt.state_dict()


@pytest.mark.parametrize("seed", range(2))
def test_optimisers_match_torch_over_random_configs(seed):
    rng = np.random.default_rng(seed)
    for name, kw in _opt_configs(rng).items():
        cplx = bool(rng.integers(2))
        shapes = [(3,), (2, 4), ()]
        init = [
            rng.standard_normal(s) + (1j * rng.standard_normal(s) if cplx else 0) for s in shapes
        ]
        coef = [(rng.uniform(0.5, 2, s), rng.standard_normal(s)) for s in shapes]
        ht, sdt = _run_optimiser(torch, name, kw, init, coef, cplx)
        he, sde = _run_optimiser(ember, name, kw, init, coef, cplx)
        for a, b in zip(ht, he):
            for x, y in zip(a, b):
                np.testing.assert_allclose(y, x, rtol=1e-11, atol=1e-12, err_msg=f"{name} {kw}")
        assert sorted(sde["state"]) == sorted(sdt["state"])
        for k, st in sdt["state"].items():
            assert sorted(sde["state"][k]) == sorted(st), name
            for kk, v in st.items():
                if isinstance(v, torch.Tensor):
                    e = sde["state"][k][kk]
                    assert isinstance(e, ember.Tensor) and tuple(e.shape) == tuple(v.shape)
                    np.testing.assert_allclose(e.numpy(), v.numpy(), rtol=1e-11, atol=1e-12)
        for gt, ge in zip(sdt["param_groups"], sde["param_groups"]):
            assert sorted(ge) == sorted(gt), name


# ---- lr schedulers ---------------------------------------------------------------------------
def _sched_configs(rng):
    def u(lo, hi):
        return float(rng.uniform(lo, hi))

    return [
        ("StepLR", dict(step_size=int(rng.integers(1, 8)), gamma=u(0.1, 0.9))),
        ("MultiStepLR", dict(milestones=[3, 9, 20], gamma=u(0.1, 0.9))),
        ("CosineAnnealingWarmRestarts",
         dict(T_0=int(rng.integers(1, 10)), T_mult=2, eta_min=u(0, 0.01))),
        ("CyclicLR", dict(base_lr=u(0.001, 0.01), max_lr=[u(0.05, 0.1), u(0.05, 0.1)],
                          step_size_up=int(rng.integers(1, 10)), mode="exp_range",
                          gamma=u(0.9, 1))),
        ("OneCycleLR", dict(max_lr=u(0.05, 0.5), total_steps=60, pct_start=u(0.1, 0.5),
                            anneal_strategy="linear", three_phase=True)),
        ("PolynomialLR", dict(total_iters=int(rng.integers(1, 30)), power=u(0.5, 3))),
    ]  # fmt: skip


@pytest.mark.parametrize("seed", range(2))
def test_schedulers_match_torch_over_50_steps(seed):
    rng = np.random.default_rng(seed)
    for name, kw in _sched_configs(rng):
        lrs = []
        for lib in (torch, ember):
            p = lib.nn.Parameter(lib.zeros(2))
            q = lib.nn.Parameter(lib.zeros(1))
            opt = lib.optim.SGD([{"params": [p]}, {"params": [q], "lr": 0.2}], lr=0.1, momentum=0.9)
            sched = getattr(lib.optim.lr_scheduler, name)(opt, **kw)
            seq = []
            for _ in range(50):
                opt.step()
                sched.step()
                seq.append(list(sched.get_last_lr()) + [g["momentum"] for g in opt.param_groups])
            lrs.append(np.array(seq))
        np.testing.assert_allclose(lrs[1], lrs[0], rtol=1e-12, atol=1e-15, err_msg=name)


def test_plateau_modes_against_torch():
    rng = np.random.default_rng(11)
    metrics = np.round(rng.uniform(0, 1, 50).cumsum() * 0.1 + rng.uniform(0, 0.05, 50), 4)
    for mode in ("min", "max"):
        for tmode in ("rel", "abs"):
            kw = dict(mode=mode, factor=0.5, patience=2, threshold=0.01, threshold_mode=tmode,
                      cooldown=1, min_lr=[0.001, 0.02])  # fmt: skip
            got = []
            for lib in (torch, ember):
                opt = lib.optim.SGD(
                    [{"params": [lib.nn.Parameter(lib.zeros(1))]},
                     {"params": [lib.nn.Parameter(lib.zeros(1))], "lr": 0.3}], lr=0.1,
                )  # fmt: skip
                sched = lib.optim.lr_scheduler.ReduceLROnPlateau(opt, **kw)
                seq = []
                for m in metrics:
                    opt.step()
                    sched.step(float(m))
                    seq.append(sched.get_last_lr())
                got.append(np.array(seq))
            np.testing.assert_allclose(got[1], got[0], rtol=1e-12)


def test_scheduler_step_before_optimizer_warns_as_torch():
    msgs = []
    for lib in (torch, ember):
        opt = lib.optim.SGD([lib.nn.Parameter(lib.ones(1))], lr=1.0)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            lib.optim.lr_scheduler.StepLR(opt, 2).step()
        msgs.append([(x.category, str(x.message)[:60]) for x in w])
    assert msgs[0] == msgs[1] and msgs[0]
