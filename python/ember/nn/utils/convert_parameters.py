"""Parameters as one flat vector and back (PyTorch's torch.nn.utils.convert_parameters)."""

from __future__ import annotations

from ember.tensor import Tensor


def parameters_to_vector(parameters) -> Tensor:
    """Concatenate the flattened ``parameters`` into one 1-D Tensor (differentiable)."""
    from ember import cat

    if isinstance(parameters, Tensor):
        raise TypeError(f"expected an iterable of Tensors, but got: {type(parameters).__name__}")
    params = list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"expected Tensor, but got: {type(p).__name__}")
    return cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec: Tensor, parameters) -> None:
    """Point each of ``parameters`` at its slice of the 1-D ``vec`` (their ``.data`` become
    views of ``vec``, as in PyTorch)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    params = list(parameters)
    total = sum(p.numel() for p in params)
    if vec.ndim != 1 or vec.numel() != total:
        raise RuntimeError(
            f"vector_to_parameters: vec has shape {vec.shape} but the parameters hold "
            f"{total} elements"
        )
    pointer = 0
    for p in params:
        n = p.numel()
        p.data = vec.data[pointer : pointer + n].reshape(p.shape)
        pointer += n
