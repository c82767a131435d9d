//! The engine's pipeline, between the loop (`service`) and the warehouse (`batch`): one batch
//! commits in its own task, on its own connection, while the loop prepares the next, so that
//! PostgreSQL works on the two at once (a batch's time is mostly PostgreSQL's).
//!
//! A batch prepared beside the one in flight cannot see what that one wrote: a retraction of an
//! event it recorded, or an event one of its retractions awaits, finds nothing to apply and stays
//! pending. Every batch takes the pending retractions it can see, so a later batch applies it;
//! when the feed stops there, the loop sweeps them up (an empty batch) once the last batch has
//! committed, or, if this instance stopped first, its successor does once idle (`service`). (Landing the batch in flight first would give up the overlap for every such batch;
//! with retractions in every batch of thousands of events, that could be most of them.)
//!
//! The next batch is built on the in-flight batch's person states. So when the in-flight batch
//! fails, the next one is put back first, then the failed one, and both are applied again one
//! at a time (`batch::apply`, retried with backoff). Persons of a batch not yet committed never
//! leave memory (`Owned::end_batch_keeping_prepared`): read back from PostgreSQL they would miss
//! its changes. Partitions change hands only with nothing in flight.

use std::time::Instant;

use anyhow::Context;
use tokio::task::{JoinError, JoinHandle};

use crate::batch::{self, BatchReport, DeadLetters, Finished, Incoming, Prepared, Unfinished, Unseen};
use crate::partitions::Owned;

/// A batch committing in its own task.
pub struct InFlight {
    incoming: Vec<Incoming>,
    started: Instant,
    task: JoinHandle<Result<Finished, Unfinished>>,
    /// What the batch leaves that a batch prepared before it commits cannot see.
    unseen: Unseen,
    /// The task's outcome, once [`InFlight::ended`] has seen it.
    ended: Option<Result<Result<Finished, Unfinished>, JoinError>>,
}

/// How an in-flight batch ended.
pub enum Landing {
    Committed(CommittedBatch),
    /// Its person states are not put back yet: a batch prepared since must be put back first.
    Failed(Failed),
}

pub struct CommittedBatch {
    pub incoming: Vec<Incoming>,
    pub started: Instant,
    finished: Finished,
}

impl CommittedBatch {
    /// Moves the owned partitions past the batch; returns its report.
    pub fn landed(self, owned: &mut Owned) -> (BatchReport, Vec<Incoming>, Instant) {
        (self.finished.landed(owned), self.incoming, self.started)
    }
}

pub struct Failed {
    pub incoming: Vec<Incoming>,
    pub started: Instant,
    pub unfinished: Unfinished,
}

impl InFlight {
    /// Starts committing `prepared` (made from `incoming`) in its own task.
    pub fn finish<D>(
        mut prepared: Prepared,
        incoming: Vec<Incoming>,
        started: Instant,
        topic: &str,
        dead_letters: &D,
    ) -> Self
    where
        D: DeadLetters + Clone + Send + Sync + 'static,
    {
        let unseen = prepared.take_unseen();
        let topic = topic.to_owned();
        let dead_letters = dead_letters.clone();
        let task = tokio::spawn(async move { batch::finish(prepared, &topic, &dead_letters).await });
        InFlight { incoming, started, unseen, task, ended: None }
    }

    /// Whether `batch` must wait for this one to commit before it is prepared
    /// ([`Unseen::needed_by`]).
    pub fn needed_by(&self, batch: &[Incoming]) -> bool {
        self.unseen.needed_by(batch)
    }

    /// Waits for the commit to end, without landing it. Cancel-safe: in a `select!` against the
    /// consumer, so that with nothing more to read the batch lands without waiting for another.
    pub async fn ended(&mut self) {
        if self.ended.is_none() {
            self.ended = Some((&mut self.task).await);
        }
    }

    /// Waits for the commit to end; says how it ended.
    pub async fn land(mut self) -> anyhow::Result<Landing> {
        self.ended().await;
        let InFlight { incoming, started, ended, .. } = self;
        let outcome = ended.expect("ended() stores the outcome");
        Ok(match outcome.context("the task committing a batch panicked")? {
            Ok(finished) => Landing::Committed(CommittedBatch { incoming, started, finished }),
            Err(unfinished) => Landing::Failed(Failed { incoming, started, unfinished }),
        })
    }
}
