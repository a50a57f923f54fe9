"""`python -m inception_lab.train`: the command line of the training engine (see cli.py)."""

import sys

from inception_lab.train.cli import main

sys.exit(main())
