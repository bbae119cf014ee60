"""JSON log lines for log shippers: no exception message, which may quote personal data."""
import json
import logging
import sys

from shared.logs import JsonFormatter


def test_json_log_lines_carry_no_exception_message():
    message = "citizen " + "001085000001" + " broke it"
    try:
        raise ValueError(message)
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "handler failed with %s",
                                   ("ValueError",), exc_info=sys.exc_info())
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "handler failed with ValueError"
    assert line["exception"].startswith("ValueError") and "001085000001" not in line["exception"]
