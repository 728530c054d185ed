"""Learning to add 3-digit numbers from strings with a seq2seq GRU and additive attention,
decoded by beam search.

As the classic Keras example, the query "123+45" is padded to 7 characters and reversed; the
answer is produced least-significant digit first (so carries flow forward in time), then EOS,
and read back reversed. The score is the exact-match rate on 1,000 held-out pairs that
training never sees.

    python examples/seq2seq_addition.py --steps 3000 --beam-width 3
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import ember
from ember import nn
from ember.nn import functional as F
from ember.nn.seq2seq import Seq2Seq

CHARS = "0123456789+ "
BOS, EOS = len(CHARS), len(CHARS) + 1
VOCAB = len(CHARS) + 2
SRC_LEN, TGT_LEN = 7, 5  # "999+999", "8991" reversed + EOS


def encode(a: np.ndarray, b: np.ndarray):
    """-> src (N, 7) ids of the reversed padded query, tgt (N, 5) answer digits LSB first, EOS."""
    lut = {c: i for i, c in enumerate(CHARS)}
    src = np.array([[lut[c] for c in f"{x}+{y}".ljust(SRC_LEN)[::-1]] for x, y in zip(a, b)])
    tgt = np.full((len(a), TGT_LEN), EOS, dtype=np.int64)
    for i, s in enumerate(a + b):
        digits = str(s)[::-1]
        tgt[i, : len(digits)] = [int(c) for c in digits]
    return src.astype(np.int64), tgt


def decode_answer(tokens) -> int | None:
    """Answer tokens (LSB first, up to EOS) -> the integer, None if malformed."""
    digits = []
    for t in tokens:
        if t == EOS:
            break
        if t > 9:
            return None
        digits.append(str(int(t)))
    return int("".join(digits[::-1])) if digits else None


def sample_pairs(rng, n: int, exclude: set):
    a = rng.integers(0, 1000, 2 * n + 16)
    b = rng.integers(0, 1000, 2 * n + 16)
    keep = np.array([x * 1000 + y not in exclude for x, y in zip(a, b)])
    return a[keep][:n], b[keep][:n]


def exact_match(model, a, b, beam_width: int, length_penalty: float, batch: int = 500) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(a), batch):
        src, _ = encode(a[i : i + batch], b[i : i + batch])
        if beam_width > 1:
            toks, _ = model.beam_search(src, BOS, EOS, TGT_LEN, beam_width, length_penalty)
        else:
            toks = model.greedy(src, BOS, EOS, TGT_LEN)
        answers = [decode_answer(row) for row in toks]
        correct += sum(r == x + y for r, x, y in zip(answers, a[i : i + batch], b[i : i + batch]))
    model.train()
    return correct / len(a)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--embed", type=int, default=32)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--cell", choices=["gru", "lstm"], default="gru")
    p.add_argument("--attention", choices=["additive", "dot"], default="additive")
    p.add_argument("--lr", type=float, default=2e-2)
    p.add_argument("--clip", type=float, default=5.0)
    p.add_argument("--beam-width", type=int, default=3)
    p.add_argument("--length-penalty", type=float, default=0.6)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--target", type=float, default=1.1, help="stop once greedy accuracy >= this")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)

    ember.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    test_a, test_b = sample_pairs(np.random.default_rng(args.seed + 1), 1000, set())
    held_out = set((test_a * 1000 + test_b).tolist())
    model = Seq2Seq(VOCAB, VOCAB, args.embed, args.hidden, cell=args.cell,
                    attention=args.attention)  # fmt: skip
    params = list(model.parameters())
    opt = ember.optim.Adam(params, lr=args.lr)
    t0, greedy_acc, step = time.time(), 0.0, 0
    for step in range(1, args.steps + 1):
        src, tgt = encode(*sample_pairs(rng, args.batch, held_out))
        tgt_in = np.concatenate([np.full((len(tgt), 1), BOS), tgt[:, :-1]], axis=1)
        logits = model(src, tgt_in)
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), tgt.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, args.clip)
        opt.step()
        if step % args.eval_every == 0 or step == args.steps:
            greedy_acc = exact_match(model, test_a, test_b, 1, 0.0)
            if not args.quiet:
                print(f"step {step:5d}  loss {loss.item():.3f}  greedy exact match "
                      f"{greedy_acc:.3f}  ({time.time() - t0:.0f} s)", flush=True)  # fmt: skip
            if greedy_acc >= args.target:
                break
    beam_acc = exact_match(model, test_a, test_b, args.beam_width, args.length_penalty)
    src, _ = encode(test_a[:3], test_b[:3])
    toks, _ = model.beam_search(src, BOS, EOS, TGT_LEN, args.beam_width, args.length_penalty)
    examples = [f"{x}+{y}={decode_answer(t)}" for x, y, t in zip(test_a[:3], test_b[:3], toks)]
    return {"greedy_acc": greedy_acc, "beam_acc": beam_acc, "steps": step, "examples": examples}


if __name__ == "__main__":
    r = main()
    print(f"exact match on held-out pairs: beam {r['beam_acc']:.3f}, greedy {r['greedy_acc']:.3f} "
          f"after {r['steps']} steps; e.g. {', '.join(r['examples'])}")  # fmt: skip
