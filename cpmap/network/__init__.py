"""Many layers: solving a workload's layers (dedupe, on-disk cache, parallel jobs,
progress, Ctrl-C: :mod:`.batch`), and comparing CP-SAT with the heuristic searchers layer
by layer (:mod:`.compare`)."""

from .batch import BatchResult, LayerOutcome, run_batch
from .cache import CACHE_ENV, Cache, default_cache_dir, problem_key
from .compare import METHODS, Budgets, CompareRun, run_compare
from .pool import available_cores
from .progress import Progress

__all__ = ["CACHE_ENV", "METHODS", "BatchResult", "Budgets", "Cache", "CompareRun", "LayerOutcome", "Progress",
           "available_cores", "default_cache_dir", "problem_key", "run_batch", "run_compare"]
