"""The package's shape, checked: dependencies point one way, one error tree, one list of
public names, one tar reader (``tarfile`` only in tests, as an independent reader)."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it (function bodies too), made absolute."""
    pkg = {"registry": "visiondata.registry", "loaders": "visiondata.loaders"}[
        path.relative_to(REPO).parts[0]
    ]
    here = [pkg, *path.relative_to(REPO).parts[1:-1]]
    if path.name != "__init__.py":
        here.append(path.stem)
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = (
                    here[: len(here) - node.level]
                    if path.name != "__init__.py"
                    else here[: len(here) - node.level + 1]
                )
                mod = ".".join([*base, *([node.module] if node.module else [])])
                out.add(mod)
                out |= {f"{mod}.{a.name}" for a in node.names}
            elif node.module:
                out.add(node.module)
    return out


def _files(*parts: str) -> list[Path]:
    return sorted((REPO.joinpath(*parts)).rglob("*.py"))


def test_the_registry_never_imports_the_loaders() -> None:
    for f in _files("registry"):
        bad = {m for m in _imports(f) if m.startswith("visiondata.loaders")}
        assert not bad, f"{f.relative_to(REPO)} imports {sorted(bad)}"


def test_the_shard_layer_never_imports_torch_or_the_stream() -> None:
    for f in _files("loaders", "shards"):
        bad = {
            m
            for m in _imports(f)
            if m.split(".")[0] == "torch"
            or m.startswith(
                (
                    "visiondata.loaders._stream",
                    "visiondata.loaders._decode",
                    "visiondata.loaders._device",
                    "visiondata.loaders.convert",
                    "visiondata.loaders.audit",
                )
            )
        }
        assert not bad, f"{f.relative_to(REPO)} imports {sorted(bad)}"


@pytest.mark.parametrize("sub", ["convert", "audit"])
def test_converters_and_audits_use_the_shard_layer_not_the_streaming_loader(sub: str) -> None:
    for f in _files("loaders", sub):
        bad = {
            m
            for m in _imports(f)
            if m.startswith(("visiondata.loaders._stream", "visiondata.loaders._device"))
        }
        assert not bad, f"{f.relative_to(REPO)} imports {sorted(bad)}"


def test_tarfile_is_used_only_by_the_tests() -> None:
    for f in _files("loaders") + _files("registry"):
        assert "tarfile" not in {m.split(".")[0] for m in _imports(f)}, f


def _all_modules() -> list[str]:
    names = []
    for pkg in ("visiondata.registry", "visiondata.loaders"):
        mod = importlib.import_module(pkg)
        names.append(pkg)
        names += [
            m.name
            for m in pkgutil.walk_packages(mod.__path__, pkg + ".")
            if not m.name.endswith("__main__")
        ]
    return names


def test_every_error_and_warning_hangs_from_the_one_tree() -> None:
    from visiondata.registry.errors import VisionDataError, VisionDataWarning

    found = 0
    for name in _all_modules():
        mod = importlib.import_module(name)
        for _, cls in inspect.getmembers(mod, inspect.isclass):
            if not cls.__module__.startswith("visiondata.") or not issubclass(cls, BaseException):
                continue
            found += 1
            if issubclass(cls, Warning):
                assert issubclass(cls, VisionDataWarning), cls
            elif cls.__module__.startswith("visiondata.loaders.shards.tar"):
                continue  # the reader's internal break signals, never raised out of the shard layer
            else:
                assert issubclass(cls, VisionDataError), cls
    assert found >= 40


def test_every_loader_error_subclasses_a_builtin_too() -> None:
    from visiondata.loaders import errors
    from visiondata.registry.errors import VisionDataError

    for name in errors.__all__:
        cls = getattr(errors, name)
        if issubclass(cls, Warning) or name == "LoaderError":  # the abstract base is never raised
            continue
        builtins = [
            b
            for b in cls.__mro__
            if b.__module__ == "builtins" and b not in (object, BaseException, Exception)
        ]
        assert builtins, f"{name} subclasses no built-in error"
        assert issubclass(cls, VisionDataError)


def test_the_public_names_are_one_list() -> None:
    import visiondata.loaders as vl

    assert vl.__all__ == sorted(vl._EXPORTS)
    tree = ast.parse((REPO / "loaders" / "__init__.py").read_text())
    typed: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom)
                typed |= {a.name for a in stmt.names}
    assert typed == set(vl._EXPORTS)
    from visiondata.loaders import errors

    assert set(errors.__all__) <= set(vl.__all__)
    for name in vl.__all__:  # each resolves, from the module the list names
        assert getattr(vl, name) is getattr(
            importlib.import_module(f"visiondata.loaders.{vl._EXPORTS[name]}"), name
        )


def test_internal_modules_are_private() -> None:
    """Every loaders module outside the public subpackages (shards, convert, audit) and the
    errors module has a leading underscore in its path."""
    public = {"__init__.py", "errors.py", "py.typed"}
    for f in sorted((REPO / "loaders").iterdir()):
        if f.name.startswith(("_", ".")) or f.name in public:
            continue
        assert f.is_dir() and f.name in {"shards", "convert", "audit"}, f.name


def test_commands_register_through_one_mechanism() -> None:
    from visiondata.registry.cli import command_registrations

    names = [n for n, _ in command_registrations()]
    assert names[:2] == ["bias", "cards"] and {"shards", "audit", "bench"} <= set(names)
    text = (REPO / "registry" / "cli" / "__init__.py").read_text()
    assert "visiondata.loaders" not in text


def test_ray_is_imported_by_the_ray_engine_only() -> None:
    """``ray`` (the ``ray`` extra) is imported in one module, and only inside a function, so
    importing any visiondata module never needs it."""
    importers = sorted(
        str(f.relative_to(REPO))
        for f in _files("loaders") + _files("registry")
        if "ray" in {m.split(".")[0] for m in _imports(f)}
    )
    assert importers == ["loaders/_engine/_ray.py"]
    tree = ast.parse((REPO / "loaders" / "_engine" / "_ray.py").read_text())
    top = {a.name.split(".")[0] for n in tree.body if isinstance(n, ast.Import) for a in n.names}
    top |= {
        (n.module or "").split(".")[0]
        for n in tree.body
        if isinstance(n, ast.ImportFrom) and not n.level
    }
    assert "ray" not in top
