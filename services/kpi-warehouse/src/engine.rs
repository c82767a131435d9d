//! The engine's side of the warehouse: everything one batch commits in one transaction (the
//! events it applied, count deltas and the next offset of each partition), and the reads that
//! rebuild a person's state from them.
//!
//! Event ids and person pseudonyms cross this boundary as the 64 hex digits they are spelled in
//! and are kept as the 32 bytes they spell (migration 0012): the statements `decode` what they
//! are given and `encode` what they return. The engine takes in only ids spelled so
//! (`kpi_core::pseudonym::has_pseudonymous_ids`); any other would fail the batch's statements.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use futures_util::TryStreamExt as _;
use kpi_core::contrib::Counts;
use kpi_core::person::PersonState;
use kpi_core::Event;
use sqlx::postgres::PgArguments;
use sqlx::{Arguments as _, PgPool, Postgres, Row, Transaction};

use crate::WarehouseError;

mod copy_rows;

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
        "SELECT p.person, s.event,
                EXISTS (SELECT 1 FROM retractions r
                        WHERE r.target_event_id = s.event_id AND r.applied
                          AND NOT (encode(r.target_event_id, 'hex') = ANY($2))) AS retracted
         FROM UNNEST($1::text[]) AS p(person)
         JOIN events_seen s ON s.person = decode(p.person, 'hex')
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
    /// The engine expects PostgreSQL to record it for the first time (its person's state does
    /// not know it).
    pub foreseen_new: bool,
}

/// Records events in `events_seen` (the first of each id), its arguments encoded up front: it
/// owns everything it sends, so that it can run in a task of its own while the caller goes on
/// computing (the engine computes a batch's contributions while PostgreSQL records its events).
///
/// Events foreseen new whose id comes once in the batch, nearly all of them, are sent with
/// `COPY`: on a 20,000-event batch into a 990,000-row `events_seen` it took 540-665 ms against
/// 770-1,050 ms for the `INSERT … ON CONFLICT … RETURNING` (psql, three runs each,
/// docs/performance-history.md, "Recording with COPY"). The rest (retractions, foreseen
/// duplicates, repeated ids) go by that `INSERT`, which says which were new. Their ids are
/// apart, so the two cannot disagree over which row of an id came first. A copy PostgreSQL
/// refuses (an id it already holds, under another person or from another instance) is rolled
/// back to a savepoint and recorded by the `INSERT`.
pub struct RecordSeen {
    copied: Option<Copied>,
    inserted: Option<PgArguments>,
}

/// The rows sent with `COPY`, and their ids: all new once the copy succeeds.
struct Copied {
    text: Vec<u8>,
    ids: Vec<String>,
}

impl RecordSeen {
    pub fn encode(events: &[Seen<'_>]) -> Result<Self, WarehouseError> {
        let mut times_in_batch: HashMap<&str, u32> = HashMap::with_capacity(events.len());
        for event in events {
            *times_in_batch.entry(event.event_id).or_default() += 1;
        }
        let (to_copy, rest): (Vec<&Seen<'_>>, Vec<&Seen<'_>>) =
            events.iter().partition(|e| e.foreseen_new && e.person.is_some() && times_in_batch[e.event_id] == 1);
        // Sized up front (three separators, a partition and a newline a row, escapes aside):
        // grown by doubling, the buffer of a 20,000-event batch would hold up to twice its text.
        let size: usize =
            to_copy.iter().map(|e| e.event_id.len() + e.person.map_or(0, str::len) + e.record.len() + 16).sum();
        let mut copied = Copied { text: Vec::with_capacity(size), ids: Vec::with_capacity(to_copy.len()) };
        for event in to_copy {
            copy_rows::push(&mut copied.text, event.event_id, event.person, event.partition, Some(event.record));
            copied.ids.push(event.event_id.to_owned());
        }
        let rest = rest.into_iter().map(|e| copy_rows::Row {
            event_id: e.event_id.to_owned(),
            person: e.person.map(str::to_owned),
            partition: e.partition,
            event: e.person.map(|_| e.record.to_owned()),
        });
        Ok(RecordSeen {
            copied: (!copied.ids.is_empty()).then_some(copied),
            inserted: insert_arguments(rest.collect())?,
        })
    }

    /// Runs the copy and the insert; returns the ids that were new.
    pub async fn run(self, tx: &mut Transaction<'_, Postgres>) -> Result<HashSet<String>, WarehouseError> {
        let mut new_ids = HashSet::new();
        if let Some(copied) = self.copied {
            sqlx::query("SAVEPOINT record_seen").execute(&mut **tx).await?;
            match copy_in(tx, &copied.text).await {
                Ok(()) => {
                    sqlx::query("RELEASE SAVEPOINT record_seen").execute(&mut **tx).await?;
                    new_ids.extend(copied.ids);
                }
                Err(error) if is_unique_violation(&error) => {
                    sqlx::query("ROLLBACK TO SAVEPOINT record_seen").execute(&mut **tx).await?;
                    if let Some(arguments) = insert_arguments(copy_rows::parse(&copied.text))? {
                        new_ids.extend(insert_returning_new(tx, arguments).await?);
                    }
                }
                Err(error) => return Err(error.into()),
            }
        }
        if let Some(arguments) = self.inserted {
            new_ids.extend(insert_returning_new(tx, arguments).await?);
        }
        Ok(new_ids)
    }
}

/// Each `CopyData` message's size.
const COPY_PIECE_BYTES: usize = 256 * 1024;

async fn copy_in(tx: &mut Transaction<'_, Postgres>, text: &[u8]) -> Result<(), sqlx::Error> {
    let mut copy = tx.copy_in_raw("COPY events_seen (event_id, person, partition, event) FROM STDIN").await?;
    // In pieces: sqlx puts what it sends in the connection's write buffer, which keeps its size.
    for piece in text.chunks(COPY_PIECE_BYTES) {
        if let Err(error) = copy.send(piece).await {
            copy.abort("sending the rows failed").await.ok();
            return Err(error);
        }
    }
    copy.finish().await.map(drop)
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.code().as_deref() == Some("23505"))
}

/// The `INSERT … ON CONFLICT` arguments for `rows`; `None` if there are none.
fn insert_arguments(rows: Vec<copy_rows::Row>) -> Result<Option<PgArguments>, WarehouseError> {
    if rows.is_empty() {
        return Ok(None);
    }
    let ids: Vec<&str> = rows.iter().map(|r| r.event_id.as_str()).collect();
    let persons: Vec<Option<&str>> = rows.iter().map(|r| r.person.as_deref()).collect();
    let partitions: Vec<i32> = rows.iter().map(|r| r.partition).collect();
    let records: Vec<Option<&str>> = rows.iter().map(|r| r.event.as_deref()).collect();
    let mut arguments = PgArguments::default();
    let encoded = arguments
        .add(&ids)
        .and_then(|()| arguments.add(&persons))
        .and_then(|()| arguments.add(&partitions))
        .and_then(|()| arguments.add(&records));
    encoded.map_err(|error| WarehouseError::from(sqlx::Error::Encode(error)))?;
    Ok(Some(arguments))
}

/// Inserts the rows of `arguments` whose id is not recorded yet; returns their ids.
async fn insert_returning_new(
    tx: &mut Transaction<'_, Postgres>,
    arguments: PgArguments,
) -> Result<Vec<String>, WarehouseError> {
    let rows = sqlx::query_with(
        "INSERT INTO events_seen (event_id, person, partition, event)
         SELECT decode(id, 'hex'), decode(person, 'hex'), part, record
         FROM UNNEST($1::text[], $2::text[], $3::int[], $4::text[]) AS u(id, person, part, record)
         ON CONFLICT (event_id) DO NOTHING RETURNING encode(event_id, 'hex') AS event_id",
        arguments,
    )
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(|r| r.get("event_id")).collect())
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
         SELECT decode(target, 'hex'), decode(id, 'hex') FROM UNNEST($1::text[], $2::text[]) AS u(target, id)
         ON CONFLICT (target_event_id) DO NOTHING",
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
         RETURNING encode(r.target_event_id, 'hex'), encode(s.person, 'hex'), s.partition",
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

/// Adds count deltas to `indicator_counts`, stamping each row it changes with `version`, the
/// counts version this transaction raised to (migration 0011): the publisher reads only the rows
/// changed since the version it last read.
pub async fn apply_deltas(
    tx: &mut Transaction<'_, Postgres>,
    deltas: &Counts,
    version: RaisedVersion,
) -> Result<(), WarehouseError> {
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
             (indicator, period_kind, period_end, stratum_type, stratum_value, numerator, denominator,
              changed_in_version)
         SELECT *, $8 FROM UNNEST($1::text[], $2::text[], $3::date[], $4::text[], $5::text[], $6::bigint[], $7::bigint[])
         ON CONFLICT (indicator, period_kind, period_end, stratum_type, stratum_value) DO UPDATE
         SET numerator = c.numerator + EXCLUDED.numerator,
             denominator = c.denominator + EXCLUDED.denominator,
             changed_in_version = EXCLUDED.changed_in_version,
             updated_at = now()",
    )
    .bind(&columns.indicator)
    .bind(&columns.kind)
    .bind(&columns.end)
    .bind(&columns.stratum_type)
    .bind(&columns.stratum_value)
    .bind(&columns.numerator)
    .bind(&columns.denominator)
    .bind(version.0)
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

/// The counts version a transaction raised to: what its changed count rows are stamped with.
/// Only [`raise_counts_version`] makes one, so the counts cannot be changed before it is raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaisedVersion(i64);

impl RaisedVersion {
    pub fn get(self) -> i64 {
        self.0
    }
}

/// Raises the counts version (migration 0007), which tells the publisher the counts changed.
/// Call it before changing the counts or the horizon: its row lock is held until the commit, so
/// writers raise it in the order they commit (every other writer waits for it meanwhile, as it
/// would for the trust-wide count rows every batch changes), and the version returned is the one
/// the commit leaves, which [`apply_deltas`] stamps on the rows it changes (migration 0011).
pub async fn raise_counts_version(tx: &mut Transaction<'_, Postgres>) -> Result<RaisedVersion, WarehouseError> {
    let version = sqlx::query_scalar("UPDATE counts_version SET version = version + 1 RETURNING version")
        .fetch_one(&mut **tx)
        .await?;
    Ok(RaisedVersion(version))
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
