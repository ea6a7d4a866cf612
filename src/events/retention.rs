//! Retention: deletes events older than the configured age in batches, but never past the
//! acknowledged cursor of a subscription that was active within that age.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::store::Store;

/// Events deleted per transaction.
pub const PRUNE_BATCH: u64 = 10_000;

/// One retention pass; returns the number of events deleted.
pub async fn prune_once(
    store: &Store,
    max_age: Duration,
    now_us: i64,
) -> Result<u64, crate::service::ServiceError> {
    let cutoff = now_us - max_age.as_micros() as i64;
    let mut total = 0;
    loop {
        let deleted = store.prune_log(cutoff, cutoff, PRUNE_BATCH).await?;
        total += deleted;
        if deleted < PRUNE_BATCH {
            return Ok(total);
        }
    }
}

/// Runs a pass every `every` until `stop`.
pub async fn run(store: Store, max_age: Duration, every: Duration, stop: CancellationToken) {
    loop {
        let now = chrono::Utc::now().timestamp_micros();
        match prune_once(&store, max_age, now).await {
            Ok(0) => {}
            Ok(deleted) => info!(deleted, "retention pruned the event log"),
            Err(err) => warn!(error = %err, "retention pass failed"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
