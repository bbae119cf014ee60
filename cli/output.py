"""Printing results: rich tables for people, JSON (``--json``) and CSV for programs."""
import csv
import json

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text


def vnd(amount):
    """``1,234,000 VND``, or an empty string for no amount."""
    return "" if amount is None else f"{amount:,} VND"


def text(value):
    """A cell: empty for None, JSON for booleans, lists and mappings, else str."""
    if value is None:
        return ""
    if isinstance(value, (bool, dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


class Output:
    """Where a command prints; ``as_json`` switches every result to raw JSON."""

    def __init__(self, as_json=False):
        self.as_json = as_json
        # soft_wrap off and no highlighting: values are data, not prose
        self.console = Console(highlight=False)

    def json(self, value):
        click.echo(json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True))

    def print(self, *objects, **kwargs):
        self.console.print(*objects, **kwargs)

    def table(self, title, columns, rows, styles=None):
        """A rich table of ``rows`` (lists of cells); ``styles`` gives a style per row.

        No rows print ``title: none`` rather than an empty frame.
        """
        if not rows:
            self.console.print(f"{title}: none", markup=False)
            return
        table = Table(title=title, title_justify="left", show_lines=False)
        for column in columns:
            table.add_column(column, overflow="fold")
        for index, row in enumerate(rows):
            table.add_row(*[Text(text(cell)) for cell in row],
                          style=styles[index] if styles else None)
        self.console.print(table)

    def fields(self, title, pairs):
        """A two-column table of ``(label, value)`` pairs."""
        table = Table(title=title, title_justify="left", show_header=False)
        table.add_column(style="bold")
        table.add_column(overflow="fold")
        for label, value in pairs:
            table.add_row(label, Text(text(value)))
        self.console.print(table)

    def records(self, title, rows):
        """Rows of mappings as a table whose columns are their keys, in first-seen order."""
        columns = row_keys(rows)
        self.table(title, columns, [[row.get(key) for key in columns] for row in rows])


def row_keys(rows):
    """Every key of ``rows``, in the order first seen."""
    keys = {}
    for row in rows:
        keys.update(dict.fromkeys(row))
    return list(keys)


def write_csv(rows, handle):
    """``rows`` (mappings) as CSV: a header of their keys, nested values as JSON.

    No rows give an empty file: there is no header to take the keys from.
    """
    if not rows:
        return
    columns = row_keys(rows)
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([text(row.get(key)) for key in columns])
