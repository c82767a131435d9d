-- kpi bench, the SQL batch peer: the same raw events (already COPYed into bench_raw as jsonb)
-- turned into counts by plain SQL, to compare with what the pipeline published. Covers
-- mha_detentions, mha_short_term_orders, suspected_suicides, fft_positive_pct and the four
-- restrictive intervention rates per 1,000 occupied bed days, by month and rolling 12 months,
-- for the strata all and ethnic_group. It follows docs/events.md and
-- services/kpi-core/src/indicators/{mha,suicide,outcomes,restrictive,records}.rs.

-- Every event in effect once: the first line of each event_id (a repeat is a duplicate), less
-- the retractions and the events they retract. Dates are Europe/London calendar dates.
CREATE TABLE peer_events AS
WITH firsts AS (
    SELECT DISTINCT ON (body->>'event_id') body FROM bench_raw ORDER BY body->>'event_id', line
), retracted AS (
    SELECT DISTINCT body->'event_retracted'->>'retracted_event_id' AS id FROM firsts WHERE body ? 'event_retracted'
)
SELECT f.body->>'event_id' AS event_id,
       f.body->>'person_id' AS person,
       (f.body->>'occurred_at')::timestamptz AS occurred_at,
       coalesce((f.body->>'recorded_at')::timestamptz, (f.body->>'occurred_at')::timestamptz) AS recorded_at,
       ((f.body->>'occurred_at')::timestamptz AT TIME ZONE 'Europe/London')::date AS day,
       f.body
FROM firsts f LEFT JOIN retracted r ON r.id = f.body->>'event_id'
WHERE r.id IS NULL AND NOT f.body ? 'event_retracted';

-- Each person's ethnic group from their latest demographics (latest occurred_at, then recorded_at).
CREATE TABLE peer_people AS
SELECT DISTINCT ON (person) person,
       CASE WHEN c IN ('A', 'B', 'C') THEN 'white'
            WHEN c IN ('D', 'E', 'F', 'G') THEN 'mixed'
            WHEN c IN ('H', 'J', 'K', 'L') THEN 'asian'
            WHEN c IN ('M', 'N', 'P') THEN 'black'
            WHEN c IN ('R', 'S') THEN 'other'
            ELSE 'unknown' END AS ethnic_group
FROM (SELECT person, occurred_at, recorded_at, event_id, body->'demographics'->>'ethnic_category' AS c
      FROM peer_events WHERE body ? 'demographics') d
ORDER BY person, occurred_at DESC, recorded_at DESC, event_id DESC;

-- Ward stays: opened by their first start event, closed by the earliest end dated on or after
-- the start (services/kpi-core/src/indicators/records.rs, ward_stays).
CREATE TABLE peer_stays AS
WITH starts AS (
    SELECT DISTINCT ON (person, stay) person, stay, day
    FROM (SELECT person, body->'ward_stay_started'->>'ward_stay_id' AS stay, day, occurred_at, recorded_at, event_id
          FROM peer_events WHERE body ? 'ward_stay_started') s
    ORDER BY person, stay, day, occurred_at, recorded_at, event_id
)
SELECT s.person, s.stay, s.day AS started, min(e.day) AS ended
FROM starts s
LEFT JOIN (SELECT person, body->'ward_stay_ended'->>'ward_stay_id' AS stay, day
           FROM peer_events WHERE body ? 'ward_stay_ended') e
       ON e.person = s.person AND e.stay = s.stay AND e.day >= s.day
GROUP BY 1, 2, 3;

-- What each person contributes on a date: (indicator, person, day, numerator, denominator).
CREATE TABLE peer_dated AS
WITH starts AS (
    -- A detention opens at its first start event; its section is that event's.
    SELECT DISTINCT ON (person, detention) person, detention, section, day
    FROM (SELECT person, body->'mha_detention_started'->>'detention_id' AS detention,
                 body->'mha_detention_started'->>'section' AS section, day, occurred_at, recorded_at, event_id
          FROM peer_events WHERE body ? 'mha_detention_started') s
    ORDER BY person, detention, day, occurred_at, recorded_at, event_id
), episodes AS (
    -- Closed by the earliest end dated on or after the start.
    SELECT s.person, s.detention, s.section, s.day, min(e.day) AS ended
    FROM starts s
    LEFT JOIN (SELECT person, body->'mha_detention_ended'->>'detention_id' AS detention, day
               FROM peer_events WHERE body ? 'mha_detention_ended') e
           ON e.person = s.person AND e.detention = s.detention AND e.day >= s.day
    GROUP BY 1, 2, 3, 4
), referrals AS (
    SELECT DISTINCT ON (person, referral) person, referral, day AS received
    FROM (SELECT person, body->'referral_received'->>'referral_id' AS referral, day, occurred_at, recorded_at, event_id
          FROM peer_events WHERE body ? 'referral_received') r
    ORDER BY person, referral, day, occurred_at, recorded_at, event_id
), spans AS (
    SELECT r.person, r.referral, r.received, min(d.day) AS discharged
    FROM referrals r
    LEFT JOIN (SELECT person, body->'referral_discharged'->>'referral_id' AS referral, day
               FROM peer_events WHERE body ? 'referral_discharged') d
           ON d.person = r.person AND d.referral = r.referral AND d.day >= r.received
    GROUP BY 1, 2, 3
), attended AS (
    -- Attended contacts of a known referral.
    SELECT c.person, c.day
    FROM peer_events c JOIN referrals r
      ON r.person = c.person AND r.referral = c.body->'care_contact'->>'referral_id'
    WHERE c.body ? 'care_contact' AND (c.body->'care_contact'->>'attended')::boolean
), deaths AS (
    -- A person's death is their first in event-time order.
    SELECT DISTINCT ON (person) person, day, body->'death'->>'cause' AS cause
    FROM peer_events WHERE body ? 'death'
    ORDER BY person, day, occurred_at, recorded_at, event_id
)
SELECT CASE WHEN section IN ('4', '5(2)', '5(4)', '135', '136') THEN 'mha_short_term_orders' ELSE 'mha_detentions' END
           AS indicator, person, day, 1 AS numerator, 0 AS denominator
FROM episodes e
-- A section 3 starting while a section 2 is open, or within a day of its end, converts it.
WHERE NOT (section = '3' AND EXISTS (
    SELECT 1 FROM episodes o
    WHERE o.person = e.person AND o.section = '2' AND o.day <= e.day AND (o.ended IS NULL OR e.day <= o.ended + 1)))
UNION ALL
SELECT 'fft_positive_pct', person, day,
       (body->'fft_response'->>'response' IN ('very_good', 'good'))::int, 1
FROM peer_events WHERE body ? 'fft_response'
UNION ALL
-- Suspected suicides of people with a referral open, or an attended contact, in the 365 days to death.
SELECT 'suspected_suicides', d.person, d.day, 1, 0
FROM deaths d
WHERE d.cause = 'suspected_suicide'
  AND (EXISTS (SELECT 1 FROM spans s WHERE s.person = d.person AND s.received <= d.day
                 AND (s.discharged IS NULL OR s.discharged >= d.day - 365))
       OR EXISTS (SELECT 1 FROM attended a WHERE a.person = d.person AND a.day BETWEEN d.day - 365 AND d.day))
UNION ALL
-- Restrictive interventions on a ward stay of the same person, on their own date: each counts
-- towards the total and restraints, seclusions and rapid tranquillisations towards their own.
SELECT rate.indicator, i.person, i.day, 1, 0
FROM (SELECT person, day, body->'restrictive_intervention'->>'ward_stay_id' AS stay,
             body->'restrictive_intervention'->>'kind' AS kind
      FROM peer_events WHERE body ? 'restrictive_intervention') i
JOIN (SELECT DISTINCT person, stay FROM peer_stays) s ON s.person = i.person AND s.stay = i.stay
CROSS JOIN LATERAL (VALUES ('restrictive_interventions_rate'),
                           (CASE WHEN i.kind IN ('physical_restraint', 'mechanical_restraint') THEN 'restraint_rate'
                                 WHEN i.kind = 'seclusion' THEN 'seclusion_rate'
                                 WHEN i.kind = 'rapid_tranquillisation' THEN 'rapid_tranquillisation_rate' END))
     AS rate(indicator)
WHERE rate.indicator IS NOT NULL;

-- Counts by month and stratum, then rolling 12 months: a month counts towards the 12 periods
-- ending in it and the 11 months after.
CREATE TABLE peer_counts AS
WITH dated AS (
    SELECT indicator, (date_trunc('month', day) + interval '1 month' - interval '1 day')::date AS month_end,
           coalesce(p.ethnic_group, 'unknown') AS ethnic_group, numerator, denominator
    FROM peer_dated d LEFT JOIN peer_people p USING (person)
), monthly AS (
    SELECT indicator, month_end, 'all' AS stratum_type, 'all' AS stratum_value,
           sum(numerator)::bigint AS numerator, sum(denominator)::bigint AS denominator
    FROM dated GROUP BY 1, 2
    UNION ALL
    SELECT indicator, month_end, 'ethnic_group', ethnic_group, sum(numerator)::bigint, sum(denominator)::bigint
    FROM dated GROUP BY 1, 2, 4
)
SELECT indicator, 'month' AS period_kind, month_end AS period_end, stratum_type, stratum_value, numerator, denominator
FROM monthly
UNION ALL
SELECT indicator, 'r12', (date_trunc('month', month_end) + make_interval(months => k + 1) - interval '1 day')::date,
       stratum_type, stratum_value, sum(numerator)::bigint, sum(denominator)::bigint
FROM monthly CROSS JOIN generate_series(0, 11) AS k
GROUP BY 1, 2, 3, 4, 5;

-- Occupied bed days, the four intervention rates' denominator: the nights of each ward stay in
-- each month, from its start (or the month's first day) to its end (or the next month's first
-- day), for every month up to the latest event's; a rolling 12 months sums its months.
CREATE TABLE peer_bed_days AS
WITH months AS (
    SELECT m::date AS month_start, (m + interval '1 month' - interval '1 day')::date AS month_end
    FROM generate_series((SELECT date_trunc('month', min(started)) FROM peer_stays),
                         (SELECT date_trunc('month', max(((body->>'occurred_at')::timestamptz AT TIME ZONE 'Europe/London')::date))
                          FROM bench_raw),
                         interval '1 month') AS m
), nights AS (
    SELECT m.month_end, coalesce(p.ethnic_group, 'unknown') AS ethnic_group,
           least(coalesce(s.ended, m.month_end + 1), m.month_end + 1) - greatest(s.started, m.month_start) AS nights
    FROM peer_stays s
    JOIN months m ON s.started <= m.month_end AND (s.ended IS NULL OR s.ended > m.month_start)
    LEFT JOIN peer_people p ON p.person = s.person
), monthly AS (
    SELECT month_end, 'all' AS stratum_type, 'all' AS stratum_value, sum(nights)::bigint AS nights
    FROM nights GROUP BY 1
    UNION ALL
    SELECT month_end, 'ethnic_group', ethnic_group, sum(nights)::bigint FROM nights GROUP BY 1, 3
)
SELECT 'month' AS period_kind, month_end AS period_end, stratum_type, stratum_value, nights FROM monthly
UNION ALL
SELECT 'r12', (date_trunc('month', month_end) + make_interval(months => k + 1) - interval '1 day')::date,
       stratum_type, stratum_value, sum(nights)::bigint
FROM monthly CROSS JOIN generate_series(0, 11) AS k
GROUP BY 1, 2, 3, 4;

-- The intervention rates as numerator (interventions) over denominator (bed days), a month with
-- beds occupied and no intervention included.
CREATE TABLE peer_rates AS
WITH rates AS (
    SELECT * FROM peer_counts
    WHERE indicator IN ('restrictive_interventions_rate', 'restraint_rate', 'seclusion_rate', 'rapid_tranquillisation_rate')
), beds AS (
    SELECT indicator, b.*
    FROM peer_bed_days b
    CROSS JOIN unnest(ARRAY['restrictive_interventions_rate', 'restraint_rate', 'seclusion_rate',
                            'rapid_tranquillisation_rate']) AS indicator
)
SELECT indicator, period_kind, period_end, stratum_type, stratum_value,
       coalesce(r.numerator, 0) AS numerator, coalesce(b.nights, 0) AS denominator
FROM rates r FULL JOIN beds b USING (indicator, period_kind, period_end, stratum_type, stratum_value);
DELETE FROM peer_counts
WHERE indicator IN ('restrictive_interventions_rate', 'restraint_rate', 'seclusion_rate', 'rapid_tranquillisation_rate');
INSERT INTO peer_counts SELECT * FROM peer_rates;
