//! Funding commands: windows, applications and their moves and disbursements, and the
//! scanner's window alerts. Each runs in one unit of work; the rules are
//! `domain::funding`'s, the rows `store::funding`'s and `store::applications`'.

use prost::Message;

use super::ServiceError;
use super::scope::load_for_update;
use super::unit::{Begun, Unit, check_etag};
use crate::domain::funding::{
    ALERT_PROJECTS, AlertKind, AlertOutcome, ApplicationAction, CreateApplication, CreateWindow,
    FundingApplication, FundingWindow, Move, PlaceTaken, RecordDisbursement, Submission,
    TransitionApplication, UpdateApplication, UpdateWindow,
};
use crate::domain::names;
use crate::domain::project::Project;
use crate::domain::values::Id;
use crate::events::encode::funding as encode;
use crate::proto::v1;
use crate::store::idempotency::RequestKey;
use crate::store::{Outcome, Store, WriteContext, applications, funding};

impl From<PlaceTaken> for ServiceError {
    fn from(taken: PlaceTaken) -> Self {
        ServiceError::AlreadyExists {
            resource: taken.resource,
            field: PlaceTaken::FIELD.into(),
        }
    }
}

/// The unit of work of a command that began fresh, or the kept response of its request id.
macro_rules! fresh {
    ($begun:expr) => {
        match $begun {
            Begun::Fresh(unit, loaded) => (unit, loaded),
            Begun::Replayed(first) => return Ok(Outcome::Replayed(first)),
        }
    };
}

/// What a command on an application loads: its project (locked, in the caller's scope) and
/// the application with its disbursements, each with its primary key.
struct Loaded {
    project_pk: i64,
    project: Project,
    pk: i64,
    application: FundingApplication,
}

/// Begins a command on an application: locks its project and checks the caller's scope,
/// then loads the application and checks the etag.
async fn begin_on_application<'a>(
    store: &'a Store,
    ctx: &'a WriteContext,
    key: Option<&'a RequestKey>,
    (project_id, application_id): (&Id, &Id),
    etag: Option<&str>,
) -> Result<Begun<'a, Loaded>, ServiceError> {
    let (unit, (project_pk, project)) = match Unit::begin(store, ctx, key, async |tx| {
        load_for_update(tx, ctx, project_id).await
    })
    .await?
    {
        Begun::Fresh(unit, locked) => (unit, locked),
        Begun::Replayed(first) => return Ok(Begun::Replayed(first)),
    };
    let (pk, application) = applications::find(unit.tx(), project_id, application_id).await?;
    check_etag(etag, application.name(), application.etag())?;
    Ok(Begun::Fresh(
        unit,
        Loaded {
            project_pk,
            project,
            pk,
            application,
        },
    ))
}

fn window_bytes(window: &FundingWindow) -> Vec<u8> {
    v1::FundingWindow::from(window).encode_to_vec()
}

fn application_bytes(application: &FundingApplication) -> Vec<u8> {
    v1::FundingApplication::from(application).encode_to_vec()
}

/// CreateFundingWindow. Only admins get here (the auth layer's role check); windows have no
/// scope.
pub async fn create_window(
    store: &Store,
    ctx: &WriteContext,
    key: Option<&RequestKey>,
    command: CreateWindow,
) -> Result<Outcome<FundingWindow>, ServiceError> {
    let (mut unit, ()) = fresh!(Unit::begin(store, ctx, key, async |_| Ok(())).await?);
    let id = command
        .window_id
        .map(|id| id.into_string())
        .unwrap_or_else(names::generate_id);
    let uid = uuid::Uuid::new_v4().to_string();
    let window = FundingWindow::new(id, uid, command.fields, ctx.now_us);
    funding::insert(unit.tx(), &window).await?;
    unit.emit(encode::window_created(&window));
    unit.commit(window, window_bytes).await
}

/// UpdateFundingWindow: locks the window, checks the etag, applies the patch.
pub async fn update_window(
    store: &Store,
    ctx: &WriteContext,
    command: UpdateWindow,
) -> Result<Outcome<FundingWindow>, ServiceError> {
    let (mut unit, ()) = fresh!(Unit::begin(store, ctx, None, async |_| Ok(())).await?);
    let (pk, mut window) = funding::lock(unit.tx(), &command.window_id).await?;
    check_etag(command.etag.as_deref(), window.name(), window.etag())?;
    let changed = window.update(command.patch, ctx.now_us)?;
    if changed.is_empty() {
        return Ok(Outcome::Done(window));
    }
    funding::save(unit.tx(), pk, &window).await?;
    unit.emit(encode::window_updated(&window, changed));
    unit.commit(window, window_bytes).await
}

/// CreateFundingApplication: a DRAFT, while the window has not closed and the project holds
/// no live application to it.
pub async fn create_application(
    store: &Store,
    ctx: &WriteContext,
    key: Option<&RequestKey>,
    command: CreateApplication,
) -> Result<Outcome<FundingApplication>, ServiceError> {
    let project_id = command.project_id.clone();
    let (mut unit, (project_pk, project)) = fresh!(
        Unit::begin(store, ctx, key, async |tx| {
            load_for_update(tx, ctx, &project_id).await
        })
        .await?
    );
    let (window_pk, window) = funding::find(unit.tx(), &command.window_id).await?;
    window.takes_applications(ctx.today)?;
    let id = command
        .application_id
        .clone()
        .map(|id| id.into_string())
        .unwrap_or_else(names::generate_id);
    let uid = uuid::Uuid::new_v4().to_string();
    let application = FundingApplication::draft(id, uid, &window, command, &ctx.actor, ctx.now_us);
    if let Some(holder) = applications::live_application(unit.tx(), project_pk, window_pk).await? {
        return Err(application.place_taken(Some(&holder)).into());
    }
    applications::insert(unit.tx(), project_pk, window_pk, &application).await?;
    unit.emit(encode::application_created(&project, &application));
    unit.commit(application, application_bytes).await
}

/// UpdateFundingApplication: the description, and the requested amount while DRAFT.
pub async fn update_application(
    store: &Store,
    ctx: &WriteContext,
    command: UpdateApplication,
) -> Result<Outcome<FundingApplication>, ServiceError> {
    let ids = (&command.project_id, &command.application_id);
    let (mut unit, loaded) =
        fresh!(begin_on_application(store, ctx, None, ids, command.etag.as_deref()).await?);
    let Loaded {
        project,
        pk,
        mut application,
        ..
    } = loaded;
    let changed = application.update(command.patch, ctx.now_us)?;
    if changed.is_empty() {
        return Ok(Outcome::Done(application));
    }
    applications::save(unit.tx(), pk, &application).await?;
    unit.emit(encode::application_updated(&project, &application, changed));
    unit.commit(application, application_bytes).await
}

/// Submit, approve, reject or withdraw.
pub async fn transition_application(
    store: &Store,
    ctx: &WriteContext,
    key: Option<&RequestKey>,
    command: TransitionApplication,
) -> Result<Outcome<FundingApplication>, ServiceError> {
    let change = command.change;
    let ids = (&command.project_id, &command.application_id);
    let (mut unit, loaded) =
        fresh!(begin_on_application(store, ctx, key, ids, change.etag.as_deref()).await?);
    let Loaded {
        project_pk,
        project,
        pk,
        mut application,
    } = loaded;
    // A submission is checked against the window and the project's cleared prerequisites.
    let (window, cleared);
    let step = match change.action {
        ApplicationAction::Submit => {
            window = funding::find(unit.tx(), &application.window_id).await?.1;
            cleared = applications::cleared_prerequisites(unit.tx(), project_pk).await?;
            Move::Submit(Submission {
                window: &window,
                project: &project,
                cleared: &cleared,
                today: ctx.today,
            })
        }
        ApplicationAction::Approve => Move::Approve {
            approved_amount_yuan: change.approved_amount_yuan,
            allow_exceeding_request: change.allow_exceeding_request,
        },
        ApplicationAction::Reject => Move::Reject,
        ApplicationAction::Withdraw => Move::Withdraw,
    };
    let from = application.transition(step, change.reason, &ctx.actor, ctx.now_us)?;
    applications::save(unit.tx(), pk, &application).await?;
    unit.emit(encode::application_moved(
        &project,
        &application,
        change.action,
        from,
    ));
    unit.commit(application, application_bytes).await
}

/// RecordFundingDisbursement.
pub async fn record_disbursement(
    store: &Store,
    ctx: &WriteContext,
    key: Option<&RequestKey>,
    command: RecordDisbursement,
) -> Result<Outcome<FundingApplication>, ServiceError> {
    let ids = (&command.project_id, &command.application_id);
    let (mut unit, loaded) =
        fresh!(begin_on_application(store, ctx, key, ids, command.etag.as_deref()).await?);
    let Loaded {
        project,
        pk,
        mut application,
        ..
    } = loaded;
    let disbursement = application.disburse(
        command.amount,
        command.date,
        command.note,
        &ctx.actor,
        ctx.now_us,
    )?;
    applications::insert_disbursement(unit.tx(), pk, &disbursement).await?;
    applications::save(unit.tx(), pk, &application).await?;
    unit.emit(encode::disbursed(&project, &application, &disbursement));
    unit.commit(application, application_bytes).await
}

/// The scanner's funding pass for `ctx.today`, one alert kind after the other
/// (`AlertKind::scan` and `outcome` decide which windows and days get one); each alert in its
/// own transaction. Returns the number of events emitted.
pub async fn scan_alerts(
    store: &Store,
    ctx: &WriteContext,
    horizon_days: i32,
) -> Result<usize, ServiceError> {
    let mut emitted = 0;
    for &kind in AlertKind::ALL {
        let scan = kind.scan(ctx.today, horizon_days);
        for window_pk in applications::alert_candidates(store.connection(), &scan).await? {
            let Begun::Fresh(mut unit, ()) =
                Unit::begin(store, ctx, None, async |_| Ok(())).await?
            else {
                return Err(ServiceError::internal(
                    "a unit without a request id replayed",
                ));
            };
            let window = funding::by_pk(unit.tx(), window_pk).await?;
            let day = scan.day_of(&window.fields);
            let coverage =
                applications::coverage_on(unit.tx(), window_pk, window, ctx.today, ALERT_PROJECTS)
                    .await?;
            let outcome = kind.outcome(&coverage);
            if outcome == AlertOutcome::Later {
                continue; // Nothing missing today; looked at again on the next pass.
            }
            if !applications::record_alert(unit.tx(), window_pk, &scan, day, ctx.now_us).await? {
                continue; // Another replica, or an earlier pass, raised it already.
            }
            if outcome == AlertOutcome::Raise {
                unit.emit(encode::window_alert(kind, &coverage));
                emitted += 1;
            }
            unit.commit((), |_| Vec::new()).await?;
        }
    }
    Ok(emitted)
}
