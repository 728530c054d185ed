"""A tiny decoder-only (GPT-style) character model trained on Python's own documentation
(``pydoc_data.topics``, which ships with Python), then sampled.

    python examples/char_transformer.py --steps 1500

Causal self-attention (``is_causal`` through the fused kernel), learned positional embeddings,
pre-norm Transformer blocks (ReLU feed-forward), weight decay with AdamW. Reports bits per
character on held-out text: a unigram model of this text needs about 4.7.
"""

import argparse
import math

import numpy as np

import ember
from ember import nn
from ember.nn import functional as F


def load_text():
    import pydoc_data.topics as topics

    text = "\n".join(topics.topics[k] for k in sorted(topics.topics))
    chars = sorted(set(text))
    lookup = {c: i for i, c in enumerate(chars)}
    data = np.fromiter((lookup[c] for c in text), dtype=np.int64, count=len(text))
    return data, chars


class CharGPT(nn.Module):
    def __init__(self, vocab, d_model=64, nhead=4, layers=2, ctx=64, dropout=0.0):
        super().__init__()
        rng = np.random.default_rng(0)
        self.tok = nn.Parameter((rng.standard_normal((vocab, d_model)) * 0.02).astype(np.float32))
        self.pos = nn.LearnedPositionalEmbedding(ctx, d_model, batch_first=True)
        layer = nn.TransformerEncoderLayer(
            d_model, nhead, 4 * d_model, dropout=dropout, batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab)
        self.ctx = ctx
        self.mask = nn.generate_square_subsequent_mask(ctx)

    def forward(self, idx):  # (N, T) ints -> logits (N, T, vocab)
        t = idx.shape[1]
        x = self.pos(self.tok[idx])
        x = self.blocks(x, mask=self.mask.numpy()[:t, :t], is_causal=True)
        return self.head(self.norm(x))


def get_batch(data, rng, n, ctx):
    starts = rng.integers(0, len(data) - ctx - 1, size=n)
    x = np.stack([data[s : s + ctx] for s in starts])
    y = np.stack([data[s + 1 : s + ctx + 1] for s in starts])
    return x, y


def bits_per_char(model, data, ctx, n_batches=8, batch_size=32, seed=1):
    rng = np.random.default_rng(seed)
    model.eval()
    total = 0.0
    with ember.no_grad():
        for _ in range(n_batches):
            x, y = get_batch(data, rng, batch_size, ctx)
            total += F.cross_entropy(
                model(x).reshape(-1, model.head.out_features), y.reshape(-1)
            ).item()
    model.train()
    return total / n_batches / math.log(2)


def sample(model, chars, prompt="The ", n=200, temperature=0.8, seed=0):
    rng = np.random.default_rng(seed)
    lookup = {c: i for i, c in enumerate(chars)}
    idx = [lookup.get(c, 0) for c in prompt]
    model.eval()
    with ember.no_grad():
        for _ in range(n):
            ctx = np.array([idx[-model.ctx :]])
            logits = model(ctx).numpy()[0, -1].astype(np.float64) / temperature
            p = np.exp(logits - logits.max())
            idx.append(int(rng.choice(len(p), p=p / p.sum())))
    model.train()
    return "".join(chars[i] for i in idx)


def main(steps=1500, lr=3e-3, batch_size=32, ctx=64, seed=0, log_every=250):
    ember.manual_seed(seed)
    data, chars = load_text()
    split = int(0.9 * len(data))
    train, val = data[:split], data[split:]
    model = CharGPT(len(chars), ctx=ctx)
    opt = ember.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = ember.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    rng = np.random.default_rng(seed)
    for step in range(1, steps + 1):
        x, y = get_batch(train, rng, batch_size, ctx)
        loss = F.cross_entropy(model(x).reshape(-1, len(chars)), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % log_every == 0 or step == steps:
            print(f"step {step:5d}  train loss {loss.item():.3f} nats  "
                  f"({loss.item() / math.log(2):.3f} bits/char)")  # fmt: skip
    bpc = bits_per_char(model, val, ctx)
    print(f"held-out bits per character: {bpc:.3f}")
    text = sample(model, chars)
    print("sample:\n" + text)
    return bpc, text


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--ctx", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    main(a.steps, a.lr, a.batch_size, a.ctx, a.seed)
