"""The public face of kdaudit: :func:`compare`, :func:`audit` and the :class:`Report`.

>>> import kdaudit
>>> report = kdaudit.compare("teacher.onnx", "student.onnx", baseline="nds.onnx",
...                          data="eval.npz", sensitive=["sex"])      # doctest: +SKIP
>>> report.write("report/")                                           # doctest: +SKIP

Everything returned is a :class:`Report`, a JSON-native dict plus writers, so
notebooks and scripts need no subprocess. The work is done in :mod:`kdaudit.auditing`
(options and configs, logit acquisition, orchestration, provenance), which knows
nothing of reports and gates: this module wraps what it returns in a Report and
applies the gate. The names below that live there are re-exported for old imports.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kdaudit.auditing import run as _run
from kdaudit.auditing.acquire import ModelLike, as_specs, compare_specs, load_data, model_info
from kdaudit.auditing.checks import MAX_CLASS_SHIFT_CLASSES
from kdaudit.auditing.config import load_config, plan_audit
from kdaudit.auditing.options import ANALYSES, MAX_BOOTSTRAP, AuditOptions
from kdaudit.auditing.run import AuditOutput
from kdaudit.auditresult import AuditResult, GateRecord
from kdaudit.data.dataset import Dataset
from kdaudit.errors import UsageError
from kdaudit.vocab import CORRECTIONS, PAIRS, ROLES, SCHEMA_VERSION

# private helpers kept importable from here for code written before the split
from kdaudit.auditing.acquire import _model_logits as _model_logits  # isort: skip
from kdaudit.auditing.acquire import _with_manifest as _with_manifest  # isort: skip
from kdaudit.auditing.checks import _check_groups as _check_groups  # isort: skip
from kdaudit.auditing.provenance import _now as _now  # isort: skip
from kdaudit.auditing.run import _ci_notes as _ci_notes  # isort: skip

# public names scripts imported from here before the split
from kdaudit.arrays import LogitArray as LogitArray  # isort: skip
from kdaudit.data.loader import load_dataset as load_dataset  # isort: skip

__all__ = [
    "ANALYSES",
    "CORRECTIONS",
    "MAX_BOOTSTRAP",
    "MAX_CLASS_SHIFT_CLASSES",
    "PAIRS",
    "ROLES",
    "SCHEMA_VERSION",
    "AuditOptions",
    "ModelLike",
    "Report",
    "as_specs",
    "assemble_report",
    "audit",
    "compare",
    "load_config",
    "model_info",
    "run_audit",
]


class Report:
    """A finished audit.

    Attributes
    ----------
    result : AuditResult
        The typed, immutable results (:mod:`kdaudit.auditresult`); every renderer reads it.
    data : dict
        The JSON-native report.json content (fractions, not percent; ``null`` with an
        ``undefined_reason`` where a number is undefined): a fresh copy on each access.

    Notes
    -----
    In a notebook a Report displays as the HTML report. :meth:`to_frames` gives tidy
    pandas tables, :meth:`rows` the per-sample predictions, :meth:`write` the files.
    A Report does not change: :meth:`apply_policy` returns a new one.
    """

    def __init__(self, data: Mapping[str, Any] | AuditResult) -> None:
        if isinstance(data, AuditResult):
            self._result = data
        else:
            self._result = AuditResult.from_dict(data)
        self._row_source: tuple[Any, ...] | None = None

    @property
    def result(self) -> AuditResult:
        """The typed, immutable audit result."""
        return self._result

    @property
    def data(self) -> dict[str, Any]:
        """report.json's content as a fresh JSON-native dict (changing it changes nothing)."""
        return self._result.to_dict()

    @property
    def gate(self) -> GateRecord | None:
        """The gate's verdict and checks, or None when no policy judged this report."""
        return self._result.gate

    @property
    def passed(self) -> bool | None:
        """True when a gate judged this report and every check passed; False when a gate
        judged it and any check failed or was inconclusive; None without a gate."""
        return None if self.gate is None else bool(self.gate.passed)

    @property
    def release_ok(self) -> bool | None:
        """Whether the gate lets the release through (the exit code): like :attr:`passed`,
        but an inconclusive gate counts as a pass under ``on_inconclusive = "pass"``."""
        return None if self.gate is None else self.gate.lets_release

    def apply_policy(self, policy: Any) -> Report:
        """A new Report: this one judged by a gate policy (``gate`` and ``governance`` set).

        This Report is left as it was.

        Parameters
        ----------
        policy : str, Path or Policy
            A TOML file, a shipped name (``"default"``, ``"strict"``) or a Policy. The
            policy's text and its sha256 are recorded with the verdict.
        """
        from kdaudit.gate import load_policy
        from kdaudit.governance import judge_result

        pol = load_policy(policy) if isinstance(policy, (str, Path)) else policy
        out = Report(judge_result(self._result, pol))
        out._row_source = self._row_source
        return out

    def to_frames(self) -> dict[str, Any]:
        """Tidy pandas DataFrames of the results, by name.

        Returns
        -------
        dict of str -> pandas.DataFrame
            ``models``, ``accuracy``, ``accuracy_delta``, ``class_shift`` (per pair and
            class), ``fairness`` (per attribute, role and metric), ``fairness_delta``,
            ``by_group`` (per attribute, role and group), ``individual``, ``robustness``,
            ``sweep`` (per temperature), ``gate_checks``, ``warnings`` and more; only the
            sections this report has. The numbers are those of :attr:`data`.
        """
        from kdaudit.frames import report_frames

        return report_frames(self._result)

    def rows(self) -> Any:
        """Per-sample predictions: which rows changed between teacher and student.

        Returns
        -------
        pandas.DataFrame
            One row per evaluation sample: ``row``, ``label``, per role ``<role>_pred``,
            ``<role>_confidence`` (softmax probability of the predicted class) and
            ``<role>_correct``, ``group_<attribute>`` per sensitive attribute, and
            ``changed`` / ``newly_wrong`` / ``newly_right`` (teacher vs student). Uses the
            first run of each role.

        Raises
        ------
        UsageError
            The report was read from a file: the predictions are not stored in report.json.
        """
        if self._row_source is None:
            raise UsageError(
                "Per-row predictions exist only for a report from this session's "
                "audit (report.json does not store them).",
                tip="Run the audit with --export-rows FILE.parquet, or call "
                "rows() on the Report that compare()/audit() returned.",
            )
        from kdaudit.export import row_table

        y, logits, sensitive, names = self._row_source
        return row_table(y, logits, sensitive_features=sensitive, class_names=names)

    def export_rows(self, path: str | Path) -> Path:
        """Write :meth:`rows` to ``path`` (``.parquet``, or ``.csv``); return the path."""
        from kdaudit.export import check_rows_path, write_rows

        check_rows_path(path)
        return write_rows(self.rows(), path)

    def write(
        self, out_dir: str | Path, *, formats: Sequence[str] = ("json", "html", "md")
    ) -> dict[str, Path]:
        """Write the report files into ``out_dir``.

        Parameters
        ----------
        out_dir : str or Path
            Folder (created when missing).
        formats : sequence of str
            Any of ``json`` (report.json), ``html`` (report.html), ``md`` (summary.md),
            ``modelcard`` (model_card.json), ``csv`` (a ``csv/`` folder of the
            :meth:`to_frames` tables).

        Returns
        -------
        dict of str -> Path
            Format -> file (or folder) written.
        """
        from kdaudit.report import write_report

        return write_report(self._result, Path(out_dir), formats=tuple(formats))

    def _repr_html_(self) -> str:
        """The HTML report, isolated in an iframe so its styles do not touch the notebook."""
        import html

        from kdaudit.report.html import render_html

        page = render_html(self._result, validate=False)
        return (
            f'<iframe srcdoc="{html.escape(page, quote=True)}" '
            'style="width:100%;height:720px;border:1px solid #ddd" '
            'sandbox="allow-same-origin" title="kdaudit report"></iframe>'
        )

    def __repr__(self) -> str:
        verdict = "none" if self.gate is None else self.gate.effective_verdict
        return f"Report(roles={list(self._result.accuracy.keys())}, gate={verdict})"


# --------------------------------------------------------------------------- entry points


def compare(
    teacher: ModelLike,
    student: ModelLike,
    *,
    data: str | Path | Dataset,
    baseline: ModelLike | None = None,
    label: str | None = None,
    sensitive: Sequence[str] | None = None,
    features: Sequence[str] | None = None,
    sensitive_files: Mapping[str, str | Path] | None = None,
    text_column: str | None = None,
    options: AuditOptions | None = None,
    model_defaults: Mapping[str, Mapping[str, Any]] | None = None,
    sweep: Sequence[tuple[float, ModelLike]] | None = None,
    policy: Any = None,
    command_line: Sequence[str] | None = None,
    preprocess: Any = None,
    **option_overrides: Any,
) -> Report:
    """Compare a teacher, a distilled student and optionally a baseline on one dataset.

    Parameters
    ----------
    teacher, student, baseline : path, ModelSpec, or list of them (several runs)
        Model files: ``.onnx``; ``.safetensors``/``.pt`` state dicts with ``arch``;
        ``.npy``/``.npz`` precomputed logits of shape (n_samples, n_classes). A list is
        several runs (seeds) of one role; with several runs for both sides, class shift
        uses Welch's t-test over runs.
    data : path, built-in spec or Dataset
        Evaluation data: an ``.npz`` with ``x``, ``y`` and ``sensitive_<name>`` arrays
        (optional ``class_names``), a ``.csv``/``.parquet`` table (see ``label``), or a
        built-in such as ``"trifeature"`` or ``"adult:PATH"``.
    label, sensitive, features : optional
        Column selection for tables; ``sensitive`` also selects npz attributes. A list
        column's members are selected as ``COLUMN:MEMBER`` (or all members with at least
        ``min_group_size`` rows when only ``COLUMN`` is named).
    text_column : str, optional
        Tables: the column of texts that text models tokenize (docs/text.md).
    sensitive_files : mapping of name -> path, optional
        Further sensitive attributes, each a file of group labels with one row per data row.
    options : AuditOptions, optional
        Statistical and engine choices; keyword overrides apply on top, e.g.
        ``bootstrap=200``, ``seed=1``, ``class_names=["<=50K", ">50K"]``.
    model_defaults : mapping of role -> ModelSpec fields, optional
        ``outputs`` defaults to ``"auto"`` as on the command line (rows that are
        non-negative and sum to 1 are read as probabilities). E.g. ``{"student": {"arch": "lenet5", "outputs": "probs",
        "preprocess": "scale = 0.0039, reshape = [1, 28, 28]"}}``.
    sweep : sequence of (temperature, model), optional
        Further students for the temperature-sweep view.
    policy : path, name ("default", "strict") or Policy, optional
        Release gate; its verdict is in ``Report.gate`` and ``Report.passed``.
    command_line : sequence of str, optional
        Recorded in the report's provenance.
    preprocess : str, dict, Preprocess, or mapping of role -> one of those, optional
        Input preprocessing, written as on the command line
        (``"scale = 0.00392156862745098, reshape = [1, 28, 28]"``), as a dict
        (``{"scale": 1 / 255}``) or a Preprocess; one spec for every model, or
        ``{"teacher": ..., "student": ...}`` per role. Preprocessing given in
        ``model_defaults`` wins. Without either, a model's ``kdaudit train`` manifest
        supplies it.

    Returns
    -------
    Report
        ``report.data`` is the report.json content; ``report.to_frames()`` gives tidy
        DataFrames, ``report.write(dir)`` the files.
    """
    options = dataclasses.replace(options or AuditOptions(), **option_overrides)
    dataset = load_data(
        data,
        label=label,
        sensitive=sensitive,
        features=features,
        text_column=text_column,
        sensitive_files=sensitive_files,
        min_group_size=options.min_group_size,
    )
    models, sweep_specs = compare_specs(
        teacher,
        student,
        baseline,
        sweep,
        options=options,
        model_defaults=model_defaults,
        preprocess=preprocess,
    )
    return run_audit(
        models,
        dataset,
        options=options,
        sweep=sweep_specs,
        command_line=command_line,
        policy=policy,
    )


def audit(
    config: str | Path,
    *,
    overrides: Mapping[str, Any] | None = None,
    command_line: Sequence[str] | None = None,
) -> Report:
    """Run the audit a TOML config describes (``kdaudit audit CONFIG.toml``)."""
    plan = plan_audit(config, overrides=overrides)
    policy = None
    if plan.gate:
        from kdaudit.gate import Policy

        policy = Policy.from_dict(plan.gate)
    # the data is read last, once everything in the config is known to be well-formed
    dataset = plan.data.load(min_group_size=plan.options.min_group_size)
    return run_audit(
        plan.models,
        dataset,
        options=plan.options,
        sweep=plan.sweep,
        command_line=command_line,
        policy=policy,
    )


def run_audit(
    models: Mapping[str, Sequence[Any]],
    dataset: Dataset,
    *,
    options: AuditOptions | None = None,
    sweep: Sequence[tuple[float, Sequence[Any]]] | None = None,
    command_line: Sequence[str] | None = None,
    policy: Any = None,
) -> Report:
    """Audit models on a dataset.

    Parameters
    ----------
    models : mapping of role -> list of ModelSpec
        Roles among ``teacher``, ``student``, ``baseline``; several specs are several runs.
    dataset : Dataset
        Evaluation data.
    options : AuditOptions, optional
        Statistical and engine choices.
    sweep : sequence of (temperature, list of ModelSpec), optional
        Further distilled students (e.g. a temperature sweep); each is compared with
        the teacher and baseline and summarised in ``temperature_sweep``.
    command_line : sequence of str, optional
        Recorded in the report's provenance.
    policy : path, name or Policy, optional
        A release gate to judge the report with.

    Returns
    -------
    Report
        Every warning raised during the audit is in ``report.data["warnings"]`` and
        was re-emitted once, in its own category (:mod:`kdaudit.auditing.capture`).
    """
    out = _run.run_audit(models, dataset, options=options, sweep=sweep, command_line=command_line)
    return _report(out, policy)


def assemble_report(*args: Any, policy: Any = None, **kwargs: Any) -> Report:
    """The Report of :func:`kdaudit.auditing.run.assemble_report` (same arguments), gated by ``policy``.

    The one assembly of ``compare`` and ``compare --from-stats``.
    """
    return _report(_run.assemble_report(*args, **kwargs), policy)


def _report(out: AuditOutput, policy: Any) -> Report:
    """Wrap an audit's output in a Report: its governance section, then the gate's verdict."""
    from kdaudit.governance import governance_section

    # governance first: a Report copies the dict into its immutable result
    out.data["governance"] = governance_section(out.data)
    report = Report(out.data)
    if out.row_source is not None:
        report._row_source = out.row_source
    if policy is not None:
        report = report.apply_policy(policy)  # a new Report; the row source goes with it
    return report
