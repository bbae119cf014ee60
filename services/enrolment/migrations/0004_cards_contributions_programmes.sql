-- HI cards (one valid at a time, all kept), contributions per month, and
-- sponsored programmes with the grants made under them.

CREATE TABLE cards (
    id            bigserial PRIMARY KEY,
    card_number   char(15) NOT NULL,
    citizen_id    char(12) NOT NULL REFERENCES people,
    group_code    char(2) NOT NULL,
    benefit_level smallint NOT NULL CHECK (benefit_level BETWEEN 1 AND 5),
    valid_from    date NOT NULL,
    valid_to      date,                  -- open while an employment lasts
    status        text NOT NULL DEFAULT 'valid'
                  CHECK (status IN ('valid', 'superseded', 'invalidated')),
    issued_on     date NOT NULL,
    reason        text NOT NULL,         -- first / renewal / replacement / ...
    source_event_id text NOT NULL
);
CREATE UNIQUE INDEX cards_one_valid ON cards (citizen_id) WHERE status = 'valid';
CREATE INDEX cards_citizen ON cards (citizen_id, id);

CREATE TABLE contributions (
    id                bigserial PRIMARY KEY,
    citizen_id        char(12) NOT NULL REFERENCES people,
    scheme            text NOT NULL CHECK (scheme IN ('compulsory', 'voluntary_si', 'household_hi')),
    month             date NOT NULL,     -- the first day of the month paid for
    contribution_wage bigint,
    amount            bigint NOT NULL,   -- what the payer paid for this month
    state_support     bigint NOT NULL DEFAULT 0,
    household_id      text,
    household_position smallint,
    channel           text,
    employment_id     bigint REFERENCES employments,
    details           jsonb NOT NULL DEFAULT '{}',
    source_event_id   text NOT NULL
);
CREATE UNIQUE INDEX contributions_once ON contributions
    (citizen_id, scheme, month, coalesce(employment_id, 0));
CREATE INDEX contributions_household ON contributions (household_id, month)
    WHERE household_id IS NOT NULL;

CREATE TABLE programmes (
    programme_code text PRIMARY KEY,
    name           text NOT NULL,
    sponsors       jsonb NOT NULL,       -- list of sponsor names
    goal_books     integer NOT NULL CHECK (goal_books >= 0),
    goal_cards     integer NOT NULL CHECK (goal_cards >= 0),
    budget         bigint NOT NULL CHECK (budget >= 0),
    spent          bigint NOT NULL DEFAULT 0,
    books          integer NOT NULL DEFAULT 0,
    cards          integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (spent <= budget)
);

CREATE TABLE sponsorships (
    event_id       text PRIMARY KEY,
    programme_code text NOT NULL REFERENCES programmes,
    sponsor        text NOT NULL,
    citizen_id     char(12) NOT NULL REFERENCES people,
    benefit        text NOT NULL CHECK (benefit IN ('health_card', 'si_book')),
    months         smallint NOT NULL,
    amount         bigint NOT NULL,
    granted_on     date NOT NULL
);
