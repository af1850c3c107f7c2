"""Per-field decoders: member bytes -> Python values and uint8 tensors.

The decoder of a field is chosen by name from :data:`DECODERS`, by default from the field's
extension through the shard layer's one table of member kinds
(:func:`visiondata.loaders.shards.members.kind_of`: matched on the whole extension and then its
last part, so ``seg.png`` is a mask and ``left.jpg`` an image). Pickle-based formats (``pyd``,
``pickle``, ``pkl``, ``pth``, ``pt``) run code from the file when loaded, so they are refused
unless the field is named in ``allow_pickle``; ``npy`` is always read with ``allow_pickle=False``.

One decompression-bomb limit, the loader's ``max_pixels``, is bound into every decoder when
the loader is built: the default image and mask decoders, and any decoder or transform object
whose ``max_pixels`` field is ``None`` (the fused crops, :class:`ClipSampler`,
:class:`DetectionTransform`) gets a copy with the loader's value.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import random
from collections.abc import Callable, Collection, Mapping
from typing import Any, cast

from ..errors import DecodeError, LoaderOptionError, MissingFieldError, PickleRefusedError
from ..shards.checks import parse_cls
from ..shards.media import check_mask, load_image
from ..shards.members import MAX_PIXELS, kind_of

__all__ = [
    "DECODERS",
    "PICKLE_DECODERS",
    "SampleDecoder",
    "bind_max_pixels",
    "default_decoder",
    "sample_rng",
]

DecodeFn = Callable[[bytes], Any]


def _image(data: bytes, max_pixels: int = MAX_PIXELS) -> Any:
    import numpy as np
    import torch

    with load_image(data, max_pixels) as img:
        rgb = img.convert("RGB")
    arr = np.asarray(rgb, dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()


def _mask(data: bytes, max_pixels: int = MAX_PIXELS) -> Any:
    import numpy as np
    import torch

    with load_image(data, max_pixels) as img:
        check_mask(img)  # the rule shards verify applies too
        arr = np.asarray(img)
    if arr.dtype == np.uint16:
        arr = arr.astype(np.int32)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    return torch.from_numpy(arr.copy())


def _npy(data: bytes) -> Any:
    import numpy as np
    import torch

    arr = np.load(io.BytesIO(data), allow_pickle=False)
    return torch.from_numpy(np.ascontiguousarray(arr))


def _pickle(data: bytes) -> Any:
    import pickle

    return pickle.loads(data)


def _torch(data: bytes) -> Any:
    import torch

    return torch.load(io.BytesIO(data), weights_only=False)


def _text(data: bytes) -> str:
    return data.decode("utf-8")


def _json(data: bytes) -> Any:
    return json.loads(data)


def _raw(data: bytes) -> bytes:
    return data


#: decoder name -> (description, function)
DECODERS: dict[str, tuple[str, DecodeFn]] = {
    "image": ("jpg/png/webp -> uint8 tensor 3xHxW (RGB)", _image),
    "mask": ("single-channel PNG -> integer tensor HxW (class labels)", _mask),
    "cls": ("text integer that fits int64 -> int", parse_cls),
    "text": ("UTF-8 -> str", _text),
    "json": ("JSON -> Python objects", _json),
    "npy": ("NumPy .npy (never with pickle) -> tensor", _npy),
    "bytes": ("leave the bytes undecoded", _raw),
    "pickle": ("Python pickle (runs code: opt in with allow_pickle)", _pickle),
    "torch": ("torch.save file (runs code: opt in with allow_pickle)", _torch),
}
PICKLE_DECODERS = frozenset({"pickle", "torch"})

_PIXEL_DECODERS: dict[str, Callable[..., Any]] = {"image": _image, "mask": _mask}

#: the decoder each member kind of the shard layer's table gets by default
_BY_KIND = {"video": "bytes"}

DECODE_MODES = {
    "auto": "decode each field by its extension (the member table); unknown ones stay bytes",
    "none": "leave every field as bytes",
}


def sample_rng(seed: object, key: str, name: str) -> random.Random:
    """A random generator for one sample and one use, from ``(seed, key, name)`` alone."""
    return random.Random(f"{seed!r}/{key}/{name}")


def default_decoder(ext: str) -> str:
    kind = kind_of(ext)
    return _BY_KIND.get(kind, kind) if kind in DECODERS or kind in _BY_KIND else "bytes"


def bind_max_pixels(fn: Any, max_pixels: int) -> Any:
    """``fn`` with the loader's pixel limit: a copy of a dataclass decoder or transform whose
    ``max_pixels`` is ``None``, or ``fn`` itself."""
    if dataclasses.is_dataclass(fn) and not isinstance(fn, type):
        names = {f.name for f in dataclasses.fields(fn)}
        if "max_pixels" in names and cast(Any, fn).max_pixels is None:
            return dataclasses.replace(fn, max_pixels=max_pixels)
    return fn


class SampleDecoder:
    """Turn a raw sample ``{ext: bytes}`` into ``{field: value}`` plus ``__key__``."""

    def __init__(
        self,
        decode: str | Mapping[str, str | DecodeFn] = "auto",
        fields: Collection[str] | None = None,
        allow_pickle: Collection[str] = (),
        max_pixels: int = MAX_PIXELS,
        into_batch: bool = False,
    ) -> None:
        #: every sample goes straight into a batch's rows (no transform or collate_fn of the
        #: user's sees it), which copy each tensor: a decoder's ``strided`` form may then give
        #: its pixels in any layout, saving a copy of its own (see ``imageops.resize_crop``)
        self.into_batch = into_batch
        if isinstance(decode, str):
            if decode not in DECODE_MODES:
                raise LoaderOptionError(
                    f"decode={decode!r} is not valid (expected one of {sorted(DECODE_MODES)} "
                    f"or a mapping field -> one of {sorted(DECODERS)} or a function)"
                )
            overrides: dict[str, str | DecodeFn] = {}
        else:
            overrides = dict(decode)
            for f, d in overrides.items():
                if isinstance(d, str) and d not in DECODERS:
                    raise LoaderOptionError(
                        f"decode[{f!r}]={d!r} is not a decoder (expected one of {sorted(DECODERS)})"
                    )
                if not isinstance(d, str) and not callable(d):
                    raise LoaderOptionError(f"decode[{f!r}] must be a decoder name or a function")
            overrides = {
                f: d if isinstance(d, str) else bind_max_pixels(d, max_pixels)
                for f, d in overrides.items()
            }
        self.max_pixels = max_pixels
        self._builtin: dict[str, DecodeFn] = {name: fn for name, (_, fn) in DECODERS.items()}
        for pixels in ("image", "mask"):
            self._builtin[pixels] = functools.partial(
                _PIXEL_DECODERS[pixels], max_pixels=max_pixels
            )
        self.mode = decode if isinstance(decode, str) else "auto"
        self.overrides = overrides
        self.fields = None if fields is None else tuple(fields)
        self.allow_pickle = frozenset(allow_pickle)
        if self.fields is not None:
            for f in self.fields:
                name = self.decoder_name(f)
                if name in PICKLE_DECODERS and f not in self.allow_pickle:
                    raise LoaderOptionError(
                        f"field {f!r} decodes with {name!r}, which runs code from the file; "
                        f"pass allow_pickle=[{f!r}] to opt in, or decode={{{f!r}: 'bytes'}}"
                    )

    def decoder_name(self, ext: str) -> str | None:
        d = self.overrides.get(ext)
        if d is not None:
            return d if isinstance(d, str) else None
        return "bytes" if self.mode == "none" else default_decoder(ext)

    def __call__(
        self, shard: str, key: str, members: Mapping[str, bytes], seed: object = None
    ) -> dict[str, Any]:
        """Decode one sample. A decoder function with ``takes_rng = True`` (the fused crops, the
        clip sampler) also gets a ``random.Random`` seeded from ``(seed, key, field)``, so its
        random choices are the same on every machine, worker count and resume."""
        if self.fields is not None:
            missing = [f for f in self.fields if f not in members]
            if missing:
                raise MissingFieldError(
                    shard, key, f"missing field(s) {missing} (has {sorted(members)})"
                )
            names = self.fields
        else:
            names = tuple(members)
        out: dict[str, Any] = {"__key__": key}
        for ext in names:
            custom = self.overrides.get(ext)
            if custom is not None and not isinstance(custom, str):
                fn: DecodeFn = custom
            else:
                name = self.decoder_name(ext) or "bytes"
                if name in PICKLE_DECODERS and ext not in self.allow_pickle:
                    raise PickleRefusedError(
                        shard,
                        key,
                        f"field {ext!r} needs {name!r} (runs code from the file); "
                        f"refused unless allow_pickle names {ext!r}",
                    )
                fn = self._builtin[name]
            try:
                if getattr(fn, "takes_rng", False):
                    rng = sample_rng(seed, key, ext)
                    strided = getattr(fn, "strided", None) if self.into_batch else None
                    if strided is not None:
                        out[ext] = strided(members[ext], rng)
                    else:
                        out[ext] = fn(members[ext], rng)  # type: ignore[call-arg]
                else:
                    out[ext] = fn(members[ext])
            except DecodeError as exc:  # ours, without the shard: keep its type, add the place
                raise type(exc)(shard, key, f"field {ext!r}: {exc.reason}") from None
            except Exception as exc:
                raise DecodeError(
                    shard, key, f"field {ext!r}: {type(exc).__name__}: {exc}"
                ) from None
        return out
