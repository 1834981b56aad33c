"""The audit itself, below the report and the gate: options, logits, analyses, provenance.

Modules by job. :mod:`kdaudit.api` wraps what :mod:`~kdaudit.auditing.run` returns in a
Report and applies the gate; nothing here imports :mod:`kdaudit.report`,
:mod:`kdaudit.gate`, :mod:`kdaudit.governance` or :mod:`kdaudit.cli`. (The package is not
called ``kdaudit.audit``: that name is the public :func:`kdaudit.audit` function.)

``options``
    :class:`~kdaudit.auditing.options.AuditOptions`, every choice an audit makes.
``config``
    Audit configs (TOML): reading, checking, resolving into an audit plan.
``acquire``
    Logit acquisition: model specs, manifests, the cache, the data, the logits.
``checks``
    Checks on the inputs (roles, groups, classes, class names); the one pair rule is
    :func:`kdaudit.analysis.pairs.present_pairs`.
``analyses``
    Each analyzer called with the audit's options; why an analysis is skipped.
``sweep``
    The temperature sweep's students, wired into :mod:`kdaudit.sweep`.
``capture``
    Every warning of an audit: into report.json, and back to the caller once.
``provenance``
    When, where and with what an audit ran.
``run``
    Orchestration: :func:`~kdaudit.auditing.run.run_audit` and
    :func:`~kdaudit.auditing.run.assemble_report`.
"""
