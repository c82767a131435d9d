//! The engine's side of the warehouse: everything one batch commits in one transaction (the
//! events it applied, count deltas and the next offset of each partition), and the reads that
//! rebuild a person's state from them.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use futures_util::TryStreamExt as _;
use kpi_core::contrib::Counts;
use kpi_core::person::PersonState;
use kpi_core::Event;
use sqlx::postgres::PgArguments;
use sqlx::{Arguments as _, PgPool, Postgres, Row, Transaction};

use crate::WarehouseError;

/// Ownership of one partition by this engine instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub partition: i32,
    pub next_offset: i64,
    pub epoch: i64,
}

/// Takes a partition over: bumps its epoch so that any older owner's next commit fails, and
/// returns where to resume.
pub async fn claim_partition(pool: &PgPool, topic: &str, partition: i32) -> Result<Claim, WarehouseError> {
    let row = sqlx::query(
        "INSERT INTO engine_offsets (topic, partition, next_offset, epoch) VALUES ($1, $2, 0, 1)
         ON CONFLICT (topic, partition) DO UPDATE SET epoch = engine_offsets.epoch + 1, updated_at = now()
         RETURNING next_offset, epoch",
    )
    .bind(topic)
    .bind(partition)
    .fetch_one(pool)
    .await?;
    Ok(Claim { partition, next_offset: row.get("next_offset"), epoch: row.get("epoch") })
}

/// The stored states of `persons` (those with no event stored are absent), rebuilt from their
/// events and the applied retractions that target them. A retraction in `retracting` is treated
/// as not applied yet: the caller has just marked it applied in this transaction and applies it
/// to the state itself.
pub async fn load_persons(
    tx: &mut Transaction<'_, Postgres>,
    persons: &[&str],
    retracting: &[&str],
) -> Result<Vec<(String, PersonState)>, WarehouseError> {
    if persons.is_empty() {
        return Ok(Vec::new());
    }
    // Read as one index lookup a person, whatever PostgreSQL estimates. Without statistics (as
    // with autovacuum off) its plan for `s.person = ANY($1)` was a scan of events_seen, and once
    // cached as a generic plan it compared every row with every person in the array: a
    // 10,000,000-event bench stalled on it (a batch's read-back over 30 s; psql on that table,
    // 2,700,000 rows and 8,000 persons: 100 s). Joined, it became a hash join over the whole
    // table (0.75 s there, and 175 ms a batch against 32 in the 1,000,000-event bench). With
    // scans and hash or merge joins ruled out for this statement only (`set_config(.., true)`
    // holds to the end of the transaction; the settings are put back right after), 8,000
    // persons take 190-280 ms and 800 about 65 there, with or without statistics.
    sqlx::query(
        "SELECT set_config('enable_seqscan', 'off', true), set_config('enable_hashjoin', 'off', true),
                set_config('enable_mergejoin', 'off', true)",
    )
    .execute(&mut **tx)
    .await?;
    // Rows are decoded as they come rather than collected first: a batch of a large trust reads
    // back ten thousand persons or more, each with all their events, and holding every row's
    // text beside the states built from it raised the engine's peak memory by that much again.
    let mut states: HashMap<String, PersonState> = HashMap::with_capacity(persons.len());
    let mut rows = sqlx::query(
        "SELECT s.person, s.event,
                EXISTS (SELECT 1 FROM retractions r
                        WHERE r.target_event_id = s.event_id AND r.applied
                          AND NOT (r.target_event_id = ANY($2))) AS retracted
         FROM UNNEST($1::text[]) AS p(person)
         JOIN events_seen s ON s.person = p.person COLLATE \"C\"
         WHERE s.event IS NOT NULL",
    )
    .bind(persons)
    .bind(retracting)
    .fetch(&mut **tx);
    while let Some(row) = rows.try_next().await? {
        let event: Event = serde_json::from_str(row.get::<&str, _>("event"))?;
        let state = states.entry(row.get("person")).or_default();
        if row.get::<bool, _>("retracted") {
            state.retract(&event.event_id);
        }
        state.insert(event);
    }
    drop(rows);
    sqlx::query(
        "SELECT set_config(name, reset_val, true) FROM pg_settings
         WHERE name IN ('enable_seqscan', 'enable_hashjoin', 'enable_mergejoin')",
    )
    .execute(&mut **tx)
    .await?;
    Ok(states.into_iter().collect())
}

/// An event as the seen-set records it.
pub struct Seen<'a> {
    pub event_id: &'a str,
    /// `None` for a retraction, which belongs to no person's state.
    pub person: Option<&'a str>,
    pub partition: i32,
    /// The event's canonical JSON, kept with the id when it belongs to a person: the person's
    /// state is rebuilt from it.
    pub record: &'a str,
}

/// Records events in `events_seen` (the first of each id), its arguments encoded up front: it
/// owns everything it sends, so that it can run in a task of its own while the caller goes on
/// computing (the engine computes a batch's contributions while PostgreSQL records its events).
pub struct RecordSeen {
    arguments: Option<PgArguments>,
}

impl RecordSeen {
    pub fn encode(events: &[Seen<'_>]) -> Result<Self, WarehouseError> {
        if events.is_empty() {
            return Ok(RecordSeen { arguments: None });
        }
        let ids: Vec<&str> = events.iter().map(|e| e.event_id).collect();
        let persons: Vec<Option<&str>> = events.iter().map(|e| e.person).collect();
        let partitions: Vec<i32> = events.iter().map(|e| e.partition).collect();
        let records: Vec<Option<&str>> = events.iter().map(|e| e.person.map(|_| e.record)).collect();
        let mut arguments = PgArguments::default();
        let encoded = arguments
            .add(&ids)
            .and_then(|()| arguments.add(&persons))
            .and_then(|()| arguments.add(&partitions))
            .and_then(|()| arguments.add(&records));
        encoded.map_err(|error| WarehouseError::from(sqlx::Error::Encode(error)))?;
        Ok(RecordSeen { arguments: Some(arguments) })
    }

    /// Runs the insert; returns the ids that were new.
    pub async fn run(self, tx: &mut Transaction<'_, Postgres>) -> Result<HashSet<String>, WarehouseError> {
        let Some(arguments) = self.arguments else { return Ok(HashSet::new()) };
        let rows = sqlx::query_with(
            "INSERT INTO events_seen (event_id, person, partition, event)
             SELECT id, person, part, record FROM UNNEST($1::text[], $2::text[], $3::int[], $4::text[])
                 AS u(id, person, part, record)
             ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
            arguments,
        )
        .fetch_all(&mut **tx)
        .await?;
        Ok(rows.into_iter().map(|r| r.get("event_id")).collect())
    }
}

/// Registers retractions (target, retraction id); a repeated target keeps its first retraction.
pub async fn record_retractions(
    tx: &mut Transaction<'_, Postgres>,
    retractions: &[(&str, &str)],
) -> Result<(), WarehouseError> {
    if retractions.is_empty() {
        return Ok(());
    }
    let targets: Vec<&str> = retractions.iter().map(|r| r.0).collect();
    let ids: Vec<&str> = retractions.iter().map(|r| r.1).collect();
    sqlx::query(
        "INSERT INTO retractions (target_event_id, retraction_event_id)
         SELECT * FROM UNNEST($1::text[], $2::text[]) ON CONFLICT (target_event_id) DO NOTHING",
    )
    .bind(&targets)
    .bind(&ids)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Retractions not yet applied whose target belongs to a person in one of `partitions`; marks
/// them applied (the caller applies them in the same transaction). Returns (target, person,
/// partition).
pub async fn take_pending_retractions(
    tx: &mut Transaction<'_, Postgres>,
    partitions: &[i32],
) -> Result<Vec<(String, String, i32)>, WarehouseError> {
    let rows = sqlx::query(
        "UPDATE retractions r SET applied = true
         FROM events_seen s
         WHERE NOT r.applied AND s.event_id = r.target_event_id
           AND s.person IS NOT NULL AND s.partition = ANY($1)
         RETURNING r.target_event_id, s.person, s.partition",
    )
    .bind(partitions)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
}

/// The partitions among `partitions` that hold the target of a retraction not yet applied:
/// their owner has it to apply ([`take_pending_retractions`]), with or without new messages.
pub async fn partitions_with_pending_retractions(
    pool: &PgPool,
    partitions: &[i32],
) -> Result<Vec<i32>, WarehouseError> {
    let rows = sqlx::query_scalar(
        "SELECT DISTINCT s.partition
         FROM retractions r JOIN events_seen s ON s.event_id = r.target_event_id
         WHERE NOT r.applied AND s.person IS NOT NULL AND s.partition = ANY($1)",
    )
    .bind(partitions)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// Adds count deltas to `indicator_counts`.
pub async fn apply_deltas(tx: &mut Transaction<'_, Postgres>, deltas: &Counts) -> Result<(), WarehouseError> {
    if deltas.is_empty() {
        return Ok(());
    }
    // Rows in one fixed order: engine instances sharing cells (every batch touches the
    // trust-wide ones) then lock them in the same order and wait instead of deadlocking.
    let mut rows: Vec<_> = deltas.iter().collect();
    rows.sort_unstable_by_key(|(key, _)| {
        (key.indicator, key.period.kind.code(), key.period.end, key.stratum.kind.code(), key.stratum.value)
    });
    let mut columns = DeltaColumns::default();
    for (key, tally) in rows {
        columns.indicator.push(key.indicator);
        columns.kind.push(key.period.kind.code());
        columns.end.push(key.period.end);
        columns.stratum_type.push(key.stratum.kind.code());
        columns.stratum_value.push(key.stratum.value);
        columns.numerator.push(tally.numerator);
        columns.denominator.push(tally.denominator);
    }
    sqlx::query(
        "INSERT INTO indicator_counts AS c
             (indicator, period_kind, period_end, stratum_type, stratum_value, numerator, denominator)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::date[], $4::text[], $5::text[], $6::bigint[], $7::bigint[])
         ON CONFLICT (indicator, period_kind, period_end, stratum_type, stratum_value) DO UPDATE
         SET numerator = c.numerator + EXCLUDED.numerator,
             denominator = c.denominator + EXCLUDED.denominator,
             updated_at = now()",
    )
    .bind(&columns.indicator)
    .bind(&columns.kind)
    .bind(&columns.end)
    .bind(&columns.stratum_type)
    .bind(&columns.stratum_value)
    .bind(&columns.numerator)
    .bind(&columns.denominator)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[derive(Default)]
struct DeltaColumns {
    indicator: Vec<&'static str>,
    kind: Vec<&'static str>,
    end: Vec<NaiveDate>,
    stratum_type: Vec<&'static str>,
    stratum_value: Vec<&'static str>,
    numerator: Vec<i64>,
    denominator: Vec<i64>,
}

/// Moves the data horizon forward to `latest` (never back).
pub async fn advance_horizon(tx: &mut Transaction<'_, Postgres>, latest: NaiveDate) -> Result<(), WarehouseError> {
    sqlx::query(
        "INSERT INTO data_horizon (latest_event_date) VALUES ($1)
         ON CONFLICT (singleton) DO UPDATE SET latest_event_date = EXCLUDED.latest_event_date, updated_at = now()
         WHERE data_horizon.latest_event_date < EXCLUDED.latest_event_date",
    )
    .bind(latest)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Raises the counts version (migration 0007), which tells the publisher the counts changed.
/// Call it last before committing: its row lock is held until the commit, so that writers
/// raise it in the order they commit, and every other writer waits for it meanwhile.
pub async fn raise_counts_version(tx: &mut Transaction<'_, Postgres>) -> Result<(), WarehouseError> {
    sqlx::query("UPDATE counts_version SET version = version + 1").execute(&mut **tx).await?;
    Ok(())
}

/// Stores the next offset of a partition, only if this engine still owns it (its epoch).
pub async fn advance_offset(
    tx: &mut Transaction<'_, Postgres>,
    topic: &str,
    claim: Claim,
    next_offset: i64,
) -> Result<(), WarehouseError> {
    let updated = sqlx::query(
        "UPDATE engine_offsets SET next_offset = $3, updated_at = now()
         WHERE topic = $1 AND partition = $2 AND epoch = $4",
    )
    .bind(topic)
    .bind(claim.partition)
    .bind(next_offset)
    .bind(claim.epoch)
    .execute(&mut **tx)
    .await?;
    if updated.rows_affected() == 1 {
        Ok(())
    } else {
        Err(WarehouseError::Fenced { topic: topic.to_owned(), partition: claim.partition })
    }
}
