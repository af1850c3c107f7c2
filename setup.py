"""The compiled parts, both optional: the JPEG region decoder (loaders/_decode/_jpegregion.c)
and the planar pixel copy (loaders/_decode/_planar.c).

Everything else is configured in pyproject.toml. Both need a C compiler and Python's headers;
the region decoder needs libjpeg-turbo's too (Debian/Ubuntu: ``apt install gcc
libjpeg62-turbo-dev`` or ``libjpeg-turbo8-dev``; Fedora: ``libjpeg-turbo-devel``; macOS:
``brew install jpeg-turbo``). Where one cannot be built the install goes on without it: the
loaders then decode whole JPEGs (through simplejpeg) instead of just the crop window, and
torch copies each image into its batch (the same bytes, more CPU).
"""

import sys

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "visiondata.loaders._decode._jpegregion",
            ["loaders/_decode/_jpegregion.c"],
            libraries=["jpeg"],
            optional=True,
        ),
        Extension(
            "visiondata.loaders._decode._planar",
            ["loaders/_decode/_planar.c"],
            # the split into planes is vectorised at -O3; Python's own flags vary (Debian's: -O2)
            extra_compile_args=[] if sys.platform == "win32" else ["-O3"],
            optional=True,
        ),
    ]
)
