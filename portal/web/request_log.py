"""Request lines in the access logs never carry a customer's private link (security.md I4, M4).

`/track/<token>` is a bearer secret (ASVS 7.1.1): whoever reads the log could open the case. The
development server logs each request line on the `werkzeug` logger and gunicorn on
`gunicorn.access`; a filter on each rewrites `/track/<token>` to `/track/<redacted>` before any
handler sees the record. Both loggers live in the process that serves the app, so the factory
installs the filter once for both (gunicorn's access log included, whatever its format).
"""

from __future__ import annotations

import logging
import re

ACCESS_LOGGERS = ("werkzeug", "gunicorn.access")
TRACK_PATH = re.compile(r"/track/[^\s\"'?#]+")
REDACTED = "/track/<redacted>"


class TrackingLinkRedaction(logging.Filter):
    """Rewrites the record's message when it names a tracking link; lets every record through."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record is the handler's to report, not ours
            return True
        if "/track/" in message:
            # The formatted message replaces format and arguments: the token may be in either
            # (werkzeug passes the request line as an argument, gunicorn a dict of atoms).
            record.msg = TRACK_PATH.sub(REDACTED, message)
            record.args = None
        return True


def install_redaction() -> None:
    """Add the filter to the access loggers, once however many apps this process creates."""
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, TrackingLinkRedaction) for existing in logger.filters):
            logger.addFilter(TrackingLinkRedaction())
