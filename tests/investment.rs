//! InvestmentService on SQLite and PostgreSQL: annual plans, monthly reports and their
//! corrections, the completed investment derived from them, light rule sets as revisions, and
//! the pace light (序时进度) with its reason, hand-computed below.
//!
//! The worked example: two projects, each with a 2026 plan of 1.2亿 (120,000,000 yuan).
//! - `yx` has a monthly plan (percent of the year: 5 3 7 8 9 10 9 9 10 15 10 5), so its pace
//!   through August is 5+3+7+8+9+10+9+9 = 60 % = 72,000,000 yuan.
//! - `dx` has no monthly plan: its pace through August is 8/12 = 66.67 % = 80,000,000 yuan.
//!
//! Both report January to July: 6.0, 3.6, 8.4, 9.6, 8.0, 6.0 and 4.8 million (46,400,000 yuan,
//! 38.67 %); `yx` also reports August, 4.0 million, for 50,400,000 yuan (42 %).
//!
//! - Under `default@1` (POINTS, yellow from 10 points, red above 30): `yx` is 60 − 42 = 18
//!   points behind, YELLOW; `dx` is 66.67 − 38.67 = 28 points behind, YELLOW.
//! - Under `city@1` (RATIO, yellow below 80 %, red below 60 % of pace): `yx` has 42/60 = 70 %
//!   of pace, YELLOW; `dx` has 46.4/80 = 58 %, RED.
//! - Under `city@2` (RATIO 90/75): `yx` at 70 % is RED as well.

mod common;

use chrono::NaiveDate;
use pipeline::domain::access::Role;
use pipeline::proto::v1;
use prost_types::FieldMask;
use tonic::Code;

use common::{Authed, TestServer, bad_fields, reason_of};
use v1::investment_service_client::InvestmentServiceClient;

const MILLION: i64 = 1_000_000;
const MONTHLY_PERCENT: [i64; 12] = [5, 3, 7, 8, 9, 10, 9, 9, 10, 15, 10, 5];
const REPORTED: [i64; 8] = [
    6_000_000, 3_600_000, 8_400_000, 9_600_000, 8_000_000, 6_000_000, 4_800_000, 4_000_000,
];

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

async fn investment(server: &TestServer) -> InvestmentServiceClient<Authed> {
    InvestmentServiceClient::new(server.authed(&server.admin_token).await)
}

async fn investment_as(server: &TestServer, token: &str) -> InvestmentServiceClient<Authed> {
    InvestmentServiceClient::new(server.authed(token).await)
}

async fn project(server: &TestServer, id: &str, department: &str, completed: i64) {
    server
        .projects()
        .await
        .create_project(v1::CreateProjectRequest {
            project_id: id.into(),
            initial_stage: v1::ProjectStage::Construction as i32,
            project: Some(v1::Project {
                display_name: format!("项目{id}"),
                category: v1::ProjectCategory::Water as i32,
                investment_type: v1::InvestmentType::Government as i32,
                township: "城关镇".into(),
                department: department.into(),
                total_investment_yuan: 500 * MILLION,
                annual_planned_investment_yuan: 120 * MILLION,
                completed_investment_yuan: completed,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("create {id}: {s:?}"));
}

async fn set_plan(
    client: &mut InvestmentServiceClient<Authed>,
    project: &str,
    year: i32,
    total: i64,
    monthly: Vec<i64>,
) -> Result<v1::InvestmentPlan, tonic::Status> {
    client
        .set_investment_plan(v1::SetInvestmentPlanRequest {
            investment_plan: Some(v1::InvestmentPlan {
                name: format!("projects/{project}/investmentPlans/{year}"),
                total_yuan: total,
                monthly_yuan: monthly,
                ..Default::default()
            }),
            etag: String::new(),
        })
        .await
        .map(|r| r.into_inner())
}

async fn report(
    client: &mut InvestmentServiceClient<Authed>,
    project: &str,
    month: &str,
    amount: i64,
) -> Result<v1::InvestmentReport, tonic::Status> {
    client
        .create_investment_report(v1::CreateInvestmentReportRequest {
            parent: format!("projects/{project}"),
            investment_report_id: month.into(),
            investment_report: Some(v1::InvestmentReport {
                amount_yuan: amount,
                physical_progress: "主体施工".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .map(|r| r.into_inner())
}

async fn pace(
    client: &mut InvestmentServiceClient<Authed>,
    month: &str,
    rule_set: &str,
) -> v1::ListInvestmentPaceResponse {
    client
        .list_investment_pace(v1::ListInvestmentPaceRequest {
            month: month.into(),
            light_rule_set: rule_set.into(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("pace {month} {rule_set}: {s:?}"))
        .into_inner()
}

fn rules(measure: v1::PaceMeasure, yellow: i32, red: i32) -> v1::LightRuleSet {
    v1::LightRuleSet {
        display_name: "市考核办法".into(),
        milestone_tolerance_days: 30,
        warning_horizon_days: 14,
        pace_measure: measure as i32,
        pace_yellow_percent: yellow,
        pace_red_percent: red,
        escalate_after_months: 0,
        recovery_policy: v1::RecoveryPolicy::Immediate as i32,
        enrolment_yellow_after_months: 1,
        enrolment_red_after_months: 2,
        report_due_day: 5,
        ..Default::default()
    }
}

async fn publish(
    client: &mut InvestmentServiceClient<Authed>,
    id: &str,
    set: v1::LightRuleSet,
) -> Result<v1::LightRuleSet, tonic::Status> {
    client
        .create_light_rule_set(v1::CreateLightRuleSetRequest {
            light_rule_set_id: id.into(),
            light_rule_set: Some(set),
            request_id: String::new(),
        })
        .await
        .map(|r| r.into_inner())
}

fn light(entry: &v1::InvestmentPace) -> v1::AlertLight {
    v1::AlertLight::try_from(entry.light).unwrap()
}

/// Loads the worked example: reports for January to July on 4 August (July's on time, the
/// others late), and `yx`'s August report on 15 September (late: due on 5 September).
async fn load_worked_example(server: &mut TestServer) {
    project(server, "yx", "县水利局", 0).await;
    project(server, "dx", "县水利局", 0).await;
    let mut client = investment(server).await;
    let monthly: Vec<i64> = MONTHLY_PERCENT.iter().map(|p| p * 1_200_000).collect();
    set_plan(&mut client, "yx", 2026, 120 * MILLION, monthly)
        .await
        .unwrap();
    set_plan(&mut client, "dx", 2026, 120 * MILLION, Vec::new())
        .await
        .unwrap();
    server.restart(day(2026, 8, 4)).await;
    let mut client = investment(server).await;
    for (i, amount) in REPORTED[..7].iter().enumerate() {
        for p in ["yx", "dx"] {
            report(&mut client, p, &format!("2026-{:02}", i + 1), *amount)
                .await
                .unwrap();
        }
    }
    server.restart(common::today()).await;
    let mut client = investment(server).await;
    report(&mut client, "yx", "2026-08", REPORTED[7])
        .await
        .unwrap();
}

async fn the_worked_example_under_three_rule_sets(mut server: TestServer) {
    load_worked_example(&mut server).await;
    let mut client = investment(&server).await;

    // The completed investment is derived from the reports.
    let yx = server
        .projects()
        .await
        .get_project(v1::GetProjectRequest {
            name: "projects/yx".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(yx.completed_investment_yuan, 50_400_000);
    assert_eq!(yx.reported_investment_yuan, 50_400_000);

    // The summary, as of 15 September, judges August (due on the 5th): 72 + 80 million due,
    // 50.4 + 46.4 reported; 16 reports due, July's two on time.
    let summary = v1::report_service_client::ReportServiceClient::new(
        server.authed(&server.admin_token).await,
    )
    .get_pipeline_summary(v1::GetPipelineSummaryRequest::default())
    .await
    .unwrap()
    .into_inner()
    .investment_pace
    .unwrap();
    assert_eq!(
        (
            summary.month.as_str(),
            summary.project_count,
            summary.pace_yuan,
            summary.completed_yuan,
            summary.reports_due,
            summary.reports_on_time
        ),
        ("2026-08", 2, 152 * MILLION, 96_800_000, 16, 2)
    );

    let page = pace(&mut client, "2026-08", "").await;
    assert_eq!(page.light_rule_set, "lightRuleSets/default@1");
    let [dx, yx] = page.paces.as_slice() else {
        panic!("{page:?}")
    };
    assert_eq!(
        (yx.plan_yuan, yx.pace_yuan, yx.completed_yuan),
        (120 * MILLION, 72 * MILLION, 50_400_000)
    );
    assert_eq!(light(yx), v1::AlertLight::Yellow);
    assert_eq!(
        yx.reason,
        "完成投资 42% of 序时进度 60%, 18 points behind: YELLOW by rule pace-points default@1"
    );
    assert_eq!(
        v1::ReportTimeliness::try_from(yx.report_timeliness),
        Ok(v1::ReportTimeliness::Late)
    );
    assert_eq!(
        (dx.pace_yuan, dx.completed_yuan),
        (80 * MILLION, 46_400_000)
    );
    assert_eq!(light(dx), v1::AlertLight::Yellow);
    assert_eq!(
        dx.reason,
        "完成投资 39% of 序时进度 67%, 28 points behind: YELLOW by rule pace-points default@1"
    );
    assert_eq!(
        v1::ReportTimeliness::try_from(dx.report_timeliness),
        Ok(v1::ReportTimeliness::Missing)
    );
    // July was reported on 4 August, before its due day.
    let july = pace(&mut client, "2026-07", "").await;
    assert!(
        july.paces
            .iter()
            .all(|p| p.report_timeliness == v1::ReportTimeliness::OnTime as i32)
    );

    // The city's rules, published as two revisions; the active set is still the default.
    let city1 = publish(&mut client, "city", rules(v1::PaceMeasure::Ratio, 80, 60))
        .await
        .unwrap();
    assert_eq!(
        (city1.name.as_str(), city1.active),
        ("lightRuleSets/city@1", false)
    );
    let city2 = publish(&mut client, "city", rules(v1::PaceMeasure::Ratio, 90, 75))
        .await
        .unwrap();
    assert_eq!(city2.name, "lightRuleSets/city@2");

    let under1 = pace(&mut client, "2026-08", "lightRuleSets/city@1").await;
    assert_eq!(under1.light_rule_set, "lightRuleSets/city@1");
    let lights: Vec<_> = under1.paces.iter().map(light).collect();
    assert_eq!(lights, [v1::AlertLight::Red, v1::AlertLight::Yellow]);
    assert_eq!(
        under1.paces[1].reason,
        "完成投资 42% of 序时进度 60% (70% of pace): YELLOW by rule pace-ratio city@1"
    );
    // `lightRuleSets/city` is its latest revision.
    let latest = pace(&mut client, "2026-08", "lightRuleSets/city").await;
    assert_eq!(latest.light_rule_set, "lightRuleSets/city@2");
    assert!(latest.paces.iter().all(|p| light(p) == v1::AlertLight::Red));

    // Activating city@2 changes the lights read without a revision; an older revision can
    // still be asked for.
    let active = client
        .activate_light_rule_set(v1::ActivateLightRuleSetRequest {
            name: "lightRuleSets/city@2".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(active.active);
    let now = pace(&mut client, "2026-08", "").await;
    assert_eq!(now.light_rule_set, "lightRuleSets/city@2");
    assert!(now.paces.iter().all(|p| light(p) == v1::AlertLight::Red));
    let before = pace(&mut client, "2026-08", "lightRuleSets/default@1").await;
    assert_eq!(before.paces[1].reason, yx.reason);
    // A bulletin records the revision that was active.
    let bulletin = v1::report_service_client::ReportServiceClient::new(
        server.authed(&server.admin_token).await,
    )
    .publish_bulletin(v1::PublishBulletinRequest {
        title: "第9期 项目建设进度通报".into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner();
    assert_eq!(bulletin.light_rule_set, "lightRuleSets/city@2");

    let listed = client
        .list_light_rule_sets(v1::ListLightRuleSetsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let names: Vec<_> = listed
        .light_rule_sets
        .iter()
        .map(|r| (r.name.as_str(), r.active))
        .collect();
    assert_eq!(
        names,
        [
            ("lightRuleSets/city@1", false),
            ("lightRuleSets/city@2", true),
            ("lightRuleSets/default@1", false),
        ]
    );
}

async fn escalation_and_recovery_follow_the_published_shapes(server: TestServer) {
    // One project, 12,000,000 yuan over the default pace: 1,000,000 a month.
    project(&server, "p", "县水利局", 0).await;
    let mut client = investment(&server).await;
    set_plan(&mut client, "p", 2026, 12 * MILLION, Vec::new())
        .await
        .unwrap();
    // Months 1-4 on pace, 5 and 6 at 0 (cumulative 4/5 = 80 % then 4/6 = 67 % of pace), 7
    // makes up everything (7/7 = 100 %).
    for (month, amount) in [
        (1, MILLION),
        (2, MILLION),
        (3, MILLION),
        (4, MILLION),
        (5, 0),
        (6, 0),
        (7, 3 * MILLION),
    ] {
        report(&mut client, "p", &format!("2026-{month:02}"), amount)
            .await
            .unwrap();
    }
    // Rule (b) with escalation after 2 months and recovery through yellow.
    let mut set = rules(v1::PaceMeasure::Ratio, 90, 60);
    set.escalate_after_months = 2;
    set.recovery_policy = v1::RecoveryPolicy::ThroughYellow as i32;
    publish(&mut client, "strict", set).await.unwrap();
    let at = |month: &'static str| {
        let mut client = client.clone();
        async move {
            pace(&mut client, month, "lightRuleSets/strict@1")
                .await
                .paces[0]
                .clone()
        }
    };
    // May: 80 % of pace, YELLOW (below 90, not below 60).
    let may = at("2026-05").await;
    assert_eq!(light(&may), v1::AlertLight::Yellow);
    // June: 67 %, YELLOW again: the second yellow month in a row is RED.
    let june = at("2026-06").await;
    assert_eq!(
        (
            light(&june),
            v1::AlertLight::try_from(june.raw_light).unwrap()
        ),
        (v1::AlertLight::Red, v1::AlertLight::Yellow)
    );
    assert_eq!(june.rule, v1::PaceRule::Escalation as i32);
    // July: back on pace after a RED month: YELLOW, not GREEN.
    let july = at("2026-07").await;
    assert_eq!(light(&july), v1::AlertLight::Yellow);
    assert_eq!(july.rule, v1::PaceRule::RecoveryThroughYellow as i32);
    // The same month under the default points rule: 0 points behind, GREEN.
    let default = pace(&mut client, "2026-07", "").await.paces[0].clone();
    assert_eq!(light(&default), v1::AlertLight::Green);
}

async fn corrections_are_revisions_that_move_the_completed_investment(server: TestServer) {
    project(&server, "p", "县水利局", 10 * MILLION).await;
    let mut client = investment(&server).await;
    let first = report(&mut client, "p", "2026-08", 3 * MILLION)
        .await
        .unwrap();
    assert_eq!(first.name, "projects/p/investmentReports/2026-08");
    assert_eq!(first.reporter, "test-admin");
    let mut projects = server.projects().await;
    let get = |mut projects: v1::project_service_client::ProjectServiceClient<Authed>| async move {
        projects
            .get_project(v1::GetProjectRequest {
                name: "projects/p".into(),
            })
            .await
            .unwrap()
            .into_inner()
    };
    let p = get(projects.clone()).await;
    // 10,000,000 carried over from before the reports, plus the report.
    assert_eq!(
        (p.completed_investment_yuan, p.reported_investment_yuan),
        (13 * MILLION, 3 * MILLION)
    );

    // A correction needs a reason, and a stale etag is refused; neither writes anything.
    let no_reason = client
        .correct_investment_report(v1::CorrectInvestmentReportRequest {
            name: first.name.clone(),
            amount_yuan: 2 * MILLION,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(no_reason.code(), Code::InvalidArgument);
    assert!(bad_fields(&no_reason).contains("reason"));
    let stale = client
        .correct_investment_report(v1::CorrectInvestmentReportRequest {
            name: first.name.clone(),
            amount_yuan: 2 * MILLION,
            reason: "统计口径调整".into(),
            etag: "\"99\"".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);

    let corrected = client
        .correct_investment_report(v1::CorrectInvestmentReportRequest {
            name: first.name.clone(),
            amount_yuan: 2 * MILLION,
            physical_progress: "主体封顶".into(),
            reason: "统计口径调整".into(),
            etag: first.etag.clone(),
            request_id: "fix-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(corrected.amount_yuan, 2 * MILLION);
    assert_eq!(corrected.revisions.len(), 1);
    let r = &corrected.revisions[0];
    assert_eq!(
        (
            r.number,
            r.old_amount_yuan,
            r.new_amount_yuan,
            r.reason.as_str()
        ),
        (1, 3 * MILLION, 2 * MILLION, "统计口径调整")
    );
    assert_eq!(r.old_physical_progress, "主体施工");
    // A retry with the same request id is answered from the first call and moves nothing.
    let retried = client
        .correct_investment_report(v1::CorrectInvestmentReportRequest {
            name: first.name.clone(),
            amount_yuan: 2 * MILLION,
            physical_progress: "主体封顶".into(),
            reason: "统计口径调整".into(),
            etag: first.etag.clone(),
            request_id: "fix-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retried, corrected);
    let p = get(projects.clone()).await;
    assert_eq!(
        (p.completed_investment_yuan, p.reported_investment_yuan),
        (12 * MILLION, 2 * MILLION)
    );

    // Setting the completed investment sets the carried-over part; below the reports it is
    // refused.
    let below = projects
        .update_project(v1::UpdateProjectRequest {
            project: Some(v1::Project {
                name: "projects/p".into(),
                completed_investment_yuan: MILLION,
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["completed_investment_yuan".into()],
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(below.code(), Code::InvalidArgument);
    assert!(bad_fields(&below).contains("project.completed_investment_yuan"));
    projects
        .update_project(v1::UpdateProjectRequest {
            project: Some(v1::Project {
                name: "projects/p".into(),
                completed_investment_yuan: 20 * MILLION,
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["completed_investment_yuan".into()],
            }),
        })
        .await
        .unwrap();
    report(&mut client, "p", "2026-09", MILLION).await.unwrap();
    let p = get(projects.clone()).await;
    assert_eq!(
        (p.completed_investment_yuan, p.reported_investment_yuan),
        (21 * MILLION, 3 * MILLION)
    );

    // The events: each report and correction, with the project's change beside it.
    let events = pipeline::events::log::read(&server.store, 0, 1000)
        .await
        .unwrap();
    let kinds: Vec<i32> = events.iter().map(|e| e.kind).collect();
    let count = |k: v1::EventKind| kinds.iter().filter(|&&x| x == k as i32).count();
    assert_eq!(count(v1::EventKind::InvestmentReportCreated), 2);
    assert_eq!(count(v1::EventKind::InvestmentReportCorrected), 1);

    // Listing: newest month first.
    let listed = client
        .list_investment_reports(v1::ListInvestmentReportsRequest {
            parent: "projects/-".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let months: Vec<_> = listed
        .investment_reports
        .iter()
        .map(|r| r.month.as_str())
        .collect();
    assert_eq!(months, ["2026-09", "2026-08"]);
    let mut paged = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_investment_reports(v1::ListInvestmentReportsRequest {
                parent: "projects/p".into(),
                page_size: 1,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        paged.extend(page.investment_reports.into_iter().map(|r| r.month));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(paged, ["2026-09", "2026-08"]);
    let _ = &mut projects;
}

async fn bad_input_names_every_field_and_writes_nothing(server: TestServer) {
    project(&server, "p", "县水利局", 0).await;
    let mut client = investment(&server).await;
    let events_before = pipeline::events::log::read(&server.store, 0, 1000)
        .await
        .unwrap()
        .len();

    // A future month (today is 15 September 2026), a negative amount, and too long a text.
    let err = client
        .create_investment_report(v1::CreateInvestmentReportRequest {
            parent: "projects/p".into(),
            investment_report_id: "2026-10".into(),
            investment_report: Some(v1::InvestmentReport {
                amount_yuan: -1,
                physical_progress: "进".repeat(201),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    let expected: std::collections::BTreeSet<String> = [
        "investment_report.amount_yuan",
        "investment_report.physical_progress",
    ]
    .map(String::from)
    .into();
    assert_eq!(bad_fields(&err), expected);
    let future = report(&mut client, "p", "2026-10", 1).await.unwrap_err();
    assert_eq!(
        (future.code(), bad_fields(&future)),
        (
            Code::InvalidArgument,
            ["investment_report_id".to_string()].into()
        )
    );
    let malformed = report(&mut client, "p", "2026-9", 1).await.unwrap_err();
    assert!(bad_fields(&malformed).contains("investment_report_id"));

    // An amount that would take the completed investment past ten trillion yuan.
    report(&mut client, "p", "2026-07", 9_999_999_999_999)
        .await
        .unwrap();
    let overflow = report(&mut client, "p", "2026-08", 2).await.unwrap_err();
    assert_eq!(overflow.code(), Code::InvalidArgument);
    assert!(bad_fields(&overflow).contains("investment_report.amount_yuan"));

    // A duplicate month.
    let duplicate = report(&mut client, "p", "2026-07", 1).await.unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists, "{duplicate:?}");

    // A monthly plan that does not sum to the total, with a negative month.
    let mut monthly = vec![MILLION; 12];
    monthly[3] = -5;
    let plan = set_plan(&mut client, "p", 2026, 12 * MILLION, monthly)
        .await
        .unwrap_err();
    assert_eq!(plan.code(), Code::InvalidArgument);
    let expected: std::collections::BTreeSet<String> = [
        "investment_plan.monthly_yuan",
        "investment_plan.monthly_yuan[3]",
    ]
    .map(String::from)
    .into();
    assert_eq!(bad_fields(&plan), expected);
    let short = set_plan(&mut client, "p", 2026, 12 * MILLION, vec![MILLION; 11])
        .await
        .unwrap_err();
    assert!(bad_fields(&short).contains("investment_plan.monthly_yuan"));
    let bad_year = set_plan(&mut client, "p", 26, 0, Vec::new())
        .await
        .unwrap_err();
    assert!(bad_fields(&bad_year).contains("investment_plan.name"));

    // A rule set with an unknown measure, thresholds out of order and a bad due day.
    let mut set = rules(v1::PaceMeasure::Points, 40, 20);
    set.pace_measure = 7;
    set.report_due_day = 31;
    set.escalate_after_months = 1;
    let err = publish(&mut client, "bad", set).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let fields = bad_fields(&err);
    for f in [
        "light_rule_set.pace_measure",
        "light_rule_set.report_due_day",
        "light_rule_set.escalate_after_months",
    ] {
        assert!(fields.contains(f), "{f} in {fields:?}");
    }
    let mut points = rules(v1::PaceMeasure::Points, 40, 20);
    points.recovery_policy = 0;
    let err = publish(&mut client, "bad", points).await.unwrap_err();
    let fields = bad_fields(&err);
    assert!(
        fields.contains("light_rule_set.pace_red_percent"),
        "{fields:?}"
    );
    assert!(
        fields.contains("light_rule_set.recovery_policy"),
        "{fields:?}"
    );

    // Publishing and activating are ADMIN's; an editor reports only in scope.
    let editor = server
        .token("editor", Role::Editor, &["县交通运输局"], &[])
        .await;
    let mut as_editor = investment_as(&server, &editor).await;
    let denied = publish(
        &mut as_editor,
        "mine",
        rules(v1::PaceMeasure::Points, 10, 30),
    )
    .await
    .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = as_editor
        .activate_light_rule_set(v1::ActivateLightRuleSetRequest {
            name: "lightRuleSets/default@1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let out_of_scope = report(&mut as_editor, "p", "2026-06", 1).await.unwrap_err();
    assert_eq!(out_of_scope.code(), Code::PermissionDenied);
    let missing = client
        .get_light_rule_set(v1::GetLightRuleSetRequest {
            name: "lightRuleSets/city@1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let missing = client
        .list_investment_pace(v1::ListInvestmentPaceRequest {
            month: "2026-08".into(),
            light_rule_set: "lightRuleSets/city@1".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let bad_month = client
        .list_investment_pace(v1::ListInvestmentPaceRequest {
            month: "August".into(),
            page_size: -1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    let expected: std::collections::BTreeSet<String> =
        ["month", "page_size"].map(String::from).into();
    assert_eq!(bad_fields(&bad_month), expected);

    // Nothing but the one good report was written.
    let events_after = pipeline::events::log::read(&server.store, 0, 1000)
        .await
        .unwrap()
        .len();
    // The good report: INVESTMENT_REPORT_CREATED and PROJECT_UPDATED.
    assert_eq!(events_after, events_before + 2);
    let listed = client
        .list_investment_reports(v1::ListInvestmentReportsRequest {
            parent: "projects/p".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.investment_reports.len(), 1);
    assert_eq!(reason_of(&duplicate), "RESOURCE_ALREADY_EXISTS");
}

async fn a_new_plan_year_starts_afresh_in_january(mut server: TestServer) {
    project(&server, "p", "县水利局", 0).await;
    let mut client = investment(&server).await;
    set_plan(&mut client, "p", 2026, 12 * MILLION, Vec::new())
        .await
        .unwrap();
    report(&mut client, "p", "2026-02", 2 * MILLION)
        .await
        .unwrap();
    // February's pace is 2/12 of the plan: 2,000,000, exactly met.
    let feb = pace(&mut client, "2026-02", "").await.paces[0].clone();
    assert_eq!(
        (feb.pace_yuan, feb.completed_yuan),
        (2 * MILLION, 2 * MILLION)
    );
    assert_eq!(light(&feb), v1::AlertLight::Green);

    server.restart(day(2027, 1, 10)).await;
    let mut client = investment(&server).await;
    // December's report arrives on 10 January; January 2027 may be reported already.
    let december = report(&mut client, "p", "2026-12", MILLION).await.unwrap();
    assert_eq!(
        v1::ReportTimeliness::try_from(december.timeliness),
        Ok(v1::ReportTimeliness::Late)
    );
    set_plan(&mut client, "p", 2027, 24 * MILLION, Vec::new())
        .await
        .unwrap();
    report(&mut client, "p", "2027-01", MILLION).await.unwrap();
    // January 2027 counts only 2027's reports against 1/12 of 2027's plan: 1,000,000 of
    // 2,000,000 is 4.17 points behind, GREEN under the default rules.
    let jan = pace(&mut client, "2027-01", "").await;
    let jan = &jan.paces[0];
    assert_eq!((jan.pace_yuan, jan.completed_yuan), (2 * MILLION, MILLION));
    assert_eq!(light(jan), v1::AlertLight::Green);
    assert_eq!(
        v1::ReportTimeliness::try_from(jan.report_timeliness),
        Ok(v1::ReportTimeliness::OnTime)
    );
    // The 2026 plan year through December: 3,000,000 of 12,000,000.
    let dec = pace(&mut client, "2026-12", "").await.paces[0].clone();
    assert_eq!(
        (dec.pace_yuan, dec.completed_yuan),
        (12 * MILLION, 3 * MILLION)
    );
    assert_eq!(light(&dec), v1::AlertLight::Red);

    // Deleting the project needs force now that it has plans and reports.
    let mut projects = server.projects().await;
    let refused = projects
        .delete_project(v1::DeleteProjectRequest {
            name: "projects/p".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    projects
        .delete_project(v1::DeleteProjectRequest {
            name: "projects/p".into(),
            force: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(pace(&mut client, "2027-01", "").await.paces.is_empty());
}

async fn justification(
    client: &mut InvestmentServiceClient<Authed>,
    project: &str,
    id: &str,
    scope: v1::JustificationScope,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<v1::Justification, tonic::Status> {
    let date = |d: NaiveDate| {
        use chrono::Datelike;
        Some(v1::Date {
            year: d.year(),
            month: d.month() as i32,
            day: d.day() as i32,
        })
    };
    client
        .create_justification(v1::CreateJustificationRequest {
            parent: format!("projects/{project}"),
            justification_id: id.into(),
            justification: Some(v1::Justification {
                scope: scope as i32,
                reason: v1::JustificationReason::ForceMajeure as i32,
                evidence_note: "7月特大洪水冲毁施工便道，县应急局灾情报告".into(),
                valid_from: date(from),
                valid_to: date(to),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .map(|r| r.into_inner())
}

/// Events of `kind` in the log.
async fn events_of(server: &TestServer, kind: v1::EventKind) -> Vec<v1::Event> {
    use prost::Message;
    pipeline::events::log::read(&server.store, 0, 100_000)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.kind == kind as i32)
        .map(|e| v1::Event::decode(e.payload.clone()).unwrap())
        .collect()
}

async fn a_justification_exempts_the_pace_while_valid(mut server: TestServer) {
    // 12,000,000 over the default pace, 1,000,000 a month reported to April and nothing
    // after: 8.33 points behind in May (GREEN), 16.67 in June and 25 in July (YELLOW).
    project(&server, "p", "县水利局", 0).await;
    let mut client = investment(&server).await;
    set_plan(&mut client, "p", 2026, 12 * MILLION, Vec::new())
        .await
        .unwrap();
    for month in 1..=4 {
        report(&mut client, "p", &format!("2026-{month:02}"), MILLION)
            .await
            .unwrap();
    }
    for month in 5..=8 {
        report(&mut client, "p", &format!("2026-{month:02}"), 0)
            .await
            .unwrap();
    }
    // Escalation after two months: June (YELLOW) would follow May (GREEN): YELLOW; July
    // (YELLOW after YELLOW) would be RED.
    let mut set = rules(v1::PaceMeasure::Points, 10, 30);
    set.escalate_after_months = 2;
    publish(&mut client, "strict", set).await.unwrap();
    let july = pace(&mut client, "2026-07", "lightRuleSets/strict@1")
        .await
        .paces[0]
        .clone();
    assert_eq!(light(&july), v1::AlertLight::Red);
    assert!(!july.exempt);

    // A flood from 20 June to 31 July: the ends of June and July are exempt.
    let granted = justification(
        &mut client,
        "p",
        "flood",
        v1::JustificationScope::InvestmentPace,
        day(2026, 6, 20),
        day(2026, 7, 31),
    )
    .await
    .unwrap();
    assert_eq!(granted.name, "projects/p/justifications/flood");
    assert_eq!(granted.approver, "test-admin");
    assert_eq!(granted.state, v1::JustificationState::Expired as i32);
    let july = pace(&mut client, "2026-07", "lightRuleSets/strict@1")
        .await
        .paces[0]
        .clone();
    // Exempt: the light by the thresholds is still shown, and the exempt June does not make
    // July's YELLOW a second month in a row.
    assert!(july.exempt);
    assert_eq!(july.justification, granted.name);
    assert_eq!(light(&july), v1::AlertLight::Yellow);
    assert!(
        july.reason.ends_with("; exempt (正当理由)"),
        "{}",
        july.reason
    );
    // August is outside the window: 4 of 8 million is 33.33 points behind, RED by the
    // threshold itself.
    let august = pace(&mut client, "2026-08", "lightRuleSets/strict@1")
        .await
        .paces[0]
        .clone();
    assert!(!august.exempt);
    assert_eq!(light(&august), v1::AlertLight::Red);
    assert_eq!(august.rule, v1::PaceRule::PacePoints as i32);

    // The scanner (at the next start) says once that it expired.
    server.restart(common::today()).await;
    server.restart(common::today()).await;
    let expired = events_of(&server, v1::EventKind::JustificationExpired).await;
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].resource, granted.name);

    // Revoked, it exempts nothing.
    let mut client = investment(&server).await;
    let revoked = client
        .revoke_justification(v1::RevokeJustificationRequest {
            name: granted.name.clone(),
            reason: "灾情核查不实".into(),
            etag: granted.etag.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(revoked.state, v1::JustificationState::Revoked as i32);
    let july = pace(&mut client, "2026-07", "lightRuleSets/strict@1")
        .await
        .paces[0]
        .clone();
    assert!(!july.exempt);
    assert_eq!(light(&july), v1::AlertLight::Red);
    let again = client
        .revoke_justification(v1::RevokeJustificationRequest {
            name: granted.name.clone(),
            reason: "再次".into(),
            etag: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);

    // Bad input: a window that ends before it starts, a milestone for the wrong scope, and a
    // non-ADMIN approver.
    let err = client
        .create_justification(v1::CreateJustificationRequest {
            parent: "projects/p".into(),
            justification_id: "court".into(),
            justification: Some(v1::Justification {
                scope: v1::JustificationScope::Project as i32,
                milestone: "projects/p/milestones/start".into(),
                reason: v1::JustificationReason::Judicial as i32,
                evidence_note: "（2026）川0922民初123号".into(),
                valid_from: Some(v1::Date {
                    year: 2026,
                    month: 9,
                    day: 1,
                }),
                valid_to: Some(v1::Date {
                    year: 2026,
                    month: 8,
                    day: 1,
                }),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let expected: std::collections::BTreeSet<String> =
        ["justification.valid_to", "justification.milestone"]
            .map(String::from)
            .into();
    assert_eq!(bad_fields(&err), expected);
    let editor = server
        .token("editor", Role::Editor, &["县水利局"], &[])
        .await;
    let denied = justification(
        &mut investment_as(&server, &editor).await,
        "p",
        "mine",
        v1::JustificationScope::Project,
        day(2026, 9, 1),
        day(2026, 9, 30),
    )
    .await
    .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let listed = client
        .list_justifications(v1::ListJustificationsRequest {
            parent: "projects/-".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.justifications.len(), 1);
}

/// `replicas` servers of the same database scan at once, as of today; the events they emitted.
async fn scan_as_replicas(server: &TestServer, replicas: usize) -> usize {
    let mut tasks = Vec::new();
    for _ in 0..replicas {
        let url = server.url.clone();
        tasks.push(tokio::spawn(async move {
            let services = pipeline::api::Services {
                store: pipeline::store::Store::connect(&url).await.unwrap(),
                clock: pipeline::domain::clock::Clock::new(
                    chrono_tz::Asia::Shanghai,
                    Some(common::today()),
                ),
                policy: pipeline::domain::milestone::Policy::default(),
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
    emitted
}

async fn a_missing_report_is_alerted_once_across_restarts_and_replicas(mut server: TestServer) {
    // Two projects over the default pace of 12,000,000 a year; `gap` reports nothing for July
    // and August, `ok` reports every month. Today is 15 September: August was due on the 5th.
    for p in ["gap", "ok"] {
        project(&server, p, "县水利局", 0).await;
    }
    let mut client = investment(&server).await;
    for p in ["gap", "ok"] {
        set_plan(&mut client, p, 2026, 12 * MILLION, Vec::new())
            .await
            .unwrap();
    }
    for month in 1..=8 {
        report(&mut client, "ok", &format!("2026-{month:02}"), MILLION)
            .await
            .unwrap();
        if month <= 6 {
            report(&mut client, "gap", &format!("2026-{month:02}"), MILLION)
                .await
                .unwrap();
        }
    }
    // Three replicas scan at once, then the server restarts twice.
    let emitted = scan_as_replicas(&server, 3).await;
    server.restart(common::today()).await;
    server.restart(common::today()).await;
    let missing = events_of(&server, v1::EventKind::InvestmentReportMissing).await;
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert_eq!(missing[0].project, "projects/gap");
    let Some(v1::event::Detail::InvestmentAlert(alert)) = &missing[0].detail else {
        panic!("{missing:?}")
    };
    assert_eq!(alert.month, "2026-08");
    assert_eq!(
        alert.due_date,
        Some(v1::Date {
            year: 2026,
            month: 9,
            day: 5
        })
    );
    // `gap`: July 6/7 of pace, 8.33 points behind, GREEN; August 6 of 8 million, 16.67 points
    // behind, YELLOW: a change, said once. `ok` stays GREEN.
    let changed = events_of(&server, v1::EventKind::InvestmentPaceChanged).await;
    assert_eq!(changed.len(), 1, "{changed:?}");
    let Some(v1::event::Detail::InvestmentAlert(alert)) = &changed[0].detail else {
        panic!("{changed:?}")
    };
    assert_eq!(
        (alert.light, alert.previous_light),
        (v1::AlertLight::Yellow as i32, v1::AlertLight::Green as i32)
    );
    assert_eq!(changed[0].project, "projects/gap");
    assert_eq!(emitted, 2);
}

async fn milestone_lights_follow_the_active_rule_set(server: TestServer) {
    project(&server, "p", "县水利局", 0).await;
    let mut milestones = server.milestones().await;
    let date = |m: i32, d: i32| {
        Some(v1::Date {
            year: 2026,
            month: m,
            day: d,
        })
    };
    // Due on 1 October, forecast ten days later: 10 days late as of 15 September.
    milestones
        .create_milestone(v1::CreateMilestoneRequest {
            parent: "projects/p".into(),
            milestone_id: "start".into(),
            milestone: Some(v1::Milestone {
                kind: v1::MilestoneKind::ConstructionStart as i32,
                baseline_date: date(10, 1),
                forecast_date: date(10, 11),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let get = |mut c: v1::milestone_service_client::MilestoneServiceClient<Authed>| async move {
        c.get_milestone(v1::GetMilestoneRequest {
            name: "projects/p/milestones/start".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
    };
    let m = get(milestones.clone()).await;
    assert_eq!(m.light, v1::AlertLight::Yellow as i32);
    assert_eq!(m.light_rule_set, "lightRuleSets/default@1");
    assert_eq!(
        m.light_reason,
        "projected 10 days late (滞后10天), within the 30-day tolerance: YELLOW by rule milestone-tolerance default@1"
    );
    // The event carries the milestone as the answer does, rule set and reason included.
    let scheduled = events_of(&server, v1::EventKind::MilestoneScheduled).await;
    let Some(v1::event::Detail::MilestoneChange(change)) = &scheduled[0].detail else {
        panic!("{scheduled:?}")
    };
    let after = change.milestone_after.as_ref().unwrap();
    assert_eq!(
        (&after.light_rule_set, &after.light_reason),
        (&m.light_rule_set, &m.light_reason)
    );

    // A stricter county: RED above 5 days. Published, nothing changes; activated, the light,
    // the filter and the reason follow it.
    let mut client = investment(&server).await;
    let mut set = rules(v1::PaceMeasure::Points, 10, 30);
    set.milestone_tolerance_days = 5;
    publish(&mut client, "strict", set).await.unwrap();
    assert_eq!(
        get(milestones.clone()).await.light,
        v1::AlertLight::Yellow as i32
    );
    client
        .activate_light_rule_set(v1::ActivateLightRuleSetRequest {
            name: "lightRuleSets/strict".into(),
        })
        .await
        .unwrap();
    let m = get(milestones.clone()).await;
    assert_eq!(m.light, v1::AlertLight::Red as i32);
    assert_eq!(
        m.light_reason,
        "projected 10 days late (滞后10天), above the 5-day tolerance: RED by rule milestone-tolerance strict@1"
    );
    let red = milestones
        .list_milestones(v1::ListMilestonesRequest {
            parent: "projects/-".into(),
            filter: "light = RED".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(red.milestones.len(), 1);
    assert_eq!(red.milestones[0].light_rule_set, "lightRuleSets/strict@1");

    // Before any justification the department's milestone counts: 10 days of slip.
    let slip = |rankings: v1::ListRankingsResponse| {
        let row = rankings
            .rows
            .iter()
            .find(|r| r.unit == "县水利局")
            .unwrap_or_else(|| panic!("{rankings:?}"));
        let slip = row
            .indicators
            .iter()
            .find(|i| i.indicator == "average_days_slipped")
            .unwrap();
        (slip.measured, slip.value)
    };
    let rankings = || async {
        v1::report_service_client::ReportServiceClient::new(
            server.authed(&server.admin_token).await,
        )
        .list_rankings(v1::ListRankingsRequest {
            dimension: v1::RankingDimension::Department as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
    };
    assert_eq!(slip(rankings().await), (true, 10.0));

    // A justification covering the milestone: still RED, but exempt, and left out of the
    // rankings.
    justification(
        &mut client,
        "p",
        "court",
        v1::JustificationScope::Project,
        day(2026, 9, 1),
        day(2026, 12, 31),
    )
    .await
    .unwrap();
    let m = get(milestones.clone()).await;
    assert!(m.exempt);
    assert_eq!(m.justification, "projects/p/justifications/court");
    assert_eq!(m.light, v1::AlertLight::Red as i32);
    assert_eq!(slip(rankings().await), (false, 0.0));

    // The threshold flags at start: the same value changes nothing; another is published as
    // the active set's next revision and activated.
    let clock =
        pipeline::domain::clock::Clock::new(chrono_tz::Asia::Shanghai, Some(common::today()));
    use pipeline::service::investment::{RuleFlags, apply_rule_flags};
    let same = apply_rule_flags(
        &server.store,
        &clock,
        RuleFlags {
            tolerance_days: Some(5),
            ..RuleFlags::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(same, None);
    let applied = apply_rule_flags(
        &server.store,
        &clock,
        RuleFlags {
            tolerance_days: Some(15),
            warning_horizon_days: Some(20),
            ..RuleFlags::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(applied.as_deref(), Some("lightRuleSets/strict@2"));
    let m = get(milestones.clone()).await;
    assert_eq!(m.light, v1::AlertLight::Yellow as i32);
    assert_eq!(m.light_rule_set, "lightRuleSets/strict@2");
}

/// A construction start milestone achieved on `start` (baseline the same day).
async fn started(server: &TestServer, project: &str, start: NaiveDate) {
    let mut milestones = server.milestones().await;
    let date = Some(pipeline::proto::date(start));
    milestones
        .create_milestone(v1::CreateMilestoneRequest {
            parent: format!("projects/{project}"),
            milestone_id: "start".into(),
            milestone: Some(v1::Milestone {
                kind: v1::MilestoneKind::ConstructionStart as i32,
                baseline_date: date,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("milestone of {project}: {s:?}"));
    milestones
        .achieve_milestone(v1::AchieveMilestoneRequest {
            name: format!("projects/{project}/milestones/start"),
            actual_date: date,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("start of {project}: {s:?}"));
}

async fn enrol(
    server: &TestServer,
    project: &str,
    date: Option<v1::Date>,
) -> Result<v1::Project, tonic::Status> {
    server
        .projects()
        .await
        .update_project(v1::UpdateProjectRequest {
            project: Some(v1::Project {
                name: format!("projects/{project}"),
                statistics_enrolment_date: date,
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["statistics_enrolment_date".into()],
            }),
        })
        .await
        .map(|r| r.into_inner())
}

fn enrolment_of(
    page: &v1::ListInvestmentPaceResponse,
    project: &str,
) -> Option<v1::StatisticsEnrolment> {
    page.paces
        .iter()
        .find(|p| p.project == format!("projects/{project}"))
        .unwrap_or_else(|| panic!("{project} not in {page:?}"))
        .enrolment
        .clone()
}

async fn enrolment_lights_and_alerts_follow_the_rule_set(mut server: TestServer) {
    // `late` started 10 July and is not enrolled; `early` started 20 August; `done` started
    // 1 March and was enrolled 1 April; `none` has not started. Today is 15 September.
    for p in ["late", "early", "done", "none"] {
        project(&server, p, "县水利局", 0).await;
        set_plan(
            &mut investment(&server).await,
            p,
            2026,
            12 * MILLION,
            Vec::new(),
        )
        .await
        .unwrap();
    }
    started(&server, "late", day(2026, 7, 10)).await;
    started(&server, "early", day(2026, 8, 20)).await;
    started(&server, "done", day(2026, 3, 1)).await;
    let enrolled = enrol(
        &server,
        "done",
        Some(pipeline::proto::date(day(2026, 4, 1))),
    )
    .await
    .unwrap();
    assert_eq!(
        enrolled.statistics_enrolment_date,
        Some(pipeline::proto::date(day(2026, 4, 1)))
    );

    // Bad dates: after today, and no such day; nothing written.
    let err = enrol(
        &server,
        "late",
        Some(pipeline::proto::date(day(2026, 9, 16))),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        bad_fields(&err),
        ["project.statistics_enrolment_date".to_string()].into()
    );
    let err = enrol(
        &server,
        "late",
        Some(v1::Date {
            year: 2026,
            month: 2,
            day: 30,
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    // August, judged as of 31 August: `late` is one whole month past its start, YELLOW;
    // `early` is 11 days past, GREEN; `done` is enrolled; `none` has no enrolment entry.
    let mut client = investment(&server).await;
    let august = pace(&mut client, "2026-08", "").await;
    let late = enrolment_of(&august, "late").unwrap();
    assert_eq!(late.light, v1::AlertLight::Yellow as i32);
    assert_eq!(late.months, 1);
    assert_eq!(
        late.reason,
        "开工 2026-07-10, not 入库纳统 after 1 month: YELLOW by rule enrolment-lag default@1"
    );
    assert_eq!(late.light_rule_set, "lightRuleSets/default@1");
    let early = enrolment_of(&august, "early").unwrap();
    assert_eq!(
        (early.light, early.months),
        (v1::AlertLight::Green as i32, 0)
    );
    let done = enrolment_of(&august, "done").unwrap();
    assert_eq!((done.light, done.months), (v1::AlertLight::Green as i32, 1));
    assert_eq!(
        done.statistics_enrolment_date,
        Some(pipeline::proto::date(day(2026, 4, 1)))
    );
    assert_eq!(enrolment_of(&august, "none"), None);
    // July, as of 31 July: `early` had not started.
    let july = pace(&mut client, "2026-07", "").await;
    assert_eq!(enrolment_of(&july, "early"), None);
    assert_eq!(
        enrolment_of(&july, "late").unwrap().light,
        v1::AlertLight::Green as i32
    );

    // September, as of today (15 September): `late` is two months past, RED; under a city
    // rule set with YELLOW from 2 months and RED from 3, YELLOW.
    let september = pace(&mut client, "2026-09", "").await;
    let late = enrolment_of(&september, "late").unwrap();
    assert_eq!((late.light, late.months), (v1::AlertLight::Red as i32, 2));
    let mut city = rules(v1::PaceMeasure::Points, 10, 30);
    city.enrolment_yellow_after_months = 2;
    city.enrolment_red_after_months = 3;
    publish(&mut client, "city", city).await.unwrap();
    let under_city = pace(&mut client, "2026-09", "lightRuleSets/city@1").await;
    let late = enrolment_of(&under_city, "late").unwrap();
    assert_eq!(late.light, v1::AlertLight::Yellow as i32);
    assert_eq!(
        late.reason,
        "开工 2026-07-10, not 入库纳统 after 2 months: YELLOW by rule enrolment-lag city@1"
    );

    // The scanner, under the active rule set: `late` is RED when first seen, alerted once
    // (no YELLOW after the fact), across replicas and restarts.
    scan_as_replicas(&server, 2).await;
    server.restart(common::today()).await;
    let lagging = |events: Vec<v1::Event>| {
        events
            .into_iter()
            .map(|e| {
                let Some(v1::event::Detail::InvestmentAlert(alert)) = e.detail else {
                    panic!("{e:?}")
                };
                let enrolment = alert.enrolment.unwrap();
                assert_eq!(alert.light, enrolment.light);
                (e.project, enrolment.light, enrolment.months)
            })
            .collect::<Vec<_>>()
    };
    let red = v1::AlertLight::Red as i32;
    let yellow = v1::AlertLight::Yellow as i32;
    assert_eq!(
        lagging(events_of(&server, v1::EventKind::StatisticsEnrolmentLagging).await),
        vec![("projects/late".to_string(), red, 2)]
    );
    // 20 September: `early` is one month past its start, YELLOW; 20 October, RED. Each once.
    server.restart(day(2026, 9, 20)).await;
    server.restart(day(2026, 9, 20)).await;
    server.restart(day(2026, 10, 20)).await;
    assert_eq!(
        lagging(events_of(&server, v1::EventKind::StatisticsEnrolmentLagging).await),
        vec![
            ("projects/late".to_string(), red, 2),
            ("projects/early".to_string(), yellow, 1),
            ("projects/early".to_string(), red, 2),
        ]
    );
    // Enrolled (on a day up to today), a project is GREEN and alerted no more; clearing the
    // date brings the lag back.
    let enrolled = enrol(
        &server,
        "late",
        Some(pipeline::proto::date(day(2026, 10, 8))),
    )
    .await
    .unwrap();
    assert_eq!(
        enrolled.statistics_enrolment_date,
        Some(pipeline::proto::date(day(2026, 10, 8)))
    );
    let october = pace(&mut investment(&server).await, "2026-10", "").await;
    let late = enrolment_of(&october, "late").unwrap();
    assert_eq!((late.light, late.months), (v1::AlertLight::Green as i32, 2));
    let cleared = enrol(&server, "late", None).await.unwrap();
    assert_eq!(cleared.statistics_enrolment_date, None);
    let october = pace(&mut investment(&server).await, "2026-10", "").await;
    assert_eq!(
        enrolment_of(&october, "late").unwrap().light,
        v1::AlertLight::Red as i32
    );
    server.restart(day(2026, 10, 20)).await;
    assert_eq!(
        events_of(&server, v1::EventKind::StatisticsEnrolmentLagging)
            .await
            .len(),
        3
    );
}

both_backends!(
    the_worked_example_under_three_rule_sets,
    escalation_and_recovery_follow_the_published_shapes,
    corrections_are_revisions_that_move_the_completed_investment,
    bad_input_names_every_field_and_writes_nothing,
    a_new_plan_year_starts_afresh_in_january,
    a_justification_exempts_the_pace_while_valid,
    a_missing_report_is_alerted_once_across_restarts_and_replicas,
    milestone_lights_follow_the_active_rule_set,
    enrolment_lights_and_alerts_follow_the_rule_set,
);
