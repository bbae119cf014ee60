-- coverage_changes summed per calendar month (month = its first day), kept
-- by the projection in the same transaction as coverage_changes (and so
-- emptied and replayed with it by a rebuild). A figure as of D, or new starts
-- over a range, then reads whole months here and at most two part-months of
-- days from coverage_changes (a part as its days, or as its month less the
-- other days), however long the range.
CREATE TABLE coverage_monthly (
    month         date NOT NULL CHECK (extract(day FROM month) = 1),
    province_code char(2) NOT NULL,
    scheme        text NOT NULL,
    starts        bigint NOT NULL DEFAULT 0,
    ends          bigint NOT NULL DEFAULT 0,
    resumed       bigint NOT NULL DEFAULT 0,
    moved_in      bigint NOT NULL DEFAULT 0,
    moved_out     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (month, province_code, scheme)
);

-- Back-filled from what is there; consumers (the only writers) wait meanwhile,
-- so no batch lands between the copy and the commit. An instance still running
-- the code from before this file would go on writing coverage_changes alone:
-- stop every reporting instance to roll this out, or rebuild the read models
-- (make rebuild-reports) once all run the new code.
LOCK TABLE coverage_changes IN SHARE MODE;
INSERT INTO coverage_monthly (month, province_code, scheme, starts, ends, resumed, moved_in,
                              moved_out)
SELECT date_trunc('month', day)::date, province_code, scheme, sum(starts), sum(ends),
       sum(resumed), sum(moved_in), sum(moved_out)
  FROM coverage_changes
 GROUP BY 1, 2, 3
 ORDER BY 1, 2, 3;  -- a month's rows together, as the projection's appends leave them
ANALYZE coverage_monthly;
