-- Benefits' own copy of the people it may pay, built from enrolment's events.
CREATE TABLE people (
    citizen_id    char(12) PRIMARY KEY,
    si_code       char(10) NOT NULL,
    date_of_birth date NOT NULL,
    sex           text NOT NULL,
    province_code char(2) NOT NULL,
    status        text NOT NULL DEFAULT 'active',
    registered_on date NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
