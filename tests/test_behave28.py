"""Version counters, storage offsets and shared memory matched to PyTorch 2.13: _version
counts every in-place write from a tensor's creation (not from the first recorded node), an
empty slice's storage_offset() is its start clamped to the dim, each from_numpy tensor has its
own storage and counter, a view written before its base's requires_grad_() in a fresh process."""

import gc
import subprocess
import sys

import numpy as np
import pytest

import ember


def _torch():
    return pytest.importorskip("torch")


# ---- 1. _version from creation --------------------------------------------------------------


def _writes(L):
    got = []
    x = L.zeros(3)
    x.add_(1)
    got.append(x._version)
    y = L.ones(32, 32)  # (the C fast in-place methods' size: they count the write too)
    y.add_(1)
    y.sub_(1)
    y.mul_(2)
    y.div_(2)
    y += 1
    y *= 2
    y.zero_()
    got.append(y._version)
    z = L.zeros(4)
    z[1] = 2.0
    z.fill_(1)
    L.add(z, 1, out=z)
    z[1:].add_(1)
    z.detach().mul_(3)
    got.append((z._version, z[1:]._version, z.detach()._version))
    return got


def test_version_counts_every_write_from_creation_as_torch():
    torch = _torch()
    assert _writes(ember) == _writes(torch)


def test_version_counts_from_creation_hard_coded():
    assert _writes(ember) == [1, 7, (5, 5, 5)]


_FRESH = """
import sys
L = __import__(sys.argv[1])
out = []
x = L.zeros(3)
x.add_(1)
y = L.ones(32, 32)
y.add_(1)
y.zero_()
out.append((x._version, y._version))
# a view made in grad mode and written before its base's requires_grad_() (no node recorded
# before): the view follows its base into the graph
b = L.zeros(4)
v = b[:2]
v.add_(1)
b.requires_grad_()
out.append((v.requires_grad, v.is_leaf, v._version, b._version, v.grad_fn.name()))
(v * 3).sum().backward()
out.append(b.grad.tolist())
b2 = L.zeros(4)
v2 = b2[1:3]
v2.mul_(2)
b2.requires_grad_()
try:
    v2.add_(1)
    out.append("no error")
except RuntimeError as e:
    out.append("leaf Variable" in str(e))
print(out)
"""


def _fresh(lib: str) -> str:
    r = subprocess.run(
        [sys.executable, "-c", _FRESH, lib], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_fresh_process_counts_and_view_before_requires_grad_as_torch():
    _torch()
    assert _fresh("ember") == _fresh("torch")


def test_fresh_process_hard_coded():
    assert _fresh("ember").strip() == (
        "[(1, 2), (True, False, 1, 1, 'AsStridedBackward0'), [3.0, 3.0, 0.0, 0.0], True]"
    )


# ---- 2. empty slices' storage offsets --------------------------------------------------------

_KEYS = [
    slice(18, None, 2),
    slice(18, None),
    slice(5, 3),
    slice(5, 3, 2),
    slice(20, 30, 3),
    slice(-3, 2, 2),
    slice(10, None, 2),
    slice(-20, -15),
    (slice(5, None), slice(1, None)),
    (slice(None), slice(9, None, 2)),
    (1, slice(7, None)),
    (-1, slice(2, 1)),
    (slice(1, 2), None, slice(3, 3)),
    (Ellipsis, slice(6, None, 3)),
    (None, slice(4, 2), Ellipsis),
]


def _offsets(L):
    got = []
    for shape in [(10,), (3, 4)]:
        x = L.arange(float(np.prod(shape))).reshape(shape)
        for base in [x, x[1:] if shape == (10,) else x[:, 1:]]:
            for k in _KEYS:
                if type(k) is tuple and sum(type(p) is not type(None) for p in k) > base.dim():
                    continue
                if type(k) is tuple and base.dim() == 1 and Ellipsis not in k and len(k) > 1:
                    continue
                y = base[k]
                got.append((shape, str(k), tuple(y.shape), y.stride(), y.storage_offset()))
    return got


def test_empty_slice_storage_offset_as_torch():
    torch = _torch()
    assert _offsets(ember) == _offsets(torch)


def test_empty_slice_storage_offset_hard_coded():
    x = ember.arange(10.0)
    assert x[18::2].storage_offset() == 10
    assert x[18::2].stride() == (2,)
    assert x[5:3].storage_offset() == 5
    assert x[-3:2:2].storage_offset() == 7
    m = ember.arange(12.0).reshape(3, 4)
    assert m[5:, 1:].storage_offset() == 13
    assert m[1:][:, 9::2].storage_offset() == 8
    # the empty view still writes nothing and reads as empty
    v = x[18::2]
    v.add_(1)
    assert x.tolist() == list(map(float, range(10))) and v.tolist() == []


# ---- 3. from_numpy: a storage and counter per tensor -----------------------------------------


def _from_numpy(L):
    a = np.zeros(6, np.float32)
    t1 = L.from_numpy(a)
    t2 = L.from_numpy(a)
    t1.add_(1)
    t1.mul_(2)
    t2.add_(1)
    got = [t1._version, t2._version, t1.tolist(), t2.tolist(), a.tolist()]
    s = L.from_numpy(a[2:][::2])
    got.append((s.storage_offset(), s.stride(), s.tolist()))
    s[0] = 9.0
    got.append((s._version, t1._version, a.tolist()))
    v = t2[1:]
    v.add_(1)
    got.append((v._version, t2._version, t1._version, t2.detach()._version))
    return got


def test_from_numpy_counters_and_storage_as_torch():
    torch = _torch()
    assert _from_numpy(ember) == _from_numpy(torch)


def test_from_numpy_counters_hard_coded():
    got = _from_numpy(ember)
    assert got[:2] == [2, 1]
    assert got[5] == (0, (2,), [3.0, 3.0])
    assert got[7] == (2, 2, 2, 2)


def test_from_numpy_shares_memory_and_keeps_the_array_alive():
    a = np.arange(4.0)
    t = ember.from_numpy(a)
    del a
    gc.collect()
    t.add_(1)
    assert t.tolist() == [1.0, 2.0, 3.0, 4.0]
    b = np.zeros(3)
    u = ember.from_numpy(b)
    b[0] = 5.0
    assert u[0].item() == 5.0
    assert np.shares_memory(u.numpy(), b)
    r = np.zeros(2)
    r.flags.writeable = False
    assert not ember.from_numpy(r).numpy().flags.writeable  # (still read-only)


# ---- 5. writes into overlapping windows ------------------------------------------------------


def _overlap_fills(L):
    got = []
    for make in (
        lambda: L.arange(6.0).unfold(0, 3, 1),
        lambda: L.arange(6.0).as_strided((3, 3), (1, 1)),
    ):
        for write in (
            lambda v: v.fill_(3),
            lambda v: v.zero_(),
            lambda v: v.__setitem__(Ellipsis, 2.0),
            lambda v: v.__setitem__(0, 4.0),
            lambda v: v.fill_(L.tensor(5.0)),
        ):
            v = make()
            write(v)
            got.append(v.tolist())
    x = L.arange(3.0).reshape(3, 1).expand(3, 4)
    x.fill_(1)
    got.append(x.tolist())
    return got


def test_fills_into_overlapping_windows_as_torch():
    torch = _torch()
    assert _overlap_fills(ember) == _overlap_fills(torch)


def test_fills_into_overlapping_windows_hard_coded():
    v = ember.arange(6.0).unfold(0, 3, 1)
    v[0] = 4.0
    assert v.tolist() == [[4.0, 4.0, 4.0], [4.0, 4.0, 3.0], [4.0, 3.0, 4.0], [3.0, 4.0, 5.0]]
    # an arithmetic write's result hangs on torch's loop order: still refused
    with pytest.raises(RuntimeError, match="read-only"):
        ember.arange(6.0).unfold(0, 3, 1).add_(1)
    with pytest.raises(RuntimeError, match="single memory location"):
        ember.arange(3.0).reshape(3, 1).expand(3, 4).add_(1)


# ---- 6. found by random view / in-place programs ---------------------------------------------


def _empty_unsqueeze(L):
    x = L.arange(24.0).reshape(2, 3, 4)
    views = [
        x[:, 5:].unsqueeze(0),
        x[:, :, 9:].unsqueeze(3),
        x.permute(2, 0, 1)[:, :, 7:].unsqueeze(1),
        L.zeros(0, 3).unsqueeze(0),
        L.zeros(0, 3).unsqueeze(1),
        L.zeros(3, 0).unsqueeze(2),
    ]
    return [(tuple(v.shape), v.stride(), v.storage_offset()) for v in views]


def test_unsqueeze_of_an_empty_view_keeps_torchs_strides():
    torch = _torch()
    assert _empty_unsqueeze(ember) == _empty_unsqueeze(torch)
    assert _empty_unsqueeze(ember)[0] == ((1, 2, 0, 4), (24, 12, 4, 1), 12)


_WHOLE = [
    slice(None), slice(0, None), slice(-3, None), slice(-4, None), slice(0, 3), slice(0, 10),
    slice(-5, None), slice(0, None, 1), slice(None, 4), slice(0, -1),
]  # fmt: skip


def _slice_nodes(L):
    x = L.arange(12.0).reshape(3, 4).requires_grad_() * 1
    return [(x[k].grad_fn.name(), x[:, k].grad_fn.name()) for k in _WHOLE]


def test_whole_slice_node_names_as_torch():
    """torch skips a slice over a whole dim only as written from 0 (x[:, -4:] of 4 columns is
    still a SliceBackward0)."""
    torch = _torch()
    assert _slice_nodes(ember) == _slice_nodes(torch)
    assert _slice_nodes(ember)[3] == ("SliceBackward0", "SliceBackward0")
    assert _slice_nodes(ember)[5] == ("SliceBackward0", "AliasBackward0")


def _empty_chunks(L):
    x = L.zeros(0, 3, requires_grad=True) * 1
    return [
        [t.grad_fn.name() for t in x.chunk(2, 0)],
        [t.grad_fn.name() for t in x.chunk(2, 1)],
        [t.grad_fn.name() for t in x.unsafe_chunk(2, 0)],
    ]


def test_chunk_of_an_empty_dim_is_split_with_sizes_as_torch():
    torch = _torch()
    assert _empty_chunks(ember) == _empty_chunks(torch)
    assert _empty_chunks(ember)[0] == ["SplitWithSizesBackward0"] * 2


def _empty_no_grad_chain(L):
    got = []
    for n in (0, 1):
        h = L.arange(24.0).reshape(2, 3, 4).requires_grad_() * 1
        with L.no_grad():
            v = h.narrow(0, 1, n)
        u = v.unsqueeze(1)  # (a graph view of a view made under no_grad: empty or not)
        with L.no_grad():
            u.zero_()
        with pytest.raises(RuntimeError, match="is a view of a view which was created in no_grad"):
            u.movedim(0, 0)
        got.append(u._version)
    return got


def test_an_empty_view_of_a_no_grad_view_is_refused_after_a_write_as_torch():
    torch = _torch()
    assert _empty_no_grad_chain(ember) == _empty_no_grad_chain(torch) == [1, 1]
