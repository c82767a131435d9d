-- Every commit that raises counts_version (0007) tells listeners at once: NOTIFY on the channel
-- kpi_counts_changed, payload the new version. PostgreSQL delivers a notification when its
-- transaction commits (never for one rolled back), so a publisher listening can refresh as soon
-- as new counts are visible instead of finding them at its next look, which left the gauges up
-- to publisher.interval_ms behind every commit (2 s by default, the whole of the 2-second goal
-- for event-to-metric latency). The publisher still looks every interval: a notification sent
-- while its listening connection was down is lost.
--
-- A trigger, not a NOTIFY in the engine's code: every writer of the counts notifies, and the
-- version's row lock already orders the writers.
CREATE FUNCTION notify_counts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('kpi_counts_changed', NEW.version::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER counts_changed_notified
    AFTER UPDATE OF version ON counts_version
    FOR EACH ROW EXECUTE FUNCTION notify_counts_changed();
