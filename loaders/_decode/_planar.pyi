# The compiled planar copy (_planar.c); absent where it could not be built.
from typing import Any

def planar(src: Any, dst: Any, height: int, width: int, channels: int, flip: bool, /) -> None: ...
