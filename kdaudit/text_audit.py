"""Moved to :mod:`kdaudit.auditing.text`; kept so that old imports still work."""

from kdaudit.auditing.text import counterfactual_dataset, counterfactual_text

__all__ = ["counterfactual_dataset", "counterfactual_text"]
