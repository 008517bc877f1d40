//! Test support: a [`ProviderHealth`] that admits every endpoint but those a test refuses, allows
//! every retry, and remembers every outcome the pipeline records.

use crate::health::{ProviderHealth, Target};
use std::{
    collections::HashSet,
    sync::{Mutex, PoisonError},
    time::Duration,
};
use voxgate_core::failover::Outcome;

/// Health that admits all but `refused` endpoints and remembers every outcome.
#[derive(Debug, Default)]
pub(in crate::provider::pipeline) struct Recorder {
    pub(in crate::provider::pipeline) refused: Mutex<HashSet<String>>,
    pub(in crate::provider::pipeline) outcomes: Mutex<Vec<(String, Outcome)>>,
}

impl Recorder {
    /// Outcomes recorded for endpoints whose URL contains `backend`.
    pub(in crate::provider::pipeline) fn outcomes_of(&self, backend: &str) -> Vec<Outcome> {
        let outcomes = self.outcomes.lock().unwrap_or_else(PoisonError::into_inner);
        let marker = format!("/{backend}/");
        let matching = outcomes
            .iter()
            .filter(|(endpoint, _)| endpoint.contains(&marker));
        matching.map(|(_, outcome)| *outcome).collect()
    }
}

impl ProviderHealth for Recorder {
    fn admit(&self, target: &Target) -> bool {
        let refused = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
        !refused.contains(&target.endpoint)
    }

    fn record(&self, target: &Target, outcome: Outcome) {
        let mut outcomes = self.outcomes.lock().unwrap_or_else(PoisonError::into_inner);
        outcomes.push((target.endpoint.clone(), outcome));
    }

    fn may_retry(&self, _target: &Target) -> bool {
        true
    }

    fn retry_after(&self, _target: &Target) -> Option<Duration> {
        None
    }
}
