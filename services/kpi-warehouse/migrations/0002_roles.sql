-- Three roles (architecture.md): the services' writer, a read-only role for Grafana that sees
-- published objects only, and an analyst role that sees everything but pseudonymised person
-- state. They are NOLOGIN group roles: a deployment creates login users that are members.
-- Roles are cluster-wide, so creation tolerates another database having made them already.
DO $$
DECLARE r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['kpi_writer', 'kpi_reader', 'kpi_analyst'] LOOP
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END LOOP;
END
$$;

REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;

GRANT USAGE ON SCHEMA public TO kpi_writer, kpi_reader, kpi_analyst;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO kpi_writer;

GRANT SELECT ON indicator_catalogue, indicator_values_published, indicator_spc TO kpi_reader;

GRANT SELECT ON indicator_catalogue, indicator_values_published, indicator_spc,
    indicator_values, indicator_counts TO kpi_analyst;
