"""Benefit rules: pensions, lump sums and unemployment benefit as pure functions, no I/O.

``reference.json`` holds every legal parameter with its effective date and
legal basis; the service loads it once (``REFERENCE_FILE``) and passes it in.
Every rule returns a ``Decision`` whose explanation cites the rows it used.
"""
from pathlib import Path

REFERENCE_FILE = Path(__file__).parent / "reference.json"
