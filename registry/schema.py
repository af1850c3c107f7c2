"""The dataset-card schema (version 2): pydantic models, no I/O.

A card is one YAML file. This module says what may be in it; :mod:`.checks` adds the
rules that span several fields (citations resolve, figure ids are unique, editions are listed,
derivations add up, ...), and :mod:`.validate` turns both into ``FILE:LINE: path: message``
problems. The verification of a derived figure is not written in the card: :meth:`Card.
verification_of` computes it from the verification of its inputs.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from functools import cached_property
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
    "SCHEMA_VERSION",
    "STRENGTH",
    "Annotation",
    "Card",
    "Classes",
    "Collection",
    "Derivation",
    "Dispute",
    "Edition",
    "Figure",
    "Fold",
    "License",
    "Note",
    "Population",
    "Provenance",
    "Reference",
    "Shards",
    "Split",
    "Status",
    "Subject",
    "Transfer",
    "Verification",
    "YearSource",
]

#: The card schema version this code reads (``schema_version:`` in every card).
SCHEMA_VERSION = 2

ID_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
SPLIT_PATTERN = r"^[a-z0-9]+(_[a-z0-9]+)*$"
EDITION_PATTERN = r"^[a-z0-9]+([._-][a-z0-9]+)*$"
INPUT_PATTERN = r"^([a-z0-9]+(-[a-z0-9]+)*|splits\.[a-z0-9]+(_[a-z0-9]+)*|classes\.count)$"
DATE_PATTERN = r"^\d{4}(-\d{2}(-\d{2})?)?$"
_URL_RE = re.compile(r"^https?://[^\s/$.?#][^\s]*$")
_SPDX_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+-]*$")

#: Verification statuses from strongest to weakest, for computing a derived figure's status.
STRENGTH = ("verified", "secondary", "unverified")


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


def _text(value: Any) -> Any:
    # Edition ids and versions are often years: `edition: 2019` means the string "2019".
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _schema_version(value: int) -> int:
    if value != SCHEMA_VERSION:
        raise ValueError(
            f"schema_version {value} is not supported: this visiondata reads card schema "
            f"{SCHEMA_VERSION} (expected schema_version: {SCHEMA_VERSION}; CHANGELOG.md says what "
            "changed)"
        )
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
    CountKind: TypeAlias = str
    Scope: TypeAlias = str
    SubjectKind: TypeAlias = str
    Setting: TypeAlias = str
    Operation: TypeAlias = str
    Url: TypeAlias = str
    DateStr: TypeAlias = str
    EditionId: TypeAlias = str
    Version: TypeAlias = str
    SchemaVersion: TypeAlias = int
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
    CountKind = _term("count_kind")
    Scope = _term("scope")
    SubjectKind = _term("subject_kind")
    Setting = _term("transfer_setting")
    Operation = _term("derivation_operation")
    Url = Annotated[
        str,
        AfterValidator(_check_url),
        WithJsonSchema({"type": "string", "format": "uri", "pattern": "^https?://"}),
    ]
    DateStr = Annotated[str, BeforeValidator(_date_str), Field(pattern=DATE_PATTERN)]
    EditionId = Annotated[
        str,
        BeforeValidator(_text),
        Field(pattern=EDITION_PATTERN, description="an id listed in the card's editions"),
    ]
    Version = Annotated[str, BeforeValidator(_text), Field(min_length=1)]
    SchemaVersion = Annotated[
        int,
        AfterValidator(_schema_version),
        WithJsonSchema({"type": "integer", "const": SCHEMA_VERSION}),
    ]

NonEmpty = Annotated[str, Field(min_length=1)]
CitationKey = Annotated[str, Field(min_length=1, description="a key of this card's references")]
CardId = Annotated[str, Field(pattern=ID_PATTERN)]
ItemId = Annotated[
    str,
    Field(pattern=ID_PATTERN, description="lowercase words joined by hyphens; unique in the card"),
]
SplitName = Annotated[str, Field(pattern=SPLIT_PATTERN)]


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


class Verification(_Model):
    """Whether a number was read in its primary source (``verified``), in a verbatim copy of
    it (``secondary``, with the copy's url), or only elsewhere (``unverified``, the note says
    where)."""

    status: VerStatus
    url: Url | None = Field(default=None, description="the verbatim copy read (secondary)")
    note: str | None = None

    @model_validator(mode="after")
    def _explained(self) -> Verification:
        if self.status == "secondary" and not self.url:
            raise ValueError(
                "a secondary verification needs url (the address of the verbatim copy read)"
            )
        if self.status not in ("verified", "secondary") and not self.note:
            raise ValueError(
                f"a {self.status} figure needs a note (the source actually read, or the dispute)"
            )
        return self


class YearSource(_Model):
    """Where the card's ``year`` (of first public release) is written."""

    citation: CitationKey
    locator: str | None = None
    verification: Verification


class License(_Model):
    id: Annotated[str, Field(description="SPDX identifier, or 'other' / 'unknown'")]
    name: NonEmpty
    url: Url | None = None
    commercial_use: CommercialUse
    notes: str | None = None
    citation: CitationKey | None = None
    locator: str | None = None
    verification: Verification | None = None

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
    locator: str | None = None
    verification: Verification | None = None

    @model_validator(mode="after")
    def _explained(self) -> Status:
        if self.state != "active":
            missing = [f for f in ("date", "reason", "citation") if getattr(self, f) is None]
            if missing:
                raise ValueError(
                    f"a {self.state} dataset needs {', '.join(missing)} (when, why, and a reference)"
                )
        return self


class Edition(_Model):
    """One release of the dataset; splits, classes, figures and transfers may name it."""

    id: EditionId
    name: NonEmpty
    year: int | None = Field(default=None, ge=1900, le=2100)
    changes: str | None = None
    citation: CitationKey | None = None
    locator: str | None = None


class Split(_Model):
    num_examples: int | None = Field(
        ge=0,
        description="null only for generators and simulators with no fixed size (say so in note)",
    )
    count_kind: CountKind = Field(
        description="release | paper | computed (with formula) | available (with as_of)"
    )
    formula: str | None = Field(
        default=None, description="for computed: arithmetic over other splits and figure ids"
    )
    as_of: DateStr | None = Field(default=None, description="for available: when it was counted")
    edition: EditionId | None = None
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
    def _explained(self) -> Split:
        if self.num_examples is None and not self.note:
            raise ValueError(
                "num_examples is null: the note must say why (e.g. a simulator renders on demand)"
            )
        if self.count_kind == "computed" and not self.formula:
            raise ValueError(
                "count_kind computed needs formula (the arithmetic, e.g. 'all - train - validation')"
            )
        if self.formula and self.count_kind != "computed":
            raise ValueError(f"formula is only for count_kind computed (got {self.count_kind})")
        if self.count_kind == "available" and not self.as_of:
            raise ValueError("count_kind available needs as_of (the date it was counted)")
        return self


class Fold(_Model):
    """One official train/test split of a benchmark whose splits overlap (UCF101 split1, ...)."""

    note: str | None = None
    splits: dict[SplitName, Split] = Field(min_length=1)


class Classes(_Model):
    count: int | None = Field(
        ge=0, description="null only for open vocabularies (say so in taxonomy or note)"
    )
    names: list[NonEmpty] | None = None
    taxonomy: str | None = None
    edition: EditionId | None = None
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


class Subject(_Model):
    """What a performance number describes: a model, a system, a method or people."""

    name: NonEmpty
    version: Version | None = None
    date: DateStr | None = None
    kind: SubjectKind


class Derivation(_Model):
    """How a derived figure is computed from other numbers of the same card."""

    inputs: list[Annotated[str, Field(pattern=INPUT_PATTERN)]] = Field(
        min_length=1, description="figure ids of this card, splits.<name>, or classes.count"
    )
    operation: Operation
    formula: NonEmpty = Field(
        description="the arithmetic over the inputs, e.g. '1 - share-lighter'; it is evaluated"
    )


class Dispute(_Model):
    """A recorded disagreement: this figure and the figures in ``with`` measure the same thing."""

    with_: list[ItemId] = Field(alias="with", min_length=1)
    note: NonEmpty


_RANGES = {"fraction": (0.0, 1.0), "index_0_1": (0.0, 1.0), "percent": (0.0, 100.0)}
_WHAT = {"fraction": "a fraction", "index_0_1": "an index", "percent": "a percentage"}


def _in_range(value: float, unit: str | None) -> float:
    if unit in _RANGES:
        lo, hi = _RANGES[unit]
        if not lo <= value <= hi:
            raise ValueError(
                f"{value:g} is not {_WHAT[unit]} (expected {lo:g}..{hi:g} for unit {unit!r})"
            )
    if unit == "count" and (value < 0 or value != int(value)):
        raise ValueError(f"{value:g} is not a count (expected a whole number >= 0)")
    return value


class Figure(_Model):
    """One typed coverage or bias number, with who measured it, on what, and whether it was read
    in its source. A derived figure has ``derivation`` instead of ``verification``."""

    id: ItemId
    axis: Axis
    metric: Metric
    category: str | None = None
    subject: Subject | None = None
    edition: EditionId | None = None
    scope: Scope = "this-dataset"
    pooled_with: list[CardId] = Field(
        default_factory=list, description="for scope pooled: the other cards measured together"
    )
    unit: Unit
    value: float
    bound: Bound = "exact"
    population: Population
    provenance: Provenance
    verification: Verification | None = Field(
        default=None, description="required, except on derived figures (computed from inputs)"
    )
    derivation: Derivation | None = None
    dispute: Dispute | None = None
    note: str | None = None

    @field_validator("value")
    @classmethod
    def _value_in_range(cls, value: float, info: ValidationInfo) -> float:
        return _in_range(value, info.data.get("unit"))


class Transfer(_Model):
    """A number measured by training on this card's data and testing on another card's data."""

    id: ItemId
    target: CardId = Field(description="the card whose data the model was tested on")
    source_edition: EditionId | None = None
    target_edition: EditionId | None = None
    task: Task
    setting: Setting
    subject: Subject
    backbone: str | None = None
    metric: Metric
    unit: Unit
    value: float
    bound: Bound = "exact"
    population: Population = Field(description="what was tested, on the target")
    provenance: Provenance
    verification: Verification
    note: str | None = None

    @field_validator("value")
    @classmethod
    def _value_in_range(cls, value: float, info: ValidationInfo) -> float:
        return _in_range(value, info.data.get("unit"))

    @model_validator(mode="after")
    def _measured(self) -> Transfer:
        if self.provenance.kind == "derived":
            raise ValueError(
                "a transfer is measured or declared, not derived (record derived numbers as figures)"
            )
        return self


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
    schema_version: SchemaVersion = Field(description="the card schema version: 2")
    name: NonEmpty
    aliases: list[NonEmpty] = Field(default_factory=list)
    description: NonEmpty
    year: int = Field(ge=1900, le=2100, description="year of first public release")
    year_source: YearSource | None = None
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
    derived_from: list[CardId] = Field(default_factory=list)
    editions: list[Edition] = Field(default_factory=list)
    splits: dict[SplitName, Split] = Field(min_length=1)
    folds: dict[SplitName, Fold] = Field(default_factory=dict)
    classes: Classes | None = None
    collection: Collection
    annotation: Annotation
    figures: list[Figure] = Field(default_factory=list)
    transfers: list[Transfer] = Field(default_factory=list)
    notes: list[Note] = Field(default_factory=list)
    shards: Shards | None = None

    @property
    def total_examples(self) -> int:
        """Sum of the split sizes."""
        return sum(s.num_examples or 0 for s in self.splits.values())

    @cached_property
    def figures_by_id(self) -> Mapping[str, Figure]:
        """The figures by id (the first one where an id is used twice)."""
        out: dict[str, Figure] = {}
        for f in self.figures:
            out.setdefault(f.id, f)
        return out

    def figure(self, figure_id: str) -> Figure | None:
        """The figure with this id, or None."""
        return self.figures_by_id.get(figure_id)

    def input_value(self, name: str) -> float | None:
        """The number a derivation input or formula name stands for (None if unknown)."""
        if name == "classes.count":
            return None if self.classes is None else self.classes.count
        if name.startswith("splits."):
            split = self.splits.get(name[len("splits.") :])
            return None if split is None else split.num_examples
        fig = self.figure(name)
        return None if fig is None else fig.value

    def input_verification(self, name: str) -> Verification | None:
        """The verification of a derivation input (None if no such input); a split or class
        count without a verification record counts as unverified."""
        return self._input_verification(name, ())

    def _input_verification(self, name: str, seen: tuple[str, ...]) -> Verification | None:
        if name == "classes.count" or name.startswith("splits."):
            if name == "classes.count":
                owner: Classes | Split | None = self.classes
            else:
                owner = self.splits.get(name[len("splits.") :])
            if owner is None:
                return None
            return owner.verification or Verification(
                status="unverified", note="no verification recorded"
            )
        fig = self.figure(name)
        return None if fig is None else self._verification(fig, seen)

    def verification_of(self, figure: Figure) -> Verification:
        """The figure's verification: as written, or computed from its inputs when derived
        (all inputs verified -> verified; else the weakest of verified, secondary, unverified)."""
        return self._verification(figure, ())

    def _verification(self, figure: Figure, seen: tuple[str, ...]) -> Verification:
        if figure.derivation is None:
            if figure.verification is None:
                return Verification(status="unverified", note="no verification recorded")
            return figure.verification
        if figure.id in seen:
            return Verification(status="unverified", note="circular derivation")
        parts, weakest, urls = [], 0, []
        for name in figure.derivation.inputs:
            record = self._input_verification(name, (*seen, figure.id))
            status = record.status if record is not None else None
            rank = STRENGTH.index(status) if status in STRENGTH else len(STRENGTH) - 1
            weakest = max(weakest, rank)
            if record is not None and record.url:
                urls.append(record.url)
            parts.append(f"{name} ({status or 'missing'})")
        status = STRENGTH[weakest]
        return Verification(
            status=status,
            url=urls[0] if status == "secondary" else None,
            note="computed from its inputs: " + ", ".join(parts),
        )
