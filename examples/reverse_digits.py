"""A 2-layer Transformer encoder learns to reverse sequences of 16 digits.

    python examples/reverse_digits.py --steps 1500

Each position must output the digit at the mirrored position, so the model has to know where
every token sits: the sinusoidal positional encoding is what makes this learnable (without it
self-attention is permutation-equivariant and cannot tell position 0 from position 15).
"""

import argparse

import numpy as np

import ember
from ember import nn
from ember.nn import functional as F


class Reverser(nn.Module):
    def __init__(self, vocab=10, d_model=64, nhead=4, layers=2, ff=128, length=16):
        super().__init__()
        self.embed = nn.Parameter(np.random.default_rng(0).standard_normal((vocab, d_model)))
        self.embed.data = self.embed.data.astype(np.float32)
        self.pos = nn.PositionalEncoding(d_model, dropout=0.0, max_len=length, batch_first=True)
        layer = nn.TransformerEncoderLayer(d_model, nhead, ff, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers)
        self.head = nn.Linear(d_model, vocab)

    def forward(self, tokens):  # (N, L) ints -> logits (N, L, vocab)
        x = self.embed[tokens]  # (N, L, d_model) token embeddings
        return self.head(self.encoder(self.pos(x)))


def batch(rng, n, length=16):
    x = rng.integers(0, 10, size=(n, length))
    return x, x[:, ::-1].copy()


def evaluate(model, rng, n=1000, length=16):
    model.eval()
    with ember.no_grad():
        x, y = batch(rng, n, length)
        pred = model(x).numpy().argmax(-1)
    model.train()
    return float((pred == y).all(axis=1).mean()), float((pred == y).mean())


def main(steps=1500, lr=2e-3, batch_size=64, seed=0, log_every=250):
    ember.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = Reverser()
    opt = ember.optim.Adam(model.parameters(), lr=lr)
    sched = ember.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    for step in range(1, steps + 1):
        x, y = batch(rng, batch_size)
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, 10), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % log_every == 0 or step == steps:
            seq, tok = evaluate(model, np.random.default_rng(step))
            print(f"step {step:5d}  loss {loss.item():.4f}  token acc {tok:.4f}  seq acc {seq:.4f}")
    seq, tok = evaluate(model, np.random.default_rng(12345), n=2000)
    print(f"held-out sequence accuracy {seq:.4f} (token accuracy {tok:.4f})")
    return seq


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    main(a.steps, a.lr, a.batch_size, a.seed)
