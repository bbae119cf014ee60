-- Read models built from events, aggregates only (reporting keeps no row
-- per person). Province codes are stored as the events carried them (the
-- unit the record was made in); queries map them to today's units.

-- Changes of participation by day: a coverage_started counts from its
-- valid_from, a coverage_ended from the day after its valid_to, a
-- registration from its registration date, a province correction on its
-- day. The figures as of D are the sum of the changes up to D.
CREATE TABLE coverage_changes (
    day           date NOT NULL,
    province_code char(2) NOT NULL,
    scheme        text NOT NULL,
    starts        bigint NOT NULL DEFAULT 0,
    ends          bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, province_code, scheme)
);

-- Denominators per province (or 'VN') and year, with where the figure comes from.
CREATE TABLE denominators (
    province_code char(2) NOT NULL,
    year          integer NOT NULL,
    population    bigint,
    labour_force  bigint,
    working_age_labour_force bigint,
    source        text NOT NULL,
    verify        boolean NOT NULL DEFAULT false,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (province_code, year)
);

CREATE TABLE targets (
    target_id     bigserial PRIMARY KEY,
    year          integer NOT NULL,
    province_code char(2) NOT NULL,           -- a province of today's map, or 'VN'
    scheme        text NOT NULL,
    measure       text NOT NULL CHECK (measure IN ('new_participants', 'coverage_rate')),
    name          text NOT NULL DEFAULT '',   -- a campaign's name; '' for the yearly target
    starts_on     date NOT NULL,
    ends_on       date NOT NULL,
    target        numeric NOT NULL CHECK (target > 0),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (year, province_code, scheme, measure, name),
    CHECK (ends_on >= starts_on)
);

-- Benefits paid per month, province and kind (from payment_run_completed).
CREATE TABLE benefit_payments (
    month         date NOT NULL,
    province_code char(2) NOT NULL,
    kind          text NOT NULL,
    payments      bigint NOT NULL DEFAULT 0,
    amount        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (month, province_code, kind)
);

-- Claims decided per month of the claim, province, kind and outcome.
CREATE TABLE claim_decisions (
    month         date NOT NULL,
    province_code char(2) NOT NULL,
    kind          text NOT NULL,
    status        text NOT NULL,
    claims        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (month, province_code, kind, status)
);

CREATE TABLE programmes (
    programme_code text PRIMARY KEY,
    name           text NOT NULL,
    sponsors       jsonb NOT NULL,
    goal_books     integer NOT NULL,
    goal_cards     integer NOT NULL,
    budget         bigint NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- Grants per programme, sponsor and province.
CREATE TABLE programme_grants (
    programme_code text NOT NULL,
    sponsor        text NOT NULL,
    province_code  char(2) NOT NULL,
    grants         bigint NOT NULL DEFAULT 0,
    health_cards   bigint NOT NULL DEFAULT 0,
    si_books       bigint NOT NULL DEFAULT 0,
    amount         bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (programme_code, sponsor, province_code)
);

-- Who a programme reached, to count people once: a hash of programme and
-- citizen id, never the id itself (not a secret: ids can be enumerated).
CREATE TABLE programme_people (
    programme_code text NOT NULL,
    person_key     text NOT NULL,
    PRIMARY KEY (programme_code, person_key)
);

-- When each read model last changed, for "as of" on every figure.
CREATE TABLE read_model_clock (
    name       text PRIMARY KEY,
    changed_at timestamptz NOT NULL DEFAULT now()
);
