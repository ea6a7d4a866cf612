//! Who may do what, on SQLite and PostgreSQL: every mutating RPC tried by every role against a
//! project inside and outside the caller's scope. Allowed calls succeed; refused ones get the
//! right code and write nothing. Also: no token, a forged token, a revoked token, guessed
//! names, subscription ownership and the actor on events.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use pipeline::domain::access::Role;
use pipeline::events::outbox as events;
use pipeline::proto::v1;
use prost_types::FieldMask;
use tonic::{Code, Status};

use common::TestServer;

/// Every mutating RPC of the contract.
const WRITES: &[&str] = &[
    "CreateProject",
    "UpdateProject",
    "ChangeProjectStage",
    "DeleteProject",
    "CreatePrerequisite",
    "UpdatePrerequisite",
    "DeletePrerequisite",
    "CreateMilestone",
    "UpdateMilestone",
    "ForecastMilestone",
    "AchieveMilestone",
    "RebaselineMilestone",
    "DeleteMilestone",
    "CreateFundingWindow",
    "UpdateFundingWindow",
    "CreateFundingApplication",
    "UpdateFundingApplication",
    "SubmitFundingApplication",
    "ApproveFundingApplication",
    "RejectFundingApplication",
    "WithdrawFundingApplication",
    "RecordFundingDisbursement",
    "CreateSubscription",
    "AcknowledgeSubscription",
    "DeleteSubscription",
    "PublishBulletin",
];

/// The admin-only methods: funding windows and bulletins.
const ADMIN_ONLY: &[&str] = &[
    "CreateFundingWindow",
    "UpdateFundingWindow",
    "PublishBulletin",
];

/// Methods every role may call (on its own subscriptions).
const ANY_ROLE: &[&str] = &[
    "CreateSubscription",
    "AcknowledgeSubscription",
    "DeleteSubscription",
];

/// Who calls, with which token, on a project of which (department, township), and the code a
/// project-scoped write should get (None = allowed).
type Case<'a> = (&'a str, &'a str, (&'a str, &'a str), Option<Code>);

static SERIAL: AtomicUsize = AtomicUsize::new(0);

fn next_id(prefix: &str) -> String {
    format!("{prefix}-{}", SERIAL.fetch_add(1, Ordering::Relaxed))
}

fn date(y: i32, m: i32, d: i32) -> Option<v1::Date> {
    Some(v1::Date {
        year: y,
        month: m,
        day: d,
    })
}

fn project(department: &str, township: &str) -> v1::Project {
    v1::Project {
        display_name: format!("{department}{township}项目"),
        category: v1::ProjectCategory::Transport as i32,
        investment_type: v1::InvestmentType::Government as i32,
        township: township.into(),
        department: department.into(),
        total_investment_yuan: 500_000_000,
        ..Default::default()
    }
}

async fn log_len(server: &TestServer) -> usize {
    events::read_after(server.store.connection(), 0, 1_000_000)
        .await
        .unwrap()
        .len()
}

/// A project created by the admin in the given unit; returns its id.
async fn admin_project(server: &TestServer, department: &str, township: &str) -> String {
    let id = next_id("p");
    server
        .projects()
        .await
        .create_project(v1::CreateProjectRequest {
            project_id: id.clone(),
            initial_stage: v1::ProjectStage::Preparation as i32,
            project: Some(project(department, township)),
            ..Default::default()
        })
        .await
        .unwrap();
    id
}

/// Whatever `rpc` needs to exist first, made by the admin on project `p`.
struct Setup {
    prerequisite: String,
    milestone: String,
    window: String,
    application: String,
}

async fn setup(server: &TestServer, rpc: &str, p: &str) -> Setup {
    let parent = format!("projects/{p}");
    let mut out = Setup {
        prerequisite: String::new(),
        milestone: String::new(),
        window: "fundingWindows/open-window".into(),
        application: String::new(),
    };
    if rpc.ends_with("Prerequisite") && rpc != "CreatePrerequisite" {
        let id = next_id("land");
        server
            .projects()
            .await
            .create_prerequisite(v1::CreatePrerequisiteRequest {
                parent: parent.clone(),
                prerequisite_id: id.clone(),
                prerequisite: Some(v1::Prerequisite {
                    kind: v1::PrerequisiteKind::Land as i32,
                    state: v1::PrerequisiteState::InProgress as i32,
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap();
        out.prerequisite = format!("{parent}/prerequisites/{id}");
    }
    if rpc.ends_with("Milestone") && rpc != "CreateMilestone" {
        let id = next_id("contract");
        server
            .milestones()
            .await
            .create_milestone(v1::CreateMilestoneRequest {
                parent: parent.clone(),
                milestone_id: id.clone(),
                milestone: Some(v1::Milestone {
                    kind: v1::MilestoneKind::ContractSigning as i32,
                    baseline_date: date(2026, 10, 31),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap();
        out.milestone = format!("{parent}/milestones/{id}");
    }
    if rpc == "CreateFundingApplication" {
        out.window = next_window(server).await;
    }
    let application_rpc = rpc.contains("FundingApplication") || rpc == "RecordFundingDisbursement";
    if application_rpc && rpc != "CreateFundingApplication" {
        let mut funding = server.funding().await;
        let id = next_id("app");
        funding
            .create_funding_application(v1::CreateFundingApplicationRequest {
                parent: parent.clone(),
                funding_application_id: id.clone(),
                funding_application: Some(v1::FundingApplication {
                    funding_window: next_window(server).await,
                    requested_amount_yuan: 100_000_000,
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap();
        out.application = format!("{parent}/fundingApplications/{id}");
        let submitted = matches!(
            rpc,
            "ApproveFundingApplication" | "RejectFundingApplication" | "RecordFundingDisbursement"
        );
        if submitted {
            funding
                .submit_funding_application(v1::SubmitFundingApplicationRequest {
                    name: out.application.clone(),
                    ..Default::default()
                })
                .await
                .unwrap();
        }
        if rpc == "RecordFundingDisbursement" {
            funding
                .approve_funding_application(v1::ApproveFundingApplicationRequest {
                    name: out.application.clone(),
                    ..Default::default()
                })
                .await
                .unwrap();
        }
    }
    out
}

/// A fresh open window (a project has one live application per window).
async fn next_window(server: &TestServer) -> String {
    let id = next_id("w");
    server
        .funding()
        .await
        .create_funding_window(v1::CreateFundingWindowRequest {
            funding_window_id: id.clone(),
            funding_window: Some(v1::FundingWindow {
                channel: v1::FundingChannel::SpecialBond as i32,
                title: "专项债".into(),
                open_date: date(2026, 9, 1),
                close_date: date(2026, 9, 30),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    format!("fundingWindows/{id}")
}

/// Calls `rpc` about project `p` with `token`; `s` holds what it acts on.
async fn attempt(
    server: &TestServer,
    token: &str,
    rpc: &str,
    p: &str,
    s: &Setup,
) -> Result<(), Status> {
    let parent = format!("projects/{p}");
    let mut projects = server.projects_as(token).await;
    let mut milestones = server.milestones_as(token).await;
    let mut funding = server.funding_as(token).await;
    let mut events = server.events_as(token).await;
    let reason = "测试".to_string();
    match rpc {
        "CreateProject" => {
            // A new project in the same unit as `p`.
            let existing = server
                .projects()
                .await
                .get_project(v1::GetProjectRequest {
                    name: parent.clone(),
                })
                .await;
            let (department, township) = match existing {
                Ok(found) => {
                    let found = found.into_inner();
                    (found.department, found.township)
                }
                Err(_) => ("县交通运输局".into(), "太和镇".into()),
            };
            projects
                .create_project(v1::CreateProjectRequest {
                    project_id: next_id("new"),
                    project: Some(project(&department, &township)),
                    ..Default::default()
                })
                .await
                .map(drop)
        }
        "UpdateProject" => projects
            .update_project(v1::UpdateProjectRequest {
                project: Some(v1::Project {
                    name: parent,
                    description: "更新".into(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["description".into()],
                }),
            })
            .await
            .map(drop),
        "ChangeProjectStage" => projects
            .change_project_stage(v1::ChangeProjectStageRequest {
                name: parent,
                stage: v1::ProjectStage::Suspended as i32,
                reason,
                ..Default::default()
            })
            .await
            .map(drop),
        "DeleteProject" => projects
            .delete_project(v1::DeleteProjectRequest {
                name: parent,
                force: true,
                ..Default::default()
            })
            .await
            .map(drop),
        "CreatePrerequisite" => projects
            .create_prerequisite(v1::CreatePrerequisiteRequest {
                parent,
                prerequisite: Some(v1::Prerequisite {
                    kind: v1::PrerequisiteKind::EnvironmentalAssessment as i32,
                    state: v1::PrerequisiteState::NotStarted as i32,
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .map(drop),
        "UpdatePrerequisite" => projects
            .update_prerequisite(v1::UpdatePrerequisiteRequest {
                prerequisite: Some(v1::Prerequisite {
                    name: s.prerequisite.clone(),
                    state: v1::PrerequisiteState::Done as i32,
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["state".into()],
                }),
            })
            .await
            .map(drop),
        "DeletePrerequisite" => projects
            .delete_prerequisite(v1::DeletePrerequisiteRequest {
                name: s.prerequisite.clone(),
                ..Default::default()
            })
            .await
            .map(drop),
        "CreateMilestone" => milestones
            .create_milestone(v1::CreateMilestoneRequest {
                parent,
                milestone: Some(v1::Milestone {
                    kind: v1::MilestoneKind::ConstructionStart as i32,
                    baseline_date: date(2026, 11, 30),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .map(drop),
        "UpdateMilestone" => milestones
            .update_milestone(v1::UpdateMilestoneRequest {
                milestone: Some(v1::Milestone {
                    name: s.milestone.clone(),
                    description: "签约准备".into(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["description".into()],
                }),
            })
            .await
            .map(drop),
        "ForecastMilestone" => milestones
            .forecast_milestone(v1::ForecastMilestoneRequest {
                name: s.milestone.clone(),
                forecast_date: date(2026, 11, 15),
                reason,
                ..Default::default()
            })
            .await
            .map(drop),
        "AchieveMilestone" => milestones
            .achieve_milestone(v1::AchieveMilestoneRequest {
                name: s.milestone.clone(),
                actual_date: date(2026, 9, 10),
                ..Default::default()
            })
            .await
            .map(drop),
        "RebaselineMilestone" => milestones
            .rebaseline_milestone(v1::RebaselineMilestoneRequest {
                name: s.milestone.clone(),
                baseline_date: date(2026, 12, 31),
                reason,
                ..Default::default()
            })
            .await
            .map(drop),
        "DeleteMilestone" => milestones
            .delete_milestone(v1::DeleteMilestoneRequest {
                name: s.milestone.clone(),
                ..Default::default()
            })
            .await
            .map(drop),
        "CreateFundingWindow" => funding
            .create_funding_window(v1::CreateFundingWindowRequest {
                funding_window: Some(v1::FundingWindow {
                    channel: v1::FundingChannel::CentralBudget as i32,
                    title: "中央预算内投资".into(),
                    open_date: date(2026, 10, 1),
                    close_date: date(2026, 10, 31),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .map(drop),
        "UpdateFundingWindow" => funding
            .update_funding_window(v1::UpdateFundingWindowRequest {
                funding_window: Some(v1::FundingWindow {
                    name: s.window.clone(),
                    target_count: 7,
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["target_count".into()],
                }),
            })
            .await
            .map(drop),
        "CreateFundingApplication" => funding
            .create_funding_application(v1::CreateFundingApplicationRequest {
                parent,
                funding_application: Some(v1::FundingApplication {
                    funding_window: s.window.clone(),
                    requested_amount_yuan: 1_000_000,
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .map(drop),
        "UpdateFundingApplication" => funding
            .update_funding_application(v1::UpdateFundingApplicationRequest {
                funding_application: Some(v1::FundingApplication {
                    name: s.application.clone(),
                    requested_amount_yuan: 90_000_000,
                    ..Default::default()
                }),
                update_mask: None,
            })
            .await
            .map(drop),
        "SubmitFundingApplication" => funding
            .submit_funding_application(v1::SubmitFundingApplicationRequest {
                name: s.application.clone(),
                ..Default::default()
            })
            .await
            .map(drop),
        "ApproveFundingApplication" => funding
            .approve_funding_application(v1::ApproveFundingApplicationRequest {
                name: s.application.clone(),
                ..Default::default()
            })
            .await
            .map(drop),
        "RejectFundingApplication" => funding
            .reject_funding_application(v1::RejectFundingApplicationRequest {
                name: s.application.clone(),
                reason,
                ..Default::default()
            })
            .await
            .map(drop),
        "WithdrawFundingApplication" => funding
            .withdraw_funding_application(v1::WithdrawFundingApplicationRequest {
                name: s.application.clone(),
                reason,
                ..Default::default()
            })
            .await
            .map(drop),
        "RecordFundingDisbursement" => funding
            .record_funding_disbursement(v1::RecordFundingDisbursementRequest {
                name: s.application.clone(),
                amount_yuan: 1_000_000,
                disbursement_date: date(2026, 9, 15),
                ..Default::default()
            })
            .await
            .map(drop),
        "CreateSubscription" => events
            .create_subscription(v1::CreateSubscriptionRequest {
                subscription: Some(v1::Subscription {
                    display_name: "督查室".into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .map(drop),
        "AcknowledgeSubscription" | "DeleteSubscription" => {
            // The caller's own subscription, made just now with the same token.
            let own = events
                .create_subscription(v1::CreateSubscriptionRequest {
                    subscription: Some(v1::Subscription {
                        display_name: "自己的".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .await?
                .into_inner();
            if rpc == "DeleteSubscription" {
                events
                    .delete_subscription(v1::DeleteSubscriptionRequest {
                        name: own.name,
                        ..Default::default()
                    })
                    .await
                    .map(drop)
            } else {
                events
                    .acknowledge_subscription(v1::AcknowledgeSubscriptionRequest {
                        name: own.name,
                        cursor: own.acknowledged_cursor,
                    })
                    .await
                    .map(drop)
            }
        }
        "PublishBulletin" => {
            v1::report_service_client::ReportServiceClient::new(server.authed(token).await)
                .publish_bulletin(v1::PublishBulletinRequest {
                    title: "通报".into(),
                    ..Default::default()
                })
                .await
                .map(drop)
        }
        other => panic!("no attempt for {other}"),
    }
}

async fn every_role_against_every_write(server: TestServer) {
    // 县住建局 in 城关镇, 县交通运输局 in 太和镇.
    let zj = "县住建局";
    let jt = "县交通运输局";
    let admin = server.admin_token.clone();
    let editor_zj = server.token("住建-张", Role::Editor, &[zj], &[]).await;
    let editor_taihe = server
        .token("太和镇-李", Role::Editor, &[], &["太和镇"])
        .await;
    let viewer = server.token("县政府办", Role::Viewer, &[], &[]).await;
    let subscriber = server.token("督查室-bot", Role::Subscriber, &[], &[]).await;
    next_window_named(&server, "open-window").await;

    // (who, token, project unit, expected outcome of a project-scoped write)
    let cases: Vec<Case> = vec![
        ("admin", admin.as_str(), (jt, "太和镇"), None),
        (
            "editor of 住建 on 住建",
            editor_zj.as_str(),
            (zj, "城关镇"),
            None,
        ),
        (
            "editor of 住建 on 交通",
            editor_zj.as_str(),
            (jt, "太和镇"),
            Some(Code::PermissionDenied),
        ),
        (
            "editor of 太和镇 on 交通 in 太和镇",
            editor_taihe.as_str(),
            (jt, "太和镇"),
            None,
        ),
        (
            "editor of 太和镇 on 住建 in 城关镇",
            editor_taihe.as_str(),
            (zj, "城关镇"),
            Some(Code::PermissionDenied),
        ),
        (
            "viewer",
            viewer.as_str(),
            (zj, "城关镇"),
            Some(Code::PermissionDenied),
        ),
        (
            "subscriber",
            subscriber.as_str(),
            (zj, "城关镇"),
            Some(Code::PermissionDenied),
        ),
        ("no token", "", (zj, "城关镇"), Some(Code::Unauthenticated)),
        (
            "forged token",
            "pl_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            (zj, "城关镇"),
            Some(Code::Unauthenticated),
        ),
    ];
    for (who, token, (department, township), scoped_outcome) in cases {
        let is_admin = token == admin;
        let authenticated = !matches!(scoped_outcome, Some(Code::Unauthenticated));
        for rpc in WRITES {
            let expected = if !authenticated {
                Some(Code::Unauthenticated)
            } else if ANY_ROLE.contains(rpc) {
                None
            } else if ADMIN_ONLY.contains(rpc) {
                (!is_admin).then_some(Code::PermissionDenied)
            } else {
                scoped_outcome
            };
            let p = admin_project(&server, department, township).await;
            let s = setup(&server, rpc, &p).await;
            let before = log_len(&server).await;
            let result = attempt(&server, token, rpc, &p, &s).await;
            match (expected, result) {
                (None, Ok(())) => {}
                (Some(code), Err(status)) if status.code() == code => {
                    assert_eq!(
                        log_len(&server).await,
                        before,
                        "{who}: refused {rpc} wrote nothing"
                    );
                }
                (expected, result) => {
                    panic!("{who}: {rpc} expected {expected:?}, got {result:?}")
                }
            }
        }
    }
}

async fn next_window_named(server: &TestServer, id: &str) {
    server
        .funding()
        .await
        .create_funding_window(v1::CreateFundingWindowRequest {
            funding_window_id: id.into(),
            funding_window: Some(v1::FundingWindow {
                channel: v1::FundingChannel::SpecialBond as i32,
                title: "专项债".into(),
                open_date: date(2026, 9, 1),
                close_date: date(2026, 9, 30),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
}

async fn scope_names_and_revocation(server: TestServer) {
    let zj = server
        .token("住建-王", Role::Editor, &["县住建局"], &[])
        .await;
    let jt_project = admin_project(&server, "县交通运输局", "太和镇").await;
    let mut as_zj = server.projects_as(&zj).await;
    // Reading is allowed to everyone but subscribers.
    as_zj
        .get_project(v1::GetProjectRequest {
            name: format!("projects/{jt_project}"),
        })
        .await
        .unwrap();
    // Guessing a name outside the scope, existing or not, reveals nothing.
    for name in [
        format!("projects/{jt_project}"),
        "projects/guessed-name".into(),
    ] {
        let refused = as_zj
            .update_project(v1::UpdateProjectRequest {
                project: Some(v1::Project {
                    name: name.clone(),
                    description: "越权".into(),
                    ..Default::default()
                }),
                update_mask: None,
            })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{name}");
    }
    // Nor may an editor move its own project out of its scope, or create one outside it.
    let own = admin_project(&server, "县住建局", "城关镇").await;
    let moved = as_zj
        .update_project(v1::UpdateProjectRequest {
            project: Some(v1::Project {
                name: format!("projects/{own}"),
                department: "县交通运输局".into(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .unwrap_err();
    assert_eq!(moved.code(), Code::PermissionDenied);
    // The actor on events is the token's name.
    let changed = as_zj
        .update_project(v1::UpdateProjectRequest {
            project: Some(v1::Project {
                name: format!("projects/{own}"),
                description: "住建局更新".into(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(changed.description, "住建局更新");
    let log = events::read_after(server.store.connection(), 0, 1_000_000)
        .await
        .unwrap();
    assert_eq!(log.last().unwrap().actor, "住建-王");

    // A subscriber sees only its own subscriptions.
    let bot = server.token("督查室-bot", Role::Subscriber, &[], &[]).await;
    let mut as_bot = server.events_as(&bot).await;
    let mine = as_bot
        .create_subscription(v1::CreateSubscriptionRequest {
            subscription: Some(v1::Subscription {
                display_name: "督查室".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let theirs = server
        .events()
        .await
        .create_subscription(v1::CreateSubscriptionRequest {
            subscription: Some(v1::Subscription {
                display_name: "管理员".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let listed = as_bot
        .list_subscriptions(v1::ListSubscriptionsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let names: Vec<String> = listed
        .subscriptions
        .iter()
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(names, vec![mine.name.clone()]);
    for name in [theirs.name.clone(), "subscriptions/nope".to_string()] {
        let refused = as_bot
            .get_subscription(v1::GetSubscriptionRequest { name: name.clone() })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{name}");
    }
    let refused = as_bot
        .stream_subscription(v1::StreamSubscriptionRequest {
            name: theirs.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    // … and cannot read projects.
    let refused = server
        .projects_as(&bot)
        .await
        .list_projects(v1::ListProjectsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);

    // Revocation takes effect with the next call.
    server.store.revoke_token("住建-王", 1).await.unwrap();
    let revoked = as_zj
        .get_project(v1::GetProjectRequest {
            name: format!("projects/{own}"),
        })
        .await
        .unwrap_err();
    assert_eq!(revoked.code(), Code::Unauthenticated);

    // Health and reflection stay open.
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel().await);
    health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .unwrap();
}

/// A stored answer goes back only to the caller who earned it, and only while that caller may
/// still make the call: request ids are kept per (caller, method), and authorization comes
/// before any replay.
async fn request_ids_belong_to_their_caller(server: TestServer) {
    let zj = server
        .token("住建-赵", Role::Editor, &["县住建局"], &[])
        .await;
    let mut as_admin = server.projects().await;
    let mut as_zj = server.projects_as(&zj).await;
    let water = v1::CreateProjectRequest {
        project: Some(project("县水利局", "城关镇")),
        request_id: "K-0001".into(),
        ..Default::default()
    };
    let admins = as_admin
        .create_project(water.clone())
        .await
        .unwrap()
        .into_inner();
    let before = log_len(&server).await;
    // The editor of 县住建局 sends the identical request: refused as a fresh one would be.
    for request_id in ["K-0001", "K-0002"] {
        let refused = as_zj
            .create_project(v1::CreateProjectRequest {
                request_id: request_id.into(),
                ..water.clone()
            })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{request_id}");
        assert_eq!(common::reason_of(&refused), "PERMISSION_DENIED");
    }
    assert_eq!(log_len(&server).await, before, "the refusals wrote nothing");
    // The admin's retry still gets its own answer.
    let again = as_admin
        .create_project(water.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, admins);

    // The same id is the editor's own key: in scope it acts, and its retry replays that.
    let housing = v1::CreateProjectRequest {
        project: Some(project("县住建局", "城关镇")),
        request_id: "K-0001".into(),
        ..Default::default()
    };
    let editors = as_zj
        .create_project(housing.clone())
        .await
        .unwrap()
        .into_inner();
    assert_ne!(editors.name, admins.name);
    assert_eq!(editors.department, "县住建局");
    let retried = as_zj.create_project(housing).await.unwrap().into_inner();
    assert_eq!(retried, editors);
    let all = as_admin
        .list_projects(v1::ListProjectsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        all.projects.len(),
        2,
        "one project per caller, none for the retries"
    );

    // A key is per method too: the admin's K-0001 on ChangeProjectStage is a new call.
    let staged = as_admin
        .change_project_stage(v1::ChangeProjectStageRequest {
            name: admins.name.clone(),
            stage: v1::ProjectStage::Reserve as i32,
            reason: "入库".into(),
            request_id: "K-0001".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(staged.stage(), v1::ProjectStage::Reserve);

    // An answer the editor earned is not replayed once the project has left its scope.
    let stage_change = v1::ChangeProjectStageRequest {
        name: editors.name.clone(),
        stage: v1::ProjectStage::Reserve as i32,
        reason: "入库".into(),
        request_id: "S-0001".into(),
        ..Default::default()
    };
    as_zj
        .change_project_stage(stage_change.clone())
        .await
        .unwrap();
    as_admin
        .update_project(v1::UpdateProjectRequest {
            project: Some(v1::Project {
                name: editors.name.clone(),
                department: "县水利局".into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["department".into()],
            }),
        })
        .await
        .unwrap();
    let refused = as_zj.change_project_stage(stage_change).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
}

/// One token holds at most `max_streams_per_token` event streams; others are not affected, and
/// a closed stream gives its slot back.
async fn streams_per_token_are_limited(mut server: TestServer) {
    let today = server.today;
    server
        .restart_with(today, |o| o.streams.max_streams_per_token = 2)
        .await;
    let bot = server.token("督查室-bot", Role::Subscriber, &[], &[]).await;
    let mut as_bot = server.events_as(&bot).await;
    let watch = || v1::WatchEventsRequest::default();
    let first = as_bot.watch_events(watch()).await.unwrap().into_inner();
    let _second = as_bot.watch_events(watch()).await.unwrap().into_inner();
    let third = as_bot.watch_events(watch()).await.unwrap_err();
    assert_eq!(third.code(), Code::ResourceExhausted);
    assert_eq!(common::reason_of(&third), "TOO_MANY_STREAMS");
    // Another token still gets its streams.
    let _admin_stream = server.events().await.watch_events(watch()).await.unwrap();
    // Closing one stream frees its slot once the server sees the cancellation.
    drop(first);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match as_bot.watch_events(watch()).await {
            Ok(_) => break,
            Err(status) if status.code() == Code::ResourceExhausted => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the slot never came back"
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(other) => panic!("{other:?}"),
        }
    }
}

both_backends!(
    every_role_against_every_write,
    scope_names_and_revocation,
    streams_per_token_are_limited,
    request_ids_belong_to_their_caller,
);

/// The token subcommands and the first-start admin token, through the real binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_string();
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_pipeline"))
            .arg("token")
            .args(args)
            .args(["--data-dir", &data_dir])
            .env("RUST_LOG", "warn")
            .output()
            .expect("run pipeline token");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).to_string(),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    };
    let (ok, secret, _) = run(&[
        "create",
        "--name",
        "住建-赵",
        "--role",
        "editor",
        "--department",
        "县住建局",
    ]);
    assert!(ok);
    let secret = secret.trim().to_string();
    assert!(secret.starts_with("pl_") && secret.len() == 46, "{secret}");
    let (ok, _, err) = run(&["create", "--name", "无范围", "--role", "editor"]);
    assert!(!ok, "an editor without a scope is refused");
    assert!(err.contains("--department"), "{err}");
    let (ok, _, _) = run(&["create", "--name", "住建-赵", "--role", "viewer"]);
    assert!(!ok, "names are unique");
    let (ok, listed, _) = run(&["list"]);
    assert!(ok);
    assert!(
        listed.contains("住建-赵\tEDITOR\tactive\t县住建局"),
        "{listed}"
    );
    assert!(!listed.contains(&secret), "secrets are never listed");
    // The database holds only the hash.
    let store = pipeline::store::Store::connect(&pipeline::store::Store::sqlite_url(dir.path()))
        .await
        .unwrap();
    let principal = store.authenticate(&secret).await.unwrap().unwrap();
    assert_eq!(principal.role, Role::Editor);
    let (ok, _, _) = run(&["revoke", "--name", "住建-赵"]);
    assert!(ok);
    assert!(store.authenticate(&secret).await.unwrap().is_none());
    let (_, listed, _) = run(&["list"]);
    assert!(listed.contains("住建-赵\tEDITOR\trevoked"), "{listed}");
    // Tokens exist, so a first start would not make another admin token.
    pipeline::admin::bootstrap_admin(&store, dir.path())
        .await
        .unwrap();
    assert!(!dir.path().join(pipeline::admin::ADMIN_TOKEN_FILE).exists());
}

/// On an empty database the first start makes an admin token, readable only by its owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_makes_an_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let store = pipeline::store::Store::connect(&pipeline::store::Store::sqlite_url(dir.path()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    pipeline::admin::bootstrap_admin(&store, dir.path())
        .await
        .unwrap();
    let path = dir.path().join(pipeline::admin::ADMIN_TOKEN_FILE);
    let secret = std::fs::read_to_string(&path).unwrap().trim().to_string();
    let principal = store.authenticate(&secret).await.unwrap().unwrap();
    assert_eq!(
        (principal.name.as_str(), principal.role),
        ("admin", Role::Admin)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A second start leaves it alone.
    pipeline::admin::bootstrap_admin(&store, dir.path())
        .await
        .unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), secret);
    assert_eq!(store.count_tokens().await.unwrap(), 1);

    // A first start on another, empty database with the same data directory (the README's
    // PostgreSQL section after its SQLite one) makes that database's token but keeps the file.
    let other_dir = tempfile::tempdir().unwrap();
    let other =
        pipeline::store::Store::connect(&pipeline::store::Store::sqlite_url(other_dir.path()))
            .await
            .unwrap();
    other.migrate().await.unwrap();
    pipeline::admin::bootstrap_admin(&other, dir.path())
        .await
        .unwrap();
    assert_eq!(other.count_tokens().await.unwrap(), 1);
    assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), secret);
}
