"""Secrets that cannot leak by accident.

A :class:`Secret` wraps a credential (a client secret, an access token, a password) so that
printing, logging or ``repr``-ing it, or an object holding it, shows ``***``; code that really
needs the value calls :meth:`Secret.reveal`. Text that may contain a secret anyway (a server's
error body, a DSN, an exception message) goes through :func:`mask` before it reaches a user,
and :class:`MaskingFilter` does the same for log records.

>>> token = Secret("abc123")
>>> f"token={token}", token.reveal()
('token=***', 'abc123')
>>> mask("password=abc123&x=1", token)
'password=***&x=1'
"""

from __future__ import annotations

import logging
from urllib.parse import quote, quote_plus

MASK = "***"


class Secret:
    """A string value that renders as ``***``; compare and hash by value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = str(value)

    def reveal(self) -> str:
        """The secret value itself (send it over the wire; never print it)."""
        return self._value

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)


def _forms(secret: str | Secret) -> list[str]:
    """The spellings of a secret that may appear in text: raw and URL-encoded."""
    value = secret.reveal() if isinstance(secret, Secret) else str(secret)
    if not value:
        return []
    forms = {value, quote(value, safe=""), quote_plus(value, safe="")}
    # Longest first so a raw value that is a prefix of its encoded form cannot leave a tail.
    return sorted(forms, key=len, reverse=True)


def mask(text: str, *secrets: str | Secret | None) -> str:
    """Replace every occurrence of each secret in ``text`` (raw or URL-encoded) with ``***``.

    Empty or None secrets are ignored.
    """
    for secret in secrets:
        if secret is None:
            continue
        for form in _forms(secret):
            text = text.replace(form, MASK)
    return text


class MaskingFilter(logging.Filter):
    """A logging filter that masks the given secrets in a record's formatted message."""

    def __init__(self, *secrets: str | Secret) -> None:
        super().__init__()
        self.secrets = list(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message, *self.secrets)
        if masked != message:
            record.msg, record.args = masked, None
        return True
