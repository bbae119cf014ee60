-- Tables every service needs for exactly-once consumption, reliable
-- publication, dead letters and the audit log.

CREATE TABLE inbox (
    event_id    text PRIMARY KEY,
    event_type  text NOT NULL,
    status      text NOT NULL,           -- applied / rejected / held / dead
    received_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    event_id        uuid NOT NULL UNIQUE,
    exchange        text NOT NULL,
    event_type      text NOT NULL,
    body            jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text
);
CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;

CREATE TABLE dead_letters (
    id          bigserial PRIMARY KEY,
    queue       text NOT NULL,
    event_id    text,
    routing_key text,
    reason      text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_log (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    method    text NOT NULL,
    role      text,
    token_ref text,                      -- a prefix of the token's hash, never the token
    outcome   text NOT NULL,             -- ok / refused / failed
    detail    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at);
