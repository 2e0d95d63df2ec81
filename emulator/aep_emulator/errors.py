"""The emulator's own error and secret masking (it never imports the client it checks).

:class:`EmulatorError` is raised for the emulator's own failures (its SQL engine unreachable, a
bad start-up option); what a *client* does wrong is never an exception but an HTTP answer.

>>> mask("password=s3cret host=x", "s3cret")
'password=*** host=x'
"""

from __future__ import annotations

from urllib.parse import quote, quote_plus

MASK = "***"


class EmulatorError(Exception):
    """The emulator itself cannot do what it was asked (not a client's mistake)."""


def mask(text: str, *secrets: str | None) -> str:
    """``text`` with every secret (raw or URL-encoded) replaced by ``***``; None is ignored."""
    for secret in secrets:
        if not secret:
            continue
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            text = text.replace(form, MASK)
    return text
