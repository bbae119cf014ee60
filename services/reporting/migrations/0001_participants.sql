-- Aggregates only: reporting never keeps a row per person.
CREATE TABLE participant_counts (
    province_code char(2) NOT NULL,
    scheme        text NOT NULL,
    participants  bigint NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (province_code, scheme)
);
