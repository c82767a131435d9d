-- A person's events are kept once, each in its events_seen row, instead of as one jsonb of the
-- person's whole history in person_state. Before, every batch rewrote the whole history of every
-- person it touched: serialising it cost the engine, and compressing it into TOAST cost
-- PostgreSQL, more with every event a person gained (a profile of `kpi bench` found
-- pglz_compress the largest single cost in PostgreSQL). Now a batch writes only what it adds;
-- the engine rebuilds a person from their rows (retracted ones included, so that a re-delivery
-- stays a duplicate) and the applied retractions that target them.
ALTER TABLE events_seen ADD COLUMN event jsonb;
COMMENT ON COLUMN events_seen.event IS 'The pseudonymised event as applied (its person is the row''s person); NULL for retractions.';

-- Carry existing state over, so that no replay from the start of the topic is needed.
UPDATE events_seen s SET event = e.value
FROM person_state p, jsonb_each(p.state -> 'events') e
WHERE s.event_id = e.key AND s.person = p.person;

-- The engine reads the persons a batch touches by person.
CREATE INDEX events_seen_person ON events_seen (person) WHERE person IS NOT NULL;

DROP TABLE person_state;
