"""``python -m visiondata.registry`` runs the ``visiondata`` command."""

import sys

from visiondata.registry.cli import main

sys.exit(main())
