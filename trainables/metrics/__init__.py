"""Quality measures: toy-mixture mode coverage (more measures are added by their owners)."""

from trainables.metrics.toy import EVAL_POINTS, toy_measures

__all__ = ["EVAL_POINTS", "toy_measures"]
