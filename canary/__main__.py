"""`python -m canary` is the `canary` command."""

import sys

from canary.cli.main import main

sys.exit(main())
