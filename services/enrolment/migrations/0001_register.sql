-- The register of people and the record of rejected intake events.

CREATE SEQUENCE si_serial;

CREATE TABLE people (
    citizen_id      char(12) PRIMARY KEY,
    si_code         char(10) NOT NULL UNIQUE,
    full_name       text NOT NULL,
    date_of_birth   date NOT NULL,
    sex             text NOT NULL CHECK (sex IN ('male', 'female')),
    province_code   char(2) NOT NULL,
    district_code   text,
    commune_code    text,
    household_id    text,
    ethnic_minority boolean NOT NULL DEFAULT false,
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'deceased')),
    registered_on   date NOT NULL,
    source_event_id text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE rejections (
    event_id    text PRIMARY KEY,
    event_type  text,
    source      text,
    reasons     jsonb NOT NULL,
    body        text,                    -- the message as received, for re-submission after a fix
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rejections_received ON rejections (received_at, event_id);
