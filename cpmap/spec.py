"""YAML spec loading: architecture, workload and mapping files -> cpmap objects.

Every user mistake becomes a :class:`~cpmap.errors.SpecError` naming the file, the
dotted field path and what was expected, e.g.::

    specs/x.yaml: architecture.levels[1].capacity: expected a size like '108 KiB',
    '512 B' or '256 words', got 'lots'

Validation is written once, as small validators (``_pos_int``, ``_size`` ...) used
through ``_req``/``_opt``/``_check_keys``.  They raise the private :class:`_Invalid`
(field path + expectation); the public entry points add the file name.  Rules that the
core constructors (:class:`Level`, :class:`Arch`, the problem constructors) already
enforce are not repeated: their ``ValueError`` is re-raised against the right field.
See docs/specs.md for the formats.
"""

from __future__ import annotations

import difflib
import inspect
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import yaml

from . import problem as problem_mod
from .arch import Arch, Fanout, Level
from .errors import MappingError, SpecError
from .mapping import LevelMapping, Mapping
from .problem import TENSORS, Problem
from .workload import Layer, Workload

__all__ = [
    "SPEC_KINDS",
    "MappingSpec",
    "StrictLoader",
    "arch_from_obj",
    "bind_mapping",
    "load_any",
    "load_arch",
    "load_mapping",
    "load_workload",
    "mapping_from_obj",
    "mapping_to_obj",
    "mapping_to_yaml",
    "parse_mapping",
    "read_yaml",
    "workload_from_obj",
]

SPEC_KINDS = ("architecture", "workload", "mapping", "solve")
"""Top-level keys that identify a spec file's kind (``solve``: cpmap/solvespec.py)."""


# --------------------------------------------------------------------------- YAML


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
            found = _node_path(v, target, _at(path, str(k.value)))
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
    loader = StrictLoader(text)
    try:
        root = loader.get_single_node()
        return None if root is None else loader.construct_document(root)
    except _DuplicateKey as e:
        parent = _node_path(root, e.mapping_node) or ""
        raise SpecError(file, _at(parent, str(e.key)),
                        f"duplicate key (lines {e.lines[0]} and {e.lines[1]}); "
                        "expected each key once") from None
    except yaml.YAMLError as e:
        raise SpecError(file, "", _yaml_message(e)) from None
    finally:
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


# --------------------------------------------------------------------------- validators


class _Invalid(Exception):
    """A validation failure at ``field``; the public loaders attach the file name."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


_MISSING = object()
Validator = Callable[[Any, str], Any]
"""(value, field path) -> converted value, or raise _Invalid."""


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _show(v: Any) -> str:
    """How a bad value is quoted in messages (YAML spelling, so users recognise it)."""
    if isinstance(v, bool):
        return f"{str(v).lower()} (a boolean)"
    if v is None:
        return "nothing (null)"
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        return f"a list {v!r}" if len(repr(v)) <= 40 else f"a list of {len(v)} items"
    return repr(v)


def _expect(what: str) -> Callable[[Any, str], _Invalid]:
    return lambda v, path: _Invalid(path, f"expected {what}, got {_show(v)}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)  # bool is an int subclass


def _is_number(v: Any) -> bool:
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)


def _pos_int(v: Any, path: str) -> int:
    if not _is_int(v) or v < 1:
        raise _expect("a positive integer")(v, path)
    return v


def _nonneg_number(v: Any, path: str) -> float:
    if not _is_number(v) or v < 0:
        raise _expect("a number >= 0")(v, path)
    return v


def _pos_number(v: Any, path: str) -> float:
    if not _is_number(v) or v <= 0:
        raise _expect("a number > 0")(v, path)
    return v


def _bool(v: Any, path: str) -> bool:
    if not isinstance(v, bool):
        raise _expect("true or false")(v, path)
    return v


def _name(v: Any, path: str) -> str:
    if not isinstance(v, str) or not v.strip():
        raise _expect("a non-empty name")(v, path)
    return v


def _names(v: Any, path: str) -> tuple[str, ...]:
    if not isinstance(v, list):
        raise _expect("a list of names like [a, b]")(v, path)
    out = tuple(_name(x, f"{path}[{i}]") for i, x in enumerate(v))
    for i, x in enumerate(out):
        if x in out[:i]:
            raise _Invalid(f"{path}[{i}]", f"expected each name once, got {x!r} twice")
    return out


def _tensors(v: Any, path: str) -> frozenset[str]:
    if not isinstance(v, list):
        raise _expect("a list of tensor names like [W, I, O]")(v, path)
    for i, t in enumerate(v):
        if t not in TENSORS:
            raise _Invalid(f"{path}[{i}]", f"expected one of {', '.join(TENSORS)}, got {_show(t)}")
    return frozenset(_names(v, path))


def _int_or_pair(v: Any, path: str) -> int | tuple[int, int]:
    """A stride or dilation: one int for both directions, or [y, x]."""
    if isinstance(v, list):
        if len(v) != 2:
            raise _expect("an integer or a pair [y, x]")(v, path)
        return (_pos_int(v[0], f"{path}[0]"), _pos_int(v[1], f"{path}[1]"))
    if not _is_int(v) or v < 1:
        raise _expect("a positive integer or a pair [y, x]")(v, path)
    return v


_SIZE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(words?|B|KiB|MiB|GiB)\s*$")
_UNIT_BYTES = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}
_SIZE_HELP = "a size like '108 KiB', '512 B' or '256 words'"


def _size(word_bits: int) -> Validator:
    """Capacity in words from a plain int (words) or '<n> words|B|KiB|MiB|GiB'."""

    def check(v: Any, path: str) -> int:
        if _is_int(v):
            if v < 1:
                raise _expect(f"{_SIZE_HELP} (a plain integer counts words and must be >= 1)")(v, path)
            return v
        m = _SIZE_RE.match(v) if isinstance(v, str) else None
        if not m:
            raise _expect(_SIZE_HELP)(v, path)
        amount, unit = Fraction(m.group(1)), m.group(2)
        if unit.startswith("word"):
            words = amount
        else:
            if word_bits % 8:
                raise _Invalid(path, f"sizes in bytes need word_bits to be a multiple of 8 "
                                     f"(word_bits is {word_bits}); expected a size in words")
            words = amount * _UNIT_BYTES[unit] * 8 / word_bits
        if words.denominator != 1 or words < 1:
            raise _Invalid(path, f"expected a whole, positive number of {word_bits}-bit words, "
                                 f"got {v!r} = {float(words):g} words")
        return int(words)

    return check


def _mapping_of(value_check: Validator, what: str) -> Validator:
    """A YAML mapping with name keys, each value checked by ``value_check``; order kept."""

    def check(v: Any, path: str) -> tuple[tuple[str, Any], ...]:
        if not isinstance(v, dict):
            raise _expect(what)(v, path)
        return tuple((_name(k, path), value_check(x, _at(path, str(k)))) for k, x in v.items())

    return check


def _check_keys(obj: Any, allowed: tuple[str, ...], path: str, what: str = "a mapping") -> dict:
    """``obj`` must be a YAML mapping whose keys are all in ``allowed``."""
    if not isinstance(obj, dict):
        raise _expect(f"{what} with keys {', '.join(allowed)}")(obj, path)
    for k in obj:
        if k not in allowed:
            close = difflib.get_close_matches(str(k), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise _Invalid(_at(path, str(k)), f"unknown key{hint}; expected one of: {', '.join(allowed)}")
    return obj


def _req(obj: dict, key: str, check: Validator, path: str) -> Any:
    if key not in obj:
        raise _Invalid(_at(path, key), f"missing required field ({_describe(check)})")
    return check(obj[key], _at(path, key))


def _opt(obj: dict, key: str, check: Validator, path: str, default: Any = None) -> Any:
    return default if key not in obj else check(obj[key], _at(path, key))


def _describe(check: Validator) -> str:
    """What a validator expects, for 'missing field' messages (probe it with a bad value)."""
    try:
        check(_MISSING, "")
    except _Invalid as e:
        return e.message.split(", got ")[0]
    return "a value"


def _with_file(file: str, fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except _Invalid as e:
        raise SpecError(file, e.field, e.message) from None


def _core(path: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a core constructor; its ValueError becomes an error at ``path``."""
    try:
        return fn(*args, **kwargs)
    except ValueError as e:
        raise _Invalid(path, str(e)) from None


def _top(obj: Any, key: str, allowed: tuple[str, ...]) -> dict:
    """The body under the top-level ``key`` of a spec file."""
    if not isinstance(obj, dict) or key not in obj:
        raise _Invalid("", f"expected a mapping with top-level key {key!r}, got {_show(obj)}")
    _check_keys(obj, (key,), "")
    return _check_keys(obj[key], allowed, key)


# --------------------------------------------------------------------------- architecture

_ARCH_KEYS = ("name", "word_bits", "mac_energy_pj", "levels")
_LEVEL_KEYS = ("name", "capacity", "partitions", "keeps", "read_energy_pj", "write_energy_pj",
               "read_bandwidth", "write_bandwidth", "fanout")
_FANOUT_KEYS = ("name", "axes", "multicast", "reduction", "energy_pj_per_word")


def load_arch(path: str) -> Arch:
    """Load an architecture file (see docs/specs.md)."""
    return arch_from_obj(read_yaml(path), str(path))


def arch_from_obj(obj: Any, file: str = "<architecture>") -> Arch:
    return _with_file(file, _arch, obj)


def _arch(obj: Any) -> Arch:
    body = _top(obj, "architecture", _ARCH_KEYS)
    name = _req(body, "name", _name, "architecture")
    word_bits = _req(body, "word_bits", _pos_int, "architecture")
    mac_pj = _req(body, "mac_energy_pj", _nonneg_number, "architecture")
    raw = _req(body, "levels", _level_list, "architecture")
    _check_innermost_first(raw)
    levels = tuple(_level(lv, f"architecture.levels[{i}]", word_bits, outermost=i == len(raw) - 1)
                   for i, lv in enumerate(raw))
    return _core("architecture.levels", Arch, name, word_bits, mac_pj, levels)


def _level_list(v: Any, path: str) -> list:
    if not isinstance(v, list) or len(v) < 2:
        raise _expect("a list of at least two levels, innermost first")(v, path)
    return v


def _bounded(level: Any) -> bool:
    return isinstance(level, dict) and ("capacity" in level or "partitions" in level)


def _check_innermost_first(raw: list) -> None:
    """Catch the common mistake of listing levels outermost first (DRAM first)."""
    if _bounded(raw[-1]) and isinstance(raw[0], dict) and not _bounded(raw[0]):
        raise _Invalid("architecture.levels",
                       "expected levels innermost first, the unbounded outermost level (e.g. DRAM) "
                       f"last; levels[0] ({raw[0].get('name')}) has no capacity but the last level has one")


def _level(obj: Any, path: str, word_bits: int, outermost: bool) -> Level:
    body = _check_keys(obj, _LEVEL_KEYS, path, "a level")
    name = _req(body, "name", _name, path)
    keeps = _req(body, "keeps", _tensors, path)
    capacity = _opt(body, "capacity", _size(word_bits), path)
    partitions = _opt(body, "partitions", _mapping_of(_size(word_bits), "a mapping tensor -> size"), path)
    _check_bounds(body, path, outermost)
    if partitions is not None and {t for t, _ in partitions} != keeps:
        raise _Invalid(_at(path, "partitions"), f"expected one partition per kept tensor "
                       f"({', '.join(t for t in TENSORS if t in keeps)}), got {', '.join(t for t, _ in partitions)}")
    fanout = _opt(body, "fanout", _fanout, path)
    return _core(path, Level, name, keeps,
                 read_pj=_req(body, "read_energy_pj", _nonneg_number, path),
                 write_pj=_req(body, "write_energy_pj", _nonneg_number, path),
                 capacity=capacity, partitions=partitions,
                 read_bandwidth=_opt(body, "read_bandwidth", _pos_number, path),
                 write_bandwidth=_opt(body, "write_bandwidth", _pos_number, path),
                 fanout=fanout)


def _check_bounds(body: dict, path: str, outermost: bool) -> None:
    """Only the outermost level is unbounded; every other level needs exactly one of
    capacity (shared) and partitions (per tensor)."""
    given = [k for k in ("capacity", "partitions") if k in body]
    if outermost and given:
        raise _Invalid(_at(path, given[0]), "expected no capacity: the outermost level is unbounded")
    if not outermost and not given:
        raise _Invalid(_at(path, "capacity"), f"missing required field ({_SIZE_HELP}, or "
                       "partitions: {W: .., I: .., O: ..}); only the outermost level is unbounded")
    if len(given) == 2:
        raise _Invalid(_at(path, "partitions"), "expected capacity or partitions, not both")


def _fanout(obj: Any, path: str) -> Fanout:
    body = _check_keys(obj, _FANOUT_KEYS, path, "a fanout")
    axes = _req(body, "axes", _mapping_of(_pos_int, "a mapping axis -> size like {Y: 12, X: 14}"), path)
    if not axes:
        raise _Invalid(_at(path, "axes"), "expected at least one axis like {Y: 12, X: 14}")
    return _core(path, Fanout, _req(body, "name", _name, path), axes,
                 multicast=_opt(body, "multicast", _bool, path, True),
                 reduction=_opt(body, "reduction", _bool, path, True),
                 energy_pj=_opt(body, "energy_pj_per_word", _nonneg_number, path, 0.0))


# --------------------------------------------------------------------------- workload

_LAYER_TYPES: dict[str, Callable[..., Problem]] = {
    "conv": problem_mod.conv, "fc": problem_mod.fc, "gemm": problem_mod.gemm,
    "pool": problem_mod.pool, "eltwise": problem_mod.eltwise,
}
_WORKLOAD_KEYS = ("name", "batch", "inputs", "layers")
_COMMON_LAYER_KEYS = ("name", "type", "inputs")
_PAIR_FIELDS = ("stride", "dilation")
_GEMM_BATCH_DIMS = ("M", "N", "B")
"""Dims a gemm layer's ``batch_dim`` may name: the workload batch multiplies that dim
(M: rows of per-sample activations times a shared weight, e.g. a token-wise projection;
B: independent matmuls, e.g. attention heads).  K is the reduction and is not allowed."""


def _layer_fields(ctor: Callable[..., Problem]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(required, optional) shape fields of a layer type, read from its constructor's
    keyword-only parameters so the spec format cannot drift from cpmap/problem.py."""
    params = [p for p in inspect.signature(ctor).parameters.values() if p.kind is p.KEYWORD_ONLY]
    return (tuple(p.name for p in params if p.default is p.empty),
            tuple(p.name for p in params if p.default is not p.empty))


def load_workload(path: str) -> Workload:
    """Load a workload file (see docs/specs.md)."""
    return workload_from_obj(read_yaml(path), str(path))


def workload_from_obj(obj: Any, file: str = "<workload>") -> Workload:
    return _with_file(file, _workload, obj)


def _workload(obj: Any) -> Workload:
    body = _top(obj, "workload", _WORKLOAD_KEYS)
    name = _req(body, "name", _name, "workload")
    batch = _opt(body, "batch", _pos_int, "workload", 1)
    external = _opt(body, "inputs", _names, "workload", ())
    raw = _req(body, "layers", _nonempty_list, "workload")
    layers: list[Layer] = []
    for i, lay in enumerate(raw):
        path = f"workload.layers[{i}]"
        default_inputs = (layers[-1].name,) if layers else external
        layers.append(_layer(lay, path, batch, default_inputs, external, layers, _names_in(raw[i + 1:])))
    return Workload(name, tuple(layers), external)


def _nonempty_list(v: Any, path: str) -> list:
    if not isinstance(v, list) or not v:
        raise _expect("a non-empty list")(v, path)
    return v


def _names_in(raw_layers: list) -> list[str]:
    return [lay["name"] for lay in raw_layers if isinstance(lay, dict) and isinstance(lay.get("name"), str)]


def _layer(obj: Any, path: str, batch: int, default_inputs: tuple[str, ...],
           external: tuple[str, ...], earlier: list[Layer], later: list[str]) -> Layer:
    if not isinstance(obj, dict):
        raise _expect("a layer mapping with keys name, type, ...")(obj, path)
    kind = _req(obj, "type", _layer_type, path)
    required, optional = _layer_fields(_LAYER_TYPES[kind])
    extra = ("batch_dim",) if kind == "gemm" else ()
    _check_keys(obj, _COMMON_LAYER_KEYS + required + optional + extra, path, f"a {kind} layer")
    name = _req(obj, "name", _name, path)
    earlier_names = [lay.name for lay in earlier]
    if name in earlier_names or name in external:
        raise _Invalid(_at(path, "name"), f"expected a unique layer name, got {name!r} again "
                       f"({'an external input' if name in external else 'an earlier layer'})")
    shape = {k: _req(obj, k, _shape_check(k), path) for k in required}
    shape |= {k: _opt(obj, k, _shape_check(k), path) for k in optional if k in obj}
    if "N" in optional and "N" not in shape:
        shape["N"] = batch  # the workload's batch fills N where the layer does not give it
    batch_dim = _opt(obj, "batch_dim", _gemm_batch_dim, path) if extra else None
    if batch_dim is not None:
        shape[batch_dim] = shape.get(batch_dim, 1) * batch  # sizes are written per sample
    problem = _core(path, _LAYER_TYPES[kind], name, **shape)
    inputs = _opt(obj, "inputs", _names, path, default_inputs)
    for i, src in enumerate(inputs):
        if src not in earlier_names and src not in external:
            raise _Invalid(f"{path}.inputs[{i}]", _unknown_input(src, earlier_names, external, later))
    return Layer(name, problem, inputs)


def _layer_type(v: Any, path: str) -> str:
    if v not in _LAYER_TYPES:
        raise _expect(f"one of {' | '.join(_LAYER_TYPES)}")(v, path)
    return v


def _gemm_batch_dim(v: Any, path: str) -> str:
    if v not in _GEMM_BATCH_DIMS:
        raise _expect(f"one of {' | '.join(_GEMM_BATCH_DIMS)} (the dim the workload batch multiplies)")(v, path)
    return v


def _shape_check(field: str) -> Validator:
    return _int_or_pair if field in _PAIR_FIELDS else _pos_int


def _unknown_input(src: str, earlier: list[str], external: tuple[str, ...], later: list[str]) -> str:
    choices = ", ".join(list(external) + earlier) or "none"
    why = ", which is defined later" if src in later else ""
    return (f"expected an earlier layer or an external input (workload.inputs) -- layers are "
            f"listed in topological order, so inputs must come before their consumers; got "
            f"{src!r}{why} (choices: {choices})")


# --------------------------------------------------------------------------- mapping

_MAPPING_FILE_KEYS = ("layer", "mapping")
_MAPPING_LEVEL_KEYS = ("level", "keeps", "temporal", "spatial")
_FACTORS = _mapping_of(_pos_int, "a mapping dim -> factor like {K: 2, C: 3}")
_SPATIAL = _mapping_of(_FACTORS, "a mapping axis -> {dim: factor} like {Y: {R: 3}, X: {P: 11}}")


@dataclass(frozen=True)
class MappingSpec:
    """A syntactically valid mapping file not yet tied to a problem and architecture.
    ``levels`` are outer to inner, as written."""

    layer: str | None
    levels: tuple[LevelMapping, ...]


def parse_mapping(obj: Any, file: str = "<mapping>") -> MappingSpec:
    """Check a mapping document's syntax (keys, types, factors >= 1)."""
    return _with_file(file, _mapping_spec, obj)


def _mapping_spec(obj: Any) -> MappingSpec:
    layer = None
    if isinstance(obj, dict):
        _check_keys(obj, _MAPPING_FILE_KEYS, "", "a mapping file")
        layer = _opt(obj, "layer", _name, "")
        obj = _req(obj, "mapping", _nonempty_list, "")
    elif not isinstance(obj, list):
        raise _Invalid("", f"expected a list of levels or a mapping with key 'mapping', got {_show(obj)}")
    entries = _nonempty_list(obj, "mapping")
    return MappingSpec(layer, tuple(_level_mapping(e, f"mapping[{i}]") for i, e in enumerate(entries)))


def _level_mapping(obj: Any, path: str) -> LevelMapping:
    body = _check_keys(obj, _MAPPING_LEVEL_KEYS, path, "a level entry")
    return LevelMapping(level=_req(body, "level", _name, path),
                        temporal=_opt(body, "temporal", _FACTORS, path, ()),
                        keeps=_req(body, "keeps", _tensors, path),
                        spatial=_opt(body, "spatial", _SPATIAL, path, ()))


def bind_mapping(spec: MappingSpec, problem: Problem, arch: Arch, file: str = "<mapping>") -> Mapping:
    """Tie a parsed mapping to ``arch`` (every level once, outer to inner) and check it
    structurally against ``problem``; raises SpecError / MappingError."""
    expected = list(reversed(arch.level_names))
    got = [lm.level for lm in spec.levels]
    for i, name in enumerate(got):
        if name not in expected:
            raise SpecError(file, f"mapping[{i}].level",
                            f"expected a level of {arch.name} ({', '.join(expected)}), got {name!r}")
    if got != expected:
        raise SpecError(file, "mapping", f"expected every level of {arch.name} exactly once, outer to "
                        f"inner: {', '.join(expected)}; got {', '.join(got)}")
    mapping = Mapping(tuple(reversed(spec.levels)))
    errors = mapping.structural_errors(problem, arch)
    if errors:
        raise MappingError(errors, file)
    return mapping


def mapping_from_obj(obj: Any, problem: Problem, arch: Arch, file: str = "<mapping>") -> Mapping:
    """A mapping from a parsed YAML document (a list of levels, outer to inner, or
    ``{layer: .., mapping: [...]}``), checked structurally."""
    return bind_mapping(parse_mapping(obj, file), problem, arch, file)


def load_mapping(path: str, problem: Problem, arch: Arch) -> Mapping:
    """Load a mapping file for ``problem`` on ``arch`` (see docs/specs.md)."""
    return mapping_from_obj(read_yaml(path), problem, arch, str(path))


def mapping_to_obj(mapping: Mapping) -> list[dict]:
    """The YAML structure of ``mapping``: a list of levels, outer to inner (the inverse of
    :func:`mapping_from_obj`)."""
    return [_level_mapping_obj(lm) for lm in reversed(mapping.levels)]


def _level_mapping_obj(lm: LevelMapping) -> dict:
    out: dict[str, Any] = {"level": lm.level, "keeps": [t for t in TENSORS if t in lm.keeps],
                           "temporal": _factors_obj(lm.temporal, lm.level)}
    if lm.spatial:
        out["spatial"] = {axis: _factors_obj(loops, lm.level) for axis, loops in lm.spatial}
    return out


def _factors_obj(loops: tuple[tuple[str, int], ...], where: str) -> dict[str, int]:
    out = dict(loops)
    if len(out) != len(loops):
        raise ValueError(f"{where}: a dim appears twice in {loops}; a YAML mapping cannot hold it")
    return out


def mapping_to_yaml(mapping: Mapping, layer: str | None = None) -> str:
    """A mapping file's text (``layer:`` first when given), loadable by :func:`load_mapping`."""
    doc: dict[str, Any] = {"layer": layer} if layer else {}
    doc["mapping"] = mapping_to_obj(mapping)
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=None)


# --------------------------------------------------------------------------- any


def load_any(path: str) -> tuple[str, Any]:
    """Load a spec of any kind, detected by its top-level key: ('architecture', Arch),
    ('workload', Workload), ('mapping', MappingSpec) or ('solve', SolvePlan -- the
    architecture and workload it names are loaded and checked too).  A bare list is a
    mapping."""
    file = str(path)
    obj = read_yaml(file)
    kinds = [k for k in SPEC_KINDS if isinstance(obj, dict) and k in obj]
    if isinstance(obj, list):
        kinds = ["mapping"]
    if len(kinds) != 1:
        found = f"keys {', '.join(map(str, obj))}" if isinstance(obj, dict) else _show(obj)
        raise SpecError(file, "", f"expected exactly one top-level key of {', '.join(SPEC_KINDS)} "
                        f"(or a list of mapping levels), got {found}")
    kind = kinds[0]
    if kind == "architecture":
        return kind, arch_from_obj(obj, file)
    if kind == "workload":
        return kind, workload_from_obj(obj, file)
    if kind == "solve":
        from .solvespec import load_solve_spec  # it builds on this module

        return kind, load_solve_spec(file)
    return kind, parse_mapping(obj, file)
