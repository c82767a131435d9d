-- Which state of the counts the published values were computed from.
--
-- The publisher used to tell whether the counts had changed by max(updated_at) over
-- indicator_counts and data_horizon. updated_at is now(), the time its transaction began, not
-- when it committed: with two engine instances (or any two writers) a transaction that began
-- first can commit last, under a max the publisher has already seen, and the publisher then
-- never refreshes for it: the published values stay a batch short until the next change. (The
-- end-to-end test that waited on the same comparison read 3 detentions published where the
-- counts held 4.)
--
-- counts_version is a counter every transaction that changes the counts or the horizon adds one
-- to just before it commits. Its row lock makes writers add in commit order, so a commit the
-- publisher has not read always leaves a version it has not published.
CREATE TABLE counts_version (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version   bigint NOT NULL
);
INSERT INTO counts_version (version) VALUES (0);
COMMENT ON TABLE counts_version IS 'Counter raised by every commit that changes indicator_counts or data_horizon.';

-- The version the values in indicator_values, indicator_values_published and indicator_spc
-- were computed from, written in the same transaction as they are.
CREATE TABLE publication (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    counts_version bigint NOT NULL,
    computed_at    timestamptz NOT NULL
);
COMMENT ON TABLE publication IS 'The counts_version and time of the values now published.';

GRANT SELECT, INSERT, UPDATE, DELETE ON counts_version, publication TO kpi_writer;
GRANT SELECT ON publication TO kpi_reader;
GRANT SELECT ON counts_version, publication TO kpi_analyst;
