"""Numbered SQL migrations per schema, recorded in ``<schema>.schema_migrations``.

The reliability tables every service needs (inbox, outbox, audit log, dead
letters) live in ``shared/migrations`` and are applied first; then the
service's own ``migrations/NNNN_name.sql`` in order. A session advisory lock
per schema serialises instances that start at the same moment.
"""
import logging
from pathlib import Path

import psycopg2

log = logging.getLogger(__name__)

SHARED_DIR = Path(__file__).resolve().parent / "migrations"


def pending_files(service_dir):
    """All migration files in the order they apply, keyed ``origin/file``."""
    files = [("shared/" + p.name, p) for p in sorted(SHARED_DIR.glob("*.sql"))]
    service_dir = Path(service_dir)
    origin = service_dir.parent.name
    files += [(f"{origin}/{p.name}", p) for p in sorted(service_dir.glob("*.sql"))]
    return files


def migrate(dsn, schema, service_dir):
    """Apply what is missing; returns the names applied by this call."""
    applied_now = []
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(hashtext(%s))", ("vss-migrate:" + schema,))
            cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            cur.execute(
                f'CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations ('
                " name text PRIMARY KEY,"
                " applied_at timestamptz NOT NULL DEFAULT now())")
            conn.commit()
            cur.execute(f'SELECT name FROM "{schema}".schema_migrations')
            done = {row[0] for row in cur.fetchall()}
            for name, path in pending_files(service_dir):
                if name in done:
                    continue
                cur.execute(f'SET LOCAL search_path TO "{schema}"')
                cur.execute(path.read_text())
                cur.execute(
                    f'INSERT INTO "{schema}".schema_migrations (name) VALUES (%s)', (name,))
                conn.commit()
                applied_now.append(name)
                log.info("schema %s: applied %s", schema, name)
            cur.execute("SELECT pg_advisory_unlock(hashtext(%s))", ("vss-migrate:" + schema,))
            conn.commit()
    finally:
        conn.close()
    return applied_now
