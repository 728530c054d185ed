"""Hostile arguments straight at ember._C, found by a fork-isolated fuzz of every kernel entry.

Each case used to crash (segfault, abort), hang, read garbage or write wrong numbers; each must now
raise a clear error. Cases that crashed run in a subprocess so a regression is a failure, not a
dead pytest.
"""

import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember import _C


def run_isolated(code):
    """Run `code` (after importing numpy and ember._C) in a fresh interpreter; its result."""
    src = "import numpy as np\nfrom ember import _C\n" + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", src], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("c", ["5", "'x'", "(1, 2)", "[[1.0, 2.0], [3.0, 4.0]]"])
def test_gemm_output_that_is_not_an_array(c):
    # c was reinterpreted as an array without a check: a segfault for an int, SystemError for a str.
    r = run_isolated(f"""
        try:
            _C.gemm(np.ones((2, 2)), np.ones((2, 2)), {c})
        except TypeError as e:
            print("TypeError:", e)
        """)
    assert r.returncode == 0, r.stderr
    assert "TypeError: gemm: c must be a NumPy array or None" in r.stdout


@pytest.mark.parametrize("alias", ["a", "b"])
def test_gemm_output_overlapping_an_input(alias):
    # The blocked kernel overwrote C while still reading A (or B): silently wrong for 64 x 64.
    a, b = np.random.default_rng(0).random((2, 64, 64))
    with pytest.raises(ValueError, match=f"gemm: c overlaps the memory of {alias}"):
        _C.gemm(a, b, a if alias == "a" else b)
    with pytest.raises(ValueError, match="gemm: c overlaps"):
        buf = np.zeros((65, 64))
        _C.gemm(buf[1:], b, buf[:-1])
    c = np.zeros((64, 64))  # a separate output still works
    np.testing.assert_allclose(_C.gemm(a, b, c), a @ b)


def test_elementwise_outputs_may_alias_but_not_shift():
    x = np.linspace(-2, 2, 1001)
    expect = np.tanh(x)
    _C.activation_forward("tanh", x, out=x)  # the same array: fine, documented
    np.testing.assert_allclose(x, expect)
    buf = np.linspace(-2, 2, 1002)
    with pytest.raises(ValueError, match="activation_forward: out overlaps the memory of x"):
        _C.activation_forward("tanh", buf[:-1], out=buf[1:])  # read already-written values


def test_optimiser_buffers_may_alias_but_not_shift():
    p = np.ones(3)
    _C.sgd_step(p, None, p, 0.5)  # grad is the parameter itself: p -= 0.5 * p
    np.testing.assert_allclose(p, 0.5)
    buf = np.ones(10)
    with pytest.raises(ValueError, match="sgd_step: param overlaps the memory of grad"):
        _C.sgd_step(buf[1:], None, buf[:-1], 0.1)
    m = np.zeros(11)
    with pytest.raises(ValueError, match="adam_step: param overlaps the memory of exp_avg"):
        _C.adam_step(m[1:], m[:-1], np.zeros(10), None, np.ones(10), 0.1, 0.9, 0.99, 1e-8)


def test_batch_norm_running_stats_inside_the_input():
    x = np.arange(6.0)
    with pytest.raises(ValueError, match="batch_norm: running_mean overlaps the memory of input"):
        _C.batch_norm_forward(x.reshape(2, 3), None, None, x[:3], np.ones(3), True)


def test_polygamma_huge_order_is_refused_not_hung():
    # order 2**31 - 1 ran n! and an O(n^2) reflection per element (hang), or overflowed n + 2 in
    # a vector size inside an OpenMP region (abort).
    r = run_isolated("""
        for x in (np.ones(3), -np.full(3, 0.5, np.float32)):
            try:
                _C.special("polygamma", x, 2**31 - 1)
            except ValueError as e:
                print("ValueError:", e)
        """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("polygamma order must be <= 1000") == 2
    # Orders up to the cap keep PyTorch's values (+-inf beyond n = 170 for positive x).
    y = _C.special("polygamma", np.array([0.5, 3.0]), 171)
    assert np.isposinf(y).all()


def test_embedding_backward_takes_unpickled_int64_indices():
    # The dtype was compared by identity: "indices must be int64, got int64".
    idx = pickle.loads(pickle.dumps(np.array([0, 2, 2])))
    dw = _C.embedding_backward(idx, np.ones((3, 2)), 4)
    np.testing.assert_allclose(dw, [[1, 1], [0, 0], [2, 2], [0, 0]])


def test_huge_valid_sizes_raise_runtime_error_that_is_a_memory_error():
    # A valid but unallocatable size: PyTorch raises RuntimeError; NumPy's MemoryError was not one.
    assert issubclass(_C.OutOfMemoryError, RuntimeError)
    assert issubclass(_C.OutOfMemoryError, MemoryError)
    with pytest.raises(RuntimeError, match="Unable to allocate"):
        _C.gemm(np.zeros((2**20, 0), np.float32), np.zeros((0, 2**20), np.float32))
    with pytest.raises(RuntimeError, match="Unable to allocate"):
        _C.adaptive_avg_pool2d_forward(np.zeros((2, 3, 4, 4)), [2**31, 2**20])
    with pytest.raises(RuntimeError, match="Unable to allocate"):
        _C.embedding_backward(np.zeros(1, np.int64), np.ones((1, 3)), 2**40)


def test_matmul_batch_dims_zero_and_one_broadcast_to_zero():
    # The batch size was max(0, 1) = 1: (1, 5, M, N) products read from an empty operand.
    assert _C.matmul(np.zeros((0, 1, 2, 3)), np.zeros((5, 3, 4))).shape == (0, 5, 2, 4)
    assert _C.matmul(np.ones((1, 2, 3)), np.ones((0, 3, 4))).shape == (0, 2, 4)
    y = ember.matmul(ember.ones(0, 1, 64, 64), ember.ones(5, 64, 64))
    assert y.shape == (0, 5, 64, 64)


@pytest.mark.parametrize("dtype", [np.uint8, np.int64])
def test_sort_descending_of_unsigned_and_int_min(dtype):
    info = np.iinfo(dtype)
    a = np.array([[3, info.min, info.max, 7, 0]], dtype)
    expect = np.sort(a, axis=-1)[:, ::-1]  # -a wrapped: 0 (or int64's minimum) sorted first
    np.testing.assert_array_equal(
        ember.sort(ember.tensor(a), descending=True).values.numpy(), expect
    )
    np.testing.assert_array_equal(ember.topk(ember.tensor(a), 2).values.numpy(), expect[:, :2])


def test_matmul_of_float16_stays_float16():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).random((3, 4)).astype(np.float16)
    e = ember.tensor(x, requires_grad=True)
    y = ember.matmul(e, e.T)  # was float64
    y.sum().backward()
    t = torch.tensor(x, requires_grad=True)
    ty = t @ t.T
    ty.sum().backward()
    assert y.dtype == np.float16 and e.grad.dtype == np.float16
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-3)
    np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-3)


@pytest.mark.parametrize("shape", [(0, 4, 5), (3, 4, 0), (0, 4)])
def test_batch_norm_training_on_an_empty_batch(shape):
    # PyTorch refuses only one value per channel; an empty batch gives an empty output and
    # leaves the running statistics alone (ember refused it).
    rm, rv = ember.zeros(4), ember.ones(4)
    x = ember.zeros(*shape, requires_grad=True)
    w, b = ember.ones(4, requires_grad=True), ember.zeros(4, requires_grad=True)
    y = F.batch_norm(x, rm, rv, w, b, training=True)
    y.sum().backward()
    assert y.shape == shape and x.grad.shape == shape
    np.testing.assert_array_equal(w.grad.numpy(), 0)
    np.testing.assert_array_equal(b.grad.numpy(), 0)
    np.testing.assert_array_equal(rm.numpy(), 0)
    np.testing.assert_array_equal(rv.numpy(), 1)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(ember.zeros(1, 4), None, None, training=True)


@pytest.mark.parametrize("shape", [(0, 4, 5), (3, 0, 5), (3, 4, 0)])
@pytest.mark.parametrize(
    "f",
    [
        lambda x: F.group_norm(x, 2),
        lambda x: F.instance_norm(x),
        lambda x: F.layer_norm(x, x.shape[-1:]),
    ],
    ids=["group_norm", "instance_norm", "layer_norm"],
)
def test_norms_of_empty_inputs_forward_and_backward(shape, f):
    # reshape(-1, 0) failed, instance_norm counted its spatial size as 0, and layer_norm refused
    # a 0 in normalized_shape: PyTorch returns empty outputs for all of them.
    x = ember.zeros(*shape, requires_grad=True)
    y = f(x)
    y.sum().backward()
    assert y.shape == shape and x.grad.shape == shape


def test_set_num_threads_bad_arguments():
    n = ember.get_num_threads()
    try:
        with pytest.raises(TypeError, match="set_num_threads: n must be an int"):
            ember.set_num_threads("x")  # was ValueError; PyTorch: TypeError
        with pytest.raises(ValueError, match="set_num_threads: n must be >= 1"):
            ember.set_num_threads(-1)
        with pytest.raises(ValueError, match="set_num_threads: n must be >= 1"):
            _C.set_num_threads(0)
        ember.set_num_threads(10**20)  # was pybind11's "incompatible function arguments"
        assert ember.get_num_threads() == _C.omp_max_threads()
    finally:
        ember.set_num_threads(n)


@pytest.mark.parametrize(
    "make",
    [
        lambda: lambda x: ember.nn.MultiheadAttention(3, 1)(x, x, x)[0],
        lambda: ember.nn.TransformerEncoderLayer(3, 1, 8, dropout=0.0),
        lambda: lambda x: ember.nn.TransformerDecoderLayer(3, 1, 8, dropout=0.0)(x, x),
    ],
    ids=["mha", "encoder_layer", "decoder_layer"],
)
def test_attention_layers_on_an_empty_batch(make):
    # reshape(n, -1, heads, head_dim) cannot infer -1 when n is 0; PyTorch returns empty outputs.
    x = ember.zeros(4, 0, 3, requires_grad=True)
    y = make()(x)
    y.sum().backward()
    assert y.shape == (4, 0, 3) and x.grad.shape == (4, 0, 3)


def test_adaptive_max_pool_of_an_empty_batch():
    x = ember.zeros(0, 3, 4, 4, requires_grad=True)
    y = F.adaptive_max_pool2d(x, 2)
    y.sum().backward()
    assert y.shape == (0, 3, 2, 2) and x.grad.shape == (0, 3, 4, 4)


def test_depthwise_conv_with_a_huge_padded_plane():
    # Huge padding with a dilation that keeps the output 1 x 1: the stride-1 depthwise path
    # allocated a (2**29)**2 padded plane inside its OpenMP region, and the failed allocation
    # ended the process (std::terminate). Now it is allocated first and raises OutOfMemoryError.
    # (A channel multiplier of 2 keeps this on that engine: with multiplier 1 the masked-tap
    # engine computes it without a padded plane, below.)
    r = run_isolated("""
        p = 2**28
        x, w = np.ones((1, 2, 1, 1)), np.ones((4, 1, 2, 2))
        dy = np.ones((1, 4, 1, 1))
        for call in (lambda: _C.conv2d_forward(x, w, None, [1, 1], [p, p], [2 * p, 2 * p], 2),
                     lambda: _C.conv2d_backward(dy, x, w, [1, 1], [p, p], [2 * p, 2 * p], 2)):
            try:
                call()
            except RuntimeError as e:
                print(type(e).__name__, isinstance(e, MemoryError))
        """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["OutOfMemoryError", "True"] * 2


def test_depthwise_multiplier_one_with_huge_padding_reads_no_padding():
    # Every tap lands in the padding: the masked-tap engine reads nothing (no buffer as large as
    # the padding) and gives zero, torch's answer.
    p = 2**28
    x, w = np.ones((1, 2, 1, 1)), np.ones((2, 1, 2, 2))
    y = _C.conv2d_forward(x, w, None, [1, 1], [p, p, p, p], [2 * p, 2 * p], 2)
    dx, dw, _ = _C.conv2d_backward(np.ones_like(y), x, w, [1, 1], [p, p, p, p], [2 * p, 2 * p], 2)
    assert y.shape == (1, 2, 1, 1) and not y.any() and not dx.any() and not dw.any()
