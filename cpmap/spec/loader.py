"""The one YAML loader of cpmap: safe, strict about duplicate keys, bounded, one-line errors.

Unreadable files, syntax errors and duplicate keys become a :class:`SpecError` naming the
file and the line; nothing else of cpmap parses YAML.

Hostile documents are refused before they are built (docs/specs.md, "Limits"): a cheap
first pass over the parser's events (no recursion, no objects built) checks the file size,
the nesting depth, the length of each scalar and the size of the document with every
alias expanded, so an alias bomb ("billion laughs"), a 100,000-deep ``[[[...]]]`` or a
multi-megabyte scalar is an error within a fraction of a second instead of a hang, a
memory blow-up or a crash of the recursive composer.
"""

from __future__ import annotations

import os
import re
from typing import Any

import yaml

from ..core.errors import SpecError
from .fields import at


class _DuplicateKey(yaml.constructor.ConstructorError):
    def __init__(self, mapping_node: yaml.MappingNode, key: str, first: yaml.Node, again: yaml.Node):
        self.mapping_node, self.key = mapping_node, key
        self.lines = (first.start_mark.line + 1, again.start_mark.line + 1)
        super().__init__(problem=f"duplicate key {key!r}", problem_mark=again.start_mark)


MAX_FILE_BYTES = 8 * 1024 * 1024
"""Largest spec file read (8 MiB; the largest bundled file, ResNet-152, is 18 KB)."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and lists (specs need about 6)."""
MAX_SCALAR_CHARS = 64 * 1024
"""Longest scalar (a name, a size, a path): 64 KiB."""
MAX_NODES = 100_000
"""Most values (scalars, lists and mappings) in a document, every alias counted at its
full expanded size.  A conv layer written in one line has 17, so a workload may have
about 5,800 such layers; PyYAML builds about 100,000 values a second, which is what
bounds the time of the largest accepted document."""
MAX_NUMBER_DIGITS = 100
"""Longest plain number: a 5,000-digit integer is a mistake (and Python refuses to
convert it past 4,300 digits)."""

_BASE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser where PyYAML was built with it (about 10x faster), else PyYAML's own."""
_LONG_NUMBER = re.compile(rf"^[-+]?[0-9_]{{{MAX_NUMBER_DIGITS + 1},}}(\.[0-9_]*)?([eE][-+]?[0-9]+)?$")


_STR_TAG = "tag:yaml.org,2002:str"


class StrictLoader(_BASE_LOADER):
    """``yaml.SafeLoader`` (libyaml's where available) that rejects duplicate mapping keys
    (plain PyYAML silently keeps the last one, which hides copy-paste mistakes in specs)
    and reports a value its tag cannot build (``!!float abc``) as a YAML error at its line."""

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except Exception as e:  # noqa: BLE001 -- "!!float abc", "!!bool maybe", "!!timestamp x": say where
            why = "expected a date like 2001-12-14" if node.tag.endswith(":timestamp") and \
                isinstance(e, AttributeError) else str(e)
            raise yaml.constructor.ConstructorError(None, None, f"cannot read a value tagged {node.tag}: {why}",
                                                    node.start_mark) from None

    def construct_mapping(self, node, deep=False):
        if not isinstance(node, yaml.MappingNode):  # e.g. '!!set fc': the base class says why
            raise yaml.constructor.ConstructorError(None, None, f"expected a mapping for tag {node.tag}, got a "
                                                    f"{node.id}", node.start_mark)
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # '<<' merges may legitimately override keys
            # a string key is its node's text: no need to build it twice (half the time of big files)
            key = key_node.value if key_node.tag == _STR_TAG else self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:
                continue  # unhashable key: the base class reports it
            if first is not key_node:
                raise _DuplicateKey(node, key, first, key_node)
        return super().construct_mapping(node, deep)


def _node_path(root: yaml.Node, target: yaml.Node, path: str = "") -> str | None:
    """Dotted path from ``root`` to ``target`` in a composed YAML tree (error reporting only)."""
    if root is target:
        return path
    if isinstance(root, yaml.MappingNode):
        for k, v in root.value:
            found = _node_path(v, target, at(path, str(k.value)))
            if found is not None:
                return found
    elif isinstance(root, yaml.SequenceNode):
        for i, v in enumerate(root.value):
            found = _node_path(v, target, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def _read_text(file: str) -> str:
    try:
        with open(file, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size  # 0 for pipes: then read up to the limit
            data = fh.read(min(size, MAX_FILE_BYTES) + 1) if size else fh.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise SpecError(file, "", f"cannot read file: {e.strerror or e}") from None
    if len(data) > MAX_FILE_BYTES:
        raise SpecError(file, "", f"expected a spec file of at most {MAX_FILE_BYTES // 2**20} MiB, "
                        "got a larger one")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise SpecError(file, "", f"expected a UTF-8 text file, got byte 0x{data[e.start]:02x} at line {line}") from None


def _limit(file: str, mark, what: str) -> SpecError:
    where = f" at line {mark.line + 1}" if mark is not None else ""
    return SpecError(file, "", f"{what}{where}")


def check_limits(text: str, file: str = "<yaml>") -> None:
    """Refuse a document that breaks a limit of this module (see its docstring) without
    building it: one pass over the parser's events, counting expanded sizes per anchor."""
    stack: list[list] = []  # [anchor, expanded size] of each open collection
    anchors: dict[str, int] = {}
    values = 0  # expanded values seen so far, open collections included
    for event in yaml.parse(text, Loader=_BASE_LOADER):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            stack.append([event.anchor, 1])
            values += 1
            if len(stack) > MAX_DEPTH:
                raise _limit(file, event.start_mark, f"expected at most {MAX_DEPTH} levels of nesting, got more")
            continue
        if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            anchor, size = stack.pop()
        elif isinstance(event, yaml.ScalarEvent):
            anchor, size = event.anchor, 1
            values += 1
            if len(event.value) > MAX_SCALAR_CHARS:
                raise _limit(file, event.start_mark, f"expected values of at most {MAX_SCALAR_CHARS // 1024} KiB, "
                             f"got one of {len(event.value):,} characters")
            if event.implicit[0] and _LONG_NUMBER.match(event.value):
                raise _limit(file, event.start_mark, f"expected numbers of at most {MAX_NUMBER_DIGITS} digits, "
                             f"got one of {len(event.value)}")
        elif isinstance(event, yaml.AliasEvent):
            if any(a == event.anchor for a, _ in stack):
                raise _limit(file, event.start_mark, f"expected no recursive alias, got *{event.anchor} inside "
                             f"&{event.anchor}")
            anchor, size = None, anchors.get(event.anchor, 1)
            values += size
        else:
            continue
        if anchor is not None:
            anchors[anchor] = size
        if stack:
            stack[-1][1] += size
        if values > MAX_NODES:
            raise _limit(file, event.start_mark, f"expected at most {MAX_NODES:,} values with every alias "
                         "expanded, got more (an alias bomb?)")


def read_yaml(path: str) -> Any:
    """Parse one YAML file strictly.  Unreadable files, syntax errors, duplicate keys and
    documents over the limits of this module raise a one-line :class:`SpecError` with the
    line number."""
    file = str(path)
    text = _read_text(file)
    root = loader = None
    try:
        check_limits(text, file)
        loader = StrictLoader(text)
        root = loader.get_single_node()
        return None if root is None else loader.construct_document(root)
    except _DuplicateKey as e:
        parent = _node_path(root, e.mapping_node) or ""
        raise SpecError(file, at(parent, str(e.key)),
                        f"duplicate key (lines {e.lines[0]} and {e.lines[1]}); "
                        "expected each key once") from None
    except yaml.YAMLError as e:
        raise SpecError(file, "", _yaml_message(e, text)) from None
    except (ValueError, TypeError, OverflowError, KeyError, AttributeError) as e:  # a tagged value it cannot build
        raise SpecError(file, "", f"invalid YAML: cannot read a tagged value: {e}") from None
    finally:
        if loader is not None:
            loader.dispose()


def _yaml_message(e: yaml.YAMLError, text: str) -> str:
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    if isinstance(e, yaml.reader.ReaderError):  # a control character: it has a position, not a mark
        where = f" at line {text[:e.position].count(chr(10)) + 1}"
        code = e.character if isinstance(e.character, int) else ord(e.character)
        return f"invalid YAML{where}: control character U+{code:04X} is not allowed; expected printable text"
    what = getattr(e, "problem", None) or str(e)
    context, cmark = getattr(e, "context", None), getattr(e, "context_mark", None)
    if context and cmark is not None and cmark is not mark:
        context += f" started at line {cmark.line + 1}"
    detail = f"{what} ({context})" if context else what
    return " ".join(f"invalid YAML{where}: {detail}".split())  # keep it on one line
