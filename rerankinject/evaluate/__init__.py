"""Evaluation: trec_eval measures through ir_measures, paired t-tests with Bonferroni correction.

CLI: ``python -m rerankinject.evaluate``.
"""

from .measures import MEASURE_NAMES, compare_runs, evaluate_run, format_table, measures_for, paired_ttest

__all__ = [
    "evaluate_run",
    "compare_runs",
    "format_table",
    "measures_for",
    "paired_ttest",
    "MEASURE_NAMES",
]
