-- A version per calendar month of the roll-up: whatever writes coverage_monthly
-- (a projection batch, a rebuild's replay, an instance still running older code
-- during a rolling upgrade, a correction by hand) gives each month it touched a
-- new number, from a sequence that never goes back (a TRUNCATE keeps it), in
-- the same statement, by the triggers below. A month whose version is what it
-- was has the same rows, so sums over months whose versions are all unchanged
-- can be kept between calls (store.SettledSums): a batch of today's events
-- renews only this month's version, and the national views then read the last
-- two months rather than every month of their range.
CREATE SEQUENCE coverage_month_version;

CREATE TABLE coverage_month_clock (
    month   date PRIMARY KEY CHECK (extract(day FROM month) = 1),
    version bigint NOT NULL DEFAULT nextval('coverage_month_version')
);

CREATE FUNCTION coverage_month_renew() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- in month order, as concurrent batches lock the roll-up's rows
    INSERT INTO coverage_month_clock AS k (month)
    SELECT DISTINCT month FROM changed ORDER BY 1
    ON CONFLICT (month) DO UPDATE SET version = nextval('coverage_month_version');
    RETURN NULL;
END $$;

CREATE TRIGGER coverage_monthly_inserted AFTER INSERT ON coverage_monthly
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION coverage_month_renew();
CREATE TRIGGER coverage_monthly_updated AFTER UPDATE ON coverage_monthly
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION coverage_month_renew();
CREATE TRIGGER coverage_monthly_deleted AFTER DELETE ON coverage_monthly
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION coverage_month_renew();

-- every month there is so far (consumers wait: no batch lands in between)
LOCK TABLE coverage_changes, coverage_monthly IN SHARE MODE;
INSERT INTO coverage_month_clock (month)
SELECT DISTINCT month FROM coverage_monthly ORDER BY 1;
