ALTER TABLE people ADD COLUMN date_of_death date;
