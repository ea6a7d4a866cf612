//! ProjectService end to end, on SQLite and PostgreSQL: the server runs for real and the
//! generated client calls it.

mod common;

use std::collections::HashSet;

use pipeline::events::outbox as events;
use pipeline::proto::v1;
use pipeline::proto::v1::project_service_client::ProjectServiceClient;
use prost_types::FieldMask;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;

use common::{Authed, TestServer};
use pipeline::domain::access::Role;

type Client = ProjectServiceClient<Authed>;

fn sample(display_name: &str) -> v1::Project {
    v1::Project {
        display_name: display_name.into(),
        description: "县级重点项目".into(),
        category: v1::ProjectCategory::Water as i32,
        investment_type: v1::InvestmentType::Government as i32,
        township: "城关镇".into(),
        department: "县水利局".into(),
        owner: "县水务投资公司".into(),
        leader: "张副县长".into(),
        total_investment_yuan: 1_200_000_000,
        annual_planned_investment_yuan: 300_000_000,
        completed_investment_yuan: 0,
        ..Default::default()
    }
}

async fn create(client: &mut Client, id: &str, project: v1::Project) -> v1::Project {
    client
        .create_project(v1::CreateProjectRequest {
            project: Some(project),
            project_id: id.into(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("create {id}: {s:?}"))
        .into_inner()
}

/// The ErrorInfo reason and the BadRequest field paths of an error.
fn details(status: &Status) -> (String, Vec<String>) {
    let details = status.get_error_details();
    let info = details.error_info().expect("every error carries ErrorInfo");
    assert_eq!(info.domain, "pipeline.v1");
    let fields = details
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default();
    (info.reason.clone(), fields)
}

async fn all_events(server: &TestServer) -> Vec<v1::Event> {
    events::read_after(server.store.connection(), 0, 1_000_000)
        .await
        .expect("read the event log")
}

fn kinds(events: &[v1::Event]) -> Vec<v1::EventKind> {
    events.iter().map(|e| e.kind()).collect()
}

/// Sequence numbers run 1..=n without gaps, and each transaction's end marker is its last.
fn assert_gap_free(events: &[v1::Event]) {
    for (index, event) in events.iter().enumerate() {
        assert_eq!(
            event.sequence,
            index as i64 + 1,
            "sequence numbers have a gap"
        );
        assert!(event.transaction_end_sequence >= event.sequence);
    }
}

async fn crud_round_trip(server: TestServer) {
    let mut client = server.projects().await;
    let created = create(&mut client, "water-network-1", sample("县水网（一期）工程")).await;
    assert_eq!(created.name, "projects/water-network-1");
    assert_eq!(created.stage(), v1::ProjectStage::Concept);
    assert!(!created.uid.is_empty() && !created.etag.is_empty());
    assert_eq!(created.display_name, "县水网（一期）工程");
    assert_eq!(created.total_investment_yuan, 1_200_000_000);

    let fetched = client
        .get_project(v1::GetProjectRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fetched, created);

    // Generated id, initial stage, project code.
    let generated = client
        .create_project(v1::CreateProjectRequest {
            project: Some(v1::Project {
                project_code: "2209-510922-04-01-123456".into(),
                ..sample("绵遂内铁路")
            }),
            initial_stage: v1::ProjectStage::Preparation as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(generated.name.starts_with("projects/"));
    assert_eq!(generated.stage(), v1::ProjectStage::Preparation);
    assert_eq!(generated.project_code, "2209-510922-04-01-123456");

    // Update with a mask changes only the masked field; an absent mask takes populated ones.
    let updated = client
        .update_project(v1::UpdateProjectRequest {
            project: Some(v1::Project {
                name: created.name.clone(),
                completed_investment_yuan: 50_000_000,
                township: "ignored because not in the mask".into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["completed_investment_yuan".into()],
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.completed_investment_yuan, 50_000_000);
    assert_eq!(updated.township, "城关镇");
    assert_ne!(updated.etag, created.etag);
    let updated = client
        .update_project(v1::UpdateProjectRequest {
            project: Some(v1::Project {
                name: created.name.clone(),
                leader: "李县长".into(),
                etag: updated.etag.clone(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.leader, "李县长");
    assert_eq!(updated.completed_investment_yuan, 50_000_000);
    // `*` replaces every mutable field, so clearing the owner is possible.
    let mut replacement = sample("县水网（一期）工程");
    replacement.name = created.name.clone();
    replacement.owner = String::new();
    let replaced = client
        .update_project(v1::UpdateProjectRequest {
            project: Some(replacement),
            update_mask: Some(FieldMask {
                paths: vec!["*".into()],
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(replaced.owner, "");
    assert_eq!(replaced.leader, "张副县长");
    assert_eq!(replaced.completed_investment_yuan, 0);

    // Prerequisites under the project.
    let land = client
        .create_prerequisite(v1::CreatePrerequisiteRequest {
            parent: created.name.clone(),
            prerequisite_id: "land".into(),
            prerequisite: Some(v1::Prerequisite {
                kind: v1::PrerequisiteKind::Land as i32,
                due_date: Some(v1::Date {
                    year: 2026,
                    month: 10,
                    day: 10,
                }),
                note: "用地预审".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(land.name, "projects/water-network-1/prerequisites/land");
    assert_eq!(land.state(), v1::PrerequisiteState::NotStarted);
    let land = client
        .update_prerequisite(v1::UpdatePrerequisiteRequest {
            prerequisite: Some(v1::Prerequisite {
                name: land.name.clone(),
                state: v1::PrerequisiteState::Done as i32,
                etag: land.etag.clone(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(land.state(), v1::PrerequisiteState::Done);
    assert_eq!(land.note, "用地预审");
    let listed = client
        .list_prerequisites(v1::ListPrerequisitesRequest {
            parent: created.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.prerequisites, vec![land.clone()]);
    assert!(listed.next_page_token.is_empty());

    // A project with children is not deleted without force.
    let err = client
        .delete_project(v1::DeleteProjectRequest {
            name: created.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(details(&err).0, "PROJECT_HAS_CHILDREN");
    client
        .delete_prerequisite(v1::DeletePrerequisiteRequest {
            name: land.name.clone(),
            etag: land.etag.clone(),
        })
        .await
        .unwrap();
    client
        .delete_project(v1::DeleteProjectRequest {
            name: created.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let err = client
        .get_project(v1::GetProjectRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(details(&err).0, "RESOURCE_NOT_FOUND");

    // Force deletes children and project together.
    let other = create(&mut client, "reservoir", sample("祠堂湾水库")).await;
    for id in ["eia", "permit"] {
        client
            .create_prerequisite(v1::CreatePrerequisiteRequest {
                parent: other.name.clone(),
                prerequisite_id: id.into(),
                prerequisite: Some(v1::Prerequisite {
                    kind: v1::PrerequisiteKind::EnvironmentalAssessment as i32,
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    client
        .delete_project(v1::DeleteProjectRequest {
            name: other.name.clone(),
            force: true,
            etag: other.etag.clone(),
        })
        .await
        .unwrap();
    let err = client
        .list_prerequisites(v1::ListPrerequisitesRequest {
            parent: other.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    let log = all_events(&server).await;
    assert_gap_free(&log);
    use v1::EventKind::*;
    assert_eq!(
        kinds(&log),
        vec![
            ProjectCreated,
            ProjectCreated,
            ProjectUpdated,
            ProjectUpdated,
            ProjectUpdated,
            PrerequisiteCreated,
            PrerequisiteUpdated,
            PrerequisiteDeleted,
            ProjectDeleted,
            ProjectCreated,
            PrerequisiteCreated,
            PrerequisiteCreated,
            ProjectDeleted,
        ]
    );
    assert_eq!(log[2].changed_fields, vec!["completed_investment_yuan"]);
    assert_eq!(log[6].changed_fields, vec!["state"]);
    assert_eq!(log[0].project, "projects/water-network-1");
    assert_eq!(
        log[5].resource,
        "projects/water-network-1/prerequisites/land"
    );
    assert_eq!(log[0].actor, "test-admin", "the actor is the token's name");
}

async fn validation_names_every_bad_field(server: TestServer) {
    let mut client = server.projects().await;
    let err = client
        .create_project(v1::CreateProjectRequest {
            project: Some(v1::Project {
                display_name: "   ".into(),
                category: 99,
                investment_type: 0,
                township: "x".repeat(101),
                department: String::new(),
                total_investment_yuan: -5,
                project_code: "代码".into(),
                ..Default::default()
            }),
            project_id: "Bad_Id".into(),
            initial_stage: v1::ProjectStage::Suspended as i32,
            request_id: "has space".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let (reason, fields) = details(&err);
    assert_eq!(reason, "INVALID_FIELDS");
    let fields: HashSet<String> = fields.into_iter().collect();
    for expected in [
        "project.display_name",
        "project.category",
        "project.investment_type",
        "project.township",
        "project.department",
        "project.total_investment_yuan",
        "project.project_code",
        "project_id",
        "initial_stage",
        "request_id",
    ] {
        assert!(
            fields.contains(expected),
            "{expected} missing from {fields:?}"
        );
    }

    let err = client
        .create_project(v1::CreateProjectRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(details(&err).1.contains(&"project".to_string()));

    let project = create(&mut client, "p1", sample("琴泉片区有机更新")).await;
    let err = client
        .update_project(v1::UpdateProjectRequest {
            project: Some(v1::Project {
                name: project.name.clone(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["colour".into(), "stage".into()],
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(details(&err).1, vec!["update_mask", "update_mask"]);

    let err = client
        .change_project_stage(v1::ChangeProjectStageRequest {
            name: project.name.clone(),
            stage: v1::ProjectStage::Reserve as i32,
            reason: "ready".into(),
            effective_date: Some(v1::Date {
                year: 2026,
                month: 2,
                day: 30,
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(details(&err).1, vec!["effective_date"]);

    let err = client
        .change_project_stage(v1::ChangeProjectStageRequest {
            name: project.name.clone(),
            stage: v1::ProjectStage::Reserve as i32,
            reason: "ready".into(),
            effective_date: Some(v1::Date {
                year: 2027,
                month: 1,
                day: 1,
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        details(&err).1,
        vec!["effective_date"],
        "future dates are refused"
    );

    for (page_size, token, filter, order_by, field) in [
        (-1, "", "", "", "page_size"),
        (0, "not-a-token", "", "", "page_token"),
        (0, "", "colour = red", "", "filter"),
        (0, "", "stage = FLYING", "", "filter"),
        (0, "", "", "budget", "order_by"),
    ] {
        let err = client
            .list_projects(v1::ListProjectsRequest {
                page_size,
                page_token: token.into(),
                filter: filter.into(),
                order_by: order_by.into(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{field}");
        assert_eq!(details(&err).1, vec![field.to_string()]);
    }

    // A token forged with the right fingerprint but a key of the wrong type is refused too.
    use pipeline::api::pagination;
    let print = pagination::fingerprint(&[
        &format!("{:?}", pipeline::store::projects::ProjectFilter::default()),
        "display_name",
    ]);
    let forged = pagination::encode(
        &print,
        &pipeline::store::Cursor {
            key: pipeline::store::SortKey::Int(5),
            id: "x".into(),
        },
    );
    let err = client
        .list_projects(v1::ListProjectsRequest {
            page_token: forged,
            order_by: "display_name".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(details(&err).1, vec!["page_token".to_string()]);

    let err = client
        .get_project(v1::GetProjectRequest {
            name: "widgets/1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(details(&err).1, vec!["name"]);

    let err = client
        .create_prerequisite(v1::CreatePrerequisiteRequest {
            parent: project.name.clone(),
            prerequisite: Some(v1::Prerequisite {
                kind: v1::PrerequisiteKind::Other as i32,
                due_date: Some(v1::Date {
                    year: 2026,
                    month: 13,
                    day: 1,
                }),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let fields: HashSet<String> = details(&err).1.into_iter().collect();
    assert_eq!(
        fields,
        HashSet::from([
            "prerequisite.due_date".to_string(),
            "prerequisite.title".to_string()
        ])
    );

    // Nothing was written by any of the failed calls: one project, one event.
    let log = all_events(&server).await;
    assert_eq!(kinds(&log), vec![v1::EventKind::ProjectCreated]);
}

async fn conflicts_and_etags(server: TestServer) {
    let mut client = server.projects().await;
    let first = create(
        &mut client,
        "battery-a",
        v1::Project {
            project_code: "CODE-1".into(),
            ..sample("鑫鸣灏新能源电池")
        },
    )
    .await;

    let err = client
        .create_project(v1::CreateProjectRequest {
            project: Some(sample("another")),
            project_id: "battery-a".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    assert_eq!(
        details(&err),
        (
            "RESOURCE_ALREADY_EXISTS".to_string(),
            vec!["project_id".to_string()]
        )
    );

    let err = client
        .create_project(v1::CreateProjectRequest {
            project: Some(v1::Project {
                project_code: "CODE-1".into(),
                ..sample("臻秦新能源电池")
            }),
            project_id: "battery-b".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    assert_eq!(details(&err).1, vec!["project.project_code"]);
    // The failed insert left nothing behind: no project, no event.
    let err = client
        .get_project(v1::GetProjectRequest {
            name: "projects/battery-b".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // Two concurrent updates with the same etag: exactly one wins.
    let mut tasks = Vec::new();
    for i in 0..2 {
        let mut c = client.clone();
        let name = first.name.clone();
        let etag = first.etag.clone();
        tasks.push(tokio::spawn(async move {
            c.update_project(v1::UpdateProjectRequest {
                project: Some(v1::Project {
                    name,
                    etag,
                    completed_investment_yuan: 1000 + i,
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["completed_investment_yuan".into()],
                }),
            })
            .await
        }));
    }
    let mut wins = 0;
    let mut aborted = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => wins += 1,
            Err(status) => {
                assert_eq!(status.code(), Code::Aborted);
                assert_eq!(details(&status).0, "ETAG_MISMATCH");
                aborted += 1;
            }
        }
    }
    assert_eq!((wins, aborted), (1, 1));

    // A stale etag on delete and stage change is refused too, and changes nothing.
    let err = client
        .delete_project(v1::DeleteProjectRequest {
            name: first.name.clone(),
            etag: first.etag.clone(),
            force: true,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    let err = client
        .change_project_stage(v1::ChangeProjectStageRequest {
            name: first.name.clone(),
            stage: v1::ProjectStage::Reserve as i32,
            reason: "packaged".into(),
            etag: first.etag.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    let log = all_events(&server).await;
    assert_eq!(
        kinds(&log),
        vec![v1::EventKind::ProjectCreated, v1::EventKind::ProjectUpdated]
    );
}

async fn request_ids_replay(server: TestServer) {
    let mut client = server.projects().await;
    let request = v1::CreateProjectRequest {
        project: Some(sample("城乡供水一体化")),
        request_id: "7f1c6a8e-create".into(),
        ..Default::default()
    };
    let first = client
        .create_project(request.clone())
        .await
        .unwrap()
        .into_inner();
    let again = client
        .create_project(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first, again, "a retry returns the first result");
    let list = client
        .list_projects(v1::ListProjectsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.projects.len(), 1, "a retry creates nothing");

    let mut different = request.clone();
    different.project.as_mut().unwrap().display_name = "另一个项目".into();
    let err = client.create_project(different).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(details(&err).1, vec!["request_id"]);

    let change = v1::ChangeProjectStageRequest {
        name: first.name.clone(),
        stage: v1::ProjectStage::Reserve as i32,
        reason: "入库".into(),
        request_id: "stage-1".into(),
        ..Default::default()
    };
    let moved = client
        .change_project_stage(change.clone())
        .await
        .unwrap()
        .into_inner();
    let replayed = client
        .change_project_stage(change)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(moved, replayed);
    assert_eq!(moved.stage(), v1::ProjectStage::Reserve);

    // Concurrent retries of one request act once.
    let concurrent = v1::CreateProjectRequest {
        project: Some(sample("力诚食品")),
        request_id: "concurrent-1".into(),
        ..Default::default()
    };
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let mut c = client.clone();
        let r = concurrent.clone();
        tasks.push(tokio::spawn(async move {
            c.create_project(r).await.map(|r| r.into_inner())
        }));
    }
    let mut names = HashSet::new();
    for task in tasks {
        names.insert(task.await.unwrap().expect("retry succeeds").name);
    }
    assert_eq!(names.len(), 1);
    let log = all_events(&server).await;
    use v1::EventKind::*;
    assert_eq!(
        kinds(&log),
        vec![ProjectCreated, ProjectStageChanged, ProjectCreated]
    );
}

async fn stage_transitions(server: TestServer) {
    let mut client = server.projects().await;
    let project = create(&mut client, "qinquan", sample("琴泉片区有机更新")).await;
    let wang = server
        .projects_as(&server.token("xmb-wang", Role::Admin, &[], &[]).await)
        .await;
    let change = |stage: v1::ProjectStage| {
        let mut c = wang.clone();
        let name = project.name.clone();
        async move {
            let mut request = Request::new(v1::ChangeProjectStageRequest {
                name,
                stage: stage as i32,
                reason: format!("move to {}", stage.as_str_name()),
                effective_date: Some(v1::Date {
                    year: 2026,
                    month: 9,
                    day: 1,
                }),
                ..Default::default()
            });
            // Clients cannot name the actor; this header is ignored.
            request
                .metadata_mut()
                .insert("pipeline-actor", "someone-else".parse().unwrap());
            c.change_project_stage(request)
                .await
                .map(|r| r.into_inner())
        }
    };
    use v1::ProjectStage::*;
    assert_eq!(change(Reserve).await.unwrap().stage(), Reserve);
    assert_eq!(
        change(Construction).await.unwrap().stage(),
        Construction,
        "skipping forward is allowed"
    );
    let err = change(Preparation).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(details(&err).0, "ILLEGAL_STAGE_TRANSITION");
    assert!(
        err.message().contains("CONSTRUCTION"),
        "names the current stage: {}",
        err.message()
    );
    let suspended = change(Suspended).await.unwrap();
    assert_eq!(suspended.suspended_from_stage(), Construction);
    assert_eq!(
        change(Operation).await.unwrap_err().code(),
        Code::FailedPrecondition
    );
    let resumed = change(Construction).await.unwrap();
    assert_eq!(resumed.suspended_from_stage(), Unspecified);
    assert_eq!(change(Cancelled).await.unwrap().stage(), Cancelled);
    assert_eq!(
        change(Operation).await.unwrap_err().code(),
        Code::FailedPrecondition
    );
    assert_eq!(
        change(Concept).await.unwrap_err().code(),
        Code::FailedPrecondition
    );

    let log = all_events(&server).await;
    assert_gap_free(&log);
    let stage_events: Vec<_> = log
        .iter()
        .filter_map(|e| match &e.detail {
            Some(v1::event::Detail::StageChange(s)) => {
                Some((s.from_stage(), s.to_stage(), e.actor.clone()))
            }
            _ => None,
        })
        .collect();
    let actor = "xmb-wang".to_string();
    assert_eq!(
        stage_events,
        vec![
            (Concept, Reserve, actor.clone()),
            (Reserve, Construction, actor.clone()),
            (Construction, Suspended, actor.clone()),
            (Suspended, Construction, actor.clone()),
            (Construction, Cancelled, actor.clone()),
        ]
    );
}

async fn filters_and_ordering(server: TestServer) {
    let mut client = server.projects().await;
    let specs = [
        (
            "rail",
            "绵遂内铁路",
            v1::ProjectCategory::Transport,
            "城关镇",
            "县交通运输局",
            9_000,
            v1::ProjectStage::Preparation,
        ),
        (
            "reservoir",
            "祠堂湾水库",
            v1::ProjectCategory::Water,
            "祠堂镇",
            "县水利局",
            5_000,
            v1::ProjectStage::Construction,
        ),
        (
            "water-supply",
            "城乡供水一体化",
            v1::ProjectCategory::Water,
            "城关镇",
            "县水利局",
            3_000,
            v1::ProjectStage::Preparation,
        ),
        (
            "battery",
            "鑫鸣灏新能源电池",
            v1::ProjectCategory::Industry,
            "工业园区",
            "县经信局",
            7_000,
            v1::ProjectStage::Construction,
        ),
        (
            "food",
            "力诚食品",
            v1::ProjectCategory::Industry,
            "工业园区",
            "县投促局",
            1_000,
            v1::ProjectStage::Concept,
        ),
    ];
    for (id, display, category, township, department, total, stage) in specs {
        client
            .create_project(v1::CreateProjectRequest {
                project: Some(v1::Project {
                    category: category as i32,
                    township: township.into(),
                    department: department.into(),
                    total_investment_yuan: total,
                    leader: if id == "battery" {
                        "王书记".into()
                    } else {
                        "张副县长".into()
                    },
                    ..sample(display)
                }),
                project_id: id.into(),
                initial_stage: stage as i32,
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let list = |filter: &str, order_by: &str| {
        let mut c = client.clone();
        let (filter, order_by) = (filter.to_string(), order_by.to_string());
        async move {
            c.list_projects(v1::ListProjectsRequest {
                filter,
                order_by,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .projects
            .into_iter()
            .map(|p| p.name.trim_start_matches("projects/").to_string())
            .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list("", "").await,
        vec!["rail", "reservoir", "water-supply", "battery", "food"]
    );
    assert_eq!(
        list("township = 城关镇", "").await,
        vec!["rail", "water-supply"]
    );
    assert_eq!(
        list("category = WATER AND stage = PROJECT_STAGE_PREPARATION", "").await,
        vec!["water-supply"]
    );
    assert_eq!(
        list("department = \"县水利局\"", "total_investment_yuan desc").await,
        vec!["reservoir", "water-supply"]
    );
    assert_eq!(list("leader = 王书记", "").await, vec!["battery"]);
    assert_eq!(
        list("display_name : 水", "").await,
        vec!["reservoir", "water-supply"]
    );
    assert_eq!(
        list("display_name : \"100%\"", "").await,
        Vec::<String>::new(),
        "LIKE wildcards are escaped"
    );
    assert_eq!(
        list("investment_type = ENTERPRISE", "").await,
        Vec::<String>::new()
    );
    assert_eq!(
        list("", "total_investment_yuan").await,
        vec!["food", "water-supply", "reservoir", "battery", "rail"]
    );
    assert_eq!(
        list("", "create_time desc").await,
        vec!["food", "battery", "water-supply", "reservoir", "rail"]
    );
    let by_name = list("", "display_name").await;
    assert_eq!(by_name.len(), 5);
}

async fn pagination_is_stable_under_inserts(server: TestServer) {
    let mut client = server.projects().await;
    for i in 0..25 {
        let mut project = sample(&format!("项目{i:02}"));
        project.total_investment_yuan = (i % 5) * 100;
        create(&mut client, &format!("p{i:02}"), project).await;
    }
    for order_by in ["create_time", "total_investment_yuan desc", "display_name"] {
        let mut seen = Vec::new();
        let mut token = String::new();
        let mut inserted = 0;
        loop {
            let page = client
                .list_projects(v1::ListProjectsRequest {
                    page_size: 4,
                    page_token: token.clone(),
                    order_by: order_by.into(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            assert!(page.projects.len() <= 4);
            seen.extend(page.projects.iter().map(|p| p.name.clone()));
            // Insert while paging: the rows that existed from the start must all be seen once.
            let mut project = sample(&format!("新增{order_by}{inserted}"));
            project.total_investment_yuan = 250;
            create(
                &mut client,
                &format!("new-{}-{inserted}", order_by.len()),
                project,
            )
            .await;
            inserted += 1;
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "{order_by}: a row was repeated");
        for i in 0..25 {
            assert!(
                seen.contains(&format!("projects/p{i:02}")),
                "{order_by}: p{i:02} was lost"
            );
        }
        // A token is bound to its order.
        let page = client
            .list_projects(v1::ListProjectsRequest {
                page_size: 1,
                order_by: order_by.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let err = client
            .list_projects(v1::ListProjectsRequest {
                page_size: 1,
                page_token: page.next_page_token,
                order_by: "display_name desc".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(details(&err).1, vec!["page_token"]);
    }
    let page = client
        .list_projects(v1::ListProjectsRequest {
            page_size: 5000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        page.next_page_token.is_empty(),
        "a clamped page of 1000 holds every row here"
    );
}

async fn concurrent_writers_keep_the_log_gap_free(server: TestServer) {
    let client = server.projects().await;
    let writers = 8;
    let per_writer = 12;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let mut c = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0;
            for i in 0..per_writer {
                let id = format!("w{w}-{i}");
                c.create_project(v1::CreateProjectRequest {
                    project: Some(sample(&id)),
                    project_id: id.clone(),
                    ..Default::default()
                })
                .await
                .unwrap();
                // Every third write fails on a duplicate id and must leave no event.
                if i % 3 == 0 {
                    let err = c
                        .create_project(v1::CreateProjectRequest {
                            project: Some(sample(&id)),
                            project_id: id.clone(),
                            ..Default::default()
                        })
                        .await
                        .unwrap_err();
                    assert_eq!(err.code(), Code::AlreadyExists);
                }
                c.update_project(v1::UpdateProjectRequest {
                    project: Some(v1::Project {
                        name: format!("projects/{id}"),
                        completed_investment_yuan: 1 + i as i64,
                        ..Default::default()
                    }),
                    update_mask: None,
                })
                .await
                .unwrap();
                done += 2;
            }
            done
        }));
    }
    let mut changes = 0;
    for task in tasks {
        changes += task.await.unwrap();
    }
    let log = all_events(&server).await;
    assert_eq!(log.len(), changes, "exactly one event per change");
    assert_gap_free(&log);
    // Per project, the creation precedes the update.
    for w in 0..writers {
        for i in 0..per_writer {
            let name = format!("projects/w{w}-{i}");
            let mine: Vec<_> = log
                .iter()
                .filter(|e| e.project == name)
                .map(|e| e.kind())
                .collect();
            assert_eq!(
                mine,
                vec![v1::EventKind::ProjectCreated, v1::EventKind::ProjectUpdated]
            );
        }
    }
}

/// Sends `request` sixteen times at once through `call`, released together by a barrier, and
/// returns every answer.
async fn sixteen_at_once<R, T, F, Fut>(request: R, call: F) -> Vec<Result<T, Status>>
where
    R: Clone + Send + 'static,
    T: Send + 'static,
    F: Fn(R) -> Fut,
    Fut: std::future::Future<Output = Result<T, Status>> + Send + 'static,
{
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(16));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let barrier = barrier.clone();
        let call = call(request.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            call.await
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

/// Every answer is OK and the same as the first.
fn all_the_first<T: PartialEq + std::fmt::Debug>(what: &str, answers: Vec<Result<T, Status>>) -> T {
    let answers: Vec<T> = answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|s| panic!("{what}: a retry failed: {s:?}")))
        .collect();
    for answer in &answers {
        assert_eq!(
            answer, &answers[0],
            "{what}: every retry gets the first answer"
        );
    }
    answers.into_iter().next().unwrap()
}

/// Concurrent calls with one request id all get the first answer and act once, on every keyed
/// method (here: a stage change, creates with and without an id, achieving a milestone).
async fn concurrent_retries_get_the_first_answer(server: TestServer) {
    let client = server.projects().await;
    let mut admin = client.clone();
    admin
        .create_project(v1::CreateProjectRequest {
            project: Some(sample("并发入库项目")),
            project_id: "race".into(),
            initial_stage: v1::ProjectStage::Reserve as i32,
            ..Default::default()
        })
        .await
        .unwrap();

    let change = v1::ChangeProjectStageRequest {
        name: "projects/race".into(),
        stage: v1::ProjectStage::Preparation as i32,
        reason: "前期工作启动".into(),
        request_id: "stage-race".into(),
        ..Default::default()
    };
    let answers = sixteen_at_once(change, |r| {
        let mut c = client.clone();
        async move { c.change_project_stage(r).await.map(|r| r.into_inner()) }
    })
    .await;
    let moved = all_the_first("ChangeProjectStage", answers);
    assert_eq!(moved.stage(), v1::ProjectStage::Preparation);
    let current = admin
        .get_project(v1::GetProjectRequest {
            name: "projects/race".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(current.etag, moved.etag, "the project changed once");
    let log = all_events(&server).await;
    let stage_changes = log
        .iter()
        .filter(|e| e.kind() == v1::EventKind::ProjectStageChanged && e.project == "projects/race")
        .count();
    assert_eq!(stage_changes, 1);

    // Creates: without an id (the server would make sixteen) and with one (fifteen would
    // find it taken), each carrying a project code that is unique across projects.
    for (project_id, code, request_id) in [
        ("", "2209-510922-04-01-000001", "create-race"),
        (
            "race-fixed",
            "2209-510922-04-01-000002",
            "create-fixed-race",
        ),
    ] {
        let mut project = sample(&format!("并发创建 {request_id}"));
        project.project_code = code.into();
        let create = v1::CreateProjectRequest {
            project: Some(project),
            project_id: project_id.into(),
            request_id: request_id.into(),
            ..Default::default()
        };
        let answers = sixteen_at_once(create, |r| {
            let mut c = client.clone();
            async move { c.create_project(r).await.map(|r| r.into_inner()) }
        })
        .await;
        let created = all_the_first(request_id, answers);
        assert_eq!(created.project_code, code);
        let log = all_events(&server).await;
        let creations = log
            .iter()
            .filter(|e| match &e.detail {
                Some(v1::event::Detail::ProjectAfter(p)) => {
                    e.kind() == v1::EventKind::ProjectCreated && p.project_code == code
                }
                _ => false,
            })
            .count();
        assert_eq!(creations, 1, "{request_id}: one project");
    }
    let listed = admin
        .list_projects(v1::ListProjectsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.projects.len(), 3);

    // A milestone method: achieving once, sixteen times at once.
    let milestones = server.milestones().await;
    milestones
        .clone()
        .create_milestone(v1::CreateMilestoneRequest {
            parent: "projects/race".into(),
            milestone_id: "contract".into(),
            milestone: Some(v1::Milestone {
                kind: v1::MilestoneKind::ContractSigning as i32,
                baseline_date: Some(v1::Date {
                    year: 2026,
                    month: 10,
                    day: 31,
                }),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let achieve = v1::AchieveMilestoneRequest {
        name: "projects/race/milestones/contract".into(),
        actual_date: Some(v1::Date {
            year: 2026,
            month: 9,
            day: 10,
        }),
        reason: "合同签订".into(),
        request_id: "achieve-race".into(),
        ..Default::default()
    };
    let answers = sixteen_at_once(achieve, |r| {
        let mut c = milestones.clone();
        async move { c.achieve_milestone(r).await.map(|r| r.into_inner()) }
    })
    .await;
    let achieved = all_the_first("AchieveMilestone", answers);
    assert!(achieved.actual_date.is_some());
    let log = all_events(&server).await;
    let achievements = log
        .iter()
        .filter(|e| e.kind() == v1::EventKind::MilestoneAchieved)
        .count();
    assert_eq!(achievements, 1);
    assert_gap_free(&log);
}

/// A first call that fails keeps nothing, so its retry acts; and a retry after the resource
/// was deleted still gets the answer its first call earned.
async fn request_ids_after_failure_and_delete(server: TestServer) {
    let mut client = server.projects().await;
    create(&mut client, "taken", sample("已有项目")).await;
    let request = v1::CreateProjectRequest {
        project: Some(sample("新项目")),
        project_id: "taken".into(),
        request_id: "after-failure".into(),
        ..Default::default()
    };
    let failed = client.create_project(request.clone()).await.unwrap_err();
    assert_eq!(failed.code(), Code::AlreadyExists);
    client
        .delete_project(v1::DeleteProjectRequest {
            name: "projects/taken".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let created = client
        .create_project(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.display_name, "新项目");
    let again = client.create_project(request).await.unwrap().into_inner();
    assert_eq!(again, created);

    let change = v1::ChangeProjectStageRequest {
        name: created.name.clone(),
        stage: v1::ProjectStage::Reserve as i32,
        reason: "入库".into(),
        request_id: "before-delete".into(),
        ..Default::default()
    };
    let moved = client
        .change_project_stage(change.clone())
        .await
        .unwrap()
        .into_inner();
    client
        .delete_project(v1::DeleteProjectRequest {
            name: created.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let replayed = client
        .change_project_stage(change.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(replayed, moved);
    let fresh = client
        .change_project_stage(v1::ChangeProjectStageRequest {
            request_id: "after-delete".into(),
            ..change
        })
        .await
        .unwrap_err();
    assert_eq!(fresh.code(), Code::NotFound);
}

async fn health_and_reflection(server: TestServer) {
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel().await);
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "pipeline.v1.ProjectService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        status.status(),
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        status.status(),
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );

    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut reflection = ServerReflectionClient::new(server.channel().await);
    let request = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(futures::stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"pipeline.v1.ProjectService".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_string()),
        "{names:?}"
    );
}

/// Projects as large as they may be (4,000 four-byte characters of description, every text at
/// its limit) under the smallest message limit the server accepts: each page of every order
/// fits and the pages hold every project exactly once, each project reads back, and a stream
/// delivers every event.
async fn pages_fit_the_message_limit(mut server: TestServer) {
    use prost::Message;
    const LIMIT: usize = 64 * 1024;
    const COUNT: usize = 12;
    let today = server.today;
    server
        .restart_with(today, |options| {
            options.max_message_bytes = LIMIT;
            // Batches bounded by the message limit alone (not the 64 KiB default budget).
            options.streams.batch_bytes = usize::MAX;
        })
        .await;
    let wide = |chars: usize| "\u{20000}".repeat(chars);
    let mut events = server.events().await;
    let subscription = events
        .create_subscription(v1::CreateSubscriptionRequest {
            subscription: Some(v1::Subscription {
                display_name: wide(200),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut client = server.projects().await;
    for i in 0..COUNT {
        let project = v1::Project {
            display_name: format!("{}{i:02}", wide(198)),
            description: wide(4000),
            project_code: format!("{i:064}"),
            township: wide(100),
            department: wide(100),
            owner: wide(200),
            leader: wide(100),
            total_investment_yuan: 10_000_000_000_000 - i as i64,
            annual_planned_investment_yuan: 10_000_000_000_000,
            completed_investment_yuan: 10_000_000_000_000,
            ..sample("")
        };
        let id = format!("{i:02}{}", "p".repeat(61));
        let created = create(&mut client, &id, project).await;
        assert!(created.encoded_len() > 19_000, "{}", created.encoded_len());
    }
    for order_by in ["create_time", "display_name desc", "total_investment_yuan"] {
        let mut seen = Vec::new();
        let mut token = String::new();
        let mut pages = 0;
        loop {
            let page = client
                .list_projects(v1::ListProjectsRequest {
                    page_size: 1000,
                    page_token: token,
                    order_by: order_by.into(),
                    ..Default::default()
                })
                .await
                .unwrap_or_else(|s| panic!("{order_by}, page {pages}: {s:?}"))
                .into_inner();
            assert!(page.encoded_len() <= LIMIT, "{}", page.encoded_len());
            assert!(!page.projects.is_empty());
            seen.extend(page.projects.into_iter().map(|p| p.name));
            pages += 1;
            token = page.next_page_token;
            if token.is_empty() {
                break;
            }
        }
        assert!(pages >= COUNT / 3, "{order_by}: {pages} pages");
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(
            (seen.len(), unique.len()),
            (COUNT, COUNT),
            "{order_by}: every project exactly once"
        );
    }
    for i in 0..COUNT {
        client
            .get_project(v1::GetProjectRequest {
                name: format!("projects/{i:02}{}", "p".repeat(61)),
            })
            .await
            .unwrap();
    }
    // Every event reaches the subscriber, in messages within the limit.
    let mut stream = events
        .stream_subscription(v1::StreamSubscriptionRequest {
            name: subscription.name,
        })
        .await
        .unwrap()
        .into_inner();
    let mut created = 0;
    while created < COUNT {
        let message = tokio::time::timeout(std::time::Duration::from_secs(10), stream.message())
            .await
            .expect("the stream keeps delivering")
            .unwrap()
            .expect("the stream stays open");
        assert!(message.encoded_len() <= LIMIT);
        if let Some(v1::watch_events_response::Response::Batch(batch)) = message.response {
            created += batch
                .events
                .iter()
                .filter(|e| e.kind() == v1::EventKind::ProjectCreated)
                .count();
        }
    }
}

both_backends!(
    crud_round_trip,
    validation_names_every_bad_field,
    conflicts_and_etags,
    request_ids_replay,
    stage_transitions,
    filters_and_ordering,
    pagination_is_stable_under_inserts,
    concurrent_writers_keep_the_log_gap_free,
    health_and_reflection,
    concurrent_retries_get_the_first_answer,
    request_ids_after_failure_and_delete,
    pages_fit_the_message_limit,
);
