"""``python -m sgsim``: the simulator's administration command."""

import sys

from sgsim.cli import main

sys.exit(main())
