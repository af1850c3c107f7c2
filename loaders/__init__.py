"""visiondata.loaders: stream sharded WebDataset tars into PyTorch (``pip install visiondata[loaders]``)."""

from __future__ import annotations

__all__: list[str] = []
