//! ProblemService: the problem ledger (问题清单, issue 20). Each handler parses its request into
//! a command (every bad field named), calls `service::problems`, and converts the result back.

use tonic::{Request, Response, Status};

use super::parse::{date_value, enum_value, mask_paths, optional_etag};
use super::{Services, pagination, request_key, respond};
use crate::domain::error::{Invalid, Violations};
use crate::domain::names;
use crate::domain::problem::{
    CountyUnits, ProblemFields, ProblemPatch, blocked_milestone, parse_problem_name,
};
use crate::domain::values::{Description, Id, Note, Reason, Unit, request_id};
use crate::proto::problems::{self as convert, category, state};
use crate::proto::v1::{self, problem_service_server::ProblemService};
use crate::service::problems::{
    self as service, CreateProblem, Transition, TransitionProblem, UpdateProblem,
};
use crate::store::SortKey;
use crate::store::problems::ProblemQuery;

/// The gRPC face of the problem ledger.
#[derive(Clone, Debug)]
pub struct ProblemApi {
    services: Services,
}

impl ProblemApi {
    pub fn new(services: Services) -> Self {
        Self { services }
    }
}

/// Names `problem.responsible_unit` when the server has the county's `units` and `unit` (as
/// parsed) is not one of them. An empty unit is left to the required-field rules, and a unit
/// that is not even readable is already named.
fn check_known_unit(violations: &mut Violations, units: Option<&CountyUnits>, unit: Option<&str>) {
    if let (Some(units), Some(unit)) = (units, unit)
        && !unit.is_empty()
        && let Err(err) = units.check(unit)
    {
        violations.add("problem.responsible_unit", err);
    }
}

fn parse_create(
    req: &v1::CreateProblemRequest,
    today: chrono::NaiveDate,
    units: Option<&CountyUnits>,
) -> Result<(CreateProblem, Option<String>), Invalid> {
    let mut violations = Violations::new();
    let project_id = violations.check("parent", names::parse_project_name(&req.parent));
    let problem_id = violations.check("problem_id", Id::optional(&req.problem_id));
    let request_id = violations.check("request_id", request_id(&req.request_id));
    let Some(p) = req.problem.as_ref() else {
        violations.add("problem", "is required");
        return Err(violations.finish().unwrap_err());
    };
    let category = enum_value(
        &mut violations,
        "problem.category",
        p.category,
        true,
        category,
    );
    let description = violations.check("problem.description", Description::parse(&p.description));
    let unit = violations.check("problem.responsible_unit", Unit::parse(&p.responsible_unit));
    check_known_unit(&mut violations, units, unit.as_deref());
    let leader = violations.check(
        "problem.responsible_leader",
        Unit::parse(&p.responsible_leader),
    );
    let raise_date = match p.raise_date.as_ref() {
        Some(d) => date_value(&mut violations, "problem.raise_date", d),
        None => Some(today),
    };
    let deadline = match p.deadline.as_ref() {
        Some(d) => date_value(&mut violations, "problem.deadline", d),
        None => {
            violations.add("problem.deadline", "is required");
            None
        }
    };
    let milestone = project_id.and_then(|project| {
        violations.check(
            "problem.blocked_milestone",
            blocked_milestone(project, &p.blocked_milestone),
        )
    });
    // The rules of the whole (required texts, date order) once every part could be read, so
    // that one answer names every bad field.
    let fields = match (category, description, unit, leader, raise_date, deadline) {
        (Some(c), Some(d), Some(u), Some(l), Some(r), Some(dl)) => violations.absorb(
            ProblemFields::new(c, d, r, u, l, dl, milestone.clone().flatten(), today),
        ),
        _ => None,
    };
    violations.build(|| {
        Some((
            CreateProblem {
                project_id: project_id?.to_string(),
                problem_id: problem_id?,
                fields: fields?,
            },
            request_id?,
        ))
    })
}

fn parse_update(
    req: &v1::UpdateProblemRequest,
    units: Option<&CountyUnits>,
) -> Result<UpdateProblem, Invalid> {
    const MUTABLE: &[&str] = &[
        "category",
        "description",
        "responsible_unit",
        "responsible_leader",
        "blocked_milestone",
    ];
    const NOT_HERE: &[&str] = &[
        "name",
        "uid",
        "raised_by",
        "raise_date",
        "state",
        "resolution_note",
        "extension_count",
        "resolve_time",
        "close_time",
        "create_time",
        "update_time",
        "etag",
    ];
    let mut violations = Violations::new();
    let Some(p) = req.problem.as_ref() else {
        violations.add("problem", "is required");
        return Err(violations.finish().unwrap_err());
    };
    let ids = violations.check("problem.name", parse_problem_name(&p.name));
    let reason = violations.check("reason", Reason::parse(&req.reason));
    // The deadline moves only by an extension, which needs a reason and is counted.
    let mask = req.update_mask.as_ref().map(|mask| {
        let mut mask = mask.clone();
        mask.paths.retain(|path| {
            let deadline = path == "deadline";
            if deadline {
                violations.add(
                    "update_mask",
                    "deadline changes only through ExtendProblemDeadline",
                );
            }
            !deadline
        });
        mask
    });
    let paths = mask_paths(
        mask.as_ref(),
        MUTABLE,
        NOT_HERE,
        |path| match path {
            "category" => p.category != 0,
            "description" => !p.description.is_empty(),
            "responsible_unit" => !p.responsible_unit.is_empty(),
            "responsible_leader" => !p.responsible_leader.is_empty(),
            "blocked_milestone" => !p.blocked_milestone.is_empty(),
            _ => false,
        },
        &mut violations,
    );
    let mut patch = ProblemPatch::default();
    for path in paths {
        match path {
            "category" => {
                patch.category = enum_value(
                    &mut violations,
                    "problem.category",
                    p.category,
                    true,
                    category,
                )
            }
            "description" => {
                patch.description = violations
                    .check("problem.description", Description::required(&p.description))
                    .map(Description::into_string)
            }
            "responsible_unit" => {
                patch.responsible_unit = violations
                    .check(
                        "problem.responsible_unit",
                        Unit::required(&p.responsible_unit),
                    )
                    .map(Unit::into_string);
                check_known_unit(&mut violations, units, patch.responsible_unit.as_deref());
            }
            "responsible_leader" => {
                patch.responsible_leader = violations
                    .check(
                        "problem.responsible_leader",
                        Unit::required(&p.responsible_leader),
                    )
                    .map(Unit::into_string)
            }
            _ => {
                patch.milestone_id = ids.and_then(|(project, _)| {
                    violations.check(
                        "problem.blocked_milestone",
                        blocked_milestone(project, &p.blocked_milestone),
                    )
                })
            }
        }
    }
    violations.build(|| {
        let (project_id, problem_id) = ids?;
        Some(UpdateProblem {
            project_id: project_id.to_string(),
            problem_id: problem_id.to_string(),
            patch,
            reason: reason?,
            etag: optional_etag(&req.etag).map(String::from),
        })
    })
}

/// The parts every transition request has, parsed with the transition's own fields.
fn parse_transition(
    name: &str,
    etag: &str,
    raw_request_id: &str,
    violations: &mut Violations,
    transition: Option<Transition>,
) -> Result<(TransitionProblem, Option<String>), Invalid> {
    let ids = violations.check("name", parse_problem_name(name));
    let request_id = violations.check("request_id", request_id(raw_request_id));
    std::mem::take(violations).build(|| {
        let (project_id, problem_id) = ids?;
        Some((
            TransitionProblem {
                project_id: project_id.to_string(),
                problem_id: problem_id.to_string(),
                transition: transition?,
                etag: optional_etag(etag).map(String::from),
            },
            request_id?,
        ))
    })
}

impl ProblemApi {
    async fn run_transition<M: prost::Message + Clone>(
        &self,
        request: Request<M>,
        method: &'static str,
        parse: impl FnOnce(&M) -> Result<(TransitionProblem, Option<String>), Invalid>,
        clear_id: impl FnOnce(&mut M),
    ) -> Result<Response<v1::Problem>, Status> {
        let ctx = self.services.write_context(&request)?;
        let req = request.into_inner();
        let (cmd, request_id) = parse(&req)?;
        let key = request_key(method, request_id, &req, clear_id);
        let outcome = service::transition(&self.services.store, &ctx, cmd, key.as_ref()).await?;
        respond(outcome, |p| convert::problem(&p)).map(Response::new)
    }
}

#[tonic::async_trait]
impl ProblemService for ProblemApi {
    async fn create_problem(
        &self,
        request: Request<v1::CreateProblemRequest>,
    ) -> Result<Response<v1::Problem>, Status> {
        let ctx = self.services.write_context(&request)?;
        let req = request.into_inner();
        let (cmd, request_id) = parse_create(&req, ctx.today, self.services.units.as_deref())?;
        let key = request_key("CreateProblem", request_id, &req, |r| r.request_id.clear());
        let outcome = service::create(&self.services.store, &ctx, cmd, key.as_ref()).await?;
        respond(outcome, |p| convert::problem(&p)).map(Response::new)
    }

    async fn get_problem(
        &self,
        request: Request<v1::GetProblemRequest>,
    ) -> Result<Response<v1::Problem>, Status> {
        let (project_id, problem_id) = parse_problem_name(&request.get_ref().name)
            .map_err(|err| Invalid::field("name", err))?;
        let problem = service::get(&self.services.store, project_id, problem_id).await?;
        Ok(Response::new(convert::problem(&problem)))
    }

    async fn list_problems(
        &self,
        request: Request<v1::ListProblemsRequest>,
    ) -> Result<Response<v1::ListProblemsResponse>, Status> {
        let req = request.get_ref();
        let mut violations = Violations::new();
        let project_id = violations.check("parent", names::parse_milestone_parent(&req.parent));
        let limit = violations.check("page_size", pagination::page_size(req.page_size));
        let text = |violations: &mut Violations, field: &str, value: &str| {
            violations
                .check(field, Unit::parse(value))
                .map(|u| (!u.is_empty()).then(|| u.into_string()))
        };
        let unit = text(&mut violations, "responsible_unit", &req.responsible_unit);
        let leader = text(
            &mut violations,
            "responsible_leader",
            &req.responsible_leader,
        );
        let township = text(&mut violations, "township", &req.township);
        let state = enum_value(&mut violations, "state", req.state, false, state);
        let category = enum_value(&mut violations, "category", req.category, false, category);
        let overdue = req
            .overdue_as_of
            .as_ref()
            .map(|d| date_value(&mut violations, "overdue_as_of", d));
        let overdue_text = req
            .overdue_as_of
            .as_ref()
            .map(|d| format!("{}-{}-{}", d.year, d.month, d.day))
            .unwrap_or_default();
        let print = pagination::fingerprint(&[
            &req.parent,
            "problems",
            &req.responsible_unit,
            &req.state.to_string(),
            &req.category.to_string(),
            &overdue_text,
            &req.responsible_leader,
            &req.township,
        ]);
        let after = violations.check("page_token", pagination::decode(&req.page_token, &print));
        if let Some(Some(cursor)) = &after
            && !matches!(cursor.key, SortKey::Int(_))
        {
            violations.add("page_token", "is not a page token issued by this service");
        }
        let (query, limit, after) = violations.build(|| {
            Some((
                ProblemQuery {
                    project_id: project_id?.map(String::from),
                    responsible_unit: unit?,
                    state,
                    category,
                    overdue_as_of: match overdue {
                        Some(date) => Some(date?),
                        None => None,
                    },
                    responsible_leader: leader?,
                    township: township?,
                },
                limit?,
                after?,
            ))
        })?;
        let page = self
            .services
            .store
            .list_problems(&query, after.as_ref(), limit)
            .await
            .map_err(crate::service::ServiceError::from)?;
        let (problems, next_page_token) = pagination::fit(
            page,
            self.services.max_message_bytes,
            &print,
            convert::problem,
        );
        Ok(Response::new(v1::ListProblemsResponse {
            problems,
            next_page_token,
        }))
    }

    async fn update_problem(
        &self,
        request: Request<v1::UpdateProblemRequest>,
    ) -> Result<Response<v1::Problem>, Status> {
        let ctx = self.services.write_context(&request)?;
        let cmd = parse_update(request.get_ref(), self.services.units.as_deref())?;
        let outcome = service::update(&self.services.store, &ctx, cmd).await?;
        respond(outcome, |p| convert::problem(&p)).map(Response::new)
    }

    async fn start_problem(
        &self,
        request: Request<v1::StartProblemRequest>,
    ) -> Result<Response<v1::Problem>, Status> {
        self.run_transition(
            request,
            "StartProblem",
            |r| {
                let mut violations = Violations::new();
                let note = violations.check("note", Reason::parse(&r.note));
                let t = note.map(Transition::Start);
                parse_transition(&r.name, &r.etag, &r.request_id, &mut violations, t)
            },
            |r| r.request_id.clear(),
        )
        .await
    }

    async fn resolve_problem(
        &self,
        request: Request<v1::ResolveProblemRequest>,
    ) -> Result<Response<v1::Problem>, Status> {
        self.run_transition(
            request,
            "ResolveProblem",
            |r| {
                let mut violations = Violations::new();
                let note = violations.check("resolution_note", Note::required(&r.resolution_note));
                let t = note.map(Transition::Resolve);
                parse_transition(&r.name, &r.etag, &r.request_id, &mut violations, t)
            },
            |r| r.request_id.clear(),
        )
        .await
    }

    async fn reopen_problem(
        &self,
        request: Request<v1::ReopenProblemRequest>,
    ) -> Result<Response<v1::Problem>, Status> {
        self.run_transition(
            request,
            "ReopenProblem",
            |r| {
                let mut violations = Violations::new();
                let reason = violations.check("reason", Reason::required(&r.reason));
                let t = reason.map(Transition::Reopen);
                parse_transition(&r.name, &r.etag, &r.request_id, &mut violations, t)
            },
            |r| r.request_id.clear(),
        )
        .await
    }

    async fn close_problem(
        &self,
        request: Request<v1::CloseProblemRequest>,
    ) -> Result<Response<v1::Problem>, Status> {
        self.run_transition(
            request,
            "CloseProblem",
            |r| {
                let mut violations = Violations::new();
                let note = violations.check("note", Reason::parse(&r.note));
                let t = note.map(Transition::Close);
                parse_transition(&r.name, &r.etag, &r.request_id, &mut violations, t)
            },
            |r| r.request_id.clear(),
        )
        .await
    }

    async fn extend_problem_deadline(
        &self,
        request: Request<v1::ExtendProblemDeadlineRequest>,
    ) -> Result<Response<v1::Problem>, Status> {
        self.run_transition(
            request,
            "ExtendProblemDeadline",
            |r| {
                let mut violations = Violations::new();
                let reason = violations.check("reason", Reason::required(&r.reason));
                let deadline = match r.deadline.as_ref() {
                    Some(d) => date_value(&mut violations, "deadline", d),
                    None => {
                        violations.add("deadline", "is required");
                        None
                    }
                };
                let t = reason
                    .zip(deadline)
                    .map(|(reason, deadline)| Transition::ExtendDeadline { deadline, reason });
                parse_transition(&r.name, &r.etag, &r.request_id, &mut violations, t)
            },
            |r| r.request_id.clear(),
        )
        .await
    }

    async fn list_problem_revisions(
        &self,
        request: Request<v1::ListProblemRevisionsRequest>,
    ) -> Result<Response<v1::ListProblemRevisionsResponse>, Status> {
        let req = request.get_ref();
        let mut violations = Violations::new();
        let ids = violations.check("name", parse_problem_name(&req.name));
        let limit = violations.check("page_size", pagination::page_size(req.page_size));
        let print = pagination::fingerprint(&[&req.name, "revisions"]);
        let after = violations.check("page_token", pagination::decode(&req.page_token, &print));
        let after = match after {
            Some(Some(cursor)) => match cursor.key {
                SortKey::Int(number) => Some(Some(number)),
                SortKey::Text(_) => {
                    violations.add("page_token", "is not a page token issued by this service");
                    None
                }
            },
            Some(None) => Some(None),
            None => None,
        };
        let ((project_id, problem_id), limit, after) =
            violations.build(|| Some((ids?, limit?, after?)))?;
        let page =
            service::revisions(&self.services.store, project_id, problem_id, after, limit).await?;
        let (revisions, next_page_token) = pagination::fit(
            page,
            self.services.max_message_bytes,
            &print,
            convert::revision,
        );
        Ok(Response::new(v1::ListProblemRevisionsResponse {
            revisions,
            next_page_token,
        }))
    }
}
