"""AdaptiveLogSoftmaxWithLoss (Grave et al., 2016): a softmax over many classes as a head
over the frequent ones plus clusters, each cluster a low-rank tail."""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from ember import ops
from ember.nn import functional as F
from ember.nn.modules.container import ModuleList, Sequential
from ember.nn.modules.linear import Linear
from ember.nn.modules.module import Module
from ember.tensor import Tensor

_ASMoutput = namedtuple("_ASMoutput", ["output", "loss"])


class AdaptiveLogSoftmaxWithLoss(Module):
    """Efficient softmax approximation, as ``torch.nn.AdaptiveLogSoftmaxWithLoss``.

    Args:
        in_features: size of each input sample. n_classes: number of classes.
        cutoffs: sorted unique ints in [1, n_classes - 1]: classes below cutoffs[0] are in
            the head, each further range a cluster.
        div_value: cluster i projects to in_features // div_value ** (i + 1) features.
        head_bias: give the head a bias.

    ``forward(input, target)`` -> (output, loss): output (N,) the target log-probabilities,
    loss their negative mean. ``log_prob(input)`` (N, n_classes), ``predict(input)`` (N,).

    Example::

        >>> asm = nn.AdaptiveLogSoftmaxWithLoss(8, 10, [4, 8])
        >>> asm(ember.randn(3, 8), ember.tensor([0, 5, 9])).output.shape
        (3,)
    """

    def __init__(
        self,
        in_features: int,
        n_classes: int,
        cutoffs,
        div_value: float = 4.0,
        head_bias: bool = False,
        device=None,
        dtype=None,
    ):
        super().__init__()
        cutoffs = list(cutoffs)
        if len(cutoffs) == 0:
            raise ValueError("cutoffs should be a sequence of length larger than 0")
        if (
            cutoffs != sorted(cutoffs)
            or min(cutoffs) <= 0
            or max(cutoffs) > n_classes - 1
            or len(set(cutoffs)) != len(cutoffs)
            or any(int(c) != c for c in cutoffs)
        ):
            raise ValueError(
                "cutoffs should be a sequence of unique, positive integers sorted in an "
                "increasing order, where each value is between 1 and n_classes-1"
            )
        self.in_features = in_features
        self.n_classes = n_classes
        self.cutoffs = cutoffs + [n_classes]
        self.div_value = div_value
        self.head_bias = head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        kw = {"device": device, "dtype": dtype}
        self.head = Linear(in_features, self.head_size, bias=head_bias, **kw)
        self.tail = ModuleList()
        for i in range(self.n_clusters):
            hsz = int(in_features // (div_value ** (i + 1)))
            osz = self.cutoffs[i + 1] - self.cutoffs[i]
            self.tail.append(
                Sequential(
                    Linear(in_features, hsz, bias=False, **kw), Linear(hsz, osz, bias=False, **kw)
                )
            )

    def reset_parameters(self) -> None:
        self.head.reset_parameters()
        for projection in self.tail:
            for layer in projection:
                layer.reset_parameters()

    def forward(self, input_, target_):
        # (PyTorch's argument names, so keyword calls work)
        x = input_ if isinstance(input_, Tensor) else Tensor(np.asarray(input_))
        t = np.asarray(target_.data if isinstance(target_, Tensor) else target_)
        op = type(self).__name__
        if t.ndim == 1:
            if x.shape[0] != t.shape[0]:
                raise ValueError(
                    f"{op}: input {x.shape} and target {t.shape} should have the same size in "
                    "the batch dimension"
                )
            if x.ndim != 2:
                raise ValueError(f"{op}: 1D target tensor expects 2D input tensors, got {x.shape}")
        elif t.ndim == 0:
            if x.ndim != 1:
                raise ValueError(f"{op}: 0D target tensor expects 1D input tensors, got {x.shape}")
        else:
            raise ValueError(f"{op}: 0D or 1D target tensor expected, multi-target not supported")
        batched = t.ndim > 0
        if not batched:
            x, t = x.unsqueeze(0), t.reshape(1)
        if t.size and (t.min() < 0 or t.max() >= self.n_classes):
            raise F.BadShapeOrValue(  # (torch: RuntimeError)
                f"{op}: target values should be in [0, {self.n_classes - 1}], but values in "
                f"range [{t.min()}, {t.max()}] were found"
            )
        t = t.astype(np.int64)
        cluster = np.searchsorted(self.cutoffs, t, side="right")  # 0: the head's shortlist
        gather = np.where(cluster == 0, t, self.shortlist_size + cluster - 1)
        head_lp = F.log_softmax(self.head(x), 1)
        output = ops.gather(head_lp, 1, gather[:, None]).squeeze(1)
        rows_all, parts = [], []
        for i in range(1, self.n_clusters + 1):
            rows = np.flatnonzero(cluster == i)
            if rows.size == 0:
                continue
            lp = F.log_softmax(self.tail[i - 1](x[rows]), 1)
            rel = (t[rows] - self.cutoffs[i - 1])[:, None]
            rows_all.append(rows)
            parts.append(ops.gather(lp, 1, rel).squeeze(1))
        if parts:  # each cluster row adds its within-cluster log-probability
            rows = np.concatenate(rows_all)
            local = ops.cat(parts, 0)
            output = (
                output
                + ops.cat([local, Tensor(np.zeros(1, local.dtype))], 0)[
                    _positions(rows, t.shape[0])
                ]
            )
        loss = (-output).mean()
        return _ASMoutput(output if batched else output.squeeze(0), loss)

    def _full_log_prob(self, x, head_output):
        head_lp = F.log_softmax(head_output, 1)
        cols = [head_lp[:, : self.shortlist_size]]
        for i in range(self.n_clusters):
            lp = F.log_softmax(self.tail[i](x), 1)
            cols.append(lp + head_lp[:, self.shortlist_size + i].unsqueeze(1))
        return ops.cat(cols, 1)

    def log_prob(self, input):
        """Log-probabilities of all n_classes: (N, in_features) -> (N, n_classes)."""
        x = input if isinstance(input, Tensor) else Tensor(np.asarray(input))
        return self._full_log_prob(x, self.head(x))

    def predict(self, input):
        """The most likely class of each row: (N, in_features) -> (N,) int64."""
        return ops.argmax(self.log_prob(input), 1)


def _positions(rows: np.ndarray, n: int) -> np.ndarray:
    """For each of n batch rows, its place in ``rows`` (or len(rows): a trailing zero)."""
    pos = np.full(n, len(rows), np.int64)
    pos[rows] = np.arange(len(rows))
    return pos
