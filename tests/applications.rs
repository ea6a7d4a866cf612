//! Funding applications end to end on SQLite and PostgreSQL: the fifth fund batch (第五批基金
//! 项目) replayed through a window's life — declarations, coverage (应报尽报), the scanner's
//! window alerts across restarts, approvals and disbursements — and every refusal.

mod common;

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDate;
use pipeline::events::outbox as events;
use pipeline::proto::v1;
use pipeline::store::Store;
use prost_types::FieldMask;
use tonic::{Code, Status};

use common::{Authed, TestServer, bad_fields, reason_of, subjects};
use v1::funding_service_client::FundingServiceClient;
use v1::project_service_client::ProjectServiceClient;

fn day(month: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, month, d).unwrap()
}

fn date(d: NaiveDate) -> Option<v1::Date> {
    use chrono::Datelike;
    Some(v1::Date {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    })
}

async fn log(store: &Store) -> Vec<v1::Event> {
    events::read_after(store.connection(), 0, 1_000_000)
        .await
        .unwrap()
}

fn count(events: &[v1::Event], kind: v1::EventKind) -> usize {
    events.iter().filter(|e| e.kind() == kind).count()
}

/// A RESERVE project with the given total investment and, when `land_done`, a DONE land
/// prerequisite (otherwise IN_PROGRESS).
async fn reserve_project(
    client: &mut ProjectServiceClient<Authed>,
    id: &str,
    township: &str,
    total_investment_yuan: i64,
    land_done: bool,
) {
    client
        .create_project(v1::CreateProjectRequest {
            project_id: id.into(),
            initial_stage: v1::ProjectStage::Reserve as i32,
            project: Some(v1::Project {
                display_name: format!("储备项目 {id}"),
                category: v1::ProjectCategory::Water as i32,
                investment_type: v1::InvestmentType::Government as i32,
                township: township.into(),
                department: "县水利局".into(),
                leader: "李县长".into(),
                total_investment_yuan,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let state = if land_done {
        v1::PrerequisiteState::Done
    } else {
        v1::PrerequisiteState::InProgress
    };
    client
        .create_prerequisite(v1::CreatePrerequisiteRequest {
            parent: format!("projects/{id}"),
            prerequisite_id: "land".into(),
            prerequisite: Some(v1::Prerequisite {
                kind: v1::PrerequisiteKind::Land as i32,
                state: state as i32,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
}

async fn create_window(
    client: &mut FundingServiceClient<Authed>,
    id: &str,
    channel: v1::FundingChannel,
    open: NaiveDate,
    close: NaiveDate,
    target_count: i32,
) -> v1::FundingWindow {
    client
        .create_funding_window(v1::CreateFundingWindowRequest {
            funding_window_id: id.into(),
            funding_window: Some(v1::FundingWindow {
                channel: channel as i32,
                title: format!("窗口 {id}"),
                open_date: date(open),
                close_date: date(close),
                target_count,
                target_amount_yuan: 2_000_000_000,
                eligibility: Some(v1::FundingEligibility {
                    min_total_investment_yuan: 50_000_000,
                    required_prerequisites: vec![v1::PrerequisiteKind::Land as i32],
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

async fn apply(
    client: &mut FundingServiceClient<Authed>,
    project: &str,
    window: &str,
    amount: i64,
) -> Result<v1::FundingApplication, Status> {
    client
        .create_funding_application(v1::CreateFundingApplicationRequest {
            parent: format!("projects/{project}"),
            funding_application_id: "app".into(),
            funding_application: Some(v1::FundingApplication {
                funding_window: window.into(),
                requested_amount_yuan: amount,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner())
}

async fn submit(
    client: &mut FundingServiceClient<Authed>,
    name: &str,
    request_id: &str,
) -> Result<v1::FundingApplication, Status> {
    client
        .submit_funding_application(v1::SubmitFundingApplicationRequest {
            name: name.into(),
            request_id: request_id.into(),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner())
}

async fn approve(
    client: &mut FundingServiceClient<Authed>,
    name: &str,
    amount: i64,
    allow_exceeding_request: bool,
) -> Result<v1::FundingApplication, Status> {
    client
        .approve_funding_application(v1::ApproveFundingApplicationRequest {
            name: name.into(),
            approved_amount_yuan: amount,
            allow_exceeding_request,
            reason: "省发改委批复".into(),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner())
}

async fn disburse(
    client: &mut FundingServiceClient<Authed>,
    name: &str,
    amount: i64,
    on: NaiveDate,
    request_id: &str,
) -> Result<v1::FundingApplication, Status> {
    client
        .record_funding_disbursement(v1::RecordFundingDisbursementRequest {
            name: name.into(),
            amount_yuan: amount,
            disbursement_date: date(on),
            request_id: request_id.into(),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner())
}

async fn coverage(client: &mut FundingServiceClient<Authed>, window: &str) -> v1::FundingCoverage {
    client
        .get_funding_coverage(v1::GetFundingCoverageRequest {
            name: window.into(),
            status_date: None,
        })
        .await
        .unwrap()
        .into_inner()
}

fn projects_of(list: &[v1::CoverageProject]) -> Vec<String> {
    list.iter().map(|p| p.project.clone()).collect()
}

fn app_name(project: &str) -> String {
    format!("projects/{project}/fundingApplications/app")
}

/// Every application of a window, page by page (checking that totals repeat on each page).
async fn list_all(
    client: &mut FundingServiceClient<Authed>,
    filter: &str,
) -> (Vec<v1::FundingApplication>, v1::FundingTotals) {
    let mut items = Vec::new();
    let mut token = String::new();
    let mut totals: Option<v1::FundingTotals> = None;
    loop {
        let page = client
            .list_funding_applications(v1::ListFundingApplicationsRequest {
                parent: "projects/-".into(),
                page_size: 5,
                page_token: token.clone(),
                filter: filter.into(),
            })
            .await
            .unwrap()
            .into_inner();
        let page_totals = page.totals.unwrap();
        if let Some(t) = &totals {
            assert_eq!(t, &page_totals, "totals are the same on every page");
        }
        totals = Some(page_totals);
        items.extend(page.funding_applications);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    (items, totals.unwrap())
}

async fn fifth_fund_batch(mut server: TestServer) {
    // 15 September: twenty reserve projects. p01–p16 qualify; p17 and p18 have land still in
    // progress; p19 and p20 are below the 50 million minimum.
    let mut projects = server.projects().await;
    for i in 1..=20 {
        let id = format!("p{i:02}");
        let township = if i % 2 == 0 { "城关镇" } else { "太和镇" };
        let total = if i >= 19 { 30_000_000 } else { 200_000_000 };
        reserve_project(&mut projects, &id, township, total, !(17..=18).contains(&i)).await;
    }
    let mut funding = server.funding().await;
    let window = "fundingWindows/fund-batch-5";
    create_window(
        &mut funding,
        "fund-batch-5",
        v1::FundingChannel::PolicyFinance,
        day(9, 10),
        day(9, 30),
        16,
    )
    .await;

    // p01–p14 declared: p01–p12 submitted, p13 and p14 left in draft.
    for i in 1..=14 {
        let id = format!("p{i:02}");
        let created = apply(&mut funding, &id, window, 100_000_000).await.unwrap();
        assert_eq!(created.state(), v1::FundingApplicationState::Draft);
        assert_eq!(created.channel(), v1::FundingChannel::PolicyFinance);
        if i <= 12 {
            let submitted = submit(&mut funding, &created.name, &format!("submit-{id}"))
                .await
                .unwrap();
            assert_eq!(submitted.state(), v1::FundingApplicationState::Submitted);
        }
    }

    // Double submission: the same request id returns the first answer; without it the
    // second call is refused, naming the current state.
    let again = submit(&mut funding, &app_name("p01"), "submit-p01")
        .await
        .unwrap();
    assert_eq!(again.state(), v1::FundingApplicationState::Submitted);
    let twice = submit(&mut funding, &app_name("p01"), "")
        .await
        .unwrap_err();
    assert_eq!(twice.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&twice), "ILLEGAL_APPLICATION_TRANSITION");
    assert!(twice.message().contains("SUBMITTED"), "{}", twice.message());

    // One live application per project and window.
    let duplicate = apply(&mut funding, "p01", window, 1).await.unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists);

    // An ineligible project may hold a draft but cannot submit it; every unmet condition is
    // named. Withdrawn, it no longer holds a place.
    let p17 = apply(&mut funding, "p17", window, 10_000_000)
        .await
        .unwrap();
    let refused = submit(&mut funding, &p17.name, "").await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&refused), "PROJECT_NOT_ELIGIBLE");
    assert_eq!(
        subjects(&refused),
        BTreeSet::from(["eligibility.required_prerequisites.LAND".to_string()])
    );
    let p19 = apply(&mut funding, "p19", window, 10_000_000)
        .await
        .unwrap();
    let refused = submit(&mut funding, &p19.name, "").await.unwrap_err();
    assert_eq!(
        subjects(&refused),
        BTreeSet::from(["eligibility.min_total_investment_yuan".to_string()])
    );
    for name in [&p17.name, &p19.name] {
        let withdrawn = funding
            .withdraw_funding_application(v1::WithdrawFundingApplicationRequest {
                name: name.clone(),
                reason: "不符合申报条件".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(withdrawn.state(), v1::FundingApplicationState::Withdrawn);
    }

    // The coverage sheet: 16 eligible, 12 declared, 2 drafts, 2 never declared.
    let sheet = coverage(&mut funding, window).await;
    assert_eq!(sheet.window_state(), v1::FundingWindowState::Open);
    assert_eq!(sheet.days_to_close, 15);
    assert_eq!(sheet.eligible_count, 16);
    assert_eq!(sheet.submitted_count, 12);
    assert_eq!(sheet.declared_count, 12);
    assert_eq!(sheet.declared_amount_yuan, 1_200_000_000);
    assert_eq!(sheet.draft_count, 2);
    assert_eq!(
        projects_of(&sheet.draft_applications),
        vec!["projects/p13", "projects/p14"]
    );
    assert_eq!(
        sheet.draft_applications[0].funding_application,
        app_name("p13")
    );
    assert_eq!(sheet.undeclared_count, 2);
    assert_eq!(
        projects_of(&sheet.undeclared_projects),
        vec!["projects/p15", "projects/p16"]
    );
    assert_eq!(sheet.target_count, 16);
    assert_eq!(sheet.count_gap, 4);
    assert_eq!(sheet.amount_gap, 800_000_000);

    // The scanner across restarts. 22 September is 8 days out: no closing alert yet, but the
    // window's opening is announced once.
    drop(funding);
    drop(projects);
    server.restart(day(9, 22)).await;
    let events = log(&server.store).await;
    assert_eq!(count(&events, v1::EventKind::FundingWindowOpened), 1);
    assert_eq!(count(&events, v1::EventKind::FundingWindowClosing), 0);
    // 23 September (7 days out): one closing alert naming the two undeclared projects; a
    // second restart on the same day adds nothing; 24 September adds one more.
    server.restart(day(9, 23)).await;
    server.restart(day(9, 23)).await;
    let events = log(&server.store).await;
    let closing: Vec<&v1::Event> = events
        .iter()
        .filter(|e| e.kind() == v1::EventKind::FundingWindowClosing)
        .collect();
    assert_eq!(closing.len(), 1);
    let Some(v1::event::Detail::FundingWindowAlert(alert)) = &closing[0].detail else {
        panic!("closing alert without its detail: {:?}", closing[0]);
    };
    assert_eq!(alert.funding_window, window);
    assert_eq!(alert.days_to_close, 7);
    assert_eq!(alert.draft_count, 2);
    assert_eq!(alert.undeclared_count, 2);
    assert_eq!(
        alert.undeclared_projects,
        vec!["projects/p15", "projects/p16"]
    );
    assert_eq!(closing[0].actor, "scanner");
    server.restart(day(9, 24)).await;
    let events = log(&server.store).await;
    assert_eq!(count(&events, v1::EventKind::FundingWindowClosing), 2);
    assert_eq!(count(&events, v1::EventKind::FundingWindowOpened), 1);

    // 25 September: the start-up pass raises that day's alert; then the drafts are
    // submitted and p15 is declared. p16 is still missing, so the 26th brings another.
    server.restart(day(9, 25)).await;
    let mut funding = server.funding().await;
    for id in ["p13", "p14"] {
        submit(&mut funding, &app_name(id), "").await.unwrap();
    }
    let p15 = apply(&mut funding, "p15", window, 100_000_000)
        .await
        .unwrap();
    submit(&mut funding, &p15.name, "").await.unwrap();
    drop(funding);
    server.restart(day(9, 26)).await;
    let events = log(&server.store).await;
    assert_eq!(count(&events, v1::EventKind::FundingWindowClosing), 4);
    let last = events
        .iter()
        .rev()
        .find(|e| e.kind() == v1::EventKind::FundingWindowClosing)
        .unwrap();
    let Some(v1::event::Detail::FundingWindowAlert(alert)) = &last.detail else {
        panic!("closing alert without its detail");
    };
    assert_eq!((alert.draft_count, alert.undeclared_count), (0, 1));

    // 1 October: the window has closed with p16 never declared — one alert, not repeated.
    server.restart(day(10, 1)).await;
    server.restart(day(10, 2)).await;
    let events = log(&server.store).await;
    let closed: Vec<&v1::Event> = events
        .iter()
        .filter(|e| e.kind() == v1::EventKind::FundingWindowClosedUndeclared)
        .collect();
    assert_eq!(closed.len(), 1);
    let Some(v1::event::Detail::FundingWindowAlert(alert)) = &closed[0].detail else {
        panic!("closed alert without its detail");
    };
    assert_eq!(alert.undeclared_projects, vec!["projects/p16"]);
    assert_eq!(count(&events, v1::EventKind::FundingWindowClosing), 4);

    // After the close: no new application, and the sheet shows the final picture.
    let mut funding = server.funding().await;
    let late = apply(&mut funding, "p16", window, 100_000_000)
        .await
        .unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&late), "WINDOW_CLOSED");
    let sheet = coverage(&mut funding, window).await;
    assert_eq!(sheet.window_state(), v1::FundingWindowState::Closed);
    assert_eq!(sheet.declared_count, 15);
    assert_eq!(sheet.draft_count, 0);
    assert_eq!(
        projects_of(&sheet.undeclared_projects),
        vec!["projects/p16"]
    );
    assert_eq!(sheet.count_gap, 1);

    // Decisions: p01–p10 approved (p01–p05 for 80 million, p06–p10 in full), p11 rejected,
    // p12–p15 still awaiting a decision.
    let over = approve(&mut funding, &app_name("p01"), 150_000_000, false)
        .await
        .unwrap_err();
    assert_eq!(over.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&over), "APPROVAL_EXCEEDS_REQUEST");
    let early = funding
        .approve_funding_application(v1::ApproveFundingApplicationRequest {
            name: app_name("p16"),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(early.code(), Code::NotFound);
    let mut approved_total = 0;
    for i in 1..=10 {
        let amount = if i <= 5 { 80_000_000 } else { 0 };
        let approved = approve(&mut funding, &app_name(&format!("p{i:02}")), amount, false)
            .await
            .unwrap();
        assert_eq!(approved.state(), v1::FundingApplicationState::Approved);
        assert_eq!(
            approved.approved_amount_yuan,
            if i <= 5 { 80_000_000 } else { 100_000_000 }
        );
        approved_total += approved.approved_amount_yuan;
    }
    let rejected = funding
        .reject_funding_application(v1::RejectFundingApplicationRequest {
            name: app_name("p11"),
            reason: "项目成熟度不足".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rejected.state(), v1::FundingApplicationState::Rejected);
    assert_eq!(rejected.state_reason, "项目成熟度不足");
    // Illegal moves, each with its code.
    let again = approve(&mut funding, &app_name("p11"), 0, false)
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    assert!(again.message().contains("REJECTED"), "{}", again.message());
    let withdraw_approved = funding
        .withdraw_funding_application(v1::WithdrawFundingApplicationRequest {
            name: app_name("p01"),
            reason: "改报其他渠道".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(withdraw_approved.code(), Code::FailedPrecondition);
    assert_eq!(
        reason_of(&withdraw_approved),
        "ILLEGAL_APPLICATION_TRANSITION"
    );
    let not_approved = disburse(&mut funding, &app_name("p12"), 1, day(10, 2), "")
        .await
        .unwrap_err();
    assert_eq!(not_approved.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&not_approved), "APPLICATION_NOT_APPROVED");
    let no_reason = funding
        .reject_funding_application(v1::RejectFundingApplicationRequest {
            name: app_name("p12"),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(no_reason.code(), Code::InvalidArgument);
    assert_eq!(
        bad_fields(&no_reason),
        BTreeSet::from(["reason".to_string()])
    );

    // Disbursements: p01 receives 30 + 50 million (its full 80); a retried call with the same
    // request id counts once; a third payment would exceed the approval.
    disburse(
        &mut funding,
        &app_name("p01"),
        30_000_000,
        day(10, 1),
        "pay-1",
    )
    .await
    .unwrap();
    let retried = disburse(
        &mut funding,
        &app_name("p01"),
        30_000_000,
        day(10, 1),
        "pay-1",
    )
    .await
    .unwrap();
    assert_eq!(retried.disbursed_amount_yuan, 30_000_000);
    let paid = disburse(
        &mut funding,
        &app_name("p01"),
        50_000_000,
        day(10, 2),
        "pay-2",
    )
    .await
    .unwrap();
    assert_eq!(paid.disbursed_amount_yuan, 80_000_000);
    assert_eq!(paid.disbursements.len(), 2);
    assert_eq!(paid.disbursements[1].amount_yuan, 50_000_000);
    let too_much = disburse(&mut funding, &app_name("p01"), 1, day(10, 2), "")
        .await
        .unwrap_err();
    assert_eq!(too_much.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&too_much), "DISBURSEMENT_EXCEEDS_APPROVAL");
    disburse(&mut funding, &app_name("p06"), 40_000_000, day(10, 2), "")
        .await
        .unwrap();

    // The list across projects, paged, with totals for the whole filter.
    let (all, totals) = list_all(&mut funding, &format!("funding_window = \"{window}\"")).await;
    assert_eq!(all.len(), 17, "15 declared + 2 withdrawn");
    assert_eq!(totals.application_count, 17);
    let requested: i64 = all.iter().map(|a| a.requested_amount_yuan).sum();
    assert_eq!(totals.requested_amount_yuan, requested);
    assert_eq!(requested, 15 * 100_000_000 + 2 * 10_000_000);
    assert_eq!(totals.approved_amount_yuan, approved_total);
    assert_eq!(approved_total, 5 * 80_000_000 + 5 * 100_000_000);
    assert_eq!(totals.disbursed_amount_yuan, 120_000_000);
    let unique: BTreeSet<String> = all.iter().map(|a| a.name.clone()).collect();
    assert_eq!(unique.len(), 17, "pages neither repeat nor skip");
    let (approved, totals) =
        list_all(&mut funding, "state = APPROVED AND township = \"城关镇\"").await;
    let ids: Vec<String> = approved.iter().map(|a| a.name.clone()).collect();
    assert_eq!(
        ids,
        ["p02", "p04", "p06", "p08", "p10"]
            .iter()
            .map(|p| app_name(p))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        totals.approved_amount_yuan,
        2 * 80_000_000 + 3 * 100_000_000
    );
    assert_eq!(totals.disbursed_amount_yuan, 40_000_000);
    let sheet = coverage(&mut funding, window).await;
    assert_eq!(sheet.approved_count, 10);
    assert_eq!(sheet.rejected_count, 1);
    assert_eq!(sheet.submitted_count, 4);
    assert_eq!(sheet.approved_amount_yuan, approved_total);
    assert_eq!(sheet.disbursed_amount_yuan, 120_000_000);

    // Every application change is an event, with the project's township for filtering.
    let events = log(&server.store).await;
    assert_eq!(count(&events, v1::EventKind::FundingApplicationCreated), 17);
    assert_eq!(
        count(&events, v1::EventKind::FundingApplicationSubmitted),
        15
    );
    assert_eq!(
        count(&events, v1::EventKind::FundingApplicationApproved),
        10
    );
    assert_eq!(count(&events, v1::EventKind::FundingApplicationRejected), 1);
    assert_eq!(
        count(&events, v1::EventKind::FundingApplicationWithdrawn),
        2
    );
    assert_eq!(count(&events, v1::EventKind::FundingDisbursed), 3);
    let disbursed: Vec<&v1::Event> = events
        .iter()
        .filter(|e| e.kind() == v1::EventKind::FundingDisbursed)
        .collect();
    let Some(v1::event::Detail::FundingApplicationChange(change)) = &disbursed[1].detail else {
        panic!("disbursement without its change");
    };
    assert_eq!(
        change.disbursement.as_ref().unwrap().amount_yuan,
        50_000_000
    );
    assert_eq!(disbursed[1].project, "projects/p01");

    // Deleting a project under an application needs force, and takes the application along.
    let mut projects = server.projects().await;
    let refused = projects
        .delete_project(v1::DeleteProjectRequest {
            name: "projects/p06".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        subjects(&refused).contains("projects/p06/fundingApplications"),
        "{:?}",
        subjects(&refused)
    );
    projects
        .delete_project(v1::DeleteProjectRequest {
            name: "projects/p06".into(),
            force: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let gone = funding
        .get_funding_application(v1::GetFundingApplicationRequest {
            name: app_name("p06"),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    let gone = disburse(&mut funding, &app_name("p06"), 1, day(10, 2), "")
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    let (_, totals) = list_all(&mut funding, &format!("funding_window = \"{window}\"")).await;
    assert_eq!(totals.application_count, 16);
    assert_eq!(totals.disbursed_amount_yuan, 80_000_000);
}

async fn windows_bound_submission_and_input_is_checked(server: TestServer) {
    let mut projects = server.projects().await;
    reserve_project(&mut projects, "water-1", "城关镇", 200_000_000, true).await;
    let mut funding = server.funding().await;
    // A special-bond round that opens next month: drafts may be prepared, not submitted.
    let upcoming = create_window(
        &mut funding,
        "bond-round-3",
        v1::FundingChannel::SpecialBond,
        day(10, 10),
        day(10, 31),
        0,
    )
    .await;
    let draft = apply(&mut funding, "water-1", &upcoming.name, 300_000_000)
        .await
        .unwrap();
    let early = submit(&mut funding, &draft.name, "").await.unwrap_err();
    assert_eq!(early.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&early), "WINDOW_NOT_OPEN");
    assert_eq!(
        subjects(&early),
        BTreeSet::from(["fundingWindows/bond-round-3".to_string()])
    );

    let before = log(&server.store).await.len();
    // Every bad field at once, nothing written.
    let bad = funding
        .create_funding_application(v1::CreateFundingApplicationRequest {
            parent: "projects/Water 1".into(),
            funding_application_id: "-bad".into(),
            funding_application: Some(v1::FundingApplication {
                funding_window: "windows/x".into(),
                requested_amount_yuan: -5,
                ..Default::default()
            }),
            request_id: "a b".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(
        bad_fields(&bad),
        [
            "parent",
            "funding_application_id",
            "funding_application.funding_window",
            "funding_application.requested_amount_yuan",
            "request_id",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    );
    let overflow = apply(&mut funding, "water-1", &upcoming.name, i64::MAX)
        .await
        .unwrap_err();
    assert_eq!(overflow.code(), Code::InvalidArgument);
    let missing_window = apply(&mut funding, "water-1", "fundingWindows/nope", 1)
        .await
        .unwrap_err();
    assert_eq!(missing_window.code(), Code::NotFound);
    let missing_project = apply(&mut funding, "nope", &upcoming.name, 1)
        .await
        .unwrap_err();
    assert_eq!(missing_project.code(), Code::NotFound);
    let bad_disbursement = funding
        .record_funding_disbursement(v1::RecordFundingDisbursementRequest {
            name: draft.name.clone(),
            amount_yuan: 0,
            disbursement_date: date(day(12, 1)),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&bad_disbursement),
        BTreeSet::from(["amount_yuan".to_string(), "disbursement_date".to_string()])
    );
    let bad_approval = funding
        .approve_funding_application(v1::ApproveFundingApplicationRequest {
            name: draft.name.clone(),
            approved_amount_yuan: -1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&bad_approval),
        BTreeSet::from(["approved_amount_yuan".to_string()])
    );
    let state_in_mask = funding
        .update_funding_application(v1::UpdateFundingApplicationRequest {
            funding_application: Some(v1::FundingApplication {
                name: draft.name.clone(),
                state: v1::FundingApplicationState::Approved as i32,
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["state".into()],
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(state_in_mask.code(), Code::InvalidArgument);
    assert_eq!(
        log(&server.store).await.len(),
        before,
        "refusals write nothing"
    );

    // A draft's amount may change; a stale etag is ABORTED.
    let updated = funding
        .update_funding_application(v1::UpdateFundingApplicationRequest {
            funding_application: Some(v1::FundingApplication {
                name: draft.name.clone(),
                requested_amount_yuan: 250_000_000,
                etag: draft.etag.clone(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.requested_amount_yuan, 250_000_000);
    let stale = funding
        .update_funding_application(v1::UpdateFundingApplicationRequest {
            funding_application: Some(v1::FundingApplication {
                name: draft.name.clone(),
                description: "新说明".into(),
                etag: draft.etag.clone(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);

    // Withdrawn, the place is free again: a new application may be created.
    funding
        .withdraw_funding_application(v1::WithdrawFundingApplicationRequest {
            name: draft.name.clone(),
            reason: "调整申报批次".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let again = funding
        .create_funding_application(v1::CreateFundingApplicationRequest {
            parent: "projects/water-1".into(),
            funding_application_id: "second".into(),
            funding_application: Some(v1::FundingApplication {
                funding_window: upcoming.name.clone(),
                requested_amount_yuan: 1,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.state(), v1::FundingApplicationState::Draft);
    let events = log(&server.store).await;
    let mut kinds: HashMap<v1::EventKind, usize> = HashMap::new();
    for e in &events[before..] {
        *kinds.entry(e.kind()).or_default() += 1;
    }
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert_eq!(kinds[&v1::EventKind::FundingApplicationUpdated], 1);
    assert_eq!(kinds[&v1::EventKind::FundingApplicationWithdrawn], 1);
    assert_eq!(kinds[&v1::EventKind::FundingApplicationCreated], 1);
}

/// Calls one transition method on `name`.
async fn act(
    client: &mut FundingServiceClient<Authed>,
    action: &str,
    name: &str,
) -> Result<v1::FundingApplication, Status> {
    let reason = "测试".to_string();
    let name = name.to_string();
    let result = match action {
        "submit" => {
            client
                .submit_funding_application(v1::SubmitFundingApplicationRequest {
                    name,
                    ..Default::default()
                })
                .await
        }
        "approve" => {
            client
                .approve_funding_application(v1::ApproveFundingApplicationRequest {
                    name,
                    ..Default::default()
                })
                .await
        }
        "reject" => {
            client
                .reject_funding_application(v1::RejectFundingApplicationRequest {
                    name,
                    reason,
                    ..Default::default()
                })
                .await
        }
        _ => {
            client
                .withdraw_funding_application(v1::WithdrawFundingApplicationRequest {
                    name,
                    reason,
                    ..Default::default()
                })
                .await
        }
    };
    result.map(|r| r.into_inner())
}

async fn every_illegal_transition_is_refused(server: TestServer) {
    use v1::FundingApplicationState as S;
    let mut projects = server.projects().await;
    let mut funding = server.funding().await;
    let window = create_window(
        &mut funding,
        "bond-round-2",
        v1::FundingChannel::SpecialBond,
        day(9, 1),
        day(9, 30),
        5,
    )
    .await;
    // One application in each state, each on its own project.
    let paths: [(&str, &[&str], S); 5] = [
        ("draft", &[], S::Draft),
        ("submitted", &["submit"], S::Submitted),
        ("approved", &["submit", "approve"], S::Approved),
        ("rejected", &["submit", "reject"], S::Rejected),
        ("withdrawn", &["withdraw"], S::Withdrawn),
    ];
    for (id, steps, state) in paths {
        reserve_project(&mut projects, id, "城关镇", 200_000_000, true).await;
        let app = apply(&mut funding, id, &window.name, 10_000_000)
            .await
            .unwrap();
        let mut last = app;
        for step in steps {
            last = act(&mut funding, step, &last.name).await.unwrap();
        }
        assert_eq!(last.state(), state);
    }
    let legal: &[(&str, &str)] = &[
        ("draft", "submit"),
        ("draft", "withdraw"),
        ("submitted", "approve"),
        ("submitted", "reject"),
        ("submitted", "withdraw"),
    ];
    let before = log(&server.store).await.len();
    for (id, _, state) in paths {
        for action in ["submit", "approve", "reject", "withdraw"] {
            if legal.contains(&(id, action)) {
                continue;
            }
            let refused = act(&mut funding, action, &app_name(id)).await.unwrap_err();
            assert_eq!(refused.code(), Code::FailedPrecondition, "{action} {id}");
            assert_eq!(reason_of(&refused), "ILLEGAL_APPLICATION_TRANSITION");
            let current = format!("{:?}", state).to_uppercase();
            assert!(
                refused.message().contains(&current),
                "{action} {id}: {}",
                refused.message()
            );
        }
    }
    assert_eq!(
        log(&server.store).await.len(),
        before,
        "refusals write nothing"
    );
    // The one legal move not made above: withdrawing a submitted application.
    let withdrawn = act(&mut funding, "withdraw", &app_name("submitted"))
        .await
        .unwrap();
    assert_eq!(withdrawn.state(), S::Withdrawn);
}

/// Sixteen concurrent disbursements with one request id pay once: every call gets the first
/// answer (before, on PostgreSQL, the calls after the first found the approval used up).
async fn concurrent_disbursement_retries_pay_once(server: TestServer) {
    let mut projects = server.projects().await;
    reserve_project(&mut projects, "pay", "城关镇", 200_000_000, true).await;
    let mut funding = server.funding().await;
    let window = "fundingWindows/pay-window";
    create_window(
        &mut funding,
        "pay-window",
        v1::FundingChannel::SpecialBond,
        day(9, 1),
        day(9, 30),
        1,
    )
    .await;
    let created = apply(&mut funding, "pay", window, 80_000_000)
        .await
        .unwrap();
    submit(&mut funding, &created.name, "").await.unwrap();
    approve(&mut funding, &created.name, 80_000_000, false)
        .await
        .unwrap();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(16));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let mut c = funding.clone();
        let barrier = barrier.clone();
        let name = created.name.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            disburse(&mut c, &name, 80_000_000, day(9, 14), "pay-once").await
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(
            task.await
                .unwrap()
                .expect("every retry gets the first answer"),
        );
    }
    assert!(answers.iter().all(|a| a == &answers[0]));
    assert_eq!(answers[0].disbursed_amount_yuan, 80_000_000);
    assert_eq!(answers[0].disbursements.len(), 1);
    assert_eq!(
        count(&log(&server.store).await, v1::EventKind::FundingDisbursed),
        1
    );
}

/// An application lists all of its disbursements, so it keeps at most 24, each with a note of
/// at most 200 characters: at those bounds it still fits the smallest message limit.
async fn disbursements_are_bounded(mut server: TestServer) {
    const LIMIT: usize = 64 * 1024;
    let today = server.today;
    server
        .restart_with(today, |options| options.max_message_bytes = LIMIT)
        .await;
    let mut projects = server.projects().await;
    reserve_project(&mut projects, "loan", "城关镇", 100_000_000, true).await;
    let mut funding = server.funding().await;
    let window = create_window(
        &mut funding,
        "loan",
        v1::FundingChannel::LongTermLoan,
        day(9, 1),
        day(9, 30),
        0,
    )
    .await;
    let app = apply(&mut funding, "loan", &window.name, 1_000)
        .await
        .unwrap();
    submit(&mut funding, &app.name, "").await.unwrap();
    approve(&mut funding, &app.name, 0, false).await.unwrap();
    let record = |note: String| v1::RecordFundingDisbursementRequest {
        name: app.name.clone(),
        amount_yuan: 1,
        disbursement_date: date(day(9, 10)),
        note,
        ..Default::default()
    };
    let err = funding
        .record_funding_disbursement(record("笔".repeat(201)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&err), ["note".to_string()].into());
    for _ in 0..24 {
        funding
            .record_funding_disbursement(record("\u{20000}".repeat(200)))
            .await
            .unwrap();
    }
    let before = log(&server.store).await.len();
    let err = funding
        .record_funding_disbursement(record("第二十五笔".into()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&err), "TOO_MANY_DISBURSEMENTS");
    assert_eq!(
        log(&server.store).await.len(),
        before,
        "nothing was written"
    );
    let read = funding
        .get_funding_application(v1::GetFundingApplicationRequest {
            name: app.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (read.disbursements.len(), read.disbursed_amount_yuan),
        (24, 24)
    );
    assert!(prost::Message::encoded_len(&read) <= LIMIT);
    let listed = funding
        .list_funding_applications(v1::ListFundingApplicationsRequest {
            parent: "projects/-".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.funding_applications, vec![read]);
}

both_backends!(
    fifth_fund_batch,
    windows_bound_submission_and_input_is_checked,
    every_illegal_transition_is_refused,
    concurrent_disbursement_retries_pay_once,
    disbursements_are_bounded,
);
