-- A dead letter is counted once per queue and event, however often it is re-delivered.
DELETE FROM dead_letters d USING dead_letters e
 WHERE d.queue = e.queue AND d.event_id = e.event_id AND d.id > e.id;
CREATE UNIQUE INDEX dead_letters_once ON dead_letters (queue, event_id);
