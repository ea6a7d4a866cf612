//! ProjectService: the project library and its prerequisites.

use tonic::{Request, Response, Status};

use super::filter::{self, Op};
use super::pagination;
use super::parse::{date_value, enum_filter, enum_value, invalid, mask_paths, optional_etag};
use super::{Services, request_key, respond, to_status};
use crate::domain::error::Violations;
use crate::domain::names;
use crate::domain::prerequisite::{
    PrerequisiteFields, PrerequisiteKind, PrerequisitePatch, PrerequisiteState, check_title,
};
use crate::domain::project::{
    Category, InvestmentType, ProjectFields, ProjectPatch, Stage, StageChangeRequest,
};
use crate::domain::values;
use crate::proto::v1::{self, project_service_server::ProjectService};
use crate::service::ServiceError;
use crate::store::SortKey;
use crate::store::prerequisites::PrerequisiteFilter;
use crate::store::projects::{ProjectOrder, ProjectQuery};

/// The gRPC face of the project library.
#[derive(Clone, Debug)]
pub struct ProjectApi {
    services: Services,
}

impl ProjectApi {
    pub fn new(services: Services) -> Self {
        Self { services }
    }
}

pub(crate) const PROJECT_MUTABLE: &[&str] = &[
    "display_name",
    "description",
    "project_code",
    "category",
    "investment_type",
    "township",
    "department",
    "owner",
    "leader",
    "total_investment_yuan",
    "annual_planned_investment_yuan",
    "completed_investment_yuan",
];
const PROJECT_OUTPUT_ONLY: &[&str] = &[
    "name",
    "uid",
    "stage",
    "suspended_from_stage",
    "stage_change_time",
    "create_time",
    "update_time",
    "etag",
];
const PREREQUISITE_MUTABLE: &[&str] = &["kind", "title", "state", "due_date", "note"];
const PREREQUISITE_OUTPUT_ONLY: &[&str] = &["name", "uid", "create_time", "update_time", "etag"];

pub(crate) fn stage_from_proto(raw: i32) -> Option<Stage> {
    let name = v1::ProjectStage::try_from(raw).ok()?.as_str_name();
    Stage::parse(name.strip_prefix("PROJECT_STAGE_")?)
}

pub(crate) fn category_from_proto(raw: i32) -> Option<Category> {
    let name = v1::ProjectCategory::try_from(raw).ok()?.as_str_name();
    Category::parse(name.strip_prefix("PROJECT_CATEGORY_")?)
}

pub(crate) fn investment_type_from_proto(raw: i32) -> Option<InvestmentType> {
    let name = v1::InvestmentType::try_from(raw).ok()?.as_str_name();
    InvestmentType::parse(name.strip_prefix("INVESTMENT_TYPE_")?)
}

pub(crate) fn prerequisite_kind_from_proto(raw: i32) -> Option<PrerequisiteKind> {
    let name = v1::PrerequisiteKind::try_from(raw).ok()?.as_str_name();
    PrerequisiteKind::parse(name.strip_prefix("PREREQUISITE_KIND_")?)
}

fn prerequisite_state_from_proto(raw: i32) -> Option<PrerequisiteState> {
    let name = v1::PrerequisiteState::try_from(raw).ok()?.as_str_name();
    PrerequisiteState::parse(name.strip_prefix("PREREQUISITE_STATE_")?)
}

/// Reads the listed paths of `project` into a patch; every bad value is recorded.
fn project_patch(
    project: &v1::Project,
    paths: &[&str],
    violations: &mut Violations,
) -> ProjectPatch {
    let mut patch = ProjectPatch::default();
    let field = |name: &str| format!("project.{name}");
    for path in paths {
        let f = field(path);
        match *path {
            "display_name" => {
                patch.display_name = violations.check(
                    &f,
                    values::text(&project.display_name, true, values::TITLE_CHARS),
                )
            }
            "description" => {
                patch.description = violations.check(
                    &f,
                    values::text(&project.description, false, values::DESCRIPTION_CHARS),
                )
            }
            "project_code" => {
                patch.project_code =
                    violations.check(&f, values::project_code(&project.project_code))
            }
            "category" => {
                patch.category =
                    enum_value(violations, &f, project.category, true, category_from_proto)
            }
            "investment_type" => {
                patch.investment_type = enum_value(
                    violations,
                    &f,
                    project.investment_type,
                    true,
                    investment_type_from_proto,
                )
            }
            "township" => {
                patch.township = violations.check(
                    &f,
                    values::text(&project.township, true, values::UNIT_CHARS),
                )
            }
            "department" => {
                patch.department = violations.check(
                    &f,
                    values::text(&project.department, true, values::UNIT_CHARS),
                )
            }
            "owner" => {
                patch.owner =
                    violations.check(&f, values::text(&project.owner, false, values::TITLE_CHARS))
            }
            "leader" => {
                patch.leader =
                    violations.check(&f, values::text(&project.leader, false, values::UNIT_CHARS))
            }
            "total_investment_yuan" => {
                patch.total_investment_yuan =
                    violations.check(&f, values::yuan(project.total_investment_yuan))
            }
            "annual_planned_investment_yuan" => {
                patch.annual_planned_investment_yuan =
                    violations.check(&f, values::yuan(project.annual_planned_investment_yuan))
            }
            "completed_investment_yuan" => {
                patch.completed_investment_yuan =
                    violations.check(&f, values::yuan(project.completed_investment_yuan))
            }
            _ => unreachable!("mask paths come from PROJECT_MUTABLE"),
        }
    }
    patch
}

fn project_populated(project: &v1::Project, path: &str) -> bool {
    match path {
        "display_name" => !project.display_name.is_empty(),
        "description" => !project.description.is_empty(),
        "project_code" => !project.project_code.is_empty(),
        "category" => project.category != 0,
        "investment_type" => project.investment_type != 0,
        "township" => !project.township.is_empty(),
        "department" => !project.department.is_empty(),
        "owner" => !project.owner.is_empty(),
        "leader" => !project.leader.is_empty(),
        "total_investment_yuan" => project.total_investment_yuan != 0,
        "annual_planned_investment_yuan" => project.annual_planned_investment_yuan != 0,
        "completed_investment_yuan" => project.completed_investment_yuan != 0,
        _ => false,
    }
}

fn prerequisite_patch(
    item: &v1::Prerequisite,
    paths: &[&str],
    violations: &mut Violations,
) -> PrerequisitePatch {
    let mut patch = PrerequisitePatch::default();
    for path in paths {
        let f = format!("prerequisite.{path}");
        match *path {
            "kind" => {
                patch.kind = enum_value(
                    violations,
                    &f,
                    item.kind,
                    true,
                    prerequisite_kind_from_proto,
                )
            }
            "title" => {
                patch.title =
                    violations.check(&f, values::text(&item.title, false, values::TITLE_CHARS))
            }
            "state" => {
                patch.state = enum_value(
                    violations,
                    &f,
                    item.state,
                    false,
                    prerequisite_state_from_proto,
                )
                .or(Some(PrerequisiteState::NotStarted))
            }
            "due_date" => {
                patch.due_date = match &item.due_date {
                    None => Some(None),
                    Some(date) => date_value(violations, &f, date).map(Some),
                }
            }
            "note" => {
                patch.note =
                    violations.check(&f, values::text(&item.note, false, values::NOTE_CHARS))
            }
            _ => unreachable!("mask paths come from PREREQUISITE_MUTABLE"),
        }
    }
    patch
}

fn prerequisite_populated(item: &v1::Prerequisite, path: &str) -> bool {
    match path {
        "kind" => item.kind != 0,
        "title" => !item.title.is_empty(),
        "state" => item.state != 0,
        "due_date" => item.due_date.is_some(),
        "note" => !item.note.is_empty(),
        _ => false,
    }
}

#[tonic::async_trait]
impl ProjectService for ProjectApi {
    async fn create_project(
        &self,
        request: Request<v1::CreateProjectRequest>,
    ) -> Result<Response<v1::Project>, Status> {
        let ctx = self.services.write_context(&request)?;
        let req = request.into_inner();
        let mut violations = Violations::new();
        let project = req.project.clone().unwrap_or_default();
        if req.project.is_none() {
            violations.add("project", "is required");
        }
        let patch = project_patch(&project, PROJECT_MUTABLE, &mut violations);
        let project_id = if req.project_id.is_empty() {
            None
        } else {
            violations
                .check("project_id", names::validate_id(&req.project_id))
                .map(|_| req.project_id.clone())
        };
        let initial_stage = match req.initial_stage {
            0 => Some(Stage::Concept),
            raw => match stage_from_proto(raw) {
                Some(stage) if stage.is_initial() => Some(stage),
                Some(stage) => {
                    violations.add(
                        "initial_stage",
                        format!("a project cannot be created {}", stage.as_str()),
                    );
                    None
                }
                None => {
                    violations.add("initial_stage", format!("unknown value {raw}"));
                    None
                }
            },
        };
        let request_id = violations
            .check("request_id", values::request_id(&req.request_id))
            .flatten();
        invalid(violations)?;
        let fields = ProjectFields {
            display_name: patch.display_name.expect("validated"),
            description: patch.description.expect("validated"),
            project_code: patch.project_code.expect("validated"),
            category: patch.category.expect("validated"),
            investment_type: patch.investment_type.expect("validated"),
            township: patch.township.expect("validated"),
            department: patch.department.expect("validated"),
            owner: patch.owner.expect("validated"),
            leader: patch.leader.expect("validated"),
            total_investment_yuan: patch.total_investment_yuan.expect("validated"),
            annual_planned_investment_yuan: patch
                .annual_planned_investment_yuan
                .expect("validated"),
            completed_investment_yuan: patch.completed_investment_yuan.expect("validated"),
        };
        let key = request_key("CreateProject", request_id, &req, |r| r.request_id.clear());
        let outcome = self
            .services
            .store
            .create_project(
                &ctx,
                project_id,
                fields,
                initial_stage.expect("validated"),
                key.as_ref(),
            )
            .await
            .map_err(to_status)?;
        respond(outcome, |p| v1::Project::from(&p)).map(Response::new)
    }

    async fn get_project(
        &self,
        request: Request<v1::GetProjectRequest>,
    ) -> Result<Response<v1::Project>, Status> {
        let req = request.into_inner();
        let id = names::parse_project_name(&req.name)
            .map_err(|e| to_status(ServiceError::invalid("name", e)))?;
        let project = self
            .services
            .store
            .get_project(id)
            .await
            .map_err(to_status)?;
        Ok(Response::new(v1::Project::from(&project)))
    }

    async fn list_projects(
        &self,
        request: Request<v1::ListProjectsRequest>,
    ) -> Result<Response<v1::ListProjectsResponse>, Status> {
        let req = request.into_inner();
        let mut violations = Violations::new();
        let limit = violations.check("page_size", pagination::page_size(req.page_size));
        let mut query = ProjectQuery::default();
        const FIELDS: &[(&str, Op)] = &[
            ("stage", Op::Equals),
            ("category", Op::Equals),
            ("investment_type", Op::Equals),
            ("township", Op::Equals),
            ("department", Op::Equals),
            ("leader", Op::Equals),
            ("display_name", Op::Has),
        ];
        if let Some(terms) = violations.check("filter", filter::parse(&req.filter, FIELDS)) {
            let f = &mut query.filter;
            for term in terms {
                let value = term.value;
                match term.field.as_str() {
                    "stage" => {
                        f.stage = violations.check(
                            "filter",
                            enum_filter(&value, "PROJECT_STAGE_", Stage::parse),
                        )
                    }
                    "category" => {
                        f.category = violations.check(
                            "filter",
                            enum_filter(&value, "PROJECT_CATEGORY_", Category::parse),
                        )
                    }
                    "investment_type" => {
                        f.investment_type = violations.check(
                            "filter",
                            enum_filter(&value, "INVESTMENT_TYPE_", InvestmentType::parse),
                        )
                    }
                    "township" => f.township = Some(value),
                    "department" => f.department = Some(value),
                    "leader" => f.leader = Some(value),
                    "display_name" => f.display_name_contains = Some(value),
                    _ => unreachable!("filter fields come from FIELDS"),
                }
            }
        }
        let order_by: Vec<&str> = req.order_by.split_whitespace().collect();
        let (order, descending) = match order_by.as_slice() {
            [] => (Some(ProjectOrder::CreateTime), false),
            [field] | [field, "asc"] | [field, "desc"] => {
                let order = match *field {
                    "create_time" => Some(ProjectOrder::CreateTime),
                    "display_name" => Some(ProjectOrder::DisplayName),
                    "total_investment_yuan" => Some(ProjectOrder::TotalInvestment),
                    _ => None,
                };
                if order.is_none() {
                    violations.add(
                        "order_by",
                        format!("cannot order by {field:?}; use create_time, display_name or total_investment_yuan"),
                    );
                }
                (order, order_by.len() == 2 && order_by[1] == "desc")
            }
            _ => {
                violations.add("order_by", "must be one field, optionally followed by desc");
                (None, false)
            }
        };
        let print = pagination::fingerprint(&[
            &format!("{:?}", query.filter),
            &req.order_by.trim().to_lowercase(),
        ]);
        let after = violations.check("page_token", pagination::decode(&req.page_token, &print));
        // The fingerprint binds a token to its order, so its key has that order's type.
        let text_key = order == Some(ProjectOrder::DisplayName);
        if let Some(Some(cursor)) = &after
            && matches!(cursor.key, SortKey::Text(_)) != text_key
        {
            violations.add("page_token", "is not a page token issued by this service");
        }
        invalid(violations)?;
        query.order = order.expect("validated");
        query.descending = descending;
        query.after = after.flatten();
        query.limit = limit.expect("validated");
        let page = self
            .services
            .store
            .list_projects(&query)
            .await
            .map_err(to_status)?;
        let (projects, next_page_token) =
            pagination::fit(page, self.services.max_message_bytes, &print, |item| {
                v1::Project::from(item)
            });
        Ok(Response::new(v1::ListProjectsResponse {
            projects,
            next_page_token,
        }))
    }

    async fn update_project(
        &self,
        request: Request<v1::UpdateProjectRequest>,
    ) -> Result<Response<v1::Project>, Status> {
        let ctx = self.services.write_context(&request)?;
        let req = request.into_inner();
        let mut violations = Violations::new();
        let project = req.project.unwrap_or_default();
        let id = violations.check("project.name", names::parse_project_name(&project.name));
        let paths = mask_paths(
            req.update_mask.as_ref(),
            PROJECT_MUTABLE,
            PROJECT_OUTPUT_ONLY,
            |p| project_populated(&project, p),
            &mut violations,
        );
        let patch = project_patch(&project, &paths, &mut violations);
        invalid(violations)?;
        let updated = self
            .services
            .store
            .update_project(
                &ctx,
                id.expect("validated"),
                patch,
                optional_etag(&project.etag),
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(v1::Project::from(&updated)))
    }

    async fn delete_project(
        &self,
        request: Request<v1::DeleteProjectRequest>,
    ) -> Result<Response<()>, Status> {
        let ctx = self.services.write_context(&request)?;
        let req = request.into_inner();
        let id = names::parse_project_name(&req.name)
            .map_err(|e| to_status(ServiceError::invalid("name", e)))?;
        self.services
            .store
            .delete_project(&ctx, id, optional_etag(&req.etag), req.force)
            .await
            .map_err(to_status)?;
        Ok(Response::new(()))
    }

    async fn change_project_stage(
        &self,
        request: Request<v1::ChangeProjectStageRequest>,
    ) -> Result<Response<v1::Project>, Status> {
        let ctx = self.services.write_context(&request)?;
        let req = request.into_inner();
        let mut violations = Violations::new();
        let id = violations.check("name", names::parse_project_name(&req.name));
        let target = enum_value(&mut violations, "stage", req.stage, true, stage_from_proto);
        let reason = violations.check(
            "reason",
            values::text(&req.reason, true, values::REASON_CHARS),
        );
        let effective_date = match &req.effective_date {
            None => Some(ctx.today),
            Some(date) => date_value(&mut violations, "effective_date", date).and_then(|d| {
                if d > ctx.today {
                    violations.add(
                        "effective_date",
                        format!("{d} is in the future (today is {})", ctx.today),
                    );
                    None
                } else {
                    Some(d)
                }
            }),
        };
        let request_id = violations
            .check("request_id", values::request_id(&req.request_id))
            .flatten();
        invalid(violations)?;
        let change = StageChangeRequest {
            target: target.expect("validated"),
            reason: reason.expect("validated"),
            effective_date: effective_date.expect("validated"),
            etag: optional_etag(&req.etag).map(String::from),
        };
        let key = request_key("ChangeProjectStage", request_id, &req, |r| {
            r.request_id.clear()
        });
        let outcome = self
            .services
            .store
            .change_project_stage(&ctx, id.expect("validated"), change, key.as_ref())
            .await
            .map_err(to_status)?;
        respond(outcome, |p| v1::Project::from(&p)).map(Response::new)
    }

    async fn create_prerequisite(
        &self,
        request: Request<v1::CreatePrerequisiteRequest>,
    ) -> Result<Response<v1::Prerequisite>, Status> {
        let ctx = self.services.write_context(&request)?;
        let req = request.into_inner();
        let mut violations = Violations::new();
        let project_id = violations.check("parent", names::parse_project_name(&req.parent));
        let item = req.prerequisite.clone().unwrap_or_default();
        if req.prerequisite.is_none() {
            violations.add("prerequisite", "is required");
        }
        let patch = prerequisite_patch(&item, PREREQUISITE_MUTABLE, &mut violations);
        let prerequisite_id = if req.prerequisite_id.is_empty() {
            None
        } else {
            violations
                .check("prerequisite_id", names::validate_id(&req.prerequisite_id))
                .map(|_| req.prerequisite_id.clone())
        };
        let request_id = violations
            .check("request_id", values::request_id(&req.request_id))
            .flatten();
        if let (Some(kind), Some(title)) = (patch.kind, patch.title.as_deref())
            && let Err((field, problem)) = check_title(kind, title)
        {
            violations.add(format!("prerequisite.{field}"), problem);
        }
        let fields = match (
            patch.kind,
            patch.title,
            patch.state,
            patch.due_date,
            patch.note,
        ) {
            (Some(kind), Some(title), Some(state), Some(due_date), Some(note)) => {
                Some(PrerequisiteFields {
                    kind,
                    title,
                    state,
                    due_date,
                    note,
                })
            }
            _ => None,
        };
        invalid(violations)?;
        let key = request_key("CreatePrerequisite", request_id, &req, |r| {
            r.request_id.clear()
        });
        let outcome = self
            .services
            .store
            .create_prerequisite(
                &ctx,
                project_id.expect("validated"),
                prerequisite_id,
                fields.expect("validated"),
                key.as_ref(),
            )
            .await
            .map_err(to_status)?;
        respond(outcome, |p| v1::Prerequisite::from(&p)).map(Response::new)
    }

    async fn list_prerequisites(
        &self,
        request: Request<v1::ListPrerequisitesRequest>,
    ) -> Result<Response<v1::ListPrerequisitesResponse>, Status> {
        let req = request.into_inner();
        let mut violations = Violations::new();
        let project_id = violations.check("parent", names::parse_project_name(&req.parent));
        let limit = violations.check("page_size", pagination::page_size(req.page_size));
        let mut filter_value = PrerequisiteFilter::default();
        const FIELDS: &[(&str, Op)] = &[("kind", Op::Equals), ("state", Op::Equals)];
        if let Some(terms) = violations.check("filter", filter::parse(&req.filter, FIELDS)) {
            for term in terms {
                match term.field.as_str() {
                    "kind" => {
                        filter_value.kind = violations.check(
                            "filter",
                            enum_filter(&term.value, "PREREQUISITE_KIND_", PrerequisiteKind::parse),
                        )
                    }
                    "state" => {
                        filter_value.state = violations.check(
                            "filter",
                            enum_filter(
                                &term.value,
                                "PREREQUISITE_STATE_",
                                PrerequisiteState::parse,
                            ),
                        )
                    }
                    _ => unreachable!("filter fields come from FIELDS"),
                }
            }
        }
        let print = pagination::fingerprint(&[&req.parent, &format!("{filter_value:?}")]);
        let after = violations.check("page_token", pagination::decode(&req.page_token, &print));
        if let Some(Some(cursor)) = &after
            && !matches!(cursor.key, SortKey::Int(_))
        {
            violations.add("page_token", "is not a page token issued by this service");
        }
        invalid(violations)?;
        let page = self
            .services
            .store
            .list_prerequisites(
                project_id.expect("validated"),
                &filter_value,
                after.flatten().as_ref(),
                limit.expect("validated"),
            )
            .await
            .map_err(to_status)?;
        let (prerequisites, next_page_token) =
            pagination::fit(page, self.services.max_message_bytes, &print, |item| {
                v1::Prerequisite::from(item)
            });
        Ok(Response::new(v1::ListPrerequisitesResponse {
            prerequisites,
            next_page_token,
        }))
    }

    async fn update_prerequisite(
        &self,
        request: Request<v1::UpdatePrerequisiteRequest>,
    ) -> Result<Response<v1::Prerequisite>, Status> {
        let ctx = self.services.write_context(&request)?;
        let req = request.into_inner();
        let mut violations = Violations::new();
        let item = req.prerequisite.unwrap_or_default();
        let ids = violations.check(
            "prerequisite.name",
            names::parse_prerequisite_name(&item.name),
        );
        let paths = mask_paths(
            req.update_mask.as_ref(),
            PREREQUISITE_MUTABLE,
            PREREQUISITE_OUTPUT_ONLY,
            |p| prerequisite_populated(&item, p),
            &mut violations,
        );
        let patch = prerequisite_patch(&item, &paths, &mut violations);
        invalid(violations)?;
        let (project_id, prerequisite_id) = ids.expect("validated");
        let updated = self
            .services
            .store
            .update_prerequisite(
                &ctx,
                project_id,
                prerequisite_id,
                patch,
                optional_etag(&item.etag),
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(v1::Prerequisite::from(&updated)))
    }

    async fn delete_prerequisite(
        &self,
        request: Request<v1::DeletePrerequisiteRequest>,
    ) -> Result<Response<()>, Status> {
        let ctx = self.services.write_context(&request)?;
        let req = request.into_inner();
        let (project_id, prerequisite_id) = names::parse_prerequisite_name(&req.name)
            .map_err(|e| to_status(ServiceError::invalid("name", e)))?;
        self.services
            .store
            .delete_prerequisite(&ctx, project_id, prerequisite_id, optional_etag(&req.etag))
            .await
            .map_err(to_status)?;
        Ok(Response::new(()))
    }
}
