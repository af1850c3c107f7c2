"""``python -m visiondata.registry.cli`` runs the ``visiondata`` command."""

import sys

from . import main

sys.exit(main())
