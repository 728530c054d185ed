"""Two keyword conventions of PyTorch's functions and methods.

- NumPy's names: ``axis=`` for ``dim=`` and ``keepdims=`` for ``keepdim=`` (``x.sum(1,
  keepdims=True)``, as in makemore; ``A.cumsum(axis=0)``, as in d2l) on every Tensor method
  that takes ``dim``, on the top-level reductions and on the ``out=`` functions.
- ``out=`` on the top-level, ``linalg`` and ``special`` functions that take it: the result is
  computed as usual, then written into ``out`` (a Tensor, or a tuple of them for ops that return
  several), which is returned. As in torch: an ``out`` of another shape is resized (with torch's
  warning when it held elements), a result that cannot be cast to ``out``'s dtype (to a lower
  category: float -> int) is refused, some functions (STRICT_OUT) take only the result's own
  dtype, the sums compute in ``out``'s dtype, and ``out=`` is refused while autograd records (a
  differentiable input, or an ``out`` that requires grad).

- torch's parameter names (``ember.exp(input=t)``, ``ember.add(input=a, other=b)``,
  ``ember.linalg.cholesky(input=A)``) where ember's code calls them ``x``, ``a``, ``A``, ...:
  install() renames the parameters in the function's code object (``TORCH_NAMES``), so a
  positional call runs exactly the code it ran before, with no wrapper.

The hottest Tensor methods (``sum``, ``mean``, ...) take ``axis``/``keepdims`` in their own
signatures (``numpy_names``) rather than through a wrapper's extra call."""

from __future__ import annotations

import functools
import sys
import types
import warnings

import numpy as np

# torch's functions with an ``out=`` keyword, by namespace (from torch 2.13's signatures)
TOP_LEVEL = """
abs absolute acos acosh add addbmm addcdiv addcmul addmm addmv addr all amax amin aminmax angle
any arange arccos arccosh arcsin arcsinh arctan arctan2 arctanh asin asinh atan atan2 atanh
baddbmm bernoulli bitwise_and bitwise_left_shift bitwise_not bitwise_or bitwise_right_shift
bitwise_xor bmm bucketize cat ceil chain_matmul cholesky cholesky_inverse cholesky_solve clamp
clamp_max clamp_min clip column_stack concat concatenate conj_physical copysign cos cosh cross
cummax cummin cumprod cumsum deg2rad diag diff digamma div divide dot dstack empty eq erf erfc
erfinv exp exp2 expm1 eye fix float_power floor floor_divide fmax fmin fmod frac frexp full
gather gcd ge ger greater greater_equal gt heaviside histc histogram hstack hypot i0 igamma
igammac index_select inner inverse isneginf isposinf kron kthvalue lcm ldexp le lerp less
less_equal lgamma linspace log log10 log1p log2 log_softmax logaddexp logaddexp2 logcumsumexp
logical_and logical_not logical_or logical_xor logit logspace logsumexp lt masked_select matmul
matrix_power max maximum mean median min minimum mm mode msort mul multinomial multiply mv
mvlgamma nan_to_num nanmean nanmedian nanquantile nansum narrow_copy ne neg negative nextafter
nonzero norm normal not_equal ones outer polygamma pow prod qr quantile rad2deg rand randint
randn randperm range reciprocal remainder renorm round row_stack rsqrt searchsorted sgn sigmoid
sign signbit sin sinc sinh slice_scatter softmax sort sqrt square stack std sub subtract sum svd
take take_along_dim tan tanh tensordot threshold topk tril triu true_divide trunc var vdot
vstack where xlogy zeros
argmax argmin argsort complex frobenius_norm hardshrink index_add index_copy index_reduce lu_unpack
nonzero_static nuclear_norm polar scatter scatter_add scatter_reduce slice_copy slogdet
triangular_solve isin lu_solve
""".split()
LINALG = """
cholesky cond cross det eigh eigvalsh inv matmul matrix_norm matrix_power matrix_rank multi_dot
norm pinv qr slogdet solve solve_triangular svd svdvals tensorinv tensorsolve vecdot vector_norm
cholesky_ex householder_product inv_ex ldl_factor ldl_factor_ex ldl_solve lu lu_factor
lu_factor_ex lu_solve solve_ex eig eigvals
""".split()
SPECIAL = """
digamma entr erf erfc erfinv exp2 expit expm1 gammainc gammaincc gammaln i0 log1p logit
logsumexp multigammaln ndtr ndtri polygamma psi round sinc xlog1py xlogy
airy_ai bessel_j0 bessel_j1 bessel_y0 bessel_y1 erfcx i0e i1 i1e log_ndtr zeta
modified_bessel_i0 modified_bessel_i1 modified_bessel_k0 modified_bessel_k1
scaled_modified_bessel_k0 scaled_modified_bessel_k1 spherical_bessel_j0
chebyshev_polynomial_t chebyshev_polynomial_u chebyshev_polynomial_v chebyshev_polynomial_w
shifted_chebyshev_polynomial_t shifted_chebyshev_polynomial_u shifted_chebyshev_polynomial_v
shifted_chebyshev_polynomial_w hermite_polynomial_h hermite_polynomial_he laguerre_polynomial_l
legendre_polynomial_p
""".split()


# torch's keyword names where ember's parameters have their own (torch 2.13's Python bindings,
# which call aten's ``self`` ``input``; torch.linalg is mixed: inv/solve take ``A``, cholesky and
# norm ``input``). By module, "old=new ..." -> the functions renamed so.
TORCH_NAMES = {
    "ember": {
        "x=input": """
abs acos adjoint all amax amin aminmax any argmax argmin argsort argwhere asin atan bincount
broadcast_to ceil chunk clamp clone combinations conj conj_physical corrcoef cos cosh
count_nonzero cov cummax cummin cumprod cumsum diag diag_embed diagflat diagonal
diagonal_scatter diff exp expm1 flatten flip fliplr flipud floor frobenius_norm gather histc
histogram imag index_add index_copy index_fill index_put index_reduce index_select isfinite
isinf isnan kthvalue log log10 log1p log2 logcumsumexp logsumexp masked_fill masked_scatter
masked_select mean median mode moveaxis movedim msort nanmean nanmedian nanquantile nansum
narrow narrow_copy nonzero nonzero_static norm permute pinverse prod put quantile ravel real
reciprocal renorm repeat_interleave reshape roll rot90 round rsqrt scatter scatter_add
scatter_reduce select select_scatter sign sin sinh slice_scatter sort split_with_sizes sqrt
square squeeze std std_mean sum swapaxes t take take_along_dim tan tile topk trace transpose
tril triu trunc unbind unflatten unsafe_chunk unsafe_split unsafe_split_with_sizes unsqueeze
var var_mean view_as_complex view_as_real dsplit hsplit vsplit tensor_split max min""",
        "a=input b=other": """
add allclose cross dist div divide equal inner kron matmul maximum minimum mul sub vdot where""",
        "a=input b=mat2": "bmm mm",
        "a=input b=vec2": "ger outer",
        "a=input b=tensor": "dot",
        "a=input b=exponent": "pow",
        "a=input": "neg negative",
        "A=input": "cholesky det inverse logdet matrix_exp matrix_power qr slogdet svd",
        "t=input": "empty_like full_like get_device ones_like rand_like randn_like zeros_like",
        "b=input": "lu_solve triangular_solve",
        "mat=input": "mv",
        "L=input": "cholesky_inverse",
        "B=input L=input2": "cholesky_solve",
        "x=tensor": "split",
        "array=ndarray": "from_numpy",
        "tensor1=tensor tensor2=other": "result_type",
        "d=device": "set_default_device",
        "state=new_state": "set_rng_state",
    },
    "ember.linalg": {
        "A=input": """
cholesky cholesky_ex cond eig eigh eigvals eigvalsh householder_product ldl_factor ldl_factor_ex
matrix_exp matrix_norm matrix_power matrix_rank norm pinv solve_triangular tensorinv""",
        "a=input b=other": "cross matmul",
        "A=input B=b": "lstsq",
        "A=input B=other": "tensorsolve",
    },
    "ember.special": {
        "x=input": "expm1 log1p logsumexp round",
        "input=x": """
airy_ai scaled_modified_bessel_k0 scaled_modified_bessel_k1 spherical_bessel_j0""",
    },
}


# torch's parameters that take a Tensor only, by module: "params": functions. torch refuses a
# Python number (or a sequence) there, "abs(): argument 'input' (position 1) must be Tensor, not
# int", where its other parameters (add's other, where's x and y, clamp's min and max, ...) take
# numbers too. Measured in torch 2.13 by putting a number in each tensor position of a call it
# accepts (behave36; its table: tests/test_behave36.py). check_tensors() puts the check at the
# function's boundary (install(), check_methods): design.md section 4 takes Python numbers and
# NumPy scalars as inputs, so there a number becomes the 0-d Tensor torch.tensor(number) would
# be (ember.exp(1.0), ember.pow(10, 2)), and lists, strings and other objects get torch's
# TypeError; the ops themselves and ember's internal calls keep taking numbers as they do.
TENSOR_ONLY = {
    "ember": {
        # a number as one of the two, not both ("a|b"; add, mul, sub and div take two)
        "input|other": "bitwise_and bitwise_left_shift bitwise_or bitwise_right_shift "
        "bitwise_xor remainder xlogy",
        "input|exponent": "float_power pow",
        "elements|test_elements": "isin",
        "*matrices": """
chain_matmul""",
        "*tensors": """
atleast_1d atleast_2d atleast_3d block_diag broadcast_tensors cartesian_prod meshgrid""",
        "A": """
lu pca_lowrank svd_lowrank""",
        "A input": """
triangular_solve""",
        "a b": """
tensordot""",
        "abs angle": """
polar""",
        "anchor negative positive": """
triplet_margin_loss""",
        "batch1 batch2 input": """
addbmm baddbmm""",
        "boundaries": """
bucketize""",
        "condition": """
where""",
        "count prob": """
binomial""",
        "end input": """
lerp""",
        "equation": """
""",
        "hx input w_hh w_ih": """
rnn_relu_cell rnn_tanh_cell""",
        "imag real": """
complex""",
        "index input": """
index_fill index_select take""",
        "index input source": """
index_add index_copy put""",
        "indices": """
unravel_index""",
        "indices input": """
take_along_dim""",
        "input": """
abs abs_ absolute acos acos_ acosh acosh_ adaptive_avg_pool1d adaptive_max_pool1d addmv_ adjoint
alias_copy all amax amin aminmax angle any arccos arccos_ arccosh arccosh_ arcsin arcsin_
arcsinh arcsinh_ arctan arctan_ arctanh arctanh_ argmax argmin argsort argwhere asin asin_ asinh
asinh_ atan atan_ atanh atanh_ avg_pool1d bitwise_not broadcast_to ceil ceil_ celu celu_
cholesky cholesky_inverse chunk clamp clamp_ clamp_max clamp_max_ clamp_min clamp_min_ clip
clip_ clone combinations conj conj_physical constant_pad_nd copysign corrcoef cos cos_ cosh
cosh_ count_nonzero cov cummax cummin cumprod cumsum deg2rad deg2rad_ det detach detach_copy
diag diag_embed diagflat diagonal diagonal_copy diff digamma eq erf erf_ erfc erfc_ erfinv exp
exp2 exp2_ exp_ expand_copy expm1 expm1_ fill fill_ fix fix_ flatten flip fliplr flipud floor
floor_ fmod frac frac_ frexp frobenius_norm gcd_ ge get_device gradient greater greater_equal
group_norm gt hardshrink histc histogram histogramdd hsplit i0 i0_ inverse is_complex is_conj
is_floating_point is_inference is_neg is_nonzero is_signed isfinite isinf isnan isneginf
isposinf isreal kthvalue layer_norm lcm_ ldexp_ le less less_equal lgamma log log10 log10_ log1p
log1p_ log2 log2_ log_ log_softmax logcumsumexp logdet logical_not logit logit_ logsumexp lt
matrix_exp matrix_power max max_pool1d max_pool1d_with_indices mean median min mode moveaxis
movedim msort mvlgamma nan_to_num nan_to_num_ nanmean nanmedian nanquantile nansum narrow
narrow_copy ne neg neg_ negative negative_ nonzero norm not_equal nuclear_norm pdist permute
permute_copy pinverse polygamma positive prod qr quantile rad2deg rad2deg_ ravel real reciprocal
reciprocal_ relu relu_ renorm repeat_interleave reshape resolve_conj resolve_neg rms_norm roll
rot90 round round_ rrelu rrelu_ rsqrt rsqrt_ rsub select select_copy selu selu_ sgn sigmoid
sigmoid_ sign signbit sin sin_ sinc sinc_ sinh sinh_ slice_copy slogdet softmax sort split_copy
split_with_sizes split_with_sizes_copy sqrt sqrt_ square square_ squeeze squeeze_copy std
std_mean sum svd swapaxes swapdims t t_copy tan tan_ tanh tanh_ tensor_split threshold
threshold_ tile topk trace transpose transpose_copy tril triu trunc trunc_ unbind unbind_copy
unflatten unfold_copy unsafe_chunk unsafe_split unsafe_split_with_sizes unsqueeze unsqueeze_copy
var var_mean view_copy vsplit xlogy_ zero_""",
        "input input2": """
cholesky_solve""",
        "input mask": """
masked_fill masked_select""",
        "input mask source": """
masked_scatter""",
        "input mat vec": """
addmv""",
        "input mat1 mat2": """
addmm""",
        "input mat2": """
bmm mm""",
        "input other": """
allclose arctan2 atan2 cross dist equal fmax fmin gcd hypot igamma igammac inner is_same_size
isclose kron lcm ldexp logaddexp logaddexp2 logical_and logical_or logical_xor matmul maximum
minimum nextafter vdot""",
        "input src": """
diagonal_scatter select_scatter slice_scatter""",
        "input target": """
binary_cross_entropy_with_logits hinge_embedding_loss kl_div""",
        "input tensor": """
dot""",
        "input tensor1 tensor2": """
addcdiv addcmul""",
        "input values": """
heaviside""",
        "input vec": """
mv""",
        "input vec1 vec2": """
addr""",
        "input vec2": """
ger outer""",
        "input weight": """
conv1d prelu""",
        "input1 input2 target": """
margin_ranking_loss""",
        "sorted_sequence": """
searchsorted""",
        "tensor": """
split to_dlpack""",
        "x": """
unique unique_consecutive vander""",
        "x1 x2": """
cdist cosine_similarity pairwise_distance""",
        "y": """
cumulative_trapezoid trapezoid trapz""",
    },
    "ember.linalg": {
        "A": """
det diagonal inv inv_ex lu lu_factor lu_factor_ex qr slogdet svd svdvals""",
        "A B": """
solve solve_ex""",
        "b input": """
lstsq""",
        "input": """
cholesky cholesky_ex eig eigh eigvals eigvalsh ldl_factor ldl_factor_ex matrix_exp matrix_norm
matrix_power matrix_rank norm pinv tensorinv""",
        "input other": """
cross matmul tensorsolve""",
        "input tau": """
householder_product""",
        "x": """
vander vector_norm""",
        "x y": """
vecdot""",
    },
    "ember.special": {
        "x|n": """
chebyshev_polynomial_t chebyshev_polynomial_u chebyshev_polynomial_v chebyshev_polynomial_w
hermite_polynomial_h hermite_polynomial_he laguerre_polynomial_l legendre_polynomial_p
shifted_chebyshev_polynomial_t shifted_chebyshev_polynomial_u shifted_chebyshev_polynomial_v
shifted_chebyshev_polynomial_w""",
        "input|other": "xlog1py xlogy zeta",
        "input": """
bessel_j0 bessel_j1 bessel_y0 bessel_y1 digamma entr erf erfc erfcx erfinv exp2 expit expm1
gammaln i0 i0e i1 i1e log1p log_ndtr log_softmax logit logsumexp modified_bessel_i0
modified_bessel_i1 modified_bessel_k0 modified_bessel_k1 multigammaln ndtr ndtri polygamma psi
round sinc softmax""",
        "input other": """
gammainc gammaincc""",
        "x": """
airy_ai scaled_modified_bessel_k0 scaled_modified_bessel_k1 spherical_bessel_j0""",
    },
}
# Tensor methods: the parameters after self ("*_" in-place forms call these)
TENSOR_ONLY_METHODS = {
    "A": """
triangular_solve""",
    "batch1 batch2": """
addbmm baddbmm""",
    "condition": """
where""",
    "end": """
lerp lerp_""",
    "index": """
index_fill index_fill_ index_select take""",
    "index source": """
index_add index_copy put""",
    "indices": """
take_along_dim""",
    "input2": """
cholesky_solve""",
    "mask": """
masked_fill masked_select""",
    "mask source": """
masked_scatter""",
    "mat vec": """
addmv""",
    "mat1 mat2": """
addmm""",
    "mat2": """
bmm mm""",
    "other": """
allclose arctan2 atan2 cross dist equal expand_as fmax fmin gcd hypot igamma igammac inner
is_same_size isclose kron lcm ldexp logaddexp logaddexp2 logical_and logical_or logical_xor
matmul maximum minimum nextafter reshape_as type_as vdot view_as""",
    "src": """
diagonal_scatter select_scatter slice_scatter""",
    "tensor": """
dot""",
    "tensor1 tensor2": """
addcdiv addcmul""",
    "values": """
heaviside""",
    "vec": """
mv""",
    "vec1 vec2": """
addr""",
    "vec2": """
ger outer""",
    "weight": """
prelu""",
}


def _tensor_type():
    from ember.tensor import Tensor

    return Tensor


_NUMBERS = (bool, int, float, complex, np.generic)


def _operand(name: str, param: str, position: int, value, optional: bool = False):
    """The value for a parameter torch takes a Tensor only at: Tensors, NumPy arrays (ember
    reads them as tensors) and None for an ``optional`` one as given; a Python number or NumPy
    scalar as a 0-d Tensor, what ember.tensor(number) makes (design.md section 4: inputs may be
    Tensors, NumPy arrays or Python scalars); anything else (a list, a string) is torch's
    TypeError."""
    from ember.tensor import Tensor

    if isinstance(value, Tensor | np.ndarray) or (value is None and optional):
        return value
    if isinstance(value, _NUMBERS):
        return _as_tensor(value)
    raise TypeError(
        f"{name}(): argument '{param}' (position {position}) must be Tensor, "
        f"not {type(value).__name__}"
    )


def _as_tensor(number):
    from ember import tensor

    return tensor(number)


def _operand_pair(name: str, a: str, b: str, va, vb):
    """``va`` for two operands of which torch takes a number as one only (torch.pow(2, 3)):
    with no Tensor (or NumPy array) among them, a number ``va`` becomes the 0-d Tensor (the
    design's scalar inputs), anything else is torch's TypeError."""
    if any(isinstance(v, _tensor_type() | np.ndarray) for v in (va, vb)):
        return va
    if isinstance(va, _NUMBERS) and isinstance(vb, _NUMBERS):
        return _as_tensor(va)
    raise TypeError(
        f"{name}(): expected a Tensor as '{a}' or '{b}', got {type(va).__name__} and "
        f"{type(vb).__name__}"
    )


def _operands(name: str, values) -> tuple:
    """The values of a ``*tensors`` parameter (or the one list or tuple given for them), each
    number as a 0-d Tensor; torch's TypeError for a non-Tensor otherwise (numbers inside one
    list or tuple too: that reads as data, which torch refuses there)."""
    from ember.tensor import Tensor

    packed = len(values) == 1 and isinstance(values[0], list | tuple)
    items = values[0] if packed else values
    for i, v in enumerate(items):
        if not isinstance(v, Tensor | np.ndarray) and (packed or not isinstance(v, _NUMBERS)):
            raise TypeError(
                f"{name}(): expected Tensor as element {i} in argument 0, "
                f"but got {type(v).__name__}"
            )
    if packed:
        return values
    return tuple(v if isinstance(v, Tensor | np.ndarray) else _as_tensor(v) for v in values)


def _all_tensors(values: tuple, tensor_type) -> bool:
    for v in values:
        if type(v) is not tensor_type:
            return False
    return True


def check_tensors(fn, names, method: bool = False, like=None):
    """``fn`` refusing a non-Tensor in its parameters ``names`` (TENSOR_ONLY), as torch's
    argument parser: a wrapper generated with fn's own signature (as _direct's: no ``*args``
    packing, ~40 ns a call). A ``*tensors`` parameter has each value checked; a function of
    (*args, **kwargs), as the *_copy forms, its first argument, as 'input'. ``method``: the
    positions count after self, as torch's do. ``like``: the function whose signature fn
    takes (an in-place method of (x, *args, **kwargs) takes its out-of-place form's)."""
    import inspect

    from ember.tensor import Tensor

    name = fn.__name__
    ns = {"fn": fn, "_T": Tensor, "_operand": _operand, "_operands": _operands}
    ns["_operand_pair"], ns["_all_tensors"] = _operand_pair, _all_tensors
    sig = list(inspect.signature(like or fn).parameters.values())
    params, forward, checks = [], [], []
    if [p.kind for p in sig] == [inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD]:
        params, forward = ["*args", "**kwargs"], ["*args", "**kwargs"]
        checks.append(
            "if args and type(args[0]) is not _T: "
            f"args = (_operand({name!r}, 'input', 1, args[0]), *args[1:])"
        )
    else:
        star = slash = False
        for i, p in enumerate(sig):
            n = p.name
            if p.kind is p.POSITIONAL_ONLY:
                slash = True
            elif slash:
                params.append("/")
                slash = False
            if p.kind is p.VAR_POSITIONAL:
                params.append(f"*{n}")
                forward.append(f"*{n}")
                star = True
                if f"*{n}" in names:
                    # (all Tensors, the common call: as they are, without _operands' frame)
                    checks.append(f"if not _all_tensors({n}, _T): {n} = _operands({name!r}, {n})")
                continue
            if p.kind is p.VAR_KEYWORD:
                params.append(f"**{n}")
                forward.append(f"**{n}")
                continue
            if p.kind is p.KEYWORD_ONLY and not star:
                params.append("*")
                star = True
            if p.default is p.empty:
                params.append(n)
            else:
                ns[f"_d_{n}"] = p.default
                params.append(f"{n}=_d_{n}")
            forward.append(f"{n}={n}" if p.kind is p.KEYWORD_ONLY else n)
            if n in names:
                pos = i + (0 if method else 1)
                opt = ", True" if p.default is None else ""  # (None: not given)
                checks.append(
                    f"if type({n}) is not _T: {n} = _operand({name!r}, {n!r}, {pos}, {n}{opt})"
                )
        if slash:
            params.append("/")
        for pair in (n.split("|") for n in names if "|" in n):  # a Tensor as one of the two
            if set(pair) <= {p.name for p in sig}:
                a, b = pair
                checks.append(
                    f"if type({a}) is not _T and type({b}) is not _T: "
                    f"{a} = _operand_pair({name!r}, {a!r}, {b!r}, {a}, {b})"
                )
    if len(checks) != len(names):  # the table is out of date: say so at import
        raise RuntimeError(f"_keywords.TENSOR_ONLY: {name}{tuple(params)} has no {names}")
    body = "".join(f"    {c}\n" for c in checks)
    src = f"def {name}({', '.join(params)}):\n{body}    return fn({', '.join(forward)})\n"
    exec(src, ns)  # noqa: S102 (fn's own parameter names)
    op = functools.wraps(fn)(ns[name])
    # (op's own signature is fn's: not __wrapped__, which would lead _params to fn's code, a
    # wrapper's (*args, **kwargs) for some; _direct puts the same lines in its own wrapper)
    del op.__wrapped__
    op._tensor_checks, op._tensor_inner = body, fn
    return op


def _checks(table: dict, module: str) -> dict:
    """{function name: its Tensor-only parameters} of a TENSOR_ONLY-style table."""
    return {
        fn: spec.split() for spec, names in table.get(module, {}).items() for fn in names.split()
    }


def _rename(fn, names: dict) -> None:
    """fn (and each function it wraps, functools.wraps' ``__wrapped__``) with its parameters
    renamed old -> new in place: the same bytecode (locals are addressed by slot, not name), so
    calls cost what they did; ``inspect.signature`` and Python's own errors say the new names."""
    done, name = False, fn.__name__
    while fn is not None:
        code = fn.__code__
        params = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
        if names.keys() <= set(params):
            if set(names.values()) & set(code.co_varnames):
                raise RuntimeError(f"{fn.__qualname__}: a local is already called {names}")
            new = tuple(names.get(n, n) for n in code.co_varnames)
            cells = tuple(names.get(n, n) for n in code.co_cellvars)  # (an argument a closure uses)
            fn.__code__ = code.replace(co_varnames=new, co_cellvars=cells)
            done = True
        elif set(names.values()) <= set(params):
            done = True  # the same function under another name, renamed already
        fn = getattr(fn, "__wrapped__", None)
    if not done:  # the table is out of date: say so at import, not in a user's call
        raise RuntimeError(f"_keywords.TORCH_NAMES: {name} has no parameters {list(names)}")


def numpy_names(dim, keepdim, axis, keepdims):
    """(dim, keepdim) from torch's arguments and their NumPy spellings (dim defaults to None)."""
    if axis is not None:
        if dim is not None:
            raise TypeError("got multiple values for argument 'dim' (also given as 'axis')")
        dim = axis
    return dim, (keepdim if keepdims is None else keepdims)


def _renamed(kwargs: dict) -> dict:
    if "axis" in kwargs:
        if "dim" in kwargs:
            raise TypeError("got multiple values for argument 'dim' (also given as 'axis')")
        kwargs["dim"] = kwargs.pop("axis")
    if "keepdims" in kwargs:
        if "keepdim" in kwargs:
            raise TypeError("got multiple values for argument 'keepdim' (also given as 'keepdims')")
        kwargs["keepdim"] = kwargs.pop("keepdims")
    return kwargs


def takes_numpy_names(fn):
    """``fn`` also taking ``axis=``/``keepdims=`` for its ``dim``/``keepdim``."""

    @functools.wraps(fn)
    def op(*args, **kwargs):
        if not kwargs:  # the hot call, x.cumsum(1): no empty dict to unpack
            return fn(*args)
        if "axis" in kwargs or "keepdims" in kwargs:
            kwargs = _renamed(kwargs)
        return fn(*args, **kwargs)

    op._numpy_names = True
    return op


def takes_out(fn, aliases: bool):
    """``fn`` taking torch's ``out=`` keyword (and, if asked, ``axis``/``keepdims``)."""

    @functools.wraps(fn)
    def op(*args, out=None, **kwargs):
        if not kwargs:
            if out is None:  # the hot call, ember.exp(x): no empty dict to unpack
                return fn(*args)
        elif aliases and ("axis" in kwargs or "keepdims" in kwargs):
            kwargs = _renamed(kwargs)
        if out is None:
            return fn(*args, **kwargs)
        name = fn.__name__
        if name in _OUT_WANTS_DIM and len(args) < 2 and "dim" not in kwargs:
            # (torch's out= forms of these take a dim: sum(x, out=o) is its TypeError)
            raise TypeError(f'{name}() missing 1 required positional arguments: "dim" (out=)')
        if name in _IN_OUT_DTYPE and kwargs.get("dtype") is None and hasattr(out, "dtype"):
            if out.dtype == np.bool_ and name.startswith("cum"):  # (torch has no bool kernel)
                raise RuntimeError(f"{name}(): out= of dtype bool is not supported")
            kwargs["dtype"] = out.dtype
        result = fn(*args, **kwargs)
        if name not in _OVERLAP_UNCHECKED:
            _check_overlap(out, result, (*args, *kwargs.values()))
        bounds = (*args[1:], kwargs.get("min"), kwargs.get("max"))
        strict = (
            name in STRICT_OUT
            or (name in _CLAMPS and not any(hasattr(a, "shape") for a in bounds))
            or (name in ("max", "min", "median", "nanmedian") and isinstance(result, tuple))
        )
        if strict and name in ("abs", "absolute"):
            src = getattr(args[0] if args else next(iter(kwargs.values()), None), "dtype", None)
            # torch's complex abs: any float out (cast), or a complex out of the input's dtype
            if src is not None and np.dtype(src).kind == "c":
                if out.dtype.kind == "c" and out.dtype != src:
                    raise RuntimeError(f"Found dtype {out.dtype} but expected {src}")
                strict = False
        if isinstance(result, tuple):
            if not (isinstance(out, tuple | list) and len(out) == len(result)):
                raise TypeError(
                    f"{name}(): out must be a tuple of {len(result)} Tensors, "
                    f"got {type(out).__name__}"
                )
            written = [_write(name, r, o, strict) for r, o in zip(result, out, strict=True)]
            return type(result)(*written) if hasattr(result, "_fields") else tuple(written)
        return _write(name, result, out, strict)

    return _direct(fn, op) or op


_byte_bounds = getattr(np, "byte_bounds", None) or np.lib.array_utils.byte_bounds  # (NumPy 2)


def _dense_bounds(t):
    """The byte range of a Tensor's array when it fills it exactly (torch's
    non-overlapping-and-dense test), else None (torch does not check those: "too hard")."""
    a = getattr(t, "data", None)
    if not isinstance(a, np.ndarray) or not a.size:
        return None
    lo, hi = _byte_bounds(a)
    return (lo, hi) if hi - lo == a.nbytes else None


def _check_overlap(out, result, inputs) -> None:
    """torch's refusal of an out= that shares memory with an input, unless it is that very
    input (same elements, same layout) and keeps its shape (x.exp(out=x) is fine)."""
    outs = out if isinstance(out, tuple | list) else (out,)
    results = result if isinstance(result, tuple) else (result,)
    flat = []
    for v in inputs:
        flat.extend(v if isinstance(v, list | tuple) else (v,))
    for o, r in zip(outs, results, strict=False):
        ob = _dense_bounds(o)
        if ob is None:
            continue
        for v in flat:
            vb = _dense_bounds(v)
            if vb is None or vb[1] <= ob[0] or ob[1] <= vb[0]:
                continue
            same = (
                vb == ob
                and v.data.strides == o.data.strides
                and v.shape == o.shape == getattr(r, "shape", None)
            )
            if not same:
                raise RuntimeError(
                    "unsupported operation: some elements of the input tensor and the "
                    "written-to tensor refer to a single memory location. Please clone() the "
                    "tensor before performing the operation."
                )


_UNSET = object()  # a dim/keepdim not given (so axis=/keepdims= may name it instead)

# torch 2.13's functions that write an out= sharing memory with an input without refusing it
# (reductions, softmax, mv, ...: their kernels do not check; the elementwise, scan, sort and
# index ones refuse it, _check_overlap). ember computes the result first, then writes it.
# Measured by putting out= on a part of the input (behave36, tests/test_behave36.py).
_OVERLAP_UNCHECKED = frozenset(
    """
sum nansum mean nanmean prod amax amin std var logsumexp norm median nanmedian quantile
nanquantile vector_norm matrix_norm softmax log_softmax cummax cummin histc narrow_copy mv
mm matmul bmm addmm baddbmm addbmm addmv addr dot vdot inner
""".split()
)

# torch 2.13's functions whose out= must have the result's dtype exactly ("Expected out tensor
# to have dtype float, but got double"); the others cast into out within torch's casting rule.
# Measured by /work/scratch/api11/probe_strict.py (a float32 result into a float64 out, int64
# into int32).
STRICT_OUT = frozenset(
    """
abs absolute amax amin argmax argmin bitwise_not ceil conj_physical det diag eigvalsh fix
float_power floor frac frobenius_norm hardshrink heaviside histc inner inv inverse log_softmax
logcumsumexp matmul matrix_norm mm bmm mv dot vdot msort multinomial nan_to_num nanquantile neg
negative nonzero norm nuclear_norm quantile round searchsorted sgn sign slice_copy
slice_scatter softmax solve svdvals tensordot tril triu trunc vecdot vector_norm where
addmm addmv baddbmm addbmm cross linalg_cross take masked_select index_add index_select scatter
gather narrow_copy sort topk cummax cummin kthvalue mode
cholesky solve_triangular matrix_power slogdet eigh qr lu_factor svd lu bucketize
""".split()
)
# torch's clamp family is strict with number bounds, casting with tensor bounds; max and min
# (and median, nanmedian) strict in their (values, indices) form, casting in their binary one
_CLAMPS = frozenset(("clamp", "clip", "clamp_min", "clamp_max"))
# torch's range factories fill an out= of the right size in its own shape (and dtype)
_RANGES = ("arange", "linspace", "logspace")
# torch's functions whose out= forms all take a dim (median(x, out=o) is its TypeError)
_OUT_WANTS_DIM = frozenset(("sum", "prod", "median", "nanmedian", "logsumexp", "count_nonzero"))
# reductions that, given out= and no dtype=, compute in out's dtype (torch's
# get_dtype_from_result): sum(float_x, out=int_tensor) sums the truncated values; randperm
# makes out's dtype (and checks n against it: an int8 out holds at most 128)
_IN_OUT_DTYPE = frozenset(("sum", "prod", "cumsum", "cumprod", "nansum", "randperm", *_RANGES))


def _direct(fn, general):
    """A wrapper generated with ``fn``'s own parameters (plus ``out``, and ``axis``/``keepdims``
    where fn takes dim/keepdim): the common call (no ``out``, no NumPy names) reaches ``fn``
    without packing ``*args``/``**kwargs``, which cost ~0.1 us of a 32x32 ember.cat; any other
    call goes to ``general`` (takes_out's wrapper) with the arguments given. None where the
    signature does not fit (varargs, positional-only, a dim/keepdim without a default)."""
    code = getattr(fn, "__code__", None)
    if code is None or code.co_flags & 0x0C or code.co_posonlyargcount:  # *args / **kwargs
        return None
    npos, nkw = code.co_argcount, code.co_kwonlyargcount
    names = code.co_varnames[: npos + nkw]
    if {"out", "axis", "keepdims", "fn", "general", "given", "_UNSET", "_T", "_operand"} & set(
        names
    ):
        return None
    pos_defaults = fn.__defaults__ or ()
    kw_defaults = fn.__kwdefaults__ or {}
    ns = {"fn": fn, "general": general, "_UNSET": _UNSET}
    checks = getattr(fn, "_tensor_checks", "")
    if checks:  # check_tensors' lines here, and fn the function they guard: one frame less
        ns.update(
            fn=fn._tensor_inner, _T=_tensor_type(), _operand=_operand, _operand_pair=_operand_pair
        )
    params, forward = [], []
    for i, n in enumerate(names):
        if i == npos:
            params.append("*")
        j = i - (npos - len(pos_defaults))
        has_default = n in kw_defaults if i >= npos else j >= 0
        value = kw_defaults.get(n) if i >= npos else (pos_defaults[j] if has_default else None)
        arg = n
        if n in ("dim", "keepdim"):  # given or not: general needs to know (axis= names dim)
            if not has_default:
                return None
            ns[f"_d_{n}"] = value
            params.append(f"{n}=_UNSET")
            arg = f"(_d_{n} if {n} is _UNSET else {n})"
        elif has_default:
            ns[f"_d_{n}"] = value
            params.append(f"{n}=_d_{n}")
        else:
            params.append(n)
        forward.append(arg if i < npos else f"{n}={arg}")
    if npos == len(names):
        params.append("*")
    params.append("out=None")
    given = [f"{n!r}: {n}" for n in names]
    if any(n in ("dim", "keepdim") for n in names):  # NumPy's names, as general takes them
        params += ["axis=_UNSET", "keepdims=_UNSET"]
        given += ["'axis': axis", "'keepdims': keepdims"]
        plain = "out is None and axis is _UNSET and keepdims is _UNSET"
    else:
        plain = "out is None"
    # (no **kwargs: an unknown keyword is Python's own TypeError, naming the function)
    src = (
        f"def {fn.__name__}({', '.join(params)}):\n"
        f"{checks}"
        f"    if {plain}:\n"
        f"        return fn({', '.join(forward)})\n"
        f"    given = {{k: v for k, v in {{{', '.join(given)}}}.items() if v is not _UNSET}}\n"
        f"    return general(out=out, **given)\n"
    )
    exec(src, ns)  # noqa: S102 (our own parameter names, from fn's code object)
    return functools.wraps(fn)(ns[fn.__name__])


def _write(name: str, result, out, strict: bool = False):
    from ember import _inplace, ops
    from ember._errors import BadDtype
    from ember.autograd import is_grad_enabled
    from ember.tensor import Tensor

    if not isinstance(out, Tensor):
        raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if is_grad_enabled() and (out.requires_grad or getattr(result, "requires_grad", False)):
        raise RuntimeError(
            f"{name}(): functions with out=... arguments don't support automatic "
            "differentiation, but one of the arguments requires grad."
        )
    value = np.asarray(result.data if isinstance(result, Tensor) else result)
    if strict and value.dtype != out.data.dtype:
        raise RuntimeError(
            f"{name}(): expected out tensor to have dtype {value.dtype}, but got {out.dtype} "
            "instead"
        )
    # torch's canCast: not to a lower category (float -> int, int -> bool, complex -> real);
    # within one, anything (int64 -> uint8 wraps, as torch)
    if not ops.can_cast(value.dtype, out.data.dtype):  # (torch's RuntimeError; cat's TypeError)
        raise BadDtype(
            f"result type {value.dtype} can't be cast to the desired output type {out.dtype}"
        )
    if not out.data.flags.writeable:
        raise ValueError(f"{name}(): out is a read-only tensor")
    if name in _RANGES and out.data.size == value.size:
        value = value.reshape(out.shape)
    if out.shape != value.shape:
        if out.data.size:
            warnings.warn(
                f"An output with one or more elements was resized since it had shape "
                f"{list(out.shape)}, which does not match the required output shape "
                f"{list(value.shape)}. This behavior is deprecated, and in a future PyTorch "
                "release outputs will not be resized unless they have zero elements.",
                UserWarning,
                stacklevel=3,
            )
        out.data = np.empty(value.shape, out.data.dtype)
    with np.errstate(all="ignore"):  # (torch casts float64's 1e39 into a float32 out as inf)
        np.copyto(out.data, value, casting="unsafe")
    _inplace.note(out)  # nodes that saved out's old values refuse to backward
    return out


def _params(fn) -> tuple:
    code = getattr(getattr(fn, "__wrapped__", fn), "__code__", None)
    return code.co_varnames[: code.co_argcount + code.co_kwonlyargcount] if code else ()


def install(namespace: dict, out_names) -> None:
    """In a module's globals: torch's parameter names (TORCH_NAMES), ``out=`` on ``out_names``
    and NumPy's names on every public function that takes ``dim`` or ``keepdim``, as torch's
    functions take them."""
    for spec, names in TORCH_NAMES.get(namespace["__name__"], {}).items():
        renames = dict(pair.split("=") for pair in spec.split())
        for name in names.split():
            _rename(namespace[name], renames)
    for name, names in _checks(TENSOR_ONLY, namespace["__name__"]).items():
        namespace[name] = check_tensors(namespace[name], names)
    out_names = set(out_names)
    for name, fn in list(namespace.items()):
        if name.startswith("_") or not isinstance(fn, types.FunctionType):
            continue
        params = _params(fn)
        if name in out_names:
            namespace[name] = takes_out(fn, "dim" in params or "keepdim" in params)
        elif "keepdim" in params or "dim" in params:
            namespace[name] = takes_numpy_names(fn)


def check_methods(cls) -> None:
    """torch's Tensor-only parameters (TENSOR_ONLY_METHODS) on ``cls``'s methods (after
    install(): under torch's parameter names)."""
    for name, names in _checks({"": TENSOR_ONLY_METHODS}, "").items():
        fn = vars(cls)[name]
        like = vars(cls)[name[:-1]] if name.endswith("_") and _params(fn)[1:2] == () else None
        if getattr(fn, "_numpy_names", False):  # (the check inside: axis= still renamed)
            method = takes_numpy_names(check_tensors(fn.__wrapped__, names, method=True))
        else:
            method = check_tensors(fn, names, method=True, like=like)
        setattr(cls, name, method)


def install_methods(cls, skip) -> None:
    """NumPy's names on ``cls``'s methods that take ``dim`` or ``keepdim`` (torch's methods all
    take them), except ``skip``."""
    for name, fn in list(vars(cls).items()):
        if (
            isinstance(fn, types.FunctionType)  # not static/class methods or properties
            and not name.startswith("_")
            and name not in skip
            and ("keepdim" in _params(fn) or "dim" in _params(fn))
        ):
            setattr(cls, name, takes_numpy_names(fn))


def _found_by_name(fn) -> bool:
    """Whether pickle finds ``fn`` where its __module__ and __qualname__ say it is."""
    obj = sys.modules.get(fn.__module__)
    for part in fn.__qualname__.split("."):
        obj = getattr(obj, part, None)
    return obj is fn


def name_for_pickle(module: str, namespace: dict, prefix: str = "") -> None:
    """Point the public functions of ``namespace`` (a module's globals, or a class's dict with
    ``prefix`` "Class.") that pickle cannot find by name at where they live: wrappers
    (functools.wraps copies the wrapped function's module and name) and functions made by
    factories (``_unary.<locals>.op``). Pickle sends functions by name, as to spawn DataLoader
    workers, and ``pickle.loads(pickle.dumps(ember.rand)) is ember.rand`` as torch's."""
    for name, fn in list(namespace.items()):
        fn = getattr(fn, "__func__", fn)  # (a class's staticmethods)
        if name.startswith("_") or not isinstance(fn, types.FunctionType) or _found_by_name(fn):
            continue
        fn.__module__, fn.__qualname__ = module, prefix + name
