"""Operator authorisation: the ``auth_token`` context key, roles, audit log.

Tokens are only ever held as SHA-256 hashes. The development configuration
accepts ``dev-<role>-token`` for each role; production passes
``VSS_TOKEN_HASHES="role:sha256hex,..."`` and sets ``VSS_DEV_TOKENS=false``.
Every refused call and every call that changes data leaves a row in the
service's ``audit_log``.
"""
import functools
import hashlib
import json
import logging

from nameko.extensions import DependencyProvider

from shared.config import truthy
from shared.db import sibling
from shared.errors import Unauthorized

log = logging.getLogger(__name__)

ROLES = ("clerk", "assessor", "finance", "planner", "auditor", "admin")


def hash_token(token):
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_table(auth_config):
    """``{sha256 hex: role}`` from the AUTH section of the config."""
    table = {}
    if truthy(auth_config.get("dev_tokens", False)):
        table.update({hash_token(f"dev-{role}-token"): role for role in ROLES})
    hashes = str(auth_config.get("token_hashes") or "")
    for item in hashes.split(","):
        item = item.strip()
        if not item or item == "none":
            continue
        role, _, digest = item.partition(":")
        if role not in ROLES or len(digest) != 64:
            raise ValueError(f"VSS_TOKEN_HASHES: bad entry for role {role!r}")
        table[digest.lower()] = role
    return table


def write_audit(cur, method, role, token_ref, outcome, detail):
    cur.execute(
        "INSERT INTO audit_log (method, role, token_ref, outcome, detail)"
        " VALUES (%s, %s, %s, %s, %s)",
        (method, role, token_ref, outcome, json.dumps(detail, default=str, ensure_ascii=False)))


class Caller:
    """Who is calling, for one worker."""

    def __init__(self, pool, tokens, token):
        self.pool = pool
        digest = hash_token(token) if isinstance(token, str) else None
        self.role = tokens.get(digest) if digest else None
        self.token_ref = digest[:12] if digest else None
        self.audited = False
        self.method, self.detail = None, {}

    def require(self, method, roles, detail):
        self.method, self.detail = method, detail
        if self.role == "admin" or self.role in roles:
            return
        with self.pool.transaction() as cur:
            write_audit(cur, method, self.role, self.token_ref, "refused", detail)
        if self.token_ref is None:
            raise Unauthorized("no auth_token in the call's context data")
        if self.role is None:
            raise Unauthorized("unknown token")
        raise Unauthorized(f"role {self.role} may not call {method}")

    def audit(self, cur, extra=None, outcome="ok"):
        """Write the audit row of this call inside the caller's own transaction.

        The row holds the method and its arguments, and ``extra`` if given.
        """
        write_audit(cur, self.method, self.role, self.token_ref, outcome,
                    dict(self.detail, **(extra or {})))
        self.audited = True


class Auth(DependencyProvider):
    """Resolves the caller's role from the ``auth_token`` context key."""

    def __init__(self, database_attr="db"):
        self.database_attr = database_attr

    def setup(self):
        self.tokens = token_table(self.container.config.get("AUTH", {}))
        self.database = sibling(self, self.database_attr)

    def get_dependency(self, worker_ctx):
        return Caller(self.database.pool, self.tokens, worker_ctx.data.get("auth_token"))


def authorised(*roles, changes_data=False):
    """Allow the call only to ``roles`` (and admin); audit data changes.

    A data-changing method must call ``self.auth.audit(cur, ...)`` inside
    its transaction so the change and its audit row commit together. As a
    safety net, a method that forgot is audited when it returns (logged as a
    defect: that row is not atomic with the change), and one that raised
    before auditing anything is audited as ``failed``.
    """
    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(self, *args, **kwargs):
            detail = {"args": list(args), "kwargs": kwargs}
            self.auth.require(fn.__name__, roles, detail)
            try:
                result = fn(self, *args, **kwargs)
            except Exception as exc:
                if changes_data and not self.auth.audited:
                    with self.auth.pool.transaction() as cur:
                        self.auth.audit(cur, {"error": type(exc).__name__}, outcome="failed")
                raise
            if changes_data and not self.auth.audited:
                log.error("%s changed data without auditing in its transaction", fn.__name__)
                with self.auth.pool.transaction() as cur:
                    self.auth.audit(cur)
            return result
        return wrapper
    return decorate
