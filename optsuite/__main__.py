"""``python -m optsuite``: the ``optsuite`` command."""
import sys

from .cli import main

sys.exit(main())
