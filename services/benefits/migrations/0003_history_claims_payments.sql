-- What benefits keeps from enrolment's events (contribution months and
-- employments), the claims it decides, the payment runs and the flags
-- raised against abuse.

CREATE TABLE contribution_months (
    citizen_id     char(12) NOT NULL,
    month          date NOT NULL,                 -- first day of the month
    kind           text NOT NULL CHECK (kind IN ('compulsory', 'voluntary_si')),
    employer_code  text NOT NULL DEFAULT '',      -- '' for voluntary SI
    wage           bigint NOT NULL,               -- SI contribution wage or declared income
    ui_wage        bigint,                        -- UI contribution wage when UI was paid
    settled_by     bigint,                        -- the lump-sum claim that paid these months out
    source_event_id text NOT NULL,
    PRIMARY KEY (citizen_id, month, kind, employer_code)
);

CREATE TABLE employments (
    citizen_id    char(12) NOT NULL,
    employer_code text NOT NULL,
    start_date    date NOT NULL,
    region        smallint NOT NULL,
    end_date      date,
    end_reason    text,
    PRIMARY KEY (citizen_id, employer_code, start_date)
);

CREATE TABLE claims (
    claim_id        bigserial PRIMARY KEY,
    citizen_id      char(12) NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('pension', 'lump_sum', 'unemployment')),
    claim_date      date NOT NULL,
    request         jsonb NOT NULL,               -- the claim as submitted (normalised)
    request_hash    text NOT NULL,
    status          text NOT NULL CHECK (status IN ('approved', 'rejected')),
    reasons         jsonb NOT NULL DEFAULT '[]',
    monthly_amount  bigint,
    lump_sum_amount bigint,
    duration_months integer,
    start_month     date,
    end_month       date,                          -- last month due; null: for life
    explanation     jsonb NOT NULL DEFAULT '[]',
    rule_period     text,
    bank_account    text,
    province_code   char(2) NOT NULL,
    open            boolean NOT NULL,              -- approved and not yet over (see claims_one_open)
    suspended       boolean NOT NULL DEFAULT false,
    stopped_from    date,                          -- re-employment stops it from this month
    last_confirmed_alive date NOT NULL,
    decided_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (citizen_id, kind, request_hash)
);
-- One open claim per person and kind. A claim is open from its approval
-- until it is over: an unemployment benefit past its last month or stopped
-- by re-employment, a lump sum once paid; a pension stays open.
CREATE UNIQUE INDEX claims_one_open ON claims (citizen_id, kind) WHERE open;
CREATE INDEX claims_due ON claims (claim_id) WHERE status = 'approved' AND kind <> 'lump_sum';
CREATE INDEX claims_bank_account ON claims (bank_account) WHERE bank_account IS NOT NULL;

CREATE TABLE payment_runs (
    run_id        bigserial PRIMARY KEY,
    period        date NOT NULL UNIQUE,
    status        text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed')),
    upto_claim_id bigint NOT NULL,                  -- the run pays claims up to this id
    done_claim_id bigint NOT NULL DEFAULT 0,        -- progress: claims up to here are done
    payments      bigint NOT NULL DEFAULT 0,
    total_amount  bigint NOT NULL DEFAULT 0,
    skipped       jsonb NOT NULL DEFAULT '{}',
    totals        jsonb NOT NULL DEFAULT '{}',      -- {"province|kind": [payments, amount]}
    started_at    timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz
);

CREATE TABLE payments (
    payment_id    bigserial PRIMARY KEY,
    run_id        bigint NOT NULL REFERENCES payment_runs,
    claim_id      bigint NOT NULL REFERENCES claims,
    citizen_id    char(12) NOT NULL,
    kind          text NOT NULL,
    period        date NOT NULL,
    amount        bigint NOT NULL,
    province_code char(2) NOT NULL,
    UNIQUE (claim_id, period)
);
CREATE UNIQUE INDEX payments_lump_sum_once ON payments (claim_id) WHERE kind = 'lump_sum';
CREATE INDEX payments_citizen ON payments (citizen_id, period);

CREATE TABLE fraud_flags (
    flag_id     bigserial PRIMARY KEY,
    kind        text NOT NULL,                     -- paid_after_death, benefit_while_employed, ...
    citizen_id  char(12) NOT NULL,
    claim_id    bigint,
    detail      jsonb NOT NULL DEFAULT '{}',
    amount      bigint NOT NULL DEFAULT 0,         -- to recover, where money was paid
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    dedupe_key  text NOT NULL UNIQUE,              -- one flag per finding, however often it is seen
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fraud_flags_open ON fraud_flags (flag_id) WHERE status = 'open';
