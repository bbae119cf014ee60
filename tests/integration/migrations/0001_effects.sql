-- A table of side effects: no unique key, so a double application would show.
CREATE TABLE effects (
    id       bigserial PRIMARY KEY,
    event_id text NOT NULL,
    note     text
);
