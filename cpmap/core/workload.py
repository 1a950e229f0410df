"""A workload: a DAG of layers, each a :class:`~cpmap.core.problem.Problem`.

Layers are listed in topological order (every input of a layer is an earlier layer or
an external input), so the DAG needs no separate cycle check.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import CpmapError
from .problem import Problem


@dataclass(frozen=True)
class Layer:
    """One layer.  ``inputs`` names its producers: earlier layers or external inputs of
    the workload."""

    name: str
    problem: Problem
    inputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Workload:
    """``layers`` in topological order; ``inputs`` are the DAG's external inputs."""

    name: str
    layers: tuple[Layer, ...]
    inputs: tuple[str, ...] = ()

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(lay.name for lay in self.layers)

    def layer(self, name: str) -> Layer:
        """The layer called ``name``; a :class:`CpmapError` listing the names otherwise."""
        for lay in self.layers:
            if lay.name == name:
                return lay
        raise CpmapError(f"workload {self.name!r} has no layer {name!r}; "
                         f"layers are: {', '.join(self.layer_names)}")

    @property
    def macs(self) -> int:
        """Total innermost operations over all layers."""
        return sum(lay.problem.macs for lay in self.layers)
