//! MilestoneService: milestones, their dates and revisions, and the supervisor's list. Each
//! handler parses its request into a command (every bad field collected), runs it
//! (`service::milestones`) and answers with the milestone.

use chrono::NaiveDate;
use prost::Message;
use tonic::{Request, Response, Status};

use super::filter::{self, Op};
use super::pagination;
use super::parse::{date_value, enum_filter, enum_value, mask_paths, optional_etag};
use super::{Services, request_key, respond};
use crate::domain::error::{Invalid, Violations};
use crate::domain::milestone::{
    DateChange, Light, MilestoneKind, MilestonePatch, MilestoneStatus, NewMilestone,
};
use crate::domain::names;
use crate::domain::values::{self, Id, Note, Reason, Title};
use crate::proto::v1::{self, milestone_service_server::MilestoneService};
use crate::service::milestones::{
    self as service, ChangeDate, CreateMilestone, DeleteMilestone, GetMilestone, UpdateMilestone,
};
use crate::store::milestones::{MilestoneFilter, MilestoneOrder, MilestoneQuery};
use crate::store::{Cursor, Page, SortKey};

/// The gRPC face of milestones.
#[derive(Clone, Debug)]
pub struct MilestoneApi {
    services: Services,
}

impl MilestoneApi {
    pub fn new(services: Services) -> Self {
        Self { services }
    }

    /// The status date of a read: the given date, or today.
    fn status_date(
        &self,
        violations: &mut Violations,
        given: Option<&v1::Date>,
    ) -> Option<NaiveDate> {
        match given {
            None => Some(self.services.clock.today()),
            Some(date) => date_value(violations, "status_date", date),
        }
    }

    /// ForecastMilestone, AchieveMilestone and RebaselineMilestone.
    async fn change_date<R: DateChangeRequest>(
        &self,
        request: Request<R>,
    ) -> Result<Response<v1::Milestone>, Status> {
        let ctx = self.services.write_context(&request)?;
        let cmd = date_change(request.get_ref(), ctx.today)?;
        let (policy, rule_set) = self.services.light_policy().await?;
        let outcome =
            service::change_date(&self.services.store, &policy, &rule_set, &ctx, cmd).await?;
        respond(outcome, |m| m)
            .map(|m| Response::new(crate::proto::annotated_milestone(m, &policy, &rule_set)))
    }
}

/// What the three date-changing requests share.
trait DateChangeRequest: Message + Clone + Send + 'static {
    /// The method, the namespace of the request id.
    const METHOD: &'static str;
    const CHANGE: DateChange;
    fn name(&self) -> &str;
    fn date(&self) -> Option<&v1::Date>;
    fn reason(&self) -> &str;
    fn etag(&self) -> &str;
    fn request_id(&self) -> &str;
    fn clear_request_id(&mut self);
}

macro_rules! date_change_request {
    ($request:ty, $method:literal, $change:expr, $date:ident) => {
        impl DateChangeRequest for $request {
            const METHOD: &'static str = $method;
            const CHANGE: DateChange = $change;
            fn name(&self) -> &str {
                &self.name
            }
            fn date(&self) -> Option<&v1::Date> {
                self.$date.as_ref()
            }
            fn reason(&self) -> &str {
                &self.reason
            }
            fn etag(&self) -> &str {
                &self.etag
            }
            fn request_id(&self) -> &str {
                &self.request_id
            }
            fn clear_request_id(&mut self) {
                self.request_id.clear()
            }
        }
    };
}

date_change_request!(
    v1::ForecastMilestoneRequest,
    "ForecastMilestone",
    DateChange::Forecast,
    forecast_date
);
date_change_request!(
    v1::AchieveMilestoneRequest,
    "AchieveMilestone",
    DateChange::Achieve,
    actual_date
);
date_change_request!(
    v1::RebaselineMilestoneRequest,
    "RebaselineMilestone",
    DateChange::Rebaseline,
    baseline_date
);

/// Parses a date-changing request as of `today`, in the order its fields are reported: the
/// name, the date (required; an achievement not after today), the reason (required for a
/// rebaseline), the request id.
fn date_change<R: DateChangeRequest>(req: &R, today: NaiveDate) -> Result<ChangeDate, Invalid> {
    let change = R::CHANGE;
    let date_field = change.date_field();
    let mut violations = Violations::new();
    let ids = violations.check("name", names::parse_milestone_name(req.name()));
    let date = match req.date() {
        None => {
            violations.add(date_field, "is required");
            None
        }
        Some(d) => date_value(&mut violations, date_field, d),
    };
    if let Some(date) = date {
        violations.check(date_field, change.check_date(date, today));
    }
    let reason = if change.needs_reason() {
        Reason::required(req.reason())
    } else {
        Reason::parse(req.reason())
    };
    let reason = violations.check("reason", reason);
    let request_id = violations.check("request_id", values::request_id(req.request_id()));
    violations.build(|| {
        let (project_id, milestone_id) = ids?;
        Some(ChangeDate {
            project_id: project_id.to_string(),
            milestone_id: milestone_id.to_string(),
            change,
            date: date?,
            reason: reason?,
            etag: optional_etag(req.etag()).map(String::from),
            key: request_key(R::METHOD, request_id?, req, R::clear_request_id),
        })
    })
}

/// A milestone kind of the API.
pub(crate) fn kind_from_proto(raw: i32) -> Option<MilestoneKind> {
    match v1::MilestoneKind::try_from(raw).ok()? {
        v1::MilestoneKind::Unspecified => None,
        v1::MilestoneKind::ContractSigning => Some(MilestoneKind::ContractSigning),
        v1::MilestoneKind::ConstructionStart => Some(MilestoneKind::ConstructionStart),
        v1::MilestoneKind::TrialProduction => Some(MilestoneKind::TrialProduction),
        v1::MilestoneKind::Completion => Some(MilestoneKind::Completion),
        v1::MilestoneKind::Custom => Some(MilestoneKind::Custom),
    }
}

impl TryFrom<&v1::CreateMilestoneRequest> for CreateMilestone {
    type Error = Invalid;

    fn try_from(req: &v1::CreateMilestoneRequest) -> Result<Self, Invalid> {
        let mut violations = Violations::new();
        let project_id = violations.check("parent", names::parse_project_name(&req.parent));
        let absent = v1::Milestone::default();
        let m = req.milestone.as_ref().unwrap_or(&absent);
        if req.milestone.is_none() {
            violations.add("milestone", "is required");
        }
        let kind = enum_value(
            &mut violations,
            "milestone.kind",
            m.kind,
            true,
            kind_from_proto,
        );
        let title = violations.check("milestone.title", Title::parse(&m.title));
        if let (Some(kind), Some(title)) = (kind, &title) {
            violations.check("milestone.title", kind.check_title(title));
        }
        let description = violations.check("milestone.description", Note::parse(&m.description));
        let baseline = match &m.baseline_date {
            None => {
                violations.add("milestone.baseline_date", "is required");
                None
            }
            Some(d) => date_value(&mut violations, "milestone.baseline_date", d),
        };
        let forecast = match &m.forecast_date {
            None => Some(None),
            Some(d) => date_value(&mut violations, "milestone.forecast_date", d).map(Some),
        };
        if m.actual_date.is_some() {
            violations.add(
                "milestone.actual_date",
                "is output only; use AchieveMilestone",
            );
        }
        let milestone_id = violations.check("milestone_id", Id::optional(&req.milestone_id));
        let request_id = violations.check("request_id", values::request_id(&req.request_id));
        violations.build(|| {
            Some(CreateMilestone {
                project_id: project_id?.to_string(),
                milestone_id: milestone_id?,
                new: NewMilestone {
                    kind: kind?,
                    title: title?.into_string(),
                    description: description?.into_string(),
                    baseline: baseline?,
                    forecast: forecast?,
                },
                key: request_key("CreateMilestone", request_id?, req, |r| {
                    r.request_id.clear()
                }),
            })
        })
    }
}

impl TryFrom<v1::UpdateMilestoneRequest> for UpdateMilestone {
    type Error = Invalid;

    fn try_from(req: v1::UpdateMilestoneRequest) -> Result<Self, Invalid> {
        let mut violations = Violations::new();
        let m = req.milestone.unwrap_or_default();
        let ids = violations.check("milestone.name", names::parse_milestone_name(&m.name));
        const MUTABLE: &[&str] = &["title", "description"];
        const NOT_HERE: &[&str] = &[
            "name",
            "uid",
            "kind",
            "baseline_date",
            "forecast_date",
            "actual_date",
            "status_date",
            "projected_date",
            "variance_days",
            "status",
            "light",
            "slip_count",
            "days_slipped",
            "create_time",
            "update_time",
            "etag",
        ];
        let paths = mask_paths(
            req.update_mask.as_ref(),
            MUTABLE,
            NOT_HERE,
            |p| match p {
                "title" => !m.title.is_empty(),
                "description" => !m.description.is_empty(),
                _ => false,
            },
            &mut violations,
        );
        let mut patch = MilestonePatch::default();
        for path in paths {
            match path {
                "title" => {
                    patch.title = violations
                        .check("milestone.title", Title::parse(&m.title))
                        .map(Title::into_string)
                }
                _ => {
                    patch.description = violations
                        .check("milestone.description", Note::parse(&m.description))
                        .map(Note::into_string)
                }
            }
        }
        violations.build(|| {
            let (project_id, milestone_id) = ids?;
            Some(UpdateMilestone {
                project_id: project_id.to_string(),
                milestone_id: milestone_id.to_string(),
                patch,
                etag: optional_etag(&m.etag).map(String::from),
            })
        })
    }
}

impl TryFrom<&v1::DeleteMilestoneRequest> for DeleteMilestone {
    type Error = Invalid;

    fn try_from(req: &v1::DeleteMilestoneRequest) -> Result<Self, Invalid> {
        let (project_id, milestone_id) =
            names::parse_milestone_name(&req.name).map_err(|e| Invalid::field("name", e))?;
        Ok(DeleteMilestone {
            project_id: project_id.to_string(),
            milestone_id: milestone_id.to_string(),
            etag: optional_etag(&req.etag).map(String::from),
        })
    }
}

/// `YYYY-MM-DD` in a filter.
fn filter_date(value: &str) -> Result<NaiveDate, String> {
    let parts: Vec<&str> = value.split('-').collect();
    let parsed = match parts.as_slice() {
        [y, m, d] => y.parse().ok().zip(m.parse().ok()).zip(d.parse().ok()),
        _ => None,
    };
    match parsed {
        Some(((y, m), d)) => values::civil_date(y, m, d),
        None => Err(format!("{value:?} is not a date YYYY-MM-DD")),
    }
}

#[tonic::async_trait]
impl MilestoneService for MilestoneApi {
    async fn create_milestone(
        &self,
        request: Request<v1::CreateMilestoneRequest>,
    ) -> Result<Response<v1::Milestone>, Status> {
        let ctx = self.services.write_context(&request)?;
        let cmd = CreateMilestone::try_from(request.get_ref())?;
        let (policy, rule_set) = self.services.light_policy().await?;
        let outcome = service::create(&self.services.store, &policy, &rule_set, &ctx, cmd).await?;
        respond(outcome, |m| m)
            .map(|m| Response::new(crate::proto::annotated_milestone(m, &policy, &rule_set)))
    }

    async fn get_milestone(
        &self,
        request: Request<v1::GetMilestoneRequest>,
    ) -> Result<Response<v1::Milestone>, Status> {
        let req = request.into_inner();
        let mut violations = Violations::new();
        let ids = violations.check("name", names::parse_milestone_name(&req.name));
        let status_date = self.status_date(&mut violations, req.status_date.as_ref());
        let query = violations.build(|| {
            let (project_id, milestone_id) = ids?;
            Some(GetMilestone {
                project_id: project_id.to_string(),
                milestone_id: milestone_id.to_string(),
                status_date: status_date?,
            })
        })?;
        let services = &self.services;
        let today = services.clock.today();
        let status_date = query.status_date;
        let (policy, rule_set) = services.light_policy().await?;
        let assessed = service::get(&services.store, &policy, query, today).await?;
        let mut message = [crate::proto::annotated_milestone(
            v1::Milestone::from(&assessed),
            &policy,
            &rule_set,
        )];
        crate::service::investment::mark_exempt_milestones(
            &services.store,
            &mut message,
            status_date,
        )
        .await?;
        let [message] = message;
        Ok(Response::new(message))
    }

    async fn list_milestones(
        &self,
        request: Request<v1::ListMilestonesRequest>,
    ) -> Result<Response<v1::ListMilestonesResponse>, Status> {
        let req = request.into_inner();
        let mut violations = Violations::new();
        let parent = violations.check("parent", names::parse_milestone_parent(&req.parent));
        let limit = violations.check("page_size", pagination::page_size(req.page_size));
        let status_date = self.status_date(&mut violations, req.status_date.as_ref());
        let mut f = MilestoneFilter {
            project_id: parent.flatten().map(String::from),
            ..Default::default()
        };
        const FIELDS: &[(&str, Op)] = &[
            ("kind", Op::Equals),
            ("status", Op::Equals),
            ("light", Op::Equals),
            ("township", Op::Equals),
            ("department", Op::Equals),
            ("leader", Op::Equals),
            ("baseline_date", Op::Equals),
            ("baseline_date", Op::GreaterOrEqual),
            ("baseline_date", Op::Greater),
            ("baseline_date", Op::LessOrEqual),
            ("baseline_date", Op::Less),
        ];
        if let Some(terms) = violations.check("filter", filter::parse(&req.filter, FIELDS)) {
            for term in terms {
                let value = term.value;
                match term.field.as_str() {
                    "kind" => {
                        f.kind = violations.check(
                            "filter",
                            enum_filter(&value, "MILESTONE_KIND_", MilestoneKind::parse),
                        )
                    }
                    "status" => {
                        f.status = violations.check(
                            "filter",
                            enum_filter(&value, "MILESTONE_STATUS_", MilestoneStatus::parse),
                        )
                    }
                    "light" => {
                        f.light = violations
                            .check("filter", enum_filter(&value, "ALERT_LIGHT_", Light::parse))
                    }
                    "township" => f.township = Some(value),
                    "department" => f.department = Some(value),
                    "leader" => f.leader = Some(value),
                    "baseline_date" => {
                        if let Some(date) = violations.check("filter", filter_date(&value)) {
                            let day = chrono::Duration::days(1);
                            let (from, to) = match term.op {
                                Op::Equals => (Some(date), Some(date)),
                                Op::GreaterOrEqual => (Some(date), None),
                                Op::Greater => (Some(date + day), None),
                                Op::LessOrEqual => (None, Some(date)),
                                _ => (None, Some(date - day)),
                            };
                            if from.is_some() {
                                f.baseline_from = f.baseline_from.max(from);
                            }
                            if let Some(to) = to {
                                f.baseline_to = Some(f.baseline_to.map_or(to, |t| t.min(to)));
                            }
                        }
                    }
                    _ => unreachable!("filter fields come from FIELDS"),
                }
            }
        }
        let order_by: Vec<&str> = req.order_by.split_whitespace().collect();
        let (order, descending) = match order_by.as_slice() {
            [] => (Some(MilestoneOrder::BaselineDate), false),
            [field] | [field, "asc"] | [field, "desc"] => {
                let order = match *field {
                    "baseline_date" => Some(MilestoneOrder::BaselineDate),
                    "variance_days" => Some(MilestoneOrder::Variance),
                    _ => None,
                };
                if order.is_none() {
                    violations.add(
                        "order_by",
                        format!("cannot order by {field:?}; use baseline_date or variance_days"),
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
            &req.parent,
            &format!("{f:?}"),
            &req.order_by.trim().to_lowercase(),
            &format!("{status_date:?}"),
        ]);
        let after = violations.check("page_token", pagination::decode(&req.page_token, &print));
        let after = after.flatten();
        if let Some(Cursor {
            key: SortKey::Text(_),
            ..
        }) = &after
        {
            violations.add("page_token", "is not a page token issued by this service");
        }
        let query = violations.build(|| {
            Some(MilestoneQuery {
                filter: f,
                order: order?,
                descending,
                after,
                limit: limit?,
                status_date: status_date?,
            })
        })?;
        let (policy, rule_set) = self.services.light_policy().await?;
        let page = self.services.store.list_milestones(&policy, &query).await?;
        let (mut milestones, next_page_token) =
            pagination::fit(page, self.services.max_message_bytes, &print, |item| {
                crate::proto::annotated_milestone(v1::Milestone::from(item), &policy, &rule_set)
            });
        crate::service::investment::mark_exempt_milestones(
            &self.services.store,
            &mut milestones,
            query.status_date,
        )
        .await?;
        Ok(Response::new(v1::ListMilestonesResponse {
            milestones,
            next_page_token,
        }))
    }

    async fn update_milestone(
        &self,
        request: Request<v1::UpdateMilestoneRequest>,
    ) -> Result<Response<v1::Milestone>, Status> {
        let ctx = self.services.write_context(&request)?;
        let cmd = UpdateMilestone::try_from(request.into_inner())?;
        let (policy, rule_set) = self.services.light_policy().await?;
        let outcome = service::update(&self.services.store, &policy, &rule_set, &ctx, cmd).await?;
        respond(outcome, |m| m)
            .map(|m| Response::new(crate::proto::annotated_milestone(m, &policy, &rule_set)))
    }

    async fn delete_milestone(
        &self,
        request: Request<v1::DeleteMilestoneRequest>,
    ) -> Result<Response<()>, Status> {
        let ctx = self.services.write_context(&request)?;
        let cmd = DeleteMilestone::try_from(request.get_ref())?;
        let outcome = service::delete(&self.services.store, &ctx, cmd).await?;
        respond(outcome, |()| ()).map(Response::new)
    }

    async fn forecast_milestone(
        &self,
        request: Request<v1::ForecastMilestoneRequest>,
    ) -> Result<Response<v1::Milestone>, Status> {
        self.change_date(request).await
    }

    async fn achieve_milestone(
        &self,
        request: Request<v1::AchieveMilestoneRequest>,
    ) -> Result<Response<v1::Milestone>, Status> {
        self.change_date(request).await
    }

    async fn rebaseline_milestone(
        &self,
        request: Request<v1::RebaselineMilestoneRequest>,
    ) -> Result<Response<v1::Milestone>, Status> {
        self.change_date(request).await
    }

    async fn list_milestone_revisions(
        &self,
        request: Request<v1::ListMilestoneRevisionsRequest>,
    ) -> Result<Response<v1::ListMilestoneRevisionsResponse>, Status> {
        let req = request.into_inner();
        let mut violations = Violations::new();
        let ids = violations.check("name", names::parse_milestone_name(&req.name));
        let limit = violations.check("page_size", pagination::page_size(req.page_size));
        let print = pagination::fingerprint(&[&req.name]);
        let after = violations.check("page_token", pagination::decode(&req.page_token, &print));
        let after_number = match after.flatten() {
            None => 0,
            Some(Cursor {
                key: SortKey::Int(n),
                ..
            }) if (0..=i32::MAX as i64).contains(&n) => n as i32,
            Some(_) => {
                violations.add("page_token", "is not a page token issued by this service");
                0
            }
        };
        let (project_id, milestone_id, limit) = violations.build(|| {
            let (project_id, milestone_id) = ids?;
            Some((project_id, milestone_id, limit?))
        })?;
        let (revisions, more) = self
            .services
            .store
            .list_milestone_revisions(project_id, milestone_id, after_number, limit)
            .await?;
        let page = Page::new(revisions, more, |revision| Cursor {
            key: SortKey::Int(revision.number as i64),
            id: String::new(),
        });
        let (revisions, next_page_token) =
            pagination::fit(page, self.services.max_message_bytes, &print, |item| {
                v1::MilestoneRevision::from(item)
            });
        Ok(Response::new(v1::ListMilestoneRevisionsResponse {
            revisions,
            next_page_token,
        }))
    }
}
