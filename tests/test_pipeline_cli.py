"""``cpmap solve`` with ``pipeline:`` (docs/pipeline.md): the spec's options and errors, the
text and JSON reports, the report files."""

from __future__ import annotations

import json

import pytest
from solvekit import tiny_spec

from cpmap.cli import main
from cpmap.core.pipeline import PipelineOptions
from cpmap.spec.solve import load_solve_spec


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CPMAP_CACHE", str(tmp_path / "cache"))


def test_spec_reads_the_pipeline_options(tmp_path):
    plan = load_solve_spec(tiny_spec(tmp_path, pipeline={"mode": "temporal", "max_degree": 3,
                                                          "time_overhead": 0.25, "batch_groups": [4, 1, 2]}))
    assert plan.pipeline == PipelineOptions("temporal", 3, 0.25, (1, 2, 4))
    plan = load_solve_spec(tiny_spec(tmp_path, name="c.yaml", pipeline={"mode": "both", "regions": "balanced"}))
    assert plan.pipeline == PipelineOptions("both", regions="balanced")
    assert load_solve_spec(tiny_spec(tmp_path, name="b.yaml")).pipeline == PipelineOptions()


@pytest.mark.parametrize("pipeline, message", [
    ({"mode": "spatial"}, "solve.pipeline.mode: expected none or temporal on architecture tiny: spatial "
                          "pipelining needs a node array (one fanout with topology: mesh)"),
    ({"mode": "both"}, "solve.pipeline.mode: expected none or temporal on architecture tiny: spatial"),
    ({"mode": "sideways"}, "solve.pipeline.mode: expected one of none | temporal | spatial | both"),
    ({"mode": "spatial", "regions": "some"}, "solve.pipeline.regions: expected one of all | balanced"),
    ({"mode": "temporal", "max_degree": 0}, "solve.pipeline.max_degree: expected a positive integer"),
    ({"mode": "temporal", "batch_groups": []}, "solve.pipeline.batch_groups: expected a non-empty list"),
    ({"mode": "temporal", "batch_groups": [1, 0]}, "solve.pipeline.batch_groups[1]: expected a positive integer"),
    ({"mode": "temporal", "time_overhead": -1}, "solve.pipeline.time_overhead: expected a fraction >= 0"),
    ({"mode": "temporal", "stages": 2}, "solve.pipeline.stages: unknown key"),
])
def test_bad_pipeline_options_are_one_line_errors(tmp_path, capsys, pipeline, message):
    spec = tiny_spec(tmp_path, pipeline=pipeline)
    assert main(["solve", str(spec), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "run.yaml" in err and "\n" not in err


def test_edp_with_a_pipeline_is_refused(tmp_path, capsys):
    spec = tiny_spec(tmp_path, objective="edp", pipeline={"mode": "temporal"})
    assert main(["solve", str(spec), "-q"]) == 2
    assert "solve.pipeline: expected objective energy or delay" in capsys.readouterr().err


def test_solve_reports_segments_energy_bound_gap_and_gain(tmp_path, capsys):
    spec = tiny_spec(tmp_path, workers=1, pipeline={"mode": "temporal", "max_degree": 4, "batch_groups": [1, 2]})
    assert main(["solve", str(spec), "--json", "-q", "--jobs", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    t = data["total"]
    segs = data["segments"]
    # every layer of tinynet in exactly one segment, in workload order
    assert [n for s in segs for n in s["layers"]] == ["fc1", "conv1", "fc2", "pool1", "add1"]
    assert t["energy_pj"] == pytest.approx(sum(s["energy_pj"] for s in segs))
    assert t["energy_pj"] == pytest.approx(sum(s["groups"] * sum(lay["energy_pj"] for lay in s["layer_results"])
                                               for s in segs))
    assert t["lower_bound"] <= t["energy_pj"] * (1 + 1e-12)
    assert t["energy_pj"] <= t["layer_by_layer"]["energy_pj"]
    assert t["energy_gain"] == pytest.approx(1 - t["energy_pj"] / t["layer_by_layer"]["energy_pj"])
    for s in segs:
        assert [(i["from"], i["to"]) for i in s["intermediates"]] == list(zip(s["layers"], s["layers"][1:]))
        for k, lay in enumerate(s["layer_results"]):
            want = ({"I": "GB"} if k > 0 else {}) | ({"O": "GB"} if k < len(s["layers"]) - 1 else {})
            assert lay["resident"] == want and lay["mapping"] is not None
    assert (tmp_path / "out" / "pipeline.json").exists()
    # the text report: the second run reads every layer problem from the cache
    assert main(["solve", str(spec), "-q", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "0 solved now" in out and "certified gap" in out and "less energy" in out


def test_a_flat_multi_node_arch_is_refused_with_the_reason(tmp_path, capsys):
    # several node buffers under a flat (non-mesh) fanout: no coordinates to price moves
    from solvekit import TINY_ARCH

    arch = {"architecture": {**TINY_ARCH["architecture"],
                             "levels": [dict(lv) for lv in TINY_ARCH["architecture"]["levels"]]}}
    arch["architecture"]["levels"][2]["fanout"] = {"name": "NODE", "axes": {"x": 2}, "energy_pj_per_word": 5}
    spec = tiny_spec(tmp_path, arch=arch, pipeline={"mode": "temporal"})
    assert main(["solve", str(spec), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no on-chip level that may keep I and O with no fanout or one mesh above it" in err
    assert "\n" not in err


@pytest.mark.parametrize("command", [["bound"], ["compare", "--methods", "cpsat"]])
def test_commands_without_pipelining_say_they_ignore_it(tmp_path, capsys, command):
    spec = tiny_spec(tmp_path, workers=1, layers=["fc1"], pipeline={"mode": "temporal"})
    assert main([command[0], str(spec), "-q", *command[1:]]) == 0
    err = capsys.readouterr().err
    assert f"cpmap: warning: {command[0]}: the spec's pipeline (mode temporal) is ignored" in err
