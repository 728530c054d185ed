"""torch.special's names for ember's special functions (the same ops as ``ember.erf`` & co.)."""

from __future__ import annotations

import math
from functools import partial

import numpy as np

from ember import _C, _complex, _lowp
from ember.autograd import Function
from ember.autograd import graph as _graph
from ember.autograd.engine import input_wanted, unbroadcast
from ember.nn.functional import _torch_log_softmax as log_softmax
from ember.nn.functional import _torch_softmax as softmax
from ember.ops import (
    Elementwise,
    _binary,
    _data,
    _float_operand,
    _float_pair_operands,
    _i1,
    _shape,
    _special,
    digamma,
    erf,
    erfc,
    erfinv,
    exp,
    exp2,
    expm1,
    gammainc,
    gammaincc,
    i0,
    lgamma,
    log1p,
    logit,
    logsumexp,
    mul,
    mvlgamma,
    polygamma,
    round,  # noqa: A004
    sign,
    sinc,
    where,
    xlog_x_grad,
    xlogy,
)
from ember.ops import log as _log
from ember.tensor import Tensor

__all__ = [
    "airy_ai", "bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "chebyshev_polynomial_t",
    "chebyshev_polynomial_u", "chebyshev_polynomial_v", "chebyshev_polynomial_w", "erfcx",
    "hermite_polynomial_h", "hermite_polynomial_he", "i0e", "i1", "i1e", "laguerre_polynomial_l",
    "legendre_polynomial_p", "log_ndtr", "modified_bessel_i0", "modified_bessel_i1",
    "modified_bessel_k0", "modified_bessel_k1", "scaled_modified_bessel_k0",
    "scaled_modified_bessel_k1", "shifted_chebyshev_polynomial_t", "shifted_chebyshev_polynomial_u",
    "shifted_chebyshev_polynomial_v", "shifted_chebyshev_polynomial_w", "spherical_bessel_j0",
    "zeta",
    "digamma", "entr", "erf", "erfc", "erfinv", "exp2", "expit", "expm1", "gammainc",
    "gammaincc", "gammaln", "i0", "log1p", "log_softmax", "logit", "logsumexp", "multigammaln",
    "ndtr", "ndtri", "polygamma", "psi", "round", "sinc", "softmax", "xlog1py", "xlogy",
]  # fmt: skip

gammaln = lgamma
psi = digamma
multigammaln = mvlgamma


def expit(input) -> Tensor:  # noqa: A002
    """The logistic sigmoid 1 / (1 + e^-x)."""
    return _float_operand(input, "expit").sigmoid()


def entr(input) -> Tensor:  # noqa: A002
    """-x ln x elementwise: 0 at 0, -inf below 0 (as torch.special.entr)."""

    def f(a):
        with np.errstate(all="ignore"):
            y = np.where(a > 0, -a * np.log(a), np.where(a == 0, 0, -np.inf))
            return np.where(np.isnan(a), a, y).astype(a.dtype)  # (NaN stays NaN, as torch)

    def df(a, y):
        return -(1 + np.log(a))

    df.graph = lambda a, y: -(1 + _log(a))  # for Elementwise.backward_graph
    return Elementwise.apply(_float_operand(input, "entr"), f, df)


def ndtr(input) -> Tensor:  # noqa: A002
    """The standard normal CDF, 0.5 erfc(-x / sqrt 2) (accurate in the left tail)."""
    return mul(erfc(-_float_operand(input, "ndtr") / math.sqrt(2)), 0.5)


xlog1py = _binary(
    "xlog1py",
    lambda a, b: np.where((a == 0) & ~np.isnan(b), 0, a * np.log1p(b)),
    # d/dx is log1p(y) even at x == 0 (0 only where log1p(y) is -inf or NaN: y <= -1), as
    # torch's and as xlogy's (_xlogy_grads)
    lambda a, b, y, g: (xlog_x_grad(a, b, g, np.log1p(b), -1), g * a / (1 + b)),
)
xlog1py.__doc__ = "x log1p(y), 0 where x is 0 (unless y is NaN), as torch.special.xlog1py."


# ---- Bessel, Airy, erfcx, log_ndtr, zeta, orthogonal polynomials (as torch.special) ---------
# Written as torch's aten/src/ATen/native/Math.h computes them (Cephes' Chebyshev and rational
# approximations, with its coefficients), vectorised in NumPy: in float64 and rounded once to the
# input's dtype, except the polynomials' recurrences, which run in the input's dtype as torch's
# do (their overflow to inf and NaN for large n depends on it).


def _polevl(x, coef):
    """coef[0] x^k + ... + coef[k] (Horner)."""
    r = np.zeros_like(x)
    for c in coef:
        r = r * x + c
    return r


def _chbevl(x, coef):
    """Cephes' chbevl: the Chebyshev series sum' coef[k] T_{n-k}(x / 2) by Clenshaw's recurrence."""
    b0, b1, b2 = np.full_like(x, coef[0]), np.zeros_like(x), np.zeros_like(x)
    for c in coef[1:]:
        b2, b1 = b1, b0
        b0 = x * b1 - b2 + c
    return 0.5 * (b0 - b2)


# fmt: off
_K0_A = [
    1.37446543561352307156e-16, 4.25981614279661018399e-14, 1.03496952576338420167e-11,
    1.90451637722020886025e-09, 2.53479107902614945675e-07, 2.28621210311945178607e-05,
    1.26461541144692592338e-03, 3.59799365153615016266e-02, 3.44289899924628486886e-01,
    -5.35327393233902768720e-01,
]
_K0_B = [
    5.30043377268626276149e-18, -1.64758043015242134646e-17, 5.21039150503902756861e-17,
    -1.67823109680541210385e-16, 5.51205597852431940784e-16, -1.84859337734377901440e-15,
    6.34007647740507060557e-15, -2.22751332699166985548e-14, 8.03289077536357521100e-14,
    -2.98009692317273043925e-13, 1.14034058820847496303e-12, -4.51459788337394416547e-12,
    1.85594911495471785253e-11, -7.95748924447710747776e-11, 3.57739728140030116597e-10,
    -1.69753450938905987466e-09, 8.57403401741422608519e-09, -4.66048989768794782956e-08,
    2.76681363944501510342e-07, -1.83175552271911948767e-06, 1.39498137188764993662e-05,
    -1.28495495816278026384e-04, 1.56988388573005337491e-03, -3.14481013119645005427e-02,
    2.44030308206595545468e+00,
]
_K1_A = [
    -7.02386347938628759343e-18, -2.42744985051936593393e-15, -6.66690169419932900609e-13,
    -1.41148839263352776110e-10, -2.21338763073472585583e-08, -2.43340614156596823496e-06,
    -1.73028895751305206302e-04, -6.97572385963986435018e-03, -1.22611180822657148235e-01,
    -3.53155960776544875667e-01, 1.52530022733894777053e+00,
]
_K1_B = [
    -5.75674448366501715755e-18, 1.79405087314755922667e-17, -5.68946255844285935196e-17,
    1.83809354436663880070e-16, -6.05704724837331885336e-16, 2.03870316562433424052e-15,
    -7.01983709041831346144e-15, 2.47715442448130437068e-14, -8.97670518232499435011e-14,
    3.34841966607842919884e-13, -1.28917396095102890680e-12, 5.13963967348173025100e-12,
    -2.12996783842756842877e-11, 9.21831518760500529508e-11, -4.19035475934189648750e-10,
    2.01504975519703286596e-09, -1.03457624656780970260e-08, 5.74108412545004946722e-08,
    -3.50196060308781257119e-07, 2.40648494783721712015e-06, -1.93619797416608296024e-05,
    1.95215518471351631108e-04, -2.85781685962277938680e-03, 1.03923736576817238437e-01,
    2.72062619048444266945e+00,
]
# J0/Y0 and J1/Y1 beyond x = 5: P and Q of the Hankel expansion as rational functions of 25/x^2
_J0_PP = [7.96936729297347051624e-04, 8.28352392107440799803e-02, 1.23953371646414299388e+00,
          5.44725003058768775090e+00, 8.74716500199817011941e+00, 5.30324038235394892183e+00,
          9.99999999999999997821e-01]
_J0_PQ = [9.24408810558863637013e-04, 8.56288474354474431428e-02, 1.25352743901058953537e+00,
          5.47097740330417105182e+00, 8.76190883237069594232e+00, 5.30605288235394617618e+00,
          1.00000000000000000218e+00]
_J0_QP = [-1.13663838898469149931e-02, -1.28252718670509318512e+00, -1.95539544257735972385e+01,
          -9.32060152123768231369e+01, -1.77681167980488050595e+02, -1.47077505154951170175e+02,
          -5.14105326766599330220e+01, -6.05014350600728481186e+00]
_J0_QQ = [6.43178256118178023184e+01, 8.56430025976980587198e+02, 3.88240183605401609683e+03,
          7.24046774195652478189e+03, 5.93072701187316984827e+03, 2.06209331660327847417e+03,
          2.42005740240291393179e+02]
_J0_RP = [-4.79443220978201773821e+09, 1.95617491946556577543e+12, -2.49248344360967716204e+14,
          9.70862251047306323952e+15]
_J0_RQ = [4.99563147152651017219e+02, 1.73785401676374683123e+05, 4.84409658339962045305e+07,
          1.11855537045356834862e+10, 2.11277520115489217587e+12, 3.10518229857422583814e+14,
          3.18121955943204943306e+16, 1.71086294081043136091e+18]
_Y0_YP = [1.55924367855235737965e+04, -1.46639295903971606143e+07, 5.43526477051876500413e+09,
          -9.82136065717911466409e+11, 8.75906394395366999549e+13, -3.46628303384729719441e+15,
          4.42733268572569800351e+16, -1.84950800436986690637e+16]
_Y0_YQ = [1.04128353664259848412e+03, 6.26107330137134956842e+05, 2.68919633393814121987e+08,
          8.64002487103935000337e+10, 2.02979612750105546709e+13, 3.17157752842975028269e+15,
          2.50596256172653059228e+17]
_J1_PP = [7.62125616208173112003e-04, 7.31397056940917570436e-02, 1.12719608129684925192e+00,
          5.11207951146807644818e+00, 8.42404590141772420927e+00, 5.21451598682361504063e+00,
          1.00000000000000000254e+00]
_J1_PQ = [5.71323128072548699714e-04, 6.88455908754495404082e-02, 1.10514232634061696926e+00,
          5.07386386128601488557e+00, 8.39985554327604159757e+00, 5.20982848682361821619e+00,
          9.99999999999999997461e-01]
_J1_QP = [5.10862594750176621635e-02, 4.98213872951233449420e+00, 7.58238284132545283818e+01,
          3.66779609360150777800e+02, 7.10856304998926107277e+02, 5.97489612400613639965e+02,
          2.11688757100572135698e+02, 2.52070205858023719784e+01]
_J1_QQ = [7.42373277035675149943e+01, 1.05644886038262816351e+03, 4.98641058337653607651e+03,
          9.56231892404756170795e+03, 7.99704160447350683650e+03, 2.82619278517639096600e+03,
          3.36093607810698293419e+02]
_J1_RP = [-8.99971225705559398224e+08, 4.52228297998194034323e+11, -7.27494245221818276015e+13,
          3.68295732863852883286e+15]
_J1_RQ = [6.20836478118054335476e+02, 2.56987256757748830383e+05, 8.35146791431949253037e+07,
          2.21511595479792499675e+10, 4.74914122079991414898e+12, 7.84369607876235854894e+14,
          8.95222336184627338078e+16, 5.32278620332680085395e+18]
_Y1_YP = [1.26320474790178026440e+09, -6.47355876379160291031e+11, 1.14509511541823727583e+14,
          -8.12770255501325109621e+15, 2.02439475713594898196e+17, -7.78877196265950026825e+17]
_Y1_YQ = [5.94301592346128195359e+02, 2.35564092943068577943e+05, 7.34811944459721705660e+07,
          1.87601316108706159478e+10, 3.88231277496238566008e+12, 6.20557727146953693363e+14,
          6.87141087355300489866e+16, 3.97270608116560655612e+18]
# (torch drops the leading 1 Cephes' p1evl implies in RQ, YQ, QQ, AFD, AGD: so do we, to match)
# Airy Ai: a rational function of 1/zeta for x >= 2.09, the modulus/phase form below -2.09
_AI_AN = [3.46538101525629032477e-01, 1.20075952739645805542e+01, 7.62796053615234516538e+01,
          1.68089224934630576269e+02, 1.59756391350164413639e+02, 7.05360906840444183113e+01,
          1.40264691163389668864e+01, 9.99999999999999995305e-01]
_AI_AD = [5.67594532638770212846e-01, 1.47562562584847203173e+01, 8.45138970141474626562e+01,
          1.77318088145400459522e+02, 1.64234692871529701831e+02, 7.14778400825575695274e+01,
          1.40959135607834029598e+01, 1.00000000000000000470e+00]
_AI_AFN = [-1.31696323418331795333e-01, -6.26456544431912369773e-01, -6.93158036036933542233e-01,
           -2.79779981545119124951e-01, -4.91900132609500318020e-02, -4.06265923594885404393e-03,
           -1.59276496239262096340e-04, -2.77649108155232920844e-06, -1.67787698489114633780e-08]
_AI_AFD = [1.33560420706553243746e+01, 3.26825032795224613948e+01, 2.67367040941499554804e+01,
           9.18707402907259625840e+00, 1.47529146771666414581e+00, 1.15687173795188044134e-01,
           4.40291641615211203805e-03, 7.54720348287414296618e-05, 4.51850092970580378464e-07]
_AI_AGN = [1.97339932091685679179e-02, 3.91103029615688277255e-01, 1.06579897599595591108e+00,
           9.39169229816650230044e-01, 3.51465656105547619242e-01, 6.33888919628925490927e-02,
           5.85804113048388458567e-03, 2.82851600836737019778e-04, 6.98793669997260967291e-06,
           8.11789239554389293311e-08, 3.41551784765923618484e-10]
_AI_AGD = [9.30892908077441974853e+00, 1.98352928718312140417e+01, 1.55646628932864612953e+01,
           5.47686069422975497931e+00, 9.54293611618961883998e-01, 8.64580826352392193095e-02,
           4.12656523824222607191e-03, 1.01259085116509135510e-04, 1.17166733214413521882e-06,
           4.91834570062930015649e-09]
# fmt: on


def _f64(f):
    """f on x in float64 (NumPy's warnings off), rounded once to x's dtype."""

    def g(x):
        with np.errstate(all="ignore"):
            return np.asarray(f(np.asarray(x, np.float64))).astype(x.dtype, copy=False)

    return g


def _i0e(x):
    """Cephes' series for these tables, torch's bits: the C kernel (special.cpp's bessel_ie)."""
    return _C.special("i0e", np.asarray(x, np.float64, order="C"))


def _i1e(x):
    return _C.special("i1e", np.asarray(x, np.float64, order="C"))


def _mbi0(x):
    return np.exp(np.abs(x)) * _i0e(x)


def _mbi1(x):
    return np.exp(np.abs(x)) * _i1e(x)


def _bessel_k(x, order, scaled):
    """K0 / K1 (times e^x when scaled): inf at 0, NaN below."""
    a, b = (_K0_A, _K0_B) if order == 0 else (_K1_A, _K1_B)
    small = _chbevl(x * x - 2, a)
    if order == 0:
        small = small - np.log(0.5 * x) * _mbi0(x)
    else:
        small = np.log(0.5 * x) * _mbi1(x) + small / x
    big = _chbevl(8 / x - 2, b) / np.sqrt(x)
    v = (
        np.where(x <= 2, small * np.exp(x), big)
        if scaled
        else np.where(x <= 2, small, np.exp(-x) * big)
    )
    return np.where(x == 0, np.inf, np.where(x < 0, np.nan, v))


def _hankel(x, order):
    """The Hankel expansion's pieces beyond x = 5 for order 0 or 1: P, (5 / x) Q (rational
    functions of 25 / x^2), the phase x - (2 order + 1) pi / 4 and sqrt(2 / (pi x))."""
    if order == 0:
        w = 25 / (x * x)
        pp, pq, qp, qq = _J0_PP, _J0_PQ, _J0_QP, _J0_QQ
        phase = x - 0.785398163397448309615660845819875721
    else:
        w = 5 / x * (5 / x)
        pp, pq, qp, qq = _J1_PP, _J1_PQ, _J1_QP, _J1_QQ
        phase = x - 2.356194490192344928846982537459627163
    p = _polevl(w, pp) / _polevl(w, pq)
    q = _polevl(w, qp) / _polevl(w, qq)
    return p, 5 / x * q, phase, 0.797884560802865355879892119868763737 / np.sqrt(x)


def _j0(x):
    x = np.abs(x)
    w = x * x
    small = (w - 5.78318596294678452118e00) * (w - 3.04712623436620863991e01)
    small = small * _polevl(w, _J0_RP) / _polevl(w, _J0_RQ)
    small = np.where(x < 1e-5, 1 - w / 4, small)
    p, q, ph, c = _hankel(x, 0)
    return np.where(x <= 5, small, (p * np.cos(ph) - q * np.sin(ph)) * c)


def _j1(x):
    ax = np.abs(x)
    w = ax * ax
    small = _polevl(w, _J1_RP) / _polevl(w, _J1_RQ) * ax
    small = small * (w - 1.46819706421238932572e01) * (w - 4.92184563216946036703e01)
    p, q, ph, c = _hankel(ax, 1)
    v = np.where(ax <= 5, small, (p * np.cos(ph) - q * np.sin(ph)) * c)
    return np.where(x < 0, -v, v)


def _y0(x):
    w = x * x
    small = _polevl(w, _Y0_YP) / _polevl(w, _Y0_YQ) + 0.636619772367581343075535053490057448 * (
        np.log(x) * _j0(x)
    )
    p, q, ph, c = _hankel(x, 0)
    v = np.where(x <= 5, small, (p * np.sin(ph) + q * np.cos(ph)) * c)
    return np.where(x == 0, -np.inf, np.where(x < 0, np.nan, v))


def _y1(x):
    w = x * x
    small = x * (_polevl(w, _Y1_YP) / _polevl(w, _Y1_YQ))
    small = small + 0.636619772367581343075535053490057448 * (_j1(x) * np.log(x) - 1 / x)
    p, q, ph, c = _hankel(x, 1)
    v = np.where(x <= 5, small, (p * np.sin(ph) + q * np.cos(ph)) * c)
    return np.where(x == 0, -np.inf, np.where(x < 0, np.nan, v))


def _airy_ai(x):
    # below -2.09: modulus and phase in z = 1 / zeta, zeta = (2/3) (-x)^(3/2)
    zeta = -2.0 * x * np.sqrt(-x) / 3.0
    z = 1.0 / zeta
    zz = z * z
    f = 1.0 + zz * _polevl(zz, _AI_AFN) / _polevl(zz, _AI_AFD)
    g = z * _polevl(zz, _AI_AGN) / _polevl(zz, _AI_AGD)
    t = zeta + 0.25 * math.pi
    neg = 5.64189583547756286948e-01 / np.sqrt(np.sqrt(-x)) * (np.sin(t) * f - np.cos(t) * g)
    # from 2.09: a rational function of 1 / zeta, zeta = (2/3) x^(3/2)
    zeta = 2.0 * x * np.sqrt(x) / 3.0
    r = _polevl(1.0 / zeta, _AI_AN) / _polevl(1.0 / zeta, _AI_AD)
    pos = 5.64189583547756286948e-01 * r / (2.0 * np.sqrt(np.sqrt(x)) * np.exp(zeta))
    # between: the Maclaurin series Ai = c1 f - c2 g (terms until they stop adding to f)
    mid = (x >= -2.09) & (x < 2.09)
    xm = np.where(mid, x, 0.0)
    f, g, k, m, n, z = np.ones_like(xm), xm.copy(), 1.0, np.ones_like(xm), xm.copy(), xm**3
    t = np.ones_like(xm)
    while np.any(t > np.finfo(np.float64).eps):
        m = m * z / (k + 1)
        n = n * z / (k + 2)
        m = m / (k + 2)
        f = f + m
        n = n / (k + 3)
        g = g + n
        k += 3
        t = np.abs(m / f)
    series = 0.355028053887817239260 * f - 0.258819403792806798405 * g
    v = np.where(x < -2.09, neg, np.where(mid, series, pos))
    return np.where(np.isinf(x), np.nan, np.where(x > 103.892, 0.0, v))


def _spherical_j0(x):
    w = x * x
    series = 1.0 + w * (
        -1.0 / 6.0
        + w
        * (
            1.0 / 120.0
            + w
            * (
                -1.0 / 5040.0
                + w * (1.0 / 362880.0 + w * (-1.0 / 39916800.0 + w * (1.0 / 6227020800.0)))
            )
        )
    )
    return np.where(np.isinf(x), 0.0, np.where(np.abs(x) < 0.5, series, np.sin(x) / x))


def _erfc64(x):
    return _special("erfc", x)


def _erfcx(x):
    """e^(x^2) erfc(x): with x^2 split exactly into hi + lo below 2, by the continued fraction
    erfc(x) = e^-x^2 / sqrt(pi) / (x + (1/2) / (x + 1 / (x + (3/2) / (x + ...)))) above; for
    x < 0, 2 e^(x^2) - erfcx(-x) (inf below -26.7, as torch)."""
    ax = np.abs(x)
    c = 134217729.0 * ax  # Dekker's split: ax = xh + xl with xh * xh exact
    xh = c - (c - ax)
    xl = ax - xh
    hi = ax * ax
    lo = ((xh * xh - hi) + 2 * xh * xl) + xl * xl
    exp_sq = np.exp(hi) * np.exp(lo)
    pos = np.array(exp_sq * _erfc64(np.where(ax < 2, ax, 0.0)))  # (0-d stays an array)
    # the fraction from its N-th term down: converged to 1e-16 with these N from these x on
    for lo, hi, terms in ((2, 4, 100), (4, 8, 40), (8, 20, 20), (20, np.inf, 12)):
        part = (ax >= lo) & (ax < hi)
        xs, f = ax[part], np.zeros(np.count_nonzero(part), ax.dtype)
        for k in range(terms, 0, -1):
            f = (k / 2) / (xs + f)
        pos[part] = 1 / (math.sqrt(math.pi) * (xs + f))
    pos = np.where(ax > 5e7, 1 / (math.sqrt(math.pi) * ax), pos)
    neg = np.where(x < -26.7, np.inf, 2 * exp_sq - pos)
    return np.where(np.isnan(x), x, np.where(x < 0, neg, pos))


def _log_ndtr(x):
    t = x * math.sqrt(0.5)
    left = np.log(_erfcx(-t) / 2) - t * t
    return np.where(x < -1, left, np.log1p(-_erfc64(t) / 2))


# fmt: off
_NDTRI_P0 = [-5.99633501014107895267e1, 9.80010754185999661536e1, -5.66762857469070293439e1,
             1.39312609387279679503e1, -1.23916583867381258016e0]
_NDTRI_Q0 = [1.0, 1.95448858338141759834e0, 4.67627912898881538453e0, 8.63602421390890590575e1,
             -2.25462687854119370527e2, 2.00260212380060660359e2, -8.20372256168333339912e1,
             1.59056225126211695515e1, -1.18331621121330003142e0]
_NDTRI_P1 = [4.05544892305962419923e0, 3.15251094599893866154e1, 5.71628192246421288162e1,
             4.40805073893200834700e1, 1.46849561928858024014e1, 2.18663306850790267539e0,
             -1.40256079171354495875e-1, -3.50424626827848203418e-2, -8.57456785154685413611e-4]
_NDTRI_Q1 = [1.0, 1.57799883256466749731e1, 4.53907635128879210584e1, 4.13172038254672030440e1,
             1.50425385692907503408e1, 2.50464946208309415979e0, -1.42182922854787788574e-1,
             -3.80806407691578277194e-2, -9.33259480895457427372e-4]
_NDTRI_P2 = [3.23774891776946035970e0, 6.91522889068984211695e0, 3.93881025292474443415e0,
             1.33303460815807542389e0, 2.01485389549179081538e-1, 1.23716634817820021358e-2,
             3.01581553508235416007e-4, 2.65806974686737550832e-6, 6.23974539184983293730e-9]
_NDTRI_Q2 = [1.0, 6.02427039364742014255e0, 3.67983563856160859403e0, 1.37702099489081330271e0,
             2.16236993594496635890e-1, 1.34204006088543189037e-2, 3.28014464682127739104e-4,
             2.89247864745380683936e-6, 6.79019408009981274425e-9]
# fmt: on


def _ndtri(p):
    """Cephes' ndtri (as torch's calc_ndtri): a rational function of p - 1/2 in the middle, of
    1 / sqrt(-2 ln q) in the tails, with q = min(p, 1 - p) (erfinv(2p - 1) is -inf in float32
    from p = 3e-8 down, as 2p - 1 rounds to -1)."""
    e2 = 0.1353352832366127  # e^-2
    upper = p > 1 - e2
    q = np.where(upper, 1 - p, p)
    y = q - 0.5
    y2 = y * y
    mid = (y + y * (y2 * _polevl(y2, _NDTRI_P0) / _polevl(y2, _NDTRI_Q0))) * math.sqrt(2 * math.pi)
    qt = np.where((q > 0) & (q <= e2), q, e2)  # (keeps the tail's logs finite elsewhere)
    x = np.sqrt(-2 * np.log(qt))
    z = 1 / x
    x1 = np.where(
        x < 8,
        z * _polevl(z, _NDTRI_P1) / _polevl(z, _NDTRI_Q1),
        z * _polevl(z, _NDTRI_P2) / _polevl(z, _NDTRI_Q2),
    )
    tail = x - np.log(x) / x - x1
    r = np.where(q > e2, mid, np.where(upper, tail, -tail))
    r = np.where(p == 0, -np.inf, np.where(p == 1, np.inf, r))
    return np.where((p < 0) | (p > 1) | np.isnan(p), np.nan, r)


def _nograd(name, f, doc):
    """A torch.special function torch gives no gradient: its result does not require grad."""

    def op(input) -> Tensor:  # noqa: A002 (some are torch's x: _keywords.TORCH_NAMES)
        return Tensor(_f64(f)(_float_operand(input, name).data))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


def _smooth(name, f, df, dgraph, doc):
    """y = f(x) with dy/dx = df(x, y) (NumPy) and dgraph(x, y) (ember ops, for double backward)."""
    f64 = _f64(f)

    def d(x, y):
        with np.errstate(all="ignore"):
            return np.asarray(df(x, y)).astype(x.dtype, copy=False)

    d.graph = dgraph

    def op(input) -> Tensor:  # noqa: A002
        return Elementwise.apply(_float_operand(input, name), f64, d)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


def _at_zero(x, value, f):
    """f(x) in ember ops, value where x == 0 (f never sees the 0, so no NaN leaks)."""
    return where(x == 0, value, f(where(x == 0, 1.0, x)))


i0e = _smooth(
    "i0e",
    _i0e,
    lambda x, y: _f64(_i1e)(x) - np.sign(x) * y,
    lambda x, y: i1e(x) - sign(x) * y,
    "The exponentially scaled modified Bessel function of order 0, e^-|x| I0(x).",
)
i1e = _smooth(
    "i1e",
    _i1e,
    lambda x, y: np.where(x == 0, 0.5, _f64(_i0e)(x) - y * (np.sign(x) + 1 / x)),
    lambda x, y: _at_zero(x, 0.5, lambda t: i0e(t) - y * (sign(t) + 1 / t)),
    "The exponentially scaled modified Bessel function of order 1, e^-|x| I1(x).",
)
erfcx = _smooth(
    "erfcx",
    _erfcx,
    lambda x, y: 2 * x * y - 2 / math.sqrt(math.pi),
    lambda x, y: 2 * x * y - 2 / math.sqrt(math.pi),
    "The scaled complementary error function e^(x^2) erfc(x).",
)
# d log_ndtr / dx = pdf / cdf = sqrt(2 / pi) / erfcx(-x / sqrt 2): torch's exp(-(y + x^2 / 2))
# cancels catastrophically far left (0.4 instead of 1e9 at x = -1e9 in float32)
log_ndtr = _smooth(
    "log_ndtr",
    _log_ndtr,
    lambda x, y: _f64(lambda v: math.sqrt(2 / math.pi) / _erfcx(-v * math.sqrt(0.5)))(x),
    lambda x, y: math.sqrt(2 / math.pi) / erfcx(-x * math.sqrt(0.5)),
    "The log of the standard normal CDF, accurate far into the left tail.",
)
ndtri = _smooth(
    "ndtri",
    _ndtri,
    lambda x, y: math.sqrt(2 * math.pi) * np.exp(y * y / 2),  # 1 / pdf(ndtri(p)), as torch
    lambda x, y: math.sqrt(2 * math.pi) * exp(y * y / 2),
    "The inverse of ndtr (Cephes' rational approximations, accurate in both tails).",
)
i1 = _i1  # ember's I1 (gradient I0 - I1 / x, 1/2 at 0), within 1e-15 of torch's

airy_ai = _nograd("airy_ai", _airy_ai, "The Airy function Ai(x).")
bessel_j0 = _nograd("bessel_j0", _j0, "The Bessel function of the first kind of order 0.")
bessel_j1 = _nograd("bessel_j1", _j1, "The Bessel function of the first kind of order 1.")
bessel_y0 = _nograd("bessel_y0", _y0, "The Bessel function of the second kind of order 0.")
bessel_y1 = _nograd("bessel_y1", _y1, "The Bessel function of the second kind of order 1.")
modified_bessel_i0 = _nograd("modified_bessel_i0", _mbi0, "I0(x), without a gradient (torch).")
modified_bessel_i1 = _nograd("modified_bessel_i1", _mbi1, "I1(x), without a gradient (torch).")
modified_bessel_k0 = _nograd(
    "modified_bessel_k0", lambda x: _bessel_k(x, 0, False), "K0(x): inf at 0, NaN below."
)
modified_bessel_k1 = _nograd(
    "modified_bessel_k1", lambda x: _bessel_k(x, 1, False), "K1(x): inf at 0, NaN below."
)
scaled_modified_bessel_k0 = _nograd(
    "scaled_modified_bessel_k0", lambda x: _bessel_k(x, 0, True), "e^x K0(x)."
)
scaled_modified_bessel_k1 = _nograd(
    "scaled_modified_bessel_k1", lambda x: _bessel_k(x, 1, True), "e^x K1(x)."
)
spherical_bessel_j0 = _nograd("spherical_bessel_j0", _spherical_j0, "sin(x) / x, 1 at 0.")


def _zeta(x, q):
    """The Hurwitz zeta function sum_k (k + q)^-x (Cephes' algorithm, as torch's; in C++:
    a q far below 0 sums |q| terms, as torch's loop does), in float64."""
    shape = np.broadcast_shapes(np.shape(x), np.shape(q))  # (ascontiguousarray makes 0-d 1-d)
    x, q = (np.ascontiguousarray(v, np.float64) for v in np.broadcast_arrays(x, q))
    return _C.zeta(x, q).reshape(shape)


class _Zeta(Function):
    """zeta(x, q), differentiable in q only (d/dq = -x zeta(x + 1, q)), as torch."""

    @staticmethod
    def forward(ctx, x, q):
        ctx.save_for_backward(x, q)
        with np.errstate(all="ignore"):
            return _zeta(x, q).astype(np.result_type(x, q), copy=False)

    @staticmethod
    def backward(ctx, g):
        x, q = ctx.saved_tensors
        if input_wanted(ctx, 0):  # (only when this pass asks for x's, as torch)
            raise NotImplementedError("the derivative for 'zeta' is not implemented (torch: x)")
        if not ctx.needs_input_grad[1]:
            return None, None
        with np.errstate(all="ignore"):
            d = -np.asarray(x) * _zeta(np.asarray(x) + 1, q)
        return None, unbroadcast((g * d).astype(g.dtype, copy=False), _shape(q))

    @staticmethod
    def backward_graph(ctx, g):
        if input_wanted(ctx, 0):
            return _Zeta.backward(ctx, g.data)  # (refuses x's)
        x, q0 = ctx.saved_tensors
        (q,) = _graph.inputs(ctx, None, q0)[1:]
        x = np.asarray(x, q0.dtype)  # (a Python number: q's dtype, as the forward's)
        d = -x * _Zeta.apply(x + 1, q)
        return None, _graph.sum_to(g * d, _shape(q0))


def zeta(input, other) -> Tensor:  # noqa: A002
    """The Hurwitz zeta function zeta(x, q) = sum_k (k + q)^-x (torch.special.zeta); the
    gradient flows to ``other`` (q) only: for ``input`` torch has none and neither have we."""
    x, q = _float_pair_operands("zeta", input, other)
    _complex.refuse("zeta", x, q)  # (real only, as torch)
    _lowp.refuse("zeta", *(getattr(v, "dtype", None) for v in (x, q)))  # (numbers pass)
    return _Zeta.apply(x, q)


def _degree(n, shape):
    """torch's static_cast<int64_t>(n): truncated; NaN, +-inf and out-of-range n become -1
    (x86's conversion gives INT64_MIN there: negative, so the polynomial is 0)."""
    n = np.broadcast_to(np.asarray(n, np.float64), shape)
    ok = np.isfinite(n) & (np.abs(n) < 2.0**63)
    return np.where(ok, np.trunc(np.where(ok, n, -1)), -1).astype(np.int64)


def _recurrence(kind: int, x, n, first):
    """P_n(x) from P_0 = 1 and P_1 = first by the family's three-term recurrence, as torch's
    loops (in x's dtype, NaN stopping it; csrc/ops/special.cpp): kind 0 Chebyshev (of x, the
    shifted ones of 2x - 1), 1 Hermite H, 2 Hermite He, 3 Laguerre, 4 Legendre."""
    shape = x.shape  # (ascontiguousarray makes a 0-d array 1-d)
    x, first = (np.ascontiguousarray(v, x.dtype) for v in (x, first))
    return _C.poly_recurrence(x, first, np.ascontiguousarray(n, np.int64), kind).reshape(shape)


def _unless(n, replaced):
    """The degrees to run the recurrence to: none where another formula gives the value (a
    degree of 1e9 there would loop for seconds for nothing)."""
    return np.where(replaced, 0, n)


def _chebyshev(kind, x, n, *, shifted):
    """T, U, V, W (shifted: of 2x - 1) by the recurrence, by the trigonometric forms for large
    n inside (-1, 1), with torch's values at the ends and 0 for n < 0."""
    y = x + x - 1 if shifted else x  # torch's shifted forms compute 2x - 1 the same way
    one = np.ones_like(y)
    big = {"t": 6, "u": 8, "v": 8, "w": 8}[kind] if not shifted else (4 if kind == "w" else 6)
    even = n % 2 == 0
    # the trigonometric functions in float64 rounded once: correctly rounded as glibc's float
    # ones (NumPy's float32 loops are a few ulps off, which n then multiplies)
    acos, cos, sin = (_f64(f) for f in (np.arccos, np.cos, np.sin))
    th = acos(np.where(np.abs(y) < 1, y, 0))
    nf = n.astype(y.dtype)
    if kind == "t":
        first, trig = y, cos(nf * th)
        at_p1, at_m1 = one, np.where(even, 1, -1)
    elif kind == "u":
        first = y + y
        s = sin(th)
        trig = np.where(s != 0, sin((nf + 1) * th) / np.where(s != 0, s, 1), 0)
        trig = np.where(s != 0, trig, (nf + 1) * cos((nf + 1) * th) / y)
        at_p1, at_m1 = nf + 1, np.where(even, nf + 1, -(nf + 1))
    elif kind == "v":
        first = y + y - 1
        h = sin(th / 2)
        trig = cos((nf + 0.5) * th) / cos(th / 2)
        trig = np.where(h != 1, trig, np.where(even, 2 * nf + 1, -(2 * nf + 1)))
        at_p1, at_m1 = one, np.where(even, 2 * nf + 1, -(2 * nf + 1))
    else:
        first = y + y + 1
        h = cos(th / 2)
        trig = sin((nf + 0.5) * th) / sin(th / 2)
        trig = np.where(h != 1, trig, np.where(y > 0, 2 * nf + 1, np.where(even, 1, -1)))
        at_p1, at_m1 = 2 * nf + 1, np.where(even, 1, -1)
    ends = (x == 1, x == 0) if shifted else (y == 1, y == -1)
    by_trig = (n > big) & (np.abs(y) < 1)
    rec = _recurrence(0, y, _unless(n, by_trig | ends[0] | ends[1]), first)
    v = np.where(n == 0, one, np.where(n == 1, first, rec))
    v = np.where(by_trig, trig, v)
    v = np.where(ends[1], at_m1, v)
    v = np.where(ends[0], at_p1, v)
    return np.where(n < 0, 0, v)


def _hermite(x, n, physicists):
    one = np.ones_like(x)
    first = x + x if physicists else x.copy()
    limit = 128 if x.dtype == np.float32 else 512  # torch's cut-off: NaN beyond
    rec = _recurrence(1 if physicists else 2, x, _unless(n, n > limit), first)
    v = np.where(n == 0, one, np.where(n == 1, first, rec))
    return np.where(n < 0, 0, np.where(n > limit, np.nan, v))


def _laguerre(x, n):
    one = np.ones_like(x)
    first = 1 - x

    rec = _recurrence(3, x, _unless(n, x == 0), first)
    v = np.where(n == 0, one, np.where(n == 1, first, rec))
    return np.where(n < 0, 0, np.where(x == 0, one, v))


def _legendre(x, n):
    one = np.ones_like(x)

    v = np.where(n == 0, one, np.where(n == 1, x, _recurrence(4, x, _unless(n, np.abs(x) == 1), x)))
    v = np.where(np.abs(x) == 1, np.where((x > 0) | (n % 2 == 0), 1, -1), v)
    return np.where(n < 0, 0, v)


def _polynomial(name, f, doc):
    def op(x, n) -> Tensor:  # (torch's names)
        x, m = _float_pair_operands(name, x, n)
        xd, md = np.asarray(_data(x)), np.asarray(_data(m))
        dtype = np.result_type(_data(x), _data(m))
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"{name}: float32 or float64 only (as torch), got {dtype}")
        shape = np.broadcast_shapes(xd.shape, md.shape)
        xb = np.array(np.broadcast_to(xd, shape), dtype)
        with np.errstate(all="ignore"):
            y = f(xb, _degree(md, shape))
        return Tensor(np.asarray(y).astype(dtype, copy=False))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc + (
        " n: a tensor or number, broadcast with x, truncated to an integer (n < 0 gives 0);"
        " no gradient (torch has none)."
    )
    return op


chebyshev_polynomial_t, chebyshev_polynomial_u, chebyshev_polynomial_v, chebyshev_polynomial_w = (
    _polynomial(
        f"chebyshev_polynomial_{k}",
        partial(_chebyshev, k, shifted=False),
        f"The Chebyshev polynomial {k.upper()}_n(x).",
    )
    for k in "tuvw"
)
(
    shifted_chebyshev_polynomial_t,
    shifted_chebyshev_polynomial_u,
    shifted_chebyshev_polynomial_v,
    shifted_chebyshev_polynomial_w,
) = (
    _polynomial(
        f"shifted_chebyshev_polynomial_{k}",
        partial(_chebyshev, k, shifted=True),
        f"The shifted Chebyshev polynomial {k.upper()}_n(2x - 1).",
    )
    for k in "tuvw"
)
hermite_polynomial_h = _polynomial(
    "hermite_polynomial_h", lambda x, n: _hermite(x, n, True), "The physicists' Hermite H_n(x)."
)
hermite_polynomial_he = _polynomial(
    "hermite_polynomial_he", lambda x, n: _hermite(x, n, False), "The probabilists' He_n(x)."
)
laguerre_polynomial_l = _polynomial("laguerre_polynomial_l", _laguerre, "Laguerre L_n(x).")
legendre_polynomial_p = _polynomial("legendre_polynomial_p", _legendre, "Legendre P_n(x).")
