"""``python -m workloads.automon``: see :mod:`workloads.automon.cli`."""

import sys

from .cli import main

sys.exit(main())
