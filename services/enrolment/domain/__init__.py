"""Enrolment rules: pure functions, no I/O."""
