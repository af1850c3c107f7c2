"""The card scaffold written by ``visiondata cards new``: every field, each with a TODO marker.

``visiondata cards validate`` refuses a card while any TODO marker is left.
"""

from __future__ import annotations

import re

from .schema import ID_PATTERN

__all__ = ["scaffold"]

_TEMPLATE = """\
# Dataset card. Fill every TODO, then run: visiondata cards validate {path}
# Field reference: `visiondata cards schema`; terms: `visiondata cards vocab`.
id: {id}
schema_version: 2                # the card schema version; keep it right after id
name: TODO full name
aliases: []                      # other names people use, e.g. [MS-COCO]
description: >-
  TODO two or three sentences: what the dataset is and what it is for.
year: TODO                       # year of first public release
homepage: TODO https://...
citation: |
  TODO @inproceedings{{key, title={{...}}, author={{...}}, booktitle={{...}}, year={{...}}}}
references:                      # every citation: key below must be defined here
  TODO-key:
    title: TODO
    authors: [TODO]
    year: TODO
    venue: TODO
    url: TODO https://...
license:
  id: TODO                       # SPDX id (CC-BY-4.0, MIT, ...) or other / unknown
  name: TODO
  url: TODO https://...
  commercial_use: TODO           # allowed | prohibited | unclear
  notes: TODO or delete this line
access: TODO                     # open | registration | request | unavailable | unreleased
status:
  state: active                  # active | deprecated | withdrawn (then date, reason, citation)
tasks: [TODO]                    # see `visiondata cards vocab`
modalities: [TODO]
domain: TODO                     # real | synthetic | mixed
example_unit: TODO               # image, video clip, question, ...
derived_from: []                 # ids of cards this dataset was built from
splits:                          # official split names; `all` when there is none
  train:
    num_examples: TODO
    count_kind: TODO             # release | paper | computed (add formula) | available (add as_of)
    labels_public: true
    citation: TODO-key
    locator: TODO where the number is written (Table 1, README, ...)
classes:
  count: TODO
  taxonomy: TODO or delete this line
collection:
  sources: [TODO]                # flickr, web-search, youtube, captured, rendered, ...
  period: TODO
  who: TODO
annotation:
  methods: [TODO]                # expert, crowdsourced, automatic, ...
  platform: TODO or delete this line
  annotated: [TODO]
figures:                         # typed coverage and bias numbers; delete the example if none
  - id: TODO                     # stable, unique in the card: e.g. share-lighter
    axis: TODO                   # e.g. demographic.skin_type, class_balance, label_quality
    metric: TODO                 # proportion, imbalance_ratio, error_rate, ...
    category: TODO or delete this line
    value: TODO
    unit: TODO                   # fraction (0..1), percent, count, ratio, ...
    bound: exact
    population: {{unit: TODO, split: TODO}}
    provenance: {{kind: TODO, citation: TODO-key, locator: TODO, as_of: TODO}}
    verification: {{status: TODO, note: TODO or delete}}  # verified | secondary (url) | unverified (note)
notes:
  - kind: bias
    text: TODO known biases, limitations, sensitive content, each with a citation
    citation: TODO-key
shards:
  converter: TODO                # imagefolder, coco, voc, cityscapes, video, hf, list
  fields: {{jpg: image, cls: class index}}
"""


def scaffold(card_id: str, path: str) -> str:
    """The scaffold text for a new card ``card_id`` to be written at ``path``."""
    if not re.match(ID_PATTERN, card_id):
        raise ValueError(
            f"card id {card_id!r} is not lowercase words joined by hyphens (e.g. coco-2017)"
        )
    return _TEMPLATE.format(id=card_id, path=path)
