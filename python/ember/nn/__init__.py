"""ember.nn: layers, losses, functional ops, initialisers."""

from ember.nn import functional, init, seq2seq, utils
from ember.nn.modules.activation import (
    ELU,
    GELU,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from ember.nn.modules.container import ModuleDict, ModuleList, Sequential
from ember.nn.modules.flatten import Flatten
from ember.nn.modules.linear import Identity, Linear
from ember.nn.modules.loss import CrossEntropyLoss, MSELoss, NLLLoss
from ember.nn.modules.module import Module, Parameter
from ember.nn.modules.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase
from ember.nn.modules.sparse import Embedding

__all__ = [
    "ELU",
    "GELU",
    "LeakyReLU",
    "Softplus",
    "CrossEntropyLoss",
    "Embedding",
    "Flatten",
    "GRU",
    "GRUCell",
    "Identity",
    "LSTM",
    "LSTMCell",
    "Linear",
    "LogSoftmax",
    "MSELoss",
    "Module",
    "ModuleDict",
    "ModuleList",
    "NLLLoss",
    "Parameter",
    "RNN",
    "RNNBase",
    "RNNCell",
    "RNNCellBase",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "functional",
    "init",
    "seq2seq",
    "utils",
]
