-- The warehouse contract (architecture.md, "The warehouse contract"). Grafana, analysts and
-- alerting read these objects; the engine and publisher write them.

-- The catalogue of indicators, written by the publisher from the code's one catalogue table.
CREATE TABLE indicator_catalogue (
    id          text PRIMARY KEY,
    title       text NOT NULL,
    unit        text NOT NULL,
    direction   text NOT NULL CHECK (direction IN ('higher_is_better', 'lower_is_better', 'neither')),
    target      double precision,
    description text NOT NULL,
    method      text NOT NULL
);
COMMENT ON TABLE indicator_catalogue IS 'One row per indicator: title, unit, which direction is better, national target.';

-- Counts kept by the engine: the sum over people of their contributions. Restricted (unrounded).
CREATE TABLE indicator_counts (
    indicator     text   NOT NULL,
    period_kind   text   NOT NULL CHECK (period_kind IN ('month', 'r12')),
    period_end    date   NOT NULL,
    stratum_type  text   NOT NULL,
    stratum_value text   NOT NULL,
    numerator     bigint NOT NULL,
    denominator   bigint NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (indicator, period_kind, period_end, stratum_type, stratum_value)
);
COMMENT ON TABLE indicator_counts IS 'Engine-maintained numerators and counted denominators per indicator, period and stratum. Unrounded: restricted.';

-- Values with confidence limits, unrounded. Restricted to analysts.
CREATE TABLE indicator_values (
    indicator     text NOT NULL,
    period_kind   text NOT NULL,
    period_end    date NOT NULL,
    stratum_type  text NOT NULL,
    stratum_value text NOT NULL,
    numerator     bigint NOT NULL,
    denominator   double precision,
    value         double precision,
    lower95       double precision,
    upper95       double precision,
    lower998      double precision,
    upper998      double precision,
    computed_at   timestamptz NOT NULL,
    PRIMARY KEY (indicator, period_kind, period_end, stratum_type, stratum_value)
);
COMMENT ON TABLE indicator_values IS 'Every indicator value with 95% and 99.8% limits, from unrounded counts. Restricted: analysts only.';

-- The same after disclosure control: what dashboards and the read-only role see.
CREATE TABLE indicator_values_published (
    indicator     text NOT NULL,
    period_kind   text NOT NULL,
    period_end    date NOT NULL,
    stratum_type  text NOT NULL,
    stratum_value text NOT NULL,
    numerator     bigint,
    denominator   double precision,
    value         double precision,
    lower95       double precision,
    upper95       double precision,
    lower998      double precision,
    upper998      double precision,
    suppressed    boolean NOT NULL,
    computed_at   timestamptz NOT NULL,
    PRIMARY KEY (indicator, period_kind, period_end, stratum_type, stratum_value)
);
COMMENT ON TABLE indicator_values_published IS 'indicator_values after disclosure control: counts below 5 suppressed, others rounded to 5, except the trust-wide all stratum.';

-- Statistical process control per monthly series (filled by the catalogue work, issue 3).
CREATE TABLE indicator_spc (
    indicator      text NOT NULL,
    stratum_type   text NOT NULL,
    stratum_value  text NOT NULL,
    period_end     date NOT NULL,
    value          double precision,
    mean           double precision,
    lower_limit    double precision,
    upper_limit    double precision,
    special_cause  text,
    variation_icon text,
    assurance_icon text,
    computed_at    timestamptz NOT NULL,
    PRIMARY KEY (indicator, stratum_type, stratum_value, period_end)
);

-- Engine state: restricted even from analysts (pseudonymised person-level data).
CREATE TABLE engine_offsets (
    topic       text    NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint  NOT NULL,
    -- Bumped by each engine that takes the partition over; a commit from an older owner fails.
    epoch       bigint  NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);
COMMENT ON TABLE engine_offsets IS 'Next canonical-topic offset per partition, committed with the counts it produced (effectively-once).';

CREATE TABLE person_state (
    person     text    PRIMARY KEY,
    partition  integer NOT NULL,
    state      jsonb   NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX person_state_partition ON person_state (partition);
COMMENT ON TABLE person_state IS 'Pseudonymised events in effect per person. Restricted: services only.';

CREATE TABLE events_seen (
    event_id  text    PRIMARY KEY,
    -- NULL for retraction events, which belong to no person's state.
    person    text,
    partition integer NOT NULL
);
COMMENT ON TABLE events_seen IS 'Every applied event id (pseudonymised), for global de-duplication and routing retractions.';

CREATE TABLE retractions (
    target_event_id     text PRIMARY KEY,
    retraction_event_id text NOT NULL,
    applied             boolean NOT NULL DEFAULT false
);
CREATE INDEX retractions_pending ON retractions (target_event_id) WHERE NOT applied;
COMMENT ON TABLE retractions IS 'Retracted event ids; applied by the engine that owns the target person, whenever the target arrives.';
