//! One batch, one transaction: read back the persons it touches that are not in memory, record
//! the events (duplicates fall out) while applying them to the person states and computing the
//! count deltas (new minus old contributions of each changed person), register retractions and
//! apply those whose target this instance owns, add the count deltas and advance the fenced
//! offsets. If the transaction fails, the in-memory person states are put back as they were
//! (what the batch added to each is noted as it goes: `Additions`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use chrono::NaiveDate;
use kpi_core::contrib::{add_change, add_counts, Counts};
use kpi_core::person::{ended_before_started, Additions, PersonState, PersonView};
use kpi_core::reach::{reach_of, Reach};
use kpi_core::{Event, Payload};
use kpi_warehouse::engine::{self as store, Claim, Seen};
use kpi_warehouse::WarehouseError;
use sqlx::{PgPool, Postgres, Transaction};

use crate::partitions::Owned;
pub use crate::steps::StepTimes;
use crate::steps::Stopwatch;

/// A message from the canonical topic, decoded (or not).
pub struct Incoming {
    pub partition: i32,
    pub offset: i64,
    /// `None` when the canonical record did not decode (written by an incompatible ingest).
    pub event: Option<Event>,
    /// The canonical record as received, when it decoded: stored verbatim in `events_seen`, so
    /// that the engine need not serialise each event again.
    pub record: String,
}

/// What a committed batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchReport {
    pub new_events: usize,
    pub duplicates: usize,
    /// Messages below the partition's stored offset: applied by an earlier run.
    pub already_applied: usize,
    pub undecodable: usize,
    pub retractions_applied: usize,
    pub persons_changed: usize,
    pub cells_changed: usize,
    /// End events newly found dated before their start, sent to the dead-letter topic.
    pub ended_before_started: usize,
    /// PostgreSQL found duplicates the person states in memory did not foresee (an id recorded
    /// under another person, or by another instance), so the events were applied again from
    /// its answer and the contributions computed a second time.
    pub recomputed: bool,
    /// Persons not in memory, looked up in the warehouse before the batch's events were applied
    /// (read back, or found new; the persons of retractions' targets not counted).
    pub persons_read_back: usize,
    /// Where the batch's time went.
    pub steps: StepTimes,
}

/// The persons this batch touched, by (partition, person), with what it did to each: enough to
/// see their states as they were (old contributions) and to undo the batch on failure.
type Touched = HashMap<(i32, String), Touch>;

struct Touch {
    /// The person had no state in memory (none in the warehouse either): undoing removes them.
    new: bool,
    additions: Additions,
}

/// Where events found to break the contract only once the engine knows both ends of an
/// episode (`ended_before_started`) are reported, before the batch commits.
pub trait DeadLetters {
    fn send(&self, events: &[Event]) -> impl std::future::Future<Output = anyhow::Result<()>> + Send;
}

/// Why a batch did not commit.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    #[error("reporting to the dead-letter topic failed: {0}")]
    DeadLetters(anyhow::Error),
    #[error("recording the batch's events was cancelled: the engine is shutting down")]
    Cancelled,
}

impl From<sqlx::Error> for BatchError {
    fn from(error: sqlx::Error) -> Self {
        BatchError::Warehouse(WarehouseError::from(error))
    }
}

/// Applies `batch` in one transaction ([`prepare`] then [`finish`]). Every partition in it must
/// be owned.
pub async fn apply(
    pool: &PgPool,
    topic: &str,
    owned: &mut Owned,
    batch: &[Incoming],
    dead_letters: &impl DeadLetters,
) -> Result<BatchReport, BatchError> {
    let result = match prepare(pool, owned, batch).await {
        Ok(prepared) => match finish(prepared, topic, dead_letters).await {
            Ok(finished) => Ok(finished.landed(owned)),
            Err(unfinished) => Err(unfinished.undo(owned)),
        },
        Err(error) => Err(error),
    };
    owned.end_batch();
    result
}

/// A batch applied to the person states in memory, its events recorded and its count changes
/// computed, its transaction still open: [`finish`] writes the counts and offsets and commits.
/// Owns everything it needs, so that it can finish in its own task while the next batch is
/// prepared on another connection (`service`).
pub struct Prepared {
    tx: Transaction<'static, Postgres>,
    touched: Touched,
    deltas: Counts,
    inconsistent: Vec<Event>,
    latest_date: Option<NaiveDate>,
    /// Where each partition of the batch resumes once it commits, with the claim that fences it.
    next_offsets: BTreeMap<i32, (Claim, i64)>,
    report: BatchReport,
    unseen: Unseen,
}

/// What a batch leaves in PostgreSQL that other transactions cannot see until it commits: the
/// events it recorded, and the retractions it registered whose target has not come yet.
#[derive(Debug, Default)]
pub struct Unseen {
    events: HashSet<String>,
    awaited_targets: HashSet<String>,
}

impl Unseen {
    /// Whether `batch` needs them: it retracts one of the events, or brings an event one of the
    /// retractions awaits. Prepared beside the batch in flight, it finds neither, and the
    /// retraction stays pending until a later batch, or the sweep once nothing is left to read,
    /// applies it (`service`).
    pub fn needed_by(&self, batch: &[Incoming]) -> bool {
        batch.iter().filter_map(|m| m.event.as_ref()).any(|event| match &event.payload {
            Payload::EventRetracted { retracted_event_id } => self.events.contains(retracted_event_id),
            _ => self.awaited_targets.contains(&event.event_id),
        })
    }
}

impl Prepared {
    /// Gives the batch up: its transaction rolls back and the person states are put back.
    pub fn undo(self, owned: &mut Owned) {
        undo(owned, self.touched);
    }

    /// What the batch leaves that the next one, prepared before it commits, cannot see.
    pub fn take_unseen(&mut self) -> Unseen {
        std::mem::take(&mut self.unseen)
    }
}

/// A committed batch.
pub struct Finished {
    report: BatchReport,
    next_offsets: BTreeMap<i32, i64>,
}

impl Finished {
    /// Moves the owned partitions past the batch; returns its report.
    pub fn landed(self, owned: &mut Owned) -> BatchReport {
        for (partition, next) in self.next_offsets {
            if let Some(p) = owned.partitions.get_mut(&partition) {
                p.next_offset = next;
            }
        }
        self.report
    }
}

/// A batch whose transaction failed, with the person states to put back.
pub struct Unfinished {
    error: BatchError,
    touched: Touched,
}

impl Unfinished {
    /// Puts the person states back as they were before the batch; returns why it failed.
    pub fn undo(self, owned: &mut Owned) -> BatchError {
        undo(owned, self.touched);
        self.error
    }
}

/// Opens the batch's transaction, reads back the persons it touches that are not in memory,
/// records its events (duplicates fall out), registers and applies retractions, updates the
/// person states and computes the count changes. On failure the person states are put back.
pub async fn prepare(pool: &PgPool, owned: &mut Owned, batch: &[Incoming]) -> Result<Prepared, BatchError> {
    let mut touched = Touched::new();
    match prepare_inner(pool, owned, batch, &mut touched).await {
        Ok(mut prepared) => {
            prepared.report.persons_changed = touched.len();
            prepared.report.cells_changed = prepared.deltas.len();
            prepared.touched = touched;
            Ok(prepared)
        }
        Err(error) => {
            undo(owned, touched);
            Err(error)
        }
    }
}

async fn prepare_inner(
    pool: &PgPool,
    owned: &mut Owned,
    batch: &[Incoming],
    touched: &mut Touched,
) -> Result<Prepared, BatchError> {
    let mut report = BatchReport::default();
    let mut next_offsets: BTreeMap<i32, (Claim, i64)> = BTreeMap::new();
    let mut fresh: Vec<&Incoming> = Vec::with_capacity(batch.len());
    for message in batch {
        let partition = owned.partitions.get(&message.partition).expect("batch partitions are owned");
        if message.offset < partition.next_offset {
            report.already_applied += 1;
            continue;
        }
        let next = next_offsets.entry(message.partition).or_insert((partition.claim, message.offset + 1));
        next.1 = next.1.max(message.offset + 1);
        match message.event {
            Some(_) => fresh.push(message),
            None => report.undecodable += 1,
        }
    }

    let mut watch = Stopwatch::start();
    let mut tx = pool.begin().await?;
    let mut seen: Vec<Seen> = fresh
        .iter()
        .map(|m| {
            let event = m.event.as_ref().expect("filtered above");
            let person = match event.payload {
                Payload::EventRetracted { .. } => None,
                _ => event.person.as_deref(),
            };
            Seen { event_id: &event.event_id, person, partition: m.partition, record: &m.record, foreseen_new: false }
        })
        .collect();
    // Read before the events are recorded, so that what comes back is the state before this batch.
    let persons: Vec<(&str, i32)> = seen.iter().filter_map(|s| Some((s.person?, s.partition))).collect();
    report.persons_read_back = load_missing(&mut tx, owned, &persons, &[]).await?;
    report.steps.read_persons = watch.lap();

    // A person's state in memory now holds every event recorded for them (read back above, or
    // kept since, the batch in flight's included), so which of the batch's events are new can
    // be told before PostgreSQL says so: the events are applied and their count changes
    // computed while it records them (about as long as each other; the cores were otherwise
    // idle for one of the two), then its answer is checked against what was foreseen.
    let foreseen = apply_foreseen(owned, touched, &fresh);
    for (seen, foreseen) in seen.iter_mut().zip(&foreseen) {
        seen.foreseen_new = *foreseen == Some(true);
    }
    let recording = store::RecordSeen::encode(&seen)?;
    let recorded = tokio::spawn(async move {
        let started = Instant::now();
        let new_ids = recording.run(&mut tx).await;
        (tx, new_ids, started.elapsed())
    });
    watch.lap();
    let (mut deltas, mut inconsistent) = on_every_core(|| differences(owned, touched));
    report.steps.contributions = watch.lap();
    let (mut tx, new_ids, recording_time) = match recorded.await {
        Ok(recorded) => recorded,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(_) => return Err(BatchError::Cancelled),
    };
    let mut new_ids = new_ids?;
    report.steps.record_events = recording_time;
    watch.lap();
    let mut unseen = Unseen { events: new_ids.clone(), awaited_targets: HashSet::new() };
    // Removing the id makes a repeat within this same batch a duplicate too.
    let recorded_new: Vec<bool> =
        fresh.iter().map(|m| new_ids.remove(&m.event.as_ref().expect("filtered above").event_id)).collect();
    let as_foreseen = foreseen.iter().zip(&recorded_new).all(|(foreseen, new)| foreseen.is_none_or(|f| f == *new));
    if !as_foreseen {
        undo(owned, std::mem::take(touched));
        for (message, _) in fresh.iter().zip(&recorded_new).filter(|(_, new)| **new) {
            let event = message.event.as_ref().expect("filtered above");
            if let (false, Some(person)) = (is_retraction(event), &event.person) {
                insert(owned, touched, message.partition, person, event);
            }
        }
        (deltas, inconsistent) = on_every_core(|| differences(owned, touched));
        report.steps.contributions += watch.lap();
        report.recomputed = true;
    }

    let mut retractions = Vec::new();
    let mut latest_date = None;
    for (message, new) in fresh.iter().zip(recorded_new) {
        let event = message.event.as_ref().expect("filtered above");
        if !new {
            report.duplicates += 1;
            continue;
        }
        report.new_events += 1;
        latest_date = latest_date.max(Some(event.date));
        if let Payload::EventRetracted { retracted_event_id } = &event.payload {
            retractions.push((retracted_event_id.as_str(), event.event_id.as_str()));
        }
    }
    store::record_retractions(&mut tx, &retractions).await?;
    let pending = store::take_pending_retractions(&mut tx, &owned.ids()).await?;
    unseen.awaited_targets = retractions.iter().map(|(target, _)| (*target).to_owned()).collect();
    for (target, _, _) in &pending {
        unseen.awaited_targets.remove(target);
    }
    let targets: Vec<&str> = pending.iter().map(|(target, _, _)| target.as_str()).collect();
    let persons: Vec<(&str, i32)> =
        pending.iter().map(|(_, person, partition)| (person.as_str(), *partition)).collect();
    load_missing(&mut tx, owned, &persons, &targets).await?;
    // Noted apart from the events' additions as well, to compute what the retractions change
    // on top of what the events changed.
    let mut retracted: HashMap<(i32, String), Additions> = HashMap::new();
    for (target, person, partition) in &pending {
        let (state, additions) = touch(owned, touched, *partition, person);
        let mut noted = Additions::default();
        state.retract_noting(target, &mut noted);
        additions.absorb(noted.clone());
        retracted.entry((*partition, person.clone())).or_default().absorb(noted);
        report.retractions_applied += 1;
    }
    report.steps.apply_events = watch.lap();
    retraction_differences(owned, touched, &retracted, &mut deltas, &mut inconsistent);
    report.steps.contributions += watch.lap();
    // The caller hands the touched persons over once nothing more can fail.
    Ok(Prepared { tx, touched: Touched::new(), deltas, inconsistent, latest_date, next_offsets, report, unseen })
}

/// Applies the batch's events to the states of their persons as if every event their person's
/// state does not know were new; returns, for each event, whether it was (`None`: the event
/// changes no person's events, a retraction or an event without a person).
fn apply_foreseen(owned: &mut Owned, touched: &mut Touched, fresh: &[&Incoming]) -> Vec<Option<bool>> {
    fresh
        .iter()
        .map(|message| {
            let event = message.event.as_ref().expect("filtered above");
            let person = event.person.as_deref().filter(|_| !is_retraction(event))?;
            if owned.state(person).is_some_and(|state| state.knows(&event.event_id)) {
                return Some(false);
            }
            Some(insert(owned, touched, message.partition, person, event))
        })
        .collect()
}

/// Adds `event` to its person's state, noting it among the batch's additions; whether it was new.
fn insert(owned: &mut Owned, touched: &mut Touched, partition: i32, person: &str, event: &Event) -> bool {
    let (state, additions) = touch(owned, touched, partition, person);
    state.insert_noting(event.clone(), additions)
}

fn is_retraction(event: &Event) -> bool {
    matches!(event.payload, Payload::EventRetracted { .. })
}

/// Runs `compute`, which keeps every core busy, without holding up the runtime's other tasks
/// (this batch's events being recorded, the batch before committing).
fn on_every_core<T>(compute: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|runtime| runtime.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(compute),
        // A single-threaded runtime (a test) cannot lend its thread; the recording waits.
        _ => compute(),
    }
}

/// Writes a prepared batch's count changes, data horizon and offsets, reports the events only
/// the engine can find invalid, and commits. On failure the caller puts the person states back
/// ([`Unfinished::undo`]), after undoing any batch prepared since.
pub async fn finish(prepared: Prepared, topic: &str, dead_letters: &impl DeadLetters) -> Result<Finished, Unfinished> {
    let Prepared { mut tx, touched, deltas, inconsistent, latest_date, next_offsets, mut report, .. } = prepared;
    let written =
        finish_inner(&mut tx, topic, &deltas, &inconsistent, latest_date, &next_offsets, &mut report, dead_letters);
    if let Err(error) = written.await {
        return Err(Unfinished { error, touched });
    }
    let mut watch = Stopwatch::start();
    if let Err(error) = tx.commit().await {
        return Err(Unfinished { error: WarehouseError::from(error).into(), touched });
    }
    report.steps.commit += watch.lap();
    Ok(Finished { report, next_offsets: next_offsets.into_iter().map(|(p, (_, next))| (p, next)).collect() })
}

#[allow(clippy::too_many_arguments)]
async fn finish_inner(
    tx: &mut Transaction<'static, Postgres>,
    topic: &str,
    deltas: &Counts,
    inconsistent: &[Event],
    latest_date: Option<NaiveDate>,
    next_offsets: &BTreeMap<i32, (Claim, i64)>,
    report: &mut BatchReport,
    dead_letters: &impl DeadLetters,
) -> Result<(), BatchError> {
    let mut watch = Stopwatch::start();
    if !deltas.is_empty() || latest_date.is_some() {
        // First: the version raised to is what the changed count rows are stamped with.
        let version = store::raise_counts_version(tx).await?;
        store::apply_deltas(tx, deltas, version).await?;
    }
    report.steps.add_counts = watch.lap();
    if let Some(latest) = latest_date {
        store::advance_horizon(tx, latest).await?;
    }
    for (partition, (claim, next)) in next_offsets {
        debug_assert_eq!(*partition, claim.partition);
        store::advance_offset(tx, topic, *claim, *next).await?;
    }
    if !inconsistent.is_empty() {
        dead_letters.send(inconsistent).await.map_err(BatchError::DeadLetters)?;
        report.ended_before_started = inconsistent.len();
    }
    report.steps.commit = watch.lap();
    Ok(())
}

/// The count changes of the touched persons (new minus old contributions) and the end events
/// newly found dated before their start. Computed on every core: this batch's transaction waits
/// for it (PostgreSQL meanwhile commits the batch before, if one is in flight).
fn differences(owned: &Owned, touched: &Touched) -> (Counts, Vec<Event>) {
    let touched: Vec<(&Touch, &PersonState)> = touched
        .iter()
        .map(|((_, person), touch)| {
            (touch, owned.state(person).expect("a touched person is in memory until the batch ends"))
        })
        .collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Small batches (a steady trickle) are not worth a thread.
    let parts = cores.min(touched.len() / MIN_PERSONS_PER_THREAD).max(1);
    let chunk = touched.len().div_ceil(parts).max(1);
    std::thread::scope(|scope| {
        let threads: Vec<_> = touched.chunks(chunk).map(|part| scope.spawn(|| differences_of(part))).collect();
        let mut deltas = Counts::default();
        let mut inconsistent = Vec::new();
        for thread in threads {
            let (part_deltas, part_inconsistent) = thread.join().expect("computing contributions panicked");
            add_counts(&mut deltas, part_deltas);
            inconsistent.extend(part_inconsistent);
        }
        (deltas, inconsistent)
    })
}

const MIN_PERSONS_PER_THREAD: usize = 500;

fn differences_of(touched: &[(&Touch, &PersonState)]) -> (Counts, Vec<Event>) {
    let mut deltas = Counts::default();
    let mut inconsistent = Vec::new();
    for (touch, state) in touched {
        // Only the months the batch can change are computed, before and after (`kpi_core::reach`).
        let reach = if touch.new { Some(None) } else { changed_from(state, &touch.additions) };
        let Some(from) = reach else { continue };
        let after = state.view();
        let before = (!touch.new).then(|| state.view_without(&touch.additions));
        inconsistent.extend(newly_ended_before_started(before.as_ref(), &after).into_iter().cloned());
        add_change(&mut deltas, before.as_ref(), &after, from);
    }
    (deltas, inconsistent)
}

/// Adds what the batch's retractions change on top of its events (whose changes were computed
/// while PostgreSQL recorded them, before the retractions were known): for each person they
/// touch, from their state with the batch's events to their state with its retractions too.
/// Retractions are few, so this runs on one core.
fn retraction_differences(
    owned: &Owned,
    touched: &Touched,
    retracted: &HashMap<(i32, String), Additions>,
    deltas: &mut Counts,
    inconsistent: &mut Vec<Event>,
) {
    for (key, retractions) in retracted {
        let state = owned.state(&key.1).expect("a touched person is in memory until the batch ends");
        let Some(from) = changed_from(state, retractions) else { continue };
        let events_only = state.view_without(retractions);
        let after = state.view();
        add_change(deltas, Some(&events_only), &after, from);
        // The end events this person gives the dead-letter topic, as for the batch in one pass.
        let touch = &touched[key];
        let before = (!touch.new).then(|| state.view_without(&touch.additions));
        let foreseen: HashSet<&str> = newly_ended_before_started(before.as_ref(), &events_only)
            .into_iter()
            .map(|e| e.event_id.as_str())
            .collect();
        inconsistent.retain(|e| !foreseen.contains(e.event_id.as_str()));
        inconsistent.extend(newly_ended_before_started(before.as_ref(), &after).into_iter().cloned());
    }
}

/// From which date `additions` can change the person's contributions (`Some(None)`: any
/// period), or `None` when they change nothing.
fn changed_from(state: &PersonState, additions: &Additions) -> Option<Option<NaiveDate>> {
    match reach_of(state, additions) {
        Reach::Nothing => None,
        Reach::From(date) => Some(Some(date)),
        Reach::Everything => Some(None),
    }
}

/// End events dated before their start in `after` that were not so in `before`.
fn newly_ended_before_started<'a>(before: Option<&PersonView>, after: &PersonView<'a>) -> Vec<&'a Event> {
    let known: HashSet<&str> = before
        .map(|b| ended_before_started(&b.events).iter().map(|e| e.event_id.as_str()).collect())
        .unwrap_or_default();
    ended_before_started(&after.events).into_iter().filter(|e| !known.contains(e.event_id.as_str())).collect()
}

/// Reads back, in the batch's transaction, the states of the persons not in memory; returns how
/// many persons were looked up (those with nothing recorded yet included).
async fn load_missing(
    tx: &mut Transaction<'_, Postgres>,
    owned: &mut Owned,
    persons: &[(&str, i32)],
    retracting: &[&str],
) -> Result<usize, BatchError> {
    let mut missing: Vec<(&str, i32)> = persons.iter().copied().filter(|(p, _)| !owned.is_cached(p)).collect();
    missing.sort_unstable();
    missing.dedup();
    if missing.is_empty() {
        return Ok(0);
    }
    let partitions: HashMap<&str, i32> = missing.iter().copied().collect();
    let names: Vec<&str> = missing.iter().map(|(p, _)| *p).collect();
    for (person, state) in store::load_persons(tx, &names, retracting).await? {
        let partition = partitions[person.as_str()];
        owned.restore(person, partition, Some(state));
    }
    Ok(names.len())
}

/// The person's state, and where to note what this batch adds to it.
fn touch<'a, 'b>(
    owned: &'a mut Owned,
    touched: &'b mut Touched,
    partition: i32,
    person: &str,
) -> (&'a mut PersonState, &'b mut Additions) {
    let touch = touched
        .entry((partition, person.to_owned()))
        .or_insert_with(|| Touch { new: !owned.is_cached(person), additions: Additions::default() });
    (owned.state_mut(partition, person), &mut touch.additions)
}

/// Puts the touched persons back as they were before the batch.
fn undo(owned: &mut Owned, touched: Touched) {
    for ((partition, person), touch) in touched {
        if touch.new {
            owned.restore(person, partition, None);
        } else {
            owned.take_back(&person, &touch.additions);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incoming(id: &str, payload: &str) -> Incoming {
        let record = format!(
            r#"{{"event_id": "{id}", "occurred_at": "2024-03-01T10:00:00Z", "recorded_at": "2024-03-01T10:00:00Z",
                "date": "2024-03-01", "person": "p1", "payload": {payload}}}"#
        );
        let event = serde_json::from_str(&record).expect("a canonical event");
        Incoming { partition: 0, offset: 0, event: Some(event), record }
    }

    fn retraction(id: &str, target: &str) -> Incoming {
        incoming(id, &format!(r#"{{"type": "event_retracted", "retracted_event_id": "{target}"}}"#))
    }

    fn smoking(id: &str) -> Incoming {
        incoming(id, r#"{"type": "smoking_status", "status": "current"}"#)
    }

    #[test]
    fn a_sweep_is_due_only_when_a_batch_needs_what_the_one_in_flight_wrote() {
        let unseen =
            Unseen { events: ["e1".to_owned(), "e2".to_owned()].into(), awaited_targets: ["t9".to_owned()].into() };
        assert!(!unseen.needed_by(&[smoking("e3"), retraction("r1", "e0")]), "nothing of the batch in flight");
        assert!(unseen.needed_by(&[smoking("e3"), retraction("r2", "e2")]), "retracts an event in flight");
        assert!(unseen.needed_by(&[smoking("t9")]), "brings an event a retraction in flight awaits");
        assert!(!unseen.needed_by(&[smoking("e1")]), "a repeat of an event in flight is only a duplicate");
        assert!(!Unseen::default().needed_by(&[retraction("r3", "e1")]));
    }
}
