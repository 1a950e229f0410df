"""The multi-node report (issue 12 item 8): the partition of each mesh fanout (loops per
axis in order, their schemes), nodes used, word-hops and hop energy per tensor, static
energy, and the PNG of the node array; through `cpmap evaluate` and through the solve
report functions with a hand-built result (the solver refuses meshes until it prices
hops).  The numbers are docs/cost-model.md section 10's worked example, counted by hand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from test_mesh_cost import MAPPING, PROBLEM, mesh_arch, workload_to_obj_one

from cpmap.core.arch import MeshMemory
from cpmap.core.mapping import LevelMapping, Mapping
from cpmap.core.problem import conv
from cpmap.cost.evaluator import evaluate
from cpmap.network.batch import BatchResult, LayerOutcome
from cpmap.report.evaluation import format_result, partition_lines
from cpmap.report.plots import partition_png
from cpmap.report.solve import solve_json, write_solve_report
from cpmap.solve.layer import Candidate, LayerSolution
from cpmap.spec.arch import arch_to_obj
from cpmap.spec.mapping import mapping_to_obj
from cpmap.spec.solve import load_solve_spec

ROOT = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG"


def _files(tmp_path, arch):
    paths = {}
    for name, obj in (("arch", arch_to_obj(arch)), ("work", workload_to_obj_one()),
                      ("map", {"layer": "fc", "mapping": mapping_to_obj(MAPPING)})):
        paths[name] = tmp_path / f"{name}.yaml"
        paths[name].write_text(yaml.safe_dump(obj, sort_keys=False))
    return paths


def _evaluate(paths, *extra):
    return subprocess.run([sys.executable, "-m", "cpmap", "evaluate", "--arch", str(paths["arch"]), "--workload",
                           str(paths["work"]), "--mapping", str(paths["map"]), *map(str, extra)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def _row(text: str, *starts: str) -> list[str]:
    """The cells of the first line whose cells begin with ``starts``."""
    for line in text.splitlines():
        cells = line.split()
        if cells[:len(starts)] == list(starts):
            return cells
    raise AssertionError(f"no row {starts} in\n{text}")


def test_evaluate_shows_partition_hops_per_tensor_static_and_draws_png(tmp_path):
    paths = _files(tmp_path, mesh_arch())
    run = _evaluate(paths, "--png", tmp_path / "nodes.png")
    assert run.returncode == 0, run.stderr
    text = run.stdout
    # node (c, k): C on the rows (input partitioning), K on the columns (output partitioning)
    assert "Partition of NoC (below DRAM): 6 of 6 nodes used" in text
    assert _row(text, "NY", "(2", "rows)")[3:] == ["C", "2", "input", "2", "of", "2"]
    assert _row(text, "NX", "(3", "columns)")[3:] == ["K", "3", "output", "3", "of", "3"]
    # word-hops W 2, I 8, O 8 at 10 pJ per word-hop; static 4 cycles x 5 pJ
    assert _row(text, "NoC", "W")[2:] == ["2", "20.00"]
    assert _row(text, "NoC", "I")[2:] == ["8", "80.00"]
    assert _row(text, "NoC", "O")[2:] == ["8", "80.00"]
    assert _row(text, "NoC", "total")[2:4] == ["18", "180.00"]
    assert _row(text, "static")[1] == "20.00"
    assert (tmp_path / "nodes.png").read_bytes()[:4] == PNG


def test_png_needs_a_mesh(tmp_path):
    flat = mesh_arch(static=0.0)
    flat_obj = arch_to_obj(flat)
    fan = flat_obj["architecture"]["levels"][-1]
    for key in ("topology", "hop_energy_pj"):
        fan["fanout"].pop(key, None)
    for key in ("memory", "channel_bandwidth"):
        fan.pop(key, None)
    paths = _files(tmp_path, mesh_arch())
    paths["arch"].write_text(yaml.safe_dump(flat_obj, sort_keys=False))
    run = _evaluate(paths, "--png", tmp_path / "x.png")
    assert run.returncode == 2 and "--png draws the node array of a mesh fanout" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and not (tmp_path / "x.png").exists()


def test_partition_lines_order_and_idle_axis(tmp_path):
    """Two loops on one axis are listed outer digit first, as the mapping lists them; an
    axis without loops is idle."""
    arch = mesh_arch(rows=4, cols=4)
    p = conv("c", N=2, K=4, C=2, P=2, Q=1)
    m = Mapping((LevelMapping("RF", (("C", 2), ("K", 4)), frozenset("WIO")),
                 LevelMapping("DRAM", (), frozenset("WIO"), (("NY", (("P", 2), ("N", 2))),))))
    (lines,) = partition_lines(p, arch, m)
    assert lines[0] == "Partition of NoC (below DRAM): 4 of 16 nodes used"
    assert _row("\n".join(lines), "NY")[3:] == ["P", "2", "x", "N", "2", "fmap,", "batch", "4", "of", "4"]
    assert _row("\n".join(lines), "NX")[3:] == ["-", "idle", "1", "of", "4"]
    assert partition_png(p, arch, m, tmp_path / "idle.png")  # an idle axis draws too
    assert (tmp_path / "idle.png").read_bytes()[:4] == PNG


def test_solve_report_with_a_hand_built_result(tmp_path):
    """The report directory of `cpmap solve` for a mesh: partitions/<layer>.png, the
    partition table in summary.md, the evaluator's report with the partition."""
    _files(tmp_path, mesh_arch())
    spec = tmp_path / "run.yaml"
    spec.write_text(yaml.safe_dump({"solve": {"arch": "arch.yaml", "workload": "work.yaml", "output": "out"}}))
    plan = load_solve_spec(str(spec))
    result = evaluate(PROBLEM, plan.arch, MAPPING)
    sol = LayerSolution("fc", "OPTIMAL", Candidate(MAPPING, result), result.energy_pj, 0.5)
    batch = BatchResult(plan, (LayerOutcome(plan.layers[0], sol, "k"),), 1, 1, 0, 1, 1, False, 0.5)
    data = solve_json(batch)
    write_solve_report(batch, data, str(tmp_path / "out"))
    out = tmp_path / "out"
    assert (out / "partitions" / "fc.png").read_bytes()[:4] == PNG
    summary = (out / "summary.md").read_text()
    assert "| fc | NoC | NY: C 2 (input); NX: K 3 (output) | 6 of 6 | 18 | 180.00 | 20.00 |" in summary
    report = (out / "evaluations" / "fc.txt").read_text()
    assert "Partition of NoC (below DRAM): 6 of 6 nodes used" in report
    assert _row(report, "NoC", "I")[2:] == ["8", "80.00"]
    assert (out / "energy.png").read_bytes()[:4] == PNG


def test_per_node_memory_png_and_text(tmp_path):
    arch = mesh_arch(MeshMemory("per_node", (), 2))
    text = format_result(evaluate(PROBLEM, arch, MAPPING), PROBLEM, arch, MAPPING)
    # per-node memory (section 10): W 0, I 8, O 6 word-hops
    assert _row(text, "NoC", "W")[2:] == ["0", "0.00"] and _row(text, "NoC", "O")[2:] == ["6", "60.00"]
    assert partition_png(PROBLEM, arch, MAPPING, tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:4] == PNG
