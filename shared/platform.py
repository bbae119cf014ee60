"""RPC every service offers besides its own: health and the audit log."""
from nameko.rpc import rpc

from shared.auth import authorised
from shared.errors import EXPECTED, ValidationError
from shared.outbox import UnitOfWork, backlog


def check_limit(limit, maximum=1000):
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= maximum:
        raise ValidationError({"limit": [f"invalid_range: an integer from 1 to {maximum}"]})


class PlatformRpc:
    """Mixed into each service class; expects ``db``, ``auth`` and ``relay`` dependencies
    and the ``events_exchange`` the service publishes on."""

    def _changing(self, operation, *args):
        """``operation(uow, *args)`` with its events and the call's audit row in one transaction."""
        with self.db.transaction() as cur:
            uow = UnitOfWork(cur, self.events_exchange)
            result = operation(uow, *args)
            self.auth.audit(cur)
            uow.flush()
        self.relay.wake()
        return result

    @rpc
    def health(self):
        """Liveness for probes and ``make up``: no token needed, no personal data.

        Returns ``{service, status, outbox: {unsent, unroutable, oldest_seconds},
        dead_letters}`` where ``unroutable`` counts the unsent events that wait
        because no queue is bound to their type, and ``dead_letters`` counts
        messages this service has ever dead-lettered.
        """
        with self.db.transaction() as cur:
            outbox = backlog(cur)
            cur.execute("SELECT count(*) AS n FROM dead_letters")
            dead = cur.fetchone()["n"]
        return {"service": self.name, "status": "ok", "outbox": outbox, "dead_letters": dead}

    @rpc(expected_exceptions=EXPECTED)
    @authorised("auditor")
    def audit_log(self, after_id=0, limit=100):
        """Audit rows after ``after_id``, oldest first (auditor).

        Each row: ``{id, at, method, role, token_ref, outcome, detail}``;
        ``token_ref`` is a prefix of the token's hash, never the token.
        """
        check_limit(limit)
        if not isinstance(after_id, int) or isinstance(after_id, bool) or after_id < 0:
            raise ValidationError({"after_id": ["invalid_type: a non-negative integer"]})
        with self.db.transaction() as cur:
            cur.execute("SELECT id, at, method, role, token_ref, outcome, detail FROM audit_log"
                        " WHERE id > %s ORDER BY id LIMIT %s", (after_id, limit))
            rows = cur.fetchall()
        return [dict(row, at=row["at"].isoformat()) for row in rows]
