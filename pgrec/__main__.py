"""`python -m pgrec` is the `pgrec` command."""

import sys

from pgrec.cli import main

sys.exit(main())
