"""A card as Croissant 1.0 JSON-LD, with the Responsible-AI (RAI) vocabulary filled in.

Croissant has no place for typed bias figures, so they travel in a namespaced extension
(prefix ``vd``, :data:`NAMESPACE`) together with the card's references, lineage and status: a
Croissant reader that does not know the extension ignores it, one that does loses nothing.
The ``@context`` is written inline, so reading and validating the file needs no network.
"""

from __future__ import annotations

import json
from typing import Any

from ..schema import (
    Card,
    Edition,
    Figure,
    Population,
    Provenance,
    Subject,
    Transfer,
    Verification,
)
from ..vocab import ACCESS, ANNOTATION_METHODS, COLLECTION_SOURCES
from ._common import notes_of, spdx_url

__all__ = ["CONFORMS_TO", "CONTEXT", "NAMESPACE", "render", "to_croissant"]

CONFORMS_TO = "http://mlcommons.org/croissant/1.0"

#: The IRI prefix of the visiondata extension terms (``vd:figures``, ``vd:axis``, ...).
NAMESPACE = "urn:visiondata:card:"

#: The standard Croissant 1.0 context, plus the ``vd`` prefix.
CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
    "vd": NAMESPACE,
}


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v not in (None, [], "", {})}


def _verification(v: Verification) -> dict[str, Any]:
    return _clean(
        {"@type": "vd:Verification", "vd:status": v.status, "vd:url": v.url, "vd:note": v.note}
    )


def _population(p: Population) -> dict[str, Any]:
    return _clean(
        {
            "@type": "vd:Population",
            "vd:unit": p.unit,
            "vd:split": p.split,
            "vd:n": p.n,
            "vd:note": p.note,
        }
    )


def _provenance(p: Provenance) -> dict[str, Any]:
    return _clean(
        {
            "@type": "vd:Provenance",
            "vd:kind": p.kind,
            "vd:citation": p.citation,
            "vd:locator": p.locator,
            "vd:asOf": p.as_of,
            "vd:tool": p.tool,
        }
    )


def _subject(s: Subject | None) -> dict[str, Any] | None:
    if s is None:
        return None
    return _clean(
        {
            "@type": "vd:Subject",
            "name": s.name,
            "vd:version": s.version,
            "vd:date": s.date,
            "vd:kind": s.kind,
        }
    )


def _figure(card: Card, f: Figure) -> dict[str, Any]:
    der, dispute = f.derivation, f.dispute
    return _clean(
        {
            "@type": "vd:Figure",
            "vd:id": f.id,
            "vd:axis": f.axis,
            "vd:metric": f.metric,
            "vd:category": f.category,
            "vd:subject": _subject(f.subject),
            "vd:edition": f.edition,
            "vd:scope": f.scope,
            "vd:pooledWith": [f"{NAMESPACE}{c}" for c in f.pooled_with],
            "vd:value": f.value,
            "vd:unit": f.unit,
            "vd:bound": f.bound,
            "vd:population": _population(f.population),
            "vd:provenance": _provenance(f.provenance),
            "vd:verification": _verification(card.verification_of(f)),
            "vd:derivation": None
            if der is None
            else {
                "@type": "vd:Derivation",
                "vd:inputs": list(der.inputs),
                "vd:operation": der.operation,
                "vd:formula": der.formula,
            },
            "vd:dispute": None
            if dispute is None
            else {"@type": "vd:Dispute", "vd:with": list(dispute.with_), "vd:note": dispute.note},
            "vd:note": f.note,
        }
    )


def _transfer(t: Transfer) -> dict[str, Any]:
    return _clean(
        {
            "@type": "vd:Transfer",
            "vd:id": t.id,
            "vd:target": f"{NAMESPACE}{t.target}",
            "vd:sourceEdition": t.source_edition,
            "vd:targetEdition": t.target_edition,
            "vd:task": t.task,
            "vd:setting": t.setting,
            "vd:subject": _subject(t.subject),
            "vd:backbone": t.backbone,
            "vd:metric": t.metric,
            "vd:value": t.value,
            "vd:unit": t.unit,
            "vd:bound": t.bound,
            "vd:population": _population(t.population),
            "vd:provenance": _provenance(t.provenance),
            "vd:verification": _verification(t.verification),
            "vd:note": t.note,
        }
    )


def _edition(e: Edition) -> dict[str, Any]:
    return _clean(
        {
            "@type": "vd:Edition",
            "vd:id": e.id,
            "name": e.name,
            "datePublished": str(e.year) if e.year else None,
            "vd:changes": e.changes,
            "vd:citation": e.citation,
            "vd:locator": e.locator,
        }
    )


def _record_sets(card: Card) -> list[dict[str, Any]]:
    def field(rs: str, name: str, data_type: str, description: str) -> dict[str, Any]:
        return {
            "@type": "cr:Field",
            "@id": f"{rs}/{name}",
            "name": name,
            "description": description,
            "dataType": data_type,
        }

    splits = {
        "@type": "cr:RecordSet",
        "@id": "splits",
        "name": "splits",
        "description": f"The official splits; sizes count {card.example_unit}s unless noted.",
        "dataType": "cr:Split",
        "key": {"@id": "splits/name"},
        "field": [
            field("splits", "name", "sc:Text", "split name"),
            field("splits", "num_examples", "sc:Integer", "number of examples"),
            field("splits", "labels_public", "sc:Boolean", "whether the labels are released"),
            field(
                "splits",
                "count_kind",
                "sc:Text",
                "release | paper | computed | available: what kind of count num_examples is",
            ),
        ],
        "data": [
            {
                "splits/name": name,
                "splits/num_examples": s.num_examples,
                "splits/labels_public": s.labels_public,
                "splits/count_kind": s.count_kind,
            }
            for name, s in card.splits.items()
        ],
    }
    out = [splits]
    if card.classes and card.classes.names:
        out.append(
            {
                "@type": "cr:RecordSet",
                "@id": "classes",
                "name": "classes",
                "description": f"The {len(card.classes.names)} class names, in label-index order.",
                "key": {"@id": "classes/index"},
                "field": [
                    field("classes", "index", "sc:Integer", "label index"),
                    field("classes", "name", "sc:Text", "class name"),
                ],
                "data": [
                    {"classes/index": i, "classes/name": n}
                    for i, n in enumerate(card.classes.names)
                ],
            }
        )
    return out


def _distribution(card: Card) -> list[dict[str, Any]]:
    if card.shards is None:
        return []
    members = "; ".join(f".{ext}: {meaning}" for ext, meaning in card.shards.fields.items())
    converter = (
        f" by the visiondata `{card.shards.converter}` converter" if card.shards.converter else ""
    )
    return [
        {
            "@type": "cr:FileSet",
            "@id": "webdataset-shards",
            "name": "webdataset-shards",
            "description": (
                f"WebDataset tar shards written{converter}, one sample per {card.example_unit}, "
                f"with a manifest.json (counts, bytes, sha256). Sample members: {members}."
                + (f" {card.shards.note}" if card.shards.note else "")
            ),
            "encodingFormat": "application/x-tar",
            "includes": "*.tar",
        }
    ]


def _rai(card: Card) -> dict[str, Any]:
    col, ann = card.collection, card.annotation
    collection = " ".join(
        x
        for x in (
            f"Sources: {', '.join(col.sources)}.",
            f"Period: {col.period}." if col.period else None,
            f"Collected by: {col.who}." if col.who else None,
            col.notes,
            *notes_of(card, "collection"),
        )
        if x
    )
    annotation = [
        *(f"{m}: {ANNOTATION_METHODS[m]}" for m in ann.methods),
        *([f"Annotated: {', '.join(ann.annotated)}."] if ann.annotated else []),
        *([ann.notes] if ann.notes else []),
        *notes_of(card, "annotation"),
    ]
    maintenance = [*notes_of(card, "maintenance")]
    if card.status.state != "active":
        maintenance.insert(0, f"{card.status.state} since {card.status.date}: {card.status.reason}")
    return _clean(
        {
            "rai:dataCollection": collection,
            "rai:dataCollectionType": [COLLECTION_SOURCES[s] for s in col.sources],
            "rai:dataAnnotationProtocol": annotation,
            "rai:dataAnnotationPlatform": [ann.platform] if ann.platform else [],
            "rai:annotationsPerItem": ann.per_item,
            "rai:dataBiases": notes_of(card, "bias"),
            "rai:dataLimitations": notes_of(card, "limitation"),
            "rai:personalSensitiveInformation": notes_of(card, "sensitive"),
            "rai:dataReleaseMaintenancePlan": " ".join(maintenance),
        }
    )


def to_croissant(card: Card) -> dict[str, Any]:
    """The Croissant JSON-LD document of one card, as a dict."""
    lic = card.license
    license_url = lic.url or spdx_url(lic.id)
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": CONFORMS_TO,
        "name": card.name,
        "alternateName": [card.id, *card.aliases],
        "description": card.description,
        "url": card.homepage,
        "citeAs": card.citation.strip(),
        "datePublished": str(card.year),
        "license": license_url or lic.name,
        "isAccessibleForFree": card.access == "open",
        "conditionsOfAccess": f"{card.access}: {ACCESS[card.access]}",
        "keywords": [*card.tasks, *card.modalities, card.domain],
        "isBasedOn": [f"{NAMESPACE}{d}" for d in card.derived_from],
        "distribution": _distribution(card),
        "recordSet": _record_sets(card),
        **_rai(card),
        "vd:cardId": card.id,
        "vd:licenseId": lic.id,
        "vd:licenseName": lic.name,
        "vd:commercialUse": lic.commercial_use,
        "vd:licenseNotes": lic.notes,
        "vd:status": _clean(
            {
                "@type": "vd:Status",
                "vd:state": card.status.state,
                "vd:date": card.status.date,
                "vd:reason": card.status.reason,
                "vd:citation": card.status.citation,
            }
        ),
        "vd:exampleUnit": card.example_unit,
        "vd:classCount": card.classes.count if card.classes else None,
        "vd:figures": [_figure(card, f) for f in card.figures],
        "vd:transfers": [_transfer(t) for t in card.transfers],
        "vd:editions": [_edition(e) for e in card.editions],
        "vd:references": [
            _clean(
                {
                    "@type": "vd:Reference",
                    "vd:key": key,
                    "name": r.title,
                    "author": list(r.authors),
                    "datePublished": str(r.year) if r.year else None,
                    "vd:venue": r.venue,
                    "url": r.url,
                    "vd:doi": r.doi,
                }
            )
            for key, r in card.references.items()
        ],
    }
    return _clean(doc)


def render(card: Card) -> str:
    """The Croissant JSON-LD document of one card, as text."""
    return json.dumps(to_croissant(card), indent=2, ensure_ascii=False)
