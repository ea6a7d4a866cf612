//! ProblemService on SQLite and PostgreSQL: the problem ledger (问题清单). A problem of the
//! reservoir (县水利局's project in 城关镇) is raised by the water bureau's editor and assigned to
//! 县自然资源局 (land): it goes OPEN → IN_PROGRESS → RESOLVED → (reopened) → RESOLVED → CLOSED,
//! with a revision and an event for every change; wrong-state transitions and bad input are
//! refused with nothing written; and the land bureau's editor may answer the problem on a
//! project outside its scope, while a third unit may not.
//!
//! The server's clock reads 2026-09-15.

mod common;

use std::time::Duration;

use pipeline::domain::access::Role;
use pipeline::proto::v1;
use prost_types::FieldMask;
use tonic::Code;

use common::{Authed, TestServer, bad_fields, reason_of, subjects};
use v1::investment_service_client::InvestmentServiceClient;
use v1::problem_service_client::ProblemServiceClient;

const NAME: &str = "projects/reservoir/problems/land";

fn date(year: i32, month: i32, day: i32) -> Option<v1::Date> {
    Some(v1::Date { year, month, day })
}

async fn problems_as(server: &TestServer, token: &str) -> ProblemServiceClient<Authed> {
    ProblemServiceClient::new(server.authed(token).await)
}

async fn project(server: &TestServer, id: &str, department: &str, township: &str) {
    server
        .projects()
        .await
        .create_project(v1::CreateProjectRequest {
            project_id: id.into(),
            initial_stage: v1::ProjectStage::Preparation as i32,
            project: Some(v1::Project {
                display_name: format!("项目{id}"),
                category: v1::ProjectCategory::Water as i32,
                investment_type: v1::InvestmentType::Government as i32,
                township: township.into(),
                department: department.into(),
                total_investment_yuan: 500_000_000,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("create {id}: {s:?}"));
}

fn land_problem() -> v1::Problem {
    v1::Problem {
        category: v1::ProblemCategory::Land as i32,
        description: "水库淹没区林地征占用手续未批".into(),
        raise_date: date(2026, 9, 1),
        responsible_unit: "县自然资源局".into(),
        responsible_leader: "王副县长".into(),
        deadline: date(2026, 9, 30),
        ..Default::default()
    }
}

async fn create(
    client: &mut ProblemServiceClient<Authed>,
    project: &str,
    id: &str,
    problem: v1::Problem,
    request_id: &str,
) -> Result<v1::Problem, tonic::Status> {
    client
        .create_problem(v1::CreateProblemRequest {
            parent: format!("projects/{project}"),
            problem_id: id.into(),
            problem: Some(problem),
            request_id: request_id.into(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn get(client: &mut ProblemServiceClient<Authed>, name: &str) -> v1::Problem {
    client
        .get_problem(v1::GetProblemRequest { name: name.into() })
        .await
        .unwrap()
        .into_inner()
}

async fn revisions(
    client: &mut ProblemServiceClient<Authed>,
    name: &str,
) -> Vec<v1::ProblemRevision> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_problem_revisions(v1::ListProblemRevisionsRequest {
                name: name.into(),
                page_size: 3,
                page_token,
            })
            .await
            .unwrap()
            .into_inner();
        all.extend(page.revisions);
        if page.next_page_token.is_empty() {
            return all;
        }
        page_token = page.next_page_token;
    }
}

async fn start(
    client: &mut ProblemServiceClient<Authed>,
    name: &str,
) -> Result<v1::Problem, tonic::Status> {
    client
        .start_problem(v1::StartProblemRequest {
            name: name.into(),
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn resolve(
    client: &mut ProblemServiceClient<Authed>,
    name: &str,
    note: &str,
) -> Result<v1::Problem, tonic::Status> {
    client
        .resolve_problem(v1::ResolveProblemRequest {
            name: name.into(),
            resolution_note: note.into(),
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn reopen(
    client: &mut ProblemServiceClient<Authed>,
    name: &str,
    reason: &str,
) -> Result<v1::Problem, tonic::Status> {
    client
        .reopen_problem(v1::ReopenProblemRequest {
            name: name.into(),
            reason: reason.into(),
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn close(
    client: &mut ProblemServiceClient<Authed>,
    name: &str,
) -> Result<v1::Problem, tonic::Status> {
    client
        .close_problem(v1::CloseProblemRequest {
            name: name.into(),
            note: "现场核实，同意销号".into(),
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn extend(
    client: &mut ProblemServiceClient<Authed>,
    name: &str,
    deadline: Option<v1::Date>,
    reason: &str,
) -> Result<v1::Problem, tonic::Status> {
    client
        .extend_problem_deadline(v1::ExtendProblemDeadlineRequest {
            name: name.into(),
            deadline,
            reason: reason.into(),
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn list(
    client: &mut ProblemServiceClient<Authed>,
    request: v1::ListProblemsRequest,
) -> Vec<String> {
    client
        .list_problems(request)
        .await
        .unwrap()
        .into_inner()
        .problems
        .into_iter()
        .map(|p| p.name)
        .collect()
}

/// The problem events on `stream` until `count` of them arrived (10 s at most).
async fn problem_events(
    stream: &mut tonic::Streaming<v1::WatchEventsResponse>,
    count: usize,
) -> Vec<v1::Event> {
    let mut events = Vec::new();
    while events.len() < count {
        let message = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("the problem events arrive")
            .unwrap()
            .expect("the stream stays open");
        if let Some(v1::watch_events_response::Response::Batch(batch)) = message.response {
            events.extend(
                batch
                    .events
                    .into_iter()
                    .filter(|e| e.resource.contains("/problems/")),
            );
        }
    }
    events
}

async fn watch(server: &TestServer) -> tonic::Streaming<v1::WatchEventsResponse> {
    let mut stream = server
        .events()
        .await
        .watch_events(v1::WatchEventsRequest::default())
        .await
        .unwrap()
        .into_inner();
    // From the head at the time of the call: wait for the marker so nothing later is missed.
    loop {
        let message = stream.message().await.unwrap().unwrap();
        if matches!(
            message.response,
            Some(v1::watch_events_response::Response::CaughtUp(_))
        ) {
            return stream;
        }
    }
}

async fn life_cycle_with_revisions_and_events(server: TestServer) {
    project(&server, "reservoir", "县水利局", "城关镇").await;
    project(&server, "road", "县交通运输局", "河口镇").await;
    let water = server
        .token("水利局", Role::Editor, &["县水利局"], &[])
        .await;
    let mut as_water = problems_as(&server, &water).await;
    let mut stream = watch(&server).await;

    let created = create(
        &mut as_water,
        "reservoir",
        "land",
        land_problem(),
        "raise-1",
    )
    .await
    .unwrap();
    assert_eq!(created.name, NAME);
    assert_eq!(created.state(), v1::ProblemState::Open);
    assert_eq!(created.raised_by, "水利局");
    assert_eq!(created.extension_count, 0);
    // A retry with the same request id gets the first answer and writes nothing.
    let retried = create(
        &mut as_water,
        "reservoir",
        "land",
        land_problem(),
        "raise-1",
    )
    .await
    .unwrap();
    assert_eq!(retried, created);
    // The raise date defaults to today.
    let road = create(
        &mut as_water,
        "reservoir",
        "power",
        v1::Problem {
            category: v1::ProblemCategory::Power as i32,
            raise_date: None,
            responsible_unit: "县供电公司".into(),
            deadline: date(2026, 10, 31),
            ..land_problem()
        },
        "",
    )
    .await
    .unwrap();
    assert_eq!(road.raise_date, date(2026, 9, 15));

    let updated = as_water
        .update_problem(v1::UpdateProblemRequest {
            problem: Some(v1::Problem {
                name: NAME.into(),
                responsible_leader: "李副县长".into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["responsible_leader".into()],
            }),
            etag: created.etag.clone(),
            reason: "分管领导调整".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.responsible_leader, "李副县长");
    assert_ne!(updated.etag, created.etag);

    let extended = extend(
        &mut as_water,
        NAME,
        date(2026, 10, 15),
        "林地报批需省厅审核",
    )
    .await
    .unwrap();
    assert_eq!(
        (extended.deadline, extended.extension_count),
        (date(2026, 10, 15), 1)
    );
    assert_eq!(
        start(&mut as_water, NAME).await.unwrap().state(),
        v1::ProblemState::InProgress
    );
    let resolved = resolve(&mut as_water, NAME, "林地批复已下达")
        .await
        .unwrap();
    assert_eq!(
        (resolved.state(), resolved.resolution_note.as_str()),
        (v1::ProblemState::Resolved, "林地批复已下达")
    );
    assert!(resolved.resolve_time.is_some());
    let reopened = reopen(&mut as_water, NAME, "批复不含临时用地")
        .await
        .unwrap();
    assert_eq!(reopened.state(), v1::ProblemState::InProgress);
    assert!(reopened.resolution_note.is_empty() && reopened.resolve_time.is_none());
    resolve(&mut as_water, NAME, "临时用地一并批复")
        .await
        .unwrap();
    let closed = close(&mut as_water, NAME).await.unwrap();
    assert_eq!(closed.state(), v1::ProblemState::Closed);
    assert!(closed.close_time.is_some());
    assert_eq!(get(&mut as_water, NAME).await, closed);

    use v1::ProblemAction as A;
    use v1::ProblemState as S;
    let history = revisions(&mut as_water, NAME).await;
    let summary: Vec<_> = history
        .iter()
        .map(|r| {
            (
                r.number,
                r.action(),
                r.from_state(),
                r.to_state(),
                r.reason.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, A::Created, S::Unspecified, S::Open, ""),
            (2, A::Updated, S::Open, S::Open, "分管领导调整"),
            (
                3,
                A::DeadlineExtended,
                S::Open,
                S::Open,
                "林地报批需省厅审核"
            ),
            (4, A::Started, S::Open, S::InProgress, ""),
            (5, A::Resolved, S::InProgress, S::Resolved, "林地批复已下达"),
            (
                6,
                A::Reopened,
                S::Resolved,
                S::InProgress,
                "批复不含临时用地"
            ),
            (
                7,
                A::Resolved,
                S::InProgress,
                S::Resolved,
                "临时用地一并批复"
            ),
            (8, A::Closed, S::Resolved, S::Closed, "现场核实，同意销号"),
        ]
    );
    assert!(history.iter().all(|r| r.actor == "水利局"));
    assert_eq!(history[1].changed_fields, ["responsible_leader"]);
    assert_eq!(
        (history[2].old_deadline, history[2].new_deadline),
        (date(2026, 9, 30), date(2026, 10, 15))
    );

    // Every change is one event, in order, with the problem after it; the retry made none.
    let events = problem_events(&mut stream, 9).await;
    use v1::EventKind as K;
    let kinds: Vec<_> = events
        .iter()
        .map(|e| (e.kind(), e.resource.as_str()))
        .collect();
    let power = "projects/reservoir/problems/power";
    assert_eq!(
        kinds,
        [
            (K::ProblemCreated, NAME),
            (K::ProblemCreated, power),
            (K::ProblemUpdated, NAME),
            (K::ProblemDeadlineExtended, NAME),
            (K::ProblemStarted, NAME),
            (K::ProblemResolved, NAME),
            (K::ProblemReopened, NAME),
            (K::ProblemResolved, NAME),
            (K::ProblemClosed, NAME),
        ]
    );
    assert_eq!(events[2].changed_fields, ["responsible_leader"]);
    assert!(
        events
            .iter()
            .all(|e| e.project == "projects/reservoir" && e.actor == "水利局")
    );
    let Some(v1::event::Detail::ProblemAfter(last)) = &events[8].detail else {
        panic!("{:?}", events[8].detail)
    };
    assert_eq!(last, &closed);

    // The ledger across projects, by each filter.
    let mut as_admin = problems_as(&server, &server.admin_token).await;
    create(
        &mut as_admin,
        "road",
        "enterprise",
        v1::Problem {
            category: v1::ProblemCategory::EnterpriseRequest as i32,
            description: "企业请求协调施工便道".into(),
            responsible_unit: "县自然资源局".into(),
            deadline: date(2026, 9, 10),
            ..land_problem()
        },
        "",
    )
    .await
    .unwrap();
    let all = || v1::ListProblemsRequest {
        parent: "projects/-".into(),
        ..Default::default()
    };
    let enterprise = "projects/road/problems/enterprise";
    assert_eq!(list(&mut as_admin, all()).await, [enterprise, power, NAME]);
    let land_unit = v1::ListProblemsRequest {
        responsible_unit: "县自然资源局".into(),
        ..all()
    };
    assert_eq!(
        list(&mut as_admin, land_unit.clone()).await,
        [enterprise, NAME]
    );
    let overdue = |year, month, day| v1::ListProblemsRequest {
        overdue_as_of: date(year, month, day),
        ..all()
    };
    // The enterprise request's deadline, 10 September, has passed on the 15th; the power
    // problem's (31 October) has not; the closed one is never overdue.
    assert_eq!(
        list(&mut as_admin, overdue(2026, 9, 15)).await,
        [enterprise]
    );
    assert_eq!(
        list(&mut as_admin, overdue(2026, 9, 10)).await,
        Vec::<String>::new()
    );
    assert_eq!(
        list(&mut as_admin, overdue(2026, 11, 1)).await,
        [enterprise, power]
    );
    assert_eq!(
        list(
            &mut as_admin,
            v1::ListProblemsRequest {
                state: v1::ProblemState::Closed as i32,
                ..land_unit
            }
        )
        .await,
        [NAME]
    );
    assert_eq!(
        list(
            &mut as_admin,
            v1::ListProblemsRequest {
                category: v1::ProblemCategory::Power as i32,
                ..all()
            }
        )
        .await,
        [power]
    );
    assert_eq!(
        list(
            &mut as_admin,
            v1::ListProblemsRequest {
                township: "河口镇".into(),
                ..all()
            }
        )
        .await,
        [enterprise]
    );
    assert_eq!(
        list(
            &mut as_admin,
            v1::ListProblemsRequest {
                responsible_leader: "李副县长".into(),
                ..all()
            }
        )
        .await,
        [NAME]
    );
    assert_eq!(
        list(
            &mut as_admin,
            v1::ListProblemsRequest {
                parent: "projects/road".into(),
                ..Default::default()
            }
        )
        .await,
        [enterprise]
    );
    // Pages: one at a time, and a token only with the same filters.
    let first = as_admin
        .list_problems(v1::ListProblemsRequest {
            page_size: 1,
            ..all()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.problems.len(), 1);
    let second = as_admin
        .list_problems(v1::ListProblemsRequest {
            page_size: 2,
            page_token: first.next_page_token.clone(),
            ..all()
        })
        .await
        .unwrap()
        .into_inner();
    let names: Vec<_> = second.problems.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, [power, NAME]);
    assert!(second.next_page_token.is_empty());
    let other_filter = as_admin
        .list_problems(v1::ListProblemsRequest {
            page_token: first.next_page_token,
            category: v1::ProblemCategory::Land as i32,
            ..all()
        })
        .await
        .unwrap_err();
    assert_eq!(other_filter.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&other_filter), ["page_token".to_string()].into());
}

async fn wrong_state_transitions_are_refused(server: TestServer) {
    project(&server, "reservoir", "县水利局", "城关镇").await;
    let mut c = problems_as(&server, &server.admin_token).await;
    let open = create(&mut c, "reservoir", "land", land_problem(), "")
        .await
        .unwrap();
    let refused = |status: tonic::Status, state: &str| {
        assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
        assert_eq!(reason_of(&status), "PROBLEM_STATE");
        assert!(
            status.message().contains(&format!("is {state}")),
            "{}",
            status.message()
        );
        assert_eq!(subjects(&status), [NAME.to_string()].into());
    };
    refused(resolve(&mut c, NAME, "x").await.unwrap_err(), "OPEN");
    refused(reopen(&mut c, NAME, "x").await.unwrap_err(), "OPEN");
    refused(close(&mut c, NAME).await.unwrap_err(), "OPEN");
    start(&mut c, NAME).await.unwrap();
    refused(start(&mut c, NAME).await.unwrap_err(), "IN_PROGRESS");
    refused(reopen(&mut c, NAME, "x").await.unwrap_err(), "IN_PROGRESS");
    resolve(&mut c, NAME, "已批").await.unwrap();
    refused(
        extend(&mut c, NAME, date(2026, 12, 31), "x")
            .await
            .unwrap_err(),
        "RESOLVED",
    );
    refused(resolve(&mut c, NAME, "x").await.unwrap_err(), "RESOLVED");
    let resolved = close(&mut c, NAME).await.unwrap();
    refused(start(&mut c, NAME).await.unwrap_err(), "CLOSED");
    refused(close(&mut c, NAME).await.unwrap_err(), "CLOSED");
    let update = c
        .update_problem(v1::UpdateProblemRequest {
            problem: Some(v1::Problem {
                name: NAME.into(),
                description: "改".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    refused(update, "CLOSED");
    // A stale etag is ABORTED.
    let stale = c
        .start_problem(v1::StartProblemRequest {
            name: NAME.into(),
            etag: open.etag,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    // Nothing of the refusals was written: four revisions (create, start, resolve, close).
    assert_eq!(revisions(&mut c, NAME).await.len(), 4);
    assert_eq!(get(&mut c, NAME).await, resolved);
    let missing = start(&mut c, "projects/reservoir/problems/nope")
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
}

async fn bad_input_names_every_field_and_writes_nothing(server: TestServer) {
    project(&server, "reservoir", "县水利局", "城关镇").await;
    let mut c = problems_as(&server, &server.admin_token).await;
    let fields = |status: tonic::Status| {
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        bad_fields(&status).into_iter().collect::<Vec<_>>()
    };
    let bad = create(
        &mut c,
        "reservoir",
        "Land!",
        v1::Problem {
            category: 0,
            description: " ".into(),
            raise_date: date(2026, 9, 1),
            responsible_unit: String::new(),
            responsible_leader: "领".repeat(101),
            deadline: date(2026, 8, 31),
            blocked_milestone: "projects/other/milestones/start".into(),
            ..Default::default()
        },
        "bad id",
    )
    .await
    .unwrap_err();
    assert_eq!(
        fields(bad),
        [
            "problem.blocked_milestone",
            "problem.category",
            "problem.responsible_leader",
            "problem_id",
            "request_id",
        ]
    );
    // With every part readable, the rules of the whole name every field they refuse.
    let whole = create(
        &mut c,
        "reservoir",
        "land",
        v1::Problem {
            description: " ".into(),
            responsible_unit: String::new(),
            raise_date: date(2026, 9, 16),
            deadline: date(2026, 9, 1),
            ..land_problem()
        },
        "",
    )
    .await
    .unwrap_err();
    assert_eq!(
        fields(whole),
        [
            "problem.deadline",
            "problem.description",
            "problem.raise_date",
            "problem.responsible_unit",
        ]
    );
    let missing_milestone = create(
        &mut c,
        "reservoir",
        "land",
        v1::Problem {
            blocked_milestone: "projects/reservoir/milestones/start".into(),
            ..land_problem()
        },
        "",
    )
    .await
    .unwrap_err();
    assert_eq!(fields(missing_milestone), ["problem.blocked_milestone"]);
    let no_deadline = create(
        &mut c,
        "reservoir",
        "land",
        v1::Problem {
            deadline: None,
            ..land_problem()
        },
        "",
    )
    .await
    .unwrap_err();
    assert_eq!(fields(no_deadline), ["problem.deadline"]);
    let none = list(
        &mut c,
        v1::ListProblemsRequest {
            parent: "projects/-".into(),
            ..Default::default()
        },
    )
    .await;
    assert!(none.is_empty(), "{none:?}");

    let created = create(&mut c, "reservoir", "land", land_problem(), "")
        .await
        .unwrap();
    // An extension needs a reason and a later deadline; both are named.
    let extension = extend(&mut c, NAME, date(2026, 9, 30), " ")
        .await
        .unwrap_err();
    assert_eq!(fields(extension), ["reason"]);
    let earlier = extend(&mut c, NAME, date(2026, 9, 29), "再延")
        .await
        .unwrap_err();
    assert_eq!(fields(earlier), ["deadline"]);
    let no_date = extend(&mut c, "projects/reservoir/x", None, "")
        .await
        .unwrap_err();
    assert_eq!(fields(no_date), ["deadline", "name", "reason"]);
    start(&mut c, NAME).await.unwrap();
    assert_eq!(
        fields(resolve(&mut c, NAME, "").await.unwrap_err()),
        ["resolution_note"]
    );
    resolve(&mut c, NAME, "已批").await.unwrap();
    assert_eq!(
        fields(reopen(&mut c, NAME, "").await.unwrap_err()),
        ["reason"]
    );
    let update = c
        .update_problem(v1::UpdateProblemRequest {
            problem: Some(v1::Problem {
                name: NAME.into(),
                deadline: date(2027, 1, 1),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["deadline".into(), "responsible_unit".into()],
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(fields(update), ["problem.responsible_unit", "update_mask"]);
    let message = c
        .update_problem(v1::UpdateProblemRequest {
            problem: Some(v1::Problem {
                name: NAME.into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["deadline".into()],
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        message.message().contains("ExtendProblemDeadline"),
        "{message:?}"
    );
    let listing = c
        .list_problems(v1::ListProblemsRequest {
            parent: "projects/-".into(),
            page_size: -1,
            state: 99,
            overdue_as_of: date(2026, 2, 30),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(fields(listing), ["overdue_as_of", "page_size", "state"]);
    // Nothing of the refused calls was written.
    let history = revisions(&mut c, NAME).await;
    assert_eq!(history.len(), 3);
    let now = get(&mut c, NAME).await;
    assert_eq!(
        (now.deadline, now.extension_count, now.state()),
        (created.deadline, 0, v1::ProblemState::Resolved)
    );
}

async fn editors_act_through_their_projects_or_their_units(server: TestServer) {
    project(&server, "reservoir", "县水利局", "城关镇").await;
    project(&server, "road", "县交通运输局", "河口镇").await;
    let water = server
        .token("水利局", Role::Editor, &["县水利局"], &[])
        .await;
    let land = server
        .token("自然资源局", Role::Editor, &["县自然资源局"], &[])
        .await;
    let roads = server
        .token("交通局", Role::Editor, &["县交通运输局"], &[])
        .await;
    let township = server.token("城关镇", Role::Editor, &[], &["城关镇"]).await;
    let viewer = server.token("督查室", Role::Viewer, &[], &[]).await;
    let (mut as_water, mut as_land, mut as_roads, mut as_township) = (
        problems_as(&server, &water).await,
        problems_as(&server, &land).await,
        problems_as(&server, &roads).await,
        problems_as(&server, &township).await,
    );
    let denied = |status: tonic::Status| {
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
        status.message().to_string()
    };
    // Raising a problem takes the project's scope, whatever the responsible unit.
    denied(
        create(&mut as_land, "reservoir", "land", land_problem(), "")
            .await
            .unwrap_err(),
    );
    create(&mut as_water, "reservoir", "land", land_problem(), "")
        .await
        .unwrap();
    // The responsible unit answers on a project outside its scope; a third unit may not act,
    // and learns nothing about whether a problem exists.
    let message = denied(start(&mut as_roads, NAME).await.unwrap_err());
    assert!(message.contains("responsible unit"), "{message}");
    let nope = denied(
        start(&mut as_roads, "projects/reservoir/problems/nope")
            .await
            .unwrap_err(),
    );
    assert!(nope.contains("problems/nope"), "{nope}");
    assert_eq!(
        start(&mut as_land, NAME).await.unwrap().state(),
        v1::ProblemState::InProgress
    );
    denied(
        extend(&mut as_roads, NAME, date(2026, 12, 1), "x")
            .await
            .unwrap_err(),
    );
    // The unit may not hand the problem to a unit outside its scope.
    let handed = as_land
        .update_problem(v1::UpdateProblemRequest {
            problem: Some(v1::Problem {
                name: NAME.into(),
                responsible_unit: "县交通运输局".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    denied(handed);
    resolve(&mut as_land, NAME, "林地批复已下达").await.unwrap();
    // Only the raiser (or an ADMIN) confirms: not the unit that resolved it, nor an editor of
    // the project's township.
    let message = denied(close(&mut as_land, NAME).await.unwrap_err());
    assert!(message.contains("水利局"), "{message}");
    denied(close(&mut as_township, NAME).await.unwrap_err());
    // The township's editor acts through the project's scope otherwise.
    reopen(&mut as_township, NAME, "复核未通过").await.unwrap();
    resolve(&mut as_land, NAME, "复核通过").await.unwrap();
    let mut as_viewer = problems_as(&server, &viewer).await;
    assert_eq!(
        start(&mut as_viewer, NAME).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    assert_eq!(
        get(&mut as_viewer, NAME).await.state(),
        v1::ProblemState::Resolved
    );
    close(&mut as_water, NAME).await.unwrap();
    // The refused calls wrote nothing: create, start, resolve, reopen, resolve, close.
    let history = revisions(&mut as_viewer, NAME).await;
    let actors: Vec<_> = history.iter().map(|r| r.actor.as_str()).collect();
    assert_eq!(
        actors,
        [
            "水利局",
            "自然资源局",
            "自然资源局",
            "城关镇",
            "自然资源局",
            "水利局"
        ]
    );

    // A problem of the road project assigned to the water bureau: the water bureau answers
    // it, the land bureau may not.
    let mut as_admin = problems_as(&server, &server.admin_token).await;
    create(
        &mut as_admin,
        "road",
        "water",
        v1::Problem {
            category: v1::ProblemCategory::Water as i32,
            responsible_unit: "县水利局".into(),
            ..land_problem()
        },
        "",
    )
    .await
    .unwrap();
    let road = "projects/road/problems/water";
    denied(start(&mut as_land, road).await.unwrap_err());
    start(&mut as_water, road).await.unwrap();
    assert_eq!(
        start(&mut as_roads, road).await.unwrap_err().code(),
        Code::FailedPrecondition
    );
    resolve(&mut as_roads, road, "供水管线已接通")
        .await
        .unwrap();
    // The admin, not the raiser, may confirm too.
    close(&mut as_admin, road).await.unwrap();
    // A project with problems is deleted only with force, and its problems with it.
    let mut projects = server.projects().await;
    let refused = projects
        .delete_project(v1::DeleteProjectRequest {
            name: "projects/road".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        subjects(&refused).contains("projects/road/problems"),
        "{refused:?}"
    );
    projects
        .delete_project(v1::DeleteProjectRequest {
            name: "projects/road".into(),
            force: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let gone = as_admin
        .get_problem(v1::GetProblemRequest { name: road.into() })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
}

/// The scanner's problem alerts in the log, as (kind, problem, rung, deadline, days overdue).
async fn alerts(
    server: &TestServer,
) -> Vec<(
    v1::EventKind,
    String,
    i32,
    v1::EscalationTarget,
    Option<v1::Date>,
    i32,
)> {
    use prost::Message;
    pipeline::events::log::read(&server.store, 0, 100_000)
        .await
        .unwrap()
        .iter()
        .map(|e| v1::Event::decode(e.payload.clone()).unwrap())
        .filter_map(|e| match (e.kind(), e.detail) {
            (
                kind @ (v1::EventKind::ProblemOverdue | v1::EventKind::ProblemEscalated),
                Some(v1::event::Detail::ProblemAlert(alert)),
            ) => {
                let problem = alert.problem.clone().unwrap();
                assert_eq!(e.actor, "scanner");
                assert_eq!(e.resource, problem.name);
                Some((
                    kind,
                    problem.name,
                    alert.level,
                    alert.escalated_to(),
                    problem.deadline,
                    alert.days_overdue,
                ))
            }
            _ => None,
        })
        .collect()
}

/// Two replicas' scanners at once on `today` (each its own connection pool), then a restart of
/// the server, which scans again at start-up.
async fn scan_twice_and_restart(server: &mut TestServer, year: i32, month: u32, day: u32) {
    let today = chrono::NaiveDate::from_ymd_opt(year, month, day).unwrap();
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let url = server.url.clone();
        tasks.push(tokio::spawn(async move {
            let services = pipeline::api::Services {
                store: pipeline::store::Store::connect(&url).await.unwrap(),
                clock: pipeline::domain::clock::Clock::new(chrono_tz::Asia::Shanghai, Some(today)),
                policy: pipeline::domain::milestone::Policy::default(),
                units: None,
                max_message_bytes: pipeline::api::DEFAULT_MAX_MESSAGE_BYTES,
            };
            pipeline::scanner::scan_once(&services).await.unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    server.restart(today).await;
}

/// The escalation ladder (0, 7 and 15 days by default): each rung raised once per problem and
/// deadline across two replicas and restarts, none for a problem resolved or not yet due, and
/// every rung re-armed by an extension.
async fn overdue_problems_escalate_once_per_rung_and_deadline(mut server: TestServer) {
    // Due 10 September: 5 days overdue on the 15th.
    land_due_september_10(&server).await;
    let mut c = problems_as(&server, &server.admin_token).await;
    // Due on the 15th itself: not overdue until the 16th; resolved before then.
    create(
        &mut c,
        "reservoir",
        "power",
        v1::Problem {
            category: v1::ProblemCategory::Power as i32,
            deadline: date(2026, 9, 15),
            ..land_problem()
        },
        "",
    )
    .await
    .unwrap();
    use v1::EscalationTarget as T;
    use v1::EventKind as K;
    let land = || NAME.to_string();
    let first = (
        K::ProblemOverdue,
        land(),
        0,
        T::ResponsibleUnit,
        date(2026, 9, 10),
        5,
    );
    scan_twice_and_restart(&mut server, 2026, 9, 15).await;
    assert_eq!(alerts(&server).await, std::slice::from_ref(&first));
    // The same day again, and a day later: nothing new for `land`.
    scan_twice_and_restart(&mut server, 2026, 9, 15).await;
    assert_eq!(alerts(&server).await, std::slice::from_ref(&first));
    let mut c = problems_as(&server, &server.admin_token).await;
    let power = "projects/reservoir/problems/power";
    start(&mut c, power).await.unwrap();
    resolve(&mut c, power, "线路已接通").await.unwrap();
    // 7 days overdue on the 17th: the responsible leader; 15 on the 25th: the county leader.
    scan_twice_and_restart(&mut server, 2026, 9, 17).await;
    let leader = (
        K::ProblemEscalated,
        land(),
        1,
        T::ResponsibleLeader,
        date(2026, 9, 10),
        7,
    );
    assert_eq!(alerts(&server).await, [first.clone(), leader.clone()]);
    scan_twice_and_restart(&mut server, 2026, 9, 25).await;
    let county = (
        K::ProblemEscalated,
        land(),
        2,
        T::CountyLeader,
        date(2026, 9, 10),
        15,
    );
    assert_eq!(
        alerts(&server).await,
        [first.clone(), leader.clone(), county.clone()]
    );
    // An extension re-arms the ladder for the new deadline; a scanner that was down for 20
    // days raises every rung it passed, once.
    let mut c = problems_as(&server, &server.admin_token).await;
    extend(&mut c, NAME, date(2026, 10, 5), "省厅审核延期")
        .await
        .unwrap();
    scan_twice_and_restart(&mut server, 2026, 10, 5).await;
    assert_eq!(alerts(&server).await.len(), 3);
    scan_twice_and_restart(&mut server, 2026, 10, 25).await;
    let rearmed = [
        (
            K::ProblemOverdue,
            land(),
            0,
            T::ResponsibleUnit,
            date(2026, 10, 5),
            20,
        ),
        (
            K::ProblemEscalated,
            land(),
            1,
            T::ResponsibleLeader,
            date(2026, 10, 5),
            20,
        ),
        (
            K::ProblemEscalated,
            land(),
            2,
            T::CountyLeader,
            date(2026, 10, 5),
            20,
        ),
    ];
    let all = alerts(&server).await;
    assert_eq!(all[..3], [first, leader, county]);
    assert_eq!(all[3..], rearmed);
    // A resolved problem is not overdue.
    let mut c = problems_as(&server, &server.admin_token).await;
    start(&mut c, NAME).await.unwrap();
    resolve(&mut c, NAME, "已批").await.unwrap();
    extend(&mut c, NAME, date(2026, 12, 1), "x")
        .await
        .unwrap_err();
    scan_twice_and_restart(&mut server, 2026, 12, 31).await;
    assert_eq!(alerts(&server).await.len(), 6);
}

async fn rule_sets(server: &TestServer) -> InvestmentServiceClient<Authed> {
    InvestmentServiceClient::new(server.authed(&server.admin_token).await)
}

/// The land problem due on 10 September, in the reservoir project.
async fn land_due_september_10(server: &TestServer) {
    project(server, "reservoir", "县水利局", "城关镇").await;
    let mut c = problems_as(server, &server.admin_token).await;
    create(
        &mut c,
        "reservoir",
        "land",
        v1::Problem {
            deadline: date(2026, 9, 10),
            ..land_problem()
        },
        "",
    )
    .await
    .unwrap();
}

/// The alert of rung `level` for the land problem due 10 September, `days` overdue.
fn land_alert(
    level: i32,
    days: i32,
) -> (
    v1::EventKind,
    String,
    i32,
    v1::EscalationTarget,
    Option<v1::Date>,
    i32,
) {
    let (kind, target) = match level {
        0 => (
            v1::EventKind::ProblemOverdue,
            v1::EscalationTarget::ResponsibleUnit,
        ),
        1 => (
            v1::EventKind::ProblemEscalated,
            v1::EscalationTarget::ResponsibleLeader,
        ),
        _ => (
            v1::EventKind::ProblemEscalated,
            v1::EscalationTarget::CountyLeader,
        ),
    };
    (
        kind,
        NAME.to_string(),
        level,
        target,
        date(2026, 9, 10),
        days,
    )
}

/// The escalation ladder is part of each light rule set revision: `default@1` has 0, 7 and 15
/// days; a county's set with 0, 3 and 5 changes nothing while inactive, and once activated the
/// scanner escalates by it. Bad ladders are refused naming the field, with nothing written; a
/// client that leaves the field empty gets the default ladder.
async fn the_active_rule_set_decides_the_escalation_ladder(mut server: TestServer) {
    let mut rules = rule_sets(&server).await;
    let default = rules
        .get_light_rule_set(v1::GetLightRuleSetRequest {
            name: "lightRuleSets/default".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(default.problem_escalation_days, [0, 7, 15]);
    assert!(default.active);
    let publish = |id: &str, days: Vec<i32>| v1::CreateLightRuleSetRequest {
        light_rule_set_id: id.into(),
        light_rule_set: Some(v1::LightRuleSet {
            display_name: "县问题督办规则".into(),
            problem_escalation_days: days,
            ..default.clone()
        }),
        request_id: String::new(),
    };
    let fields = |status: tonic::Status| {
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        bad_fields(&status).into_iter().collect::<Vec<_>>()
    };
    for days in [
        vec![1, 2],
        vec![5, 3, 7],
        vec![-1, 0, 0],
        vec![0, 0, 400],
        vec![0, 7, 15, 30],
    ] {
        let refused = rules
            .create_light_rule_set(publish("fast", days.clone()))
            .await
            .unwrap_err();
        assert_eq!(
            fields(refused),
            ["light_rule_set.problem_escalation_days"],
            "{days:?}"
        );
    }
    // With another bad field, one answer names both.
    let mut both = publish("fast", vec![5, 3, 7]);
    if let Some(set) = both.light_rule_set.as_mut() {
        set.report_due_day = 29;
    }
    assert_eq!(
        fields(rules.create_light_rule_set(both).await.unwrap_err()),
        [
            "light_rule_set.problem_escalation_days",
            "light_rule_set.report_due_day"
        ]
    );
    let names = |sets: v1::ListLightRuleSetsResponse| -> Vec<String> {
        sets.light_rule_sets.into_iter().map(|s| s.name).collect()
    };
    let listed = rules
        .list_light_rule_sets(v1::ListLightRuleSetsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(names(listed), ["lightRuleSets/default@1"]);

    // A client written before the field publishes the default ladder.
    let legacy = rules
        .create_light_rule_set(publish("legacy", Vec::new()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(legacy.problem_escalation_days, [0, 7, 15]);
    let fast = rules
        .create_light_rule_set(publish("fast", vec![0, 3, 5]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fast.name, "lightRuleSets/fast@1");
    assert_eq!(fast.problem_escalation_days, [0, 3, 5]);
    assert!(!fast.active);

    // 5 days overdue on the 15th: the responsible unit only, under default@1.
    land_due_september_10(&server).await;
    scan_twice_and_restart(&mut server, 2026, 9, 15).await;
    assert_eq!(alerts(&server).await, [land_alert(0, 5)]);
    // Under fast@1, 5 days reach the responsible leader (3) and the county leader (5), once.
    let mut rules = rule_sets(&server).await;
    rules
        .activate_light_rule_set(v1::ActivateLightRuleSetRequest {
            name: "lightRuleSets/fast".into(),
        })
        .await
        .unwrap();
    scan_twice_and_restart(&mut server, 2026, 9, 15).await;
    let all = [land_alert(0, 5), land_alert(1, 5), land_alert(2, 5)];
    assert_eq!(alerts(&server).await, all);
    scan_twice_and_restart(&mut server, 2026, 9, 16).await;
    assert_eq!(alerts(&server).await, all);
}

/// `serve --problem-escalation-days` at start: the active set's own ladder changes nothing;
/// another is published as the active set's next revision, named in its description, and
/// activated, and the scanner escalates by it.
async fn the_ladder_flag_publishes_a_revision_at_start(mut server: TestServer) {
    use pipeline::domain::problem::EscalationLadder;
    use pipeline::service::investment::{RuleFlags, apply_rule_flags};
    let clock = pipeline::domain::clock::Clock::new(chrono_tz::Asia::Shanghai, Some(server.today));
    let flag = |ladder: &str| RuleFlags {
        problem_escalation: Some(EscalationLadder::parse(ladder).unwrap()),
        ..RuleFlags::default()
    };
    let same = apply_rule_flags(&server.store, &clock, flag("0,7,15"))
        .await
        .unwrap();
    assert_eq!(same, None);
    let applied = apply_rule_flags(&server.store, &clock, flag("0,3,5"))
        .await
        .unwrap();
    assert_eq!(applied.as_deref(), Some("lightRuleSets/default@2"));
    let again = apply_rule_flags(&server.store, &clock, flag("0,3,5"))
        .await
        .unwrap();
    assert_eq!(again, None);
    let published = rule_sets(&server)
        .await
        .get_light_rule_set(v1::GetLightRuleSetRequest {
            name: "lightRuleSets/default@2".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(published.active);
    assert_eq!(published.problem_escalation_days, [0, 3, 5]);
    assert_eq!(
        (
            published.milestone_tolerance_days,
            published.warning_horizon_days
        ),
        (30, 14)
    );
    assert!(
        published
            .description
            .ends_with("problem escalation ladder 0,3,5 days"),
        "{}",
        published.description
    );
    assert_eq!(published.publisher, "startup");

    land_due_september_10(&server).await;
    scan_twice_and_restart(&mut server, 2026, 9, 15).await;
    assert_eq!(
        alerts(&server).await,
        [land_alert(0, 5), land_alert(1, 5), land_alert(2, 5)]
    );
}

/// `serve --units-file`: the county's departments and townships, one a line. With the list a
/// responsible unit outside it is refused on create and on an update that sets it, named with
/// every other bad field, nothing written; without it any unit is accepted.
async fn responsible_units_come_from_the_county_list(mut server: TestServer) {
    use pipeline::config::load_units;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("units.txt");
    std::fs::write(
        &path,
        "# 县直部门\n县水利局\n  县自然资源局  \n\n# 乡镇\n城关镇\n",
    )
    .unwrap();
    let units = load_units(&path).unwrap();
    assert_eq!(units.len(), 3);
    // An unreadable file, or a name over the API's bound, fails the start naming the file.
    let missing = format!(
        "{:#}",
        load_units(&dir.path().join("none.txt")).unwrap_err()
    );
    assert!(missing.contains("none.txt"), "{missing}");
    let long = dir.path().join("long.txt");
    std::fs::write(&long, format!("县水利局\n{}\n", "局".repeat(101))).unwrap();
    let too_long = format!("{:#}", load_units(&long).unwrap_err());
    assert!(
        too_long.contains("long.txt") && too_long.contains("line 2"),
        "{too_long}"
    );

    project(&server, "reservoir", "县水利局", "城关镇").await;
    server.restart_with_units(Some(units)).await;
    let mut c = problems_as(&server, &server.admin_token).await;
    let fields = |status: &tonic::Status| {
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        bad_fields(status).into_iter().collect::<Vec<_>>()
    };
    let unknown = create(
        &mut c,
        "reservoir",
        "land",
        v1::Problem {
            responsible_unit: "县交通运输局".into(),
            description: " ".into(),
            deadline: date(2026, 8, 31),
            ..land_problem()
        },
        "",
    )
    .await
    .unwrap_err();
    assert_eq!(
        fields(&unknown),
        [
            "problem.deadline",
            "problem.description",
            "problem.responsible_unit"
        ]
    );
    assert!(
        unknown
            .message()
            .contains("\"县交通运输局\" is not one of the county's 3 configured units"),
        "{unknown:?}"
    );
    let everywhere = v1::ListProblemsRequest {
        parent: "projects/-".into(),
        ..Default::default()
    };
    assert!(list(&mut c, everywhere.clone()).await.is_empty());
    let created = create(&mut c, "reservoir", "land", land_problem(), "")
        .await
        .unwrap();
    assert_eq!(created.responsible_unit, "县自然资源局");

    let set_unit = |unit: &str| v1::UpdateProblemRequest {
        problem: Some(v1::Problem {
            name: NAME.into(),
            responsible_unit: unit.into(),
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["responsible_unit".into()],
        }),
        reason: "改由乡镇牵头".into(),
        ..Default::default()
    };
    let refused = c
        .update_problem(set_unit("县交通运输局"))
        .await
        .unwrap_err();
    assert_eq!(fields(&refused), ["problem.responsible_unit"]);
    assert_eq!(get(&mut c, NAME).await, created);
    assert_eq!(revisions(&mut c, NAME).await.len(), 1);
    let moved = c
        .update_problem(set_unit("城关镇"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(moved.responsible_unit, "城关镇");
    // An update that leaves the unit alone is not checked against the list.
    let leader = c
        .update_problem(v1::UpdateProblemRequest {
            problem: Some(v1::Problem {
                name: NAME.into(),
                responsible_leader: "李副县长".into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["responsible_leader".into()],
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(leader.responsible_unit, "城关镇");

    // Without the list, any unit.
    server.restart_with_units(None).await;
    let mut c = problems_as(&server, &server.admin_token).await;
    create(
        &mut c,
        "reservoir",
        "road",
        v1::Problem {
            responsible_unit: "县交通运输局".into(),
            ..land_problem()
        },
        "",
    )
    .await
    .unwrap();
    assert_eq!(list(&mut c, everywhere).await.len(), 2);
}

async fn milestone(server: &TestServer, name: &str, day: Option<v1::Date>) -> v1::Milestone {
    server
        .milestones()
        .await
        .get_milestone(v1::GetMilestoneRequest {
            name: name.into(),
            status_date: day,
        })
        .await
        .unwrap()
        .into_inner()
}

/// The names of the milestones ListMilestones answers for `filter` on `day`.
async fn listed(server: &TestServer, filter: &str, day: Option<v1::Date>) -> Vec<String> {
    server
        .milestones()
        .await
        .list_milestones(v1::ListMilestonesRequest {
            parent: "projects/-".into(),
            filter: filter.into(),
            status_date: day,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .milestones
        .into_iter()
        .map(|m| m.name)
        .collect()
}

/// The MILESTONE_AT_RISK events in the log, as (milestone, reason, open problem).
async fn at_risk_alerts(server: &TestServer) -> Vec<(String, String, String)> {
    use prost::Message;
    pipeline::events::log::read(&server.store, 0, 100_000)
        .await
        .unwrap()
        .iter()
        .map(|e| v1::Event::decode(e.payload.clone()).unwrap())
        .filter(|e| e.kind() == v1::EventKind::MilestoneAtRisk)
        .map(|e| {
            let Some(v1::event::Detail::MilestoneChange(change)) = e.detail else {
                panic!("an alert without its milestone: {e:?}")
            };
            let after = change.milestone_after.unwrap();
            (after.name, change.reason, after.open_problem)
        })
        .collect()
}

/// A trial production due 25 September (10 days after the server's 15 September, inside the
/// 14-day horizon) with an open problem linked to it is AT_RISK, YELLOW, naming the problem, in
/// GetMilestone, ListMilestones' filters and the scanner's alert (once); resolving the problem
/// releases it and reopening blocks it again. A milestone further out shows the problem but
/// stays ON_TRACK, and a problem linked to another milestone does not count.
async fn a_linked_open_problem_puts_its_milestone_at_risk(mut server: TestServer) {
    project(&server, "reservoir", "县水利局", "城关镇").await;
    let mut milestones = server.milestones().await;
    for (id, kind, day) in [
        ("trial", v1::MilestoneKind::TrialProduction, 25),
        ("later", v1::MilestoneKind::Custom, 30),
    ] {
        let baseline = if id == "later" {
            date(2026, 10, day)
        } else {
            date(2026, 9, day)
        };
        milestones
            .create_milestone(v1::CreateMilestoneRequest {
                parent: "projects/reservoir".into(),
                milestone_id: id.into(),
                milestone: Some(v1::Milestone {
                    kind: kind as i32,
                    title: format!("节点{id}"),
                    baseline_date: baseline,
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let trial = "projects/reservoir/milestones/trial";
    let later = "projects/reservoir/milestones/later";
    let before = milestone(&server, trial, None).await;
    assert_eq!(
        (
            before.status(),
            before.light(),
            before.open_problem.as_str()
        ),
        (v1::MilestoneStatus::OnTrack, v1::AlertLight::Green, "")
    );
    let mut c = problems_as(&server, &server.admin_token).await;
    // Two open problems on the trial: the one due first is named; one on `later`.
    for (id, deadline, blocked) in [
        ("power", date(2026, 9, 20), trial),
        ("land", date(2026, 9, 30), trial),
        ("road", date(2026, 9, 30), later),
    ] {
        create(
            &mut c,
            "reservoir",
            id,
            v1::Problem {
                deadline,
                blocked_milestone: blocked.into(),
                ..land_problem()
            },
            "",
        )
        .await
        .unwrap();
    }
    let power = "projects/reservoir/problems/power";
    let blocked = milestone(&server, trial, None).await;
    assert_eq!(
        (
            blocked.status(),
            blocked.light(),
            blocked.open_problem.as_str()
        ),
        (v1::MilestoneStatus::AtRisk, v1::AlertLight::Yellow, power)
    );
    assert_eq!(
        blocked.light_reason,
        "due in 10 days with problem projects/reservoir/problems/power still open (问题未解决), \
         within the 14-day warning horizon: YELLOW by rule milestone-at-risk default@1"
    );
    // 45 days ahead: outside the horizon, so ON_TRACK, but the problem is shown.
    let far = milestone(&server, later, None).await;
    assert_eq!(
        (far.status(), far.light(), far.open_problem.as_str()),
        (
            v1::MilestoneStatus::OnTrack,
            v1::AlertLight::Green,
            "projects/reservoir/problems/road"
        )
    );
    // The list's SQL agrees, also on an earlier status date (on 10 September the trial is 15
    // days out, outside the horizon).
    assert_eq!(listed(&server, "status = AT_RISK", None).await, [trial]);
    assert_eq!(listed(&server, "light = YELLOW", None).await, [trial]);
    assert_eq!(
        listed(&server, "status = ON_TRACK", None).await,
        [later.to_string()]
    );
    assert!(
        listed(&server, "status = AT_RISK", date(2026, 9, 10))
            .await
            .is_empty()
    );
    let page = server
        .milestones()
        .await
        .list_milestones(v1::ListMilestonesRequest {
            parent: "projects/reservoir".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let shown: Vec<(&str, &str)> = page
        .milestones
        .iter()
        .map(|m| (m.name.as_str(), m.open_problem.as_str()))
        .collect();
    assert_eq!(
        shown,
        [(trial, power), (later, "projects/reservoir/problems/road")]
    );
    // The scanner alerts once, naming the problem, across restarts.
    scan_twice_and_restart(&mut server, 2026, 9, 15).await;
    scan_twice_and_restart(&mut server, 2026, 9, 16).await;
    let expected = (
        trial.to_string(),
        "milestone due 2026-09-25 with problem projects/reservoir/problems/power still open"
            .to_string(),
        power.to_string(),
    );
    assert_eq!(
        at_risk_alerts(&server).await,
        std::slice::from_ref(&expected)
    );
    // Resolving `power` leaves `land` open; resolving both releases the milestone.
    let mut c = problems_as(&server, &server.admin_token).await;
    start(&mut c, power).await.unwrap();
    resolve(&mut c, power, "临时线路已接通").await.unwrap();
    let still = milestone(&server, trial, None).await;
    assert_eq!(
        (still.status(), still.open_problem.as_str()),
        (v1::MilestoneStatus::AtRisk, NAME)
    );
    start(&mut c, NAME).await.unwrap();
    resolve(&mut c, NAME, "用地批复已下达").await.unwrap();
    let released = milestone(&server, trial, None).await;
    assert_eq!(
        (
            released.status(),
            released.light(),
            released.open_problem.as_str()
        ),
        (v1::MilestoneStatus::OnTrack, v1::AlertLight::Green, "")
    );
    assert_eq!(
        released.light_reason,
        "on schedule (按期): GREEN by rule milestone-tolerance default@1"
    );
    assert!(listed(&server, "status = AT_RISK", None).await.is_empty());
    // Sent back: at risk again (the alert stays once per baseline).
    reopen(&mut c, NAME, "批复范围不含取土场").await.unwrap();
    let again = milestone(&server, trial, None).await;
    assert_eq!(
        (again.status(), again.open_problem.as_str()),
        (v1::MilestoneStatus::AtRisk, NAME)
    );
    scan_twice_and_restart(&mut server, 2026, 9, 17).await;
    assert_eq!(at_risk_alerts(&server).await, [expected]);
}

/// Each ranking row's problem indicators, as (unit, on-time rate, average days overdue, score
/// of the average), for the units that have them measured.
async fn problem_rankings(
    server: &TestServer,
    dimension: v1::RankingDimension,
    day: Option<v1::Date>,
) -> Vec<(String, f64, f64, f64)> {
    let ranking = v1::report_service_client::ReportServiceClient::new(
        server.authed(&server.admin_token).await,
    )
    .list_rankings(v1::ListRankingsRequest {
        dimension: dimension as i32,
        status_date: day,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner();
    let names: Vec<&str> = ranking
        .weights
        .iter()
        .map(|w| w.indicator.as_str())
        .collect();
    assert_eq!(
        names[7..],
        [
            "problems_closed_on_time_rate",
            "problems_average_days_overdue"
        ]
    );
    let mut rows: Vec<(String, f64, f64, f64)> = ranking
        .rows
        .iter()
        .filter(|r| r.indicators[7].measured)
        .map(|r| {
            assert!(r.indicators[8].measured);
            (
                r.unit.clone(),
                r.indicators[7].value,
                r.indicators[8].value,
                r.indicators[8].score,
            )
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

/// The summary's unresolved problems by category, as (category, open, overdue).
async fn problem_summary(
    server: &TestServer,
    day: Option<v1::Date>,
) -> Vec<(v1::ProblemCategory, i32, i32)> {
    v1::report_service_client::ReportServiceClient::new(server.authed(&server.admin_token).await)
        .get_pipeline_summary(v1::GetPipelineSummaryRequest {
            status_date: day,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .problems_by_category
        .iter()
        .map(|c| (c.category(), c.open_count, c.overdue_count))
        .collect()
}

/// Rankings per responsible unit and leader, hand-computed. Raised on 1 September: A (land
/// bureau, due 5 Sep, resolved 4 Sep), B (land bureau, due 10 Sep, resolved 12 Sep: 2 days
/// late), C (land bureau, due 20 Sep, resolved 12 Sep: not yet judged on the 15th), D (power
/// company, due 8 Sep, never resolved), E (城关镇, the reservoir's township, due 12 Sep,
/// resolved 12 Sep). Leaders: 王副县长 for all but D (李副县长).
async fn rankings_count_problems_by_responsible_unit(mut server: TestServer) {
    server
        .restart(chrono::NaiveDate::from_ymd_opt(2026, 9, 1).unwrap())
        .await;
    project(&server, "reservoir", "县水利局", "城关镇").await;
    project(&server, "plant", "县工信局", "太和镇").await;
    let mut c = problems_as(&server, &server.admin_token).await;
    use v1::ProblemCategory as Cat;
    for (id, project, unit, leader, category, deadline) in [
        ("a", "reservoir", "县自然资源局", "王副县长", Cat::Land, 5),
        ("b", "reservoir", "县自然资源局", "王副县长", Cat::Land, 10),
        ("c", "plant", "县自然资源局", "王副县长", Cat::Land, 20),
        ("d", "plant", "县供电公司", "李副县长", Cat::Power, 8),
        ("e", "reservoir", "城关镇", "王副县长", Cat::Demolition, 12),
    ] {
        create(
            &mut c,
            project,
            id,
            v1::Problem {
                category: category as i32,
                responsible_unit: unit.into(),
                responsible_leader: leader.into(),
                deadline: date(2026, 9, deadline),
                ..land_problem()
            },
            "",
        )
        .await
        .unwrap();
    }
    let resolve_on = async |server: &mut TestServer, day: u32, ids: &[&str]| {
        server
            .restart(chrono::NaiveDate::from_ymd_opt(2026, 9, day).unwrap())
            .await;
        let mut c = problems_as(server, &server.admin_token).await;
        for id in ids {
            let (project, id) = id.split_once('/').unwrap();
            let name = format!("projects/{project}/problems/{id}");
            start(&mut c, &name).await.unwrap();
            let resolved = resolve(&mut c, &name, "已办结").await.unwrap();
            assert_eq!(resolved.resolve_date, date(2026, 9, day as i32));
        }
    };
    resolve_on(&mut server, 4, &["reservoir/a"]).await;
    resolve_on(&mut server, 12, &["reservoir/b", "plant/c", "reservoir/e"]).await;
    server
        .restart(chrono::NaiveDate::from_ymd_opt(2026, 9, 15).unwrap())
        .await;
    use v1::RankingDimension as D;
    let row = |unit: &str, rate: f64, days: f64, score: f64| (unit.to_string(), rate, days, score);
    // On the 15th: the land bureau A on time, B 2 days late (C not due yet): 1/2, 2/2 = 1 day,
    // score 100 − 5 = 95. The power company: D 7 days overdue and counting: 0/1, 7 → 65.
    // 城关镇 is a township (the reservoir's), so it is ranked among townships, not departments.
    assert_eq!(
        problem_rankings(&server, D::Department, None).await,
        [
            row("县供电公司", 0.0, 7.0, 65.0),
            row("县自然资源局", 0.5, 1.0, 95.0)
        ]
    );
    assert_eq!(
        problem_rankings(&server, D::Township, None).await,
        [row("城关镇", 1.0, 0.0, 100.0)]
    );
    // 王副县长: A, B, E → 2/3 on time, 2/3 of a day → 96.67.
    assert_eq!(
        problem_rankings(&server, D::Leader, None).await,
        [
            row("李副县长", 0.0, 7.0, 65.0),
            row("王副县长", 0.67, 0.67, 96.67)
        ]
    );
    // The power company has no project and still has a row, ranked on its problems alone.
    let departments = v1::report_service_client::ReportServiceClient::new(
        server.authed(&server.admin_token).await,
    )
    .list_rankings(v1::ListRankingsRequest {
        dimension: D::Department as i32,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner();
    let power = departments
        .rows
        .iter()
        .find(|r| r.unit == "县供电公司")
        .unwrap();
    assert_eq!((power.project_count, power.total_score), (0, 32.5));
    // On 11 September B was still open (1 day late), D 3 days; E not due yet.
    let eleventh = date(2026, 9, 11);
    assert_eq!(
        problem_rankings(&server, D::Department, eleventh).await,
        [
            row("县供电公司", 0.0, 3.0, 85.0),
            row("县自然资源局", 0.5, 0.5, 97.5)
        ]
    );
    assert!(
        problem_rankings(&server, D::Township, eleventh)
            .await
            .is_empty()
    );
    // The summary: on the 15th only D is unresolved (and overdue); on the 11th B (overdue) and
    // C were, E (not yet due) and D.
    assert_eq!(problem_summary(&server, None).await, [(Cat::Power, 1, 1)]);
    assert_eq!(
        problem_summary(&server, eleventh).await,
        [
            (Cat::Land, 2, 1),
            (Cat::Demolition, 1, 0),
            (Cat::Power, 1, 1)
        ]
    );
    // Before anything was raised: nothing.
    assert!(problem_summary(&server, date(2026, 8, 31)).await.is_empty());
}

both_backends!(
    a_linked_open_problem_puts_its_milestone_at_risk,
    rankings_count_problems_by_responsible_unit,
    the_active_rule_set_decides_the_escalation_ladder,
    the_ladder_flag_publishes_a_revision_at_start,
    responsible_units_come_from_the_county_list,
    overdue_problems_escalate_once_per_rung_and_deadline,
    life_cycle_with_revisions_and_events,
    wrong_state_transitions_are_refused,
    bad_input_names_every_field_and_writes_nothing,
    editors_act_through_their_projects_or_their_units,
);
