-- Every event reporting consumed, as received: the read models can be
-- dropped and rebuilt by replaying it.
CREATE TABLE event_archive (
    id          bigserial PRIMARY KEY,
    event_id    text NOT NULL UNIQUE,
    exchange    text NOT NULL,
    routing_key text NOT NULL,
    body        jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
