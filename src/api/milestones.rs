//! MilestoneService: milestones, their dates and revisions, and the supervisor's list.

use chrono::NaiveDate;
use tonic::{Request, Response, Status};

use super::filter::{self, Op};
use super::pagination;
use super::parse::{date_value, enum_filter, enum_value, invalid, mask_paths, optional_etag};
use super::{Services, request_key, respond, to_status};
use crate::domain::error::Violations;
use crate::domain::milestone::{Light, MilestoneKind, MilestoneStatus};
use crate::domain::names;
use crate::domain::values;
use crate::proto::v1::{self, milestone_service_server::MilestoneService};
use crate::service::ServiceError;
use crate::store::milestones::{
    DateChange, MilestoneFilter, MilestoneOrder, MilestonePatch, MilestoneQuery, NewMilestone,
};
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

    #[allow(clippy::too_many_arguments)]
    async fn change_date(
        &self,
        request_meta: &Request<()>,
        change: DateChange,
        name: &str,
        date_field: &str,
        date: Option<&v1::Date>,
        reason: &str,
        etag: &str,
        request_id: &str,
        key_source: Option<crate::store::idempotency::RequestKey>,
    ) -> Result<Response<v1::Milestone>, Status> {
        let ctx = self.services.write_context(request_meta)?;
        let mut violations = Violations::new();
        let ids = violations.check("name", names::parse_milestone_name(name));
        let new_date = match date {
            None => {
                violations.add(date_field, "is required");
                None
            }
            Some(d) => date_value(&mut violations, date_field, d),
        };
        if change == DateChange::Achieve
            && let Some(d) = new_date
            && d > ctx.today
        {
            violations.add(
                date_field,
                format!("{d} is in the future (today is {})", ctx.today),
            );
        }
        let reason_required = change == DateChange::Rebaseline;
        let reason = violations.check(
            "reason",
            values::text(reason, reason_required, values::REASON_CHARS),
        );
        violations.check("request_id", values::request_id(request_id));
        invalid(violations)?;
        let (project_id, milestone_id) = ids.expect("validated");
        let outcome = self
            .services
            .store
            .change_milestone_date(
                &ctx,
                &self.services.policy,
                change,
                project_id,
                milestone_id,
                new_date.expect("validated"),
                reason.expect("validated"),
                optional_etag(etag),
                key_source.as_ref(),
            )
            .await
            .map_err(to_status)?;
        respond(outcome, |m| v1::Milestone::from(&m)).map(Response::new)
    }
}

fn kind_from_proto(raw: i32) -> Option<MilestoneKind> {
    let name = v1::MilestoneKind::try_from(raw).ok()?.as_str_name();
    MilestoneKind::parse(name.strip_prefix("MILESTONE_KIND_")?)
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

/// Metadata of a request without its body, so helpers can take any request's identity.
fn meta<T>(request: &Request<T>) -> Request<()> {
    let mut bare = Request::new(());
    *bare.metadata_mut() = request.metadata().clone();
    if let Some(principal) = request
        .extensions()
        .get::<crate::domain::access::Principal>()
    {
        bare.extensions_mut().insert(principal.clone());
    }
    bare
}

#[tonic::async_trait]
impl MilestoneService for MilestoneApi {
    async fn create_milestone(
        &self,
        request: Request<v1::CreateMilestoneRequest>,
    ) -> Result<Response<v1::Milestone>, Status> {
        let ctx = self.services.write_context(&request)?;
        let req = request.into_inner();
        let mut violations = Violations::new();
        let project_id = violations.check("parent", names::parse_project_name(&req.parent));
        let m = req.milestone.clone().unwrap_or_default();
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
        let title = violations.check(
            "milestone.title",
            values::text(&m.title, false, values::TITLE_CHARS),
        );
        if kind == Some(MilestoneKind::Custom) && title.as_deref() == Some("") {
            violations.add("milestone.title", "is required for CUSTOM milestones");
        }
        let description = violations.check(
            "milestone.description",
            values::text(&m.description, false, values::NOTE_CHARS),
        );
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
        let milestone_id = if req.milestone_id.is_empty() {
            None
        } else {
            violations
                .check("milestone_id", names::validate_id(&req.milestone_id))
                .map(|_| req.milestone_id.clone())
        };
        let request_id = violations
            .check("request_id", values::request_id(&req.request_id))
            .flatten();
        invalid(violations)?;
        let new = NewMilestone {
            kind: kind.expect("validated"),
            title: title.expect("validated"),
            description: description.expect("validated"),
            baseline: baseline.expect("validated"),
            forecast: forecast.expect("validated"),
        };
        let key = request_key("CreateMilestone", request_id, &req, |r| {
            r.request_id.clear()
        });
        let outcome = self
            .services
            .store
            .create_milestone(
                &ctx,
                &self.services.policy,
                project_id.expect("validated"),
                milestone_id,
                new,
                key.as_ref(),
            )
            .await
            .map_err(to_status)?;
        respond(outcome, |m| v1::Milestone::from(&m)).map(Response::new)
    }

    async fn get_milestone(
        &self,
        request: Request<v1::GetMilestoneRequest>,
    ) -> Result<Response<v1::Milestone>, Status> {
        let req = request.into_inner();
        let mut violations = Violations::new();
        let ids = violations.check("name", names::parse_milestone_name(&req.name));
        let status_date = self.status_date(&mut violations, req.status_date.as_ref());
        invalid(violations)?;
        let (project_id, milestone_id) = ids.expect("validated");
        let assessed = self
            .services
            .store
            .get_milestone(
                &self.services.policy,
                project_id,
                milestone_id,
                status_date.expect("validated"),
                self.services.clock.today(),
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(v1::Milestone::from(&assessed)))
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
        invalid(violations)?;
        let query = MilestoneQuery {
            filter: f,
            order: order.expect("validated"),
            descending,
            after,
            limit: limit.expect("validated"),
            status_date: status_date.expect("validated"),
        };
        let page = self
            .services
            .store
            .list_milestones(&self.services.policy, &query)
            .await
            .map_err(to_status)?;
        let (milestones, next_page_token) =
            pagination::fit(page, self.services.max_message_bytes, &print, |item| {
                v1::Milestone::from(item)
            });
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
        let req = request.into_inner();
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
                    patch.title = violations.check(
                        "milestone.title",
                        values::text(&m.title, false, values::TITLE_CHARS),
                    )
                }
                _ => {
                    patch.description = violations.check(
                        "milestone.description",
                        values::text(&m.description, false, values::NOTE_CHARS),
                    )
                }
            }
        }
        invalid(violations)?;
        let (project_id, milestone_id) = ids.expect("validated");
        let updated = self
            .services
            .store
            .update_milestone(
                &ctx,
                &self.services.policy,
                project_id,
                milestone_id,
                patch,
                optional_etag(&m.etag),
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(v1::Milestone::from(&updated)))
    }

    async fn delete_milestone(
        &self,
        request: Request<v1::DeleteMilestoneRequest>,
    ) -> Result<Response<()>, Status> {
        let ctx = self.services.write_context(&request)?;
        let req = request.into_inner();
        let (project_id, milestone_id) = names::parse_milestone_name(&req.name)
            .map_err(|e| to_status(ServiceError::invalid("name", e)))?;
        self.services
            .store
            .delete_milestone(&ctx, project_id, milestone_id, optional_etag(&req.etag))
            .await
            .map_err(to_status)?;
        Ok(Response::new(()))
    }

    async fn forecast_milestone(
        &self,
        request: Request<v1::ForecastMilestoneRequest>,
    ) -> Result<Response<v1::Milestone>, Status> {
        let bare = meta(&request);
        let req = request.into_inner();
        let key = request_key(
            "ForecastMilestone",
            values::request_id(&req.request_id).ok().flatten(),
            &req,
            |r| r.request_id.clear(),
        );
        self.change_date(
            &bare,
            DateChange::Forecast,
            &req.name,
            "forecast_date",
            req.forecast_date.as_ref(),
            &req.reason,
            &req.etag,
            &req.request_id,
            key,
        )
        .await
    }

    async fn achieve_milestone(
        &self,
        request: Request<v1::AchieveMilestoneRequest>,
    ) -> Result<Response<v1::Milestone>, Status> {
        let bare = meta(&request);
        let req = request.into_inner();
        let key = request_key(
            "AchieveMilestone",
            values::request_id(&req.request_id).ok().flatten(),
            &req,
            |r| r.request_id.clear(),
        );
        self.change_date(
            &bare,
            DateChange::Achieve,
            &req.name,
            "actual_date",
            req.actual_date.as_ref(),
            &req.reason,
            &req.etag,
            &req.request_id,
            key,
        )
        .await
    }

    async fn rebaseline_milestone(
        &self,
        request: Request<v1::RebaselineMilestoneRequest>,
    ) -> Result<Response<v1::Milestone>, Status> {
        let bare = meta(&request);
        let req = request.into_inner();
        let key = request_key(
            "RebaselineMilestone",
            values::request_id(&req.request_id).ok().flatten(),
            &req,
            |r| r.request_id.clear(),
        );
        self.change_date(
            &bare,
            DateChange::Rebaseline,
            &req.name,
            "baseline_date",
            req.baseline_date.as_ref(),
            &req.reason,
            &req.etag,
            &req.request_id,
            key,
        )
        .await
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
        invalid(violations)?;
        let (project_id, milestone_id) = ids.expect("validated");
        let (revisions, more) = self
            .services
            .store
            .list_milestone_revisions(
                project_id,
                milestone_id,
                after_number,
                limit.expect("validated"),
            )
            .await
            .map_err(to_status)?;
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
