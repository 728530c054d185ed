"""A character-level LSTM language model on the text of Python's own ``pydoc_data.topics``
(the help texts behind ``help('topics')``: ships with Python, no download).

Trains on the first 90% of the text, reports bits per character on the held-out last 10%,
and samples text with a temperature.

    python examples/char_lm.py --steps 2000 --temperature 0.7
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

import ember
from ember import nn
from ember.nn import functional as F


def load_text() -> str:
    from pydoc_data.topics import topics

    return "\n".join(topics[k] for k in sorted(topics))


class CharLM(nn.Module):
    def __init__(self, vocab: int, embed: int, hidden: int, num_layers: int = 1):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, num_layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x, state=None):
        """x (N, T) ids -> logits (N, T, vocab), state."""
        out, state = self.lstm(self.embedding(x), state)
        return self.head(out), state


def windows(data: np.ndarray, starts, seq_len: int):
    idx = np.asarray(starts)[:, None] + np.arange(seq_len + 1)[None, :]
    chunk = data[idx]
    return chunk[:, :-1], chunk[:, 1:]


@ember.no_grad()
def bits_per_char(model, data: np.ndarray, seq_len: int, batch: int = 64) -> float:
    """Mean cross-entropy in bits over consecutive windows covering ``data``."""
    starts = np.arange(0, len(data) - seq_len - 1, seq_len)
    total, count = 0.0, 0
    for i in range(0, len(starts), batch):
        x, y = windows(data, starts[i : i + batch], seq_len)
        logits, _ = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum")
        total += float(loss.item())
        count += y.size
    return total / count / math.log(2)


@ember.no_grad()
def sample(model, chars: str, prime: str, length: int, temperature: float, rng) -> str:
    """Continue ``prime`` by ``length`` characters drawn from softmax(logits / temperature)."""
    lut = {c: i for i, c in enumerate(chars)}
    ids = [lut[c] for c in prime if c in lut] or [0]
    logits, state = model(np.array([ids]))
    out = []
    for _ in range(length):
        z = logits.numpy()[0, -1].astype(np.float64) / max(temperature, 1e-6)
        p = np.exp(z - z.max())
        nxt = int(rng.choice(len(p), p=p / p.sum()))
        out.append(chars[nxt])
        logits, state = model(np.array([[nxt]]), state)
    return prime + "".join(out)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--embed", type=int, default=32)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--eval-chars", type=int, default=20000, help="held-out characters to score")
    p.add_argument("--target-bpc", type=float, default=0.0, help="stop once below this")
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--sample-len", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)

    text = load_text()
    chars = "".join(sorted(set(text)))
    data = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    data = np.searchsorted(np.frombuffer(chars.encode("utf-32-le"), dtype=np.uint32), data)
    split = int(0.9 * len(data))
    train, held_out = data[:split], data[split : split + args.eval_chars]

    ember.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = CharLM(len(chars), args.embed, args.hidden, args.layers)
    params = list(model.parameters())
    opt = ember.optim.Adam(params, lr=args.lr)
    t0, bpc, step = time.time(), float("nan"), 0
    for step in range(1, args.steps + 1):
        x, y = windows(train, rng.integers(0, len(train) - args.seq_len - 1, args.batch),
                       args.seq_len)  # fmt: skip
        logits, _ = model(x)
        loss = F.cross_entropy(logits.reshape(-1, len(chars)), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, args.clip)
        opt.step()
        if step % args.eval_every == 0 or step == args.steps:
            bpc = bits_per_char(model, held_out, args.seq_len)
            if not args.quiet:
                print(f"step {step:5d}  train {loss.item() / math.log(2):.3f} bpc  held-out "
                      f"{bpc:.3f} bpc  ({time.time() - t0:.0f} s)", flush=True)  # fmt: skip
            if bpc < args.target_bpc:
                break
    text_out = sample(model, chars, "The ", args.sample_len, args.temperature, rng)
    return {"held_out_bpc": bpc, "steps": step, "sample": text_out, "vocab": len(chars)}


if __name__ == "__main__":
    r = main()
    print(f"held-out: {r['held_out_bpc']:.3f} bits/char after {r['steps']} steps\n")
    print(r["sample"])
