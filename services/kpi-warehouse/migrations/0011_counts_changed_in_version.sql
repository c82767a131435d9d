-- Each count row names the counts version (0007) of the commit that last changed it, so that the
-- publisher can read only the rows changed since the version it last read instead of all of them.
--
-- Reading every count was two fifths of a refresh's CPU (some 100,000 rows after `kpi bench`'s
-- 1,000,000 events, each decoded from five text columns), and the refresh is on the path of every
-- event to the gauges: on a slow machine one took 783 ms under load, and event-to-metric p99 was
-- 3,026 ms against a goal of 2 s. A batch at the steady rate changes a few thousand rows.
--
-- The engine raises counts_version first in its transaction (the row lock then orders writers
-- from there to the commit) and stamps the rows it adds to with the version it raised to, so a
-- row's changed_in_version is the version its commit left: reading in one snapshot the version V
-- and the rows changed_in_version > U gives exactly what changed between versions U and V.
-- Every writer of indicator_counts must do the same; a publisher reads everything again when it
-- starts, after a failed refresh, and when the version goes back (a restored database).
--
-- Not indexed: an index would stop the engine's updates being HOT (0008); the publisher's read
-- is one sequential scan.
ALTER TABLE indicator_counts ADD COLUMN changed_in_version bigint NOT NULL DEFAULT 0;
COMMENT ON COLUMN indicator_counts.changed_in_version IS 'The counts_version of the commit that last changed this row.';
