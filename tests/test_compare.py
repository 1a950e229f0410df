"""`cpmap compare SPEC.yaml`: JSON and CSV schema, re-evaluated mappings, CP-SAT against the
searchers (never worse, equal to exhaustive's optimum, every ratio to its certified bound
>= 1), exhaustive refusals reported, the plot, constraints applied to every method, user
errors.

The specs are tests/solvekit.py's tiny architecture and workload: CP-SAT proves each layer
optimal in well under a second and exhaustive search enumerates fc1 and pool1 in about
one second each (conv1 is refused under the --exhaustive-limit used here)."""

from __future__ import annotations

import csv
import io
import itertools
import json

import pytest
from solvekit import tiny_spec

import cpmap.network.compare as compare_mod
from cpmap.cli import main
from cpmap.cost.evaluator import evaluate
from cpmap.network.compare import METHODS, Budgets, run_cpsat
from cpmap.report.compare import CSV_FIELDS, format_table
from cpmap.spec import mapping_from_obj
from cpmap.spec.solve import load_solve_spec

SMALL = ["--samples", "1500", "--generations", "8", "--population", "20", "--steps", "1500",
         "--exhaustive-limit", "10000", "--budget", "10", "-q"]
LAYER_FIELDS = {"name", "type", "macs", "cpsat_status", "cpsat_cost", "lower_bound", "gap", "interrupted",
                "methods"}
ROW_FIELDS = {"method", "status", "detail", "reason", "budget", "best_cost", "energy_pj", "cycles", "edp",
              "utilization", "seconds", "evaluations", "valid_evaluations", "solutions", "ratio_to_cpsat",
              "ratio_to_lower_bound", "lower_bound", "space_mappings", "history", "mapping"}
SUMMARY_FIELDS = {"layers_compared", "geomean_ratio_to_cpsat", "worst_ratio_to_cpsat", "worse", "equal",
                  "better", "statuses", "seconds"}
TOL = 1e-9


def _compare(capsys, *args) -> tuple[int, dict | None, str]:
    code = main(["compare", *map(str, args), "--json"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out else None), err


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """Every method on fc1, conv1 and pool1: (directory, exit code, JSON, stderr)."""
    tmp = tmp_path_factory.mktemp("compare")
    spec = tiny_spec(tmp, layers=["fc1", "conv1", "pool1"])
    with pytest.MonkeyPatch.context() as mp:
        out, err = io.StringIO(), io.StringIO()
        mp.setattr("sys.stdout", out)
        mp.setattr("sys.stderr", err)
        code = main(["compare", str(spec), "--methods", ",".join(METHODS), "--out", str(tmp / "cmp"),
                     "--json", *SMALL])
    return tmp, code, json.loads(out.getvalue()), err.getvalue()


def _rows(data):
    for lay in data["layers"]:
        for row in lay["methods"]:
            yield lay, row


def test_json_schema(compared):
    _, code, data, err = compared
    assert code == 0, err
    assert set(data) == {"settings", "layers", "summary"}
    s = data["settings"]
    assert (s["objective"], s["methods"], s["exhaustive_limit"], s["samples"]) == \
        ("energy", list(METHODS), 10000, 1500)
    assert set(s["budgets"]) == set(METHODS) and s["interrupted"] is False
    assert [lay["name"] for lay in data["layers"]] == ["fc1", "conv1", "pool1"]
    for lay in data["layers"]:
        assert set(lay) == LAYER_FIELDS
        assert [row["method"] for row in lay["methods"]] == list(METHODS)
        assert lay["cpsat_status"] == "OPTIMAL" and lay["gap"] == 0.0
        for row in lay["methods"]:
            assert set(row) == ROW_FIELDS
            assert row["status"] in compare_mod.STATUSES and row["seconds"] >= 0
            if row["method"] == "cpsat":
                assert row["evaluations"] is None and row["solutions"] >= 1
            elif row["status"] != "refused":
                assert row["evaluations"] >= 1 and row["solutions"] is None
    assert set(data["summary"]) == set(METHODS)
    for m, v in data["summary"].items():
        assert set(v) == SUMMARY_FIELDS
        assert v["worse"] + v["equal"] + v["better"] == v["layers_compared"]
        assert v["better"] == 0, m  # nothing beats a proven optimum
    assert data["summary"]["cpsat"]["equal"] == 3
    assert data["summary"]["exhaustive"]["statuses"] == {"optimal": 2, "refused": 1}


def test_mappings_reevaluate(compared):
    """Every reported mapping is valid and costs exactly what its row says."""
    tmp, _, data, _ = compared
    plan = load_solve_spec(str(tmp / "run.yaml"))
    problems = {lay.name: lay.problem for lay in plan.layers}
    for lay, row in _rows(data):
        if row["mapping"] is None:
            assert row["best_cost"] is None and row["energy_pj"] is None
            continue
        problem = problems[lay["name"]]
        result = evaluate(problem, plan.arch, mapping_from_obj(row["mapping"], problem, plan.arch))
        assert result.valid
        assert (result.energy_pj, result.cycles) == (row["energy_pj"], row["cycles"])
        assert row["best_cost"] == row["energy_pj"] and row["edp"] == pytest.approx(result.energy_pj * result.cycles)


def test_cpsat_never_worse_and_ratios(compared):
    _, _, data, _ = compared
    for lay in data["layers"]:
        rows = {row["method"]: row for row in lay["methods"]}
        best = rows["cpsat"]["best_cost"]
        assert rows["cpsat"]["status"] == "optimal" and rows["cpsat"]["ratio_to_cpsat"] == 1.0
        assert lay["lower_bound"] == rows["cpsat"]["lower_bound"] <= best * (1 + TOL)
        for row in rows.values():
            if row["best_cost"] is None:
                assert row["ratio_to_cpsat"] is None and row["ratio_to_lower_bound"] is None
                continue
            assert best <= row["best_cost"] * (1 + TOL), (lay["name"], row["method"])
            assert row["ratio_to_cpsat"] == pytest.approx(row["best_cost"] / best)
            assert row["ratio_to_lower_bound"] >= 1 - TOL
        ex = rows["exhaustive"]
        if ex["status"] == "optimal":  # enumerated the whole space: the same optimum
            assert ex["detail"] == "complete" and ex["best_cost"] == pytest.approx(best, rel=TOL)
            assert ex["space_mappings"] == ex["evaluations"]


def test_histories_are_best_so_far(compared):
    _, _, data, _ = compared
    for lay, row in _rows(data):
        hist = row["history"]
        if row["best_cost"] is None:
            assert hist == []
            continue
        times, counts, costs = zip(*hist)
        assert list(times) == sorted(times) and list(counts) == sorted(counts)
        assert all(a >= b for a, b in itertools.pairwise(costs)), (lay["name"], row["method"])
        assert costs[-1] == row["best_cost"] and times[-1] <= row["seconds"] + 1e-6


def test_exhaustive_refusal_reported(compared):
    _, code, data, _ = compared
    conv1 = {row["method"]: row for row in data["layers"][1]["methods"]}
    ex = conv1["exhaustive"]
    assert (ex["status"], ex["best_cost"], ex["mapping"]) == ("refused", None, None)
    assert ex["space_mappings"] > 10000
    assert ex["reason"] == f"space has at least {ex['space_mappings']:,} mappings > limit 10,000"
    assert code == 0  # a refusal is a result, not a failure
    assert f"conv1 exhaustive: refused (space has at least {ex['space_mappings']:,} mappings > limit 10,000)" \
        in format_table(data)


def test_report_files(compared):
    tmp, _, data, _ = compared
    out = tmp / "cmp"
    assert json.loads((out / "compare.json").read_text()) == data
    rows = list(csv.DictReader(io.StringIO((out / "compare.csv").read_text())))
    assert tuple(rows[0]) == CSV_FIELDS and len(rows) == 3 * len(METHODS)
    flat = list(_rows(data))
    for (lay, row), line in zip(flat, rows):
        assert (line["layer"], line["method"], line["status"]) == (lay["name"], row["method"], row["status"])
        assert line["energy_pj"] == ("" if row["energy_pj"] is None else str(row["energy_pj"]))
    assert (out / "compare.png").read_bytes()[:4] == b"\x89PNG"
    text = format_table(data)
    assert "x cpsat" in text and "vs cpsat" in text and "fc1" in text


def test_constraints_apply_to_every_method(tmp_path, capsys):
    spec = tiny_spec(tmp_path, layers=["fc1"], constraints={"spatial": {"GB": {"X": ["C"]}}, "keeps": {"GB": ["O"]}})
    code, data, err = _compare(capsys, spec, "--methods", ",".join(METHODS), "--out", tmp_path / "o", *SMALL)
    assert code == 0, err
    for _, row in _rows(data):
        assert row["mapping"] is not None, row
        gb = next(lv for lv in row["mapping"]["mapping"] if lv["level"] == "GB")
        assert gb["keeps"] == ["O"], row["method"]
        assert set(gb.get("spatial", {}).get("X", {})) <= {"C"}, row["method"]
        assert row["ratio_to_lower_bound"] >= 1 - TOL


def test_without_cpsat_and_default_output(tmp_path, capsys, monkeypatch):
    spec = tiny_spec(tmp_path, layers=["pool1"])
    monkeypatch.chdir(tmp_path)
    code, data, _ = _compare(capsys, spec, "--methods", "random", "--samples", "50", "-q")
    assert code == 0
    row = data["layers"][0]["methods"][0]
    assert row["evaluations"] == 50 and row["ratio_to_cpsat"] is None and data["layers"][0]["lower_bound"] is None
    assert (tmp_path / "cpmap-out" / "compare-run" / "compare.csv").exists()


def test_zero_counts_mean_until_the_budget(tmp_path, capsys):
    spec = tiny_spec(tmp_path, layers=["pool1"])
    code, data, _ = _compare(capsys, spec, "--methods", "random,ga,anneal", "--samples", "0", "--generations",
                             "0", "--steps", "0", "--budget", "0.3", "--out", tmp_path / "o", "-q")
    assert code == 0
    for row in data["layers"][0]["methods"]:
        assert (row["status"], row["detail"]) == ("feasible", "budget"), row["method"]
        assert 0.3 <= row["seconds"] < 3 and row["evaluations"] > 0
    assert data["settings"]["budgets"]["random"] == "random samples or 0.3 s"


def test_method_error_is_a_row(tmp_path, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(compare_mod, "random_search", broken)
    spec = tiny_spec(tmp_path, layers=["pool1"])
    code, data, err = _compare(capsys, spec, "--methods", "random,anneal", "--steps", "100",
                               "--out", tmp_path / "o", "-q")
    assert code == 1
    rows = {row["method"]: row for row in data["layers"][0]["methods"]}
    assert (rows["random"]["status"], rows["random"]["reason"]) == ("error", "RuntimeError: boom")
    assert rows["anneal"]["status"] == "feasible"
    assert "pool1 random (error: RuntimeError: boom)" in err


@pytest.mark.parametrize("methods, message", [
    ("cpsat,foo", "--methods: unknown method 'foo' (choose from cpsat, random, ga, exhaustive, anneal)"),
    ("random,random", "--methods: expected each method once"),
    (",", "--methods: expected comma-separated methods"),
])
def test_bad_methods(tmp_path, capsys, methods, message):
    spec = tiny_spec(tmp_path)
    code = main(["compare", str(spec), "--methods", methods, "--out", str(tmp_path / "o")])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("cpmap: error: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_bad_spec_and_flags(tmp_path, capsys):
    spec = tiny_spec(tmp_path)
    for args, message in ((["--layers", "nope"], "--layers: expected a layer of workload tinynet"),
                          (["--budget", "0"], "expected a number > 0"),
                          (["--objective", "speed"], "--objective: expected one of energy | delay | edp")):
        assert main(["compare", str(spec), *args]) == 2
        assert message in capsys.readouterr().err
    assert main(["compare", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err


def test_run_cpsat_inline_matches_pool(tmp_path):
    """Without a pool, CP-SAT runs in this process with the same answer."""
    plan = load_solve_spec(str(tiny_spec(tmp_path, layers=["conv1"])))
    problem = plan.layers[0].problem
    budgets = Budgets(time_limit=10, workers=1)
    inline = run_cpsat(problem, plan.arch, "energy", plan.constraints, budgets)
    with compare_mod.CpsatPool() as pool:
        child = run_cpsat(problem, plan.arch, "energy", plan.constraints, budgets, pool)
    for r in (inline, child):
        assert (r.status, r.detail) == ("optimal", "OPTIMAL")
        assert r.cost == r.lower_bound == r.result.energy_pj == r.history[-1][2]
    assert inline.cost == child.cost
