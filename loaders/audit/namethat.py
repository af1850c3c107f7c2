"""``visiondata namethat``: Torralba and Efros' "Name That Dataset" (CVPR 2011) as a tool.

From each source (a shard set) ``per_source`` images are drawn at random (seeded, read by
offset from the manifest index, so only the sampled samples are read). Each image becomes a
cheap feature vector: a 16x16 RGB thumbnail (768 values) and an 8-bin histogram per colour
channel (24 values). A standardised multinomial logistic regression is trained on a
stratified 70% and scored on the held-out 30%. Accuracy well above chance means the sources
are easy to tell apart: each has its own "signature" (capture, framing, colour, subject).
"""

from __future__ import annotations

import hashlib
import io
import random
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..shards.manifest import MANIFEST_NAME, read_manifest
from ..shards.members import image_field
from .scan import read_sample

__all__ = ["CITATION_KEY", "NameThatResult", "image_features", "name_that_dataset"]

CITATION_KEY = "visiondata_namethat"
THUMB = 16
BINS = 8


def image_features(data: bytes) -> Any:
    """Thumbnail + colour histogram of one encoded image (float32 vector of 792 values)."""
    import numpy as np
    from PIL import Image

    im = Image.open(io.BytesIO(data))
    im.draft("RGB", (THUMB * 4, THUMB * 4))
    rgb = im.convert("RGB")
    thumb = (
        np.asarray(rgb.resize((THUMB, THUMB), Image.Resampling.BILINEAR), dtype=np.float32) / 255
    )
    small = np.asarray(rgb.resize((64, 64), Image.Resampling.BILINEAR))
    hist = [
        np.histogram(small[..., c], bins=BINS, range=(0, 256))[0] / small[..., c].size
        for c in range(3)
    ]
    return np.concatenate([thumb.ravel(), np.concatenate(hist).astype(np.float32)])


@dataclass
class NameThatResult:
    sources: list[str]
    names: list[str]
    manifest_sha256: list[str]
    sampled: list[int]
    unreadable: list[int]
    n_train: int
    n_test: int
    accuracy: float
    chance: float  # share of the largest source in the test set
    confusion: list[list[int]]  # rows: true source, columns: predicted
    seed: int
    per_source: int
    notes: list[str] = field(default_factory=list)
    cards: list[str | None] = field(default_factory=list)  # each source's manifest card id

    def render(self) -> str:
        width = max(len(n) for n in self.names) + 2
        k = len(self.names)
        cell = max(6, len(str(self.n_test)) + 2)
        ratio = f" ({self.accuracy / self.chance:.2f}x chance)" if self.chance else ""
        lines = [
            f"{k} sources, {self.per_source} images each requested (sampled "
            f"{', '.join(map(str, self.sampled))}); trained on {self.n_train}, tested on {self.n_test}",
            f"accuracy {self.accuracy:.4f} vs chance {self.chance:.4f}{ratio}",
            "",
            "confusion (rows: true source, columns: predicted source)",
            " " * (width + 4) + "".join(f"{j:>{cell}}" for j in range(k)),
        ]
        for i, (name, row) in enumerate(zip(self.names, self.confusion, strict=True)):
            lines.append(f"{i:>3} {name:<{width}}" + "".join(f"{v:>{cell}}" for v in row))
        return "\n".join(lines + self.notes)

    def figure_record(self, tool: str, date: str, into: str | None = None) -> dict[str, Any]:
        """A card ``figures`` entry (``axis: separability``) for this run, to be written into
        card ``into``: a figure measured over all the sources together, so ``scope: pooled``
        with the other sources' cards (when the sources name their cards)."""
        others = sorted({c for c in self.cards if c and c != into})
        slug = "-".join(filter(None, re.split(r"[^a-z0-9]+", " ".join(self.names).lower())))
        record: dict[str, Any] = {
            "id": f"namethat-{slug[:60].strip('-')}" if slug else "namethat",
            "axis": "separability",
            "metric": "accuracy",
            "category": " vs ".join(self.names),
            "subject": {
                "name": "visiondata namethat classifier (standardised logistic regression on "
                "thumbnails and colour histograms)",
                "version": tool,
                "kind": "model",
            },
            "unit": "fraction",
            "value": round(self.accuracy, 4),
            "population": {"unit": "image", "n": self.n_test},
            "provenance": {
                "kind": "computed",
                "citation": CITATION_KEY,
                "locator": "visiondata namethat, held-out 30%",
                "as_of": date,
                "tool": tool,
            },
            "verification": {
                "status": "verified",
                "note": "computed from the shard files; manifest sha256 "
                + ", ".join(
                    f"{n} {h}" for n, h in zip(self.names, self.manifest_sha256, strict=True)
                ),
            },
            "note": (
                f"chance (largest source share) {self.chance:.4f}; features: {THUMB}x{THUMB} RGB "
                f"thumbnail + {BINS}-bin colour histograms; standardised logistic regression; "
                f"{self.per_source} images per source, seed {self.seed}"
            ),
        }
        if others:
            record["scope"] = "pooled"
            record["pooled_with"] = others
        return record


def _sample_locations(
    root: Path, n: int, rng: random.Random, splits: Sequence[str] | None
) -> list[tuple[Path, int, str]]:
    manifest = read_manifest(root)
    locs = []
    for name in splits or list(manifest.splits):
        if name not in manifest.splits:
            continue
        for shard in manifest.splits[name].shards:
            locs += [
                (root / shard.name, off, key)
                for off, key in zip(shard.offsets, shard.keys, strict=True)
            ]
    chosen = rng.sample(locs, min(n, len(locs)))
    return sorted(chosen, key=lambda x: (str(x[0]), x[1]))


def name_that_dataset(
    sources: Sequence[str | Path],
    *,
    per_source: int = 200,
    seed: int = 0,
    splits: Sequence[str] | None = None,
    test_fraction: float = 0.3,
) -> NameThatResult:
    """Sample, featurise, train on a stratified split, score on the held-out part."""
    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, confusion_matrix
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(sources) < 2:
        raise ValueError(f"namethat needs at least 2 sources, got {len(sources)}")
    if per_source < 5:
        raise ValueError(f"per_source must be at least 5, got {per_source}")
    rng = random.Random(seed)
    roots = [Path(s).parent if Path(s).name == MANIFEST_NAME else Path(s) for s in sources]
    names, digests, sampled, unreadable = [], [], [], []
    cards: list[str | None] = []
    feats: list[Any] = []
    labels: list[int] = []
    for label, root in enumerate(roots):
        manifest = read_manifest(root)
        cards.append(manifest.card)
        base = manifest.card or root.name
        names.append(base if base not in names else f"{base}#{label}")
        digests.append(hashlib.sha256((root / MANIFEST_NAME).read_bytes()).hexdigest())
        bad = 0
        locs = _sample_locations(root, per_source, rng, splits)
        for path, offset, key in locs:
            try:
                members = read_sample(path, offset, key)
                ext = image_field(members)
                if ext is None:
                    raise ValueError("no image member")
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    feats.append(image_features(members[ext]))
            except Exception:  # undecodable: counted, not fatal
                bad += 1
                continue
            labels.append(label)
        sampled.append(len(locs) - bad)
        unreadable.append(bad)
    y = np.asarray(labels, dtype=np.intp)  # an empty list would be float, which bincount refuses
    counts = np.bincount(y, minlength=len(roots))
    if counts.min() < 2:
        raise ValueError(
            f"every source needs at least 2 readable images; got {dict(zip(names, counts.tolist(), strict=True))}"
        )
    x = np.stack(feats)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, stratify=y, random_state=seed
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.1))
    notes = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(x_tr, y_tr)
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        notes.append("note: logistic regression did not fully converge in 2000 iterations")
    pred = model.predict(x_te)
    test_counts = np.bincount(y_te, minlength=len(roots))
    return NameThatResult(
        sources=[str(r) for r in roots],
        names=names,
        manifest_sha256=digests,
        sampled=sampled,
        unreadable=unreadable,
        n_train=len(y_tr),
        n_test=len(y_te),
        accuracy=float(accuracy_score(y_te, pred)),
        chance=float(test_counts.max() / test_counts.sum()),
        confusion=confusion_matrix(y_te, pred, labels=list(range(len(roots)))).tolist(),
        seed=seed,
        per_source=per_source,
        notes=notes,
        cards=cards,
    )
