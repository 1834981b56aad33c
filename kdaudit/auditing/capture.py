"""Every warning raised during an audit: recorded in report.json, shown to the caller once.

An audit runs its stages inside :meth:`WarningLog.capture`. Every warning meant for
users (``UserWarning`` and its subclasses such as :class:`~kdaudit.errors.KDAuditWarning`,
``FutureWarning``, numpy's ``RuntimeWarning``, a third-party library's warning) is
recorded whatever the caller's warning filters say, so report.json's ``warnings`` is the
same from the API and from the CLI (which hides other libraries' warnings). After the
audit, :meth:`WarningLog.emit` warns each distinct message once, in its own category, at
the caller's line, where the caller's filters decide what is shown.

Warnings meant for developers (``DeprecationWarning``, ``PendingDeprecationWarning``,
``ImportWarning``, ``ResourceWarning``) say nothing about the audit and depend on what
happened to be imported first, so they stay out of report.json; the caller's filters
apply to them as usual and those that pass are re-emitted at their own location.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterable, Iterator

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

    def add(self, message: str, category: type[Warning] = KDAuditWarning) -> None:
        """Record a message kdaudit produced itself (a sanity finding, a note)."""
        self._categories.setdefault(message, category)

    @contextlib.contextmanager
    def capture(self) -> Iterator[None]:
        """Record every warning raised inside the block instead of showing it now."""
        with warnings.catch_warnings(record=True) as records:
            for category in USER_CATEGORIES:
                # "default": once per message and location, so a warning raised in a
                # bootstrap loop is recorded once, not once per replicate
                warnings.simplefilter("default", category)
            warnings.simplefilter("always", KDAuditWarning)
            try:
                yield
            finally:
                for record in records:
                    if issubclass(record.category, DEVELOPER_CATEGORIES):
                        self._developer.append(record)
                    else:
                        self.add(str(record.message), record.category)

    def messages(self) -> list[str]:
        """Every recorded message, once each, in the order first seen."""
        return list(self._categories)

    def category(self, message: str) -> type[Warning]:
        """The category ``message`` was raised with (:class:`KDAuditWarning` if kdaudit's own)."""
        return self._categories.get(message, KDAuditWarning)

    def emit(self, messages: Iterable[str]) -> None:
        """Warn each of ``messages`` once at the caller's line, then the developer warnings."""
        for message in dict.fromkeys(messages):
            warn_caller(message, self.category(message))
        for record in self._developer:
            warnings.warn_explicit(record.message, record.category, record.filename, record.lineno)
        self._developer.clear()
