"""Views, detach_, in-place writes and friends, each against PyTorch 2.13's behaviour."""

import numpy as np
import pytest

import ember

DETACH_VIEW = "Can't detach views in-place"


def _both(torch):
    return ((torch, torch.ones), (ember, ember.ones))


@pytest.mark.parametrize(
    "make",
    [
        lambda x: x.view(-1),
        lambda x: x[0],
        lambda x: x.t(),
        lambda x: x.reshape(6),
        lambda x: x.unbind(0)[1],
        lambda x: x.split(1)[0],
        lambda x: x.flatten(),
        lambda x: x.unsqueeze(0),
    ],
)
def test_detach_inplace_refuses_graph_views(make):
    torch = pytest.importorskip("torch")
    for _, ones in _both(torch):
        for x in (ones(3, 2, requires_grad=True) * 2, ones(3, 2, requires_grad=True)):
            y = make(x)
            with pytest.raises(RuntimeError, match=DETACH_VIEW):
                y.detach_()
            assert y.requires_grad  # (left as it was)


def test_detach_inplace_of_non_views_and_rnn_states():
    torch = pytest.importorskip("torch")
    for lib, ones in _both(torch):
        x = ones(3, 2, requires_grad=True) * 2
        for t in (x, x.detach(), x + 1):
            assert t.detach_() is t and not t.requires_grad and t.grad_fn is None
        # an RNN's final states are fresh tensors in torch: training loops detach_() them
        for cls in (lib.nn.RNN, lib.nn.GRU):
            _, h = cls(3, 4)(ones(5, 1, 3))
            assert not h.detach_().requires_grad
        _, (h, c) = lib.nn.LSTM(3, 4)(ones(5, 1, 3))
        assert not h.detach_().requires_grad and not c.detach_().requires_grad


def test_leaf_detached_in_place_after_use_takes_no_gradient():
    torch = pytest.importorskip("torch")
    for _, ones in _both(torch):
        a = ones(3, requires_grad=True)
        y = (a * a).sum()
        a.detach_()
        y.backward()
        assert a.grad is None and not a.requires_grad
        # requiring grad again before backward: the gradient arrives, as torch's
        b = ones(3, requires_grad=True)
        y = (b * b).sum()
        b.detach_()
        b.requires_grad_()
        y.backward()
        np.testing.assert_allclose(np.asarray(b.grad), [2.0, 2.0, 2.0])
        # requires_grad_(False) on the leaf after use: likewise no gradient
        c = ones(3, requires_grad=True)
        y = (c * 3).sum()
        c.requires_grad_(False)
        y.backward()
        assert c.grad is None


def _encoder(lib, mask_rows, seed=0):
    rng = np.random.default_rng(seed)
    layer = lib.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    enc = lib.nn.TransformerEncoder(layer, 2, enable_nested_tensor=True)
    for p in enc.parameters():
        p.data = lib.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32) * 0.3)
    enc.eval()
    x = lib.tensor(rng.standard_normal((2, 3, 8)).astype(np.float32))
    m = np.zeros((2, 3), bool)
    m[mask_rows] = True
    with lib.no_grad():
        return enc(x, src_key_padding_mask=lib.tensor(m))


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors")
def test_transformer_encoder_fast_path_fully_padded():
    torch = pytest.importorskip("torch")
    # one sequence all padding: its rows come out zero on the nested fast path, as torch's
    got, want = _encoder(ember, [0]), _encoder(torch, [0])
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-5)
    assert not np.any(got.numpy()[0])
    # every sequence all padding: torch's nested tensor cannot be padded back
    with pytest.raises(RuntimeError, match="at least one constituent tensor"):
        _encoder(torch, slice(None))
    with pytest.raises(RuntimeError, match=r"at least one constituent tensor.*\(2, 3, 8\)"):
        _encoder(ember, slice(None))


OVERLAP = "more than one element of the written-to tensor refers to a single memory location"

_EXPANDED_WRITES = [
    # (write, whether torch refuses it): a write is refused when the written-to tensor has a
    # stride-0 dim of size 2 or more; fill_/zero_ fill the memory anyway
    (lambda x: x.__setitem__(0, 5.0), True),
    (lambda x: x.__setitem__((slice(None), 0), 5.0), False),
    (lambda x: x.__setitem__((0, 1), 5.0), False),
    (lambda x: x.__setitem__((slice(None), slice(0, 2)), 5.0), True),
    (lambda x: x.__setitem__((0, slice(0, 1)), 7.0), False),
    (lambda x: x.__setitem__(slice(1, 2), 3.0), True),
    (lambda x: x.__setitem__((slice(None), slice(1, 2)), 3.0), False),
    (lambda x: x.__setitem__(Ellipsis, 1.0), True),
    (lambda x: x.add_(1), True),
    (lambda x: x[0].add_(1), True),
    (lambda x: x[:, 0].add_(1), False),
    (lambda x: x[:, 0].copy_(x[:, 0] * 0 + 1), False),
    (lambda x: x[1:2].mul_(2), True),
    (lambda x: x[:, 1:2].mul_(2), False),
    (lambda x: x.exp_(), True),
    (lambda x: x.clamp_(0, 1), True),
    (lambda x: x.fill_(1), False),
    (lambda x: x[0].zero_(), False),
    (lambda x: x.t()[0, 1:].sub_(1), False),
    (lambda x: x.t()[1:, 0].sub_(1), True),
]


@pytest.mark.parametrize("write, refused", _EXPANDED_WRITES)
def test_writes_into_an_expanded_tensor_as_torch(write, refused):
    torch = pytest.importorskip("torch")
    results = []
    for lib in (torch, ember):
        base = lib.arange(3.0).reshape(3, 1)
        x = base.expand(3, 4)
        if refused:
            with pytest.raises(RuntimeError, match=OVERLAP):
                write(x)
        else:
            write(x)
        results.append(base.tolist())
    assert results[0] == results[1]


def test_writes_into_an_expanded_graph_tensor_as_torch():
    torch = pytest.importorskip("torch")
    got = []
    for lib in (torch, ember):
        a = lib.tensor([[1.0], [2.0], [3.0]], requires_grad=True)
        b = a * 2
        y = b.expand(3, 4)
        y[:, 0].mul_(3)
        y[1, 1] = 4.0
        with pytest.raises(RuntimeError, match=OVERLAP):
            y[2] = 1.0
        (y * lib.arange(12.0).reshape(3, 4)).sum().backward()
        got.append((b.tolist(), a.grad.tolist()))
    assert got[0] == got[1]


def test_overlapping_windows_stay_read_only():
    # (torch writes them in its loop's order; ember keeps refusing them, as NumPy's)
    x = ember.arange(8.0)
    with pytest.raises(RuntimeError, match="read-only"):
        x.unfold(0, 3, 1).mul_(2)
    # a read-only NumPy array's memory stays read-only
    a = np.ones(3, np.float32)
    a.flags.writeable = False
    t = ember.from_numpy(np.broadcast_to(a, (2, 3)))
    with pytest.raises(RuntimeError, match="read-only"):
        t[:, 0] = 2.0


def _layout(t):
    return tuple(t.shape), tuple(t.stride()), t.storage_offset(), t.untyped_storage().nbytes()


def test_deepcopy_of_views_keeps_offsets_and_sharing_as_torch():
    import copy

    torch = pytest.importorskip("torch")
    got = []
    for lib in (torch, ember):
        base = lib.arange(12.0).reshape(3, 4)
        v = base[1:, 1:3]
        row, col = base[1], base.t()
        one = copy.deepcopy(v)
        b2, r2, c2 = copy.deepcopy((base, row, col))  # one deepcopy: one storage, shared
        r2[0] = 100.0
        e = copy.deepcopy(lib.ones(3).expand(2, 3))
        with lib.no_grad():
            p = lib.ones(3, 4, requires_grad=True)[1]
        pc = copy.deepcopy(p)
        got.append(
            (
                [_layout(t) for t in (one, r2, c2, e, pc)],
                one.tolist(),
                b2.tolist(),
                c2.tolist(),
                pc.requires_grad,
            )
        )
    assert got[0] == got[1]
    # the original is untouched, and a deepcopy of a graph view is refused as torch's
    x = ember.ones(2, 2, requires_grad=True)
    with pytest.raises(RuntimeError, match="graph leaves"):
        copy.deepcopy(x[0])


NO_GRAD_VIEW = "view of a view which was created in no_grad mode and its base"


def _view_of_no_grad_view(lib):
    a = lib.ones(4, requires_grad=True).clone()
    with lib.no_grad():
        v = a[1:]
    return a, v, v[1:]  # (w, made in grad mode: a graph view of the no-grad view v)


@pytest.mark.parametrize(
    "use",
    [
        lambda w: w.grad_fn,
        lambda w: w * 2,
        lambda w: w.sum(),
        lambda w: w[0:],
        lambda w: w.is_leaf,
    ],
)
def test_view_of_a_no_grad_view_is_refused_once_its_base_is_written(use):
    torch = pytest.importorskip("torch")
    for lib in (torch, ember):
        a, _, w = _view_of_no_grad_view(lib)
        a.mul_(2)
        with pytest.raises(RuntimeError, match=NO_GRAD_VIEW):
            use(w)
        with lib.no_grad():  # (not in no_grad mode, nor through detach())
            assert (w * 2).tolist() == [4.0, 4.0]
        assert w.detach().tolist() == [2.0, 2.0]


def test_ops_recorded_before_the_write_still_backward():
    torch = pytest.importorskip("torch")
    for lib in (torch, ember):
        a, v, w = _view_of_no_grad_view(lib)
        y = (w * 2).sum() + (a * 3).sum()
        a2 = a.detach()  # (the leaf's clone a is written; the graph read w and a before)
        a2.add_(1)
        y.backward()  # torch: fine, v takes no gradient
        assert v.grad is None and w.requires_grad


@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.zeros(2, 3).t().unsqueeze(2),
        lambda m: m.zeros(2, 3).unsqueeze(2),
        lambda m: m.zeros(2, 3).t().unsqueeze(1),
        lambda m: m.zeros(3).expand(1, 3),
        lambda m: m.zeros(3).expand(1, 1, 3),
        lambda m: m.zeros(3, 1).expand(2, 3, 1),
        lambda m: m.zeros(2, 1, 3).expand(1, 2, 4, 3),
        lambda m: m.zeros(1, 3).t().expand(1, 3, 1),
        lambda m: m.zeros(0, 3),
        lambda m: m.zeros(2, 0, 3),
        lambda m: m.zeros(0),
        lambda m: m.zeros(1, 0),
        lambda m: m.zeros(2, 3)[None],
        lambda m: m.zeros(2, 3)[:, None],
        lambda m: m.zeros(2, 3).t()[:, None, :],
        lambda m: m.zeros(2, 3)[None, 0],
        lambda m: m.zeros(2, 3).t()[None, 1, None, 0],
        lambda m: m.zeros(2, 3)[..., None],
        lambda m: m.zeros(4, 1, 3)[:, :, ::2][None, ..., None],
        lambda m: m.zeros(())[None],
    ],
)
def test_strides_of_size_one_and_empty_dims_as_torch(make):
    torch = pytest.importorskip("torch")
    assert make(ember).stride() == make(torch).stride()


def test_fill_through_an_expanded_view_of_a_leaf_as_torch():
    torch = pytest.importorskip("torch")
    got = []
    for lib in (torch, ember):
        leaf = lib.ones(3, 4, requires_grad=True)
        e = leaf[..., :1].expand(3, 2)
        with lib.no_grad():
            e.zero_()  # (torch fills the memory an expanded view sees, graph view or not)
            lib.ones(3, 4, requires_grad=True)[:1].expand(3, 4).fill_(2.0)
            leaf[:1].expand(3, 4).fill_(2.0)
        for write in (lambda v: v.zero_(), lambda v: v.add_(1), lambda v: v[:, 0].mul_(2)):
            with pytest.raises(RuntimeError, match="a view of a leaf Variable"):
                write(e)
        got.append(leaf.tolist())
    assert got[0] == got[1]


def test_detach_inplace_keeps_the_edges_recorded_before_it():
    torch = pytest.importorskip("torch")
    got = []
    for lib in (torch, ember):
        leaf = lib.ones(3, 4, requires_grad=True)
        y = leaf * 2
        u, z = y[0], y * 3  # a view and an op recorded before y.detach_()
        r = y.unbind()[1]
        y.detach_()
        w = y * 5  # after: outside the graph
        ((u * 1.5).sum() + z.sum() + r.sum()).backward()
        got.append((leaf.grad.tolist(), w.requires_grad, y.is_leaf, u.grad_fn is not None))
    assert got[0] == got[1]
