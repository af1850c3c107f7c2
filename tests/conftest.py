"""Shared by every test: the catalogue cache lives in a folder of this test session."""

from __future__ import annotations

import os
import tempfile

# Set at import, before any test (or subprocess a test starts) reads the catalogue, so the
# suite never reads or writes the user's own cache.
os.environ.setdefault("VISIONDATA_CACHE_DIR", tempfile.mkdtemp(prefix="visiondata-test-cache-"))
