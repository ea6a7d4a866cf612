//! Funding events: windows created and updated, applications created, updated, moved and paid,
//! and the scanner's window alerts.

use crate::domain::funding::{
    AlertKind, ApplicationAction, ApplicationState, Coverage, Disbursement, FundingApplication,
    FundingWindow,
};
use crate::domain::names;
use crate::domain::project::Project;
use crate::domain::values::reported_count;
use crate::events::outbox::EventDraft;
use crate::proto::v1;

fn window_event(
    kind: v1::EventKind,
    window: &FundingWindow,
    changed: Vec<&'static str>,
) -> EventDraft {
    EventDraft::global(
        kind,
        window.name(),
        Some(v1::event::Detail::FundingWindowAfter(
            v1::FundingWindow::from(window),
        )),
        changed,
    )
}

pub fn window_created(window: &FundingWindow) -> EventDraft {
    window_event(v1::EventKind::FundingWindowCreated, window, Vec::new())
}

pub fn window_updated(window: &FundingWindow, changed: Vec<&'static str>) -> EventDraft {
    window_event(v1::EventKind::FundingWindowUpdated, window, changed)
}

/// An application event: the application after the change (without its disbursements), the
/// states before and after, and the disbursement it records, if any.
fn application_event(
    kind: v1::EventKind,
    project: &Project,
    application: &FundingApplication,
    from: ApplicationState,
    reason: &str,
    disbursement: Option<&Disbursement>,
    changed: Vec<&'static str>,
) -> EventDraft {
    let mut after = v1::FundingApplication::from(application);
    after.disbursements.clear();
    EventDraft::about(
        kind,
        project,
        application.name(),
        Some(v1::event::Detail::FundingApplicationChange(
            v1::FundingApplicationChange {
                funding_application_after: Some(after),
                from_state: v1::FundingApplicationState::from(from) as i32,
                to_state: v1::FundingApplicationState::from(application.state) as i32,
                reason: reason.to_string(),
                disbursement: disbursement.map(v1::FundingDisbursement::from),
            },
        )),
        changed,
    )
}

pub fn application_created(project: &Project, application: &FundingApplication) -> EventDraft {
    application_event(
        v1::EventKind::FundingApplicationCreated,
        project,
        application,
        ApplicationState::Draft,
        "",
        None,
        Vec::new(),
    )
}

pub fn application_updated(
    project: &Project,
    application: &FundingApplication,
    changed: Vec<&'static str>,
) -> EventDraft {
    application_event(
        v1::EventKind::FundingApplicationUpdated,
        project,
        application,
        application.state,
        "",
        None,
        changed,
    )
}

/// Submitted, approved, rejected or withdrawn, from the state `from`.
pub fn application_moved(
    project: &Project,
    application: &FundingApplication,
    action: ApplicationAction,
    from: ApplicationState,
) -> EventDraft {
    let kind = match action {
        ApplicationAction::Submit => v1::EventKind::FundingApplicationSubmitted,
        ApplicationAction::Approve => v1::EventKind::FundingApplicationApproved,
        ApplicationAction::Reject => v1::EventKind::FundingApplicationRejected,
        ApplicationAction::Withdraw => v1::EventKind::FundingApplicationWithdrawn,
    };
    application_event(
        kind,
        project,
        application,
        from,
        &application.state_reason,
        None,
        Vec::new(),
    )
}

pub fn disbursed(
    project: &Project,
    application: &FundingApplication,
    disbursement: &Disbursement,
) -> EventDraft {
    application_event(
        v1::EventKind::FundingDisbursed,
        project,
        application,
        application.state,
        "",
        Some(disbursement),
        Vec::new(),
    )
}

/// A window alert with the coverage it was decided on.
pub fn window_alert(kind: AlertKind, coverage: &Coverage) -> EventDraft {
    let window = &coverage.window;
    let event_kind = match kind {
        AlertKind::Opened => v1::EventKind::FundingWindowOpened,
        AlertKind::Closing => v1::EventKind::FundingWindowClosing,
        AlertKind::Closed => v1::EventKind::FundingWindowClosedUndeclared,
    };
    let alert = v1::FundingWindowAlert {
        funding_window: window.name(),
        title: window.fields.title.clone(),
        channel: v1::FundingChannel::from(window.fields.channel) as i32,
        status_date: Some(crate::proto::date(coverage.status_date)),
        days_to_close: coverage.days_to_close(),
        draft_count: reported_count(coverage.draft_count),
        undeclared_count: reported_count(coverage.undeclared_count),
        undeclared_projects: coverage
            .undeclared
            .iter()
            .map(|entry| names::project_name(&entry.project_id))
            .collect(),
    };
    EventDraft::global(
        event_kind,
        window.name(),
        Some(v1::event::Detail::FundingWindowAlert(alert)),
        Vec::new(),
    )
}
