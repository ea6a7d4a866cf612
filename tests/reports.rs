//! ReportService on SQLite and PostgreSQL against a small fixture whose every figure is worked
//! out by hand below: the pipeline summary, rankings by department and township (with a unit
//! without projects and a tie), the funding summary, and a bulletin that does not change after
//! the data does.

mod common;

use pipeline::proto::v1;
use prost_types::FieldMask;
use tonic::Code;

use common::{Authed, TestServer, bad_fields};
use v1::milestone_service_client::MilestoneServiceClient;
use v1::report_service_client::ReportServiceClient;

fn date(m: i32, d: i32) -> Option<v1::Date> {
    Some(v1::Date {
        year: 2026,
        month: m,
        day: d,
    })
}

struct P {
    id: &'static str,
    department: &'static str,
    township: &'static str,
    leader: &'static str,
    category: v1::ProjectCategory,
    stage: v1::ProjectStage,
    total: i64,
    planned: i64,
    completed: i64,
}

const FIXTURE: [P; 4] = [
    P {
        id: "a",
        department: "县住建局",
        township: "城关镇",
        leader: "张",
        category: v1::ProjectCategory::Water,
        stage: v1::ProjectStage::Construction,
        total: 100,
        planned: 50,
        completed: 40,
    },
    P {
        id: "b",
        department: "县住建局",
        township: "太和镇",
        leader: "李",
        category: v1::ProjectCategory::Industry,
        stage: v1::ProjectStage::Preparation,
        total: 200,
        planned: 100,
        completed: 20,
    },
    P {
        id: "c",
        department: "县交通运输局",
        township: "太和镇",
        leader: "李",
        category: v1::ProjectCategory::Transport,
        stage: v1::ProjectStage::Reserve,
        total: 300,
        planned: 0,
        completed: 0,
    },
    P {
        id: "d",
        department: "县交通运输局",
        township: "城关镇",
        leader: "张",
        category: v1::ProjectCategory::Transport,
        stage: v1::ProjectStage::Concept,
        total: 400,
        planned: 100,
        completed: 100,
    },
];

async fn milestone(
    client: &mut MilestoneServiceClient<Authed>,
    project: &str,
    id: &str,
    kind: v1::MilestoneKind,
    baseline: Option<v1::Date>,
    forecast: Option<v1::Date>,
) -> String {
    client
        .create_milestone(v1::CreateMilestoneRequest {
            parent: format!("projects/{project}"),
            milestone_id: id.into(),
            milestone: Some(v1::Milestone {
                kind: kind as i32,
                baseline_date: baseline,
                forecast_date: forecast,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{project}/{id}: {s:?}"))
        .into_inner()
        .name
}

async fn achieve(client: &mut MilestoneServiceClient<Authed>, name: &str, on: Option<v1::Date>) {
    client
        .achieve_milestone(v1::AchieveMilestoneRequest {
            name: name.into(),
            actual_date: on,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("achieve {name}: {s:?}"));
}

/// The fixture, as of 15 September 2026 (the harness's today).
async fn load(server: &TestServer) {
    let mut projects = server.projects().await;
    for p in &FIXTURE {
        projects
            .create_project(v1::CreateProjectRequest {
                project_id: p.id.into(),
                initial_stage: p.stage as i32,
                project: Some(v1::Project {
                    display_name: format!("项目{}", p.id),
                    category: p.category as i32,
                    investment_type: v1::InvestmentType::Government as i32,
                    township: p.township.into(),
                    department: p.department.into(),
                    leader: p.leader.into(),
                    total_investment_yuan: p.total,
                    annual_planned_investment_yuan: p.planned,
                    completed_investment_yuan: p.completed,
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    use v1::MilestoneKind::*;
    let mut m = server.milestones().await;
    // a: started on time (20 Feb for 1 Mar); completion due 30 Sep, on track.
    let a_start = milestone(&mut m, "a", "start", ConstructionStart, date(3, 1), None).await;
    achieve(&mut m, &a_start, date(2, 20)).await;
    milestone(&mut m, "a", "done", Completion, date(9, 30), None).await;
    // b: started 10 days late (moves b to CONSTRUCTION); trial production due 1 Sep, overdue.
    let b_start = milestone(&mut m, "b", "start", ConstructionStart, date(6, 1), None).await;
    achieve(&mut m, &b_start, date(6, 11)).await;
    milestone(&mut m, "b", "trial", TrialProduction, date(9, 1), None).await;
    // c: construction start due 1 Aug, overdue 45 days (RED); contract signing due 20 Dec
    // forecast 10 Jan 2027 (21 days late, YELLOW).
    milestone(&mut m, "c", "start", ConstructionStart, date(8, 1), None).await;
    milestone(
        &mut m,
        "c",
        "contract",
        ContractSigning,
        date(12, 20),
        Some(v1::Date {
            year: 2027,
            month: 1,
            day: 10,
        }),
    )
    .await;
    // Funding: the fifth fund batch, open 1–30 Sep; c (the only RESERVE/PREPARATION project
    // left) declared; d, not eligible, holds a draft.
    let mut funding = server.funding().await;
    funding
        .create_funding_window(v1::CreateFundingWindowRequest {
            funding_window_id: "fund-5".into(),
            funding_window: Some(v1::FundingWindow {
                channel: v1::FundingChannel::PolicyFinance as i32,
                title: "第五批".into(),
                open_date: date(9, 1),
                close_date: date(9, 30),
                target_count: 2,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    for (project, amount) in [("c", 50), ("d", 70)] {
        let app = funding
            .create_funding_application(v1::CreateFundingApplicationRequest {
                parent: format!("projects/{project}"),
                funding_application_id: "fund-5".into(),
                funding_application: Some(v1::FundingApplication {
                    funding_window: "fundingWindows/fund-5".into(),
                    requested_amount_yuan: amount,
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        if project == "c" {
            funding
                .submit_funding_application(v1::SubmitFundingApplicationRequest {
                    name: app.name,
                    ..Default::default()
                })
                .await
                .unwrap();
        }
    }
}

fn tally(t: &v1::ProjectTally) -> (&str, i32, i64) {
    (t.key.as_str(), t.project_count, t.total_investment_yuan)
}

async fn reports(server: &TestServer) -> ReportServiceClient<Authed> {
    ReportServiceClient::new(server.authed(&server.admin_token).await)
}

async fn summary_figures(server: TestServer) {
    load(&server).await;
    let mut r = reports(&server).await;
    let s = r
        .get_pipeline_summary(v1::GetPipelineSummaryRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.status_date, date(9, 15));
    assert_eq!((s.project_count, s.total_investment_yuan), (4, 1000));
    assert_eq!(
        s.by_stage.iter().map(tally).collect::<Vec<_>>(),
        vec![
            ("CONCEPT", 1, 400),
            ("RESERVE", 1, 300),
            ("CONSTRUCTION", 2, 300)
        ],
        "lifecycle order; b moved to CONSTRUCTION when it started"
    );
    assert_eq!(
        s.by_department.iter().map(tally).collect::<Vec<_>>(),
        vec![("县交通运输局", 2, 700), ("县住建局", 2, 300)]
    );
    assert_eq!(
        s.by_township.iter().map(tally).collect::<Vec<_>>(),
        vec![("城关镇", 2, 500), ("太和镇", 2, 500)]
    );
    assert_eq!(
        s.by_category.iter().map(tally).collect::<Vec<_>>(),
        vec![
            ("INDUSTRY", 1, 200),
            ("TRANSPORT", 2, 700),
            ("WATER", 1, 100)
        ]
    );
    let by_department = &s.by_department[1];
    assert_eq!(
        (
            by_department.annual_planned_investment_yuan,
            by_department.completed_investment_yuan
        ),
        (150, 60)
    );
    // September: a's completion (30 Sep) and b's trial production (1 Sep, overdue).
    let month = s.due_this_month.unwrap();
    assert_eq!(
        (month.start_date, month.end_date),
        (date(9, 1), date(9, 30))
    );
    assert_eq!(
        (month.due_count, month.achieved_count, month.overdue_count),
        (2, 0, 1)
    );
    // Third quarter: also c's construction start (1 Aug, overdue).
    let quarter = s.due_this_quarter.unwrap();
    assert_eq!(quarter.start_date, date(7, 1));
    assert_eq!(
        (
            quarter.due_count,
            quarter.achieved_count,
            quarter.overdue_count
        ),
        (3, 0, 2)
    );
    // Construction starts due by 15 Sep: a (on time), b (late), c (not yet) → 1 of 3.
    let starts = &s.on_time_this_year[0];
    assert_eq!(starts.kind(), v1::MilestoneKind::ConstructionStart);
    assert_eq!(
        (
            starts.due_count,
            starts.achieved_count,
            starts.on_time_count
        ),
        (3, 2, 1)
    );
    assert!((starts.on_time_rate - 1.0 / 3.0).abs() < 1e-9);
    let trials = &s.on_time_this_year[1];
    assert_eq!(
        (
            trials.due_count,
            trials.achieved_count,
            trials.on_time_count
        ),
        (1, 0, 0)
    );
    // Unachieved: a's completion GREEN, c's contract YELLOW, b's trial and c's start RED.
    let lights: Vec<(v1::AlertLight, i32)> = s
        .by_light
        .iter()
        .map(|l| (l.light(), l.milestone_count))
        .collect();
    assert_eq!(
        lights,
        vec![
            (v1::AlertLight::Green, 1),
            (v1::AlertLight::Yellow, 1),
            (v1::AlertLight::Red, 2)
        ]
    );
    assert_eq!(s.year_end_date, date(12, 31));
    assert_eq!(s.days_to_year_end, 107);
    let due: Vec<(v1::MilestoneKind, i32, i32)> = s
        .due_by_year_end
        .iter()
        .map(|k| (k.kind(), k.milestone_count, k.overdue_count))
        .collect();
    use v1::MilestoneKind::*;
    assert_eq!(
        due,
        vec![
            (ContractSigning, 1, 0),
            (ConstructionStart, 1, 1),
            (TrialProduction, 1, 1),
            (Completion, 1, 0)
        ]
    );

    // Filtered to one department.
    let s = r
        .get_pipeline_summary(v1::GetPipelineSummaryRequest {
            filter: "department = \"县住建局\"".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((s.project_count, s.total_investment_yuan), (2, 300));
    assert_eq!(s.due_this_quarter.unwrap().due_count, 2);

    // Bad input.
    let unknown = r
        .get_pipeline_summary(v1::GetPipelineSummaryRequest {
            filter: "township = \"不存在镇\"".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::InvalidArgument);
    assert!(
        unknown.message().contains("不存在镇"),
        "{}",
        unknown.message()
    );
    for (year, why) in [(2019, "before any data"), (2040, "far in the future")] {
        let err = r
            .get_pipeline_summary(v1::GetPipelineSummaryRequest {
                status_date: Some(v1::Date {
                    year,
                    month: 1,
                    day: 1,
                }),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{why}");
        assert!(bad_fields(&err).contains("status_date"), "{why}");
    }
}

fn row(r: &v1::RankingRow) -> (&str, i32, f64, i32) {
    (r.unit.as_str(), r.project_count, r.total_score, r.rank)
}

async fn rankings_and_bulletins(server: TestServer) {
    load(&server).await;
    let mut r = reports(&server).await;
    // 县住建局: starts 1/2 on time → 50 (×25); trials 0/1 → 0 (×20); 1 overdue of 4 → 90 (×15);
    // lateness 0+0+10+14 = 24 over 4 → 6 days → 94 (×10); 60/150 invested → 40 (×15); no
    // monthly reports, no eligible project → neither measured. (1250+0+1350+940+600)/85 = 48.71.
    // 县交通运输局: starts 0/1 → 0 (×25); no trial due; 1 overdue of 2 → 90 (×15); lateness
    // 45+21 over 2 → 33 → 67 (×10); 100/100 invested → 100 (×15); c declared → 100 (×10).
    // (0+1350+670+1500+1000)/75 = 60.27.
    // 县商务局 has no project: nothing measured, 0. (The weights here are those before the problem
    // indicators; these units have no problems, so those are not measured and the totals are
    // the same under today's weights, the others scaled by 0.8.)
    let ranking = r
        .list_rankings(v1::ListRankingsRequest {
            dimension: v1::RankingDimension::Department as i32,
            units: vec!["县商务局".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        ranking.rows.iter().map(row).collect::<Vec<_>>(),
        vec![
            ("县交通运输局", 2, 60.27, 1),
            ("县住建局", 2, 48.71, 2),
            ("县商务局", 0, 0.0, 3)
        ]
    );
    assert_eq!(ranking.weights.iter().map(|w| w.weight).sum::<i32>(), 100);
    let zj = &ranking.rows[1];
    let scores: Vec<(f64, bool)> = zj
        .indicators
        .iter()
        .map(|i| (i.score, i.measured))
        .collect();
    assert_eq!(
        scores,
        vec![
            (50.0, true),
            (0.0, true),
            (90.0, true),
            (94.0, true),
            (40.0, true),
            (0.0, false),
            (0.0, false),
            (0.0, false),
            (0.0, false)
        ]
    );
    assert!(ranking.previous_bulletin.is_empty());
    assert!(ranking.rows.iter().all(|r| !r.ranked_before));

    // Townships, with two townships without projects: they tie and are listed by name.
    // 城关镇 (a, d): 1/1 on time → 100; 0 overdue of 2 → 100; lateness 0 → 100; 140/150 → 93.33;
    // (2500+1500+1000+1400)/65 = 98.46. 太和镇 (b, c): 0/2 → 0; 0/1 → 0; 2 overdue of 4 → 80;
    // 90/4 = 22.5 days → 77.5; 20/100 → 20; c declared → 100. (0+0+1200+775+300+1000)/95 = 34.47.
    let ranking = r
        .list_rankings(v1::ListRankingsRequest {
            dimension: v1::RankingDimension::Township as i32,
            units: vec!["西河镇".into(), "东山镇".into()],
            page_size: 3,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        ranking.rows.iter().map(row).collect::<Vec<_>>(),
        vec![
            ("城关镇", 2, 98.46, 1),
            ("太和镇", 2, 34.47, 2),
            ("东山镇", 0, 0.0, 3)
        ]
    );
    let rest = r
        .list_rankings(v1::ListRankingsRequest {
            dimension: v1::RankingDimension::Township as i32,
            units: vec!["西河镇".into(), "东山镇".into()],
            page_size: 3,
            page_token: ranking.next_page_token.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        rest.rows.iter().map(row).collect::<Vec<_>>(),
        vec![("西河镇", 0, 0.0, 3)],
        "the tie shares rank 3; the next page continues after 东山镇"
    );
    assert!(rest.next_page_token.is_empty());

    // Publish the bulletin of 15 September, twice with the same request id: one bulletin.
    let publish = v1::PublishBulletinRequest {
        title: "第1期 项目建设进度通报".into(),
        bulletin_id: "2026-09-15".into(),
        request_id: "publish-0915".into(),
        ..Default::default()
    };
    let first = r
        .publish_bulletin(publish.clone())
        .await
        .unwrap()
        .into_inner();
    let again = r.publish_bulletin(publish).await.unwrap().into_inner();
    assert_eq!(first, again);
    assert_eq!(first.rankings.len(), 3);
    assert_eq!(first.publisher, "test-admin");
    assert_eq!(first.summary.as_ref().unwrap().project_count, 4);
    let listed = r
        .list_bulletins(v1::ListBulletinsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.bulletins.len(), 1);

    // The data changes: a's completed investment reaches its plan and b's trial production is
    // achieved (late). 县住建局: 50 (×25), 0 (×20), no overdue → 100 (×15), lateness still 24/4
    // → 94 (×10), 190/150 → 100 (×15): (1250+1500+940+1500)/85 = 61.06, now ahead of
    // 县交通运输局 ((0+1350+665.2+1500+1000)/75 = 60.20 on 16 Sep, c's start one more day
    // late: lateness 66.52).
    server
        .projects()
        .await
        .update_project(v1::UpdateProjectRequest {
            project: Some(v1::Project {
                name: "projects/a".into(),
                completed_investment_yuan: 150,
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["completed_investment_yuan".into()],
            }),
        })
        .await
        .unwrap();
    achieve(
        &mut server.milestones().await,
        "projects/b/milestones/trial",
        date(9, 15),
    )
    .await;
    let stored = r
        .get_bulletin(v1::GetBulletinRequest {
            name: "bulletins/2026-09-15".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored, first, "a published bulletin never changes");
    let next_day = r
        .list_rankings(v1::ListRankingsRequest {
            status_date: date(9, 16),
            dimension: v1::RankingDimension::Department as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next_day.previous_bulletin, "bulletins/2026-09-15");
    let moves: Vec<(&str, f64, i32, i32, bool)> = next_day
        .rows
        .iter()
        .map(|r| {
            (
                r.unit.as_str(),
                r.total_score,
                r.rank,
                r.rank_change,
                r.ranked_before,
            )
        })
        .collect();
    assert_eq!(
        moves,
        vec![
            ("县住建局", 61.06, 1, 1, true),
            ("县交通运输局", 60.2, 2, -1, true)
        ]
    );

    // Bad input.
    let err = r
        .list_rankings(v1::ListRankingsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(bad_fields(&err).contains("dimension"));
    let err = r
        .publish_bulletin(v1::PublishBulletinRequest::default())
        .await
        .unwrap_err();
    assert!(bad_fields(&err).contains("title"));
    // Only admins publish; viewers read.
    let viewer = server
        .token("县政府办", pipeline::domain::access::Role::Viewer, &[], &[])
        .await;
    let mut as_viewer = ReportServiceClient::new(server.authed(&viewer).await);
    as_viewer
        .get_bulletin(v1::GetBulletinRequest {
            name: "bulletins/2026-09-15".into(),
        })
        .await
        .unwrap();
    let denied = as_viewer
        .publish_bulletin(v1::PublishBulletinRequest {
            title: "越权".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
}

async fn funding_summary(server: TestServer) {
    load(&server).await;
    let mut r = reports(&server).await;
    let s = r
        .get_funding_summary(v1::GetFundingSummaryRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.windows.len(), 1);
    let w = &s.windows[0];
    assert_eq!(w.funding_window, "fundingWindows/fund-5");
    assert_eq!(w.state(), v1::FundingWindowState::Open);
    let f = w.figures.unwrap();
    assert_eq!(
        (
            f.draft_count,
            f.submitted_count,
            f.declared_amount_yuan,
            f.undeclared_count
        ),
        (1, 1, 50, 0)
    );
    assert_eq!((w.target_count, w.count_gap), (2, 1));
    assert_eq!(s.channels.len(), 1);
    assert_eq!(s.channels[0].channel(), v1::FundingChannel::PolicyFinance);
    assert_eq!(s.total.unwrap(), f);
    // Only 县住建局's projects: no application, nobody eligible.
    let s = r
        .get_funding_summary(v1::GetFundingSummaryRequest {
            filter: "department = \"县住建局\"".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let f = s.windows[0].figures.unwrap();
    assert_eq!(
        (f.draft_count, f.submitted_count, f.undeclared_count),
        (0, 0, 0)
    );
}

/// The largest amount any money field accepts: ten trillion yuan.
const MAX_YUAN: i64 = 10_000_000_000_000;

fn money_project(township: &str, total: i64) -> v1::Project {
    v1::Project {
        display_name: "大项目".into(),
        category: v1::ProjectCategory::Energy as i32,
        investment_type: v1::InvestmentType::Enterprise as i32,
        township: township.into(),
        department: "县发改局".into(),
        total_investment_yuan: total,
        annual_planned_investment_yuan: total,
        completed_investment_yuan: total,
        ..Default::default()
    }
}

/// Issue 15: two projects of 6e18 yuan made the county total negative (in different
/// townships) or the summary INTERNAL (in one township, SQLite "integer overflow", PostgreSQL
/// "bigint out of range"), as did i64::MAX plus 1. Amounts are now bounded where they enter,
/// and every report sums exactly whatever is stored.
async fn money_is_bounded_and_sums_exactly(server: TestServer) {
    let mut projects = server.projects().await;
    for (total, field) in [
        (6_000_000_000_000_000_000, "total_investment_yuan"),
        (i64::MAX, "total_investment_yuan"),
        (MAX_YUAN + 1, "total_investment_yuan"),
        (-1, "total_investment_yuan"),
    ] {
        let err = projects
            .create_project(v1::CreateProjectRequest {
                project: Some(money_project("城关镇", total)),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{total}");
        let named = bad_fields(&err);
        for path in [
            "total_investment_yuan",
            "annual_planned_investment_yuan",
            "completed_investment_yuan",
        ] {
            assert!(
                named.contains(&format!("project.{path}")),
                "{total}: {named:?}"
            );
        }
        assert!(named.contains(&format!("project.{field}")));
    }
    let listed = projects
        .list_projects(v1::ListProjectsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.projects.is_empty(), "nothing was written");

    // At the bound: three in one township, two in another.
    for (i, township) in ["城关镇", "城关镇", "城关镇", "太和镇", "太和镇"]
        .into_iter()
        .enumerate()
    {
        projects
            .create_project(v1::CreateProjectRequest {
                project_id: format!("big-{i}"),
                initial_stage: v1::ProjectStage::Reserve as i32,
                project: Some(money_project(township, MAX_YUAN)),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    // Updating past the bound is refused as well, and changes nothing.
    let err = projects
        .update_project(v1::UpdateProjectRequest {
            project: Some(v1::Project {
                name: "projects/big-0".into(),
                completed_investment_yuan: 6_000_000_000_000_000_000,
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["completed_investment_yuan".into()],
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&err),
        ["project.completed_investment_yuan".to_string()].into()
    );

    let mut r = reports(&server).await;
    let s = r
        .get_pipeline_summary(v1::GetPipelineSummaryRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (s.project_count, s.total_investment_yuan),
        (5, 5 * MAX_YUAN)
    );
    assert_eq!(
        s.by_township.iter().map(tally).collect::<Vec<_>>(),
        vec![("城关镇", 3, 3 * MAX_YUAN), ("太和镇", 2, 2 * MAX_YUAN)]
    );
    let department = &s.by_department[0];
    assert_eq!(
        (
            department.annual_planned_investment_yuan,
            department.completed_investment_yuan
        ),
        (5 * MAX_YUAN, 5 * MAX_YUAN)
    );
    let ranking = r
        .list_rankings(v1::ListRankingsRequest {
            dimension: v1::RankingDimension::Township as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let completion: Vec<f64> = ranking
        .rows
        .iter()
        .map(|row| row.indicators[4].value)
        .collect();
    assert_eq!(completion, vec![1.0, 1.0], "completed over planned");

    // Funding amounts at the bound: a target, two requests, an approval and a disbursement.
    let mut funding = server.funding().await;
    funding
        .create_funding_window(v1::CreateFundingWindowRequest {
            funding_window_id: "bond".into(),
            funding_window: Some(v1::FundingWindow {
                channel: v1::FundingChannel::SpecialBond as i32,
                title: "专项债".into(),
                open_date: date(9, 1),
                close_date: date(9, 30),
                target_amount_yuan: MAX_YUAN,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    for i in 0..2 {
        let app = funding
            .create_funding_application(v1::CreateFundingApplicationRequest {
                parent: format!("projects/big-{i}"),
                funding_application: Some(v1::FundingApplication {
                    funding_window: "fundingWindows/bond".into(),
                    requested_amount_yuan: MAX_YUAN,
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        funding
            .submit_funding_application(v1::SubmitFundingApplicationRequest {
                name: app.name.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        funding
            .approve_funding_application(v1::ApproveFundingApplicationRequest {
                name: app.name.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        funding
            .record_funding_disbursement(v1::RecordFundingDisbursementRequest {
                name: app.name,
                amount_yuan: MAX_YUAN,
                disbursement_date: date(9, 10),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let coverage = funding
        .get_funding_coverage(v1::GetFundingCoverageRequest {
            name: "fundingWindows/bond".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            coverage.declared_amount_yuan,
            coverage.approved_amount_yuan,
            coverage.disbursed_amount_yuan,
            coverage.amount_gap
        ),
        (2 * MAX_YUAN, 2 * MAX_YUAN, 2 * MAX_YUAN, 0)
    );
    let totals = funding
        .list_funding_applications(v1::ListFundingApplicationsRequest {
            parent: "projects/-".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .totals
        .unwrap();
    assert_eq!(
        (
            totals.application_count,
            totals.requested_amount_yuan,
            totals.approved_amount_yuan,
            totals.disbursed_amount_yuan
        ),
        (2, 2 * MAX_YUAN, 2 * MAX_YUAN, 2 * MAX_YUAN)
    );
    let f = r
        .get_funding_summary(v1::GetFundingSummaryRequest::default())
        .await
        .unwrap()
        .into_inner()
        .total
        .unwrap();
    assert_eq!(
        (
            f.approved_count,
            f.declared_amount_yuan,
            f.approved_amount_yuan,
            f.disbursed_amount_yuan
        ),
        (2, 2 * MAX_YUAN, 2 * MAX_YUAN, 2 * MAX_YUAN)
    );

    // Rows from before the bound (here written by hand) still sum without failing: exactly up
    // to i64::MAX, which stands for any larger sum.
    use sea_orm::ConnectionTrait;
    server
        .store
        .connection()
        .execute_unprepared(&format!(
            "UPDATE projects SET total_investment_yuan = {}, annual_planned_investment_yuan = 1",
            i64::MAX
        ))
        .await
        .unwrap();
    server
        .store
        .connection()
        .execute_unprepared(&format!(
            "UPDATE funding_applications SET requested_amount_yuan = {}",
            i64::MAX
        ))
        .await
        .unwrap();
    let s = r
        .get_pipeline_summary(v1::GetPipelineSummaryRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.total_investment_yuan, i64::MAX);
    assert_eq!(
        s.by_township.iter().map(tally).collect::<Vec<_>>(),
        vec![("城关镇", 3, i64::MAX), ("太和镇", 2, i64::MAX)]
    );
    assert_eq!(s.by_department[0].annual_planned_investment_yuan, 5);
    let coverage = funding
        .get_funding_coverage(v1::GetFundingCoverageRequest {
            name: "fundingWindows/bond".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (coverage.declared_amount_yuan, coverage.amount_gap),
        (i64::MAX, 0)
    );
    r.get_funding_summary(v1::GetFundingSummaryRequest::default())
        .await
        .unwrap();
    r.list_rankings(v1::ListRankingsRequest {
        dimension: v1::RankingDimension::Department as i32,
        ..Default::default()
    })
    .await
    .unwrap();
}

/// Reads a ranking to its end, page after page, from `first`.
async fn rest_of_ranking(
    r: &mut ReportServiceClient<Authed>,
    mut request: v1::ListRankingsRequest,
    first: &v1::ListRankingsResponse,
) -> Vec<v1::RankingRow> {
    let mut rows = first.rows.clone();
    let mut token = first.next_page_token.clone();
    while !token.is_empty() {
        request.page_token = token;
        let page = r.list_rankings(request.clone()).await.unwrap().into_inner();
        assert!(!page.rows.is_empty());
        rows.extend(page.rows);
        token = page.next_page_token;
    }
    rows
}

/// Forty projects, each with a township, department and leader of its own with names at their
/// limit: the summary's long lists end in one tally summing the rest, and a bulletin (three
/// rankings of forty rows of about 800 bytes) is sent cut to fit, its rankings continued
/// through ListRankings with `bulletin`, so that every row is still read exactly once.
async fn large_reports_fit_and_nothing_is_lost(server: TestServer) {
    let mut projects = server.projects().await;
    let wide = |i: usize| format!("{i:02}{}", "\u{20000}".repeat(98));
    for i in 0..40 {
        projects
            .create_project(v1::CreateProjectRequest {
                project: Some(v1::Project {
                    display_name: format!("项目{i}"),
                    category: v1::ProjectCategory::Water as i32,
                    investment_type: v1::InvestmentType::Government as i32,
                    township: wide(i),
                    department: wide(i),
                    leader: wide(i),
                    total_investment_yuan: 1_000 + i as i64,
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let mut r = reports(&server).await;
    let s = r
        .get_pipeline_summary(v1::GetPipelineSummaryRequest::default())
        .await
        .unwrap()
        .into_inner();
    for list in [&s.by_township, &s.by_department] {
        assert!(list.len() > 10 && list.len() < 40, "{}", list.len());
        let rest = list.last().unwrap();
        assert_eq!(rest.key, "", "the rest summed under an empty key");
        assert_eq!(list.iter().map(|t| t.project_count).sum::<i32>(), 40);
        assert_eq!(
            list.iter().map(|t| t.total_investment_yuan).sum::<i64>(),
            s.total_investment_yuan
        );
        let named: Vec<&str> = list[..list.len() - 1]
            .iter()
            .map(|t| t.key.as_str())
            .collect();
        let expected: Vec<String> = (0..named.len()).map(wide).collect();
        assert_eq!(named, expected, "the first groups by name, whole");
    }

    let bulletin = r
        .publish_bulletin(v1::PublishBulletinRequest {
            title: "第12期 项目建设进度通报".into(),
            bulletin_id: "issue-12".into(),
            request_id: "publish-12".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(prost::Message::encoded_len(&bulletin) <= 60 * 1024);
    assert!(
        bulletin
            .rankings
            .iter()
            .all(|ranking| !ranking.next_page_token.is_empty() && !ranking.rows.is_empty()),
        "every ranking was cut"
    );
    let read = r
        .get_bulletin(v1::GetBulletinRequest {
            name: bulletin.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, bulletin, "the same cut on every read");
    let listed = r
        .list_bulletins(v1::ListBulletinsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.bulletins, vec![bulletin.clone()]);
    for ranking in &bulletin.rankings {
        let from_bulletin = rest_of_ranking(
            &mut r,
            v1::ListRankingsRequest {
                bulletin: bulletin.name.clone(),
                dimension: ranking.dimension,
                page_size: 7,
                ..Default::default()
            },
            ranking,
        )
        .await;
        let live = r
            .list_rankings(v1::ListRankingsRequest {
                dimension: ranking.dimension,
                page_size: 1000,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let live = rest_of_ranking(
            &mut r,
            v1::ListRankingsRequest {
                dimension: ranking.dimension,
                page_size: 1000,
                ..Default::default()
            },
            &live,
        )
        .await;
        assert_eq!(from_bulletin.len(), 40);
        assert_eq!(
            from_bulletin, live,
            "the bulletin holds every row, as published"
        );
    }

    // A bulletin's ranking is read as it is: no status date or units of its own.
    for (request, field) in [
        (
            v1::ListRankingsRequest {
                bulletin: bulletin.name.clone(),
                dimension: 1,
                status_date: date(9, 1),
                ..Default::default()
            },
            "status_date",
        ),
        (
            v1::ListRankingsRequest {
                bulletin: bulletin.name.clone(),
                dimension: 1,
                units: vec!["城关镇".into()],
                ..Default::default()
            },
            "units",
        ),
        (
            v1::ListRankingsRequest {
                bulletin: "issue-12".into(),
                dimension: 1,
                ..Default::default()
            },
            "bulletin",
        ),
        (
            v1::ListRankingsRequest {
                bulletin: bulletin.name.clone(),
                dimension: 2,
                page_token: bulletin.rankings[0].next_page_token.clone(),
                ..Default::default()
            },
            "page_token",
        ),
    ] {
        let err = r.list_rankings(request).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{field}");
        assert_eq!(bad_fields(&err), [field.to_string()].into(), "{field}");
    }
    let missing = r
        .list_rankings(v1::ListRankingsRequest {
            bulletin: "bulletins/none".into(),
            dimension: 1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
}

both_backends!(
    summary_figures,
    rankings_and_bulletins,
    funding_summary,
    money_is_bounded_and_sums_exactly,
    large_reports_fit_and_nothing_is_lost
);
