"""Every warning raised during an audit reaches report.json's ``warnings`` and the caller.

Warnings are injected where an audit really raises them: in the logit acquisition
(before the analyses) and inside analyzers, through the modules the audit imports them
from. Categories: UserWarning, FutureWarning, numpy's own RuntimeWarning, a third-party
UserWarning subclass, KDAuditWarning, and a DeprecationWarning (developer-facing: not in
the report, but still shown to the caller).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kdaudit
import kdaudit.analysis.accuracy as accuracy_mod
import kdaudit.analysis.class_shift as class_shift_mod
import kdaudit.engine.inference as inference_mod
from kdaudit.auditing.capture import WarningLog
from kdaudit.errors import KDAuditWarning

N, C = 400, 3
# what numpy itself says for log(0): the real RuntimeWarning, not one we construct
NUMPY_MESSAGE = "divide by zero encountered in log"


class ThirdPartyWarning(UserWarning):
    """A library's own category (like scikit-learn's ConvergenceWarning)."""


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(3)
    y = rng.integers(0, C, N)
    np.savez(
        tmp_path / "eval.npz",
        x=rng.normal(size=(N, 4)).astype(np.float32),
        y=y,
        sensitive_sex=rng.integers(0, 2, N),
        split=rng.integers(0, 2, N),
    )
    out = {"data": tmp_path / "eval.npz"}
    for name, noise in (("teacher", 1.0), ("student", 1.4)):
        logits = rng.normal(size=(N, C)) * noise
        logits[np.arange(N), y] += 1.5
        np.save(tmp_path / f"{name}.npy", logits.astype(np.float32))
        out[name] = tmp_path / f"{name}.npy"
    return out


def run(files: dict[str, Path]) -> dict[str, Any]:
    return kdaudit.compare(
        files["teacher"],
        files["student"],
        data=files["data"],
        sensitive=["sex"],
        bootstrap=20,
        use_cache=False,
    ).data


def test_an_audit_without_warnings_records_none(files):
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        report = run(files)
    assert report["warnings"] == []
    assert [str(w.message) for w in shown] == []


@pytest.fixture
def noisy(monkeypatch):
    """Analyzers and the logit acquisition that warn as real code does."""
    original_accuracy = accuracy_mod.accuracy_analysis
    original_shift = class_shift_mod.class_shift
    original_logits = inference_mod.compute_logits

    def accuracy_analysis(*args: Any, **kwargs: Any) -> Any:
        warnings.warn("accuracy: a user warning", UserWarning, stacklevel=2)
        warnings.warn("accuracy: this keyword will change", FutureWarning, stacklevel=2)
        np.log(np.zeros(1))  # numpy's RuntimeWarning
        warnings.warn("accuracy: a library's warning", ThirdPartyWarning, stacklevel=2)
        warnings.warn("accuracy: old call", DeprecationWarning, stacklevel=2)
        return original_accuracy(*args, **kwargs)

    def class_shift(*args: Any, **kwargs: Any) -> Any:
        # the same message as above from another line: one entry, shown once
        warnings.warn("accuracy: a user warning", UserWarning, stacklevel=2)
        return original_shift(*args, **kwargs)

    def compute_logits(*args: Any, **kwargs: Any) -> Any:
        warnings.warn("acquisition: a future change", FutureWarning, stacklevel=2)
        return original_logits(*args, **kwargs)

    monkeypatch.setattr(accuracy_mod, "accuracy_analysis", accuracy_analysis)
    monkeypatch.setattr(class_shift_mod, "class_shift", class_shift)
    monkeypatch.setattr(inference_mod, "compute_logits", compute_logits)


USER_FACING = {
    "accuracy: a user warning": UserWarning,
    "accuracy: this keyword will change": FutureWarning,
    NUMPY_MESSAGE: RuntimeWarning,
    "accuracy: a library's warning": ThirdPartyWarning,
    "acquisition: a future change": FutureWarning,
}


def test_every_user_facing_warning_is_recorded_and_reaches_the_caller(files, noisy):
    with (
        pytest.warns(UserWarning, match="accuracy: a user warning"),
        pytest.warns(FutureWarning, match="this keyword will change"),
        pytest.warns(FutureWarning, match="acquisition: a future change"),
        pytest.warns(RuntimeWarning, match=NUMPY_MESSAGE),
        pytest.warns(ThirdPartyWarning, match="a library's warning"),
        pytest.warns(DeprecationWarning, match="old call"),
    ):
        report = run(files)
    assert report["warnings"] == sorted(USER_FACING)  # sorted, each once
    assert "accuracy: old call" not in report["warnings"]  # developer-facing: not the report's


def test_each_message_reaches_the_caller_once_in_its_own_category(files, noisy):
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        run(files)
    seen: dict[str, list[type[Warning]]] = {}
    for w in shown:
        seen.setdefault(str(w.message), []).append(w.category)
    for message, category in USER_FACING.items():
        assert seen[message] == [category], message
    # shown at the caller's line (this file), not inside kdaudit
    for w in shown:
        if str(w.message) in USER_FACING:
            assert w.filename == __file__


def test_the_report_does_not_depend_on_the_callers_filters(files, noisy):
    """The CLI ignores other libraries' warnings; its report.json must still list them."""
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("ignore")
        report = run(files)
    assert report["warnings"] == sorted(USER_FACING)
    assert shown == []  # and the caller's filters still decide what is shown


def test_kdaudit_warnings_join_the_others(files, noisy, monkeypatch):
    original = accuracy_mod.accuracy_analysis

    def accuracy_analysis(*args: Any, **kwargs: Any) -> Any:
        warnings.warn("a group has no positives", KDAuditWarning, stacklevel=2)
        return original(*args, **kwargs)

    monkeypatch.setattr(accuracy_mod, "accuracy_analysis", accuracy_analysis)
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        report = run(files)
    assert report["warnings"] == sorted([*USER_FACING, "a group has no positives"])
    categories = {str(w.message): w.category for w in shown}
    assert categories["a group has no positives"] is KDAuditWarning
    assert categories["accuracy: a user warning"] is UserWarning


def test_the_cli_writes_the_same_warnings(files, noisy, tmp_path, capsys):
    from kdaudit.cli import main

    out = tmp_path / "out"
    argv = [
        "compare",
        str(files["teacher"]),
        str(files["student"]),
        "--data",
        str(files["data"]),
        "--sensitive",
        "sex",
        "--bootstrap",
        "20",
        "--no-cache",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    written = json.loads((out / "report.json").read_text())
    assert written["warnings"] == sorted(USER_FACING)
    assert "accuracy: a user warning" not in capsys.readouterr().err  # hidden without --verbose


def test_warning_log_keeps_the_first_category_and_order():
    log = WarningLog()
    with log.capture():
        warnings.warn("b", FutureWarning, stacklevel=1)
        warnings.warn("a", UserWarning, stacklevel=1)
        warnings.warn("b", UserWarning, stacklevel=1)
    log.add("c")
    assert log.messages() == ["b", "a", "c"]
    assert log.category("b") is FutureWarning
    assert log.category("c") is KDAuditWarning
    with pytest.warns(FutureWarning, match="b"), pytest.warns(KDAuditWarning, match="c"):
        log.emit(["b", "c", "b"])


def test_a_failed_audit_still_shows_what_it_recorded(files, noisy, tmp_path):
    from kdaudit.errors import InputDataError

    wide = tmp_path / "wide.npy"  # a sweep student with one class too many: a real failure
    np.save(wide, np.zeros((N, C + 1), dtype=np.float32))
    with (
        warnings.catch_warnings(record=True) as shown,
        pytest.raises(InputDataError, match="classes"),
    ):
        warnings.simplefilter("always")
        kdaudit.compare(
            files["teacher"],
            files["student"],
            data=files["data"],
            sweep=[(2.0, wide)],
            bootstrap=20,
            use_cache=False,
        )
    seen = {str(w.message): w for w in shown}
    for message, category in USER_FACING.items():
        assert seen[message].category is category
        assert seen[message].filename == __file__  # the caller's line, even on failure
    assert seen["accuracy: old call"].category is DeprecationWarning


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_warnings_filter_set_to_error_cannot_hide_the_audits_error(files, noisy, tmp_path):
    from kdaudit.errors import InputDataError

    wide = tmp_path / "wide.npy"
    np.save(wide, np.zeros((N, C + 1), dtype=np.float32))
    with warnings.catch_warnings(), pytest.raises(InputDataError, match="classes"):
        for category in (UserWarning, FutureWarning, RuntimeWarning):
            warnings.simplefilter("error", category)
        kdaudit.compare(
            files["teacher"],
            files["student"],
            data=files["data"],
            sweep=[(2.0, wide)],
            bootstrap=20,
            use_cache=False,
        )
