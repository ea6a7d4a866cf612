//! The scanner: time-driven alerts. It runs a pass at start-up and again whenever the
//! jurisdiction's date changes. Each pass emits MILESTONE_OVERDUE and MILESTONE_AT_RISK events
//! exactly once per milestone and baseline, and the funding window alerts (opened; closing
//! soon, at most once per window per day; closed with projects undeclared), and the monthly
//! cycle's alerts (a missing report and a changed pace light, once per project and month; an
//! expired justification, once), and the problem ledger's PROBLEM_OVERDUE and PROBLEM_ESCALATED,
//! once per problem, rung of the escalation ladder and deadline; the database's alert ledgers, not memory, make that hold
//! across restarts and replicas.

use std::time::Duration;

use chrono::NaiveDate;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::api::Services;
use crate::service::ServiceError;
use crate::store::WriteContext;

/// The actor recorded on the scanner's events.
pub const SCANNER_ACTOR: &str = "scanner";

/// One pass for today; returns the number of alerts emitted.
pub async fn scan_once(services: &Services) -> Result<usize, ServiceError> {
    let ctx = WriteContext {
        actor: SCANNER_ACTOR.to_string(),
        principal: crate::domain::access::Principal::system(SCANNER_ACTOR),
        now_us: services.clock.now_micros(),
        today: services.clock.today(),
    };
    let (policy, rule_set) = services.light_policy().await?;
    let mut emitted =
        crate::service::milestones::scan_alerts(&services.store, &policy, &rule_set, &ctx).await?;
    emitted += crate::service::funding::scan_alerts(
        &services.store,
        &ctx,
        services.policy.funding_horizon_days,
    )
    .await?;
    emitted += crate::service::investment::scan_alerts(&services.store, &ctx).await?;
    emitted +=
        crate::service::problems::scan_alerts(&services.store, &ctx, &policy.problem_escalation)
            .await?;
    if emitted > 0 {
        info!(today = %ctx.today, emitted, "scanner raised alerts");
    }
    Ok(emitted)
}

/// Checks every `interval` whether the date changed since `scanned_on`, and scans when it did,
/// until `stop` is cancelled.
pub async fn run(
    services: Services,
    stop: CancellationToken,
    interval: Duration,
    mut scanned_on: Option<NaiveDate>,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        let today = services.clock.today();
        if scanned_on == Some(today) {
            continue;
        }
        match scan_once(&services).await {
            Ok(_) => scanned_on = Some(today),
            Err(err) => warn!(error = %err, "scanner pass failed; retrying at the next tick"),
        }
    }
}
