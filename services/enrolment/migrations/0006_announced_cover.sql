-- The coverage period whose coverage_started announced the person's entry
-- into a scheme: its HI group is the group the person is counted under
-- until they leave the scheme, so coverage_ended can name the same group.
-- For periods recorded before this column, the latest period of each
-- person and scheme stands for the current stay.
ALTER TABLE coverages ADD COLUMN announced boolean NOT NULL DEFAULT false;
UPDATE coverages c SET announced = true
  WHERE id = (SELECT max(id) FROM coverages f WHERE f.citizen_id = c.citizen_id
                 AND f.scheme = c.scheme);
