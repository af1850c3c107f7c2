"""Controlled vocabularies of the card schema.

Every controlled term lives in exactly one table here, with a one-line description. The schema
validates against these tables, the JSON Schema lists them as enums, and the vocabulary document
(``visiondata cards vocab``) is generated from them, so nothing is written twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = [
    "EXCLUSIVE_AXES",
    "SUBJECT_AXES",
    "SUBJECT_METRICS",
    "VOCABULARIES",
    "describe",
    "render_markdown",
]


def _raw(terms: dict[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(terms))


TASKS = _raw(
    {
        "image-classification": "assign one label (or a few) to a whole image",
        "multi-label-classification": "assign any number of labels from a fixed set to an image",
        "fine-grained-classification": "tell apart visually similar subcategories (bird species, car models)",
        "object-detection": "locate object instances with bounding boxes and class labels",
        "instance-segmentation": "delineate each object instance with a mask or polygon",
        "semantic-segmentation": "assign a class label to every pixel",
        "panoptic-segmentation": "label every pixel with a class and, for things, an instance id",
        "keypoint-detection": "locate keypoints such as human body joints",
        "scene-recognition": "classify the place or scene category an image shows",
        "image-captioning": "describe an image in natural language",
        "visual-question-answering": "answer a natural-language question about an image",
        "image-retrieval": "find images matching a query (text or image)",
        "face-recognition": "verify or identify people from face images",
        "face-attribute-classification": "predict attributes of a face (gender, age, expression, ...)",
        "age-estimation": "estimate a person's age from an image",
        "action-recognition": "classify the human action in a trimmed video clip",
        "temporal-action-localization": "find start and end times of actions in untrimmed video",
        "spatio-temporal-action-detection": "locate actors in space and time and label their actions",
        "video-classification": "classify a whole video (events, activities)",
        "egocentric-video": "understand first-person (head-mounted camera) video",
        "optical-flow": "estimate per-pixel motion between frames",
        "depth-estimation": "estimate per-pixel depth",
        "domain-adaptation": "transfer models between domains (e.g. synthetic to real)",
        "embodied-ai": "agents acting in simulated or real environments",
        "autonomous-driving": "perception and control for driving",
        "digit-recognition": "classify handwritten or printed digits",
        "image-text-pretraining": "learn joint image-text representations from paired data",
        "medical-imaging": "analysis of medical images",
        "fairness-benchmarking": "evaluate models across demographic subgroups",
        "face-detection": "locate faces in images with bounding boxes",
        "person-re-identification": "match images of the same person across cameras or times",
        "3d-object-detection": "locate objects with 3D boxes in point clouds or images",
        "object-tracking": "follow object instances across the frames of a video",
        "image-text-retrieval": "retrieve images for a text query or texts for an image",
        "visual-grounding": "locate the image region that a natural-language phrase refers to",
        "domain-generalization": "train on some domains and test on unseen ones",
        "robustness-evaluation": "measure performance under corruptions or distribution shift",
        "navigation": "move an agent through an environment to a goal",
        "pose-estimation": "estimate the body pose (joint positions) of people",
        "scene-text-recognition": "read text that appears in natural images",
        "image-generation": "learn to generate new images (GANs, diffusion) from the data",
    }
)

MODALITIES = _raw(
    {
        "image": "still RGB or grayscale images",
        "video": "video clips or long videos",
        "audio": "sound tracks accompanying video",
        "text": "natural-language text (captions, questions, answers, alt-text)",
        "depth": "per-pixel depth maps",
        "optical-flow": "per-pixel motion fields",
        "segmentation-mask": "per-pixel label maps",
        "3d": "3D scenes, meshes or point clouds",
        "ct": "computed-tomography volumes or slices",
        "program": "symbolic programs or scripts describing activities",
        "lidar": "laser range scans (point clouds from a lidar sensor)",
        "radar": "radar returns (range-Doppler maps or radar point clouds)",
        "multispectral": "images with bands beyond RGB (infrared, multispectral, hyperspectral)",
        "microscopy": "images taken through a microscope",
        "satellite": "overhead images taken from satellites or aircraft",
    }
)

DOMAINS = _raw(
    {
        "real": "captured from the real world (photographs, recordings)",
        "synthetic": "rendered or generated (games, simulators, generative models)",
        "mixed": "both real and synthetic material",
    }
)

COLLECTION_SOURCES = _raw(
    {
        "flickr": "photos from Flickr",
        "web-search": "images returned by web image search engines",
        "web-crawl": "images and alt-text from a general web crawl (e.g. Common Crawl)",
        "youtube": "videos from YouTube",
        "films": "clips from films and TV",
        "stock-photos": "commercial stock photography (e.g. the Corel collection)",
        "captured": "recorded by the creators with their own cameras or sensors",
        "crowd-recorded": "recorded by paid or volunteer contributors following scripts or prompts",
        "rendered": "rendered by the creators from 3D content",
        "video-game": "captured from a commercial video game",
        "simulator": "produced by a simulator on demand",
        "government-records": "photos from official sources (parliament members, public records)",
        "public-figure-photos": "news and web photos of public figures (celebrities, politicians)",
        "crowd-written": "text or programs written by crowd workers",
        "hospital-records": "clinical imaging from hospitals",
        "derived": "selected or relabelled from another dataset",
        "user-contributed": "uploaded and labelled by users of an online tool",
        "other": "described in the collection notes",
        "satellite": "imagery from Earth-observation satellites or aerial surveys",
        "camera-trap": "motion-triggered cameras set up to photograph wildlife",
        "microscopy": "captured with microscopes in laboratories",
        "dashcam": "recorded by cameras mounted in vehicles",
    }
)

ANNOTATION_METHODS = _raw(
    {
        "expert": "annotated by domain experts or the creators themselves",
        "crowdsourced": "annotated by paid crowd workers (e.g. Amazon Mechanical Turk)",
        "volunteer": "annotated by unpaid volunteers or citizen scientists",
        "automatic": "produced by an algorithm without per-item human checks",
        "semi-automatic": "produced by an algorithm and corrected or verified by people",
        "game": "collected through a game with a purpose",
        "self-reported": "provided by the people depicted or the uploaders",
        "metadata": "taken from existing metadata (tags, file names, search queries, alt-text)",
        "rendering": "exact ground truth emitted by a renderer or simulator",
        "none": "no annotation beyond the raw data",
        "unknown": "not established from the sources read; the annotation notes say what is known",
    }
)

AXES = _raw(
    {
        "demographic.skin_type": "shares by skin type (e.g. Fitzpatrick lighter I-III / darker IV-VI)",
        "demographic.gender": "shares by perceived or declared gender",
        "demographic.race": "shares by perceived race or ethnicity group",
        "demographic.age": "shares by age group",
        "demographic.intersectional": "shares of intersections such as darker-skinned female",
        "demographic.attribute": "shares of (non-exclusive) binary person attributes",
        "geography.country": "shares or counts by country",
        "geography.continent": "shares or counts by continent or world region",
        "geography.city": "shares or counts by city",
        "socioeconomic.income": "shares or counts by household income level",
        "class_balance": "how evenly examples spread over classes",
        "label_quality": "label errors, ambiguity and annotator agreement",
        "split_leakage": "overlap between splits (e.g. test images duplicated in train)",
        "duplicates": "exact or near duplicates within a split",
        "availability": "share of items still retrievable (link rot, deletions)",
        "answer_prior": "how far answers can be guessed without the image (language priors)",
        "separability": "how well a classifier can tell this dataset from others",
        "cross_dataset_generalization": "performance change when testing on another dataset",
        "domain_gap": "synthetic-to-real or other domain-shift measurements",
        "subgroup_performance": "model performance measured per subgroup on this dataset",
        "content_safety": "share of offensive, NSFW or otherwise harmful content",
        "image_properties": "sizes, aspect ratios, grayscale share, formats",
        "coverage": "what the data spans: counts of scenes, identities, objects, hours",
        "robustness": "performance under corruptions or distribution shift",
        "conditions.weather": "shares or counts by weather condition (clear, rain, snow, fog, ...)",
        "conditions.time_of_day": "shares or counts by time of day or lighting (daytime, night, dawn/dusk)",
        "conditions.scene_type": "shares or counts by scene type (city street, highway, residential, ...)",
        "downstream_use": "papers, derived datasets or models that use the data (e.g. after retraction)",
    }
)

#: Axes whose categories are mutually exclusive, so their shares for one population must not
#: sum above 1. Attribute and property axes are multi-label and are left out.
EXCLUSIVE_AXES = frozenset(
    {
        "demographic.skin_type",
        "demographic.gender",
        "demographic.race",
        "demographic.age",
        "demographic.intersectional",
        "geography.country",
        "geography.continent",
        "geography.city",
        "socioeconomic.income",
        "conditions.weather",
        "conditions.time_of_day",
        "conditions.scene_type",
    }
)

METRICS = _raw(
    {
        "proportion": "share of a population in one category",
        "count": "number of items",
        "imbalance_ratio": "largest class size divided by smallest",
        "gini": "Gini coefficient of class sizes (0 = balanced)",
        "entropy_norm": "entropy of the class distribution divided by log(number of classes)",
        "effective_classes": "exp(entropy): the number of equally sized classes with that entropy",
        "error_rate": "share of items that are wrong (labels, or model predictions)",
        "duplicate_rate": "share of items that duplicate another item",
        "accuracy": "share of correct predictions",
        "accuracy_gap": "difference in accuracy between two groups or settings",
        "accuracy_drop": "loss of accuracy when moving to another dataset or domain",
        "demographic_parity_difference": "largest difference in selection rate between groups",
        "equalized_odds_difference": "largest difference in TPR or FPR between groups",
        "agreement": "annotator agreement (share agreeing or a kappa statistic)",
        "mean": "arithmetic mean",
        "median": "median",
        "min": "minimum",
        "max": "maximum",
        "ratio": "ratio of two quantities described in the record's note",
        "difference": "difference between two values of one quantity, described in the record's note",
        "miou": "mean intersection over union",
        "macro_f1": "F1 score computed per class, then averaged over the classes",
        "pearson_r": "Pearson correlation between predictions and targets (-1 to 1)",
    }
)

UNITS = _raw(
    {
        "fraction": "a share between 0 and 1",
        "percent": "a share between 0 and 100",
        "percentage_points": "a difference of two percentages",
        "count": "a whole number of items",
        "ratio": "a dimensionless ratio (may exceed 1)",
        "index_0_1": "an index bounded by 0 and 1 (Gini, normalized entropy)",
        "pixels": "pixels",
        "bytes": "bytes",
        "seconds": "seconds",
        "hours": "hours",
        "number": "a dimensionless number that is none of the above",
    }
)

BOUNDS = _raw(
    {
        "exact": "the value as published or computed",
        "lower": "the true value is at least this (e.g. 'at least 6%')",
        "upper": "the true value is at most this",
        "approx": "an approximate value ('about', 'roughly')",
    }
)

PROVENANCE_KINDS = _raw(
    {
        "declared": "stated by the dataset's creators",
        "measured": "measured by a third party and published",
        "computed": "computed from the released data files (with the tool named)",
        "derived": "arithmetic on other numbers of the card, named in `derivation`",
    }
)

VERIFICATION_STATUSES = _raw(
    {
        "verified": "read in a primary source (paper, official site or README, release files), at the locator given",
        "secondary": "confirmed in an independent verbatim copy of the primary text, whose url is given; the primary itself not read",
        "unverified": "known only from a secondary source, which the note names",
        "disputed": "sources disagree; the other values are recorded too",
        "superseded": "replaced by a newer figure from the same or a better source",
    }
)

ACCESS = _raw(
    {
        "open": "downloadable without registration",
        "registration": "downloadable after registering or accepting terms",
        "request": "released on request, after review by the creators",
        "unavailable": "no longer distributed",
        "unreleased": "never distributed outside its creators (e.g. a company's private training set)",
    }
)

STATUSES = _raw(
    {
        "active": "maintained or at least distributed as released",
        "deprecated": "superseded or discouraged by its creators, still available",
        "withdrawn": "taken down by its creators; do not use",
    }
)

COMMERCIAL_USE = _raw(
    {
        "allowed": "the license permits commercial use",
        "prohibited": "the license or terms forbid commercial use",
        "unclear": "no clear statement, or per-item licenses differ",
    }
)

NOTE_KINDS = _raw(
    {
        "bias": "known biases in what the data covers or how it is labelled",
        "limitation": "limitations for intended uses",
        "sensitive": "sensitive or personal content (faces, minors, offensive material)",
        "collection": "how the data was collected",
        "annotation": "how labels were made and by whom",
        "maintenance": "maintenance, versions, errata and takedowns",
        "license": "licensing caveats",
    }
)

COUNT_KINDS = _raw(
    {
        "release": "as distributed: the files or annotation lists of the release (or its official page)",
        "paper": "as published in the dataset's defining paper",
        "computed": "arithmetic on other numbers of the card; `formula` says which",
        "available": "what can still be downloaded, on the `as_of` date",
    }
)

SCOPES = _raw(
    {
        "this-dataset": "measured on this dataset alone",
        "pooled": "measured once over several datasets together (named in `pooled_with`)",
    }
)

SUBJECT_KINDS = _raw(
    {
        "model": "a trained model or architecture",
        "system": "a deployed product or service (e.g. a commercial API)",
        "method": "a training or adaptation method, independent of one model",
        "human": "people doing the task (annotators, experts, volunteers)",
    }
)

TRANSFER_SETTINGS = _raw(
    {
        "source-only": "trained on the source data only, tested on the target",
        "adapted": "trained on the source with (unlabelled or few) target data through an adaptation method",
        "target-only": "trained and tested on the target data (the oracle)",
        "zero-shot": "applied to the target with no training on it",
        "fine-tuned": "pre-trained on the source, then fine-tuned on the target's labels",
    }
)

DERIVATION_OPERATIONS = _raw(
    {
        "ratio": "one input divided by another",
        "difference": "one input minus another",
        "sum": "inputs added up",
        "complement": "the rest of a whole (1 - share, or 100 - percent)",
        "product": "inputs multiplied",
        "mean": "arithmetic mean of the inputs",
        "scale": "one input times a constant (e.g. a fraction as a percentage)",
        "other": "any other arithmetic, written out in `formula`",
    }
)

#: A figure needs a ``subject`` (the model, system, method or people measured) when it has one
#: of these axes or metrics: the number describes that subject as much as the dataset.
SUBJECT_AXES = frozenset(
    {
        "subgroup_performance",
        "separability",
        "cross_dataset_generalization",
        "domain_gap",
        "robustness",
    }
)
SUBJECT_METRICS = frozenset(
    {
        "accuracy",
        "accuracy_gap",
        "accuracy_drop",
        "miou",
        "demographic_parity_difference",
        "equalized_odds_difference",
    }
)

VOCABULARIES: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "task": TASKS,
        "modality": MODALITIES,
        "domain": DOMAINS,
        "collection_source": COLLECTION_SOURCES,
        "annotation_method": ANNOTATION_METHODS,
        "axis": AXES,
        "metric": METRICS,
        "unit": UNITS,
        "bound": BOUNDS,
        "provenance_kind": PROVENANCE_KINDS,
        "verification_status": VERIFICATION_STATUSES,
        "access": ACCESS,
        "status": STATUSES,
        "commercial_use": COMMERCIAL_USE,
        "note_kind": NOTE_KINDS,
        "count_kind": COUNT_KINDS,
        "scope": SCOPES,
        "subject_kind": SUBJECT_KINDS,
        "transfer_setting": TRANSFER_SETTINGS,
        "derivation_operation": DERIVATION_OPERATIONS,
    }
)


def describe(vocabulary: str, term: str) -> str:
    """Return the one-line description of ``term`` in ``vocabulary``."""
    return VOCABULARIES[vocabulary][term]


def render_markdown() -> str:
    """The vocabulary reference, generated from the tables above."""
    lines = [
        "# Card vocabulary",
        "",
        "Generated by `visiondata cards vocab` from `registry/vocab.py`; do not edit by hand.",
        "",
    ]
    for name, table in VOCABULARIES.items():
        lines += [f"## {name}", "", "| term | meaning |", "| --- | --- |"]
        lines += [f"| `{term}` | {text} |" for term, text in table.items()]
        if name == "axis":
            exclusive = ", ".join(f"`{a}`" for a in sorted(EXCLUSIVE_AXES))
            lines += [
                "",
                f"Axes with mutually exclusive categories (shares checked to sum to at most 1): {exclusive}.",
            ]
        if name in ("axis", "metric"):
            rule = SUBJECT_AXES if name == "axis" else SUBJECT_METRICS
            listed = ", ".join(f"`{t}`" for t in sorted(rule))
            lines += ["", f"A figure with one of these {name}s needs a `subject`: {listed}."]
        lines.append("")
    return "\n".join(lines)
