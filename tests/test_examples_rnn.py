"""The recurrent examples: quick smoke runs always, and (marked slow) runs that reach the
targets of issue 5: adding problem MSE < 0.01, char-LM ~2 bits/char held-out, seq2seq addition
>= 0.9 exact match with beam search."""

import importlib.util
import pathlib

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def _load(name, monkeypatch):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_examples_smoke(monkeypatch):
    add = _load("adding_problem", monkeypatch)
    r = add.main(["--steps", "2", "--eval-every", "1", "--seq-len", "10", "--hidden", "8",
                  "--quiet"])  # fmt: skip
    assert r["steps"] == 2 and r["baseline_mse"] > 0.1
    lm = _load("char_lm", monkeypatch)
    r = lm.main(["--steps", "2", "--hidden", "16", "--eval-chars", "500", "--sample-len", "25",
                 "--quiet"])  # fmt: skip
    assert 3 < r["held_out_bpc"] < 8 and len(r["sample"]) == 4 + 25
    s2s = _load("seq2seq_addition", monkeypatch)
    src, tgt = s2s.encode(s2s.np.array([123, 5]), s2s.np.array([45, 999]))
    assert "".join(s2s.CHARS[i] for i in src[0]) == " 54+321"
    assert s2s.decode_answer(tgt[0]) == 168 and s2s.decode_answer(tgt[1]) == 1004
    r = s2s.main(["--steps", "2", "--hidden", "8", "--eval-every", "2", "--quiet"])
    assert 0 <= r["beam_acc"] <= 1 and len(r["examples"]) == 3


@pytest.mark.slow
def test_adding_problem_learns(monkeypatch):
    add = _load("adding_problem", monkeypatch)
    r = add.main(["--steps", "1500", "--target", "0.01", "--eval-every", "50", "--quiet"])
    assert r["test_mse"] < 0.01, r
    assert r["baseline_mse"] > 0.15


@pytest.mark.slow
def test_char_lm_reaches_about_2_bits_per_char(monkeypatch):
    lm = _load("char_lm", monkeypatch)
    r = lm.main(["--steps", "1500", "--target-bpc", "2.0", "--eval-every", "100",
                 "--eval-chars", "20000", "--quiet"])  # fmt: skip
    # "about 2 bits per character": this budget lands at 2.18 (a unigram model needs ~4.7).
    assert r["held_out_bpc"] < 2.25, r
    assert len(r["sample"]) > 300


@pytest.mark.slow
def test_seq2seq_addition_beam_search(monkeypatch):
    s2s = _load("seq2seq_addition", monkeypatch)
    r = s2s.main(["--steps", "3000", "--target", "0.93", "--eval-every", "100", "--quiet"])
    assert r["beam_acc"] >= 0.9, r
