"""PostgreSQL access: a small cooperative pool and the Database dependency.

Under ``nameko run`` eventlet patches psycopg2 so that queries from different
workers overlap instead of blocking the process. Every connection has
``search_path`` set to the service's own schema, so SQL in a service never
names its schema and the schema can live on any server its DSN points to.
"""
import contextlib
import logging
import threading
from pathlib import Path

import psycopg2
import psycopg2.extras
from nameko.extensions import DependencyProvider

from shared.config import database_settings
from shared.migrations import migrate

log = logging.getLogger(__name__)

INFRASTRUCTURE_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError)

# SQLSTATE classes where the server or the connection, not the statement, is
# at fault: connection exceptions, transaction rollbacks (deadlock,
# serialisation), server shutdown (57P), insufficient resources.
_RETRYABLE_SQLSTATE = ("08", "40", "57P", "53")


def is_retryable(exc):
    """True when the work should be tried again later rather than judged."""
    if isinstance(exc, psycopg2.InterfaceError):
        return True
    if isinstance(exc, psycopg2.OperationalError):
        code = exc.pgcode or ""
        return not code or code.startswith(_RETRYABLE_SQLSTATE)
    return False


class Cursor(psycopg2.extras.RealDictCursor):
    """A dict cursor that can hold writes back and send them with the next statement.

    A round trip to PostgreSQL costs far more than a small indexed write
    (measured here: 150-175 us of wall time and 75-85 us of server CPU per
    single-row INSERT sent alone, 24-31 us and 17-22 us when 200 travel in one
    string). ``defer(sql, params)`` renders a statement whose result nobody
    reads and keeps it; the next ``execute`` sends the kept statements and its
    own in one string (the server runs them in order and returns the last
    one's result), and ``Pool.transaction`` sends what is left before it
    commits. So effects happen in program order, and an error in a deferred
    statement surfaces at the next statement or the commit: the transaction
    fails as a whole, as it would have one statement earlier.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pending = []

    def defer(self, query, vars=None):
        self._pending.append(self.mogrify(query, vars))

    @property
    def pending(self):
        return len(self._pending)

    def execute(self, query, vars=None):
        if not self._pending:
            return super().execute(query, vars)
        self._pending.append(self.mogrify(query, vars))
        return super().execute(self._take())

    def flush(self):
        """Send the deferred statements now."""
        if self._pending:
            super().execute(self._take())

    def _take(self):
        joined, self._pending = b";\n".join(self._pending), []
        return joined

    def plain(self):
        """A tuple cursor on the same connection, with the deferred writes sent
        first (it would not see them otherwise). Use it as a context manager."""
        self.flush()
        return self.connection.cursor(cursor_factory=psycopg2.extensions.cursor)


def _flushing_first(name):
    def method(self, *args, **kwargs):
        self.flush()
        return getattr(super(Cursor, self), name)(*args, **kwargs)
    method.__name__ = method.__qualname__ = name
    return method


# whatever else reaches the server sends the deferred writes first
for _name in ("executemany", "copy_expert", "copy_from", "copy_to", "callproc"):
    setattr(Cursor, _name, _flushing_first(_name))


def defer(cur, sql, params=None):
    """Run ``sql`` with ``cur``'s next statement (``Cursor.defer``): its result is
    not read. A cursor that cannot defer runs it now."""
    if isinstance(cur, Cursor):
        cur.defer(sql, params)
    else:
        cur.execute(sql, params)


def fetch_tuples(cur, sql, params=None):
    """The rows of ``sql`` as plain tuples, in ``cur``'s transaction; ``cur``'s deferred
    statements go first, in the same round trip (``Cursor.plain`` would send them in
    one of their own)."""
    return _fetch_plain(cur, sql, params)[1]


def fetch_dicts(cur, sql, params=None):
    """As ``fetch_tuples``, each row a plain dict: for reads of many rows, a
    ``RealDictRow`` costs several times more to build."""
    names, rows = _fetch_plain(cur, sql, params)
    return [dict(zip(names, row)) for row in rows]


def _fetch_plain(cur, sql, params):
    with cur.connection.cursor(cursor_factory=psycopg2.extensions.cursor) as plain:
        statement = plain.mogrify(sql, params)  # first: a statement that cannot be
        if isinstance(cur, Cursor) and cur.pending:  # rendered leaves the deferred ones held
            statement = cur._take() + b";\n" + statement
        plain.execute(statement)
        return [column.name for column in plain.description], plain.fetchall()


def plain_cursor(cur):
    """A tuple cursor in ``cur``'s transaction that sees its deferred writes."""
    if isinstance(cur, Cursor):
        return cur.plain()
    return cur.connection.cursor(cursor_factory=psycopg2.extensions.cursor)


def connect(dsn, schema):
    # Keepalives let a dead server be noticed on an idle connection too.
    # named vss-<schema> (pg_stat_activity tells the services apart) unless the DSN names it
    named = "application_name" in psycopg2.extensions.parse_dsn(dsn)
    return psycopg2.connect(
        dsn, options=f"-c search_path={schema}", cursor_factory=Cursor,
        **({} if named else {"application_name": f"vss-{schema}"}),
        keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3)


class Pool:
    """At most ``size`` connections; callers wait for a free one."""

    def __init__(self, dsn, schema, size):
        self.dsn, self.schema = dsn, schema
        self._idle = []
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()

    def _acquire(self):
        self._slots.acquire()
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None or conn.closed:
            try:
                conn = connect(self.dsn, self.schema)
            except Exception:
                self._slots.release()
                raise
        return conn

    def _release(self, conn):
        if not conn.closed:
            with self._lock:
                self._idle.append(conn)
        self._slots.release()

    @contextlib.contextmanager
    def transaction(self):
        """A cursor whose work is committed when the block ends without error."""
        conn = self._acquire()
        try:
            with conn.cursor() as cur:
                yield cur
                cur.flush()
            conn.commit()
        except BaseException as exc:
            if isinstance(exc, INFRASTRUCTURE_ERRORS) and is_retryable(exc):
                # The server went away or restarted: every idle connection is
                # as dead as this one, so none is handed out again.
                conn.close()
                self.close()
            elif not conn.closed:
                try:
                    conn.rollback()
                except INFRASTRUCTURE_ERRORS:
                    conn.close()
            raise
        finally:
            self._release(conn)

    def close(self):
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class Database(DependencyProvider):
    """Gives workers the service's pool; migrates the schema before start.

    Migrations run in ``setup`` so a service never consumes a message against
    an out-of-date schema; the runner's advisory lock makes it safe for
    several instances to start at once.
    """

    def __init__(self, migrations_dir):
        self.migrations_dir = Path(migrations_dir)

    def setup(self):
        config = self.container.config
        dsn, schema = database_settings(config, self.container.service_name)
        migrate(dsn, schema, self.migrations_dir)
        size = int(config.get("max_workers", 10)) + 4
        self.pool = Pool(dsn, schema, size)

    def stop(self):
        self.pool.close()

    def get_dependency(self, worker_ctx):
        return self.pool


def sibling(extension, attr_name):
    """The bound dependency provider ``attr_name`` of the same container.

    Providers are declared on the class but bound per container, so one
    provider finds another through the container, not the declaration.
    """
    for dependency in extension.container.dependencies:
        if dependency.attr_name == attr_name:
            return dependency
    raise LookupError(f"{extension.container.service_name} has no dependency {attr_name!r}")
