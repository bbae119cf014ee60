"""Enrolment rules: pure functions, no I/O.

``reference.json`` holds every legal parameter with its effective date and
legal basis; the service loads it once (``REFERENCE_FILE``) and passes it in.
"""
from pathlib import Path

REFERENCE_FILE = Path(__file__).parent / "reference.json"
