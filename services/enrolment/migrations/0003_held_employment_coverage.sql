-- Events waiting for their person, employments with their salary history,
-- coverage periods per scheme, and SI books.

CREATE TABLE held_events (
    seq         bigserial PRIMARY KEY,   -- arrival order: held events replay in it
    event_id    text NOT NULL UNIQUE,
    citizen_id  char(12) NOT NULL,
    event_type  text NOT NULL,
    source      text NOT NULL,
    body        text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX held_events_citizen ON held_events (citizen_id, seq);
CREATE INDEX held_events_age ON held_events (received_at);

ALTER TABLE people ADD COLUMN date_of_death date;

CREATE TABLE employments (
    id            bigserial PRIMARY KEY,
    citizen_id    char(12) NOT NULL REFERENCES people,
    employer_code text NOT NULL,
    region        smallint NOT NULL CHECK (region BETWEEN 1 AND 4),
    group_code    char(2) NOT NULL,
    start_date    date NOT NULL,
    end_date      date,
    end_reason    text,
    CHECK (end_date IS NULL OR end_date >= start_date)
);
CREATE UNIQUE INDEX employments_one_open ON employments (citizen_id, employer_code)
    WHERE end_date IS NULL;

CREATE TABLE salary_history (
    employment_id  bigint NOT NULL REFERENCES employments,
    effective_date date NOT NULL,
    monthly_salary bigint NOT NULL CHECK (monthly_salary > 0),
    source_event_id text NOT NULL,
    PRIMARY KEY (employment_id, effective_date)
);

CREATE TABLE coverages (
    id              bigserial PRIMARY KEY,
    citizen_id      char(12) NOT NULL REFERENCES people,
    scheme          text NOT NULL
                    CHECK (scheme IN ('compulsory_si', 'voluntary_si', 'health', 'unemployment')),
    group_code      char(2),
    valid_from      date NOT NULL,
    valid_to        date,
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'ended')),
    employment_id   bigint REFERENCES employments,
    source_event_id text NOT NULL
);
CREATE INDEX coverages_citizen ON coverages (citizen_id, scheme);

CREATE TABLE books (
    citizen_id  char(12) PRIMARY KEY REFERENCES people,
    book_number char(10) NOT NULL UNIQUE,
    issued_on   date NOT NULL
);
