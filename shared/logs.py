"""One JSON object per log line, for log shippers (``LOG_FORMAT=json``).

Fields: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message`` and,
for errors, ``exception`` (the type and the stack, never the exception's
message, which may quote personal data).
"""
import datetime as dt
import json
import logging
import traceback


class JsonFormatter(logging.Formatter):
    def format(self, record):
        entry = {"time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(),
                 "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = record.exc_info[0].__name__ + "\n" + "".join(
                traceback.format_tb(record.exc_info[2]))
        return json.dumps(entry, ensure_ascii=False)
