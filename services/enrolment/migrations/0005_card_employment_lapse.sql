-- An employment's card belongs to that employment, so ending one of two
-- open employments never closes the other's card.
ALTER TABLE cards ADD COLUMN employment_id bigint REFERENCES employments;
UPDATE cards c SET employment_id = s.employment_id
  FROM salary_history s
 WHERE c.reason = 'employment' AND s.source_event_id = c.source_event_id;

-- Paid cover (voluntary SI, household and other cards) lapses when its
-- period ends; the sweep looks for active periods past their end.
CREATE INDEX coverages_paid_active_end ON coverages (valid_to)
    WHERE status = 'active' AND employment_id IS NULL;

-- Months of voluntary SI that got state support count against the lifetime limit.
CREATE INDEX contributions_supported ON contributions (citizen_id)
    WHERE scheme = 'voluntary_si' AND state_support > 0;
