"""Which optional extra provides which module: the one table every "install ..." hint uses.

``pyproject.toml``'s ``[project.optional-dependencies]`` installs these (a test keeps the two in
step). :func:`require` checks modules without importing them and raises
:class:`~.errors.MissingExtraError` naming the extra, e.g. ``pip install "visiondata[audit]"``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from types import MappingProxyType

from .errors import MissingExtraError

__all__ = ["EXTRAS", "PROTOCOL_EXTRAS", "extra_of", "require", "require_protocol"]

#: extra -> the top-level modules it provides that visiondata imports.
EXTRAS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "loaders": ("torch", "numpy", "fsspec", "PIL", "simplejpeg", "av", "tqdm"),
        "remote": ("s3fs", "aiohttp", "requests"),
        "hf": ("huggingface_hub", "datasets"),
        "audit": ("fairlearn", "sklearn", "pandas", "scipy", "matplotlib"),
        "plots": ("matplotlib", "jinja2"),
        "bench": ("webdataset", "psutil"),
        "ray": ("ray",),
    }
)

#: URL scheme -> (module that fsspec needs for it, extra).
PROTOCOL_EXTRAS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "s3": ("s3fs", "remote"),
        "s3a": ("s3fs", "remote"),
        "hf": ("huggingface_hub", "hf"),
        "http": ("aiohttp", "remote"),
        "https": ("aiohttp", "remote"),
    }
)


def extra_of(module: str) -> str:
    """The first extra (in :data:`EXTRAS` order) that provides ``module``."""
    top = module.split(".")[0]
    for extra, modules in EXTRAS.items():
        if top in modules:
            return extra
    raise KeyError(f"{module!r} is in no extra (expected one of the modules of EXTRAS)")


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent that fails to import, or sys.modules[m] = None
        return False


def require(what: str, *modules: str) -> None:
    """Raise MissingExtraError for the first of ``modules`` that is not installed."""
    for module in modules:
        if not _installed(module):
            raise MissingExtraError(module, extra_of(module), what)


def require_protocol(url: str) -> None:
    """For a URL whose scheme needs an extra (``s3://``, ``hf://``, ...), check it is installed."""
    if "://" not in url:
        return
    scheme = url.split("://", 1)[0].lower()
    if scheme in PROTOCOL_EXTRAS:
        module, extra = PROTOCOL_EXTRAS[scheme]
        if not _installed(module):
            raise MissingExtraError(module, extra, f"{scheme}:// sources")
