"""The CP-SAT model and the layer solver are what they were before the package move.

tests/data/model_identity.json was recorded on the flat layout (commit a00902b): the
sha256 of the exported model of six benchmark layers (AlexNet conv1/conv3/fc1,
MobileNet-V2 depthwise, ViT QK^T, ResNet-50 1x1 on specs/eyeriss.yaml) under every
objective and encoding, of the constrained README example and of a second architecture,
and the solve result of the six layers.  A deliberate change of the model must update
the file in the same commit and say why; the text export may also change with an OR-Tools
release (recorded with 9.15).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from cpmap.core.options import SolveOptions
from cpmap.solve.layer import solve_layer
from cpmap.solve.model import build_model
from cpmap.solve.tuning import model_encoding
from cpmap.spec import load_arch, load_solve_spec, load_workload, mapping_to_obj

ROOT = Path(__file__).resolve().parent.parent
DATA = json.loads((ROOT / "tests/data/model_identity.json").read_text())


def digest(layer_model) -> str:
    return hashlib.sha256(str(layer_model.model.Proto()).encode()).hexdigest()


def layer(case):
    return load_workload(str(ROOT / case["workload"])).layer(case["layer"]).problem


@pytest.mark.parametrize("case", DATA["layers"], ids=[c["layer"] for c in DATA["layers"]])
def test_exported_models_are_byte_identical(case):
    arch = load_arch(str(ROOT / case["arch"]))
    problem = layer(case)
    for key, expected in case["models"].items():
        objective, encoding = key.split("_")
        assert digest(build_model(problem, arch, objective, None, encoding)) == expected, key
    one_worker = build_model(problem, arch, "energy", None, "exact", **model_encoding(1, "exact"))
    assert digest(one_worker) == case["one_worker_energy"]


def test_constrained_and_other_architecture_models_are_byte_identical():
    for case in DATA["constrained"]:
        plan = load_solve_spec(str(ROOT / case["spec"]))
        problem = plan.layers[0].problem
        assert digest(build_model(problem, plan.arch, case["objective"], plan.user_constraints(problem))) \
            == case["sha256"]
    for case in DATA["other_arch"]:
        arch = load_arch(str(ROOT / case["arch"]))
        assert digest(build_model(layer(case), arch, case["objective"])) == case["sha256"]


@pytest.mark.parametrize("case", DATA["layers"], ids=[c["layer"] for c in DATA["layers"]])
def test_solve_results_are_unchanged(case):
    """Each layer proves optimal well inside the work limit (CP-SAT deterministic time),
    and the wall-clock limit is far beyond it, so the answer does not depend on the
    machine's speed or load."""
    arch = load_arch(str(ROOT / case["arch"]))
    sol = solve_layer(layer(case), arch, SolveOptions(workers=1, time_limit=300.0, work_limit=10.0))
    expected = case["solve"]
    assert sol.status == expected["status"]
    assert sol.best.result.energy_pj == expected["energy_pj"]
    assert sol.best.result.cycles == expected["cycles"]
    assert sol.lower_bound == expected["lower_bound"]
    assert mapping_to_obj(sol.best.mapping) == expected["mapping"]
