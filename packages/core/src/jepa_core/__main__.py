"""`python -m jepa_core …` is the `jepa` command (what `accelerate launch -m jepa_core` runs)."""

import sys

from .cli import main

sys.exit(main())
