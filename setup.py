"""The one compiled part: the optional JPEG region decoder (loaders/_decode/_jpegregion.c).

Everything else is configured in pyproject.toml. The extension needs a C compiler, Python's
headers and libjpeg-turbo's (Debian/Ubuntu: ``apt install gcc libjpeg62-turbo-dev`` or
``libjpeg-turbo8-dev``; Fedora: ``libjpeg-turbo-devel``; macOS: ``brew install jpeg-turbo``).
It is optional: where it cannot be built the install goes on without it and the loaders
decode whole JPEGs (through simplejpeg) instead of just the crop window.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "visiondata.loaders._decode._jpegregion",
            ["loaders/_decode/_jpegregion.c"],
            libraries=["jpeg"],
            optional=True,
        )
    ]
)
