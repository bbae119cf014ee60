-- A version per calendar month of coverage_changes and coverage_monthly: every
-- transaction that writes either for a month writes that month's row here too
-- (Projection.write, and so a rebuild), with a new number from a sequence that
-- never goes back (a TRUNCATE keeps it). A range of months whose largest version
-- and row count are what they were has the same rows as then, so the figures
-- summed over it can be kept between calls (store.SettledSums): a batch of
-- today's events changes only this month's version, and the national views
-- then read the last two months rather than every month of their range.
CREATE SEQUENCE coverage_month_version;

CREATE TABLE coverage_month_clock (
    month   date PRIMARY KEY CHECK (extract(day FROM month) = 1),
    version bigint NOT NULL DEFAULT nextval('coverage_month_version')
);

-- every month there is so far (consumers wait: no batch lands in between)
LOCK TABLE coverage_changes, coverage_monthly IN SHARE MODE;
INSERT INTO coverage_month_clock (month)
SELECT DISTINCT month FROM coverage_monthly ORDER BY 1;
