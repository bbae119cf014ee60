-- The relay no longer marks each published row: it keeps how far it has
-- published (outbox_relay.sent_upto) and publishes the rows after it in id
-- order. Writers take a per-schema lock before they append to the outbox and
-- hold it to their commit (shared.outbox.APPEND_LOCK), so ids follow commit
-- order and no row can become visible behind the relay's position.
--
-- A row the broker returned (no queue bound to its type) is set aside as
-- `held` and tried on its own schedule; `sent_at` is set only on such rows,
-- when they are finally published or given up.

CREATE TABLE outbox_relay (
    only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    sent_upto bigint NOT NULL,
    moved_at  timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE outbox ADD COLUMN held boolean NOT NULL DEFAULT false;

-- what was waiting when this ran goes through the held path, still in id order
UPDATE outbox SET held = true WHERE sent_at IS NULL;
INSERT INTO outbox_relay (sent_upto) SELECT coalesce(max(id), 0) FROM outbox;

DROP INDEX outbox_unsent;
CREATE INDEX outbox_held ON outbox (id) WHERE held;

-- rows not yet published: after the relay's position, or set aside
CREATE VIEW outbox_unsent AS
    SELECT o.* FROM outbox o WHERE o.id > (SELECT sent_upto FROM outbox_relay) AND NOT o.held
    UNION ALL
    SELECT o.* FROM outbox o WHERE o.held;
