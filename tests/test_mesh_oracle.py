"""The evaluator's mesh hops, channel words, cycles and static energy against the
brute-force oracle, which places every child on the mesh and routes every transfer link
by link (tests/oracle.py; docs/cost-model.md section 10).

6 layer families x 350 derandomized cases = 2,100 comparisons per run: 2x2 to 3x3 meshes
(and 4x2, 2x4, 4x3, so that two dims share an axis), corner, per-node and explicit
channels, multicast and reduction on and off, a reduction dim partitioned across the
mesh in a third of the cases (input partitioning), channel bandwidths, static energy, and
access forwarding and buffer sharing each allowed on 2 meshes in 3, each input tensor
forwarded, shared (when the nodes keep it) or neither (in seeded samples: 260 of 600
cases forward some tensor, 123 of them without multicast, 29 with fractional word-hops
or channel words; 329 of 2,500 share some tensor, 213 with remote-read hops).
Every count of the flat model is compared too (tests/oracle.py's ``compare``)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from oracle import compare, simulate
from strategies import FAMILIES, mesh_cases

from cpmap.cost.evaluator import evaluate

MESH = settings(max_examples=350, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("family", FAMILIES)
def test_mesh_evaluator_matches_oracle(family):
    @MESH
    @given(mesh_cases(family))
    def run(case):
        problem, arch, mapping = case
        oracle = simulate(problem, arch, mapping)  # also checks the layer's result
        diffs = compare(evaluate(problem, arch, mapping), oracle, arch, problem)
        assert not diffs, "\n".join(diffs) + f"\n{problem!r}\n{arch!r}\n{mapping!r}"

    run()
