"""`python -m ember demo`: train a classifier on the bundled digits and report test accuracy."""

from __future__ import annotations

import sys
import time

import numpy as np
from tqdm import tqdm

import ember
from ember import nn
from ember.datasets import load_digits, train_test_split
from ember.nn import functional as F


def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10)
    )


def cnn() -> nn.Module:
    """conv-pool-conv-pool-linear on the 1x8x8 digit images."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),  # 8x8x8
        nn.ReLU(),
        nn.MaxPool2d(2),  # 8x4x4
        nn.Conv2d(8, 16, 3, padding=1),  # 16x4x4
        nn.ReLU(),
        nn.MaxPool2d(2),  # 16x2x2
        nn.Flatten(),
        nn.Linear(64, 10),
    )


MODELS = {"mlp": (mlp, False), "cnn": (cnn, True)}
EPOCHS = {"cnn": 15}  # default epochs per model (30 otherwise)


def evaluate(model: nn.Module, X: np.ndarray, y: np.ndarray, batch_size: int = 512) -> float:
    model.eval()
    correct = 0
    with ember.no_grad():
        for i in range(0, len(X), batch_size):
            logits = model(X[i : i + batch_size])
            correct += int((logits.data.argmax(axis=1) == y[i : i + batch_size]).sum())
    model.train()
    return correct / len(X)


def train_digits(
    model: str = "mlp",
    epochs: int | None = None,
    batch_size: int = 32,
    lr: float = 0.05,
    seed: int = 0,
    verbose: bool = True,
) -> float:
    """Train ``model`` on the fixed 80/20 digits split; returns the test accuracy."""
    if model not in MODELS:
        raise ValueError(f"demo: unknown model {model!r}; choose from {sorted(MODELS)}")
    build, as_images = MODELS[model]
    if epochs is None:
        epochs = EPOCHS.get(model, 30)
    ember.manual_seed(seed)
    X, y = load_digits(as_images=as_images)
    X = X / 16.0  # pixels 0..16 -> 0..1
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, seed=0)
    net = build()
    opt = ember.optim.SGD(net.parameters(), lr=lr, momentum=0.9, nesterov=True)
    rng = np.random.default_rng(seed)
    bar = tqdm(range(epochs), desc=f"digits/{model}", disable=not verbose, file=sys.stdout)
    for _ in bar:
        order = rng.permutation(len(X_train))
        total, count = 0.0, 0
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            loss = F.cross_entropy(net(X_train[idx]), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            count += len(idx)
        bar.set_postfix(loss=f"{total / count:.4f}")
    return evaluate(net, X_test, y_test)


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m ember demo", description=__doc__)
    p.add_argument("--model", default="mlp", choices=sorted(MODELS))
    p.add_argument("--epochs", type=int, default=None, help="default: 30 (cnn: 15)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    start = time.perf_counter()
    acc = train_digits(args.model, epochs=args.epochs, seed=args.seed)
    took = time.perf_counter() - start
    print(f"test accuracy: {acc:.4f} on 360 held-out digits ({took:.1f} s)")
    return 0
