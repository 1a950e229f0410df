"""The package layout rules (README, "Layout"), checked on the source of every module.

The folders of cpmap/ follow the data flow, core -> spec -> cost -> solve -> search ->
network -> report -> cli, and each imports only from itself and the folders before it;
there are no import circles, no module imports a private name of another, modules and
functions stay short enough to read, and each shared notion is defined once.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "cpmap"
ORDER = ("core", "spec", "cost", "solve", "search", "network", "report", "cli")
MAX_MODULE_LINES = 410
MAX_FUNCTION_LINES = 80
LONG = {}
"""Modules or functions allowed over the limits, with the reason (none today)."""

SHARED = ("Slot", "OBJECTIVES", "ENCODINGS", "objective_value", "objective_key", "table", "warn",
          "DEFAULT_OUTPUT_ROOT", "atomic_write_text", "SolveOptions", "Constraints")
"""Names that must be defined exactly once in the package."""


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = modules()


def folder(module: str) -> str | None:
    """The layout folder of a module: core ... report, 'cli' for cpmap.cli and
    cpmap.__main__, None for the package root (the public API, which may import anything)."""
    parts = module.split(".")
    if len(parts) == 1:
        return None
    if parts[1] in ("cli", "__main__"):
        return "cli"
    return parts[1]


def imports(module: str) -> list[tuple[str, list[str], int]]:
    """(imported module, imported names, line) of every import statement of ``module``,
    function-level ones included, relative imports resolved."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names if a.name.split(".")[0] == "cpmap"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "cpmap":
                continue
            names = [a.name for a in node.names]
            # `from . import x` imports the module x when there is one
            subs = [n for n in names if f"{target}.{n}" in MODULES]
            out += [(f"{target}.{n}", [], node.lineno) for n in subs]
            rest = [n for n in names if n not in subs]
            if rest or not subs:
                out.append((target, rest, node.lineno))
    return out


def test_every_module_parses_and_is_in_a_known_folder():
    assert "cpmap.core.problem" in MODULES and "cpmap.cli" in MODULES
    for m in MODULES:
        f = folder(m)
        assert f is None or f in ORDER, f"{m} is in no layout folder ({', '.join(ORDER)})"


def test_imports_point_to_earlier_folders():
    bad = []
    for m in MODULES:
        here = folder(m)
        for target, _names, line in imports(m):
            assert target in MODULES, f"{m}:{line} imports {target}, which is not a module of cpmap"
            there = folder(target)
            if here is None:
                continue  # the package root is the public API
            if there is None:
                bad.append(f"{m}:{line} imports the package root (the public API) instead of a module")
            elif ORDER.index(there) > ORDER.index(here):
                bad.append(f"{m}:{line} ({here}) imports {target} ({there}), a later folder")
    assert not bad, "\n".join(bad)


def test_core_imports_nothing_else_of_cpmap():
    for m in MODULES:
        if folder(m) == "core":
            assert all(folder(t) == "core" for t, _, _ in imports(m)), m


def test_no_private_names_across_modules():
    bad = [f"{m}:{line} imports {n} from {t}" for m in MODULES for t, names, line in imports(m) if t != m
           for n in names if n.startswith("_") and not (n.startswith("__") and n.endswith("__"))]
    assert not bad, "\n".join(bad)


def find_cycles(graph: dict[str, list[str]]) -> list[str]:
    """Every circle a depth-first walk of ``graph`` meets, as 'a -> b -> a'."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    cycles = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for t in graph[m]:
            if state.get(t) == 1:
                cycles.append(" -> ".join(stack[stack.index(t):] + [t]))
            elif t not in state:
                visit(t, stack + [t])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [m])
    return cycles


def test_no_import_circles():
    graph = {m: sorted({t for t, _, _ in imports(m) if t != m}) for m in MODULES}
    cycles = find_cycles(graph)
    assert not cycles, "import circles:\n" + "\n".join(cycles)


def test_the_circle_check_finds_circles():
    assert find_cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == ["a -> b -> c -> a"]
    assert find_cycles({"a": ["b"], "b": [], "c": ["a", "b"]}) == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_and_functions_are_short(module):
    path = MODULES[module]
    text = path.read_text()
    lines = len(text.splitlines())
    if module not in LONG:
        assert lines <= MAX_MODULE_LINES, f"{module} has {lines} lines (> {MAX_MODULE_LINES}): split it"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            name = f"{module}.{node.name}"
            assert n <= MAX_FUNCTION_LINES or name in LONG, f"{name} has {n} lines (> {MAX_FUNCTION_LINES})"


def definitions() -> dict[str, list[str]]:
    """Top-level name -> modules defining it (classes, functions, assignments)."""
    out: dict[str, list[str]] = {}
    for m, path in MODULES.items():
        for node in ast.parse(path.read_text()).body:
            names = []
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names = [node.target.id]
            for n in names:
                out.setdefault(n, []).append(m)
    return out


def test_each_shared_notion_is_defined_once():
    defs = definitions()
    for name in SHARED:
        assert len(defs.get(name, [])) == 1, f"{name} is defined in {defs.get(name, [])}"
    for dup in ("_table", "_warn", "_worker_init", "_terminate", "UserConstraints"):
        assert dup not in defs, f"{dup} is defined again in {defs[dup]}"
