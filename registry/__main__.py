"""``python -m visiondata.registry`` runs the ``visiondata`` command."""

import sys

from .cli import main

sys.exit(main())
