-- Counts become changes by month (kpi_core::contrib): each row of indicator_counts is how much a
-- cell's value changes from the previous month, so that something still open (a referral on the
-- caseload, an occupied ward stay) costs a row when it opens and one when it closes. A period's
-- count is the sum of its kind's rows up to its end. Rows written under the old meaning cannot
-- be converted: engine state is cleared and the engine rebuilds everything from the start of the
-- canonical topic (its offsets are cleared too), and the publisher recomputes the values.
TRUNCATE indicator_counts, indicator_values, indicator_values_published, indicator_spc,
         person_state, events_seen, retractions, engine_offsets;

COMMENT ON TABLE indicator_counts IS 'Engine-maintained changes by month per counted cell, period kind and stratum: a period''s numerator and counted denominator are the sums of its kind''s rows up to its end. Unrounded: restricted.';

-- The latest event date the engine has applied: the last month the publisher reports.
CREATE TABLE data_horizon (
    singleton         boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    latest_event_date date NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE data_horizon IS 'Date of the latest event applied by the engine; values are published up to its month.';

GRANT SELECT, INSERT, UPDATE, DELETE ON data_horizon TO kpi_writer;
GRANT SELECT ON data_horizon TO kpi_analyst;
