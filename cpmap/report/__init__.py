"""Reports: text tables (:mod:`.tables`), the evaluation report (:mod:`.evaluation`),
``cpmap solve``'s JSON, text and report directory (:mod:`.solve`), ``cpmap compare``'s
(:mod:`.compare`), and the plots (:mod:`.plots`).

Nothing is re-exported here, so that ``cpmap evaluate`` loads :mod:`.evaluation` without
the solver (OR-Tools) behind :mod:`.solve` and :mod:`.compare`."""
