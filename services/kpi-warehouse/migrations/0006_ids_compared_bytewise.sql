-- Event ids and person pseudonyms are hex strings compared only for equality (and kept in B-tree
-- order), never sorted for a reader, so their columns use the "C" collation: PostgreSQL then
-- compares them with memcmp instead of through the database's locale (C.UTF-8 here goes through
-- strcoll). Recording a 20,000-event batch into a 1,000,000-row events_seen took about 8 % less
-- time (psql, warm, 3 runs each: 405 ms against 370 ms). Storing the ids as 32-byte bytea would
-- take 27 % off (295 ms), but needs the engine to convert every id; not done yet. Only the
-- collation changes here: every value, and every equality, stays as it was; PostgreSQL rebuilds
-- the indexes concerned.
ALTER TABLE events_seen
    ALTER COLUMN event_id TYPE text COLLATE "C",
    ALTER COLUMN person TYPE text COLLATE "C";
ALTER TABLE retractions
    ALTER COLUMN target_event_id TYPE text COLLATE "C",
    ALTER COLUMN retraction_event_id TYPE text COLLATE "C";
