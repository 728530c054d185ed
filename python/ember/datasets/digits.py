"""The UCI optdigits handwritten digits (1,797 8x8 images), shipped in the package.

Licence: CC BY 4.0, see data/LICENSE-digits.txt.
"""

from __future__ import annotations

from importlib import resources

import numpy as np


def load_digits(as_images: bool = False, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 handwritten digits as NumPy arrays.

    Args:
        as_images: return the data as (1797, 1, 8, 8) (NCHW) instead of (1797, 64).
        dtype: dtype of the data; pixel values are 0..16, unscaled.

    Returns:
        (data, target): data (1797, 64) or (1797, 1, 8, 8), target (1797,) int64 in 0..9.

    Example::

        >>> X, y = ember.datasets.load_digits()
        >>> X.shape, y.shape
        ((1797, 64), (1797,))
    """
    path = resources.files("ember.datasets") / "data" / "digits.npz"
    with resources.as_file(path) as p, np.load(p, allow_pickle=False) as f:
        images, target = f["images"], f["target"]
    data = images.astype(dtype)
    data = data.reshape(-1, 1, 8, 8) if as_images else data.reshape(-1, 64)
    return data, target.astype(np.int64)


def train_test_split(*arrays, test_size: float = 0.2, seed: int = 0):
    """Split arrays of equal length into train and test parts with a fixed shuffle.

    Returns ``train_0, test_0, train_1, test_1, ...`` as scikit-learn does; the same seed
    always gives the same split (the demo's fixed 80/20 split is seed 0).
    """
    if not arrays:
        raise ValueError("train_test_split: give at least one array")
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError(
            f"train_test_split: arrays have different lengths {[len(a) for a in arrays]}"
        )
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"train_test_split: test_size must be in (0, 1), got {test_size}")
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(np.ceil(n * test_size))  # as scikit-learn rounds
    test, train = order[:n_test], order[n_test:]
    out = []
    for a in arrays:
        a = np.asarray(a)
        out += [a[train], a[test]]
    return tuple(out)
