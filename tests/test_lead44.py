"""Session 44's merge and review mends: bincount's overflow and weights checks, out= of a
product overlapping its operands, Tensor.unfold's error class, float16 rounding to inf."""

import threading
import warnings

import numpy as np
import pytest

import ember
from ember import _C


# ---- bincount ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call",
    [
        lambda: ember.bincount(ember.tensor([3, 2**63 - 1]), minlength=4),
        lambda: ember.bincount(ember.tensor([2**63 - 1])),
        lambda: ember.bincount(
            ember.tensor([2**63 - 1]), ember.tensor([1.0], dtype=ember.float64), minlength=4
        ),
    ],
)
def test_bincount_refuses_int64_max_as_torch(call):
    # (hi + 1 overflowed: the kernel wrote far outside its result)
    with pytest.raises(RuntimeError, match="maximum value of input overflowed"):
        call()


def test_bincount_largest_value_below_the_limit_is_counted():
    x = np.array([0, 5, 5, 2], np.int64)
    np.testing.assert_array_equal(ember.bincount(ember.tensor(x)).numpy(), np.bincount(x))


@pytest.mark.parametrize("weights", [5, [1.0, 2.0], (1.0, 2.0), "ab"])
def test_c_bincount_weights_must_be_an_array(weights):
    with pytest.raises(TypeError, match="weights must be a NumPy array or None"):
        _C.bincount(np.array([1, 2], np.int64), weights, 0)


def test_bincount_complex_weights_warn_and_take_the_real_part():
    torch = pytest.importorskip("torch")
    x, w = [0, 1, 1], [1 + 2j, 3j, 4 + 0j]
    with pytest.warns(UserWarning, match="discards the imaginary part"):
        got = ember.bincount(ember.tensor(x), ember.tensor(w))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = torch.bincount(torch.tensor(x), torch.tensor(w))
    assert str(got.dtype).endswith("float64") and want.dtype == torch.float64
    np.testing.assert_array_equal(got.numpy(), want.numpy())


# ---- randint draws without the GIL, its values still NumPy's -----------------------------------
def test_randint_from_threads_matches_numpy_streams():
    results = {}

    def draw(i):
        g = ember.Generator().manual_seed(i)
        results[i] = ember.randint(0, 1000, (200, 50), generator=g).numpy()

    threads = [threading.Thread(target=draw, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        g = ember.Generator().manual_seed(i)
        np.testing.assert_array_equal(
            results[i], ember.randint(0, 1000, (200, 50), generator=g).numpy()
        )


# ---- out= overlapping a product's operands: the product, computed first ----------------------
@pytest.mark.parametrize("name", ["mm", "matmul", "addmm"])
def test_product_into_a_part_of_its_operand(name):
    e = ember.arange(64.0).reshape(8, 8)
    a, b = e[:4].numpy().copy(), e.numpy().copy()
    want = a @ b + (1.0 if name == "addmm" else 0.0)
    if name == "addmm":
        ember.addmm(ember.ones(4, 8), e[:4], e, out=e[4:])
    else:
        getattr(ember, name)(e[:4], e, out=e[4:])
    # (torch 2.13 writes while it reads here: garbage; ember's result is the product)
    np.testing.assert_array_equal(e[4:].numpy(), want)
    np.testing.assert_array_equal(e[:4].numpy(), a)


def test_bmm_into_a_part_of_its_operand():
    e = ember.arange(128.0).reshape(2, 8, 8)
    a, b = e[:, :4].numpy().copy(), e.numpy().copy()
    ember.bmm(e[:, :4], e, out=e[:, 4:])
    np.testing.assert_array_equal(e[:, 4:].numpy(), a @ b)


def test_elementwise_out_overlapping_its_input_still_refused_as_torch():
    e = ember.arange(8.0)
    with pytest.raises(RuntimeError, match="memory location|overlap"):
        ember.add(e[:4], 1.0, out=e[2:6])


# ---- Tensor.unfold -----------------------------------------------------------------------------
@pytest.mark.parametrize("size, step", [(5, 1), (2, 0), (-1, 1)])
def test_unfold_refusals_are_torchs_runtime_error(size, step):
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError):
        torch.zeros(3).unfold(0, size, step)
    with pytest.raises(RuntimeError, match="unfold"):
        ember.zeros(3).unfold(0, size, step)


# ---- float16 rounding beyond its range ---------------------------------------------------------
@pytest.mark.parametrize("n", [2, 100000])  # NumPy's cast, and the _C.cast16 kernel
def test_half_of_a_float_beyond_its_range_is_inf_without_warning(n):
    x = np.full(n, 1.0, np.float32)
    x[0], x[1] = 70000.0, -1e30
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = ember.tensor(x).half().numpy()
    assert y[0] == np.inf and y[1] == -np.inf and (y[2:] == 1).all()
