"""Log format and level of the operator process (``--log-format``, ``--log-level``).

Both formats are kopf's own (:func:`kopf.configure`), so lines about one Canary carry its
reference: the text format prefixes ``[namespace/name]``, the JSON format adds an ``object``
field (apiVersion, kind, name, uid, namespace) that log pipelines can index, beside
``message``, ``severity`` and ``timestamp``.
"""

from __future__ import annotations

import logging

import kopf

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

#: kopf's per-handler success lines for the wake-up handlers would flood the log.
_QUIET = frozenset({"Handler 'wake' succeeded.", "Handler 'wake-on-request' succeeded."})


class _QuietWakeups(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in _QUIET


def configure_logging(log_format: str = "text", level: str = "info") -> None:
    """One stderr handler on the root logger (kopf's), at ``level``."""
    if log_format == "json":
        kopf.configure(log_format=kopf.LogFormat.JSON, log_refkey="object", log_prefix=False)
    else:
        kopf.configure(log_format=TEXT_FORMAT, log_prefix=True)  # type: ignore[arg-type]
    root = logging.getLogger()
    root.setLevel(level.upper())
    logging.getLogger("kopf.objects").addFilter(_QuietWakeups())
    for noisy in ("urllib3", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


__all__ = ["LOG_FORMATS", "LOG_LEVELS", "configure_logging"]
