"""python -m ember demo [--model mlp] | bench [--only NAME] [--threads N]"""

import sys


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("demo", "bench"):
        print(__doc__.strip())
        return 2
    cmd, rest = sys.argv[1], sys.argv[2:]
    if cmd == "demo":
        from ember.demo import main as demo

        return demo(rest)
    from ember.benchmarks import main as bench

    return bench(rest)


if __name__ == "__main__":
    sys.exit(main())
