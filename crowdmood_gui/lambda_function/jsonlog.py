"""Structured logging: one JSON object per line on stdout (CloudWatch Logs Insights parses it).

No third-party dependency (no Powertools in the zip): a ``logging.Formatter`` that renders
the message plus any ``extra=`` fields.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service
        self.context: dict[str, object] = {}  # e.g. the request id, set per invocation

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "message": record.getMessage(),
            **self.context,
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is at emit time (test capture, the Lambda runtime)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stdout

    @stream.setter
    def stream(self, _value) -> None:
        pass


def get_logger(service: str = "rekognize-emotions") -> tuple[logging.Logger, JsonFormatter]:
    """A logger named after the service with one stdout JSON handler (idempotent)."""
    logger = logging.getLogger(service)
    for handler in logger.handlers:
        if isinstance(handler.formatter, JsonFormatter):
            return logger, handler.formatter
    formatter = JsonFormatter(service)
    handler = _StdoutHandler()
    handler.setFormatter(formatter)
    logger.addHandler(handler)
    logger.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    logger.propagate = False  # the Lambda runtime's root handler would print it a second time
    return logger, formatter
