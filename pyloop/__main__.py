"""Allow ``python -m pyloop``."""

import sys

from pyloop.cli import main

sys.exit(main())
