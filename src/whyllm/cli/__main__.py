"""``python -m whyllm.cli``: the command line."""

import sys

from whyllm.cli import main

sys.exit(main())
