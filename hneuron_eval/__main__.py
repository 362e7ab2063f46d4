"""``python -m hneuron_eval`` runs the project's CLI."""

import sys

from hneuron_eval.cli import main

sys.exit(main())
