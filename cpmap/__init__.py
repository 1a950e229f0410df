"""cpmap: an exact mapper for deep-learning accelerators.

Data flow: spec loading (:mod:`cpmap.spec`) -> problem objects (:mod:`cpmap.problem`,
:mod:`cpmap.arch`, :mod:`cpmap.mapping`) -> exact evaluator (:mod:`cpmap.evaluator`)
-> reports and CLI.
"""

__version__ = "0.1.0"
