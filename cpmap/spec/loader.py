"""The one YAML loader of cpmap: safe, strict about duplicate keys, one-line errors.

Unreadable files, syntax errors and duplicate keys become a :class:`SpecError` naming the
file and the line; nothing else of cpmap parses YAML.
"""

from __future__ import annotations

from typing import Any

import yaml

from ..core.errors import SpecError
from .fields import at


class _DuplicateKey(yaml.constructor.ConstructorError):
    def __init__(self, mapping_node: yaml.MappingNode, key: str, first: yaml.Node, again: yaml.Node):
        self.mapping_node, self.key = mapping_node, key
        self.lines = (first.start_mark.line + 1, again.start_mark.line + 1)
        super().__init__(problem=f"duplicate key {key!r}", problem_mark=again.start_mark)


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that rejects duplicate mapping keys (plain PyYAML silently keeps
    the last one, which hides copy-paste mistakes in specs)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # '<<' merges may legitimately override keys
            key = self.construct_object(key_node, deep=True)
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


def read_yaml(path: str) -> Any:
    """Parse one YAML file strictly.  Unreadable files, syntax errors and duplicate keys
    raise a one-line :class:`SpecError` with the line number."""
    file = str(path)
    try:
        with open(file, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as e:
        raise SpecError(file, "", f"cannot read file: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise SpecError(file, "", "expected a UTF-8 text file") from None
    root = loader = None
    try:
        loader = StrictLoader(text)
        root = loader.get_single_node()
        return None if root is None else loader.construct_document(root)
    except _DuplicateKey as e:
        parent = _node_path(root, e.mapping_node) or ""
        raise SpecError(file, at(parent, str(e.key)),
                        f"duplicate key (lines {e.lines[0]} and {e.lines[1]}); "
                        "expected each key once") from None
    except yaml.YAMLError as e:
        raise SpecError(file, "", _yaml_message(e)) from None
    finally:
        if loader is not None:
            loader.dispose()


def _yaml_message(e: yaml.YAMLError) -> str:
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    what = getattr(e, "problem", None) or str(e)
    context, cmark = getattr(e, "context", None), getattr(e, "context_mark", None)
    if context and cmark is not None and cmark is not mark:
        context += f" started at line {cmark.line + 1}"
    detail = f"{what} ({context})" if context else what
    return " ".join(f"invalid YAML{where}: {detail}".split())  # keep it on one line
