-- kpi bench, the SQL batch peer: the same raw events (already COPYed into bench_raw as jsonb)
-- turned into the catalogue's counts by plain SQL, to compare with what the pipeline published.
-- It covers every indicator of docs/indicators.md, by month and rolling 12 months, for every
-- stratum (all, ethnic_group, ethnic_category, age_band, sex, imd_quintile); for the rates per
-- population (mha_detention_rate, mha_detention_rate_ratio) and dementia_recorded_prevalence it
-- computes what is counted from events, the numerator, since their denominators come from the
-- reference population files. It follows docs/events.md, docs/indicators.md and
-- services/kpi-core/src/{indicators/*.rs,strata.rs,contrib.rs,period.rs}. It stops at counts:
-- the values with their limits, disclosure control and SPC, which the publisher adds, are not
-- computed here.
--
-- Like the pipeline it first computes counted *cells* per person (peer_dated: amounts dated by
-- an event; peer_state: states at a period's end or during it), stratifies them by the person's
-- current demographics at each period's end (peer_cells), then reads each indicator off its
-- cells as its catalogue Method does (peer_counts).
--
-- Event-time order, where a rule takes the first or latest record, is (occurred_at,
-- recorded_at, event_id) as in PersonState::effective; event ids compare bytewise (COLLATE "C").
-- The pipeline breaks a tie of both timestamps on the pseudonymised id, which SQL cannot see.

-- A batch job's session settings: enough memory for its sorts and hashes not to spill to disk,
-- and no JIT compilation, which costs more than it saves on queries of this size. Reset at the end.
SET work_mem = '256MB';
SET jit = off;

-- Every event in effect once: the first line of each event_id (a repeat is a duplicate), less
-- the retractions and the events they retract. Dates are Europe/London calendar dates. kind is
-- the payload field's name (the event type) and p the payload; the table is written in kind
-- order and indexed on it, so that each family below reads only its own kinds.
CREATE TABLE peer_events AS
WITH firsts AS (
    SELECT DISTINCT ON (body->>'event_id') body->>'event_id' AS id, body FROM bench_raw ORDER BY body->>'event_id', line
), typed AS (
    SELECT id, body,
           CASE WHEN body ? 'demographics' THEN 'demographics'
                WHEN body ? 'referral_received' THEN 'referral_received'
                WHEN body ? 'referral_discharged' THEN 'referral_discharged'
                WHEN body ? 'care_contact' THEN 'care_contact'
                WHEN body ? 'diagnosis' THEN 'diagnosis'
                WHEN body ? 'mha_detention_started' THEN 'mha_detention_started'
                WHEN body ? 'mha_detention_ended' THEN 'mha_detention_ended'
                WHEN body ? 'death' THEN 'death'
                WHEN body ? 'outcome_measure' THEN 'outcome_measure'
                WHEN body ? 'fft_response' THEN 'fft_response'
                WHEN body ? 'accommodation_status' THEN 'accommodation_status'
                WHEN body ? 'smoking_status' THEN 'smoking_status'
                WHEN body ? 'ward_stay_started' THEN 'ward_stay_started'
                WHEN body ? 'ward_stay_ended' THEN 'ward_stay_ended'
                WHEN body ? 'restrictive_intervention' THEN 'restrictive_intervention'
                WHEN body ? 'event_retracted' THEN 'event_retracted' END AS kind
    FROM firsts
), retracted AS (
    SELECT DISTINCT body->'event_retracted'->>'retracted_event_id' AS id FROM typed WHERE kind = 'event_retracted'
)
SELECT t.id COLLATE "C" AS event_id,
       t.body->>'person_id' AS person,
       (t.body->>'occurred_at')::timestamptz AS occurred_at,
       coalesce((t.body->>'recorded_at')::timestamptz, (t.body->>'occurred_at')::timestamptz) AS recorded_at,
       ((t.body->>'occurred_at')::timestamptz AT TIME ZONE 'Europe/London')::date AS day,
       t.kind,
       t.body->t.kind AS p
FROM typed t LEFT JOIN retracted r ON r.id = t.id
WHERE r.id IS NULL AND t.kind <> 'event_retracted'
ORDER BY t.kind;
CREATE INDEX peer_events_kind ON peer_events (kind);
-- Statistics for the planner on every table made here: without them it guesses join sizes
-- badly and nests loops over thousands of rows.
ANALYZE peer_events;

-- Each person's current demographics: the latest record (latest occurred_at, then recorded_at,
-- then event id) applies to every period (events.md, "Latest wins"; person.rs, attributes), as
-- the labels of their strata (strata.rs). Ages are only ever compared with the age-band edges
-- and the catalogue's age limits (18, 35, 50, 65, 70: contrib.rs, AGE_EDGES), so each person
-- gets the day they reach each of those ages: aged N or more on day d <=> d >= turns_N. Age is
-- in whole years and someone born on 29 February is a year older on 1 March in other years
-- (strata.rs, age_on), where PostgreSQL's date + N years gives 28 February: a day is added
-- when the day of the month moved.
CREATE TABLE peer_people AS
WITH latest AS (
    SELECT DISTINCT ON (person) person,
           (p->>'birth_date')::date AS birth_date,
           p->>'sex' AS sex,
           p->>'ethnic_category' AS ethnic_category,
           (p->>'imd_decile')::int AS imd_decile
    FROM peer_events WHERE kind = 'demographics'
    ORDER BY person, occurred_at DESC, recorded_at DESC, event_id DESC
)
SELECT person,
       CASE WHEN ethnic_category IN ('A', 'B', 'C') THEN 'white'
            WHEN ethnic_category IN ('D', 'E', 'F', 'G') THEN 'mixed'
            WHEN ethnic_category IN ('H', 'J', 'K', 'L') THEN 'asian'
            WHEN ethnic_category IN ('M', 'N', 'P') THEN 'black'
            WHEN ethnic_category IN ('R', 'S') THEN 'other'
            ELSE 'unknown' END AS ethnic_group,
       CASE WHEN ethnic_category IN ('Z', '99') THEN 'unknown' ELSE ethnic_category END AS ethnic_category,
       CASE sex WHEN '1' THEN 'male' WHEN '2' THEN 'female' ELSE 'other_or_unknown' END AS sex,
       -- Quintile = ceil(decile / 2), 1 most deprived.
       coalesce(((imd_decile + 1) / 2)::text, 'unknown') AS imd_quintile,
       (birth_date + interval '18 years')::date
           + (extract(day FROM birth_date + interval '18 years') <> extract(day FROM birth_date))::int AS turns_18,
       (birth_date + interval '35 years')::date
           + (extract(day FROM birth_date + interval '35 years') <> extract(day FROM birth_date))::int AS turns_35,
       (birth_date + interval '50 years')::date
           + (extract(day FROM birth_date + interval '50 years') <> extract(day FROM birth_date))::int AS turns_50,
       (birth_date + interval '65 years')::date
           + (extract(day FROM birth_date + interval '65 years') <> extract(day FROM birth_date))::int AS turns_65,
       (birth_date + interval '70 years')::date
           + (extract(day FROM birth_date + interval '70 years') <> extract(day FROM birth_date))::int AS turns_70
FROM latest;
ANALYZE peer_people;

-- The calendar months from the one before the first event (a state can change there) to the
-- month of the latest event, the publisher's last; each is a month period and the end of a
-- rolling 12 months (period.rs).
CREATE TABLE peer_months AS
SELECT m::date AS month_start, (m + interval '1 month' - interval '1 day')::date AS month_end
FROM generate_series((SELECT date_trunc('month', min(day)) - interval '1 month' FROM peer_events),
                     (SELECT date_trunc('month', max(((body->>'occurred_at')::timestamptz AT TIME ZONE 'Europe/London')::date))
                      FROM bench_raw),
                     interval '1 month') AS m;
ANALYZE peer_months;
CREATE TABLE peer_periods AS
SELECT 'month' AS period_kind, month_start AS period_start, month_end AS period_end FROM peer_months
UNION ALL
SELECT 'r12', (month_start - interval '11 months')::date, month_end FROM peer_months;
ANALYZE peer_periods;

-- Referrals (records.rs, referrals): opened by their first referral_received (its service and
-- date), closed by the earliest discharge dated on or after it; a discharge, contact or score
-- of a referral that was never received has no effect (events.md, "References"). rid numbers
-- them, so that contacts and scores join on one column (the planner misjudges joins on two).
CREATE TABLE peer_referrals AS
WITH received AS (
    SELECT DISTINCT ON (person, p->>'referral_id') person, p->>'referral_id' AS referral, p->>'service' AS service, day
    FROM peer_events WHERE kind = 'referral_received'
    ORDER BY person, p->>'referral_id', occurred_at, recorded_at, event_id
)
SELECT row_number() OVER () AS rid, r.person, r.referral, r.service, r.day AS received, min(d.day) AS discharged
FROM received r
LEFT JOIN (SELECT person, p->>'referral_id' AS referral, day FROM peer_events WHERE kind = 'referral_discharged') d
       ON d.person = r.person AND d.referral = r.referral AND d.day >= r.day
GROUP BY r.person, r.referral, r.service, r.day;
ANALYZE peer_referrals;

-- Care contacts of known referrals, whatever their date.
CREATE TABLE peer_contacts AS
SELECT r.rid, c.person, c.day, (c.p->>'attended')::boolean AS attended, c.p->>'purpose' AS purpose
FROM peer_events c JOIN peer_referrals r ON r.person = c.person AND r.referral = c.p->>'referral_id'
WHERE c.kind = 'care_contact';
ANALYZE peer_contacts;

-- Paired scores of a referral and instrument (records.rs, Referral::paired): first = earliest
-- in event-time order, last = the latest dated after the first (dates follow event-time order,
-- so that is the last score if it is dated after the first, else none). Totals leave out HoNOS
-- items rated 9, "not known" (codes.rs, Instrument::total).
CREATE TABLE peer_pairs AS
WITH scores AS (
    SELECT r.rid, s.p->>'instrument' AS instrument, s.day, s.occurred_at, s.recorded_at, s.event_id,
           (SELECT sum(item::int) FROM jsonb_array_elements_text(s.p->'items') AS item
            WHERE NOT (s.p->>'instrument' = 'HONOS' AND item::int = 9)) AS total
    FROM peer_events s JOIN peer_referrals r ON r.person = s.person AND r.referral = s.p->>'referral_id'
    WHERE s.kind = 'outcome_measure'
), ends AS (
    SELECT rid, instrument,
           (array_agg(day ORDER BY occurred_at, recorded_at, event_id))[1] AS first_day,
           (array_agg(total ORDER BY occurred_at, recorded_at, event_id))[1] AS first_total,
           (array_agg(day ORDER BY occurred_at DESC, recorded_at DESC, event_id DESC))[1] AS last_day,
           (array_agg(total ORDER BY occurred_at DESC, recorded_at DESC, event_id DESC))[1] AS last_total
    FROM scores GROUP BY 1, 2
)
SELECT rid, instrument, first_total, last_total FROM ends WHERE last_day > first_day;
ANALYZE peer_pairs;

-- Ward stays (records.rs, ward_stays): opened by their first start event, which says whether
-- the stay is an inappropriate out-of-area placement (out of area, reason no_local_bed), closed
-- by the earliest end dated on or after the start.
CREATE TABLE peer_stays AS
WITH starts AS (
    SELECT DISTINCT ON (person, p->>'ward_stay_id') person, p->>'ward_stay_id' AS stay, day,
           coalesce((p->>'out_of_area')::boolean AND p->>'out_of_area_reason' = 'no_local_bed', false) AS oap
    FROM peer_events WHERE kind = 'ward_stay_started'
    ORDER BY person, p->>'ward_stay_id', occurred_at, recorded_at, event_id
)
SELECT s.person, s.stay, s.day AS started, min(e.day) AS ended, s.oap
FROM starts s
LEFT JOIN (SELECT person, p->>'ward_stay_id' AS stay, day FROM peer_events WHERE kind = 'ward_stay_ended') e
       ON e.person = s.person AND e.stay = s.stay AND e.day >= s.day
GROUP BY 1, 2, 3, 5;
ANALYZE peer_stays;

-- A person dies once: their first death event in event-time order (records.rs, death).
CREATE TABLE peer_deaths AS
SELECT DISTINCT ON (person) person, day, p->>'cause' AS cause, p->>'place' AS place
FROM peer_events WHERE kind = 'death'
ORDER BY person, occurred_at, recorded_at, event_id;
ANALYZE peer_deaths;

-- The earliest diagnosis of SMI (F20-F31) and of dementia (F00-F03, G30): a code is a letter
-- and two digits, whatever follows (records.rs, is_smi, is_dementia).
CREATE TABLE peer_diagnosed AS
SELECT person,
       min(day) FILTER (WHERE letter = 'F' AND number BETWEEN 20 AND 31) AS smi_since,
       min(day) FILTER (WHERE (letter = 'F' AND number BETWEEN 0 AND 3) OR (letter = 'G' AND number = 30))
           AS dementia_since
FROM (SELECT person, day, left(p->>'icd10', 1) AS letter, substr(p->>'icd10', 2, 2)::int AS number
      FROM peer_events WHERE kind = 'diagnosis') d
GROUP BY person;
ANALYZE peer_diagnosed;

-- Dated cells: what each person adds on a date, (cell, person, day, numerator, denominator); a
-- percentage's case adds 1 to the denominator and 1 to the numerator when it meets the definition.
CREATE TABLE peer_dated AS
WITH starts AS (
    -- A detention opens at its first start event; its section is that event's.
    SELECT DISTINCT ON (person, p->>'detention_id') person, p->>'detention_id' AS detention,
           p->>'section' AS section, day
    FROM peer_events WHERE kind = 'mha_detention_started'
    ORDER BY person, p->>'detention_id', occurred_at, recorded_at, event_id
), episodes AS (
    -- Closed by the earliest end dated on or after the start.
    SELECT s.person, s.detention, s.section, s.day, min(e.day) AS ended
    FROM starts s
    LEFT JOIN (SELECT person, p->>'detention_id' AS detention, day FROM peer_events WHERE kind = 'mha_detention_ended') e
           ON e.person = s.person AND e.detention = s.detention AND e.day >= s.day
    GROUP BY 1, 2, 3, 4
), ages AS (
    -- Whether a person was 65 or over at death, for the dementia deaths.
    SELECT d.person, d.day, d.cause, d.place, d.day >= p.turns_65 AS aged_65
    FROM peer_deaths d JOIN peer_people p USING (person)
), treated AS (
    -- Referrals with two or more attended treatment contacts, whatever their dates.
    SELECT rid FROM peer_contacts WHERE attended AND purpose = 'treatment' GROUP BY rid HAVING count(*) >= 2
), tt AS (
    -- Talking Therapies referrals that finished a course of treatment (talking_therapies.rs): discharged,
    -- treated, paired PHQ-9 and GAD-7.
    SELECT r.person, r.discharged AS day,
           phq.first_total AS phq_first, phq.last_total AS phq_last, gad.first_total AS gad_first, gad.last_total AS gad_last
    FROM peer_referrals r
    JOIN treated t ON t.rid = r.rid
    JOIN peer_pairs phq ON phq.rid = r.rid AND phq.instrument = 'PHQ9'
    JOIN peer_pairs gad ON gad.rid = r.rid AND gad.instrument = 'GAD7'
    WHERE r.service = 'talking_therapies' AND r.discharged IS NOT NULL
), tt_outcomes AS (
    SELECT person, day, at_caseness,
           at_caseness AND phq_last < 10 AND gad_last < 8 AS recovered,
           reliable_decrease AND NOT reliable_increase AS reliably_improved,
           reliable_increase AND NOT reliable_decrease AS reliably_deteriorated
    FROM (SELECT person, day, phq_first, phq_last, gad_last,
                 phq_first >= 10 OR gad_first >= 8 AS at_caseness,
                 phq_first - phq_last >= 6 OR gad_first - gad_last >= 4 AS reliable_decrease,
                 phq_last - phq_first >= 6 OR gad_last - gad_first >= 4 AS reliable_increase
          FROM tt) t
)
SELECT CASE WHEN section IN ('4', '5(2)', '5(4)', '135', '136') THEN 'mha_short_term_orders' ELSE 'mha_detentions' END
           AS cell, person, day, 1 AS numerator, 0 AS denominator
FROM episodes e
-- A section 3 starting while a section 2 is open, or within a day of its end, converts it.
WHERE NOT (section = '3' AND EXISTS (
    SELECT 1 FROM episodes o
    WHERE o.person = e.person AND o.section = '2' AND o.day <= e.day AND (o.ended IS NULL OR e.day <= o.ended + 1)))
UNION ALL
SELECT 'fft_positive_pct', person, day, (p->>'response' IN ('very_good', 'good'))::int, 1
FROM peer_events WHERE kind = 'fft_response'
UNION ALL
-- Suspected suicides of people with a referral open, or an attended contact, in the 365 days to death.
SELECT 'suspected_suicides', d.person, d.day, 1, 0
FROM peer_deaths d
WHERE d.cause = 'suspected_suicide'
  AND (EXISTS (SELECT 1 FROM peer_referrals r WHERE r.person = d.person AND r.received <= d.day
                 AND (r.discharged IS NULL OR r.discharged >= d.day - 365))
       OR EXISTS (SELECT 1 FROM peer_contacts c WHERE c.person = d.person AND c.attended
                    AND c.day BETWEEN d.day - 365 AND d.day))
UNION ALL
-- Restrictive interventions on a known ward stay of the same person, on their own date: each
-- counts towards the total and restraints, seclusions and rapid tranquillisations towards their own.
SELECT kinds.cell, i.person, i.day, 1, 0
FROM (SELECT person, day, p->>'ward_stay_id' AS stay, p->>'kind' AS kind
      FROM peer_events WHERE kind = 'restrictive_intervention') i
JOIN (SELECT DISTINCT person, stay FROM peer_stays) s ON s.person = i.person AND s.stay = i.stay
CROSS JOIN LATERAL (VALUES ('restrictive_interventions'),
                           (CASE WHEN i.kind IN ('physical_restraint', 'mechanical_restraint') THEN 'restraints'
                                 WHEN i.kind = 'seclusion' THEN 'seclusions'
                                 WHEN i.kind = 'rapid_tranquillisation' THEN 'rapid_tranquillisations' END))
     AS kinds(cell)
WHERE kinds.cell IS NOT NULL
UNION ALL
-- Community mental health referrals, dated by their first attended contact (any purpose) on or
-- after the day received: seen within 28 days of it or not (access.rs, records.rs).
SELECT 'cmh_4_week_wait_pct', r.person, f.day, (f.day - r.received <= 28)::int, 1
FROM peer_referrals r
JOIN (SELECT c.rid, min(c.day) AS day FROM peer_contacts c JOIN peer_referrals o ON o.rid = c.rid
      WHERE c.attended AND c.day >= o.received GROUP BY c.rid) f ON f.rid = r.rid
WHERE r.service = 'community_mental_health'
UNION ALL
-- Paired HoNOS and ReQoL-10 of referrals, dated by the discharge, any service (outcomes.rs):
-- reliable change is 8 HoNOS points either way, 5 ReQoL points up (higher is better).
SELECT cells.cell, r.person, r.discharged, cells.numerator, 1
FROM peer_referrals r
JOIN peer_pairs s ON s.rid = r.rid AND s.instrument IN ('HONOS', 'REQOL10')
CROSS JOIN LATERAL (VALUES
    ('honos_reliable_improvement_pct', (s.last_total - s.first_total <= -8)::int, s.instrument = 'HONOS'),
    ('honos_reliable_deterioration_pct', (s.last_total - s.first_total >= 8)::int, s.instrument = 'HONOS'),
    ('reqol_reliable_improvement_pct', (s.last_total - s.first_total >= 5)::int, s.instrument = 'REQOL10'))
    AS cells(cell, numerator, applies)
WHERE r.discharged IS NOT NULL AND cells.applies
UNION ALL
-- The finished-treatment cohort, dated by the discharge; recovery (and reliable recovery) only
-- for referrals at caseness at the first score.
SELECT cells.cell, t.person, t.day, cells.numerator, cells.denominator
FROM tt_outcomes t
CROSS JOIN LATERAL (VALUES
    ('tt_finished_treatment', 1, 0, true),
    ('tt_reliable_improvement_rate', t.reliably_improved::int, 1, true),
    ('tt_reliable_deterioration_rate', t.reliably_deteriorated::int, 1, true),
    ('tt_recovery_rate', t.recovered::int, 1, t.at_caseness),
    ('tt_reliable_recovery_rate', (t.recovered AND t.reliably_improved)::int, 1, t.at_caseness))
    AS cells(cell, numerator, denominator, applies)
WHERE cells.applies
UNION ALL
-- Deaths of people aged 65+ at death with dementia diagnosed on or before it, cause not suspected
-- suicide or accident: at their usual residence or a care home, or not (dementia.rs).
SELECT 'dementia_deaths_usual_residence_pct', a.person, a.day, (a.place IN ('usual_residence', 'care_home'))::int, 1
FROM ages a JOIN peer_diagnosed g ON g.person = a.person AND g.dementia_since <= a.day
WHERE a.aged_65 AND a.cause NOT IN ('suspected_suicide', 'accident');
ANALYZE peer_dated;

-- State cells: a person's value at a period, (cell, person, period_kind, period_end,
-- numerator, denominator), at every period up to the latest event's month.
CREATE TABLE peer_state AS
WITH caseload AS (
    -- On the caseload at a month end: a referral received on or before it and not discharged
    -- before it (indicators.md, "Caseload at date d").
    SELECT DISTINCT r.person, m.month_end AS day
    FROM peer_referrals r JOIN peer_months m ON r.received <= m.month_end AND (r.discharged IS NULL OR r.discharged >= m.month_end)
), statuses AS (
    -- The latest accommodation (smoking) status dated in (d - 365 days, d], unknown ones ignored,
    -- is the latest record dated on or before d if it is dated after d - 365: each record holds
    -- from its date until the next record's date, and for 365 days at most.
    SELECT person, kind, p->>'status' AS status, day,
           lead(day) OVER (PARTITION BY person, kind ORDER BY occurred_at, recorded_at, event_id) AS next_day
    FROM peer_events WHERE kind IN ('accommodation_status', 'smoking_status') AND p->>'status' <> 'unknown'
), latest AS (
    SELECT s.person, s.kind, m.month_end AS day, s.status
    FROM statuses s JOIN peer_months m
      ON m.month_end >= s.day AND m.month_end < s.day + 365 AND (s.next_day IS NULL OR m.month_end < s.next_day)
), living AS (
    -- Living well with SMI at each month end (living_well.rs): everyone on the caseload for
    -- homelessness; people with demographics, aged 18+ and diagnosed with SMI by then for the
    -- others, 18-69 for accommodation.
    SELECT c.person, c.day, h.status AS housing, s.status AS smoking,
           coalesce(c.day >= p.turns_18 AND g.smi_since <= c.day, false) AS adult_smi,
           coalesce(c.day < p.turns_70, false) AS under_70
    FROM caseload c
    LEFT JOIN latest h ON h.person = c.person AND h.day = c.day AND h.kind = 'accommodation_status'
    LEFT JOIN latest s ON s.person = c.person AND s.day = c.day AND s.kind = 'smoking_status'
    LEFT JOIN peer_people p ON p.person = c.person
    LEFT JOIN peer_diagnosed g ON g.person = c.person
), prevalence AS (
    -- Recorded dementia at a month end (dementia.rs): aged 65+ then, diagnosed on or before it
    -- and alive at its end (no death dated on or before it).
    SELECT g.person, m.month_end AS day
    FROM peer_diagnosed g
    JOIN peer_people p ON p.person = g.person
    JOIN peer_months m ON m.month_end >= g.dementia_since
    LEFT JOIN peer_deaths d ON d.person = g.person
    WHERE (d.day IS NULL OR d.day > m.month_end) AND m.month_end >= p.turns_65
), at_month_end AS (
    SELECT cells.cell, l.person, l.day, cells.numerator, 1 AS denominator
    FROM living l
    CROSS JOIN LATERAL (VALUES
        ('homelessness_pct', coalesce(l.housing IN ('homeless', 'rough_sleeping'), false)::int, true),
        ('smi_settled_accommodation_pct', coalesce(l.housing IN ('settled_mainstream', 'settled_supported'), false)::int,
         l.adult_smi AND l.under_70),
        ('accommodation_recorded_pct', (l.housing IS NOT NULL)::int, l.adult_smi AND l.under_70),
        ('smi_smoking_pct', (l.smoking = 'current')::int, l.adult_smi AND l.smoking IS NOT NULL))
        AS cells(cell, numerator, applies)
    WHERE cells.applies
    UNION ALL
    SELECT 'dementia_recorded_prevalence', person, day, 1, 0 FROM prevalence
)
-- A value at a month end is the same for the month and the rolling 12 months ending there.
SELECT cell, person, kinds.period_kind, day AS period_end, numerator, denominator
FROM at_month_end CROSS JOIN (VALUES ('month'), ('r12')) AS kinds(period_kind)
UNION ALL
-- People with a referral open at any time during the period, the suspected suicide rate's
-- denominator (suicide.rs, open_referrals): received by its end, not discharged before its start.
SELECT DISTINCT 'people_with_open_referral', r.person, k.period_kind, k.period_end, 1, 0
FROM peer_referrals r
JOIN peer_periods k ON r.received <= k.period_end AND (r.discharged IS NULL OR r.discharged >= k.period_start)
UNION ALL
-- Occupied bed days (restrictive.rs, nights_in): the nights of each ward stay in the period, from
-- its start (or the period's first day) to its end (or the day after the period); a stay still
-- open counts to the day after the period. Inappropriate out-of-area stays count in their own cell too.
SELECT cells.cell, s.person, k.period_kind, k.period_end,
       least(coalesce(s.ended, k.period_end + 1), k.period_end + 1) - greatest(s.started, k.period_start), 0
FROM peer_stays s
JOIN peer_periods k ON s.started <= k.period_end AND (s.ended IS NULL OR s.ended > k.period_start)
CROSS JOIN LATERAL (VALUES ('bed_days', true), ('oap_bed_days', s.oap)) AS cells(cell, applies)
WHERE cells.applies;
ANALYZE peer_state;

-- Every cell by period and stratum. A dated amount counts in its month and in the 12 rolling
-- periods ending in that month and the 11 after (Period::containing). A person's strata are
-- those of their current demographics with age at the period's end (strata.rs, strata_of); a
-- person without demographics is unknown in every breakdown (sex: other_or_unknown).
CREATE TABLE peer_cells AS
WITH monthly AS (
    SELECT cell, person, date_trunc('month', day)::date AS month_start,
           sum(numerator)::int AS numerator, sum(denominator)::int AS denominator
    FROM peer_dated GROUP BY 1, 2, 3
), valued AS (
    SELECT cell, person, 'month' AS period_kind, (month_start + interval '1 month' - interval '1 day')::date AS period_end,
           numerator, denominator
    FROM monthly
    UNION ALL
    SELECT cell, person, 'r12', (month_start + make_interval(months => k + 1) - interval '1 day')::date, numerator, denominator
    FROM monthly CROSS JOIN generate_series(0, 11) AS k
    UNION ALL
    SELECT cell, person, period_kind, period_end, numerator, denominator FROM peer_state
), grouped AS (
    -- Summed by every stratum a value falls in first, so that the breakdowns read few rows.
    SELECT v.cell, v.period_kind, v.period_end,
           coalesce(p.ethnic_group, 'unknown') AS ethnic_group,
           coalesce(p.ethnic_category, 'unknown') AS ethnic_category,
           CASE WHEN p.person IS NULL THEN 'unknown' WHEN v.period_end < p.turns_18 THEN '0-17'
                WHEN v.period_end < p.turns_35 THEN '18-34' WHEN v.period_end < p.turns_50 THEN '35-49'
                WHEN v.period_end < p.turns_65 THEN '50-64' ELSE '65+' END AS age_band,
           coalesce(p.sex, 'other_or_unknown') AS sex,
           coalesce(p.imd_quintile, 'unknown') AS imd_quintile,
           sum(v.numerator)::int AS numerator, sum(v.denominator)::int AS denominator
    FROM valued v LEFT JOIN peer_people p USING (person)
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
)
-- Each breakdown is one grouping set; in each, its own label is the one not null.
SELECT cell, period_kind, period_end,
       CASE WHEN GROUPING(ethnic_group) = 0 THEN 'ethnic_group'
            WHEN GROUPING(ethnic_category) = 0 THEN 'ethnic_category'
            WHEN GROUPING(age_band) = 0 THEN 'age_band'
            WHEN GROUPING(sex) = 0 THEN 'sex'
            WHEN GROUPING(imd_quintile) = 0 THEN 'imd_quintile'
            ELSE 'all' END AS stratum_type,
       coalesce(ethnic_group, ethnic_category, age_band, sex, imd_quintile, 'all') AS stratum_value,
       sum(numerator)::bigint AS numerator, sum(denominator)::bigint AS denominator
FROM grouped
GROUP BY cell, period_kind, period_end,
         GROUPING SETS ((), (ethnic_group), (ethnic_category), (age_band), (sex), (imd_quintile));
ANALYZE peer_cells;

-- Each indicator read off its cells as its catalogue Method does (indicators/mod.rs): a count
-- is its cell; a percentage its cell's numerator over its cell's denominator; a rate per counted
-- measure the numerator cell over the denominator cell's count (bed days, people with an open
-- referral); a rate per population, its ratio and the percentage of the population aged 65+
-- only their numerator here, their population not being counted from events. The rate ratio
-- exists for the ethnic groups other than the reference (white) with a population (not unknown).
CREATE TABLE peer_counts AS
WITH methods (indicator, numerator_cell, denominator_cell) AS (VALUES
    ('mha_detentions', 'mha_detentions', NULL),
    ('mha_detention_rate', 'mha_detentions', NULL),
    ('mha_detention_rate_ratio', 'mha_detentions', NULL),
    ('mha_short_term_orders', 'mha_short_term_orders', NULL),
    ('suspected_suicides', 'suspected_suicides', NULL),
    ('suspected_suicide_rate', 'suspected_suicides', 'people_with_open_referral'),
    ('tt_finished_treatment', 'tt_finished_treatment', NULL),
    ('tt_recovery_rate', 'tt_recovery_rate', 'tt_recovery_rate'),
    ('tt_reliable_improvement_rate', 'tt_reliable_improvement_rate', 'tt_reliable_improvement_rate'),
    ('tt_reliable_recovery_rate', 'tt_reliable_recovery_rate', 'tt_reliable_recovery_rate'),
    ('tt_reliable_deterioration_rate', 'tt_reliable_deterioration_rate', 'tt_reliable_deterioration_rate'),
    ('smi_settled_accommodation_pct', 'smi_settled_accommodation_pct', 'smi_settled_accommodation_pct'),
    ('accommodation_recorded_pct', 'accommodation_recorded_pct', 'accommodation_recorded_pct'),
    ('smi_smoking_pct', 'smi_smoking_pct', 'smi_smoking_pct'),
    ('homelessness_pct', 'homelessness_pct', 'homelessness_pct'),
    ('dementia_recorded_prevalence', 'dementia_recorded_prevalence', NULL),
    ('dementia_deaths_usual_residence_pct', 'dementia_deaths_usual_residence_pct', 'dementia_deaths_usual_residence_pct'),
    ('honos_reliable_improvement_pct', 'honos_reliable_improvement_pct', 'honos_reliable_improvement_pct'),
    ('honos_reliable_deterioration_pct', 'honos_reliable_deterioration_pct', 'honos_reliable_deterioration_pct'),
    ('reqol_reliable_improvement_pct', 'reqol_reliable_improvement_pct', 'reqol_reliable_improvement_pct'),
    ('fft_positive_pct', 'fft_positive_pct', 'fft_positive_pct'),
    ('occupied_bed_days', 'bed_days', NULL),
    ('restrictive_interventions_rate', 'restrictive_interventions', 'bed_days'),
    ('restraint_rate', 'restraints', 'bed_days'),
    ('seclusion_rate', 'seclusions', 'bed_days'),
    ('rapid_tranquillisation_rate', 'rapid_tranquillisations', 'bed_days'),
    ('inappropriate_oap_bed_days', 'oap_bed_days', NULL),
    ('cmh_4_week_wait_pct', 'cmh_4_week_wait_pct', 'cmh_4_week_wait_pct')
)
SELECT m.indicator, c.period_kind, c.period_end, c.stratum_type, c.stratum_value,
       coalesce(sum(c.numerator) FILTER (WHERE c.cell = m.numerator_cell), 0)::bigint AS numerator,
       -- A percentage's denominator is its own cell's; a counted measure's is that cell's count.
       coalesce(sum(CASE WHEN m.denominator_cell = m.numerator_cell THEN c.denominator ELSE c.numerator END)
                    FILTER (WHERE c.cell = m.denominator_cell), 0)::bigint AS denominator
FROM methods m JOIN peer_cells c ON c.cell IN (m.numerator_cell, m.denominator_cell)
WHERE m.indicator <> 'mha_detention_rate_ratio'
   OR (c.stratum_type = 'ethnic_group' AND c.stratum_value NOT IN ('white', 'unknown'))
GROUP BY 1, 2, 3, 4, 5;

RESET work_mem;
RESET jit;
