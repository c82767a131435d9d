//! The engine's in-memory state: for each partition it owns, its claim (epoch and next offset)
//! and the states of the persons whose events it carries.

use std::collections::HashMap;

use kpi_core::person::PersonState;
use kpi_warehouse::engine::Claim;

/// One owned partition.
pub struct OwnedPartition {
    pub claim: Claim,
    /// Next offset to apply; messages below it were already applied.
    pub next_offset: i64,
    pub persons: HashMap<String, PersonState>,
}

/// Every partition this instance owns.
#[derive(Default)]
pub struct Owned {
    pub partitions: HashMap<i32, OwnedPartition>,
}

impl Owned {
    pub fn insert(&mut self, claim: Claim, persons: Vec<(String, PersonState)>) {
        let persons = persons.into_iter().collect();
        self.partitions.insert(claim.partition, OwnedPartition { claim, next_offset: claim.next_offset, persons });
    }

    pub fn release(&mut self, partition: i32) -> bool {
        self.partitions.remove(&partition).is_some()
    }

    pub fn ids(&self) -> Vec<i32> {
        let mut ids: Vec<i32> = self.partitions.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    pub fn person_count(&self) -> usize {
        self.partitions.values().map(|p| p.persons.len()).sum()
    }
}
