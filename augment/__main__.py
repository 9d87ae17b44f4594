"""``python -m augment``: see augment/cli.py."""

import sys

from augment.cli import main

sys.exit(main())
