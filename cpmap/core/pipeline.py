"""How a network is scheduled across layers: the ``pipeline:`` options of a solve spec.

``mode`` ``none`` solves every layer alone (input from DRAM, output to DRAM); ``temporal``
lets segments of up to ``max_degree`` chained layers run one after another on the whole
array, each intermediate left in the global buffer for the next layer (docs/pipeline.md).
On a node array the intermediates stay in the per-node buffers, each node its share.
``spatial`` runs the layers of a segment at once on disjoint node regions of a mesh, each
intermediate forwarded from the producer's region to the consumer's; ``both`` lists the
temporal and the spatial variants and lets the segment ILP choose.
"""

from __future__ import annotations

from dataclasses import dataclass

PIPELINE_MODES = ("none", "temporal", "spatial", "both")
MULTI_NODE_MODES = ("spatial", "both")
"""The modes that need a mesh of nodes (layers on node regions)."""
REGION_CHOICES = ("all", "balanced")
REFINE_FACTOR = 4
"""A layer problem refined again gets this many times the time and work limits of its previous
solve (4x, 16x, ... the plan's)."""


@dataclass(frozen=True)
class PipelineOptions:
    """``max_degree``: most layers per segment; ``time_overhead``: the schedule's delay may
    exceed layer-by-layer's by at most this fraction (None: no limit); ``batch_groups``: the
    numbers of batch groups a multi-layer segment may split the batch into (each must divide
    the batch dim N of every layer of the segment).

    ``gap_target`` and ``refine_rounds``: lazy bound refinement (docs/pipeline.md): while
    the certified network gap is above ``gap_target``, the unproved layer problems of the
    chosen schedule and of the bound ILP's selection are solved again with
    :data:`REFINE_FACTOR` times the previous limits, at most ``refine_rounds`` times (0:
    never)."""

    mode: str = "none"
    max_degree: int = 4
    time_overhead: float | None = None
    batch_groups: tuple[int, ...] = (1,)
    gap_target: float = 0.01
    refine_rounds: int = 2
    regions: str = "all"
    """Spatial variants: ``all`` band splits of the mesh, or per direction the one
    ``balanced`` by the layers' MACs (:func:`cpmap.core.region.bands`)."""

    def __post_init__(self) -> None:
        if self.mode not in PIPELINE_MODES:
            raise ValueError(f"unknown pipeline mode {self.mode!r}; expected one of {', '.join(PIPELINE_MODES)}")
        if self.regions not in REGION_CHOICES:
            raise ValueError(f"unknown regions {self.regions!r}; expected one of {', '.join(REGION_CHOICES)}")
        if self.max_degree < 1:
            raise ValueError(f"max_degree must be >= 1, got {self.max_degree}")
        if self.time_overhead is not None and self.time_overhead < 0:
            raise ValueError(f"time_overhead must be >= 0, got {self.time_overhead}")
        if not self.batch_groups or any(g < 1 for g in self.batch_groups):
            raise ValueError(f"batch_groups must be positive integers, got {self.batch_groups}")
        if not 0 <= self.gap_target < 1:
            raise ValueError(f"gap_target must be a fraction in [0, 1), got {self.gap_target}")
        if self.refine_rounds < 0:
            raise ValueError(f"refine_rounds must be >= 0, got {self.refine_rounds}")
