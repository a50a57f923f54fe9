"""`python -m inception_lab.experiments ...`: the ledger's command line.

It lives in `inception_lab/cli/experiments.py`, a layer above the ledger it drives
(docs/architecture.md); this entry point only runs it. `python -m inception_lab.experiments -h`
lists the commands.
"""

import sys

from inception_lab.cli.experiments import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
