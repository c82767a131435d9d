-- Event ids and person pseudonyms are kept as the 32 bytes they spell instead of as 64 hex
-- characters. Every one is an HMAC-SHA-256 pseudonym written by kpi-ingest (64 lowercase hex
-- digits; the engine refuses a canonical record whose ids are not, see kpi_core::pseudonym), so
-- nothing is lost: encode(event_id, 'hex') gives back the text as it was.
--
-- Recording a batch's events is the largest step of an engine batch (PERFORMANCE.md), and every
-- id it records goes into the unique index on event_id and the index on person: random values,
-- each at a random leaf of indexes that outgrow shared_buffers. As bytes that index is 74 MB against 119 MB
-- at 1,000,000 rows (the person index 17 against 21), and a COPY of 20,000 rows into such a table
-- took 498-711 ms against 689-1,099 ms as text (psql, six alternating runs each, on a loaded
-- machine). The engine converts at the warehouse boundary (kpi_warehouse::engine); readers that
-- want the text use encode(…, 'hex').
--
-- The change rewrites both tables and rebuilds their indexes, holding their locks meanwhile: the
-- engine waits for it when it starts (13 s for 1,000,000 events on a busy 2-core machine). It
-- fails, changing nothing, if an id is not hex.
ALTER TABLE events_seen
    ALTER COLUMN event_id TYPE bytea USING decode(event_id, 'hex'),
    ALTER COLUMN person TYPE bytea USING decode(person, 'hex');
ALTER TABLE retractions
    ALTER COLUMN target_event_id TYPE bytea USING decode(target_event_id, 'hex'),
    ALTER COLUMN retraction_event_id TYPE bytea USING decode(retraction_event_id, 'hex');
COMMENT ON COLUMN events_seen.event_id IS 'The pseudonymised event id as its 32 bytes: encode(event_id, ''hex'') spells it as in the event.';
COMMENT ON COLUMN events_seen.person IS 'The person''s pseudonym as its 32 bytes (encode(person, ''hex'')); NULL for retractions.';
