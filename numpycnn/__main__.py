"""``python -m numpycnn``: see :mod:`numpycnn.lab.cli`."""
import sys

from .lab.cli import main

if __name__ == "__main__":
    sys.exit(main())
