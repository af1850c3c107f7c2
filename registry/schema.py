"""The dataset-card schema: pydantic models, no I/O.

A card is one YAML file. This module says what may be in it; :mod:`.checks` adds the
rules that span several fields (citations resolve, shares sum to at most 1, ...), and
:mod:`.validate` turns both into ``FILE:LINE: path: message`` problems.
"""

from __future__ import annotations

import difflib
import re
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from .vocab import VOCABULARIES

__all__ = [
    "Annotation",
    "Card",
    "Classes",
    "Collection",
    "Figure",
    "License",
    "Note",
    "Population",
    "Provenance",
    "Reference",
    "Shards",
    "Split",
    "Status",
    "Verification",
]

ID_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
SPLIT_PATTERN = r"^[a-z0-9]+(_[a-z0-9]+)*$"
DATE_PATTERN = r"^\d{4}(-\d{2}(-\d{2})?)?$"
_URL_RE = re.compile(r"^https?://[^\s/$.?#][^\s]*$")
_SPDX_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+-]*$")


def _term(vocabulary: str) -> Any:
    table = VOCABULARIES[vocabulary]
    label = vocabulary.replace("_", " ")

    def check(value: str) -> str:
        if value not in table:
            close = difflib.get_close_matches(value, list(table), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ValueError(
                f"{value!r} is not a known {label}{hint} (expected one of: {', '.join(table)})"
            )
        return value

    schema = {
        "type": "string",
        "enum": list(table),
        "description": f"one of the {label} terms (vocabulary.md)",
    }
    return Annotated[str, AfterValidator(check), WithJsonSchema(schema)]


def _check_url(value: str) -> str:
    if not _URL_RE.match(value):
        raise ValueError(f"{value!r} is not an http(s) URL (expected http://... or https://...)")
    return value


def _date_str(value: Any) -> Any:
    # YAML turns 2020-06-29 into a date; cards keep dates as ISO strings.
    if hasattr(value, "isoformat") and not isinstance(value, str):
        return value.isoformat()
    return value


if TYPE_CHECKING:
    Task: TypeAlias = str
    Modality: TypeAlias = str
    Domain: TypeAlias = str
    Source: TypeAlias = str
    Method: TypeAlias = str
    Axis: TypeAlias = str
    Metric: TypeAlias = str
    Unit: TypeAlias = str
    Bound: TypeAlias = str
    ProvKind: TypeAlias = str
    VerStatus: TypeAlias = str
    Access: TypeAlias = str
    State: TypeAlias = str
    CommercialUse: TypeAlias = str
    NoteKind: TypeAlias = str
    Url: TypeAlias = str
    DateStr: TypeAlias = str
else:
    Task = _term("task")
    Modality = _term("modality")
    Domain = _term("domain")
    Source = _term("collection_source")
    Method = _term("annotation_method")
    Axis = _term("axis")
    Metric = _term("metric")
    Unit = _term("unit")
    Bound = _term("bound")
    ProvKind = _term("provenance_kind")
    VerStatus = _term("verification_status")
    Access = _term("access")
    State = _term("status")
    CommercialUse = _term("commercial_use")
    NoteKind = _term("note_kind")
    Url = Annotated[
        str,
        AfterValidator(_check_url),
        WithJsonSchema({"type": "string", "format": "uri", "pattern": "^https?://"}),
    ]
    DateStr = Annotated[str, BeforeValidator(_date_str), Field(pattern=DATE_PATTERN)]

NonEmpty = Annotated[str, Field(min_length=1)]
CitationKey = Annotated[str, Field(min_length=1, description="a key of this card's references")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class Reference(_Model):
    """A publication or page the card cites; its key is used by every ``citation:`` field."""

    title: NonEmpty
    authors: list[NonEmpty] = Field(default_factory=list)
    year: int | None = Field(default=None, ge=1900, le=2100)
    venue: str | None = None
    url: Url | None = None
    doi: str | None = None


class License(_Model):
    id: Annotated[str, Field(description="SPDX identifier, or 'other' / 'unknown'")]
    name: NonEmpty
    url: Url | None = None
    commercial_use: CommercialUse
    notes: str | None = None

    @model_validator(mode="after")
    def _spdx(self) -> License:
        if not _SPDX_RE.match(self.id):
            raise ValueError(
                f"license id {self.id!r} is not an SPDX identifier, 'other' or 'unknown'"
            )
        return self


class Status(_Model):
    state: State
    date: DateStr | None = None
    reason: str | None = None
    citation: CitationKey | None = None

    @model_validator(mode="after")
    def _explained(self) -> Status:
        if self.state != "active":
            missing = [f for f in ("date", "reason", "citation") if getattr(self, f) is None]
            if missing:
                raise ValueError(
                    f"a {self.state} dataset needs {', '.join(missing)} (when, why, and a reference)"
                )
        return self


class Verification(_Model):
    status: VerStatus
    note: str | None = None

    @model_validator(mode="after")
    def _note_when_not_verified(self) -> Verification:
        if self.status != "verified" and not self.note:
            raise ValueError(
                f"a {self.status} figure needs a note (the source actually read, or the dispute)"
            )
        return self


class Split(_Model):
    num_examples: int | None = Field(
        ge=0,
        description="null only for generators and simulators with no fixed size (say so in note)",
    )
    bound: Bound = "exact"
    labels_public: bool = True
    unit: str | None = Field(
        default=None, description="what is counted when not the card's example_unit"
    )
    citation: CitationKey | None = None
    locator: str | None = None
    verification: Verification | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _unsized_needs_note(self) -> Split:
        if self.num_examples is None and not self.note:
            raise ValueError(
                "num_examples is null: the note must say why (e.g. a simulator renders on demand)"
            )
        return self


class Classes(_Model):
    count: int | None = Field(
        ge=0, description="null only for open vocabularies (say so in taxonomy or note)"
    )
    names: list[NonEmpty] | None = None
    taxonomy: str | None = None
    citation: CitationKey | None = None
    locator: str | None = None
    verification: Verification | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _names_match(self) -> Classes:
        if self.count is None and not (self.note or self.taxonomy):
            raise ValueError("count is null: say in taxonomy or note why (e.g. an open vocabulary)")
        if self.names is not None and len(self.names) != self.count:
            raise ValueError(f"count is {self.count} but {len(self.names)} names are listed")
        return self


class Collection(_Model):
    sources: list[Source] = Field(min_length=1)
    period: str | None = None
    who: str | None = None
    notes: str | None = None


class Annotation(_Model):
    methods: list[Method] = Field(min_length=1)
    platform: str | None = None
    per_item: str | None = None
    annotated: list[NonEmpty] = Field(default_factory=list)
    notes: str | None = None


class Population(_Model):
    unit: NonEmpty = Field(
        description="what is counted: image, subject, class, clip, question, ..."
    )
    split: str | None = None
    n: int | None = Field(default=None, ge=0)
    note: str | None = None


class Provenance(_Model):
    kind: ProvKind
    citation: CitationKey
    locator: str | None = None
    as_of: DateStr | None = None
    tool: str | None = None

    @model_validator(mode="after")
    def _tool_for_computed(self) -> Provenance:
        if self.kind == "computed" and not self.tool:
            raise ValueError(
                "a computed figure needs 'tool' (the program and version that computed it)"
            )
        return self


_RANGES = {"fraction": (0.0, 1.0), "index_0_1": (0.0, 1.0), "percent": (0.0, 100.0)}


class Figure(_Model):
    """One typed coverage or bias number, with who measured it and whether it is verified."""

    axis: Axis
    metric: Metric
    category: str | None = None
    unit: Unit
    value: float
    bound: Bound = "exact"
    population: Population
    provenance: Provenance
    verification: Verification
    note: str | None = None

    @field_validator("value")
    @classmethod
    def _value_in_range(cls, value: float, info: ValidationInfo) -> float:
        unit = info.data.get("unit")
        if unit in _RANGES:
            lo, hi = _RANGES[unit]
            if not lo <= value <= hi:
                what = {
                    "fraction": "a fraction",
                    "index_0_1": "an index",
                    "percent": "a percentage",
                }
                raise ValueError(
                    f"{value:g} is not {what[unit]} (expected {lo:g}..{hi:g} for unit {unit!r})"
                )
        if unit == "count" and (value < 0 or value != int(value)):
            raise ValueError(f"{value:g} is not a count (expected a whole number >= 0)")
        return value


class Note(_Model):
    kind: NoteKind
    text: NonEmpty
    citation: CitationKey | None = None


class Shards(_Model):
    converter: str | None = Field(
        default=None, description="the visiondata converter that writes these shards"
    )
    fields: dict[str, NonEmpty] = Field(
        min_length=1, description="WebDataset member extension -> meaning"
    )
    note: str | None = None


class Card(_Model):
    """A dataset card. ``Card.model_json_schema()`` is the shipped ``card.schema.json``."""

    id: Annotated[
        str,
        Field(pattern=ID_PATTERN, description="lowercase words joined by hyphens; the file name"),
    ]
    name: NonEmpty
    aliases: list[NonEmpty] = Field(default_factory=list)
    description: NonEmpty
    year: int = Field(ge=1900, le=2100, description="year of first public release")
    homepage: Url
    citation: NonEmpty = Field(description="BibTeX of the defining publication")
    references: dict[str, Reference] = Field(min_length=1)
    license: License
    access: Access
    status: Status
    tasks: list[Task] = Field(min_length=1)
    modalities: list[Modality] = Field(min_length=1)
    domain: Domain
    example_unit: NonEmpty
    derived_from: list[Annotated[str, Field(pattern=ID_PATTERN)]] = Field(default_factory=list)
    splits: dict[Annotated[str, Field(pattern=SPLIT_PATTERN)], Split] = Field(min_length=1)
    classes: Classes | None = None
    collection: Collection
    annotation: Annotation
    figures: list[Figure] = Field(default_factory=list)
    notes: list[Note] = Field(default_factory=list)
    shards: Shards | None = None

    @property
    def total_examples(self) -> int:
        """Sum of the split sizes."""
        return sum(s.num_examples or 0 for s in self.splits.values())
