"""Allow ``python -m pyloop``."""

import sys

from .cli import main

sys.exit(main())
