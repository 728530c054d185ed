"""ember.optim: optimisers (and, with the training-toolkit issue, schedules)."""

from ember.optim.optimizer import Optimizer
from ember.optim.sgd import SGD

__all__ = ["SGD", "Optimizer"]
