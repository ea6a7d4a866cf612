//! InvestmentService: the monthly investment cycle (DESIGN §11). Each handler parses its
//! request into a command (every bad field named), calls `service::investment`, and converts
//! the result back.

use tonic::{Request, Response, Status};

use super::parse::{date_value, enum_value, optional_etag};
use super::{Services, pagination, request_key, respond};
use crate::domain::error::{Invalid, Violations};
use crate::domain::investment::{
    Correction, NewReport, RuleSetRef, parse_plan_name, parse_report_name,
};
use crate::domain::justification::{
    JustificationFields, JustificationReason, JustificationScope, parse_justification_name,
};
use crate::domain::names;
use crate::domain::pace::{InvestmentPlan, LightRules, PaceMeasure, Recovery, YearMonth};
use crate::domain::problem::EscalationLadder;
use crate::domain::values::{Id, Note, Reason, Title, Yuan, request_id};
use crate::proto::v1::investment_service_server::InvestmentService;
use crate::proto::{self, v1};
use crate::service::investment::{
    self as service, CorrectReport, CreateJustification, CreateReport, PaceQuery, PublishRuleSet,
    RevokeJustification, SetPlan,
};
use crate::store::{Cursor, SortKey};

pub struct InvestmentApi {
    services: Services,
}

impl InvestmentApi {
    pub fn new(services: Services) -> Self {
        Self { services }
    }
}

fn parse_set_plan(req: &v1::SetInvestmentPlanRequest) -> Result<SetPlan, Invalid> {
    let mut violations = Violations::new();
    let Some(plan) = req.investment_plan.as_ref() else {
        return Err(Invalid::field("investment_plan", "is required"));
    };
    let name = violations.check("investment_plan.name", parse_plan_name(&plan.name));
    // With the year unreadable the amounts are still checked (against any valid year), so
    // one answer names every bad field.
    let year = name.map_or(2000, |(_, year)| year);
    let plan_value = violations.absorb(InvestmentPlan::new(
        year,
        plan.total_yuan,
        &plan.monthly_yuan,
    ));
    violations.build(|| {
        let (project_id, _) = name?;
        Some(SetPlan {
            project_id: project_id.to_string(),
            plan: plan_value?,
            etag: optional_etag(&req.etag).map(String::from),
        })
    })
}

fn parse_create_report(
    req: &v1::CreateInvestmentReportRequest,
) -> Result<(CreateReport, Option<String>), Invalid> {
    let mut violations = Violations::new();
    let project_id = violations.check("parent", names::parse_project_name(&req.parent));
    let month = violations.check(
        "investment_report_id",
        YearMonth::parse(&req.investment_report_id),
    );
    let report = req.investment_report.as_ref();
    if report.is_none() {
        violations.add("investment_report", "is required");
    }
    let amount = report.and_then(|r| {
        violations.check("investment_report.amount_yuan", Yuan::parse(r.amount_yuan))
    });
    let progress = report.and_then(|r| {
        violations.check(
            "investment_report.physical_progress",
            Title::parse(&r.physical_progress),
        )
    });
    let request_id = violations.check("request_id", request_id(&req.request_id));
    violations.build(|| {
        Some((
            CreateReport {
                project_id: project_id?.to_string(),
                report: NewReport {
                    month: month?,
                    amount: amount?,
                    physical_progress: progress?,
                },
            },
            request_id?,
        ))
    })
}

fn parse_correct_report(
    req: &v1::CorrectInvestmentReportRequest,
) -> Result<(CorrectReport, Option<String>), Invalid> {
    let mut violations = Violations::new();
    let name = violations.check("name", parse_report_name(&req.name));
    let amount = violations.check("amount_yuan", Yuan::parse(req.amount_yuan));
    let progress = if req.physical_progress.is_empty() {
        Some(None)
    } else {
        violations
            .check("physical_progress", Title::parse(&req.physical_progress))
            .map(Some)
    };
    let reason = violations.check("reason", Reason::required(&req.reason));
    let request_id = violations.check("request_id", request_id(&req.request_id));
    violations.build(|| {
        let (project_id, month) = name?;
        Some((
            CorrectReport {
                project_id: project_id.to_string(),
                month,
                correction: Correction {
                    amount: amount?,
                    physical_progress: progress?,
                    reason: reason?,
                },
                etag: optional_etag(&req.etag).map(String::from),
            },
            request_id?,
        ))
    })
}

fn parse_rules(violations: &mut Violations, r: &v1::LightRuleSet) -> Option<LightRules> {
    let measure = enum_value(
        violations,
        "light_rule_set.pace_measure",
        r.pace_measure,
        true,
        |raw| match v1::PaceMeasure::try_from(raw).ok()? {
            v1::PaceMeasure::Points => Some(PaceMeasure::Points),
            v1::PaceMeasure::Ratio => Some(PaceMeasure::Ratio),
            v1::PaceMeasure::Unspecified => None,
        },
    );
    let recovery = enum_value(
        violations,
        "light_rule_set.recovery_policy",
        r.recovery_policy,
        true,
        |raw| match v1::RecoveryPolicy::try_from(raw).ok()? {
            v1::RecoveryPolicy::Immediate => Some(Recovery::Immediate),
            v1::RecoveryPolicy::ThroughYellow => Some(Recovery::ThroughYellow),
            v1::RecoveryPolicy::Unspecified => None,
        },
    );
    let ladder = violations.check(
        "light_rule_set.problem_escalation_days",
        escalation_ladder(&r.problem_escalation_days),
    );
    // The numeric bounds are checked with whatever enums and ladder were given, so one answer
    // names every bad field.
    let rules = LightRules {
        milestone_tolerance_days: r.milestone_tolerance_days,
        warning_horizon_days: r.warning_horizon_days,
        pace_measure: measure.unwrap_or(PaceMeasure::Points),
        pace_yellow_percent: r.pace_yellow_percent,
        pace_red_percent: r.pace_red_percent,
        escalate_after_months: r.escalate_after_months,
        recovery: recovery.unwrap_or(Recovery::Immediate),
        enrolment_yellow_after_months: r.enrolment_yellow_after_months,
        enrolment_red_after_months: r.enrolment_red_after_months,
        report_due_day: r.report_due_day,
        problem_escalation: ladder.unwrap_or_default(),
    };
    let checked = violations.absorb(rules.check());
    measure?;
    recovery?;
    ladder?;
    checked
}

/// `light_rule_set.problem_escalation_days`: empty is the default ladder 0,7,15 (what a client
/// written before the field sends), else exactly three thresholds (`EscalationLadder::new`).
fn escalation_ladder(days: &[i32]) -> Result<EscalationLadder, String> {
    match *days {
        [] => Ok(EscalationLadder::default()),
        [unit, leader, county] => EscalationLadder::new([unit, leader, county]),
        _ => Err(format!(
            "must be empty (the default 0,7,15) or exactly three thresholds in days (responsible unit, responsible leader, county leader), got {} values",
            days.len()
        )),
    }
}

fn parse_publish(
    req: &v1::CreateLightRuleSetRequest,
) -> Result<(PublishRuleSet, Option<String>), Invalid> {
    let mut violations = Violations::new();
    let id = violations.check("light_rule_set_id", Id::parse(&req.light_rule_set_id));
    let Some(set) = req.light_rule_set.as_ref() else {
        violations.add("light_rule_set", "is required");
        return Err(violations.finish().unwrap_err());
    };
    let display_name = violations.check(
        "light_rule_set.display_name",
        Title::parse(&set.display_name),
    );
    let description = violations.check("light_rule_set.description", Note::parse(&set.description));
    let rules = parse_rules(&mut violations, set);
    let request_id = violations.check("request_id", request_id(&req.request_id));
    violations.build(|| {
        Some((
            PublishRuleSet {
                id: id?,
                display_name: display_name?,
                description: description?,
                rules: rules?,
            },
            request_id?,
        ))
    })
}

/// A parsed ListInvestmentReports.
struct ListReports<'a> {
    project_id: Option<&'a str>,
    start: Option<YearMonth>,
    end: Option<YearMonth>,
    after: Option<Cursor>,
    limit: u64,
    print: String,
}

fn optional_month(
    violations: &mut Violations,
    field: &str,
    text: &str,
) -> Option<Option<YearMonth>> {
    if text.is_empty() {
        Some(None)
    } else {
        violations.check(field, YearMonth::parse(text)).map(Some)
    }
}

fn parse_list_reports(req: &v1::ListInvestmentReportsRequest) -> Result<ListReports<'_>, Invalid> {
    let mut violations = Violations::new();
    let project_id = violations.check("parent", names::parse_milestone_parent(&req.parent));
    let limit = violations.check("page_size", pagination::page_size(req.page_size));
    let start = optional_month(&mut violations, "start_month", &req.start_month);
    let end = optional_month(&mut violations, "end_month", &req.end_month);
    if let (Some(Some(s)), Some(Some(e))) = (start, end)
        && s > e
    {
        violations.add("end_month", format!("{e} is before start_month {s}"));
    }
    let print = pagination::fingerprint(&[&req.parent, &req.start_month, &req.end_month]);
    let after = violations.check("page_token", pagination::decode(&req.page_token, &print));
    if let Some(Some(cursor)) = &after
        && !matches!(cursor.key, SortKey::Int(_))
    {
        violations.add("page_token", "is not a page token issued by this service");
    }
    violations.build(|| {
        Some(ListReports {
            project_id: project_id?,
            start: start?,
            end: end?,
            after: after?,
            limit: limit?,
            print,
        })
    })
}

fn optional_rule_set(
    violations: &mut Violations,
    field: &str,
    text: &str,
) -> Option<Option<RuleSetRef>> {
    if text.is_empty() {
        Some(None)
    } else {
        violations.check(field, RuleSetRef::parse(text)).map(Some)
    }
}

fn parse_pace(req: &v1::ListInvestmentPaceRequest) -> Result<(PaceQuery, String), Invalid> {
    let mut violations = Violations::new();
    let month = violations.check("month", YearMonth::parse(&req.month));
    let rule_set = optional_rule_set(&mut violations, "light_rule_set", &req.light_rule_set);
    let limit = violations.check("page_size", pagination::page_size(req.page_size));
    let print = pagination::fingerprint(&[&req.month, &req.light_rule_set]);
    let after = violations.check("page_token", pagination::decode(&req.page_token, &print));
    violations.build(|| {
        let after_project_id = match after? {
            Some(Cursor {
                key: SortKey::Text(id),
                ..
            }) => Some(id),
            Some(_) => return None,
            None => None,
        };
        Some((
            PaceQuery {
                month: month?,
                rule_set: rule_set?,
                after_project_id,
                limit: limit?,
            },
            print,
        ))
    })
}

fn parse_create_justification(
    req: &v1::CreateJustificationRequest,
) -> Result<(CreateJustification, Option<String>), Invalid> {
    let mut violations = Violations::new();
    let project_id = violations.check("parent", names::parse_project_name(&req.parent));
    let justification_id =
        violations.check("justification_id", Id::optional(&req.justification_id));
    let request_id = violations.check("request_id", request_id(&req.request_id));
    let Some(j) = req.justification.as_ref() else {
        violations.add("justification", "is required");
        return Err(violations.finish().unwrap_err());
    };
    let scope = enum_value(
        &mut violations,
        "justification.scope",
        j.scope,
        true,
        |raw| match v1::JustificationScope::try_from(raw).ok()? {
            v1::JustificationScope::InvestmentPace => Some(JustificationScope::InvestmentPace),
            v1::JustificationScope::Milestone => Some(JustificationScope::Milestone),
            v1::JustificationScope::Project => Some(JustificationScope::Project),
            v1::JustificationScope::Unspecified => None,
        },
    );
    let reason = enum_value(
        &mut violations,
        "justification.reason",
        j.reason,
        true,
        |raw| match v1::JustificationReason::try_from(raw).ok()? {
            v1::JustificationReason::ForceMajeure => Some(JustificationReason::ForceMajeure),
            v1::JustificationReason::Judicial => Some(JustificationReason::Judicial),
            v1::JustificationReason::PolicyChange => Some(JustificationReason::PolicyChange),
            v1::JustificationReason::HigherApproval => Some(JustificationReason::HigherApproval),
            v1::JustificationReason::Other => Some(JustificationReason::Other),
            v1::JustificationReason::Unspecified => None,
        },
    );
    let note = violations.check("justification.evidence_note", Note::parse(&j.evidence_note));
    let date = |violations: &mut Violations, field: &str, d: Option<&v1::Date>| match d {
        Some(d) => date_value(violations, field, d),
        None => {
            violations.add(field, "is required");
            None
        }
    };
    let from = date(
        &mut violations,
        "justification.valid_from",
        j.valid_from.as_ref(),
    );
    let to = date(
        &mut violations,
        "justification.valid_to",
        j.valid_to.as_ref(),
    );
    // The rules of the whole (window order, milestone for the scope, evidence) once every
    // part could be read, so that one answer names every bad field.
    let fields = match (project_id, scope, reason, note.clone(), from, to) {
        (Some(project), Some(scope), Some(reason), Some(note), Some(from), Some(to)) => violations
            .absorb(JustificationFields::new(
                project,
                scope,
                &j.milestone,
                reason,
                note,
                from,
                to,
            )),
        _ => None,
    };
    violations.build(|| {
        Some((
            CreateJustification {
                project_id: project_id?.to_string(),
                justification_id: justification_id?,
                fields: fields?,
            },
            request_id?,
        ))
    })
}

fn parse_revoke(req: &v1::RevokeJustificationRequest) -> Result<RevokeJustification, Invalid> {
    let mut violations = Violations::new();
    let name = violations.check("name", parse_justification_name(&req.name));
    let reason = violations.check("reason", Reason::required(&req.reason));
    violations.build(|| {
        let (project_id, id) = name?;
        Some(RevokeJustification {
            project_id: project_id.to_string(),
            justification_id: id.to_string(),
            reason: reason?,
            etag: optional_etag(&req.etag).map(String::from),
        })
    })
}

#[tonic::async_trait]
impl InvestmentService for InvestmentApi {
    async fn set_investment_plan(
        &self,
        request: Request<v1::SetInvestmentPlanRequest>,
    ) -> Result<Response<v1::InvestmentPlan>, Status> {
        let ctx = self.services.write_context(&request)?;
        let cmd = parse_set_plan(request.get_ref())?;
        let outcome = service::set_plan(&self.services.store, &ctx, cmd).await?;
        respond(outcome, |p| v1::InvestmentPlan::from(&p)).map(Response::new)
    }

    async fn get_investment_plan(
        &self,
        request: Request<v1::GetInvestmentPlanRequest>,
    ) -> Result<Response<v1::InvestmentPlan>, Status> {
        let (project_id, year) =
            parse_plan_name(&request.get_ref().name).map_err(|e| Invalid::field("name", e))?;
        let plan = self
            .services
            .store
            .get_investment_plan(project_id, year)
            .await?;
        Ok(Response::new(v1::InvestmentPlan::from(&plan)))
    }

    async fn create_investment_report(
        &self,
        request: Request<v1::CreateInvestmentReportRequest>,
    ) -> Result<Response<v1::InvestmentReport>, Status> {
        let ctx = self.services.write_context(&request)?;
        let req = request.into_inner();
        let (cmd, request_id) = parse_create_report(&req)?;
        let key = request_key("CreateInvestmentReport", request_id, &req, |r| {
            r.request_id.clear()
        });
        let outcome = service::create_report(&self.services.store, &ctx, cmd, key.as_ref()).await?;
        respond(outcome, |(r, due)| proto::investment::report(&r, due)).map(Response::new)
    }

    async fn get_investment_report(
        &self,
        request: Request<v1::GetInvestmentReportRequest>,
    ) -> Result<Response<v1::InvestmentReport>, Status> {
        let (project_id, month) =
            parse_report_name(&request.get_ref().name).map_err(|e| Invalid::field("name", e))?;
        let store = &self.services.store;
        let report = store.get_investment_report(project_id, month).await?;
        let due_day = service::report_due_day(store).await?;
        Ok(Response::new(proto::investment::report(&report, due_day)))
    }

    async fn list_investment_reports(
        &self,
        request: Request<v1::ListInvestmentReportsRequest>,
    ) -> Result<Response<v1::ListInvestmentReportsResponse>, Status> {
        let list = parse_list_reports(request.get_ref())?;
        let store = &self.services.store;
        let page = store
            .list_investment_reports(
                list.project_id,
                list.start,
                list.end,
                list.after.as_ref(),
                list.limit,
            )
            .await?;
        let due_day = service::report_due_day(store).await?;
        let (investment_reports, next_page_token) =
            pagination::fit(page, self.services.max_message_bytes, &list.print, |r| {
                proto::investment::report(r, due_day)
            });
        Ok(Response::new(v1::ListInvestmentReportsResponse {
            investment_reports,
            next_page_token,
        }))
    }

    async fn correct_investment_report(
        &self,
        request: Request<v1::CorrectInvestmentReportRequest>,
    ) -> Result<Response<v1::InvestmentReport>, Status> {
        let ctx = self.services.write_context(&request)?;
        let req = request.into_inner();
        let (cmd, request_id) = parse_correct_report(&req)?;
        let key = request_key("CorrectInvestmentReport", request_id, &req, |r| {
            r.request_id.clear()
        });
        let outcome =
            service::correct_report(&self.services.store, &ctx, cmd, key.as_ref()).await?;
        respond(outcome, |(r, due)| proto::investment::report(&r, due)).map(Response::new)
    }

    async fn list_investment_pace(
        &self,
        request: Request<v1::ListInvestmentPaceRequest>,
    ) -> Result<Response<v1::ListInvestmentPaceResponse>, Status> {
        let (query, print) = parse_pace(request.get_ref())?;
        let today = self.services.clock.today();
        let page = service::pace(&self.services.store, &query).await?;
        let cursors: Vec<Cursor> = page
            .entries
            .iter()
            .map(|e| Cursor {
                key: SortKey::Text(e.subject.project_id.clone()),
                id: e.subject.project_id.clone(),
            })
            .collect();
        let rule_set = page.rule_set;
        let items = crate::store::Page {
            items: page.entries,
            cursors,
            more: page.more,
        };
        let (paces, next_page_token) =
            pagination::fit(items, self.services.max_message_bytes, &print, |e| {
                proto::investment::pace(
                    &e.subject,
                    &e.month,
                    e.justification.as_deref(),
                    &rule_set,
                    today,
                )
            });
        Ok(Response::new(v1::ListInvestmentPaceResponse {
            paces,
            next_page_token,
            light_rule_set: rule_set.name(),
        }))
    }

    async fn create_light_rule_set(
        &self,
        request: Request<v1::CreateLightRuleSetRequest>,
    ) -> Result<Response<v1::LightRuleSet>, Status> {
        let ctx = self.services.write_context(&request)?;
        let req = request.into_inner();
        let (cmd, request_id) = parse_publish(&req)?;
        let key = request_key("CreateLightRuleSet", request_id, &req, |r| {
            r.request_id.clear()
        });
        let outcome =
            service::publish_rule_set(&self.services.store, &ctx, cmd, key.as_ref()).await?;
        respond(outcome, |r| v1::LightRuleSet::from(&r)).map(Response::new)
    }

    async fn get_light_rule_set(
        &self,
        request: Request<v1::GetLightRuleSetRequest>,
    ) -> Result<Response<v1::LightRuleSet>, Status> {
        let reference =
            RuleSetRef::parse(&request.get_ref().name).map_err(|e| Invalid::field("name", e))?;
        let revision = service::rule_set(&self.services.store, Some(&reference)).await?;
        Ok(Response::new(v1::LightRuleSet::from(&revision)))
    }

    async fn list_light_rule_sets(
        &self,
        request: Request<v1::ListLightRuleSetsRequest>,
    ) -> Result<Response<v1::ListLightRuleSetsResponse>, Status> {
        let req = request.get_ref();
        let mut violations = Violations::new();
        let limit = violations.check("page_size", pagination::page_size(req.page_size));
        let print = pagination::fingerprint(&["lightRuleSets"]);
        let after = violations.check("page_token", pagination::decode(&req.page_token, &print));
        if let Some(Some(cursor)) = &after
            && !matches!(cursor.key, SortKey::Text(_))
        {
            violations.add("page_token", "is not a page token issued by this service");
        }
        let (limit, after) = violations.build(|| Some((limit?, after?)))?;
        let page = self
            .services
            .store
            .list_light_rule_sets(after.as_ref(), limit)
            .await?;
        let (light_rule_sets, next_page_token) =
            pagination::fit(page, self.services.max_message_bytes, &print, |r| {
                v1::LightRuleSet::from(r)
            });
        Ok(Response::new(v1::ListLightRuleSetsResponse {
            light_rule_sets,
            next_page_token,
        }))
    }

    async fn activate_light_rule_set(
        &self,
        request: Request<v1::ActivateLightRuleSetRequest>,
    ) -> Result<Response<v1::LightRuleSet>, Status> {
        let ctx = self.services.write_context(&request)?;
        let reference =
            RuleSetRef::parse(&request.get_ref().name).map_err(|e| Invalid::field("name", e))?;
        let outcome = service::activate_rule_set(&self.services.store, &ctx, reference).await?;
        respond(outcome, |r| v1::LightRuleSet::from(&r)).map(Response::new)
    }

    async fn create_justification(
        &self,
        request: Request<v1::CreateJustificationRequest>,
    ) -> Result<Response<v1::Justification>, Status> {
        let ctx = self.services.write_context(&request)?;
        let req = request.into_inner();
        let (cmd, request_id) = parse_create_justification(&req)?;
        let key = request_key("CreateJustification", request_id, &req, |r| {
            r.request_id.clear()
        });
        let today = ctx.today;
        let outcome =
            service::create_justification(&self.services.store, &ctx, cmd, key.as_ref()).await?;
        respond(outcome, |j| proto::investment::justification(&j, today)).map(Response::new)
    }

    async fn list_justifications(
        &self,
        request: Request<v1::ListJustificationsRequest>,
    ) -> Result<Response<v1::ListJustificationsResponse>, Status> {
        let req = request.get_ref();
        let mut violations = Violations::new();
        let project_id = violations.check("parent", names::parse_milestone_parent(&req.parent));
        let limit = violations.check("page_size", pagination::page_size(req.page_size));
        let print = pagination::fingerprint(&[&req.parent, "justifications"]);
        let after = violations.check("page_token", pagination::decode(&req.page_token, &print));
        if let Some(Some(cursor)) = &after
            && !matches!(cursor.key, SortKey::Int(_))
        {
            violations.add("page_token", "is not a page token issued by this service");
        }
        let (project_id, limit, after) =
            violations.build(|| Some((project_id?, limit?, after?)))?;
        let page = self
            .services
            .store
            .list_justifications(project_id, after.as_ref(), limit)
            .await?;
        let today = self.services.clock.today();
        let (justifications, next_page_token) =
            pagination::fit(page, self.services.max_message_bytes, &print, |j| {
                proto::investment::justification(j, today)
            });
        Ok(Response::new(v1::ListJustificationsResponse {
            justifications,
            next_page_token,
        }))
    }

    async fn revoke_justification(
        &self,
        request: Request<v1::RevokeJustificationRequest>,
    ) -> Result<Response<v1::Justification>, Status> {
        let ctx = self.services.write_context(&request)?;
        let cmd = parse_revoke(request.get_ref())?;
        let today = ctx.today;
        let outcome = service::revoke_justification(&self.services.store, &ctx, cmd).await?;
        respond(outcome, |j| proto::investment::justification(&j, today)).map(Response::new)
    }
}
