#!/usr/bin/env bash
# deploy/postgres/init/01-grafana-reader.sh: run once by the postgres image on an empty data
# directory (docker-compose.yml mounts this folder at /docker-entrypoint-initdb.d). A shell
# script rather than .sql because the grafana password comes from the environment
# (KPI_GRAFANA_DB_PASSWORD); psql's :'var' quotes it, so any characters are safe.
# kpi_reader is created here, before `kpi migrate`, so that the grant to grafana can be made now;
# migration 0002 tolerates the role existing and grants it the published objects.
set -euo pipefail

: "${KPI_GRAFANA_DB_PASSWORD:?set KPI_GRAFANA_DB_PASSWORD for the grafana database user}"

psql -v ON_ERROR_STOP=1 -v grafana_password="$KPI_GRAFANA_DB_PASSWORD" \
    --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
DO $$
BEGIN
    CREATE ROLE kpi_reader NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

-- psql variables are not expanded inside DO bodies, hence \gexec for the password.
SELECT 'CREATE ROLE grafana LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'grafana')
\gexec
ALTER ROLE grafana WITH LOGIN PASSWORD :'grafana_password';
GRANT kpi_reader TO grafana;
SQL
