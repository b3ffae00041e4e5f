"""`python -m orchlab`."""

from __future__ import annotations

import sys

from orchlab.cli import main

if __name__ == "__main__":
    sys.exit(main())
