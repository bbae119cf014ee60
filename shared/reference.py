"""Rules as dated data: one loader for every service's reference file.

A reference file is JSON: ``{"version": ..., "parameters": {name: [row, ...]}}``
where each row has ``from`` (ISO date), ``value`` and ``basis`` (the legal
basis), and may say ``"verify": true`` where the figure comes from a single
secondary source. A lookup takes ``as_of`` and returns the row in force then,
so a computation can quote both the value and where it comes from.
"""
import bisect
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path


class OutOfRange(LookupError):
    """``as_of`` is before the first row of a parameter: the data says nothing."""


@dataclass(frozen=True)
class Rule:
    name: str
    value: object
    valid_from: dt.date
    basis: str
    verify: bool = False

    def cite(self):
        note = " (verify)" if self.verify else ""
        return f"{self.basis}, in force from {self.valid_from.isoformat()}{note}"


class ReferenceData:
    def __init__(self, document):
        self.version = document["version"]
        self._rules = {}
        for name, rows in document["parameters"].items():
            rules = sorted((Rule(name, r["value"], dt.date.fromisoformat(r["from"]), r["basis"],
                                 bool(r.get("verify"))) for r in rows), key=lambda r: r.valid_from)
            self._rules[name] = rules

    @classmethod
    def load(cls, path):
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))

    def rule(self, name, as_of):
        """The row of ``name`` in force on ``as_of``."""
        rules = self._rules[name]
        index = bisect.bisect_right([r.valid_from for r in rules], as_of) - 1
        if index < 0:
            raise OutOfRange(f"{name}: no value before {rules[0].valid_from.isoformat()}")
        return rules[index]

    def value(self, name, as_of):
        return self.rule(name, as_of).value

    def history(self, name):
        return list(self._rules[name])
