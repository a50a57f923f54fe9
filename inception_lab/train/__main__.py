"""`python -m inception_lab.train`: the training command line.

It lives in `inception_lab/cli/train.py`, a layer above the engine, the models and the data it puts
together (docs/architecture.md); this entry point only runs it. `torchrun -m inception_lab.train`
starts one such process per GPU.
"""

import sys

from inception_lab.cli.train import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
