"""The attention examples learn for real (slow: they train). The tensors here are tiny, so the
tests run the kernels on one thread: on a shared machine a second thread only adds waiting."""

import runpy
from pathlib import Path

import pytest

import ember

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def one_thread():
    before = ember.get_num_threads()
    ember.set_num_threads(1)
    yield
    ember.set_num_threads(before)


@pytest.mark.slow
def test_reverse_digits_reaches_99_percent(one_thread):
    main = runpy.run_path(str(EXAMPLES / "reverse_digits.py"))["main"]
    assert main(steps=600, log_every=200) >= 0.99


@pytest.mark.slow
def test_char_transformer_learns_and_samples(one_thread):
    main = runpy.run_path(str(EXAMPLES / "char_transformer.py"))["main"]
    bpc, text = main(steps=400, log_every=100)
    assert bpc < 2.9  # a unigram model of this text needs ~4.7 bits/char; uniform log2(103) 6.7
    assert text.startswith("The ") and len(text) == 204
    words = text.split()
    assert len(words) > 20 and sum(w.isalpha() for w in words) > len(words) / 3
