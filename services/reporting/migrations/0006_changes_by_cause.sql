-- Why participation changed on a day: a new start, a lapsed paid period
-- taken up again, a move between provinces, or an end. "New participants"
-- counts only new starts; the figures as of a day count all of them.
ALTER TABLE coverage_changes
    ADD COLUMN resumed   bigint NOT NULL DEFAULT 0,
    ADD COLUMN moved_in  bigint NOT NULL DEFAULT 0,
    ADD COLUMN moved_out bigint NOT NULL DEFAULT 0;
