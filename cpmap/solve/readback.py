"""Reading a mapping back from a CP-SAT solution of the layer model.

:func:`mapping_from_solution` turns solver values into a :class:`~cpmap.core.mapping.Mapping`
(the loop order of each level's reuse class); :class:`Progress` keeps the last solution of
a search so that an interrupted one still returns its best mapping.
"""

from __future__ import annotations

from ortools.sat.python import cp_model

from ..core.arch import Arch
from ..core.mapping import LevelMapping, Mapping
from ..core.problem import Problem
from .model import LayerModel


def mapping_from_solution(layer_model: LayerModel, problem: Problem, arch: Arch, value) -> Mapping:
    """Read a mapping back from solver values.  Level j's loops irrelevant to the chosen
    tensor go innermost; with no tensor chosen, the loops relevant to every tensor do.
    Either realizes exactly the reuse the model assumed."""
    rel = {t.name: t.dims for t in problem.tensors}
    shared = {d for d in problem.dims if all(d in t.dims for t in problem.tensors)}
    levels = []
    for i, lv in enumerate(arch.levels):
        loops = [(d, layer_model.factor(value, d, s)) for d in problem.dims for s in layer_model.slots
                 if s.level == i and not s.spatial]
        loops = [(d, f) for d, f in loops if f > 1]
        chosen = next((t for t in problem.tensor_names if (i, t) in layer_model.inner and value(layer_model.inner[i, t])), None)
        if chosen is not None:
            loops = [lp for lp in loops if lp[0] in rel[chosen]] + [lp for lp in loops if lp[0] not in rel[chosen]]
        else:
            loops = sorted(loops, key=lambda lp: lp[0] in shared)  # stable: shared loops innermost
        spatial = []
        if i in layer_model.mesh_entries:  # a mesh: the chosen entry, its order included
            spatial = list(next(e for lit, e in layer_model.mesh_entries[i] if value(lit)))
        elif lv.fanout is not None:
            for ax, _ in lv.fanout.axes:
                sl = tuple((d, layer_model.factor(value, d, s)) for d in problem.dims for s in layer_model.slots
                           if s.level == i and s.axis == ax and layer_model.factor(value, d, s) > 1)
                if sl:
                    spatial.append((ax, sl))
        keeps = frozenset(t for t in problem.tensor_names if _val(value, layer_model.keep[i, t]))
        forward, share = (frozenset(t for (j, t), f in lits.items() if j == i and value(f))
                          for lits in layer_model.forward)
        levels.append(LevelMapping(lv.name, tuple(loops), keeps, tuple(spatial), forward, share))
    return Mapping(tuple(levels))


def _val(value, v) -> int:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    return int(value(v))


class Progress(cp_model.CpSolverSolutionCallback):
    """Keeps the last (best) solution's values so that an interrupted solve still returns
    the best mapping found; reports each one to ``on_solution`` if given, and stops the
    search at the first solution after ``should_stop()`` turns true."""

    def __init__(self, layer_model: LayerModel, problem: Problem, arch: Arch, on_solution=None,
                 should_stop=None):
        super().__init__()
        self.layer_model, self.problem, self.arch, self.on_solution = layer_model, problem, arch, on_solution
        self.should_stop = should_stop
        self.mapping: Mapping | None = None
        self.bound: float | None = None
        self.objective: float | None = None  # the model's objective at the last solution
        self.last_seconds: float | None = None  # wall seconds into the search of the last solution
        self.incumbents: list[Mapping] = []
        self.stopped = False

    def on_solution_callback(self) -> None:
        self.mapping = mapping_from_solution(self.layer_model, self.problem, self.arch, self.value)
        self.incumbents.append(self.mapping)
        self.bound = self.best_objective_bound
        self.objective = self.objective_value
        self.last_seconds = self.wall_time
        if self.on_solution is not None:
            self.on_solution(self.wall_time, self.mapping)
        if self.should_stop is not None and self.should_stop():
            self.stopped = True
            self.stop_search()
