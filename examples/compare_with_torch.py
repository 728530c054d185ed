"""Train the same small CNN on the digits in ember and in PyTorch, side by side.

PyTorch's initial weights are copied into ember by name (``load_state_dict`` takes torch's
state_dict as NumPy arrays), both see the same batches in the same order, with Adam and a
cosine schedule. In float64 the two loss curves agree to ~1e-15 step after step; in float32
they agree early, then rounding differences grow (as they do between two PyTorch runs whose
weights differ by one ulp) while both reach the same accuracy.

    pip install torch
    python examples/compare_with_torch.py --steps 300 --dtype float64
"""

import argparse
import time

import numpy as np
import torch

import ember


def build(nn):
    """The same architecture from either library's ``nn``."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
    )  # fmt: skip


def train(lib, model, batches, steps, lr, to_tensor):
    opt = lib.optim.Adam(model.parameters(), lr=lr)
    sched = lib.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    losses, start = [], time.process_time()
    model.train()
    for x, y in batches:
        loss = lib.nn.functional.cross_entropy(model(to_tensor(x)), to_tensor(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return np.array(losses), time.process_time() - start


def accuracy(lib, model, x, y, to_tensor):
    model.eval()
    with lib.no_grad():
        out = model(to_tensor(x))
    return float((np.asarray(out.detach().numpy()).argmax(1) == y).mean())


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    dtype = np.dtype(a.dtype)
    torch.set_num_threads(ember.get_num_threads())

    X, y = ember.datasets.load_digits(as_images=True, dtype=dtype)
    Xtr, Xte, ytr, yte = ember.datasets.train_test_split(X / 16.0, y, seed=a.seed)
    rng = np.random.default_rng(a.seed)
    per_epoch = len(Xtr) // a.batch
    order = np.concatenate([rng.permutation(len(Xtr)) for _ in range(a.steps // per_epoch + 1)])
    batches = [
        (Xtr[idx], ytr[idx])
        for idx in (order[i * a.batch : (i + 1) * a.batch] for i in range(a.steps))
    ]

    torch.manual_seed(a.seed)
    tmodel = build(torch.nn).to(getattr(torch, a.dtype))
    emodel = build(ember.nn).to(getattr(ember, a.dtype))
    emodel.load_state_dict({k: v.numpy() for k, v in tmodel.state_dict().items()})

    def t_in(v):
        return torch.from_numpy(np.array(v))

    t_loss, t_time = train(torch, tmodel, batches, a.steps, a.lr, t_in)
    e_loss, e_time = train(ember, emodel, batches, a.steps, a.lr, ember.tensor)
    rel = np.abs(e_loss - t_loss) / np.abs(t_loss)
    result = {
        "max_rel_diff": float(rel.max()),
        "first_step_over_1e-6": int(np.argmax(rel > 1e-6)) if (rel > 1e-6).any() else None,
        "torch_accuracy": accuracy(torch, tmodel, Xte, yte, t_in),
        "ember_accuracy": accuracy(ember, emodel, Xte, yte, ember.tensor),
        "torch_seconds": t_time,
        "ember_seconds": e_time,
    }
    if not a.quiet:
        print(f"{'step':>6} {'torch loss':>12} {'ember loss':>12} {'rel diff':>9}")
        for i in np.unique(np.linspace(0, a.steps - 1, 10).astype(int)):
            print(f"{i:6d} {t_loss[i]:12.6f} {e_loss[i]:12.6f} {rel[i]:9.1e}")
        for k, v in result.items():
            print(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}")
    return result


if __name__ == "__main__":
    main()
