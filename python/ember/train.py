"""The fit loop: ``ember.train.fit(...)`` or a ``Trainer``, with validation, schedules,
gradient clipping, callbacks, early stopping, a tqdm progress bar, a History of per-epoch
metrics and checkpoints from which training resumes exactly.

Example::

    >>> history = ember.train.fit(model, nn.CrossEntropyLoss(), opt, train_loader,
    ...                           val_loader, epochs=20, scheduler=sched,
    ...                           callbacks=[EarlyStopping(patience=3)],
    ...                           checkpoint="run.safetensors")
    >>> history.plot("curves.png")
"""

from __future__ import annotations

import copy
import math
import os
import sys

import numpy as np

from ember.autograd.function import no_grad
from ember.random import rng as _global_rng
from ember.tensor import Tensor

__all__ = ["Callback", "EarlyStopping", "History", "Trainer", "fit"]


class Callback:
    """Hooks called by the Trainer; set ``trainer.stop_training = True`` to stop after the
    current epoch. ``logs`` holds the epoch's metrics (loss, accuracy, val_loss, val_accuracy,
    lr). ``state_dict()`` / ``load_state_dict()`` are saved in checkpoints."""

    def on_train_begin(self, trainer) -> None: ...
    def on_epoch_begin(self, trainer, epoch: int) -> None: ...
    def on_batch_end(self, trainer, batch: int, logs: dict) -> None: ...
    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None: ...
    def on_train_end(self, trainer) -> None: ...

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None: ...


class History(Callback):
    """Per-epoch metrics: ``history.history["loss"]``, ``["val_accuracy"]``, ``["lr"]``, ...,
    and ``history.epoch`` (the epoch numbers)."""

    def __init__(self):
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, trainer, epoch, logs) -> None:
        self.epoch.append(epoch)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(v)

    def __getitem__(self, key: str) -> list:
        return self.history[key]

    def state_dict(self) -> dict:
        return {"history": copy.deepcopy(self.history), "epoch": list(self.epoch)}

    def load_state_dict(self, state: dict) -> None:
        self.history = {k: list(v) for k, v in state["history"].items()}
        self.epoch = list(state["epoch"])

    def plot(self, path) -> None:
        """Draw loss, accuracy and learning-rate curves side by side into ``path`` (PNG).
        Needs matplotlib (``pip install matplotlib`` or ``ember[examples]``)."""
        plt = _pyplot()
        panels = [("loss", "loss"), ("accuracy", "accuracy"), ("lr", "learning rate")]
        panels = [(k, t) for k, t in panels if k in self.history or f"val_{k}" in self.history]
        fig, axes = plt.subplots(1, max(len(panels), 1), figsize=(4.5 * max(len(panels), 1), 3.5))
        axes = np.atleast_1d(axes)
        for ax, (key, title) in zip(axes, panels):
            for k, style in ((key, "-"), (f"val_{key}", "--")):
                if k in self.history:
                    ax.plot(self.epoch, self.history[k], style, marker="o", ms=3, label=k)
            ax.set_title(title)
            ax.set_xlabel("epoch")
            if key == "lr":
                ax.set_yscale("log")
            ax.legend()
            ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError(
            "plotting needs matplotlib: pip install matplotlib (or: pip install 'ember[examples]')"
        ) from None
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs; with ``restore_best`` the model gets the best epoch's weights back at the end.

    Args:
        monitor: a metric name ("val_loss", "val_accuracy", "loss", ...).
        patience: epochs without improvement tolerated (>= 0).
        min_delta: the smallest change that counts as an improvement (>= 0).
        mode: "min", "max", or "auto" (max for names containing "acc").
        restore_best: reload the best weights when training ends.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 5,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best: bool = True,
    ):
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be an int >= 0, got {patience!r}")
        if min_delta < 0:
            raise ValueError(f"EarlyStopping: min_delta must be >= 0, got {min_delta}")
        if mode not in ("min", "max", "auto"):
            raise ValueError(f"EarlyStopping: mode must be 'min', 'max' or 'auto', got {mode!r}")
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        self.monitor, self.patience, self.min_delta = monitor, patience, float(min_delta)
        self.mode, self.restore_best = mode, restore_best
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch, self.wait, self.stopped_epoch = -1, 0, None
        self.best_weights: dict | None = None

    def _improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, trainer, epoch, logs) -> None:
        if self.monitor not in logs:
            raise KeyError(
                f"EarlyStopping: metric {self.monitor!r} is not available; have "
                f"{sorted(logs)} (give a validation loader for val_* metrics)"
            )
        value = float(logs[self.monitor])
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self.best_weights = {
                    k: v.numpy().copy() for k, v in trainer.model.state_dict().items()
                }
        else:
            self.wait += 1
            if self.wait > self.patience:
                self.stopped_epoch = epoch
                trainer.stop_training = True

    def on_train_end(self, trainer) -> None:
        if self.restore_best and self.best_weights is not None:
            trainer.model.load_state_dict(self.best_weights)

    def state_dict(self) -> dict:
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "best_weights": self.best_weights,
        }

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]
        self.wait, self.stopped_epoch = state["wait"], state["stopped_epoch"]
        self.best_weights = state["best_weights"]


def _split_batch(batch):
    if isinstance(batch, tuple | list) and len(batch) == 2:
        return batch[0], batch[1]
    raise ValueError(
        "fit: each batch must be an (inputs, targets) pair, got "
        f"{type(batch).__name__} of length {len(batch) if hasattr(batch, '__len__') else '?'}"
    )


def _correct(out: Tensor, target) -> int | None:
    """Correct predictions in a batch: argmax for (N, C) outputs and integer targets,
    logit > 0 for binary (N,) / (N, 1) outputs and 0/1 float targets; None otherwise."""
    o = out.data if isinstance(out, Tensor) else np.asarray(out)
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    if o.ndim == 2 and o.shape[1] > 1 and t.dtype.kind in "iu" and t.shape == (o.shape[0],):
        return int((o.argmax(axis=1) == t).sum())
    binary = t.dtype.kind == "f" and bool(np.all((t == 0) | (t == 1)))
    if o.ndim in (1, 2) and o.size == len(t) and binary:
        return int(((o.reshape(-1) > 0) == (t.reshape(-1) > 0.5)).sum())
    return None


class Trainer:
    """Runs training epochs over a loader; see ``fit`` for the arguments."""

    def __init__(
        self,
        model,
        loss_fn,
        optimizer,
        scheduler=None,
        scheduler_interval: str = "epoch",
        clip_grad_norm: float | None = None,
        clip_grad_value: float | None = None,
        callbacks=(),
        verbose: int = 1,
        checkpoint=None,
    ):
        if scheduler_interval not in ("epoch", "batch"):
            raise ValueError(
                "Trainer: scheduler_interval must be 'epoch' or 'batch', got "
                f"{scheduler_interval!r}"
            )
        if not callable(loss_fn):
            raise TypeError("Trainer: loss_fn must be callable (a loss module or function)")
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.scheduler, self.scheduler_interval = scheduler, scheduler_interval
        self.clip_grad_norm, self.clip_grad_value = clip_grad_norm, clip_grad_value
        self.history = History()
        self.callbacks = [self.history, *callbacks]
        self.verbose, self.checkpoint = verbose, checkpoint
        self.epoch = 0  # epochs completed
        self.stop_training = False

    # ---- one pass -------------------------------------------------------------------------
    def _lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def _train_epoch(self, loader, bar) -> dict:
        from ember.nn.utils import clip_grad_norm_, clip_grad_value_

        self.model.train()
        total, count, correct, counted = 0.0, 0, 0, 0
        for i, batch in enumerate(loader):
            x, y = _split_batch(batch)
            out = self.model(x)
            loss = self.loss_fn(out, y)
            lv = float(loss.item())
            if not math.isfinite(lv):  # before the step, so the weights stay finite
                raise FloatingPointError(
                    f"fit: the loss became {lv} at epoch {self.epoch}, batch {i}"
                )
            self.optimizer.zero_grad()
            loss.backward()
            params = [p for g in self.optimizer.param_groups for p in g["params"]]
            if self.clip_grad_norm is not None:
                clip_grad_norm_(params, self.clip_grad_norm)
            if self.clip_grad_value is not None:
                clip_grad_value_(params, self.clip_grad_value)
            self.optimizer.step()
            if self.scheduler is not None and self.scheduler_interval == "batch":
                self.scheduler.step()
            n = len(out.data) if getattr(out, "ndim", 0) else 1
            total, count = total + lv * n, count + n
            c = _correct(out, y)
            if c is not None:
                correct, counted = correct + c, counted + n
            logs = {"loss": total / count, "lr": self._lr()}
            if counted:
                logs["accuracy"] = correct / counted
            for cb in self.callbacks:
                cb.on_batch_end(self, i, logs)
            if bar is not None:
                bar.update(1)
                bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()}, refresh=False)
        if count == 0:
            raise ValueError("fit: the training loader yielded no batches")
        out_logs = {"loss": total / count}
        if counted:
            out_logs["accuracy"] = correct / counted
        return out_logs

    def evaluate(self, loader) -> dict:
        """Mean loss (and accuracy) over ``loader`` in eval mode, without gradients."""
        was = self.model.training
        self.model.eval()
        total, count, correct, counted = 0.0, 0, 0, 0
        with no_grad():
            for batch in loader:
                x, y = _split_batch(batch)
                out = self.model(x)
                n = len(out.data) if getattr(out, "ndim", 0) else 1
                total += float(self.loss_fn(out, y).item()) * n
                count += n
                c = _correct(out, y)
                if c is not None:
                    correct, counted = correct + c, counted + n
        self.model.train(was)
        if count == 0:
            raise ValueError("evaluate: the loader yielded no batches")
        logs = {"loss": total / count}
        if counted:
            logs["accuracy"] = correct / counted
        return logs

    # ---- checkpoints ------------------------------------------------------------------------
    def _loader_generators(self, loaders):
        return [getattr(ld, "generator", None) for ld in loaders]

    def save_checkpoint(self, path, loaders=()) -> None:
        from ember import io

        gens = [
            g.bit_generator.state if g is not None else None
            for g in self._loader_generators(loaders)
        ]
        io.save_checkpoint(
            path,
            self.model,
            self.optimizer,
            self.scheduler,
            epoch=self.epoch,
            rng=_global_rng().bit_generator.state,
            loader_rngs=gens,
            callbacks=[cb.state_dict() for cb in self.callbacks],
        )

    def load_checkpoint(self, path, loaders=()) -> None:
        from ember import io

        extra = io.load_checkpoint(path, self.model, self.optimizer, self.scheduler)
        self.epoch = int(extra["epoch"])
        _global_rng().bit_generator.state = extra["rng"]
        for g, s in zip(self._loader_generators(loaders), extra["loader_rngs"]):
            if g is not None and s is not None:
                g.bit_generator.state = s
        states = extra["callbacks"]
        if len(states) != len(self.callbacks):
            raise ValueError(
                f"load_checkpoint: the checkpoint has {len(states)} callback states, this "
                f"trainer has {len(self.callbacks)} callbacks"
            )
        for cb, s in zip(self.callbacks, states):
            cb.load_state_dict(s)

    # ---- the loop -------------------------------------------------------------------------
    def fit(self, train_loader, val_loader=None, epochs: int = 1, resume=None) -> History:
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"fit: epochs must be an int >= 1, got {epochs!r}")
        for name, ld in (("train_loader", train_loader), ("val_loader", val_loader)):
            if ld is not None and not hasattr(ld, "__iter__"):
                raise TypeError(
                    f"fit: {name} must be iterable (a DataLoader), got {type(ld).__name__}"
                )
        loaders = [ld for ld in (train_loader, val_loader) if ld is not None]
        if resume is not None:
            self.load_checkpoint(resume, loaders)
        self.stop_training = False
        for cb in self.callbacks:
            cb.on_train_begin(self)
        tty = self.verbose > 0 and sys.stderr.isatty() and not os.environ.get("EMBER_QUIET")
        while self.epoch < epochs and not self.stop_training:
            for cb in self.callbacks:
                cb.on_epoch_begin(self, self.epoch)
            bar = None
            if tty:
                from tqdm import tqdm

                n = len(train_loader) if hasattr(train_loader, "__len__") else None
                bar = tqdm(total=n, desc=f"epoch {self.epoch + 1}/{epochs}", leave=True)
            try:
                logs = self._train_epoch(train_loader, bar)
                logs["lr"] = self._lr()
                if val_loader is not None:
                    logs.update({f"val_{k}": v for k, v in self.evaluate(val_loader).items()})
                if bar is not None:
                    bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()})
            finally:
                if bar is not None:
                    bar.close()
            if self.scheduler is not None and self.scheduler_interval == "epoch":
                from ember.optim.lr_scheduler import ReduceLROnPlateau

                if isinstance(self.scheduler, ReduceLROnPlateau):
                    self.scheduler.step(logs.get("val_loss", logs["loss"]))
                else:
                    self.scheduler.step()
            for cb in self.callbacks:
                cb.on_epoch_end(self, self.epoch, logs)
            self.epoch += 1
            if self.checkpoint is not None:
                self.save_checkpoint(self.checkpoint, loaders)
        for cb in self.callbacks:
            cb.on_train_end(self)
        return self.history


def fit(
    model,
    loss_fn,
    optimizer,
    train_loader,
    val_loader=None,
    epochs: int = 1,
    scheduler=None,
    scheduler_interval: str = "epoch",
    clip_grad_norm: float | None = None,
    clip_grad_value: float | None = None,
    callbacks=(),
    verbose: int = 1,
    checkpoint=None,
    resume=None,
) -> History:
    """Train ``model`` for ``epochs`` epochs and return its History.

    Args:
        model: an ``nn.Module``; loss_fn: ``loss_fn(output, target) -> scalar Tensor``.
        optimizer: an ``ember.optim`` optimiser of the model's parameters.
        train_loader, val_loader: iterables of ``(inputs, targets)`` batches (DataLoaders).
        epochs: the total number of epochs (a resumed run continues up to it).
        scheduler: an lr scheduler, stepped every epoch (ReduceLROnPlateau with val_loss, or
            loss without validation) or every batch with ``scheduler_interval="batch"``.
        clip_grad_norm / clip_grad_value: clip the gradients before each step.
        callbacks: ``Callback`` objects, e.g. ``EarlyStopping(patience=3)``.
        verbose: 0 is silent; otherwise a tqdm bar per epoch when stderr is a terminal.
        checkpoint: a path: model, optimiser, scheduler, RNG and callback states are saved
            there (safetensors, atomically) after every epoch.
        resume: a checkpoint path to continue from; the result equals an uninterrupted run.

    Returns:
        The History (per-epoch loss, accuracy, lr, val_loss, val_accuracy).
    """
    trainer = Trainer(
        model,
        loss_fn,
        optimizer,
        scheduler=scheduler,
        scheduler_interval=scheduler_interval,
        clip_grad_norm=clip_grad_norm,
        clip_grad_value=clip_grad_value,
        callbacks=callbacks,
        verbose=verbose,
        checkpoint=checkpoint,
    )
    return trainer.fit(train_loader, val_loader, epochs, resume=resume)
