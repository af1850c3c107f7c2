"""Load a card's YAML safely, keeping the line of every key and item.

Only plain data is built: mappings, sequences, strings, numbers, booleans, null and dates
(returned as ISO strings). Any tag that would construct an object (``!!python/...``, custom
``!tags``), duplicate keys, merge keys and multiple documents are reported as problems.

Anchors and aliases (``&a`` / ``*a``) are refused too: a card has no need for them, and an
alias graph a few hundred bytes long can expand to billions of nodes ("billion laughs"). They
are found in the parser's event stream, before anything is composed or built, so such a file
costs one linear pass over its events. Text longer than :data:`MAX_CARD_BYTES` is refused
before it is parsed at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

__all__ = ["MAX_CARD_BYTES", "LoadedYaml", "Path", "format_path", "load_yaml", "too_large"]

#: The largest card file accepted (the largest shipped card is about 14 kB).
MAX_CARD_BYTES = 256 * 1024

Path = tuple[str | int, ...]

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STD = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_STD + t for t in ("str", "int", "float", "bool", "null", "timestamp")}


@dataclass
class LoadedYaml:
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    problems: list[tuple[int, str, str]] = field(default_factory=list)  # (line, path, message)

    def line_of(self, path: Path) -> int:
        """Line of the deepest known prefix of ``path`` (1 when nothing is known)."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return 1


def format_path(path: Path) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(card)"


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_STD) :] if tag.startswith(_STD) else tag


def _tag_message(tag: str) -> str:
    return f"YAML tag {_short_tag(tag)!r} is not allowed: tags that construct objects are refused"


class _Builder:
    def __init__(self, out: LoadedYaml) -> None:
        self.out = out
        self.constructor = yaml.constructor.SafeConstructor()

    def refuse(self, node: yaml.Node, path: Path, message: str) -> None:
        self.out.problems.append((node.start_mark.line + 1, format_path(path), message))

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.out.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            if node.tag != _STD + "map":
                self.refuse(
                    node,
                    path,
                    _tag_message(node.tag),
                )
                return None
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == _STD + "merge":
                    self.refuse(
                        key_node, path, "YAML merge keys ('<<') are not allowed; write the keys out"
                    )
                    continue
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in _SCALAR_TAGS:
                    self.refuse(key_node, path, "mapping keys must be plain strings")
                    continue
                key = str(key_node.value)
                child = (*path, key)
                if key in result:
                    first = self.out.lines.get(child, 0)
                    self.refuse(
                        key_node, child, f"duplicate key {key!r} (first defined on line {first})"
                    )
                    continue
                self.out.lines[child] = key_node.start_mark.line + 1
                result[key] = self.build(value_node, child)
            return result
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _STD + "seq":
                self.refuse(
                    node,
                    path,
                    _tag_message(node.tag),
                )
                return None
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        if node.tag not in _SCALAR_TAGS:
            self.refuse(node, path, _tag_message(node.tag))
            return None
        value = self.constructor.construct_object(node)
        if hasattr(value, "isoformat"):
            value = value.isoformat()
        return value


def too_large(size: int) -> str | None:
    """The problem with a card of ``size`` bytes, or None when it is small enough."""
    if size <= MAX_CARD_BYTES:
        return None
    return (
        f"the file is {size:,} bytes (expected a card of at most {MAX_CARD_BYTES // 1024} KiB); "
        "not parsed"
    )


def _anchors_and_aliases(text: str) -> list[tuple[int, str, str]]:
    """Every anchor, and the first alias on each line, as problems (from the event stream)."""
    found: list[tuple[int, str, str]] = []
    alias_lines: set[int] = set()
    for event in yaml.parse(text, Loader=_Loader):
        line = event.start_mark.line + 1 if event.start_mark is not None else 1
        anchor = getattr(event, "anchor", None)
        if isinstance(event, yaml.AliasEvent):
            if line not in alias_lines:
                alias_lines.add(line)
                found.append(
                    (
                        line,
                        "(yaml)",
                        f"YAML alias *{anchor} is not allowed (write the value out)",
                    )
                )
        elif anchor is not None:
            found.append(
                (
                    line,
                    "(yaml)",
                    f"YAML anchor &{anchor} is not allowed: cards use no anchors or aliases",
                )
            )
    return found


def load_yaml(text: str) -> LoadedYaml:
    """Parse ``text`` as one YAML document of plain data, collecting problems instead of raising."""
    out = LoadedYaml(data=None)
    size = too_large(len(text.encode("utf-8", "surrogatepass")))
    if size is not None:
        out.problems.append((1, "(file)", size))
        return out
    try:
        refused = _anchors_and_aliases(text)
        if refused:  # never compose or build a document with aliases
            out.problems += refused
            return out
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = " ".join(filter(None, [exc.context, exc.problem]))
        out.problems.append((line, "(yaml)", f"YAML syntax error: {what}"))
        return out
    except yaml.YAMLError as exc:
        # a ReaderError's text ends with a second line ('  in "<unicode string>", position
        # 7'): one problem, one line
        what = " ".join(str(exc).split())
        out.problems.append((1, "(yaml)", f"YAML error: {what}"))
        return out
    if not nodes:
        out.problems.append((1, "(card)", "the file is empty (expected a mapping of card fields)"))
        return out
    if len(nodes) > 1:
        out.problems.append(
            (
                nodes[1].start_mark.line + 1,
                "(yaml)",
                "more than one YAML document (expected one card per file)",
            )
        )
    out.data = _Builder(out).build(nodes[0], ())
    return out
