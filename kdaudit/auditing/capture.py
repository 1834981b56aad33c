"""Every warning raised during an audit: recorded in report.json, shown to the caller once.

An audit runs its stages inside :meth:`WarningLog.capture`. Every warning meant for
users (``UserWarning`` and its subclasses such as :class:`~kdaudit.errors.KDAuditWarning`,
``FutureWarning``, numpy's ``RuntimeWarning``, a third-party library's warning) is
recorded whatever the caller's warning filters say, so report.json's ``warnings`` is the
same from the API and from the CLI (which hides other libraries' warnings). After the
audit, :meth:`WarningLog.emit` warns each distinct message once, in its own category, at
the caller's line, where the caller's filters decide what is shown. When an audit
fails, what it recorded until then is shown before its error propagates.

Warnings meant for developers (``DeprecationWarning``, ``PendingDeprecationWarning``,
``ImportWarning``, ``ResourceWarning``) say nothing about the audit and depend on what
happened to be imported first, so they stay out of report.json; the caller's filters
apply to them as usual and those that pass are re-emitted at their own location.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterable
from types import TracebackType

from kdaudit._warnings import warn_caller
from kdaudit.errors import KDAuditWarning

__all__ = ["DEVELOPER_CATEGORIES", "USER_CATEGORIES", "WarningLog"]

#: recorded whatever the caller's filters say (once per message and code location)
USER_CATEGORIES: tuple[type[Warning], ...] = (
    UserWarning,
    FutureWarning,
    RuntimeWarning,
    SyntaxWarning,
    UnicodeWarning,
    BytesWarning,
)
#: never in report.json; the caller's filters decide as if kdaudit had not caught them
DEVELOPER_CATEGORIES: tuple[type[Warning], ...] = (
    DeprecationWarning,
    PendingDeprecationWarning,
    ImportWarning,
    ResourceWarning,
)


class WarningLog:
    """The warnings of one audit, by message (first category seen wins), in arrival order."""

    def __init__(self) -> None:
        self._categories: dict[str, type[Warning]] = {}
        self._developer: list[warnings.WarningMessage] = []
        self._emitted: set[str] = set()

    def add(self, message: str, category: type[Warning] = KDAuditWarning) -> None:
        """Record a message kdaudit produced itself (a sanity finding, a note)."""
        self._categories.setdefault(message, category)

    def capture(self) -> _Capture:
        """A context in which every warning raised is recorded here instead of shown.

        If the block raises, everything recorded so far is shown before the error
        propagates (a filter that turns one of them into an error cannot hide the error).
        """
        return _Capture(self)

    def messages(self) -> list[str]:
        """Every recorded message, once each, in the order first seen."""
        return list(self._categories)

    def category(self, message: str) -> type[Warning]:
        """The category ``message`` was raised with (:class:`KDAuditWarning` if kdaudit's own)."""
        return self._categories.get(message, KDAuditWarning)

    def emit(self, messages: Iterable[str]) -> None:
        """Warn each of ``messages`` once at the caller's line, then the developer warnings.

        A message already emitted by this log is not emitted again.
        """
        for message in dict.fromkeys(messages):
            if message not in self._emitted:
                self._emitted.add(message)
                warn_caller(message, self.category(message))
        developer, self._developer = self._developer, []
        for record in developer:
            warnings.warn_explicit(record.message, record.category, record.filename, record.lineno)


class _Capture:
    """:meth:`WarningLog.capture` (a class, not a generator, so that the warnings it shows
    after a failure point at the caller's line, not at :mod:`contextlib`)."""

    def __init__(self, log: WarningLog) -> None:
        self._log = log
        self._context = warnings.catch_warnings(record=True)
        self._records: list[warnings.WarningMessage] = []

    def __enter__(self) -> None:
        records = self._context.__enter__()  # record=True: the list warnings are appended to
        assert records is not None
        self._records = records
        for category in USER_CATEGORIES:
            # "default": once per message and location, so a warning raised in a
            # bootstrap loop is recorded once, not once per replicate
            warnings.simplefilter("default", category)
        warnings.simplefilter("always", KDAuditWarning)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._context.__exit__(exc_type, exc, tb)
        for record in self._records:
            if issubclass(record.category, DEVELOPER_CATEGORIES):
                self._log._developer.append(record)
            else:
                self._log.add(str(record.message), record.category)
        if exc_type is not None:
            for message in [*self._log.messages(), None]:  # None: the developer warnings
                with contextlib.suppress(Warning):  # the audit's error is the one to raise
                    self._log.emit([] if message is None else [message])
