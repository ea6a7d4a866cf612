//! MilestoneService end to end on SQLite and PostgreSQL: a realistic year of one trial
//! production, the supervisor's list query against the rules, the scanner's once-only alerts,
//! and bad input.

mod common;

use std::collections::{BTreeMap, HashSet};

use chrono::NaiveDate;
use pipeline::api::Services;
use pipeline::domain::clock::Clock;
use pipeline::domain::milestone::Policy;
use pipeline::events::outbox as events;
use pipeline::proto::v1;
use pipeline::store::Store;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;

use common::{Authed, TestServer};
use v1::milestone_service_client::MilestoneServiceClient;
use v1::project_service_client::ProjectServiceClient;

fn day(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).unwrap()
}

fn date(d: NaiveDate) -> v1::Date {
    use chrono::Datelike;
    v1::Date {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    }
}

fn reason_of(status: &Status) -> String {
    status
        .get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_default()
}

fn bad_fields(status: &Status) -> Vec<String> {
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

async fn project(
    client: &mut ProjectServiceClient<Authed>,
    id: &str,
    township: &str,
    stage: v1::ProjectStage,
) -> v1::Project {
    client
        .create_project(v1::CreateProjectRequest {
            project_id: id.into(),
            initial_stage: stage as i32,
            project: Some(v1::Project {
                display_name: format!("项目 {id}"),
                category: v1::ProjectCategory::Industry as i32,
                investment_type: v1::InvestmentType::Enterprise as i32,
                township: township.into(),
                department: "县经信局".into(),
                leader: "王书记".into(),
                total_investment_yuan: 500_000_000,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

async fn schedule(
    client: &mut MilestoneServiceClient<Authed>,
    parent: &str,
    id: &str,
    kind: v1::MilestoneKind,
    baseline: NaiveDate,
    forecast: Option<NaiveDate>,
) -> v1::Milestone {
    client
        .create_milestone(v1::CreateMilestoneRequest {
            parent: parent.into(),
            milestone_id: id.into(),
            milestone: Some(v1::Milestone {
                kind: kind as i32,
                baseline_date: Some(date(baseline)),
                forecast_date: forecast.map(date),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("schedule {id}: {s:?}"))
        .into_inner()
}

async fn list(
    client: &MilestoneServiceClient<Authed>,
    filter: &str,
    order_by: &str,
    parent: &str,
) -> Vec<v1::Milestone> {
    let mut c = client.clone();
    let request = v1::ListMilestonesRequest {
        parent: parent.into(),
        filter: filter.into(),
        order_by: order_by.into(),
        page_size: 100,
        ..Default::default()
    };
    c.list_milestones(request)
        .await
        .unwrap_or_else(|s| panic!("{s:?}"))
        .into_inner()
        .milestones
}

async fn get(
    client: &mut MilestoneServiceClient<Authed>,
    name: &str,
    status_date: Option<NaiveDate>,
) -> Result<v1::Milestone, Status> {
    client
        .get_milestone(v1::GetMilestoneRequest {
            name: name.into(),
            status_date: status_date.map(date),
        })
        .await
        .map(|r| r.into_inner())
}

fn view(m: &v1::Milestone) -> (v1::MilestoneStatus, v1::AlertLight, i32) {
    (m.status(), m.light(), m.variance_days)
}

async fn log(store: &Store) -> Vec<v1::Event> {
    events::read_after(store.connection(), 0, 1_000_000)
        .await
        .unwrap()
}

fn count(events: &[v1::Event], kind: v1::EventKind, resource: &str) -> usize {
    events
        .iter()
        .filter(|e| e.kind() == kind && e.resource == resource)
        .count()
}

fn change(event: &v1::Event) -> &v1::MilestoneChange {
    match &event.detail {
        Some(v1::event::Detail::MilestoneChange(c)) => c,
        other => panic!("not a milestone change: {other:?}"),
    }
}

use v1::AlertLight::{Green, Red, Yellow};
use v1::EventKind as K;
use v1::MilestoneStatus::{Achieved, OnTrack, Overdue, Slipped};

/// 鑫鸣灏's trial production, promised for 31 October, through the autumn.
async fn a_realistic_year(mut server: TestServer) {
    server.restart(day(2026, 8, 20)).await;
    let mut projects = server.projects().await;
    let battery = project(
        &mut projects,
        "xinminghao",
        "工业园区",
        v1::ProjectStage::Construction,
    )
    .await;
    let mut client = server.milestones().await;
    let trial = schedule(
        &mut client,
        &battery.name,
        "trial-production",
        v1::MilestoneKind::TrialProduction,
        day(2026, 10, 31),
        None,
    )
    .await;
    let name = trial.name.clone();
    assert_eq!(name, "projects/xinminghao/milestones/trial-production");
    assert_eq!(view(&trial), (OnTrack, Green, 0));
    assert_eq!(trial.forecast_date, Some(date(day(2026, 10, 31))));

    // Early September: equipment arrives late, the forecast slips by 10 days.
    server.restart(day(2026, 9, 5)).await;
    let client = server.milestones().await;
    let slip = |forecast: NaiveDate, reason: &str| {
        let mut c = client.clone();
        let request = v1::ForecastMilestoneRequest {
            name: name.clone(),
            forecast_date: Some(date(forecast)),
            reason: reason.into(),
            ..Default::default()
        };
        async move { c.forecast_milestone(request).await.map(|r| r.into_inner()) }
    };
    let err = slip(day(2026, 11, 10), "").await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        bad_fields(&err),
        vec!["reason"],
        "a later forecast needs a reason"
    );
    let first = slip(day(2026, 11, 10), "设备到货延迟").await.unwrap();
    assert_eq!(view(&first), (Slipped, Yellow, 10));
    assert_eq!((first.slip_count, first.days_slipped), (1, 10));

    // Late September: the power connection is late too; 35 days past the promise is RED.
    server.restart(day(2026, 9, 25)).await;
    let mut client = server.milestones().await;
    let second = client
        .forecast_milestone(v1::ForecastMilestoneRequest {
            name: name.clone(),
            forecast_date: Some(date(day(2026, 12, 5))),
            reason: "供电接入推迟".into(),
            etag: first.etag.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(view(&second), (Slipped, Red, 35));
    assert_eq!((second.slip_count, second.days_slipped), (2, 35));

    // 1 November: the server restarts with today past the baseline. One overdue alert.
    server.restart(day(2026, 11, 1)).await;
    let mut client = server.milestones().await;
    assert_eq!(
        view(&get(&mut client, &name, None).await.unwrap()),
        (Overdue, Red, 35)
    );
    let events = log(&server.store).await;
    assert_eq!(count(&events, K::MilestoneOverdue, &name), 1);
    let overdue = events
        .iter()
        .find(|e| e.kind() == K::MilestoneOverdue)
        .unwrap();
    assert_eq!(overdue.actor, "scanner");
    assert_eq!(change(overdue).light(), Red);
    assert_eq!(change(overdue).new_date, Some(date(day(2026, 10, 31))));
    // Restarting again, the same day and the next, does not repeat it.
    server.restart(day(2026, 11, 1)).await;
    server.restart(day(2026, 11, 2)).await;
    assert_eq!(
        count(&log(&server.store).await, K::MilestoneOverdue, &name),
        1
    );

    // The county approves a new commitment of 15 December.
    let mut client = server.milestones().await;
    let err = client
        .rebaseline_milestone(v1::RebaselineMilestoneRequest {
            name: name.clone(),
            baseline_date: Some(date(day(2026, 12, 15))),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&err),
        vec!["reason"],
        "rebaselining needs a reason"
    );
    let rebaselined = client
        .rebaseline_milestone(v1::RebaselineMilestoneRequest {
            name: name.clone(),
            baseline_date: Some(date(day(2026, 12, 15))),
            reason: "县政府专题会同意调整试生产节点".into(),
            request_id: "rebaseline-1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(view(&rebaselined), (OnTrack, Green, -10));
    assert_eq!(
        (rebaselined.slip_count, rebaselined.days_slipped),
        (2, 35),
        "slips stay in the record"
    );

    // 20 December: overdue against the new baseline; the alert is re-armed for it.
    server.restart(day(2026, 12, 20)).await;
    let mut client = server.milestones().await;
    assert_eq!(
        view(&get(&mut client, &name, None).await.unwrap()),
        (Overdue, Red, 5)
    );
    assert_eq!(
        count(&log(&server.store).await, K::MilestoneOverdue, &name),
        2
    );

    // Achieved on 18 December, three days late: YELLOW for good, and the project moves on.
    let err = client
        .achieve_milestone(v1::AchieveMilestoneRequest {
            name: name.clone(),
            actual_date: Some(date(day(2026, 12, 21))),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&err),
        vec!["actual_date"],
        "an actual date cannot be in the future"
    );
    let achieved = client
        .achieve_milestone(v1::AchieveMilestoneRequest {
            name: name.clone(),
            actual_date: Some(date(day(2026, 12, 18))),
            reason: "首条产线试生产".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(view(&achieved), (Achieved, Yellow, 3));
    let mut projects = server.projects().await;
    let moved = projects
        .get_project(v1::GetProjectRequest {
            name: battery.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(moved.stage(), v1::ProjectStage::TrialProduction);
    let err = client
        .achieve_milestone(v1::AchieveMilestoneRequest {
            name: name.clone(),
            actual_date: Some(date(day(2026, 12, 19))),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), reason_of(&err)),
        (Code::FailedPrecondition, "MILESTONE_ACHIEVED".to_string())
    );
    let err = client
        .forecast_milestone(v1::ForecastMilestoneRequest {
            name: name.clone(),
            forecast_date: Some(date(day(2027, 1, 10))),
            reason: "too late".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    // A year later it still shows the late delivery.
    server.restart(day(2027, 12, 31)).await;
    let mut client = server.milestones().await;
    assert_eq!(
        view(&get(&mut client, &name, None).await.unwrap()),
        (Achieved, Yellow, 3)
    );

    // What did we believe then?
    let believed = get(&mut client, &name, Some(day(2026, 9, 10)))
        .await
        .unwrap();
    assert_eq!(view(&believed), (Slipped, Yellow, 10));
    assert_eq!(believed.baseline_date, Some(date(day(2026, 10, 31))));
    assert_eq!((believed.slip_count, believed.days_slipped), (1, 10));
    let believed = get(&mut client, &name, Some(day(2026, 11, 1)))
        .await
        .unwrap();
    assert_eq!(view(&believed), (Overdue, Red, 35));
    let believed = get(&mut client, &name, Some(day(2026, 12, 1)))
        .await
        .unwrap();
    assert_eq!(view(&believed), (OnTrack, Green, -10));
    let err = get(&mut client, &name, Some(day(2026, 8, 1)))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), reason_of(&err)),
        (
            Code::FailedPrecondition,
            "MILESTONE_NOT_YET_SCHEDULED".to_string()
        )
    );

    // The revisions tell the whole story, oldest first, across pages.
    let mut revisions = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_milestone_revisions(v1::ListMilestoneRevisionsRequest {
                name: name.clone(),
                page_size: 4,
                page_token: token,
            })
            .await
            .unwrap()
            .into_inner();
        revisions.extend(page.revisions);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    use v1::RevisionField::{Actual, Baseline, Forecast};
    let story: Vec<_> = revisions
        .iter()
        .map(|r| {
            (
                r.field(),
                r.old_date,
                r.new_date.unwrap(),
                r.delta_days,
                r.reason.as_str(),
                r.recorded_date.unwrap(),
            )
        })
        .collect();
    assert_eq!(
        story,
        vec![
            (
                Baseline,
                None,
                date(day(2026, 10, 31)),
                0,
                "scheduled",
                date(day(2026, 8, 20))
            ),
            (
                Forecast,
                None,
                date(day(2026, 10, 31)),
                0,
                "scheduled",
                date(day(2026, 8, 20))
            ),
            (
                Forecast,
                Some(date(day(2026, 10, 31))),
                date(day(2026, 11, 10)),
                10,
                "设备到货延迟",
                date(day(2026, 9, 5))
            ),
            (
                Forecast,
                Some(date(day(2026, 11, 10))),
                date(day(2026, 12, 5)),
                25,
                "供电接入推迟",
                date(day(2026, 9, 25))
            ),
            (
                Baseline,
                Some(date(day(2026, 10, 31))),
                date(day(2026, 12, 15)),
                45,
                "县政府专题会同意调整试生产节点",
                date(day(2026, 11, 2))
            ),
            (
                Actual,
                None,
                date(day(2026, 12, 18)),
                0,
                "首条产线试生产",
                date(day(2026, 12, 20))
            ),
        ]
    );

    // And the event log has every step, in order.
    let events = log(&server.store).await;
    let kinds: Vec<K> = events
        .iter()
        .filter(|e| e.project == battery.name)
        .map(|e| e.kind())
        .collect();
    assert_eq!(
        kinds,
        vec![
            K::ProjectCreated,
            K::MilestoneScheduled,
            K::MilestoneSlipped,
            K::MilestoneSlipped,
            K::MilestoneOverdue,
            K::MilestoneRebaselined,
            K::MilestoneOverdue,
            K::MilestoneAchieved,
            K::ProjectStageChanged,
        ]
    );
    let slips: Vec<_> = events
        .iter()
        .filter(|e| e.kind() == K::MilestoneSlipped)
        .map(|e| {
            let c = change(e);
            (c.delta_days, c.variance_days, c.light(), c.reason.clone())
        })
        .collect();
    assert_eq!(
        slips,
        vec![
            (10, 10, Yellow, "设备到货延迟".to_string()),
            (25, 35, Red, "供电接入推迟".to_string())
        ]
    );
    let achieved_event = events
        .iter()
        .find(|e| e.kind() == K::MilestoneAchieved)
        .unwrap();
    assert_eq!(change(achieved_event).variance_days, 3);
    // The achievement and the stage change were one transaction.
    let stage_event = events
        .iter()
        .find(|e| e.kind() == K::ProjectStageChanged)
        .unwrap();
    assert_eq!(
        stage_event.transaction_end_sequence,
        achieved_event.transaction_end_sequence
    );
}

/// The list query computes status and light in SQL; it must agree with the rules applied to
/// each milestone, for every status and light, and its filters and order must hold.
async fn supervisor_list_agrees_with_the_rules(mut server: TestServer) {
    server.restart(day(2026, 10, 1)).await;
    let mut projects = server.projects().await;
    let mut client = server.milestones().await;
    let a = project(&mut projects, "a", "城关镇", v1::ProjectStage::Preparation).await;
    let b = project(&mut projects, "b", "祠堂镇", v1::ProjectStage::Preparation).await;
    // b has an open prerequisite, a none.
    projects
        .create_prerequisite(v1::CreatePrerequisiteRequest {
            parent: b.name.clone(),
            prerequisite_id: "land".into(),
            prerequisite: Some(v1::Prerequisite {
                kind: v1::PrerequisiteKind::Land as i32,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    use v1::MilestoneKind::*;
    let specs = [
        (&a, "overdue", TrialProduction, day(2026, 9, 20), None),
        (
            &a,
            "slipped-yellow",
            Completion,
            day(2026, 12, 1),
            Some(day(2026, 12, 20)),
        ),
        (
            &a,
            "slipped-red",
            Completion,
            day(2026, 11, 1),
            Some(day(2026, 12, 20)),
        ),
        (
            &a,
            "start-no-prereqs",
            ConstructionStart,
            day(2026, 10, 10),
            None,
        ),
        (&b, "at-risk", ConstructionStart, day(2026, 10, 15), None),
        (
            &b,
            "at-risk-edge-out",
            ConstructionStart,
            day(2026, 10, 16),
            None,
        ),
        (
            &b,
            "on-track-early",
            ContractSigning,
            day(2026, 10, 20),
            Some(day(2026, 10, 5)),
        ),
        (&b, "baseline-today", Custom, day(2026, 10, 1), None),
    ];
    for (p, id, kind, baseline, forecast) in specs {
        let mut request = v1::CreateMilestoneRequest {
            parent: p.name.clone(),
            milestone_id: id.into(),
            milestone: Some(v1::Milestone {
                kind: kind as i32,
                title: if kind == Custom {
                    "环评公示".into()
                } else {
                    String::new()
                },
                baseline_date: Some(date(baseline)),
                forecast_date: forecast.map(date),
                ..Default::default()
            }),
            ..Default::default()
        };
        if id == "overdue" {
            // Scheduled late: the baseline is already past.
            request.request_id = "sched-overdue".into();
        }
        client.create_milestone(request).await.unwrap();
    }
    let achieved = schedule(
        &mut client,
        &a.name,
        "achieved-late",
        ContractSigning,
        day(2026, 9, 1),
        None,
    )
    .await;
    client
        .achieve_milestone(v1::AchieveMilestoneRequest {
            name: achieved.name.clone(),
            actual_date: Some(date(day(2026, 9, 10))),
            ..Default::default()
        })
        .await
        .unwrap();

    let all = list(&client, "", "", "projects/-").await;
    assert_eq!(all.len(), 9);
    let by_id: BTreeMap<String, &v1::Milestone> = all
        .iter()
        .map(|m| (m.name.rsplit('/').next().unwrap().to_string(), m))
        .collect();
    let expect = |id: &str| view(by_id[id]);
    assert_eq!(expect("overdue"), (Overdue, Red, 11));
    assert_eq!(expect("slipped-yellow"), (Slipped, Yellow, 19));
    assert_eq!(expect("slipped-red"), (Slipped, Red, 49));
    assert_eq!(expect("start-no-prereqs"), (OnTrack, Green, 0));
    assert_eq!(expect("at-risk"), (v1::MilestoneStatus::AtRisk, Yellow, 0));
    assert_eq!(expect("at-risk-edge-out"), (OnTrack, Green, 0));
    assert_eq!(expect("on-track-early"), (OnTrack, Green, -15));
    assert_eq!(expect("baseline-today"), (OnTrack, Green, 0));
    assert_eq!(expect("achieved-late"), (Achieved, Yellow, 9));
    // Each listed milestone reads the same through GetMilestone.
    for m in &all {
        assert_eq!(
            view(&get(&mut client, &m.name, None).await.unwrap()),
            view(m),
            "{}",
            m.name
        );
    }
    // The SQL filters agree with the rules for every value.
    for status in ["ACHIEVED", "OVERDUE", "SLIPPED", "AT_RISK", "ON_TRACK"] {
        let listed: HashSet<String> =
            list(&client, &format!("status = {status}"), "", "projects/-")
                .await
                .into_iter()
                .map(|m| m.name)
                .collect();
        let expected: HashSet<String> = all
            .iter()
            .filter(|m| m.status().as_str_name().ends_with(status))
            .map(|m| m.name.clone())
            .collect();
        assert_eq!(listed, expected, "status {status}");
    }
    for light in ["RED", "YELLOW", "GREEN"] {
        let listed: HashSet<String> = list(
            &client,
            &format!("light = ALERT_LIGHT_{light}"),
            "",
            "projects/-",
        )
        .await
        .into_iter()
        .map(|m| m.name)
        .collect();
        let expected: HashSet<String> = all
            .iter()
            .filter(|m| m.light().as_str_name().ends_with(light))
            .map(|m| m.name.clone())
            .collect();
        assert_eq!(listed, expected, "light {light}");
    }
    // The morning query: the red ones of one township, worst first.
    let names = |ms: Vec<v1::Milestone>| {
        ms.into_iter()
            .map(|m| m.name.rsplit('/').next().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(
            list(
                &client,
                "township = 城关镇 AND light = RED",
                "variance_days desc",
                "projects/-"
            )
            .await
        ),
        vec!["slipped-red", "overdue"]
    );
    assert_eq!(
        names(list(&client, "", "", &b.name).await),
        vec![
            "baseline-today",
            "at-risk",
            "at-risk-edge-out",
            "on-track-early"
        ]
    );
    assert_eq!(
        names(list(&client, "baseline_date >= 2026-10-10 AND baseline_date < 2026-10-20 AND kind = CONSTRUCTION_START", "", "projects/-").await),
        vec!["start-no-prereqs", "at-risk", "at-risk-edge-out"]
    );
    assert_eq!(
        names(
            list(
                &client,
                "department = 县经信局 AND leader = 王书记 AND status = OVERDUE",
                "",
                "projects/-"
            )
            .await
        ),
        vec!["overdue"]
    );
    // A status date moves the evaluation: on 1 December more is overdue.
    let december = client
        .list_milestones(v1::ListMilestonesRequest {
            parent: "projects/-".into(),
            filter: "status = OVERDUE".into(),
            status_date: Some(date(day(2026, 12, 2))),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(december.milestones.len(), 8, "all but the achieved one");

    // Pages of 2 by variance cover everything once.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_milestones(v1::ListMilestonesRequest {
                parent: "projects/-".into(),
                page_size: 2,
                page_token: token,
                order_by: "variance_days desc".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        seen.extend(
            page.milestones
                .iter()
                .map(|m| (m.variance_days, m.name.clone())),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen.len(), 9);
    assert!(
        seen.windows(2).all(|w| w[0].0 >= w[1].0),
        "ordered by variance: {seen:?}"
    );

    // The scanner raised the at-risk alert once; waiving the land approval clears the risk.
    server.restart(day(2026, 10, 1)).await;
    let events = log(&server.store).await;
    let at_risk_name = format!("{}/milestones/at-risk", b.name);
    assert_eq!(count(&events, K::MilestoneAtRisk, &at_risk_name), 1);
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind() == K::MilestoneAtRisk)
            .count(),
        1
    );
    assert_eq!(
        count(
            &events,
            K::MilestoneOverdue,
            &format!("{}/milestones/overdue", a.name)
        ),
        1
    );
    let mut projects = server.projects().await;
    projects
        .update_prerequisite(v1::UpdatePrerequisiteRequest {
            prerequisite: Some(v1::Prerequisite {
                name: format!("{}/prerequisites/land", b.name),
                state: v1::PrerequisiteState::Waived as i32,
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .unwrap();
    let mut client = server.milestones().await;
    assert_eq!(
        view(&get(&mut client, &at_risk_name, None).await.unwrap()),
        (OnTrack, Green, 0)
    );

    // Deleting a project with milestones needs force and takes them along.
    let err = projects
        .delete_project(v1::DeleteProjectRequest {
            name: a.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason_of(&err), "PROJECT_HAS_CHILDREN");
    projects
        .delete_project(v1::DeleteProjectRequest {
            name: a.name.clone(),
            force: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let left = list(&client, "", "", "projects/-").await;
    assert_eq!(left.len(), 4);
}

/// Two replicas scanning the same database at the same moment raise each alert once.
async fn replicas_scan_once(server: TestServer) {
    let mut projects = server.projects().await;
    let mut client = server.milestones().await;
    let p = project(
        &mut projects,
        "rail",
        "城关镇",
        v1::ProjectStage::Preparation,
    )
    .await;
    for i in 0..30 {
        schedule(
            &mut client,
            &p.name,
            &format!("m{i}"),
            v1::MilestoneKind::ContractSigning,
            day(2026, 10, 1),
            None,
        )
        .await;
    }
    let late = day(2026, 11, 1);
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let url = server.url.clone();
        tasks.push(tokio::spawn(async move {
            let store = Store::connect(&url).await.unwrap();
            let services = Services {
                store,
                clock: Clock::new(chrono_tz::Asia::Shanghai, Some(late)),
                policy: Policy::default(),
                units: None,
                max_message_bytes: pipeline::api::DEFAULT_MAX_MESSAGE_BYTES,
            };
            pipeline::scanner::scan_once(&services).await.unwrap()
        }));
    }
    let mut emitted = 0;
    for task in tasks {
        emitted += task.await.unwrap();
    }
    assert_eq!(emitted, 30);
    let events = log(&server.store).await;
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind() == K::MilestoneOverdue)
            .count(),
        30
    );
    let mut seqs: Vec<i64> = events.iter().map(|e| e.sequence).collect();
    seqs.dedup();
    assert_eq!(seqs, (1..=events.len() as i64).collect::<Vec<_>>());
}

async fn bad_input_changes_nothing(server: TestServer) {
    let mut projects = server.projects().await;
    let mut client = server.milestones().await;
    let p = project(
        &mut projects,
        "water",
        "城关镇",
        v1::ProjectStage::Preparation,
    )
    .await;
    let m = schedule(
        &mut client,
        &p.name,
        "start",
        v1::MilestoneKind::ConstructionStart,
        day(2026, 10, 31),
        None,
    )
    .await;
    let before = log(&server.store).await.len();

    let err = client
        .create_milestone(v1::CreateMilestoneRequest {
            parent: p.name.clone(),
            milestone_id: "Bad Id".into(),
            milestone: Some(v1::Milestone {
                kind: 42,
                baseline_date: Some(v1::Date {
                    year: 2026,
                    month: 2,
                    day: 29,
                }),
                actual_date: Some(date(day(2026, 1, 1))),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let fields: HashSet<String> = bad_fields(&err).into_iter().collect();
    assert_eq!(
        fields,
        [
            "milestone.kind",
            "milestone.baseline_date",
            "milestone.actual_date",
            "milestone_id"
        ]
        .into_iter()
        .map(String::from)
        .collect()
    );
    let err = client
        .create_milestone(v1::CreateMilestoneRequest {
            parent: p.name.clone(),
            milestone: Some(v1::Milestone {
                kind: v1::MilestoneKind::Custom as i32,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let fields: HashSet<String> = bad_fields(&err).into_iter().collect();
    assert_eq!(
        fields,
        ["milestone.title", "milestone.baseline_date"]
            .into_iter()
            .map(String::from)
            .collect()
    );

    for (forecast, what) in [
        (day(2015, 12, 31), "long before the project"),
        (day(2057, 1, 1), "absurdly far ahead"),
    ] {
        let err = client
            .forecast_milestone(v1::ForecastMilestoneRequest {
                name: m.name.clone(),
                forecast_date: Some(date(forecast)),
                reason: "x".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{what}");
        assert_eq!(bad_fields(&err), vec!["forecast_date"], "{what}");
    }
    let err = client
        .forecast_milestone(v1::ForecastMilestoneRequest {
            name: m.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), vec!["forecast_date"]);
    let err = client
        .forecast_milestone(v1::ForecastMilestoneRequest {
            name: m.name.clone(),
            forecast_date: Some(date(day(2026, 11, 30))),
            reason: "x".into(),
            etag: "\"v999\"".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    let err = get(&mut client, "projects/water/milestones/nope", None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = client
        .list_milestones(v1::ListMilestonesRequest {
            parent: "projects/-".into(),
            filter: "light = PURPLE AND baseline_date >= 2026-13-01".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), vec!["filter", "filter"]);

    // A cancelled project's milestones no longer move.
    let cancel = Request::new(v1::ChangeProjectStageRequest {
        name: p.name.clone(),
        stage: v1::ProjectStage::Cancelled as i32,
        reason: "项目终止".into(),
        ..Default::default()
    });
    projects.change_project_stage(cancel).await.unwrap();
    let after_cancel = log(&server.store).await.len();
    assert_eq!(
        after_cancel,
        before + 1,
        "only the cancellation was written"
    );
    let err = client
        .forecast_milestone(v1::ForecastMilestoneRequest {
            name: m.name.clone(),
            forecast_date: Some(date(day(2026, 11, 30))),
            reason: "x".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), reason_of(&err)),
        (Code::FailedPrecondition, "PROJECT_CANCELLED".to_string())
    );
    let err = client
        .achieve_milestone(v1::AchieveMilestoneRequest {
            name: m.name.clone(),
            actual_date: Some(date(day(2026, 9, 1))),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(
        log(&server.store).await.len(),
        after_cancel,
        "nothing written by refused calls"
    );
    let revisions = client
        .list_milestone_revisions(v1::ListMilestoneRevisionsRequest {
            name: m.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .revisions;
    assert_eq!(revisions.len(), 2);
}

/// The township filter of ListMilestones follows a project that moves to another township.
async fn township_filter_follows_the_project(server: TestServer) {
    let mut projects = server.projects().await;
    let mut client = server.milestones().await;
    let p = project(
        &mut projects,
        "moving",
        "城关镇",
        v1::ProjectStage::Preparation,
    )
    .await;
    schedule(
        &mut client,
        &p.name,
        "start",
        v1::MilestoneKind::ConstructionStart,
        day(2026, 11, 30),
        None,
    )
    .await;
    let names = |ms: Vec<v1::Milestone>| ms.into_iter().map(|m| m.name).collect::<Vec<_>>();
    let in_town = |t: &str| format!("township = \"{t}\"");
    assert_eq!(
        names(list(&client, &in_town("城关镇"), "", "projects/-").await).len(),
        1
    );
    projects
        .update_project(v1::UpdateProjectRequest {
            project: Some(v1::Project {
                name: p.name.clone(),
                township: "太和镇".into(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .unwrap();
    assert!(
        list(&client, &in_town("城关镇"), "", "projects/-")
            .await
            .is_empty()
    );
    assert_eq!(
        names(list(&client, &in_town("太和镇"), "", "projects/-").await),
        vec![format!("{}/milestones/start", p.name)]
    );
}

/// A stream delivers all events of a transaction in one message, so the scanner cuts its
/// batches where their events would not fit: 150 overdue milestones whose titles and
/// descriptions are at their limits are alerted, each once, in transactions that each fit.
async fn scanner_transactions_fit_in_a_message(mut server: TestServer) {
    let mut projects = server.projects().await;
    let mut client = server.milestones().await;
    let p = project(
        &mut projects,
        "factory",
        "城关镇",
        v1::ProjectStage::Construction,
    )
    .await;
    for i in 0..150 {
        client
            .create_milestone(v1::CreateMilestoneRequest {
                parent: p.name.clone(),
                milestone_id: format!("m{i:03}"),
                milestone: Some(v1::Milestone {
                    kind: v1::MilestoneKind::Custom as i32,
                    title: "\u{20000}".repeat(200),
                    description: if i % 2 == 0 {
                        "\u{20000}".repeat(2000)
                    } else {
                        "短".into()
                    },
                    baseline_date: Some(date(day(2026, 10, 1))),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let before = log(&server.store).await.len();
    // The start-up scan of a server whose today is past every baseline.
    server.restart(day(2026, 11, 1)).await;
    let alerts: Vec<v1::Event> = log(&server.store).await.split_off(before);
    assert_eq!(alerts.len(), 150);
    let mut alerted: Vec<&str> = alerts.iter().map(|e| e.resource.as_str()).collect();
    alerted.sort();
    alerted.dedup();
    assert_eq!(alerted.len(), 150, "each milestone alerted once");
    assert!(alerts.iter().all(|e| e.kind() == K::MilestoneOverdue));
    let mut transactions: std::collections::BTreeMap<i64, usize> = Default::default();
    for event in &alerts {
        let len = prost::Message::encoded_len(event);
        *transactions
            .entry(event.transaction_end_sequence)
            .or_default() += len + 4;
    }
    assert!(transactions.len() > 2, "{transactions:?}");
    for (end, bytes) in &transactions {
        assert!(*bytes <= 60 * 1024, "transaction {end}: {bytes} bytes");
    }
    // A second pass finds nothing new.
    server.restart(day(2026, 11, 2)).await;
    assert_eq!(log(&server.store).await.len(), before + 150);
}

both_backends!(
    a_realistic_year,
    supervisor_list_agrees_with_the_rules,
    replicas_scan_once,
    bad_input_changes_nothing,
    township_filter_follows_the_project,
    scanner_transactions_fit_in_a_message,
);
