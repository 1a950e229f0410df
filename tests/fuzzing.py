"""A mutation fuzzer for cpmap's inputs: malformed architecture, workload, mapping, solve
and sweep files (and command lines) run through every CLI subcommand in this process.

Case ``i`` of seed ``s`` is generated from ``random.Random(f"{s}:{i}")`` alone, so any case
can be replayed (``bench/fuzz.py --replay i``).  A case writes a valid set of files (an
architecture, a workload, a mapping and a solve spec naming them, taken from the bundled
specs, with the mesh architectures, dataflow and pipeline solve keys and a small
sweep file among them), mutates one of them -- deleted, renamed, duplicated and added keys; wrong types;
zero, negative, huge, float and NaN numbers; unknown names; wrong nesting; YAML syntax
errors; non-UTF-8 bytes; empty files; directories instead of files -- and runs one
subcommand on it with :func:`cpmap.cli.main`.

:func:`judge` decides whether the outcome is acceptable: no exception escapes ``main``;
exit 2 comes with ``cpmap: error:`` lines that each name a file of the case (or the
command-line flag) and the field (a field path, a line number, or a whole-file problem);
exit 0 or 1 (a mutation that left the input valid, an invalid mapping, an infeasible
layer) prints no internal error; and nothing takes longer than :data:`HANG_SECONDS`.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import multiprocessing
import random
import re
import signal
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from solvekit import TINY_ARCH, TINY_WORKLOAD

from cpmap.cli import main

ROOT = Path(__file__).resolve().parent.parent
HANG_SECONDS = 60.0
"""A case still running after this long is a hang (every run is bounded far below it)."""


def _load(rel: str):
    return yaml.safe_load((ROOT / rel).read_text())


BASES = {
    "arch": {"eyeriss": _load("specs/eyeriss.yaml"), "tpu-like": _load("specs/tpu-like.yaml"),
             "interstellar": _load("specs/interstellar.yaml"), "eyeriss-nnd": _load("specs/eyeriss-nnd.yaml"),
             "tiny": TINY_ARCH, "nnd-4x4": _load("specs/nnd-4x4.yaml"),
             "nnd-4x4-3d": _load("specs/nnd-4x4-3d.yaml"), "tetris-t16": _load("specs/tetris-t16.yaml")},
    "workload": {"conv-small": _load("specs/examples/conv-small.yaml"), "tiny": TINY_WORKLOAD,
                 "alexnet": _load("models/alexnet.yaml"), "mlp_m": _load("models/mlp_m.yaml"),
                 "lstm_m": _load("models/lstm_m.yaml"), "vit_b_16": _load("models/vit_b_16.yaml")},
}
MAPPING = _load("specs/examples/conv-small-mapping-eyeriss.yaml")
MESH_MAPPING = _load("specs/examples/conv-small-mapping-nnd-4x4.yaml")
"""Valid on every mesh base (a 14 x 14 or 16 x 16 PE array, a 4 x 4 node mesh)."""
MESH = ("nnd-4x4", "nnd-4x4-3d", "tetris-t16", "mesh-channels")


def _mesh_channels() -> dict:
    """nnd-4x4 with the other memory forms: explicit channel nodes, a decimal channel
    bandwidth, decimal level bandwidths."""
    arch = copy.deepcopy(BASES["arch"]["nnd-4x4"])
    arch["architecture"]["name"] = "mesh-channels"
    rf, gbuf, dram = arch["architecture"]["levels"]
    dram |= {"memory": [[0, 0], [3, 3]], "channel_bandwidth": 2.5}
    gbuf |= {"read_bandwidth": 12.5, "write_bandwidth": 6.25}
    rf["read_bandwidth"] = 1.5
    return arch


BASES["arch"]["mesh-channels"] = _mesh_channels()


def _timeloop_files() -> dict[str, str]:
    """The Timeloop files `cpmap export timeloop` writes for the bundled example (the base
    of `cpmap import timeloop` cases)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stderr(io.StringIO()), \
            contextlib.redirect_stdout(io.StringIO()):
        code = main(["export", "timeloop", "--arch", str(ROOT / "specs/eyeriss.yaml"), "--workload",
                     str(ROOT / "specs/examples/conv-small.yaml"), "--mapping",
                     str(ROOT / "specs/examples/conv-small-mapping-eyeriss.yaml"), "-o", tmp])
        assert code == 0
        return {p.name: p.read_text() for p in sorted(Path(tmp).glob("*.yaml"))}


TIMELOOP = _timeloop_files()
CLAIMS = "layer,energy_pj,cycles\nconv,2000000,1000\nnetwork,3000000\n"
EYERISS_SOLVE = _load("specs/examples/conv-small-solve.yaml")["solve"]

NAMES = ["W", "I", "O", "X", "Y", "Z", "K", "C", "P", "Q", "R", "S", "N", "M", "B", "E", "RF", "GBUF",
         "DRAM", "PE", "rf", "conv", "fc", "gemm", "pool", "eltwise", "energy", "delay", "edp", "exact",
         "pwl", "spatial", "keeps", "levels", "mapping", "", " ", "é", "a.b", "x" * 300]
WRONG = [None, True, False, 0, -1, 1, 2, 7, 1.5, -0.5, 1e308, float("nan"), float("inf"), -float("inf"),
         2**31, 2**63, 10**30, 10**400, "", "12", "1e9", "lots", "512 KB", "1.5 words", "0 B",
         [], [1, 2], ["W", "W"], [[]], {}, {"a": 1}, {"W": {"I": 1}}]
SYNTAX = ["[", "]", "{", "}", ": :", '"', "'", "\t", "- ", "&a ", "*nope", "!!python/object:os.system ",
          "!!binary ", "? ", "%YAML 9.9\n", "9" * 5000 + " ", "---\n", "...\n", "|\n", ">\n", "@", "`", "!!set ", "<<: *x\n",
          "!!bool ", "!!float ", "!!int ", "!!timestamp ", "!!null ", "!!str ", "!!map ", "!!seq ", "!!omap "]
WHOLE = ["", "   \n", "# only a comment\n", "null\n", "[]\n", "{}\n", "42\n", "---\n---\n", "a: *x\n",
         "- a\n- b\n", "workload: 1\narchitecture: 2\n", "!!python/name:os.system\n", "\ufeff\n",
         "a: &a [*a]\n"]


@dataclass
class Case:
    """One generated case: files (name -> text, bytes, or None for a directory), the argv
    of one subcommand, and what was done (for the report)."""

    index: int
    target: str
    command: str
    ops: list[str] = field(default_factory=list)
    files: dict[str, str | bytes | None] = field(default_factory=dict)
    argv: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    index: int
    target: str
    command: str
    ops: tuple[str, ...]
    code: int | None
    verdict: str
    """'ok-error' (exit 2, a clear message), 'ok-accepted' (exit 0 or 1), or a failure:
    'traceback', 'hang', 'unclear' (a message without file or field), 'internal' (an
    internal error reported as a result), 'bad-exit'."""
    detail: str
    seconds: float

    @property
    def failed(self) -> bool:
        return not self.verdict.startswith("ok")


# --------------------------------------------------------------------------- mutations


def _slots(obj, path=()):
    """Every (container, key, path) inside ``obj``."""
    out = []
    if isinstance(obj, dict):
        for k in list(obj):
            out.append((obj, k, path + (str(k),)))
            out.extend(_slots(obj[k], path + (str(k),)))
    elif isinstance(obj, list):
        for i in range(len(obj)):
            out.append((obj, i, path + (f"[{i}]",)))
            out.extend(_slots(obj[i], path + (f"[{i}]",)))
    return out


def _typo(rng: random.Random, key) -> object:
    s = str(key)
    choices = [s + "x", s[:-1], s.upper(), s.lower(), s.capitalize(), s + " ", "_" + s, s.replace("_", "-"),
               rng.choice(NAMES), 1, True, None, 1.5]
    return rng.choice([c for c in choices if c != key] or ["zz"])


def _near(rng: random.Random, v):
    """Wrong values of the same flavour as ``v`` (sizes stay numbers, names stay text)."""
    if isinstance(v, bool):
        return rng.choice([None, "yes", 1, 0, "true"])
    if isinstance(v, int):
        floats = [v + 0.5, float(v)] if abs(v) < 10**300 else [1.5]  # an earlier mutation may have made v huge
        return rng.choice([0, -v, v * 2, v + 1, v * 1024, 10 ** rng.randint(6, 40), *floats,
                           str(v), float("nan"), 1021, 4093, 2**63 - 1])
    if isinstance(v, float):
        return rng.choice([0.0, -v, v * 1e12, float("nan"), float("inf"), str(v), int(v) if math.isfinite(v) else 1])
    if isinstance(v, str):
        return rng.choice(NAMES + [v + "2", v.lower(), v * 3, f"{v} KiB", f"-{v}"])
    return rng.choice(WRONG)


def mutate_obj(rng: random.Random, obj, ops: list[str]):
    """One structural mutation of the parsed document ``obj`` (in place where possible)."""
    slots = _slots(obj)
    if not slots:
        ops.append("whole:replace")
        return rng.choice(WRONG)
    parent, key, path = rng.choice(slots)
    where = ".".join(path)
    op = rng.choice(["delete", "rename", "wrong", "near", "near", "wrap", "unwrap", "add", "swap", "dup", "empty"])
    value = parent[key]
    if op == "rename" and not isinstance(parent, dict):
        op = "near"
    if op == "delete":
        del parent[key]
    elif op == "rename":
        new = _typo(rng, key)
        items = [(new if k == key else k, v) for k, v in parent.items()]
        parent.clear()
        parent.update(items)
    elif op == "wrong":
        parent[key] = copy.deepcopy(rng.choice(WRONG))
    elif op == "near":
        parent[key] = _near(rng, value)
    elif op == "wrap":
        parent[key] = rng.choice([[value], {"x": value}, {str(key): value}])
    elif op == "unwrap":
        if isinstance(value, dict) and value:
            parent[key] = next(iter(value.values()))
        elif isinstance(value, list) and value:
            parent[key] = value[0]
        else:
            parent[key] = rng.choice(WRONG)
    elif op == "add":
        target = value if isinstance(value, dict) else parent if isinstance(parent, dict) else None
        if target is not None:
            target[rng.choice(NAMES + ["extra", "capacity", "fanout", "inputs"])] = copy.deepcopy(rng.choice(WRONG))
        else:
            parent.append(copy.deepcopy(rng.choice(WRONG + [value])))
    elif op == "swap":  # a value from elsewhere in the document: wrong nesting, wrong kind
        other = rng.choice(slots)
        parent[key] = copy.deepcopy(other[0][other[1]])
        where += f"<-{'.'.join(other[2])}"
    elif op == "dup" and isinstance(value, list) and value:
        value.append(copy.deepcopy(rng.choice(value)))
    else:  # 'empty', or 'dup' of a non-list
        parent[key] = type(value)() if isinstance(value, (list, dict, str)) else None
    ops.append(f"{op}:{where}")
    return obj


def dump(obj) -> str:
    return yaml.safe_dump(obj, sort_keys=False, allow_unicode=True, width=100)


def mutate_text(rng: random.Random, text: str, ops: list[str]) -> str | bytes:
    """A mutation of the file's text: a syntax error, a duplicated or lost line, bad
    indentation, non-UTF-8 bytes, or a whole replacement."""
    lines = text.splitlines(keepends=True) or ["\n"]
    i = rng.randrange(len(lines))
    op = rng.choice(["dupline", "dupline", "delline", "syntax", "syntax", "indent", "bytes", "whole", "trunc"])
    ops.append(f"text:{op}@{i}")
    if op == "dupline":
        lines.insert(i, lines[i])
    elif op == "delline":
        del lines[i]
    elif op == "syntax":
        line = lines[i]
        j = rng.randrange(len(line) + 1)
        lines[i] = line[:j] + rng.choice(SYNTAX) + line[j:]
    elif op == "indent":
        lines[i] = (" " * rng.randint(1, 3) + lines[i]) if rng.random() < 0.6 else lines[i].lstrip()
    elif op == "bytes":
        raw = "".join(lines).encode()
        j = rng.randrange(len(raw) + 1)
        return raw[:j] + rng.choice([b"\xff", b"\xfe\xff", b"\x80abc", b"\xc3(", b"\x00", "é".encode("latin-1")]) + raw[j:]
    elif op == "whole":
        return rng.choice(WHOLE)
    elif op == "trunc":
        cut = rng.randrange(len(text) + 1)
        return text[:cut]
    return "".join(lines)


# --------------------------------------------------------------------------- cases


SOLVE_TIME_LIMIT = "0.5"
SWEEP_FLAGS = ["--time-limit", "0.3", "--work-limit", "0.1", "--jobs", "1"]
"""A sweep's every layer solve is this short (and most repeat: the cache is shared)."""
COMPARE_FLAGS = ["--methods", "cpsat,random,ga,anneal,exhaustive", "--budget", "0.3", "--samples", "200",
                 "--generations", "3", "--population", "10", "--steps", "200", "--exhaustive-limit", "2000"]
BAD_FLAGS = {
    "solve": [["--time-limit", "0"], ["--time-limit", "nan"], ["--time-limit", "abc"], ["--seed", "-1"],
              ["--seed", str(2**31)], ["--objective", "speed"], ["--objective", ""], ["--encoding", "fast"],
              ["--layers", ""], ["--layers", ","], ["--layers", "nope"], ["--top", "0"], ["--jobs", "0"],
              ["--workers", "-2"], ["--batch", "0"], ["--batch", "1.5"], ["--out", "{file}"],
              ["--out", "/proc/cpmap-out"], ["--work-limit", "0"], ["--work-limit", "inf"],
              ["--work-limit", "-1"]],
    "compare": [["--methods", ""], ["--methods", "cpsat,foo"], ["--methods", "cpsat,cpsat"], ["--budget", "nan"],
                ["--samples", "-1"], ["--population", "0"], ["--objective", "fast"], ["--layers", "x,"],
                ["--out", "{file}"], ["--exhaustive-limit", "0"], ["--seed", "1e3"]],
    "evaluate": [["--layer", "nope"], ["--layer", ""], ["--mapping", "missing.yaml"], ["--arch", "{dir}"]],
    "check": [["--arch", "missing.yaml"], ["--layer", "nope"]],
    "export": [["--layer", "nope"], ["-o", "{file}"], ["--mapping", "{dir}"]],
    "bound": [["--claim", "missing.csv"], ["--claim", "{dir}"], ["--time-limit", "-1"], ["--jobs", "0"]],
    "import": [["-o", "{file}"], ["--batch", "0"]],
    "sweep": [["--time-limit", "0"], ["--work-limit", "nan"], ["--work-limit", "-1"], ["--workers", "0"],
              ["--seed", "-1"], ["--jobs", "0"], ["--engine", "dask"], ["--engine", "spark"], ["--engine", ""],
              ["--engine-address", "tcp://127.0.0.1:8786"], ["--engine", "dask", "--engine-address", "nope"],
              ["--engine", "dask", "--engine-address", "tcp://127.0.0.1:99999"], ["--bound-time-limit", "1"],
              ["--prune-round", "2"], ["--prune", "--prune-round", "0"], ["--prune", "--bound-time-limit", "0"],
              ["--out", "{file}"], ["--out", "/proc/cpmap-out"], ["--json", "--quiet", "--nope"]],
}
COMMANDS = {"arch": ("check", "evaluate", "solve", "compare", "export", "bound", "sweep"),
            "workload": ("check", "evaluate", "solve", "compare", "export", "bound", "sweep"),
            "mapping": ("check", "evaluate", "export"), "solve": ("check", "solve", "compare", "bound"),
            "timeloop": ("import",), "claims": ("bound",), "sweep": ("check", "sweep", "sweep"),
            "cli": ("solve", "compare", "evaluate", "check", "export", "bound", "import", "sweep")}
PAIRS = {"mapping": [("eyeriss", "conv-small"), ("tiny", "tiny"), ("nnd-4x4", "conv-small"),
                     ("tetris-t16", "conv-small"), ("mesh-channels", "conv-small")],
         "solve": [("eyeriss", "conv-small"), ("eyeriss", "conv-small"), ("tiny", "tiny"), ("tiny", "tiny"),
                   ("nnd-4x4", "conv-small")],
         "sweep": [("interstellar", "conv-small"), ("tiny", "tiny"), ("tiny", "tiny"), ("eyeriss", "conv-small"),
                   ("nnd-4x4", "conv-small")]}
"""(architecture, workload) bases of the mapping, solve, sweep and command-line cases: the
mesh bases mostly in mapping cases (CP-SAT refuses a mesh: a solve or sweep on one ends
there, whatever the mutation)."""
PIPELINE = {"mode": "temporal", "max_degree": 2, "time_overhead": 0.5, "batch_groups": [1, 2]}


def _solve_doc(rng: random.Random, arch_name: str, wl_name: str) -> dict:
    """A valid solve spec of the pair, with the newer keys (work_limit, dataflow and its
    shorthand, pipeline) in some cases."""
    solve = {"arch": "arch.yaml", "workload": "workload.yaml", "time_limit": 1, "seed": 0}
    if (arch_name, wl_name) == ("eyeriss", "conv-small") and rng.random() < 0.7:
        solve["constraints"] = copy.deepcopy(EYERISS_SOLVE["constraints"])
        if rng.random() < 0.3:
            solve["constraints"]["dataflow"] = {"GBUF": "R|P"}
    elif arch_name in MESH and wl_name == "conv-small" and rng.random() < 0.6:
        solve["constraints"] = rng.choice([{"dataflow": {"DRAM": "K|P"}},
                                           {"dataflow": {"DRAM": {"NY": ["K"]}, "GBUF": "R|P"}},
                                           {"dataflow": {"GBUF": {"Y": ["C"]}}, "min_utilization": 0.25}])
    if rng.random() < 0.3:
        solve["work_limit"] = 0.2
    wl = BASES["workload"][wl_name]["workload"]
    if wl_name == "tiny" and rng.random() < 0.4:
        solve["pipeline"] = copy.deepcopy(PIPELINE)
        solve["layers"] = ["fc1", "conv1", "fc2"]
    elif len(wl["layers"]) > 3:  # keep solves short: the first layer and one more
        solve["layers"] = [wl["layers"][0]["name"], wl["layers"][-1]["name"]]
    return {"solve": solve}


def _sweep_doc(rng: random.Random, arch_doc: dict, wl_doc: dict, arch_name: str) -> dict:
    """A valid sweep of 2 to 4 small points over the pair: the innermost level's capacity
    (table-priced on interstellar, else explicit energies or ``energy_table: none``), and
    for some bases a fanout shape, a node count or an extra level."""
    levels = arch_doc["architecture"]["levels"]
    inner = levels[0]
    layers = [lay["name"] for lay in wl_doc["workload"]["layers"]]
    body: dict = {"arch": "arch.yaml", "workloads": [{"workload": "workload.yaml", "layers": layers[:1]}],
                  "time_limit": 0.3, "work_limit": 0.1, "seed": 0}
    if arch_name == "interstellar":
        vary: dict = {"capacity": {inner["name"]: ["32 B", "64 B"]}}
        if rng.random() < 0.3:  # an own table instead of the bundled Table IV
            body["energy_table"] = {"name": "mine", "word_bits": 16, "rows": [["16 B", 0.03], ["128 B", 0.24]]}
    else:
        cap = inner["capacity"]
        e = inner["read_energy_pj"]
        vary = {"capacity": {inner["name"]: [cap, {"size": cap if isinstance(cap, str) else 2 * cap,
                                                   "read_energy_pj": 2 * e, "write_energy_pj": 2 * e}]}}
        body["energy_table"] = "none"
    extra = rng.choice(["fanout", "nodes", "extra_level", "area", "none"])
    fanout = next((lv["fanout"] for lv in levels if "fanout" in lv and lv["fanout"].get("topology") != "mesh"), None)
    if extra == "fanout" and fanout is not None:
        axes = fanout["axes"]
        vary["fanout"] = {fanout["name"]: [dict(axes), {k: max(1, v // 2) for k, v in axes.items()}]}
    elif extra == "nodes" and "fanout" not in levels[-1]:
        vary["nodes"] = rng.choice([[1, 2], {"counts": [1, 2], "energy_pj_per_word": 1.5}])
    elif extra == "extra_level" and arch_name != "interstellar":
        vary["extra_level"] = {"name": "RF0", "inside": inner["name"], "keeps": ["W"],
                               "sizes": [None, {"size": 2, "read_energy_pj": 0.5, "write_energy_pj": 0.5}]}
    elif extra == "area":
        body["area"] = {"mm2_per_kib": {lv["name"]: 0.02 for lv in levels[:-1]}, "mm2_per_pe": 0.01}
    body["vary"] = vary
    if len(wl_doc["workload"]["layers"]) > 1 and rng.random() < 0.3:
        body["workloads"][0]["constraints"] = {"min_utilization": 0.25}
    return {"sweep": body}


def _base_files(rng: random.Random, target: str) -> tuple[dict, str, str]:
    """Valid documents of one case (arch, workload, mapping, solve, sweep) and the bases used."""
    if target in ("arch", "workload"):
        arch_name = rng.choice(list(BASES["arch"])) if target == "arch" else rng.choice(["eyeriss", "tiny"])
        wl_name = rng.choice(list(BASES["workload"])) if target == "workload" else rng.choice(["conv-small", "tiny"])
    else:
        arch_name, wl_name = rng.choice(PAIRS.get(target, PAIRS["mapping"]))
    wl = BASES["workload"][wl_name]["workload"]
    arch_doc, wl_doc = copy.deepcopy(BASES["arch"][arch_name]), copy.deepcopy(BASES["workload"][wl_name])
    mapping = copy.deepcopy(MESH_MAPPING if arch_name in MESH else MAPPING)
    docs = {"arch": arch_doc, "workload": wl_doc, "mapping": mapping,
            "solve": _solve_doc(rng, arch_name, wl_name), "sweep": _sweep_doc(rng, arch_doc, wl_doc, arch_name)}
    if wl_name != "conv-small":
        docs["mapping"]["layer"] = wl["layers"][0]["name"]
    return docs, arch_name, wl_name


def make_case(seed: int, index: int, work: Path) -> Case:
    """The case ``index`` of ``seed`` with its files under ``work`` (not yet written)."""
    rng = random.Random(f"{seed}:{index}")
    target = rng.choice(["arch", "arch", "workload", "workload", "mapping", "mapping", "solve", "solve", "cli",
                         "timeloop", "claims", "sweep", "sweep"])
    case = Case(index, target, rng.choice(COMMANDS[target]))
    docs, arch_name, wl_name = _base_files(rng, target)
    case.ops.append(f"base:{arch_name}+{wl_name}")
    texts: dict[str, str | bytes | None] = {f"{k}.yaml": dump(v) for k, v in docs.items()}
    texts |= {f"tl/{k}": v for k, v in TIMELOOP.items()}
    texts["claims.csv"] = CLAIMS
    if target != "cli":
        name = {"timeloop": f"tl/{rng.choice(sorted(TIMELOOP))}", "claims": "claims.csv"}.get(target, f"{target}.yaml")
        if target == "timeloop":
            docs[target] = yaml.safe_load(texts[name])
        case.ops.append(f"file:{name}")
        roll = rng.random()
        if roll < 0.04:
            texts[name] = None  # a directory where the file belongs
            case.ops.append("fs:directory")
        elif roll < 0.07:
            del texts[name]
            case.ops.append("fs:missing")
        elif roll < 0.35 or target == "claims":
            texts[name] = mutate_text(rng, texts[name], case.ops)
        else:
            obj = docs[target]
            for _ in range(rng.choice([1, 1, 1, 2, 3])):
                obj = mutate_obj(rng, obj, case.ops)
            texts[name] = dump(obj)
    case.files = texts
    case.argv = _argv(rng, case, work)
    return case


def _argv(rng: random.Random, case: Case, work: Path) -> list[str]:
    f = {k: str(work / f"{k}.yaml") for k in ("arch", "workload", "mapping", "solve", "sweep")}
    out = str(work / "out")
    cmd = case.command
    if cmd == "check":
        argv = ["check", f[case.target] if case.target != "cli" else f["mapping"]]
        if case.target == "mapping" or rng.random() < 0.3:
            argv += ["--arch", f["arch"], "--workload", f["workload"]]
    elif cmd == "evaluate":
        argv = ["evaluate", "--arch", f["arch"], "--workload", f["workload"], "--mapping", f["mapping"]]
        if rng.random() < 0.3:
            argv.append("--json")
    elif cmd == "solve":
        argv = ["solve", f["solve"], "--time-limit", SOLVE_TIME_LIMIT, "--jobs", "1", "--workers", "1",
                "--out", out, "--quiet"]
    elif cmd == "compare":
        argv = ["compare", f["solve"], *COMPARE_FLAGS, "--out", out, "--quiet"]
    elif cmd == "export":
        argv = ["export", "timeloop", "--arch", f["arch"], "--workload", f["workload"], "--mapping", f["mapping"],
                "-o", out]
    elif cmd == "bound":
        argv = ["bound", f["solve"], "--time-limit", SOLVE_TIME_LIMIT, "--jobs", "1", "--workers", "1", "-q"]
        if case.target == "claims" or rng.random() < 0.3:
            argv += ["--claim", str(work / "claims.csv")]
    elif cmd == "sweep":
        argv = ["sweep", f["sweep"], *SWEEP_FLAGS, "--out", out, "--quiet"]
        if rng.random() < 0.3:
            argv += ["--prune", "--bound-time-limit", "0.1"]
        if rng.random() < 0.2:
            argv.append("--json")
    else:
        argv = ["import", "timeloop", str(work / "tl"), "-o", out]
    if case.target == "cli":
        bad = rng.choice(BAD_FLAGS[cmd])
        bad = [a.replace("{file}", f["arch"]).replace("{dir}", str(work)) for a in bad]
        argv += bad
        case.ops.append("cli:" + " ".join(bad))
    return argv


def write_case(case: Case, work: Path) -> None:
    for name, text in case.files.items():
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if text is None:
            path.mkdir()
        elif isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------- running and judging


class Hang(BaseException):
    """Raised by the alarm when a case runs longer than :data:`HANG_SECONDS`."""


def _alarm(signum, frame):
    raise Hang()


WHOLE_FILE = ("cannot read file", "expected a UTF-8", "expected a mapping with top-level key",
              "expected exactly one top-level key", "expected a list of levels or a mapping",
              "cannot write the report directory", "invalid YAML")
FIELD_START = re.compile(r"^(architecture|workload|mapping|solve|sweep|layer)\b|^--[a-z][\w-]*\b|^factors of \S+ multiply"
                         r"|^[^\s:]+\.(temporal|spatial|keeps)\b|^levels must be")
FIELD_MESSAGE = re.compile(r"^.*?\S: (expected|unknown key|missing|duplicate key)")
"""'<field path>: expected ...' (the path may hold any key the user wrote, even odd ones)."""
LINE_NO = re.compile(r"\bline \d+")
ARGPARSE = re.compile(r"^cpmap( \w+)?: error: (argument --[\w-]+|the following arguments are required|unrecognized)")


def judge_message(line: str, work: str, paths: tuple[str, ...] = ()) -> str | None:
    """None if the ``cpmap: error:`` line names a file of the case (or a flag) and the
    field; else what is missing."""
    if ARGPARSE.match(line):
        return None
    msg = line[len("cpmap: error: "):]
    if msg.startswith("--"):
        return None  # a command-line flag is the field
    if not msg.startswith(work) and not any(msg.startswith(p + ":") for p in paths):
        return "no file named"
    rest = msg.split(": ", 1)[1] if ": " in msg else ""
    if rest.startswith("expected"):
        return None  # the whole file is the field: empty, another kind, a list where a mapping belongs
    if FIELD_MESSAGE.match(rest) or FIELD_START.match(rest) or LINE_NO.search(rest) or any(rest.startswith(w) or w in rest[:60] for w in WHOLE_FILE):
        return None
    return "no field named"


def judge(code: int | None, out: str, err: str, work: str, paths: tuple[str, ...] = ()) -> tuple[str, str]:
    """(verdict, detail) of a finished run; see :class:`Outcome`."""
    text = out + err
    if "Traceback (most recent call last)" in text:
        return "traceback", text[-2000:]
    if "internal error" in text:
        return "internal", next(ln for ln in text.splitlines() if "internal error" in ln)[:2000]
    if code == 2:
        errors = [ln for ln in err.splitlines() if ": error: " in ln]
        if not errors:
            return "unclear", "exit 2 without an error line: " + err[-500:]
        for ln in errors:
            problem = judge_message(ln, work, paths)
            if problem:
                return "unclear", f"{problem}: {ln[:500]}"
        return "ok-error", errors[0][:300]
    if code in (0, 1):
        m = re.search(r"\((INFEASIBLE|UNKNOWN|ERROR): \)", err)
        if m:
            return "unclear", f"{m.group(1)} without a reason: {err[-300:]}"
        return "ok-accepted", (err.strip().splitlines() or [""])[-1][:300]
    return "bad-exit", f"exit {code}: {err[-500:]}"


def judge_sweep_report(work: Path) -> tuple[str, str] | None:
    """A failure verdict if the case's sweep.json (``cpmap sweep`` prints only a count of
    incomplete points; the reasons are in the report) holds a layer without a mapping
    and without a reason, or an internal error; else None."""
    path = work / "out" / "sweep.json"
    if not path.is_file():
        return None
    import json

    for point in json.loads(path.read_text()).get("points", []):
        for net in point.get("networks", []):
            for lay in net.get("layers", []):
                reason, status = str(lay.get("reason") or ""), lay.get("status")
                if "internal error" in reason:
                    return "internal", f"sweep.json {point.get('name')} {lay.get('name')}: {reason[:300]}"
                if status in ("INFEASIBLE", "UNKNOWN", "ERROR") and not reason.strip():
                    return "unclear", f"sweep.json {point.get('name')} {lay.get('name')}: {status} without a reason"
    return None


def run_case(case: Case, work: Path) -> Outcome:
    """Write the case's files under ``work`` (an empty directory) and run its command."""
    write_case(case, work)
    out, err = io.StringIO(), io.StringIO()
    code: int | None = None
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(case.argv))
        paths = tuple(a for a in case.argv if not a.startswith("-"))
        verdict, detail = judge(code, out.getvalue(), err.getvalue(), str(work), paths)
        if verdict == "ok-accepted" and case.command == "sweep":
            verdict, detail = judge_sweep_report(work) or (verdict, detail)
    except Hang:
        verdict, detail = "hang", f"still running after {HANG_SECONDS:.0f} s"
        for child in multiprocessing.active_children():  # a solve worker must not run on
            child.kill()
    except SystemExit as e:
        verdict, detail = "bad-exit", f"SystemExit({e.code!r}) escaped main"
    except Exception as e:  # noqa: BLE001 -- exactly what the fuzzer looks for
        tb = traceback.extract_tb(e.__traceback__)
        where = next((f"{fr.filename.rsplit('/cpmap/', 1)[-1]}:{fr.lineno} {fr.name}" for fr in reversed(tb)
                      if "/cpmap/" in fr.filename), "?")
        verdict, detail = "traceback", f"{type(e).__name__}: {' '.join(str(e).split())[:300]} at {where}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    return Outcome(case.index, case.target, case.command, tuple(case.ops), code, verdict, detail,
                   time.perf_counter() - t0)
