-- Rejected intake events per day, source system and event type.
CREATE TABLE rejection_counts (
    day        date NOT NULL,
    source     text NOT NULL,
    event_type text NOT NULL,
    rejections bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, source, event_type)
);
