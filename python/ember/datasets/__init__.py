"""Small datasets shipped inside the package (no download)."""

from ember.datasets.digits import load_digits, train_test_split

__all__ = ["load_digits", "train_test_split"]
