"""The engine options, checked where they are given (no Ray cluster needed here; the cluster
tests are in test_ray.py)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from visiondata.loaders._commands import engine as cli_engine
from visiondata.loaders._engine import ENGINES, RayOptions, get_engine
from visiondata.loaders._engine._ray import _probe
from visiondata.loaders.errors import EngineError, LoaderOptionError
from visiondata.registry.cli import main

from .convert_fakes import realdata


def test_engine_names_match_the_table() -> None:
    assert tuple(ENGINES) == cli_engine.ENGINE_NAMES


def test_engine_names_and_options_are_checked_where_given() -> None:
    assert get_engine("local") is None
    with pytest.raises(
        LoaderOptionError, match=r"engine='spark' is not valid \(expected one of: local, ray\)"
    ):
        get_engine("spark")
    with pytest.raises(LoaderOptionError, match="address is for engine='ray' only"):
        get_engine("local", address="10.0.0.1:6379")
    for bad in ({"cpus_per_task": 0}, {"task_timeout": -1}, {"max_retries": -1}):
        with pytest.raises(LoaderOptionError):
            RayOptions(**bad)  # type: ignore[arg-type]


def test_an_address_that_is_not_host_port_is_one_line() -> None:
    with pytest.raises(EngineError, match=r"'headnode' is not HOST:PORT \(expected e.g."):
        _probe("headnode", 1.0)


def test_an_address_nothing_listens_on_is_refused_at_once() -> None:
    with socket.socket() as s:  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(
        EngineError, match=rf"127.0.0.1:{port}: cannot connect \(Connection refused\)"
    ):
        _probe(f"127.0.0.1:{port}", 5.0)


def test_ray_options_without_the_ray_engine_are_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = str(realdata("coco"))
    code = main(["convert", "coco", src, str(tmp_path / "out"), "--address", "10.0.0.1:6379"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["visiondata: convert: --address: only with --engine ray (expected --engine ray)"]
    assert not (tmp_path / "out").exists()
