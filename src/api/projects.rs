//! ProjectService: the project library and its prerequisites.

use chrono::NaiveDate;
use tonic::{Request, Response, Status};

use super::filter::{self, Op};
use super::pagination;
use super::parse::{date_value, enum_filter, enum_value, mask_paths, optional_etag};
use super::{Services, request_key, respond};
use crate::domain::error::Violations;
use crate::domain::names;
use crate::domain::prerequisite::{
    PrerequisiteKind, PrerequisitePatch, PrerequisiteState, check_title,
};
use crate::domain::project::{
    self, Category, InvestmentType, ProjectPatch, Stage, StageChangeRequest,
};
use crate::domain::values::{self, Description, Id, Note, Reason, Title, Unit};
use crate::proto::v1::{self, project_service_server::ProjectService};
use crate::service::prerequisites::{CreatePrerequisite, DeletePrerequisite, UpdatePrerequisite};
use crate::service::projects::{ChangeStage, CreateProject, DeleteProject, UpdateProject};
use crate::service::{self, ServiceError};
use crate::store::SortKey;
use crate::store::prerequisites::PrerequisiteFilter;
use crate::store::projects::{ProjectFilter, ProjectOrder, ProjectQuery};

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

use crate::domain::project::MUTABLE_FIELDS as PROJECT_MUTABLE;

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
    use v1::ProjectStage as P;
    Some(match P::try_from(raw).ok()? {
        P::Unspecified => return None,
        P::Concept => Stage::Concept,
        P::Reserve => Stage::Reserve,
        P::Preparation => Stage::Preparation,
        P::Construction => Stage::Construction,
        P::TrialProduction => Stage::TrialProduction,
        P::Operation => Stage::Operation,
        P::Suspended => Stage::Suspended,
        P::Cancelled => Stage::Cancelled,
    })
}

pub(crate) fn category_from_proto(raw: i32) -> Option<Category> {
    use v1::ProjectCategory as P;
    Some(match P::try_from(raw).ok()? {
        P::Unspecified => return None,
        P::Transport => Category::Transport,
        P::Water => Category::Water,
        P::Energy => Category::Energy,
        P::Industry => Category::Industry,
        P::Urban => Category::Urban,
        P::Agriculture => Category::Agriculture,
        P::Social => Category::Social,
        P::Ecology => Category::Ecology,
        P::Other => Category::Other,
    })
}

pub(crate) fn investment_type_from_proto(raw: i32) -> Option<InvestmentType> {
    use v1::InvestmentType as P;
    Some(match P::try_from(raw).ok()? {
        P::Unspecified => return None,
        P::Government => InvestmentType::Government,
        P::Enterprise => InvestmentType::Enterprise,
    })
}

pub(crate) fn prerequisite_kind_from_proto(raw: i32) -> Option<PrerequisiteKind> {
    use v1::PrerequisiteKind as P;
    Some(match P::try_from(raw).ok()? {
        P::Unspecified => return None,
        P::Land => PrerequisiteKind::Land,
        P::PlanningPermit => PrerequisiteKind::PlanningPermit,
        P::EnvironmentalAssessment => PrerequisiteKind::EnvironmentalAssessment,
        P::EnergyAssessment => PrerequisiteKind::EnergyAssessment,
        P::ConstructionPermit => PrerequisiteKind::ConstructionPermit,
        P::FundingClosed => PrerequisiteKind::FundingClosed,
        P::Other => PrerequisiteKind::Other,
    })
}

pub(crate) fn prerequisite_state_from_proto(raw: i32) -> Option<PrerequisiteState> {
    use v1::PrerequisiteState as P;
    Some(match P::try_from(raw).ok()? {
        P::Unspecified => return None,
        P::NotStarted => PrerequisiteState::NotStarted,
        P::InProgress => PrerequisiteState::InProgress,
        P::Done => PrerequisiteState::Done,
        P::Waived => PrerequisiteState::Waived,
    })
}

/// Reads the listed paths of `project` into a patch; every bad value is recorded.
/// A statistics enrolment date records what happened, so it may not be after `today`.
fn project_patch(
    project: &v1::Project,
    paths: &[&str],
    today: NaiveDate,
    violations: &mut Violations,
) -> ProjectPatch {
    let mut patch = ProjectPatch::default();
    let field = |name: &str| format!("project.{name}");
    for path in paths {
        let f = field(path);
        match *path {
            "display_name" => {
                patch.display_name =
                    violations.check(&f, Title::required(&project.display_name).map(String::from))
            }
            "description" => {
                patch.description = violations.check(
                    &f,
                    Description::parse(&project.description).map(String::from),
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
                patch.township =
                    violations.check(&f, Unit::required(&project.township).map(String::from))
            }
            "department" => {
                patch.department =
                    violations.check(&f, Unit::required(&project.department).map(String::from))
            }
            "owner" => {
                patch.owner = violations.check(&f, Title::parse(&project.owner).map(String::from))
            }
            "leader" => {
                patch.leader = violations.check(&f, Unit::parse(&project.leader).map(String::from))
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
            "statistics_enrolment_date" => {
                patch.statistics_enrolment_date = match &project.statistics_enrolment_date {
                    None => Some(None),
                    Some(date) => match date_value(violations, &f, date) {
                        Some(day) if day > today => {
                            violations.add(&f, format!("{day} is after today ({today})"));
                            None
                        }
                        day => day.map(Some),
                    },
                }
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
        "statistics_enrolment_date" => project.statistics_enrolment_date.is_some(),
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
                patch.title = violations.check(&f, Title::parse(&item.title).map(String::from))
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
            "note" => patch.note = violations.check(&f, Note::parse(&item.note).map(String::from)),
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

/// CreateProjectRequest as a command and its request id; every bad field is named.
fn parse_create_project(
    req: &v1::CreateProjectRequest,
    today: NaiveDate,
) -> Result<(CreateProject, Option<String>), ServiceError> {
    let mut violations = Violations::new();
    let empty = v1::Project::default();
    let project = req.project.as_ref().unwrap_or_else(|| {
        violations.add("project", "is required");
        &empty
    });
    let patch = project_patch(project, PROJECT_MUTABLE, today, &mut violations);
    let project_id = violations.check("project_id", Id::optional(&req.project_id));
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
    let request_id = violations.check("request_id", values::request_id(&req.request_id));
    Ok(violations.build(|| {
        let cmd = CreateProject {
            project_id: project_id?,
            fields: patch.complete()?,
            initial_stage: initial_stage?,
        };
        Some((cmd, request_id?))
    })?)
}

/// UpdateProjectRequest as a command.
fn parse_update_project(
    req: v1::UpdateProjectRequest,
    today: NaiveDate,
) -> Result<UpdateProject, ServiceError> {
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
    let patch = project_patch(&project, &paths, today, &mut violations);
    Ok(violations.build(|| {
        Some(UpdateProject {
            project_id: id?.to_string(),
            patch,
            etag: optional_etag(&project.etag).map(String::from),
        })
    })?)
}

/// ChangeProjectStageRequest as a command and its request id. The effective date defaults
/// to `today` and may not be after it.
fn parse_change_stage(
    req: &v1::ChangeProjectStageRequest,
    today: NaiveDate,
) -> Result<(ChangeStage, Option<String>), ServiceError> {
    let mut violations = Violations::new();
    let id = violations.check("name", names::parse_project_name(&req.name));
    let target = enum_value(&mut violations, "stage", req.stage, true, stage_from_proto);
    let reason = violations.check("reason", Reason::required(&req.reason));
    let effective_date = match &req.effective_date {
        None => Some(today),
        Some(date) => date_value(&mut violations, "effective_date", date)
            .and_then(|d| violations.check("effective_date", project::effective_date(d, today))),
    };
    let request_id = violations.check("request_id", values::request_id(&req.request_id));
    Ok(violations.build(|| {
        let cmd = ChangeStage {
            project_id: id?.to_string(),
            change: StageChangeRequest {
                target: target?,
                reason: reason?.into_string(),
                effective_date: effective_date?,
                etag: optional_etag(&req.etag).map(String::from),
            },
        };
        Some((cmd, request_id?))
    })?)
}

/// ListProjectsRequest as a query, with the fingerprint its page tokens carry.
fn parse_list_projects(
    req: &v1::ListProjectsRequest,
) -> Result<(ProjectQuery, String), ServiceError> {
    let mut violations = Violations::new();
    let limit = violations.check("page_size", pagination::page_size(req.page_size));
    let mut f = ProjectFilter::default();
    const FIELDS: &[(&str, Op)] = &[
        ("stage", Op::Equals),
        ("category", Op::Equals),
        ("investment_type", Op::Equals),
        ("township", Op::Equals),
        ("department", Op::Equals),
        ("leader", Op::Equals),
        ("project_code", Op::Equals),
        ("display_name", Op::Has),
    ];
    if let Some(terms) = violations.check("filter", filter::parse(&req.filter, FIELDS)) {
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
                "project_code" => f.project_code = Some(value),
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
    let print = pagination::fingerprint(&[&format!("{f:?}"), &req.order_by.trim().to_lowercase()]);
    let after = violations.check("page_token", pagination::decode(&req.page_token, &print));
    // The fingerprint binds a token to its order, so its key has that order's type.
    let text_key = order == Some(ProjectOrder::DisplayName);
    if let Some(Some(cursor)) = &after
        && matches!(cursor.key, SortKey::Text(_)) != text_key
    {
        violations.add("page_token", "is not a page token issued by this service");
    }
    let query = violations.build(|| {
        Some(ProjectQuery {
            filter: f,
            order: order?,
            descending,
            after: after?,
            limit: limit?,
        })
    })?;
    Ok((query, print))
}

/// CreatePrerequisiteRequest as a command and its request id.
fn parse_create_prerequisite(
    req: &v1::CreatePrerequisiteRequest,
) -> Result<(CreatePrerequisite, Option<String>), ServiceError> {
    let mut violations = Violations::new();
    let project_id = violations.check("parent", names::parse_project_name(&req.parent));
    let empty = v1::Prerequisite::default();
    let item = req.prerequisite.as_ref().unwrap_or_else(|| {
        violations.add("prerequisite", "is required");
        &empty
    });
    let patch = prerequisite_patch(item, PREREQUISITE_MUTABLE, &mut violations);
    let prerequisite_id = violations.check("prerequisite_id", Id::optional(&req.prerequisite_id));
    let request_id = violations.check("request_id", values::request_id(&req.request_id));
    if let (Some(kind), Some(title)) = (patch.kind, patch.title.as_deref())
        && let Err((field, problem)) = check_title(kind, title)
    {
        violations.add(format!("prerequisite.{field}"), problem);
    }
    Ok(violations.build(|| {
        let cmd = CreatePrerequisite {
            project_id: project_id?.to_string(),
            prerequisite_id: prerequisite_id?,
            fields: patch.complete()?,
        };
        Some((cmd, request_id?))
    })?)
}

/// UpdatePrerequisiteRequest as a command.
fn parse_update_prerequisite(
    req: v1::UpdatePrerequisiteRequest,
) -> Result<UpdatePrerequisite, ServiceError> {
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
    Ok(violations.build(|| {
        let (project_id, prerequisite_id) = ids?;
        Some(UpdatePrerequisite {
            project_id: project_id.to_string(),
            prerequisite_id: prerequisite_id.to_string(),
            patch,
            etag: optional_etag(&item.etag).map(String::from),
        })
    })?)
}

/// ListPrerequisitesRequest: the project, filter, cursor and page size, with the
/// fingerprint its page tokens carry.
struct ListPrerequisites<'a> {
    project_id: &'a str,
    filter: PrerequisiteFilter,
    after: Option<crate::store::Cursor>,
    limit: u64,
    print: String,
}

fn parse_list_prerequisites(
    req: &v1::ListPrerequisitesRequest,
) -> Result<ListPrerequisites<'_>, ServiceError> {
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
                        enum_filter(&term.value, "PREREQUISITE_STATE_", PrerequisiteState::parse),
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
    Ok(violations.build(|| {
        Some(ListPrerequisites {
            project_id: project_id?,
            filter: filter_value,
            after: after?,
            limit: limit?,
            print,
        })
    })?)
}

#[tonic::async_trait]
impl ProjectService for ProjectApi {
    async fn create_project(
        &self,
        request: Request<v1::CreateProjectRequest>,
    ) -> Result<Response<v1::Project>, Status> {
        let ctx = self.services.write_context(&request)?;
        let req = request.into_inner();
        let (cmd, request_id) = parse_create_project(&req, ctx.today)?;
        let key = request_key("CreateProject", request_id, &req, |r| r.request_id.clear());
        let outcome =
            service::projects::create(&self.services.store, &ctx, cmd, key.as_ref()).await?;
        respond(outcome, |p| v1::Project::from(&p)).map(Response::new)
    }

    async fn get_project(
        &self,
        request: Request<v1::GetProjectRequest>,
    ) -> Result<Response<v1::Project>, Status> {
        let req = request.into_inner();
        let id =
            names::parse_project_name(&req.name).map_err(|e| ServiceError::invalid("name", e))?;
        let project = self.services.store.get_project(id).await?;
        Ok(Response::new(v1::Project::from(&project)))
    }

    async fn list_projects(
        &self,
        request: Request<v1::ListProjectsRequest>,
    ) -> Result<Response<v1::ListProjectsResponse>, Status> {
        let (query, print) = parse_list_projects(request.get_ref())?;
        let page = self.services.store.list_projects(&query).await?;
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
        let cmd = parse_update_project(request.into_inner(), ctx.today)?;
        let outcome = service::projects::update(&self.services.store, &ctx, cmd).await?;
        respond(outcome, |p| v1::Project::from(&p)).map(Response::new)
    }

    async fn delete_project(
        &self,
        request: Request<v1::DeleteProjectRequest>,
    ) -> Result<Response<()>, Status> {
        let ctx = self.services.write_context(&request)?;
        let req = request.into_inner();
        let id =
            names::parse_project_name(&req.name).map_err(|e| ServiceError::invalid("name", e))?;
        let cmd = DeleteProject {
            project_id: id.to_string(),
            etag: optional_etag(&req.etag).map(String::from),
            force: req.force,
        };
        service::projects::delete(&self.services.store, &ctx, cmd).await?;
        Ok(Response::new(()))
    }

    async fn change_project_stage(
        &self,
        request: Request<v1::ChangeProjectStageRequest>,
    ) -> Result<Response<v1::Project>, Status> {
        let ctx = self.services.write_context(&request)?;
        let req = request.into_inner();
        let (cmd, request_id) = parse_change_stage(&req, ctx.today)?;
        let key = request_key("ChangeProjectStage", request_id, &req, |r| {
            r.request_id.clear()
        });
        let outcome =
            service::projects::change_stage(&self.services.store, &ctx, cmd, key.as_ref()).await?;
        respond(outcome, |p| v1::Project::from(&p)).map(Response::new)
    }

    async fn create_prerequisite(
        &self,
        request: Request<v1::CreatePrerequisiteRequest>,
    ) -> Result<Response<v1::Prerequisite>, Status> {
        let ctx = self.services.write_context(&request)?;
        let req = request.into_inner();
        let (cmd, request_id) = parse_create_prerequisite(&req)?;
        let key = request_key("CreatePrerequisite", request_id, &req, |r| {
            r.request_id.clear()
        });
        let outcome =
            service::prerequisites::create(&self.services.store, &ctx, cmd, key.as_ref()).await?;
        respond(outcome, |p| v1::Prerequisite::from(&p)).map(Response::new)
    }

    async fn list_prerequisites(
        &self,
        request: Request<v1::ListPrerequisitesRequest>,
    ) -> Result<Response<v1::ListPrerequisitesResponse>, Status> {
        let list = parse_list_prerequisites(request.get_ref())?;
        let page = self
            .services
            .store
            .list_prerequisites(
                list.project_id,
                &list.filter,
                list.after.as_ref(),
                list.limit,
            )
            .await?;
        let (prerequisites, next_page_token) =
            pagination::fit(page, self.services.max_message_bytes, &list.print, |item| {
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
        let cmd = parse_update_prerequisite(request.into_inner())?;
        let outcome = service::prerequisites::update(&self.services.store, &ctx, cmd).await?;
        respond(outcome, |p| v1::Prerequisite::from(&p)).map(Response::new)
    }

    async fn delete_prerequisite(
        &self,
        request: Request<v1::DeletePrerequisiteRequest>,
    ) -> Result<Response<()>, Status> {
        let ctx = self.services.write_context(&request)?;
        let req = request.into_inner();
        let (project_id, prerequisite_id) = names::parse_prerequisite_name(&req.name)
            .map_err(|e| ServiceError::invalid("name", e))?;
        let cmd = DeletePrerequisite {
            project_id: project_id.to_string(),
            prerequisite_id: prerequisite_id.to_string(),
            etag: optional_etag(&req.etag).map(String::from),
        };
        service::prerequisites::delete(&self.services.store, &ctx, cmd).await?;
        Ok(Response::new(()))
    }
}
