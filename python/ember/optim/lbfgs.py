"""L-BFGS with PyTorch's algorithm, optional strong-Wolfe line search and state layout.

L-BFGS treats all parameters as one flat vector (its history holds flat steps and gradient
differences and its two-loop recursion is a chain of dot products over the whole vector), so
it works on flattened NumPy vectors rather than per-parameter C++ kernels: each step is a few
vector operations over the concatenated parameters. Parameters are updated in place.
"""

from __future__ import annotations

import numpy as np

from ember.autograd.function import no_grad
from ember.optim.optimizer import (
    Optimizer,
    _check_nonneg,
    _grad_array,
    _real_view,
    _run_closure,
    _wrap,
)
from ember.tensor import Tensor


def _real(a: np.ndarray) -> np.ndarray:
    return _real_view(a) if a.dtype.kind == "c" else a


def _arrays(v):
    """A state value for the NumPy maths: a Tensor's array (no copy), lists entry by entry."""
    if isinstance(v, Tensor):
        return v.data
    if isinstance(v, list):
        return [_arrays(x) for x in v]
    return v


def _tensors(v, old=None):
    """A value as the state holds it, as torch's: arrays and NumPy scalars as Tensors (no
    copy; the state's Tensor ``old`` itself where it already holds that array, as torch
    keeps updating its tensors in place), lists entry by entry, Python numbers as they are."""
    if isinstance(v, np.ndarray | np.generic):
        if isinstance(old, Tensor) and old.data is v:
            return old
        return _wrap(np.asarray(v))
    if isinstance(v, list):
        held = (
            {id(t.data): t for t in old if isinstance(t, Tensor)} if isinstance(old, list) else {}
        )
        return [_tensors(x, held.get(id(x))) for x in v]
    return v


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """Minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), clipped to ``bounds``
    (default: the interval between x1 and x2); its midpoint when the cubic has none."""
    if bounds is not None:
        xmin_bound, xmax_bound = bounds
    else:
        xmin_bound, xmax_bound = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if d2_square >= 0:
        d2 = np.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


def _strong_wolfe(obj_func, x, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """PyTorch's (minFunc's) line search: bracket a step satisfying the strong Wolfe
    conditions, then zoom in by cubic interpolation. Returns (f, g, t, evaluations)."""
    d_norm = np.abs(d).max()
    g = g.copy()
    f_new, g_new = obj_func(x, t, d)
    ls_func_evals = 1
    gtd_new = g_new.dot(d)

    # bracketing phase
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        # extrapolate
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = _cubic_interpolate(
            t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step)
        )
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new.copy(), gtd_new
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1

    if ls_iter == max_ls:  # out of evaluations: bracket [0, t]
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    # zoom phase: shrink the bracket until a point satisfies the conditions
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(
            bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1]
        )
        # a trial too close to the bracket's ends twice in a row (or on them) moves to 10%
        # of the bracket's length inside it
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                if abs(t - max(bracket)) < abs(t - min(bracket)):
                    t = max(bracket) - eps
                else:
                    t = min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False

        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1

        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            # Armijo fails or no lower than the low end: the new point is the high end
            bracket[high_pos], bracket_f[high_pos] = t, f_new
            bracket_g[high_pos], bracket_gtd[high_pos] = g_new.copy(), gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                # the old low end becomes the high end
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos] = bracket_g[low_pos]
                bracket_gtd[high_pos] = bracket_gtd[low_pos]
            bracket[low_pos], bracket_f[low_pos] = t, f_new
            bracket_g[low_pos], bracket_gtd[low_pos] = g_new.copy(), gtd_new

    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals


class LBFGS(Optimizer):
    """PyTorch's L-BFGS (after minFunc): quasi-Newton steps from the last ``history_size``
    steps and gradient differences.

    ``step(closure)`` needs a closure that zeroes the gradients, computes the loss, calls
    ``backward()`` and returns the loss; one step runs up to ``max_iter`` iterations.

    Args:
        params: parameters (a single parameter group only).
        lr: learning rate (>= 0), the step length of each iteration (default: 1).
        max_iter: maximum iterations per ``step()`` (default: 20).
        max_eval: maximum closure evaluations per ``step()`` (default: max_iter * 5 // 4).
        tolerance_grad: stop when the largest gradient entry is at most this (default: 1e-7).
        tolerance_change: stop when the loss or the parameters change less (default: 1e-9).
        history_size: how many past updates are kept (default: 100).
        line_search_fn: None (fixed step ``lr``) or ``'strong_wolfe'``.

    State (PyTorch's names, held on the first parameter): ``func_evals``, ``n_iter`` (ints),
    ``d``, ``prev_flat_grad`` (flat Tensors), ``old_dirs``, ``old_stps`` (lists of them),
    ``ro``, ``al`` (lists of 0-d Tensors), ``H_diag`` (1, then a 0-d Tensor), ``t`` (of
    torch's type: a 0-d Tensor after a first step of ``lr / sum|g|`` or a line search's
    interpolated step, else the Python number ``lr`` or a float), ``prev_loss`` (a float).

    Example::

        >>> opt = ember.optim.LBFGS(model.parameters(), line_search_fn="strong_wolfe")
        >>> def closure():
        ...     opt.zero_grad(); loss = loss_fn(model(x), y); loss.backward(); return loss
        >>> opt.step(closure)
    """

    _sparse_error = None  # PyTorch flattens sparse gradients into its dense vector

    def __init__(
        self,
        params,
        lr: float = 1,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
    ):
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(
            lr=lr,
            max_iter=max_iter,
            max_eval=max_eval,
            tolerance_grad=tolerance_grad,
            tolerance_change=tolerance_change,
            history_size=history_size,
            line_search_fn=line_search_fn,
        )
        super().__init__(params, defaults)
        # as torch: several groups are refused here; one added later by add_param_group is
        # accepted and refused by step()
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    def _validate(self, group: dict) -> None:
        _check_nonneg(group, "lr")
        # refused up front, with the same error types: PyTorch takes these and fails only inside
        # step() (history_size < 1 with an IndexError, another line_search_fn a RuntimeError)
        h = group["history_size"]
        if isinstance(h, bool) or not isinstance(h, int | np.integer) or h < 1:
            raise ValueError(f"Invalid history_size: {h!r} (must be a positive int)")
        if group["line_search_fn"] not in (None, "strong_wolfe"):
            raise RuntimeError("only 'strong_wolfe' is supported")

    # ---- the parameters as one flat vector --------------------------------------------------
    # a complex parameter is two real entries per element of the flat vector (its real
    # view), as torch's LBFGS flattens it
    def _gather_flat_grad(self) -> np.ndarray:
        return np.concatenate(
            [
                np.zeros(_real(p.data).size, p.data.real.dtype)
                if p.grad is None
                else _real(_grad_array(p)).ravel()
                for p in self._params
            ]
        )

    def _add_grad(self, step_size, update: np.ndarray) -> None:
        offset = 0
        for p in self._params:
            a = _real(p.data)  # (a view: parameters are C-contiguous)
            a += step_size * update[offset : offset + a.size].reshape(a.shape)
            offset += a.size

    def _clone_param(self) -> list:
        return [p.data.copy() for p in self._params]

    def _set_param(self, params_data) -> None:
        for p, pdata in zip(self._params, params_data):
            p.data[...] = pdata

    def _directional_evaluate(self, closure, x, t, d):
        self._add_grad(t, d)
        loss = float(_run_closure(closure))
        flat_grad = self._gather_flat_grad()
        self._set_param(x)
        return loss, flat_grad

    @no_grad()
    def step(self, closure):
        """One L-BFGS step (up to ``max_iter`` iterations); returns the closure's first loss."""
        if len(self.param_groups) != 1:  # (torch's error, and type, for an added group)
            raise AssertionError(
                f"Expected exactly one param_group, but got {len(self.param_groups)}"
            )
        group = self.param_groups[0]
        # the step length keeps torch's types (an int lr gives an int ``t``, a Tensor lr a
        # 0-d one: here a NumPy scalar, as every 0-d tensor of torch's arithmetic below)
        lr = group["lr"]
        lr = lr.data.reshape(())[()] if isinstance(lr, Tensor) else lr
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        line_search_fn, history_size = group["line_search_fn"], group["history_size"]

        # the state is global; it is held on the first parameter, as PyTorch does
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = _run_closure(closure)
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1

        flat_grad = self._gather_flat_grad()
        if np.abs(flat_grad).max() <= tolerance_grad:
            return orig_loss

        # the state's Tensors as arrays (the same memory: edits to them are seen)
        d = _arrays(state.get("d"))
        t = state.get("t")
        t = t.data[()] if isinstance(t, Tensor) else t
        old_dirs = _arrays(state.get("old_dirs"))
        old_stps = _arrays(state.get("old_stps"))
        ro = _arrays(state.get("ro"))
        H_diag = _arrays(state.get("H_diag"))
        prev_flat_grad = _arrays(state.get("prev_flat_grad"))
        prev_loss = state.get("prev_loss")
        al = _arrays(state.get("al"))

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # ---- descent direction ----
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = y.dot(s)
                if ys > 1e-10:  # keep the pair only when the curvature is positive
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / y.dot(y)  # scale of the initial inverse Hessian

                # two-loop recursion: d = -H g
                num_old = len(old_dirs)
                if "al" not in state:  # (made here, as torch's, for the state's key order)
                    state["al"] = al = [None] * history_size
                q = -flat_grad
                for i in range(num_old - 1, -1, -1):
                    al[i] = old_stps[i].dot(q) * ro[i]
                    q += -al[i] * old_dirs[i]
                d = r = q * H_diag
                for i in range(num_old):
                    be_i = old_dirs[i].dot(r) * ro[i]
                    r += (al[i] - be_i) * old_stps[i]

            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.copy()
            else:
                prev_flat_grad[...] = flat_grad
            prev_loss = loss

            # ---- step length ----
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / np.abs(flat_grad).sum()) * lr
            else:
                t = lr

            gtd = flat_grad.dot(d)
            if gtd > -tolerance_change:  # not a descent direction any more
                break

            ls_func_evals = 0
            if line_search_fn is not None:
                if line_search_fn != "strong_wolfe":
                    raise RuntimeError("only 'strong_wolfe' is supported")
                x_init = self._clone_param()

                def obj_func(x, t, d):
                    return self._directional_evaluate(closure, x, t, d)

                loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                    obj_func, x_init, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals
                )
                self._add_grad(t, d)
                opt_cond = np.abs(flat_grad).max() <= tolerance_grad
            else:
                self._add_grad(t, d)
                opt_cond = False
                if n_iter != max_iter:
                    # re-evaluated except after the last iteration (useless when stochastic)
                    loss = float(_run_closure(closure))
                    flat_grad = self._gather_flat_grad()
                    opt_cond = np.abs(flat_grad).max() <= tolerance_grad
                    ls_func_evals = 1

            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            # ---- stopping conditions ----
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if np.abs(d * t).max() <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        if al is not None:
            state["al"] = _tensors(al, state.get("al"))
        state["d"] = _tensors(d, state.get("d"))
        state["t"] = _tensors(t, state.get("t"))  # a 0-d Tensor where torch's is one
        for k, v in (("old_dirs", old_dirs), ("old_stps", old_stps), ("ro", ro)):
            state[k] = _tensors(v, state.get(k))
        state["H_diag"] = _tensors(H_diag, state.get("H_diag"))
        state["prev_flat_grad"] = _tensors(prev_flat_grad, state.get("prev_flat_grad"))
        state["prev_loss"] = prev_loss
        return orig_loss
