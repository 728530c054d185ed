"""Train a two-layer perceptron on the bundled 8x8 digits, written out step by step.

    python examples/mlp_digits.py --epochs 30 --lr 0.05

The data stay NumPy arrays: ember layers take them directly and return Tensors whose
``.numpy()`` is the result array itself.
"""

import argparse

import numpy as np

import ember
from ember import nn
from ember.datasets import load_digits, train_test_split
from ember.nn import functional as F


def main(epochs: int = 30, lr: float = 0.05, hidden: int = 128, seed: int = 0) -> float:
    ember.manual_seed(seed)
    X, y = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.2, seed=0)

    model = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))
    opt = ember.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    rng = np.random.default_rng(seed)

    for epoch in range(epochs):
        order = rng.permutation(len(X_train))
        for i in range(0, len(order), 32):
            batch = order[i : i + 32]
            logits = model(X_train[batch])  # (32, 10) Tensor
            loss = F.cross_entropy(logits, y_train[batch])
            opt.zero_grad()  # forget the last step's gradients
            loss.backward()  # d loss / d every parameter
            opt.step()  # p -= lr * (momentum-smoothed) gradient
        if epoch % 10 == 9:
            print(f"epoch {epoch + 1:3d}  last batch loss {loss.item():.4f}")

    with ember.no_grad():
        predicted = model(X_test).numpy().argmax(axis=1)
    accuracy = float((predicted == y_test).mean())
    print(f"test accuracy {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    main(a.epochs, a.lr, a.hidden, a.seed)
