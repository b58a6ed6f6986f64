"""How a handler's outcome maps onto JetStream acknowledgements, in one place.

Handlers raise ``TemporaryError`` (try again later) or ``PermanentError`` (give up and report); a
return means success. ``settle()`` turns that into ack / nak-with-delay / term.
"""

from __future__ import annotations


class TemporaryError(Exception):
    """The work could not be done now (a server down, a dependency missing); redeliver after ``delay_s``."""

    def __init__(self, message: str, delay_s: float = 1.0) -> None:
        super().__init__(message)
        self.delay_s = delay_s


class PermanentError(Exception):
    """The work can never succeed as asked (bad input); do not redeliver."""
