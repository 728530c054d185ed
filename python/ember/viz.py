"""The course's pictures of the optimisers: trajectories of SGD, momentum, Nesterov, Adagrad,
Adadelta, RMSprop and Adam (ember's own optimisers) over the contours of 2-D test functions,
and an exponentially weighted moving average with and without bias correction.

    python -m ember.viz [out_dir]        # writes optimizers_<function>.png and ewma.png

Needs matplotlib (``pip install matplotlib`` or ``ember[examples]``).
"""

from __future__ import annotations

import os
import sys

import numpy as np

__all__ = [
    "FUNCTIONS",
    "OPTIMIZERS",
    "STEPS",
    "ewma",
    "plot_ewma",
    "plot_trajectories",
    "trajectory",
]


# name -> (f(x, y) on arrays, gradient(x, y), start, (xlim, ylim), lr scale)
FUNCTIONS = {
    "quadratic": (
        lambda x, y: 0.5 * (x**2 + 25 * y**2),
        lambda x, y: np.array([x, 25 * y]),
        (-4.5, 1.0),
        ((-5, 5), (-1.5, 1.5)),
        1.0,
    ),
    "rosenbrock": (
        lambda x, y: (1 - x) ** 2 + 100 * (y - x**2) ** 2,
        lambda x, y: np.array([-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)]),
        (-1.5, 2.0),
        ((-2, 2), (-1, 3)),
        0.05,
    ),
    "saddle": (
        lambda x, y: x**2 - y**2,
        lambda x, y: np.array([2 * x, -2 * y]),
        (-2.0, 1e-3),
        ((-2.5, 2.5), (-2.5, 2.5)),
        1.0,
    ),
}

# label -> (optimiser class name, keyword arguments; "lr" is multiplied by the function's scale
# unless LR_OVERRIDES gives the rate for that function)
OPTIMIZERS = {
    "SGD": ("SGD", dict(lr=0.03)),
    "momentum": ("SGD", dict(lr=0.03, momentum=0.9)),
    "Nesterov": ("SGD", dict(lr=0.03, momentum=0.9, nesterov=True)),
    "Adagrad": ("Adagrad", dict(lr=0.5)),
    "Adadelta": ("Adadelta", dict(lr=20.0)),
    "RMSprop": ("RMSprop", dict(lr=0.05)),
    "Adam": ("Adam", dict(lr=0.1)),
}


# Rosenbrock's valley is steep across (curvature ~2000 at the start) and flat along: each
# rate is about the largest that does not bounce across it, so every optimiser travels down
# the valley towards (1, 1) (SGD and Adagrad slowest, Adam fastest) in STEPS["rosenbrock"].
LR_OVERRIDES = {
    "rosenbrock": {"SGD": 1e-3, "momentum": 2e-4, "Nesterov": 2e-4, "Adagrad": 0.5,
                   "Adadelta": 0.2, "RMSprop": 2e-3, "Adam": 0.02},
}  # fmt: skip

# steps drawn per function (default 300): the Rosenbrock valley takes longer
STEPS = {"rosenbrock": 2000}


def trajectory(function: str, optimizer: str, steps: int = 150) -> np.ndarray:
    """The (steps + 1, 2) path of ``optimizer`` (a key of OPTIMIZERS) on ``function``."""
    from ember import optim, tensor
    from ember.nn import Parameter

    if function not in FUNCTIONS:
        raise ValueError(f"trajectory: unknown function {function!r}; have {sorted(FUNCTIONS)}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"trajectory: unknown optimizer {optimizer!r}; have {list(OPTIMIZERS)}")
    _, grad, start, _, scale = FUNCTIONS[function]
    cls, kw = OPTIMIZERS[optimizer]
    lr = LR_OVERRIDES.get(function, {}).get(optimizer, kw["lr"] * scale)
    kw = dict(kw, lr=lr)
    p = Parameter(np.array(start, dtype=np.float64))
    opt = getattr(optim, cls)([p], **kw)
    path = [p.numpy().copy()]
    for _ in range(steps):
        p.grad = tensor(grad(*p.numpy()))
        opt.step()
        path.append(p.numpy().copy())
        if not np.all(np.isfinite(path[-1])) or np.abs(path[-1]).max() > 1e3:
            break
    return np.array(path)


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError(
            "ember.viz needs matplotlib: pip install matplotlib (or: pip install 'ember[examples]')"
        ) from None
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_trajectories(path, function: str = "rosenbrock", steps: int | None = None) -> None:
    """Contours of ``function`` with every optimiser's trajectory (``steps`` of each, default
    STEPS[function] or 300), written to ``path``."""
    plt = _pyplot()
    f, _, start, (xl, yl), _ = FUNCTIONS[function]
    steps = STEPS.get(function, 300) if steps is None else steps
    xs, ys = np.linspace(*xl, 300), np.linspace(*yl, 300)
    X, Y = np.meshgrid(xs, ys)
    Z = f(X, Y)
    fig, ax = plt.subplots(figsize=(7, 5.5))
    levels = (
        np.linspace(Z.min(), Z.max(), 40)
        if function == "saddle"
        else np.logspace(np.log10(max(Z.min(), 1e-3)), np.log10(Z.max()), 30)
    )
    ax.contour(X, Y, Z, levels=levels, cmap="viridis", linewidths=0.6, alpha=0.5)
    for name in OPTIMIZERS:
        tr = trajectory(function, name, steps)
        (line,) = ax.plot(tr[:, 0], tr[:, 1], "-", lw=1.4, label=name)
        ax.plot(*tr[-1], "o", color=line.get_color(), ms=6)  # where it got to
    ax.plot(*start, "k*", ms=10)
    if function == "rosenbrock":
        ax.plot(1, 1, "kx", ms=9, mew=2)  # the minimum
    ax.set_xlim(*xl)
    ax.set_ylim(*yl)
    ax.set_title(f"{function}: {steps} steps from {start}")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def ewma(values, beta: float = 0.9, bias_correction: bool = True) -> np.ndarray:
    """v_t = beta v_{t-1} + (1 - beta) x_t from v_0 = 0, divided by 1 - beta^t when
    ``bias_correction`` (as Adam's moments)."""
    if not 0 <= beta < 1:
        raise ValueError(f"ewma: beta must be in [0, 1), got {beta}")
    v, out = 0.0, []
    for t, x in enumerate(np.asarray(values, dtype=np.float64), 1):
        v = beta * v + (1 - beta) * x
        out.append(v / (1 - beta**t) if bias_correction else v)
    return np.array(out)


def plot_ewma(path, beta: float = 0.9, n: int = 100, seed: int = 0) -> None:
    """Noisy data with its EWMA with and without bias correction, written to ``path``."""
    plt = _pyplot()
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    x = 10 + 3 * np.sin(t / 12) + rng.standard_normal(n)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(t, x, ".", color="0.6", label="data")
    ax.plot(t, ewma(x, beta, False), label=f"EWMA beta={beta}")
    ax.plot(t, ewma(x, beta, True), label="with bias correction")
    ax.set_xlabel("t")
    ax.legend()
    ax.set_title("Exponentially weighted moving average")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> list[str]:
    argv = sys.argv[1:] if argv is None else argv
    out = argv[0] if argv else "."
    os.makedirs(out, exist_ok=True)
    written = []
    for name in FUNCTIONS:
        p = os.path.join(out, f"optimizers_{name}.png")
        plot_trajectories(p, name)
        written.append(p)
    p = os.path.join(out, "ewma.png")
    plot_ewma(p)
    written.append(p)
    return written


if __name__ == "__main__":
    for p in main():
        print(p)
