"""`python -m orchlab`."""

from __future__ import annotations

import sys

from orchlab.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
