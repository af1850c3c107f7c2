"""Per-field decoders: member bytes -> Python values and uint8 tensors.

The decoder of a field is chosen by name from :data:`DECODERS`, by default from the field's
extension (:data:`BY_EXTENSION`, matched on the whole extension and then its last part, so
``seg.png`` is a mask and ``left.jpg`` an image). Pickle-based formats (``pyd``, ``pickle``,
``pkl``, ``pth``, ``pt``) run code from the file when loaded, so they are refused unless the
field is named in ``allow_pickle``; ``npy`` is always read with ``allow_pickle=False``.
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Callable, Collection, Mapping
from typing import Any

from ..errors import DecodeError, LoaderOptionError, MissingFieldError, PickleRefusedError

__all__ = ["BY_EXTENSION", "DECODERS", "PICKLE_DECODERS", "SampleDecoder", "sample_rng"]

DecodeFn = Callable[[bytes], Any]


def _image(data: bytes) -> Any:
    import numpy as np
    import torch
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        img.load()
        rgb = img.convert("RGB")
    arr = np.asarray(rgb, dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()


def _mask(data: bytes) -> Any:
    import numpy as np
    import torch
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        img.load()
        if img.mode not in ("L", "P", "I", "I;16", "1"):
            raise ValueError(f"a label mask must be single-channel, got mode {img.mode}")
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


def _cls(data: bytes) -> int:
    return int(data.decode("utf-8").strip())


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
    "cls": ("text integer -> int", _cls),
    "text": ("UTF-8 -> str", _text),
    "json": ("JSON -> Python objects", _json),
    "npy": ("NumPy .npy (never with pickle) -> tensor", _npy),
    "bytes": ("leave the bytes undecoded", _raw),
    "pickle": ("Python pickle (runs code: opt in with allow_pickle)", _pickle),
    "torch": ("torch.save file (runs code: opt in with allow_pickle)", _torch),
}
PICKLE_DECODERS = frozenset({"pickle", "torch"})

BY_EXTENSION: dict[str, str] = {
    "jpg": "image",
    "jpeg": "image",
    "png": "image",
    "webp": "image",
    "seg.png": "mask",
    "mask.png": "mask",
    "label.png": "mask",
    "labels.png": "mask",
    "cls": "cls",
    "txt": "text",
    "json": "json",
    "npy": "npy",
    "pyd": "pickle",
    "pickle": "pickle",
    "pkl": "pickle",
    "pth": "torch",
    "pt": "torch",
}

DECODE_MODES = {
    "auto": "decode each field by its extension (BY_EXTENSION); unknown ones stay bytes",
    "none": "leave every field as bytes",
}


def sample_rng(seed: object, key: str, name: str) -> random.Random:
    """A random generator for one sample and one use, from ``(seed, key, name)`` alone."""
    return random.Random(f"{seed!r}/{key}/{name}")


def default_decoder(ext: str) -> str:
    if ext in BY_EXTENSION:
        return BY_EXTENSION[ext]
    last = ext.rsplit(".", 1)[-1]
    return BY_EXTENSION.get(last, "bytes")


class SampleDecoder:
    """Turn a raw sample ``{ext: bytes}`` into ``{field: value}`` plus ``__key__``."""

    def __init__(
        self,
        decode: str | Mapping[str, str | DecodeFn] = "auto",
        fields: Collection[str] | None = None,
        allow_pickle: Collection[str] = (),
    ) -> None:
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
                fn = DECODERS[name][1]
            try:
                if getattr(fn, "takes_rng", False):
                    out[ext] = fn(members[ext], sample_rng(seed, key, ext))  # type: ignore[call-arg]
                else:
                    out[ext] = fn(members[ext])
            except Exception as exc:
                raise DecodeError(
                    shard, key, f"field {ext!r}: {type(exc).__name__}: {exc}"
                ) from None
        return out
