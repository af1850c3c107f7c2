"""Shared fixtures for registry tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VISIONDATA = [sys.executable, "-m", "visiondata.registry.cli"]

#: A complete, valid card used as the base of the broken-card corpus.
VALID_CARD = """\
id: toy-set
schema_version: 2
name: Toy Set
aliases: [TOYS]
description: A small made-up card used by the tests.
year: 2020
homepage: https://example.org/toy
citation: |
  @inproceedings{doe2020toy,
    title={A Toy Set},
    author={Doe, Jane},
    booktitle={Workshop on Toys},
    year={2020}
  }
references:
  doe2020:
    title: A Toy Set
    authors: [Jane Doe]
    year: 2020
    venue: Workshop on Toys
    url: https://example.org/toy.pdf
license:
  id: CC-BY-4.0
  name: Creative Commons Attribution 4.0
  url: https://creativecommons.org/licenses/by/4.0/
  commercial_use: allowed
access: open
status:
  state: active
tasks: [image-classification]
modalities: [image]
domain: real
example_unit: image
derived_from: []
splits:
  train:
    num_examples: 100
    count_kind: release
    citation: doe2020
    locator: Table 1
    verification: {status: verified}
  test:
    num_examples: 20
    count_kind: release
    labels_public: false
classes:
  count: 2
  names: [cat, dog]
collection:
  sources: [flickr]
  period: "2019"
annotation:
  methods: [crowdsourced]
figures:
  - id: share-female
    axis: demographic.gender
    metric: proportion
    category: female
    value: 0.4
    unit: fraction
    population: {unit: subject, split: train, n: 100}
    provenance: {kind: declared, citation: doe2020, locator: Table 2, as_of: "2020"}
    verification: {status: verified}
  - id: share-male
    axis: demographic.gender
    metric: proportion
    category: male
    value: 0.6
    unit: fraction
    population: {unit: subject, split: train, n: 100}
    provenance: {kind: declared, citation: doe2020, locator: Table 2, as_of: "2020"}
    verification: {status: verified}
notes:
  - kind: bias
    text: Only cats and dogs.
    citation: doe2020
shards:
  converter: imagefolder
  fields: {jpg: image, cls: class index}
"""


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [*VISIONDATA, *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=120
    )


@pytest.fixture
def card_dir(tmp_path: Path) -> Path:
    d = tmp_path / "cards"
    d.mkdir()
    return d
