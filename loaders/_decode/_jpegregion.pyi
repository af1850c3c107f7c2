# The compiled region decoder (_jpegregion.c); absent where it could not be built.
from typing import Any

BUILT_WITH: int

def decode_region(
    data: Any, out: Any, stride: int, denom: int, fast: bool, x: int, y: int, w: int, h: int, /
) -> tuple[int, int]: ...
