"""Crashes, hangs, memory blow-ups and silently wrong numbers found by a fork-isolated fuzz of
every ember._C entry (recorded real calls, one argument at a time made hostile) and of the
public API. Each case now raises a clear error (or, where PyTorch computes, computes)."""

import io
import pickle
import subprocess
import sys
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember import _C


def test_concat_of_a_huge_broadcast_view_raises_out_of_memory():
    # The contiguous copy of a (3, 2**40) zero-stride view failed inside py::array::ensure, which
    # returns a null array: concat dereferenced it (segfault). linalg.vander(x, N=2**40) got
    # there through cat([ones, x.expand(..., N - 1)]).
    huge = np.broadcast_to(np.ones((3, 1)), (3, 2**40))
    with pytest.raises(MemoryError, match="Unable to allocate"):
        _C.concat([np.ones((3, 1)), huge], 1)
    with pytest.raises(MemoryError):
        ember.linalg.vander(ember.ones(3), N=2**40)
    # a (small) non-contiguous input is still copied and concatenated
    x = np.arange(12.0).reshape(3, 4)
    y, sizes = _C.concat([x[:, ::2], x.T[:2].T], 1)
    np.testing.assert_array_equal(y, np.concatenate([x[:, ::2], x[:, :2]], 1))
    assert list(sizes) == [2, 2]


def test_pad_with_a_huge_padding_fails_before_building_its_maps():
    # pad_constant built an index map as long as the padded dim (2**40 entries) before it
    # allocated the output: gigabytes written, then std::bad_alloc (or the machine's memory).
    x = np.ones((2, 3), np.float32)
    with pytest.raises(MemoryError):
        _C.pad_constant(x, [(0, 0), (2**40, 0)])
    with pytest.raises(MemoryError):
        F.pad(ember.ones(2, 3, 8, 8), (2**40, 0))
    # an empty result needs no map at all, however long its other dims
    y = _C.pad_constant(np.ones((0, 3)), [(0, 0), (2**40, 0)])
    assert y.shape == (0, 2**40 + 3)
    np.testing.assert_array_equal(
        _C.pad_constant(x, [(1, -1), (0, 2)], 5.0),
        np.pad(x, ((1, 0), (0, 2)), constant_values=5)[:2],
    )


@pytest.mark.parametrize("step", ["sgd", "adam", "rmsprop", "adagrad", "adadelta", "asgd", "three"])
def test_optimiser_buffers_must_not_overlap_each_other(step):
    # param was checked against each buffer, the buffers not against each other: exp_avg and
    # exp_avg_sq as shifted views of one array updated silently to garbage.
    buf, p, g = np.zeros(11), np.ones(10), np.ones(10)
    a, b = buf[1:], buf[:-1]
    calls = {
        "sgd": lambda: _C.sgd_step(p, a, b, 0.1, 0.9),
        "adam": lambda: _C.adam_step(p, a, b, None, g, 0.1, 0.9, 0.99, 1e-8),
        "rmsprop": lambda: _C.rmsprop_step(p, a, None, None, b, 0.1, 0.99, 1e-8),
        "adagrad": lambda: _C.adagrad_step(p, a, b, 0.1, 1e-10),
        "adadelta": lambda: _C.adadelta_step(p, a, b, g, 1.0, 0.9, 1e-6),
        "asgd": lambda: _C.asgd_step(p, a, b, 0.1, 1e-4, 1.0),
        "three": lambda: _C.radam_step(p, a, b, g, 0.1, 0.9, 0.99, 1e-8),
    }
    with pytest.raises(ValueError, match="overlaps the memory of"):
        calls[step]()
    # one array as two buffers is allowed (each element is read before it is written)
    m = np.zeros(10)
    _C.adam_step(p, m, np.zeros(10), None, g, 0.1, 0.9, 0.99, 1e-8)
    _C.sgd_step(p, m, m, 0.1, 0.9)


def test_permute_refuses_dims_out_of_range_as_torch():
    # dims were taken modulo ndim: permute(0, 5) of a 2-D tensor returned it unchanged.
    x = ember.ones(3, 4)
    with pytest.raises(IndexError, match="permute: dim 5 is out of range"):
        x.permute(0, 5)
    with pytest.raises(IndexError, match="permute"):
        ember.permute(x, (-3, 0))
    assert x.permute(-1, 0).shape == (4, 3)


@pytest.mark.parametrize("fn", ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft"])
def test_one_dim_fft_refuses_n_minus_one_as_torch(fn):
    # n=-1 was read as fftn's "keep this size": a silent transform of the unpadded signal.
    with pytest.raises(ValueError, match=rf"{fn}: invalid number of data points \(-1\)"):
        getattr(ember.fft, fn)(ember.ones(4), n=-1)
    assert ember.fft.fftn(ember.ones(4), s=(-1,)).shape == (4,)  # fftn's -1 still keeps


@pytest.mark.parametrize(
    "make",
    [
        lambda p: ember.optim.Adam(p, lr=float("nan")),
        lambda p: ember.optim.Adam(p, eps=float("nan")),
        lambda p: ember.optim.AdamW(p, lr=float("nan")),
        lambda p: ember.optim.RMSprop(p, lr=float("nan")),
        lambda p: ember.optim.Adagrad(p, eps=float("nan")),
    ],
)
def test_optimisers_refuse_nan_hyperparameters(make):
    # `v < 0` let NaN through: every parameter became NaN at the first step, without a word.
    with pytest.raises(ValueError, match="Invalid .*: nan"):
        make([ember.nn.Parameter(ember.ones(3))])


def test_gradcheck_fails_on_nan_and_refuses_a_bad_eps():
    x = ember.ones(3, dtype=ember.float64, requires_grad=True)
    # |a - n| > tol is False for NaN: a NaN gradient passed
    with pytest.raises(RuntimeError, match="gradcheck"):
        ember.autograd.gradcheck(lambda t: t * float("nan"), (x,))
    assert not ember.autograd.gradcheck(lambda t: t * float("nan"), (x,), raise_exception=False)
    for eps in (0.0, -1e-6, float("nan"), float("inf")):  # 0 was ZeroDivisionError, NaN passed
        with pytest.raises(ValueError, match="gradcheck: eps must be a positive finite number"):
            ember.autograd.gradcheck(lambda t: t * 2, (x,), eps=eps)
    assert ember.autograd.gradcheck(lambda t: t * 2, (x,))


def test_combinations_too_many_is_a_memory_error_at_once():
    # 4096 choose 3 (1.1e10 rows) built a Python list of tuples: minutes, then all the memory.
    with pytest.raises(MemoryError):
        ember.combinations(ember.ones(2**12), 3)
    c = ember.combinations(ember.arange(4), 2, with_replacement=True)
    assert c.shape == (10, 2) and c.numpy()[-1].tolist() == [3, 3]


def test_set_num_interop_threads_refuses_non_positive_as_torch():
    with pytest.raises(ValueError, match="set_num_interop_threads: n must be >= 1"):
        ember.set_num_interop_threads(0)
    with pytest.raises(TypeError, match="set_num_interop_threads"):
        ember.set_num_interop_threads(1.5)


@pytest.mark.parametrize("value", ["99999999999", "garbage", "0", "-3"])
def test_omp_num_threads_garbage_is_ignored_as_torch(value):
    # libgomp reads 99999999999 as 1215752191 threads: an exp of 10^8 floats took 43 s
    # starting hundreds of threads. Like PyTorch, ember then uses at most the processor count.
    code = (
        "import os, ember; n = ember.get_num_threads(); "
        "assert 1 <= n <= os.cpu_count(), n; "
        "x = ember.ones(2**20); assert float(ember.exp(x).sum()) > 0; print(n)"
    )
    env = {"OMP_NUM_THREADS": value, "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr


def _torch_file(offset, size, stride, numel=4):
    """A torch.save zip whose one tensor has the given storage offset, size and stride."""
    torch = pytest.importorskip("torch")

    class Storage:
        pass

    storage = Storage()

    class Rebuild:
        def __reduce__(self):
            return (
                torch._utils._rebuild_tensor_v2,
                (storage, offset, size, stride, False, OrderedDict()),
            )

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", torch.FloatStorage, "0", "cpu", numel) if obj is storage else None

    data = io.BytesIO()
    Pickler(data, protocol=2).dump(Rebuild())
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("archive/data.pkl", data.getvalue())
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/data/0", np.arange(numel, dtype="<f4").tobytes())
    return out.getvalue()


@pytest.mark.parametrize(
    "offset,size,stride",
    [(-1, (100,), (1,)), (3, (4,), (-1,)), (0, (-2,), (1,)), (0, (2, 2), (1,)), (1.5, (2,), (1,))],
)
def test_torch_file_with_a_view_outside_its_storage_is_refused(offset, size, stride):
    # A negative offset or stride passed the "reaches past the end" check and the view read
    # memory outside the storage (garbage or a crash).
    with pytest.raises(pickle.UnpicklingError, match="does not fit its storage"):
        ember.load(io.BytesIO(_torch_file(offset, size, stride)))
    t = ember.load(io.BytesIO(_torch_file(1, (2,), (2,))))  # a valid strided view still loads
    np.testing.assert_array_equal(t.numpy(), [1.0, 3.0])


def test_repeat_refuses_negative_counts_as_torch():
    # expand read a -1 count as "keep this size": repeat(-1, 1) of a (1, 4) tensor returned it.
    with pytest.raises(ValueError, match=r"repeat: negative repeat count in \(-1, 1\)"):
        ember.ones(1, 4).repeat(-1, 1)
    with pytest.raises(ValueError, match="repeat"):
        ember.tile(ember.ones(1, 4), (-1,))
    assert ember.ones(1, 4).repeat(0, 2).shape == (0, 8)


# Empty arrays whose other dims multiply to 2^56 take no memory, but kernels looped over those
# dims (hours), or sized per-thread buffers by them (std::bad_alloc in a parallel region: abort).
# Each now returns its empty (or zero) result at once.
def test_selection_of_empty_rows_with_huge_dims():
    assert _C.sort_indices(np.zeros((2**56, 0)), False).shape == (2**56, 0)
    assert _C.sort_indices(np.zeros((0, 2**56)), True).shape == (0, 2**56)
    assert _C.kthvalue_indices(np.zeros((0, 2**56)), 3).shape == (0,)
    assert _C.mode_indices(np.zeros((0, 2**56))).shape == (0,)
    np.testing.assert_array_equal(_C.sort_indices(np.array([[3.0, 1.0, 2.0]]), False), [[1, 2, 0]])


def test_matmul_with_an_empty_output_and_huge_batch():
    assert _C.matmul(np.zeros((2**28, 2**28, 0, 4)), np.zeros((4, 2))).shape == (2**28, 2**28, 0, 2)
    assert _C.matmul(np.zeros((2**20, 2**20, 4, 0)), np.zeros((0, 0))).shape == (2**20, 2**20, 4, 0)
    np.testing.assert_array_equal(_C.matmul(np.zeros((2, 3, 0)), np.zeros((0, 4))), 0)


def test_gather_axis_with_nothing_to_write():
    x = np.zeros((2**19, 2**19, 2**19, 0))
    idx = np.zeros((1, 3), np.int64)
    assert _C.gather_axis_forward(x, 0, idx).shape == (3, 2**19, 2**19, 0)
    many_taps = np.zeros((2**56, 0), np.int64)
    assert _C.gather_axis_forward(np.ones((4, 5)), 1, many_taps).shape == (4, 0)
    dx = _C.gather_axis_backward(np.zeros((4, 0, 4)), 1, many_taps, None, 5)
    assert dx.shape == (4, 5, 4) and not dx.any()


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_recurrent_layers_on_an_empty_batch_of_huge_length(cell):
    T, I, H = 2**40, 3, 4
    x = np.zeros((T, 0, I))
    G = {"lstm": 4, "gru": 3, "rnn": 1}[cell]
    w_ih, w_hh, h0 = np.ones((G * H, I)), np.ones((G * H, H)), np.zeros((0, H))
    b = np.ones(G * H)
    if cell == "lstm":
        out = _C.lstm_forward(x, h0, h0, w_ih, w_hh, b, b, None, False, None)
        grads = _C.lstm_backward(None, None, None, x, h0, h0, w_ih, w_hh, True, None, False,
                                 *out[:1], *out[3:5], None, None)  # fmt: skip
    elif cell == "gru":
        out = _C.gru_forward(x, h0, w_ih, w_hh, b, b, None, False)
        grads = _C.gru_backward(
            None, None, x, h0, w_ih, w_hh, True, None, False, *out[:1], *out[2:]
        )
    else:
        out = _C.rnn_forward(x, h0, w_ih, w_hh, b, b, None, False, "tanh")
        grads = _C.rnn_backward(None, None, x, h0, w_ih, w_hh, True, None, False, "tanh", out[0])
    assert out[0].shape[:2] == (T, 0)
    for g in grads:
        if g is not None and g.size:
            assert not g.any()  # the weight gradients of no samples: zeros


def test_batch_norm_eval_of_an_empty_batch_of_huge_length():
    # eval walked the N = 2^40 empty images of each channel
    x, rm, rv = np.zeros((2**40, 4, 0)), np.zeros(4), np.full(4, 3.0)
    y, mean, invstd = _C.batch_norm_forward(x, None, None, rm, rv, False)
    assert y.shape == x.shape
    np.testing.assert_allclose(invstd, 1 / np.sqrt(3.0 + 1e-5))
    dx, dw, db = _C.batch_norm_backward(x, x, np.ones(4), mean, invstd, False)
    assert dx.shape == x.shape and not dw.any() and not db.any()
