"""The example scripts run as written (small settings; the demo test checks accuracy)."""

import runpy
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_mlp_digits_example_learns():
    main = runpy.run_path(str(EXAMPLES / "mlp_digits.py"))["main"]
    assert main(epochs=5) > 0.9
