//! `pipeline demo` on SQLite and PostgreSQL: the county scenario of DESIGN §9 loads through the
//! store, a second run changes nothing, a run with an earlier date leaves the later steps for
//! the next run, and the API (and the scanner) show the autumn push as of 15 October 2026.

mod common;

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use pipeline::demo::{self, DemoReport, Tally};
use pipeline::proto::v1;
use pipeline::store::events;

use common::TestServer;

both_backends!(
    a_second_run_creates_nothing,
    a_run_with_an_earlier_date_leaves_the_rest_for_later,
    the_api_shows_the_autumn_push,
);

fn day(month: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, month, d).unwrap()
}

fn date(d: NaiveDate) -> Option<v1::Date> {
    Some(v1::Date {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    })
}

/// What a client sees of the whole database, and the length of the event log.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    projects: BTreeMap<String, (String, String)>,
    milestones: BTreeMap<String, (String, i32, i32)>,
    applications: BTreeMap<String, (String, i64, i64)>,
    events: usize,
}

async fn snapshot(server: &TestServer) -> Snapshot {
    let projects = server
        .projects()
        .await
        .list_projects(v1::ListProjectsRequest {
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(projects.next_page_token.is_empty());
    let milestones = server
        .milestones()
        .await
        .list_milestones(v1::ListMilestonesRequest {
            parent: "projects/-".into(),
            page_size: 1000,
            status_date: date(demo::status_date()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(milestones.next_page_token.is_empty());
    let applications = server
        .funding()
        .await
        .list_funding_applications(v1::ListFundingApplicationsRequest {
            parent: "projects/-".into(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(applications.next_page_token.is_empty());
    let events = events::read_after(server.store.connection(), 0, 1_000_000)
        .await
        .unwrap();
    Snapshot {
        projects: projects
            .projects
            .into_iter()
            .map(|p| {
                let stage = p.stage().as_str_name().to_string();
                (p.name, (stage, p.etag))
            })
            .collect(),
        milestones: milestones
            .milestones
            .into_iter()
            .map(|m| {
                let status = m.status().as_str_name().to_string();
                (m.name, (status, m.variance_days, m.slip_count))
            })
            .collect(),
        applications: applications
            .funding_applications
            .into_iter()
            .map(|a| {
                let state = a.state().as_str_name().to_string();
                (
                    a.name,
                    (state, a.approved_amount_yuan, a.disbursed_amount_yuan),
                )
            })
            .collect(),
        events: events.len(),
    }
}

fn assert_complete(report: &DemoReport) {
    assert!(report.conflicts.is_empty(), "{:?}", report.conflicts);
    assert_eq!(report.deferred, Tally::default());
}

async fn a_second_run_creates_nothing(mut server: TestServer) {
    server.restart(demo::status_date()).await;
    let first = demo::load(&server.store, demo::status_date())
        .await
        .unwrap();
    assert_complete(&first);
    assert_eq!(first.present, Tally::default());
    assert_eq!(first.created.projects, 24);
    assert_eq!(first.created.milestones, 30);
    assert_eq!(first.created.funding_windows, 4);
    assert_eq!(first.created.funding_applications, 21);
    assert_eq!(first.created.disbursements, 2);
    let before = snapshot(&server).await;
    assert_eq!(before.projects.len(), 24);
    assert_eq!(before.milestones.len(), 30);
    assert_eq!(before.applications.len(), 21);
    assert!(before.events > first.created.total(), "{before:?}");

    let second = demo::load(&server.store, demo::status_date())
        .await
        .unwrap();
    assert_complete(&second);
    assert_eq!(second.created, Tally::default(), "{second:?}");
    assert_eq!(second.present, first.created);
    assert_eq!(snapshot(&server).await, before);
}

async fn a_run_with_an_earlier_date_leaves_the_rest_for_later(mut server: TestServer) {
    server.restart(demo::status_date()).await;
    // Mid-September: the special bonds are approved later, the fifth batch is not yet open.
    let early = demo::load(&server.store, day(9, 15)).await.unwrap();
    assert!(early.conflicts.is_empty(), "{:?}", early.conflicts);
    assert!(early.deferred.total() > 0);
    assert_eq!(early.created.projects, 24);
    assert_eq!(early.created.funding_windows, 2);
    let mut funding = server.funding().await;
    let missing = funding
        .get_funding_window(v1::GetFundingWindowRequest {
            name: format!("fundingWindows/{}", demo::FUND_BATCH_5),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    let library = server
        .projects()
        .await
        .get_project(v1::GetProjectRequest {
            name: "projects/old-estates-2026".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(library.stage(), v1::ProjectStage::Concept);
    // Nothing that happens after the load date was recorded: the trial production of 鑫鸣灏
    // has its first slip (5 September) but not its second (25 September).
    let trial = server
        .milestones()
        .await
        .get_milestone(v1::GetMilestoneRequest {
            name: "projects/xinminghao-battery/milestones/trial-production".into(),
            status_date: date(day(9, 15)),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(trial.forecast_date, date(day(11, 10)));
    assert_eq!(trial.slip_count, 1);

    let rest = demo::load(&server.store, demo::status_date())
        .await
        .unwrap();
    assert_complete(&rest);
    assert_eq!(rest.present, early.created);
    assert_eq!(rest.created, early.deferred);
    let loaded = snapshot(&server).await;
    assert_eq!(loaded.projects.len(), 24);
    assert_eq!(loaded.milestones.len(), 30);
    assert_eq!(loaded.applications.len(), 21);
    assert_eq!(
        loaded.projects["projects/old-estates-2026"].0,
        "PROJECT_STAGE_RESERVE"
    );
}

async fn the_api_shows_the_autumn_push(mut server: TestServer) {
    let status = demo::status_date();
    let report = demo::load(&server.store, status).await.unwrap();
    assert_complete(&report);
    // As an operator would: `pipeline serve --today 2026-10-15` after `pipeline demo`.
    server.restart(status).await;

    // The eight projects of §9 in their stages, and the sixteen newly reserved ones.
    let mut projects = server.projects().await;
    let railway = projects
        .list_projects(v1::ListProjectsRequest {
            filter: "display_name : \"绵遂内铁路\"".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .projects;
    assert_eq!(railway.len(), 1);
    assert_eq!(railway[0].name, "projects/mianshui-railway");
    assert_eq!(railway[0].stage(), v1::ProjectStage::Preparation);
    assert_eq!(railway[0].department, "县交通运输局");
    for (id, stage) in [
        ("mianshui-railway", v1::ProjectStage::Preparation),
        ("citangwan-reservoir", v1::ProjectStage::Construction),
        ("xinminghao-battery", v1::ProjectStage::Construction),
        ("zhenqin-battery", v1::ProjectStage::Construction),
        ("water-supply-integration", v1::ProjectStage::Preparation),
        ("water-network-1", v1::ProjectStage::Preparation),
        ("qinquan-renewal", v1::ProjectStage::Preparation),
        ("licheng-food", v1::ProjectStage::Concept),
    ] {
        let project = projects
            .get_project(v1::GetProjectRequest {
                name: format!("projects/{id}"),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(project.stage(), stage, "{id}");
        assert!(project.total_investment_yuan > 0, "{id}");
    }
    for (stage, expected) in [
        ("CONCEPT", 1),
        ("RESERVE", 16),
        ("PREPARATION", 4),
        ("CONSTRUCTION", 3),
    ] {
        let listed = projects
            .list_projects(v1::ListProjectsRequest {
                filter: format!("stage = {stage}"),
                page_size: 100,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .projects;
        assert_eq!(listed.len(), expected, "{stage}");
    }

    // Milestones as of 15 October: every status appears.
    let loaded = snapshot(&server).await;
    let mut by_status = BTreeMap::<&str, usize>::new();
    for (status, _, _) in loaded.milestones.values() {
        *by_status.entry(status.as_str()).or_default() += 1;
    }
    assert_eq!(
        by_status,
        BTreeMap::from([
            ("MILESTONE_STATUS_ACHIEVED", 4),
            ("MILESTONE_STATUS_AT_RISK", 1),
            ("MILESTONE_STATUS_ON_TRACK", 21),
            ("MILESTONE_STATUS_OVERDUE", 1),
            ("MILESTONE_STATUS_SLIPPED", 3),
        ])
    );
    let milestone = |name: &str| loaded.milestones[name].clone();
    assert_eq!(
        milestone("projects/water-supply-integration/milestones/construction-start").0,
        "MILESTONE_STATUS_AT_RISK"
    );
    assert_eq!(
        milestone("projects/mianshui-railway/milestones/preliminary-design").0,
        "MILESTONE_STATUS_OVERDUE"
    );
    // The README's worked example: two slips, 35 days late.
    assert_eq!(
        milestone("projects/xinminghao-battery/milestones/trial-production"),
        ("MILESTONE_STATUS_SLIPPED".to_string(), 35, 2)
    );
    // 臻秦 slipped and recovered: on track, with its slip on record.
    assert_eq!(
        milestone("projects/zhenqin-battery/milestones/trial-production"),
        ("MILESTONE_STATUS_ON_TRACK".to_string(), -1, 1)
    );
    // The revisions carry the days they were recorded: asked as of 10 September, the trial
    // production had slipped once, by 10 days (YELLOW).
    let mut milestones = server.milestones().await;
    let asked = milestones
        .get_milestone(v1::GetMilestoneRequest {
            name: "projects/xinminghao-battery/milestones/trial-production".into(),
            status_date: date(day(9, 10)),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(asked.status(), v1::MilestoneStatus::Slipped);
    assert_eq!(asked.variance_days, 10);
    assert_eq!(asked.light(), v1::AlertLight::Yellow);
    let red = milestones
        .list_milestones(v1::ListMilestonesRequest {
            parent: "projects/-".into(),
            filter: "light = RED".into(),
            status_date: date(status),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .milestones;
    let red: Vec<_> = red.into_iter().map(|m| m.name).collect();
    assert_eq!(
        red,
        [
            "projects/mianshui-railway/milestones/preliminary-design",
            "projects/xinminghao-battery/milestones/trial-production",
        ]
    );

    // Applications in every state, money approved and partly paid.
    let mut by_state = BTreeMap::<&str, usize>::new();
    let (mut approved, mut disbursed) = (0, 0);
    for (state, approved_yuan, disbursed_yuan) in loaded.applications.values() {
        *by_state.entry(state.as_str()).or_default() += 1;
        approved += approved_yuan;
        disbursed += disbursed_yuan;
    }
    assert_eq!(
        by_state,
        BTreeMap::from([
            ("FUNDING_APPLICATION_STATE_APPROVED", 3),
            ("FUNDING_APPLICATION_STATE_DRAFT", 3),
            ("FUNDING_APPLICATION_STATE_REJECTED", 1),
            ("FUNDING_APPLICATION_STATE_SUBMITTED", 12),
            ("FUNDING_APPLICATION_STATE_WITHDRAWN", 2),
        ])
    );
    assert_eq!(approved, 800_000_000);
    assert_eq!(disbursed, 160_000_000);

    // The fifth fund batch a week before it closes: 16 eligible, 10 declared, 2 drafts and 4
    // projects not declared (one withdrew to rework its figures).
    let coverage = server
        .funding()
        .await
        .get_funding_coverage(v1::GetFundingCoverageRequest {
            name: format!("fundingWindows/{}", demo::FUND_BATCH_5),
            status_date: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(coverage.window_state(), v1::FundingWindowState::Open);
    assert_eq!(coverage.days_to_close, 7);
    assert_eq!(coverage.eligible_count, 16);
    assert_eq!(coverage.target_count, 16);
    assert_eq!(coverage.declared_count, 10);
    assert_eq!(coverage.submitted_count, 10);
    assert_eq!(coverage.draft_count, 2);
    assert_eq!(coverage.undeclared_count, 4);
    let undeclared: Vec<_> = coverage
        .undeclared_projects
        .iter()
        .map(|p| p.project.as_str())
        .collect();
    assert!(
        undeclared.contains(&"projects/chengdong-smart-parking"),
        "{undeclared:?}"
    );
    let drafts: Vec<_> = coverage
        .draft_applications
        .iter()
        .map(|p| p.project.as_str())
        .collect();
    assert_eq!(
        drafts.len(),
        2,
        "{drafts:?} should be the gas network and the wetland"
    );
    assert!(drafts.contains(&"projects/gas-network-renewal"));
    assert!(drafts.contains(&"projects/fujiang-wetland"));

    // The scanner, at start-up on 15 October, raised the alerts a leader should see.
    let log = events::read_after(server.store.connection(), 0, 1_000_000)
        .await
        .unwrap();
    let raised = |kind: v1::EventKind, resource: &str| {
        log.iter()
            .any(|e| e.kind() == kind && e.resource == resource && e.actor != demo::ACTOR)
    };
    assert!(raised(
        v1::EventKind::MilestoneAtRisk,
        "projects/water-supply-integration/milestones/construction-start"
    ));
    assert!(raised(
        v1::EventKind::MilestoneOverdue,
        "projects/mianshui-railway/milestones/preliminary-design"
    ));
    assert!(raised(
        v1::EventKind::FundingWindowClosing,
        &format!("fundingWindows/{}", demo::FUND_BATCH_5)
    ));
    // Everything the demo wrote is recorded as its work.
    assert!(
        log.iter()
            .filter(|e| e.kind() == v1::EventKind::ProjectCreated)
            .all(|e| e.actor == demo::ACTOR)
    );
}
