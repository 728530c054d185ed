"""ember.nn.utils: gradient clipping and weight penalties."""

from ember.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_
from ember.nn.utils.penalties import l1_penalty, l2_penalty

__all__ = ["clip_grad_norm_", "clip_grad_value_", "l1_penalty", "l2_penalty"]
