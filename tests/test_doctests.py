"""The numpydoc ``Examples`` of the public analysis API run as doctests in ``make test``.

Every module of :mod:`kdaudit.analysis` and :mod:`kdaudit.metrics` is collected; a
module's examples fail the test on a wrong output, an exception or a KDAuditWarning
(pytest's filterwarnings turns those into errors).
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import kdaudit.analysis

MODULES = [
    "kdaudit.metrics",
    *(
        f"kdaudit.analysis.{info.name}"
        for info in pkgutil.iter_modules(kdaudit.analysis.__path__)
        if not info.name.startswith("_")
    ),
]
# the examples promised on the public entry points (each must keep at least one)
REQUIRED = {
    "kdaudit.metrics",
    "kdaudit.analysis.pairs",
    "kdaudit.analysis.group_fairness",
    "kdaudit.analysis.robustness",
    "kdaudit.analysis.class_shift",
    "kdaudit.analysis.individual_fairness",
    "kdaudit.analysis.counterfactual_text",
    "kdaudit.analysis.accuracy",
}


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert result.failed == 0, f"{result.failed} doctest example(s) failed in {name}"
    if name in REQUIRED:
        assert result.attempted > 0, f"{name} lost its Examples section"
