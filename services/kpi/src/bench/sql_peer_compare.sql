-- kpi bench, checking the SQL batch peer: every cell of the covered indicators and strata, in
-- the months the pipeline published, with whether the peer's counts and the pipeline's
-- indicator_values differ (a counted denominator included). $1: the covered indicators; $2
-- those whose denominator is counted from events (a percentage's cohort, a rate's bed days or
-- people with an open referral); $3 the covered breakdowns (stratum types). A population
-- denominator (rates per population, their ratio, dementia prevalence) is reference data, not
-- counted, so only the numerator of those is compared.
WITH pipeline AS (
    SELECT indicator, period_kind, period_end, stratum_type, stratum_value,
           numerator AS n, CASE WHEN indicator = ANY($2) THEN round(denominator)::bigint ELSE 0 END AS d
    FROM indicator_values
    WHERE indicator = ANY($1) AND stratum_type = ANY($3)
), peer AS (
    SELECT indicator, period_kind, period_end, stratum_type, stratum_value, numerator AS n,
           CASE WHEN indicator = ANY($2) THEN denominator ELSE 0 END AS d
    FROM peer_counts
    WHERE indicator = ANY($1) AND stratum_type = ANY($3)
      AND period_end BETWEEN (SELECT min(period_end) FROM pipeline) AND (SELECT max(period_end) FROM pipeline)
), joined AS (
    SELECT indicator, period_kind, period_end, stratum_type, stratum_value,
           coalesce(a.n, 0) AS pipeline_n, coalesce(a.d, 0) AS pipeline_d,
           coalesce(b.n, 0) AS peer_n, coalesce(b.d, 0) AS peer_d
    FROM pipeline a FULL JOIN peer b USING (indicator, period_kind, period_end, stratum_type, stratum_value)
)
SELECT pipeline_n <> peer_n OR pipeline_d <> peer_d AS differs,
       format('%s %s %s %s=%s: pipeline %s/%s, SQL %s/%s', indicator, period_kind, period_end, stratum_type,
              stratum_value, pipeline_n, pipeline_d, peer_n, peer_d) AS cell
FROM joined
ORDER BY indicator, period_kind, period_end, stratum_type, stratum_value
