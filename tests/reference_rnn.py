"""Self-contained NumPy references for one recurrent layer in one direction (a plain time loop).

PyTorch's formulations and gate order: LSTM (i, f, g, o); GRU (r, z, n) with
n = tanh(W_in x + b_in + r * (W_hn h + b_hn)); Elman RNN with tanh or relu. x is (T, N, I)
time-major, states (N, H); an LSTM with projections w_hr (P, H) has h (N, P). ``lengths`` (N,)
follows pack_padded_sequence: steps t >= lengths[n] leave sequence n's state unchanged and
output zeros; in reverse each sequence starts at its own last step. Returns (y, h_n) or, for
the LSTM, (y, h_n, c_n).
"""

import numpy as np


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _steps(T, reverse):
    return range(T - 1, -1, -1) if reverse else range(T)


def _mask(t, lengths, N):
    if lengths is None:
        return np.ones((N, 1), dtype=bool)
    return (t < np.asarray(lengths))[:, None]


def lstm_ref(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, lengths=None, reverse=False, w_hr=None):
    """w_hr (P, H): LSTM with projections, h_t = (o * tanh(c_t)) @ w_hr.T of width P."""
    T, N, _ = x.shape
    H = c0.shape[1]
    b = 0 if b_ih is None else b_ih + b_hh
    h, c = h0.copy(), c0.copy()
    y = np.zeros((T, N, h0.shape[1]), dtype=x.dtype)
    for t in _steps(T, reverse):
        a = x[t] @ w_ih.T + h @ w_hh.T + b
        i, f = _sigmoid(a[:, :H]), _sigmoid(a[:, H : 2 * H])
        g, o = np.tanh(a[:, 2 * H : 3 * H]), _sigmoid(a[:, 3 * H :])
        c_new = f * c + i * g
        h_new = o * np.tanh(c_new)
        if w_hr is not None:
            h_new = h_new @ w_hr.T
        m = _mask(t, lengths, N)
        c = np.where(m, c_new, c)
        h = np.where(m, h_new, h)
        y[t] = np.where(m, h_new, 0)
    return y, h, c


def gru_ref(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, lengths=None, reverse=False):
    T, N, _ = x.shape
    H = h0.shape[1]
    h = h0.copy()
    y = np.zeros((T, N, H), dtype=x.dtype)
    for t in _steps(T, reverse):
        gi = x[t] @ w_ih.T + (0 if b_ih is None else b_ih)
        gh = h @ w_hh.T + (0 if b_hh is None else b_hh)
        r = _sigmoid(gi[:, :H] + gh[:, :H])
        z = _sigmoid(gi[:, H : 2 * H] + gh[:, H : 2 * H])
        n = np.tanh(gi[:, 2 * H :] + r * gh[:, 2 * H :])
        h_new = (1 - z) * n + z * h
        m = _mask(t, lengths, N)
        h = np.where(m, h_new, h)
        y[t] = np.where(m, h_new, 0)
    return y, h


def rnn_ref(
    x, h0, w_ih, w_hh, b_ih=None, b_hh=None, lengths=None, reverse=False, nonlinearity="tanh"
):
    T, N, _ = x.shape
    H = h0.shape[1]
    b = 0 if b_ih is None else b_ih + b_hh
    act = np.tanh if nonlinearity == "tanh" else (lambda a: np.maximum(a, 0))
    h = h0.copy()
    y = np.zeros((T, N, H), dtype=x.dtype)
    for t in _steps(T, reverse):
        h_new = act(x[t] @ w_ih.T + h @ w_hh.T + b)
        m = _mask(t, lengths, N)
        h = np.where(m, h_new, h)
        y[t] = np.where(m, h_new, 0)
    return y, h
