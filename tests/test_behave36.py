"""behave36: ember takes and refuses Python numbers where torch 2.13 does (one boundary check,
_keywords.TENSOR_ONLY), max/min's Tensor dims, out= overlapping an input per op family, torch's
argument names in operand errors and the strides of empty views, each against torch."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")

_ARRAYS = {
    "f": lambda: np.array([[2.0, 0.3, 0.1], [0.3, 1.5, 0.2], [0.1, 0.2, 1.8]]),
    "v": lambda: np.array([0.5, 0.25, 0.75]),
    "i": lambda: np.array([[2, 1, 3], [1, 0, 2], [3, 2, 1]], np.int64),
    "b": lambda: np.array([[True, False, True], [False, True, True], [True, True, False]]),
    "j": lambda: np.array([0, 2], np.int64),
    "s": lambda: np.array(0.5),
    "3": lambda: np.arange(18.0).reshape(2, 3, 3) / 10 + 1,
    "r": lambda: np.ones((2, 3)) / 4,
}
_KINDS = {"T": None, "F": "f", "V": "v", "I": "i", "J": "j", "S": "s", "3": "3", "R": "r", "B": "b"}

# Calls torch accepts with tensors ("name pattern kind position"): a pattern's T is a tensor of
# the kind (f float matrix, v vector, i int64, b bool), F/V/I/J/S/3/R fixed tensors, others
# literals. The survey (a number in each tensor position of every torch-named function and
# method) found ember taking a number at these positions where torch refuses it:
REFUSED = """
Tensor.arctan2 T,T f 1
Tensor.arctan2_ T,T f 1
Tensor.atan2 T,T f 1
Tensor.atan2_ T,T f 1
Tensor.equal T,T f 1
Tensor.hypot T,T f 1
Tensor.hypot_ T,T f 1
Tensor.index_fill F,0,J,1.5 f 2
Tensor.index_fill_ F,0,J,1.5 f 2
Tensor.index_select F,0,J f 2
Tensor.inner T,T f 1
Tensor.kron T,T f 1
Tensor.lerp_ T,T,T f 1
Tensor.logaddexp T,T f 1
Tensor.logaddexp2 T,T f 1
Tensor.logical_and T,T f 1
Tensor.logical_and_ T,T f 1
Tensor.logical_or T,T f 1
Tensor.logical_or_ T,T f 1
Tensor.logical_xor T,T f 1
Tensor.logical_xor_ T,T f 1
Tensor.prelu F,V f 1
Tensor.take T,T i 1
Tensor.take_along_dim T,T i 1
Tensor.where T,T,T b 1
abs T f 0
absolute T f 0
acos T f 0
acosh T f 0
addbmm F,3,3 f 0
addmm T,T,T f 0
addmv V,F,V f 0
addr T,T,T v 0
alias_copy T f 0
all T f 0
amax T f 0
amin T f 0
aminmax T f 0
angle T f 0
any T f 0
arccos T f 0
arccosh T f 0
arcsin T f 0
arcsinh T f 0
arctan T f 0
arctan2 T,T f 0
arctan2 T,T f 1
arctanh T f 0
argmax T f 0
argmin T f 0
argsort T f 0
argwhere T f 0
asin T f 0
asinh T f 0
atan T f 0
atan2 T,T f 0
atan2 T,T f 1
atanh T f 0
atleast_1d T f 0
atleast_2d T f 0
atleast_3d T f 0
baddbmm F,3,3 f 0
bitwise_not T i 0
block_diag T f 0
broadcast_tensors T f 0
broadcast_to T,(3,3) f 0
cartesian_prod T v 0
ceil T f 0
celu T f 0
clamp T,T f 0
clamp_max T,T f 0
clamp_min T,T f 0
clip T,T f 0
clone T f 0
conj T f 0
conj_physical T f 0
copysign T,T f 0
corrcoef T f 0
cos T f 0
cosh T f 0
cosine_similarity T,T f 0
cosine_similarity T,T f 1
count_nonzero T f 0
cov T f 0
deg2rad T f 0
detach T f 0
detach_copy T f 0
diagflat T f 0
digamma T f 0
eq T,T f 0
equal T,T f 0
equal T,T f 1
erf T f 0
erfc T f 0
erfinv T f 0
exp T f 0
exp2 T f 0
expm1 T f 0
fill T,1 f 0
fix T f 0
flatten T f 0
floor T f 0
ge T,T f 0
get_device T f 0
gradient T f 0
greater T,T f 0
greater_equal T,T f 0
gt T,T f 0
hardshrink T f 0
hinge_embedding_loss T,T f 0
hinge_embedding_loss T,T f 1
hypot T,T f 0
hypot T,T f 1
i0 T f 0
index_fill F,0,J,1.5 f 2
index_select F,0,J f 2
inner T,T f 0
inner T,T f 1
is_complex T f 0
is_conj T f 0
is_floating_point T f 0
is_neg T f 0
is_nonzero S f 0
is_same_size T,T f 0
is_same_size T,T f 1
is_signed T f 0
isfinite T f 0
isinf T f 0
isnan T f 0
isneginf T f 0
isposinf T f 0
isreal T f 0
kl_div T,T f 0
kl_div T,T f 1
kron T,T f 0
kron T,T f 1
kthvalue T,1 f 0
le T,T f 0
lerp T,T,T f 0
less T,T f 0
less_equal T,T f 0
lgamma T f 0
log T f 0
log10 T f 0
log1p T f 0
log2 T f 0
logaddexp T,T f 0
logaddexp T,T f 1
logaddexp2 T,T f 0
logaddexp2 T,T f 1
logical_and T,T f 0
logical_and T,T f 1
logical_not T f 0
logical_or T,T f 0
logical_or T,T f 1
logical_xor T,T f 0
logical_xor T,T f 1
logit T f 0
lt T,T f 0
masked_fill T,T,1 b 0
masked_select T,T b 0
max T f 0
median T f 0
meshgrid T v 0
min T f 0
mode T f 0
msort T f 0
mvlgamma T,1 f 0
nan_to_num T f 0
nanmedian T f 0
nansum T f 0
ne T,T f 0
neg T f 0
negative T f 0
nonzero T f 0
not_equal T,T f 0
pairwise_distance T,T f 0
pairwise_distance T,T f 1
polygamma 1,T f 1
positive T f 0
prelu F,V f 1
prod T f 0
rad2deg T f 0
ravel T f 0
real T f 0
reciprocal T f 0
relu T f 0
repeat_interleave T,1 f 0
resolve_conj T f 0
resolve_neg T f 0
roll T,1 f 0
round T f 0
rrelu T f 0
rsqrt T f 0
rsub T,T f 0
selu T f 0
sgn T f 0
sigmoid T f 0
sign T f 0
signbit T f 0
sin T f 0
sinc T f 0
sinh T f 0
sort T f 0
special.airy_ai T f 0
special.bessel_j0 T f 0
special.bessel_j1 T f 0
special.bessel_y0 T f 0
special.bessel_y1 T f 0
special.digamma T f 0
special.entr T f 0
special.erf T f 0
special.erfc T f 0
special.erfcx T f 0
special.erfinv T f 0
special.exp2 T f 0
special.expit T f 0
special.expm1 T f 0
special.gammaln T f 0
special.i0 T f 0
special.i0e T f 0
special.i1 T f 0
special.i1e T f 0
special.log1p T f 0
special.log_ndtr T f 0
special.logit T f 0
special.modified_bessel_i0 T f 0
special.modified_bessel_i1 T f 0
special.modified_bessel_k0 T f 0
special.modified_bessel_k1 T f 0
special.multigammaln T,1 f 0
special.ndtr T f 0
special.ndtri T f 0
special.polygamma 1,T f 1
special.psi T f 0
special.round T f 0
special.scaled_modified_bessel_k0 T f 0
special.scaled_modified_bessel_k1 T f 0
special.sinc T f 0
special.spherical_bessel_j0 T f 0
sqrt T f 0
square T f 0
squeeze T f 0
squeeze_copy T f 0
sum T f 0
t T f 0
t_copy T f 0
take T,T i 1
take_along_dim T,T i 1
tan T f 0
tanh T f 0
threshold T,0,1 f 0
tile T,[0,1] f 0
topk T,1 f 0
trunc T f 0
unfold_copy T,0,0,1 f 0
unique T f 0
unique_consecutive T f 0
where T f 0
""".strip().splitlines()

# ... and these, where torch takes a number (its Scalar overloads): kept
ACCEPTED = """
Tensor.add T,T f 1
Tensor.add_ T,T f 1
Tensor.bitwise_and T,T i 1
Tensor.bitwise_and_ T,T i 1
Tensor.bitwise_left_shift T,T i 1
Tensor.bitwise_left_shift_ T,T i 1
Tensor.bitwise_or T,T i 1
Tensor.bitwise_or_ T,T i 1
Tensor.bitwise_right_shift T,T i 1
Tensor.bitwise_right_shift_ T,T i 1
Tensor.bitwise_xor T,T i 1
Tensor.bitwise_xor_ T,T i 1
Tensor.clamp T,T f 1
Tensor.clamp_ T,T f 1
Tensor.clamp_max T,T f 1
Tensor.clamp_max_ T,T f 1
Tensor.clamp_min T,T f 1
Tensor.clamp_min_ T,T f 1
Tensor.clip T,T f 1
Tensor.clip_ T,T f 1
Tensor.copy_ T,T f 1
Tensor.copysign T,T f 1
Tensor.copysign_ T,T f 1
Tensor.div T,T f 1
Tensor.div_ T,T f 1
Tensor.divide T,T f 1
Tensor.divide_ T,T f 1
Tensor.eq T,T f 1
Tensor.eq_ T,T f 1
Tensor.float_power T,T f 1
Tensor.float_power_ T,T f 1
Tensor.floor_divide T,T f 1
Tensor.floor_divide_ T,T f 1
Tensor.fmod T,T f 1
Tensor.fmod_ T,T f 1
Tensor.ge T,T f 1
Tensor.ge_ T,T f 1
Tensor.greater T,T f 1
Tensor.greater_ T,T f 1
Tensor.greater_equal T,T f 1
Tensor.greater_equal_ T,T f 1
Tensor.gt T,T f 1
Tensor.gt_ T,T f 1
Tensor.le T,T f 1
Tensor.le_ T,T f 1
Tensor.lerp T,T,T f 2
Tensor.lerp_ T,T,T f 2
Tensor.less T,T f 1
Tensor.less_ T,T f 1
Tensor.less_equal T,T f 1
Tensor.less_equal_ T,T f 1
Tensor.lt T,T f 1
Tensor.lt_ T,T f 1
Tensor.mul T,T f 1
Tensor.mul_ T,T f 1
Tensor.multiply T,T f 1
Tensor.multiply_ T,T f 1
Tensor.ne T,T f 1
Tensor.ne_ T,T f 1
Tensor.not_equal T,T f 1
Tensor.not_equal_ T,T f 1
Tensor.pow T,T f 1
Tensor.pow_ T,T f 1
Tensor.remainder T,T f 1
Tensor.remainder_ T,T f 1
Tensor.sub T,T f 1
Tensor.sub_ T,T f 1
Tensor.subtract T,T f 1
Tensor.subtract_ T,T f 1
Tensor.true_divide T,T f 1
Tensor.true_divide_ T,T f 1
Tensor.where T,T,T b 2
Tensor.xlogy T,T f 1
Tensor.xlogy_ T,T f 1
add T,T f 0
add T,T f 1
bitwise_and T,T i 0
bitwise_and T,T i 1
bitwise_left_shift T,T i 0
bitwise_left_shift T,T i 1
bitwise_or T,T i 0
bitwise_or T,T i 1
bitwise_right_shift T,T i 0
bitwise_right_shift T,T i 1
bitwise_xor T,T i 0
bitwise_xor T,T i 1
bucketize T,T v 0
clamp T,T f 1
clamp_ T,T f 1
clamp_max T,T f 1
clamp_max_ T,T f 1
clamp_min T,T f 1
clamp_min_ T,T f 1
clip T,T f 1
clip_ T,T f 1
copysign T,T f 1
div T,T f 0
div T,T f 1
divide T,T f 0
divide T,T f 1
eq T,T f 1
float_power T,T f 0
float_power T,T f 1
floor_divide T,T f 0
floor_divide T,T f 1
fmod T,T f 1
ge T,T f 1
greater T,T f 1
greater_equal T,T f 1
gt T,T f 1
isin T,T f 0
isin T,T f 1
le T,T f 1
lerp T,T,T f 2
less T,T f 1
less_equal T,T f 1
lt T,T f 1
mul T,T f 0
mul T,T f 1
multiply T,T f 0
multiply T,T f 1
ne T,T f 1
not_equal T,T f 1
pow T,T f 0
pow T,T f 1
remainder T,T f 0
remainder T,T f 1
result_type T,T f 0
result_type T,T f 1
rsub T,T f 1
special.chebyshev_polynomial_t T,T f 0
special.chebyshev_polynomial_t T,T f 1
special.chebyshev_polynomial_u T,T f 0
special.chebyshev_polynomial_u T,T f 1
special.chebyshev_polynomial_v T,T f 0
special.chebyshev_polynomial_v T,T f 1
special.chebyshev_polynomial_w T,T f 0
special.chebyshev_polynomial_w T,T f 1
special.hermite_polynomial_h T,T f 0
special.hermite_polynomial_h T,T f 1
special.hermite_polynomial_he T,T f 0
special.hermite_polynomial_he T,T f 1
special.laguerre_polynomial_l T,T f 0
special.laguerre_polynomial_l T,T f 1
special.legendre_polynomial_p T,T f 0
special.legendre_polynomial_p T,T f 1
special.shifted_chebyshev_polynomial_t T,T f 0
special.shifted_chebyshev_polynomial_t T,T f 1
special.shifted_chebyshev_polynomial_u T,T f 0
special.shifted_chebyshev_polynomial_u T,T f 1
special.shifted_chebyshev_polynomial_v T,T f 0
special.shifted_chebyshev_polynomial_v T,T f 1
special.shifted_chebyshev_polynomial_w T,T f 0
special.shifted_chebyshev_polynomial_w T,T f 1
special.xlog1py T,T f 0
special.xlog1py T,T f 1
special.xlogy T,T f 0
special.xlogy T,T f 1
special.zeta T,T f 0
special.zeta T,T f 1
sub T,T f 0
sub T,T f 1
subtract T,T f 0
subtract T,T f 1
sym_float S f 0
sym_int S f 0
sym_not S f 0
sym_sqrt S f 0
true_divide T,T f 0
true_divide T,T f 1
xlogy T,T f 0
xlogy T,T f 1
xlogy_ T,T f 1
""".strip().splitlines()


def _arg(lib, token: str, kind: str):
    if token in _KINDS:
        return lib.tensor(_ARRAYS[_KINDS[token] or kind]())
    return eval(token)  # noqa: S307 (the table's literals: 1, 0.5, (3, 3), [0, 1])


def _call(lib, case: str, number):
    name, pattern, kind, pos = case.split()
    tokens = pattern.replace("(3,3)", "(3;3)").replace("[0,1]", "[0;1]").split(",")
    tokens = [t.replace(";", ",") for t in tokens]
    args = [number if i == int(pos) else _arg(lib, t, kind) for i, t in enumerate(tokens)]
    if name.startswith("Tensor."):
        return getattr(args[0], name[7:])(*args[1:])
    module, _, short = name.rpartition(".")
    return getattr(getattr(lib, module) if module else lib, short)(*args)


def _outcome(lib, case, number):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return _call(lib, case, number), None
        except Exception as e:  # noqa: BLE001 (the exception's family is compared)
            return None, e


def _same_values(a, b):
    if isinstance(a, tuple | list):
        assert isinstance(b, tuple | list) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same_values(x, y)
    elif isinstance(a, ember.Tensor):
        assert str(a.dtype) == str(b.dtype).removeprefix("torch."), (a.dtype, b.dtype)
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-12, equal_nan=True)
    else:
        assert str(a).removeprefix("torch.") == str(b).removeprefix("torch."), (a, b)


@pytest.mark.parametrize("number", [2, 0.5])
@pytest.mark.parametrize("case", REFUSED)
def test_numbers_refused_by_torch_are_0d_tensors(case, number):
    # (behave37: design.md section 4 takes Python numbers as inputs: where torch refuses one,
    # ember takes it as torch's 0-d tensor of it, with torch's result for that tensor)
    _, terr = _outcome(torch, case, number)
    assert isinstance(terr, TypeError | AttributeError), case  # (torch.norm: AttributeError)
    eval_, eerr = _outcome(ember, case, number)
    if case.split()[0] in _ZERO_D_DIFFERS:  # (ember's op differs from torch's for 0-d inputs)
        tval, terr = _outcome(ember, case, ember.tensor(number))
    else:
        tval, terr = _outcome(torch, case, torch.tensor(number))
    if terr is not None:  # (the op's own rules refuse a 0-d operand there): alike
        assert eerr is not None and _family(eerr) & _family(terr), (case, terr, eerr)
        return
    assert eerr is None, (case, eerr)
    _same_values(eval_, tval)


# ops whose own handling of a 0-d operand differs from torch's (not the number's reading):
# index dtype errors' family, addmm-style dtype mixes ember promotes, cartesian_prod of a 0-d
# tensor, special.round of int64, the losses' broadcasting of a 0-d input. For these the number
# must act as ember.tensor(number) does.
_ZERO_D_DIFFERS = frozenset(
    """
Tensor.index_fill Tensor.index_fill_ Tensor.index_select Tensor.take Tensor.take_along_dim
index_fill index_select take take_along_dim addbmm addmm addmv baddbmm bitwise_not
cartesian_prod hinge_embedding_loss kl_div special.round
""".split()
)


def _family(e) -> set:
    return {c for c in (TypeError, ValueError, RuntimeError, IndexError) if isinstance(e, c)}


@pytest.mark.parametrize("number", [2, 0.5])
@pytest.mark.parametrize("case", ACCEPTED)
def test_numbers_taken_where_torch_takes_them(case, number):
    tval, terr = _outcome(torch, case, number)
    eval_, eerr = _outcome(ember, case, number)
    if terr is not None:  # (0.5 into an int op, ...): refused alike
        assert eerr is not None and isinstance(eerr, type(terr).__mro__[0:1] + (TypeError,)), (
            case,
            terr,
            eerr,
        )
        return
    assert eerr is None, (case, eerr)
    _same_values(eval_, tval)


def test_tensor_only_checks_keep_signatures_and_keywords():
    a, b = np.array([0.5, -1.0, 2.0]), np.array([1.0, 2.0, -0.5])
    assert list(inspect.signature(ember.atan2).parameters)[:2] == ["input", "other"]
    got = ember.atan2(input=ember.tensor(a), other=ember.tensor(b))
    np.testing.assert_allclose(got.numpy(), torch.atan2(torch.tensor(a), torch.tensor(b)))
    for lib in (ember, torch):  # torch's message: the argument's name and position
        with pytest.raises(TypeError, match=r"atan2\(\): argument 'other' \(position 2\)"):
            lib.atan2(lib.tensor(a), [2.0])
        with pytest.raises(TypeError, match=r"argument 'other' \(position 1\)"):
            lib.tensor(a).atan2("2")
        with pytest.raises(TypeError, match=r"expected Tensor as element 1"):
            lib.broadcast_tensors(lib.tensor(a), [2.0])
    # a number is the 0-d tensor (design.md section 4), torch's result for torch.tensor(2.0)
    got, ref = ember.atan2(ember.tensor(a), 2.0), torch.atan2(torch.tensor(a), torch.tensor(2.0))
    np.testing.assert_allclose(got.numpy(), ref.numpy())
    assert str(got.dtype) == str(ref.dtype).removeprefix("torch.")
    # NumPy arrays stay operands (ember's reading of them as tensors), out= still works
    np.testing.assert_allclose(ember.atan2(a, ember.tensor(b)).numpy(), np.arctan2(a, b))
    out = ember.empty(3, dtype=ember.float64)
    assert ember.atan2(ember.tensor(a), ember.tensor(b), out=out) is out
    np.testing.assert_allclose(out.numpy(), np.arctan2(a, b))


def test_addr_on_bool_tensors_still_works():
    rng = np.random.default_rng(0)
    v1, v2, m = rng.random(3) > 0.5, rng.random(4) > 0.5, rng.random((3, 4)) > 0.5
    got = ember.addr(ember.tensor(m), ember.tensor(v1), ember.tensor(v2), beta=False, alpha=True)
    ref = torch.addr(torch.tensor(m), torch.tensor(v1), torch.tensor(v2), beta=False, alpha=True)
    np.testing.assert_array_equal(got.numpy(), ref.numpy())
    got = ember.addr(ember.tensor(m), ember.tensor(v1), ember.tensor(v2))
    ref = torch.addr(torch.tensor(m), torch.tensor(v1), torch.tensor(v2))
    np.testing.assert_array_equal(got.numpy(), ref.numpy())


def test_operand_errors_name_torchs_argument():
    t = [1.0, -2.0]
    calls = [
        (lambda L, x: L.abs(t), "input"),
        (lambda L, x: L.neg(t), "input"),
        (lambda L, x: L.add(t, x), "input"),
        (lambda L, x: L.mul(t, x), "input"),
        (lambda L, x: L.div(t, x), "input"),
        (lambda L, x: L.add(x, t), "other"),
        (lambda L, x: L.sigmoid(t), "input"),
    ]
    for lib in (ember, torch):
        for call, arg in calls:
            with pytest.raises(TypeError, match=f"argument '{arg}'"):
                call(lib, lib.ones(2))


_MAX_CALLS = [
    lambda L, x, T: L.max(x, T(1)),  # (input, other): elementwise
    lambda L, x, T: L.min(x, T(1)),
    lambda L, x, T: x.max(T(1)),
    lambda L, x, T: L.max(x, dim=T(1)),  # a 0-d integer tensor as dim=: the dim
    lambda L, x, T: L.min(x, dim=T(0), keepdim=True),
    lambda L, x, T: L.max(x, T(1), True),  # followed by keepdim: the dim
    lambda L, x, T: L.min(x, T(1), keepdim=True),
    lambda L, x, T: L.max(x, dim=T(1.0)),  # refused: not an integer
    lambda L, x, T: L.max(x, dim=T([1])),  # refused: not 0-d
    lambda L, x, T: L.max(x, T([1]), True),
    lambda L, x, T: L.min(x, dim=None),
    lambda L, x, T: L.max(x, 1),
    lambda L, x, T: L.max(x, other=T(2.0)),
    lambda L, x, T: L.argmax(x, T(1)),
    lambda L, x, T: L.argmin(x, dim=T(0)),
]


@pytest.mark.parametrize("i", range(len(_MAX_CALLS)))
def test_max_min_tensor_dims_as_torch(i):
    a = np.array([[1.0, 5.0, 2.0], [3.0, 2.0, 0.5]])
    got, err = _outcome_of(lambda: _MAX_CALLS[i](ember, ember.tensor(a), ember.tensor))
    ref, terr = _outcome_of(lambda: _MAX_CALLS[i](torch, torch.tensor(a), torch.tensor))
    if terr is not None:
        assert isinstance(err, TypeError), (err, terr)
        return
    assert err is None, err
    _same_values(
        tuple(got) if isinstance(got, tuple) else got, tuple(ref) if isinstance(ref, tuple) else ref
    )


def _outcome_of(f):
    try:
        return f(), None
    except Exception as e:  # noqa: BLE001
        return None, e


# out= on a part of the input: torch's reductions (and softmax, mv, histc, ...) write into it,
# its elementwise, scan, sort and index ops refuse it
_OVERLAPS = {
    "sum": lambda L, x: L.sum(x, 0, out=x[0]),
    "mean": lambda L, x: L.mean(x, 0, out=x[0]),
    "prod": lambda L, x: L.prod(x, 1, out=x[:, 0]),
    "amax": lambda L, x: L.amax(x, 0, out=x[0]),
    "std": lambda L, x: L.std(x, 0, out=x[0]),
    "logsumexp": lambda L, x: L.logsumexp(x, 0, out=x[0]),
    "norm": lambda L, x: L.norm(x, dim=0, out=x[0]),
    "vector_norm": lambda L, x: L.linalg.vector_norm(x, dim=0, out=x[0]),
    "median": lambda L, x: L.median(x, 0, out=(x[0], L.empty(4, dtype=L.int64))),
    "softmax": lambda L, x: L.softmax(x[:2], 0, out=x[1:]),
    "mv": lambda L, x: L.mv(x, x[0], out=x[1, :3]),
    "exp": lambda L, x: L.exp(x[:2], out=x[1:]),
    "cumsum": lambda L, x: L.cumsum(x[:2], 0, out=x[1:]),
    "sort": lambda L, x: L.sort(x[:2], 0, out=(x[1:], L.empty(2, 4, dtype=L.int64))),
    "index_select": lambda L, x: L.index_select(x, 0, L.tensor([0, 1]), out=x[1:]),
    "max_dim": lambda L, x: L.max(x, 0, out=(x[0], L.empty(4, dtype=L.int64))),
}


@pytest.mark.parametrize("name", sorted(_OVERLAPS))
def test_out_overlapping_an_input_per_op_family(name):
    a = np.arange(12.0).reshape(3, 4) / 4 + 1
    tx = torch.tensor(a)
    _, terr = _outcome_of(lambda: _OVERLAPS[name](torch, tx))
    x = ember.tensor(a)
    if terr is not None:
        with pytest.raises(RuntimeError, match="single memory location"):
            _OVERLAPS[name](ember, x)
        np.testing.assert_array_equal(x.numpy(), a)  # nothing written
        return
    # taken: ember computes the result from the input as it was, then writes it (torch's
    # kernels may read what they wrote: its values are not compared)
    out = _OVERLAPS[name](ember, x)
    fresh = _OVERLAPS_FRESH[name](ember.tensor(a))
    got = out[0] if isinstance(out, tuple) else out
    np.testing.assert_allclose(got.numpy(), fresh.numpy(), rtol=1e-12)


_OVERLAPS_FRESH = {
    "sum": lambda x: ember.sum(x, 0),
    "mean": lambda x: ember.mean(x, 0),
    "prod": lambda x: ember.prod(x, 1),
    "amax": lambda x: ember.amax(x, 0),
    "std": lambda x: ember.std(x, 0),
    "logsumexp": lambda x: ember.logsumexp(x, 0),
    "norm": lambda x: ember.norm(x, dim=0),
    "vector_norm": lambda x: ember.linalg.vector_norm(x, dim=0),
    "median": lambda x: ember.median(x, 0)[0],
    "softmax": lambda x: ember.softmax(x[:2], 0),
    "mv": lambda x: ember.mv(x, x[0].clone()),
}


@pytest.mark.parametrize(
    "shape, view",
    [
        ((0,), (-1,)),
        ((3, 0, 17), (-1,)),
        ((17, 0), (-1,)),
        ((2, 0, 3), (0, 6)),
        ((2, 0, 3), (6, 0)),
        ((2, 0, 3), (3, 0, 2)),
        ((2, 0, 3), (2, -1)),
        ((0,), (2, 0, 3)),
    ],
)
def test_empty_views_have_torchs_strides(shape, view):
    for make in (lambda L: L.empty(*shape), lambda L: L.arange(60.0).reshape(3, 4, 5)[:, :0]):
        e, t = make(ember), make(torch)
        if e.shape != tuple(shape):
            e, t = e.reshape(shape), t.reshape(shape)
        for f in (
            lambda x: x.view(*view),
            lambda x: x.reshape(*view),
            lambda x: x.flatten(),
            lambda x: x.ravel(),
        ):
            assert f(e).stride() == f(t).stride() and tuple(f(e).shape) == tuple(f(t).shape)
