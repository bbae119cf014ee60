"""Reporting rules: how events move the aggregates. Pure, no I/O."""
