"""ember.nn: layers, losses, functional ops, initialisers."""

from ember.nn import functional, init
from ember.nn.modules.activation import LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from ember.nn.modules.container import ModuleDict, ModuleList, Sequential
from ember.nn.modules.flatten import Flatten
from ember.nn.modules.linear import Identity, Linear
from ember.nn.modules.loss import CrossEntropyLoss, MSELoss, NLLLoss
from ember.nn.modules.module import Module, Parameter

__all__ = [
    "CrossEntropyLoss",
    "Flatten",
    "Identity",
    "Linear",
    "LogSoftmax",
    "MSELoss",
    "Module",
    "ModuleDict",
    "ModuleList",
    "NLLLoss",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "functional",
    "init",
]
