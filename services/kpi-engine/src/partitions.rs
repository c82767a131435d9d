//! The engine's in-memory state: for each partition it owns, its claim (epoch and next offset),
//! and a bounded cache of person states. The warehouse holds every person's events
//! (`events_seen`), so a person dropped from the cache is read back when they next have an event.

use std::collections::HashMap;

use kpi_core::person::{Additions, PersonState};
use kpi_warehouse::engine::Claim;

/// One owned partition.
pub struct OwnedPartition {
    pub claim: Claim,
    /// Next offset to apply; messages below it were already applied.
    pub next_offset: i64,
}

/// A person's state as cached, with the partition that carries them and when it was last used.
pub struct Cached {
    pub partition: i32,
    pub state: PersonState,
    last_used: u64,
}

/// Every partition this instance owns, and the person states it holds.
pub struct Owned {
    pub partitions: HashMap<i32, OwnedPartition>,
    persons: HashMap<String, Cached>,
    capacity: usize,
    /// Batches applied so far: the clock of least-recently-used eviction.
    clock: u64,
}

impl Owned {
    pub fn new(person_cache_capacity: usize) -> Self {
        Owned { partitions: HashMap::new(), persons: HashMap::new(), capacity: person_cache_capacity, clock: 0 }
    }

    pub fn insert(&mut self, claim: Claim) {
        self.partitions.insert(claim.partition, OwnedPartition { claim, next_offset: claim.next_offset });
    }

    /// Gives a partition up. Its persons leave the cache: another instance may change them.
    pub fn release(&mut self, partition: i32) -> bool {
        self.persons.retain(|_, cached| cached.partition != partition);
        self.partitions.remove(&partition).is_some()
    }

    pub fn ids(&self) -> Vec<i32> {
        let mut ids: Vec<i32> = self.partitions.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    pub fn person_count(&self) -> usize {
        self.persons.len()
    }

    pub fn is_cached(&self, person: &str) -> bool {
        self.persons.contains_key(person)
    }

    pub fn state(&self, person: &str) -> Option<&PersonState> {
        self.persons.get(person).map(|cached| &cached.state)
    }

    /// The person's state, created empty if they have none.
    pub fn state_mut(&mut self, partition: i32, person: &str) -> &mut PersonState {
        let clock = self.clock;
        let cached = self.persons.entry(person.to_owned()).or_insert_with(|| Cached {
            partition,
            state: PersonState::default(),
            last_used: clock,
        });
        cached.last_used = clock;
        &mut cached.state
    }

    /// Puts a state back as it was (`None`: the person had none).
    pub fn restore(&mut self, person: String, partition: i32, state: Option<PersonState>) {
        match state {
            Some(state) => {
                self.persons.insert(person, Cached { partition, state, last_used: self.clock });
            }
            None => {
                self.persons.remove(&person);
            }
        }
    }

    /// Takes what a failed batch added back out of a person's state. A person no longer in
    /// memory has nothing to take back: they are read back from the warehouse, where the failed
    /// batch left nothing.
    pub fn take_back(&mut self, person: &str, additions: &Additions) {
        if let Some(cached) = self.persons.get_mut(person) {
            cached.state.take_back(additions);
        }
    }

    /// Ends a batch: if the cache is over capacity, drops the least recently used persons down
    /// to nine tenths of it (so that eviction, a sort, runs now and then rather than every batch).
    pub fn end_batch(&mut self) {
        self.clock += 1;
        self.evict_used_before(self.clock);
    }

    /// Ends the batch before the one prepared meanwhile (the engine prepares a batch while the
    /// previous one commits): as [`Owned::end_batch`], but the persons the prepared batch touched
    /// stay whatever the capacity. Their changes are not committed yet, so they could not be
    /// read back.
    pub fn end_batch_keeping_prepared(&mut self) {
        self.evict_used_before(self.clock);
        self.clock += 1;
    }

    fn evict_used_before(&mut self, protected_from: u64) {
        if self.persons.len() <= self.capacity {
            return;
        }
        let keep = self.capacity - self.capacity / 10;
        let mut to_drop = self.persons.len() - keep;
        let mut ages: Vec<u64> =
            self.persons.values().map(|c| c.last_used).filter(|used| *used < protected_from).collect();
        if to_drop >= ages.len() {
            self.persons.retain(|_, cached| cached.last_used >= protected_from);
            return;
        }
        let (_, oldest_kept, _) = ages.select_nth_unstable(to_drop);
        let oldest_kept = *oldest_kept;
        // Ties at the cut: drop what is strictly older, then just enough of the tied.
        self.persons.retain(|_, cached| {
            if cached.last_used < oldest_kept {
                to_drop -= 1;
                false
            } else {
                true
            }
        });
        self.persons.retain(|_, cached| {
            if to_drop > 0 && cached.last_used == oldest_kept {
                to_drop -= 1;
                false
            } else {
                true
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(capacity: usize) -> Owned {
        let mut owned = Owned::new(capacity);
        owned.insert(Claim { partition: 0, next_offset: 0, epoch: 1 });
        owned.insert(Claim { partition: 1, next_offset: 0, epoch: 1 });
        owned
    }

    #[test]
    fn least_recently_used_persons_leave_first() {
        let mut owned = owned(10);
        for batch in 0..10 {
            owned.state_mut(0, &format!("p{batch}"));
            owned.state_mut(0, "always");
            owned.end_batch();
        }
        // 11 persons > 10 after the 10th batch: down to 9, keeping "always" and the 8 most recent.
        assert_eq!(owned.person_count(), 9);
        assert!(owned.is_cached("always"));
        assert!((2..10).all(|b| owned.is_cached(&format!("p{b}"))));
        assert!(!owned.is_cached("p1") && !owned.is_cached("p0"));
    }

    #[test]
    fn capacity_zero_keeps_nobody_between_batches() {
        let mut owned = owned(0);
        owned.state_mut(0, "a");
        owned.state_mut(1, "b");
        assert_eq!(owned.person_count(), 2, "a batch's persons stay until it ends");
        owned.end_batch();
        assert_eq!(owned.person_count(), 0);
    }

    #[test]
    fn within_capacity_nothing_is_dropped() {
        let mut owned = owned(10);
        for p in 0..10 {
            owned.state_mut(0, &format!("p{p}"));
        }
        owned.end_batch();
        assert_eq!(owned.person_count(), 10);
    }

    #[test]
    fn persons_of_a_prepared_batch_stay_however_small_the_cache() {
        let mut owned = owned(2);
        for p in ["a", "b", "c"] {
            owned.state_mut(0, p);
        }
        owned.end_batch();
        // The next batch is prepared (touching d, e and a) while the one before commits.
        for p in ["d", "e", "a"] {
            owned.state_mut(0, p);
        }
        owned.end_batch_keeping_prepared();
        assert_eq!(owned.person_count(), 3, "only the committed batch's persons may leave");
        assert!(["d", "e", "a"].iter().all(|p| owned.is_cached(p)));
        // Once that batch commits too, the cache goes back within its capacity.
        owned.end_batch();
        assert_eq!(owned.person_count(), 2);
    }

    #[test]
    fn releasing_a_partition_drops_its_persons() {
        let mut owned = owned(10);
        owned.state_mut(0, "a");
        owned.state_mut(1, "b");
        assert!(owned.release(1));
        assert!(owned.is_cached("a") && !owned.is_cached("b"));
        assert!(!owned.release(1));
    }
}
