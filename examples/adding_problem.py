"""The adding problem (Hochreiter & Schmidhuber, 1997) with an LSTM.

Each input step is (value ~ U(0, 1), marker); exactly two steps are marked, one in each half of
the sequence, and the target is the sum of the two marked values. Always answering the mean
gives MSE 1/6 ~ 0.167; a working LSTM drives it below 0.01.

    python examples/adding_problem.py --seq-len 50 --steps 3000
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import ember
from ember import nn
from ember.nn import functional as F


def make_batch(rng: np.random.Generator, n: int, seq_len: int):
    """x (T, N, 2) float32, y (N,) float32."""
    values = rng.random((seq_len, n))
    marks = np.zeros((seq_len, n))
    cols = np.arange(n)
    marks[rng.integers(0, seq_len // 2, n), cols] = 1
    marks[rng.integers(seq_len // 2, seq_len, n), cols] = 1
    x = np.stack([values, marks], axis=-1).astype(np.float32)
    return x, (values * marks).sum(0).astype(np.float32)


class AddingModel(nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.lstm = nn.LSTM(2, hidden)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        _, (h, _) = self.lstm(x)
        return self.head(h[0]).reshape(-1)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seq-len", type=int, default=50)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--target", type=float, default=0.0, help="stop once test MSE is below this")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)

    ember.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    x_test, y_test = make_batch(np.random.default_rng(args.seed + 1), 1000, args.seq_len)
    model = AddingModel(args.hidden)
    params = list(model.parameters())
    opt = ember.optim.Adam(params, lr=args.lr)
    t0, test_mse, step = time.time(), float("nan"), 0
    for step in range(1, args.steps + 1):
        x, y = make_batch(rng, args.batch, args.seq_len)
        loss = F.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, args.clip)
        opt.step()
        if step % args.eval_every == 0 or step == args.steps:
            with ember.no_grad():
                test_mse = float(F.mse_loss(model(x_test), y_test).item())
            if not args.quiet:
                print(f"step {step:5d}  train {loss.item():.4f}  test MSE {test_mse:.4f}  "
                      f"({time.time() - t0:.0f} s)", flush=True)  # fmt: skip
            if test_mse < args.target:
                break
    baseline = float(((y_test - y_test.mean()) ** 2).mean())
    return {"test_mse": test_mse, "steps": step, "baseline_mse": baseline}


if __name__ == "__main__":
    r = main()
    print(f"test MSE {r['test_mse']:.4f} after {r['steps']} steps "
          f"(answering the mean: {r['baseline_mse']:.3f})")  # fmt: skip
