"""ember.nn.utils: helpers around layers (``rnn``: padded / packed sequences)."""

from ember.nn.utils import rnn

__all__ = ["rnn"]
