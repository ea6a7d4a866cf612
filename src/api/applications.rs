//! FundingService: applications, their transitions and disbursements, and coverage. The
//! service trait is implemented in `funding.rs`; these are the handlers it calls.

use chrono::NaiveDate;
use tonic::{Request, Response, Status};

use super::filter::{self, Op};
use super::funding::{FundingApi, Keyed, parse_window_name, parsed};
use super::pagination;
use super::parse::{date_value, enum_filter, mask_paths, optional_etag};
use super::respond;
use crate::domain::error::{Invalid, Violations};
use crate::domain::funding::{
    ApplicationAction, ApplicationPatch, ApplicationState, ApplicationTransition, Coverage,
    CoverageEntry, CreateApplication, FundingChannel, RecordDisbursement, TransitionApplication,
    UpdateApplication,
};
use crate::domain::names;
use crate::domain::values::{
    self, Description, DisbursementNote, Id, Note, Yuan, reported_count, reported_yuan,
};
use crate::proto::{budget, v1};
use crate::service;
use crate::store::SortKey;
use crate::store::applications::{ApplicationFilter, ApplicationQuery};

const MUTABLE: &[&str] = &["requested_amount_yuan", "description"];
const OUTPUT_ONLY: &[&str] = &[
    "name",
    "uid",
    "funding_window",
    "channel",
    "approved_amount_yuan",
    "disbursed_amount_yuan",
    "state",
    "state_reason",
    "state_actor",
    "state_change_time",
    "disbursements",
    "create_time",
    "update_time",
    "etag",
];

/// The project and application ids of
/// `projects/{project}/fundingApplications/{funding_application}`.
fn application_ids(name: &str) -> Result<(Id, Id), String> {
    let (project, application) = names::parse_funding_application_name(name)?;
    Ok((Id::parse(project)?, Id::parse(application)?))
}

fn coverage_entry(entry: &CoverageEntry) -> v1::CoverageProject {
    v1::CoverageProject {
        project: names::project_name(&entry.project_id),
        display_name: entry.display_name.clone(),
        township: entry.township.clone(),
        department: entry.department.clone(),
        total_investment_yuan: entry.total_investment_yuan,
        funding_application: entry
            .application_id
            .as_deref()
            .map(|id| names::funding_application_name(&entry.project_id, id))
            .unwrap_or_default(),
    }
}

/// The most each project list of a coverage sheet takes, encoded: the two lists and the
/// figures then fit in one resource (`budget::MAX_RESOURCE_BYTES`). 28 KiB hold about 140
/// projects of typical names and at least 15 of the longest allowed; the counts
/// (`undeclared_count`, `draft_count`) always count them all.
pub const COVERAGE_LIST_BYTES: usize = 28 * 1024;

/// The first entries of `entries` that fit in COVERAGE_LIST_BYTES.
fn coverage_list(entries: &[CoverageEntry]) -> Vec<v1::CoverageProject> {
    let mut list: Vec<v1::CoverageProject> = entries.iter().map(coverage_entry).collect();
    list.truncate(budget::fitting(&list, COVERAGE_LIST_BYTES));
    list
}

fn coverage_message(c: &Coverage) -> v1::FundingCoverage {
    let f = &c.window.fields;
    let declared = c.declared_count();
    v1::FundingCoverage {
        funding_window: c.window.name(),
        status_date: Some(crate::proto::date(c.status_date)),
        window_state: v1::FundingWindowState::from(f.state_on(c.status_date)) as i32,
        days_to_close: c.days_to_close(),
        eligible_count: reported_count(c.eligible_count),
        undeclared_projects: coverage_list(&c.undeclared),
        draft_applications: coverage_list(&c.drafts),
        submitted_count: reported_count(c.submitted_count),
        approved_count: reported_count(c.approved_count),
        rejected_count: reported_count(c.rejected_count),
        declared_count: reported_count(declared),
        declared_amount_yuan: reported_yuan(c.declared_amount_yuan),
        approved_amount_yuan: reported_yuan(c.approved_amount_yuan),
        disbursed_amount_yuan: reported_yuan(c.disbursed_amount_yuan),
        target_count: f.target_count,
        count_gap: reported_count(c.count_gap()),
        target_amount_yuan: f.target_amount_yuan,
        amount_gap: reported_yuan(c.amount_gap()),
        undeclared_count: reported_count(c.undeclared_count),
        draft_count: reported_count(c.draft_count),
    }
}

/// The fields the transition requests share; approval's extras are zero elsewhere.
pub(super) struct TransitionParts<'a> {
    name: &'a str,
    reason: &'a str,
    etag: &'a str,
    request_id: &'a str,
    approved_amount_yuan: i64,
    allow_exceeding_request: bool,
}

/// A request of one of the four transition methods.
pub(super) trait TransitionRequest: prost::Message + Clone + Default {
    const METHOD: &'static str;
    const ACTION: ApplicationAction;
    fn parts(&self) -> TransitionParts<'_>;
    fn clear_request_id(&mut self);
}

macro_rules! transition_request {
    ($request:ty, $method:literal, $action:expr, |$r:ident| $amount:expr, $allow:expr) => {
        impl TransitionRequest for $request {
            const METHOD: &'static str = $method;
            const ACTION: ApplicationAction = $action;
            fn parts(&self) -> TransitionParts<'_> {
                let $r = self;
                TransitionParts {
                    name: &$r.name,
                    reason: &$r.reason,
                    etag: &$r.etag,
                    request_id: &$r.request_id,
                    approved_amount_yuan: $amount,
                    allow_exceeding_request: $allow,
                }
            }
            fn clear_request_id(&mut self) {
                self.request_id.clear();
            }
        }
    };
}

transition_request!(
    v1::SubmitFundingApplicationRequest,
    "SubmitFundingApplication",
    ApplicationAction::Submit,
    |_r| 0,
    false
);
transition_request!(
    v1::ApproveFundingApplicationRequest,
    "ApproveFundingApplication",
    ApplicationAction::Approve,
    |r| r.approved_amount_yuan,
    r.allow_exceeding_request
);
transition_request!(
    v1::RejectFundingApplicationRequest,
    "RejectFundingApplication",
    ApplicationAction::Reject,
    |_r| 0,
    false
);
transition_request!(
    v1::WithdrawFundingApplicationRequest,
    "WithdrawFundingApplication",
    ApplicationAction::Withdraw,
    |_r| 0,
    false
);

impl TryFrom<&v1::CreateFundingApplicationRequest> for Keyed<CreateApplication> {
    type Error = Invalid;

    fn try_from(req: &v1::CreateFundingApplicationRequest) -> Result<Self, Invalid> {
        let mut violations = Violations::new();
        let project_id = violations.check(
            "parent",
            names::parse_project_name(&req.parent).and_then(Id::parse),
        );
        let none = v1::FundingApplication::default();
        let a = req.funding_application.as_ref().unwrap_or(&none);
        if req.funding_application.is_none() {
            violations.add("funding_application", "is required");
        }
        let window_id = violations.check(
            "funding_application.funding_window",
            parse_window_name(&a.funding_window),
        );
        let requested = violations.check(
            "funding_application.requested_amount_yuan",
            Yuan::funding(a.requested_amount_yuan, false),
        );
        let description = violations.check(
            "funding_application.description",
            Description::parse(&a.description),
        );
        let application_id = violations.check(
            "funding_application_id",
            Id::optional(&req.funding_application_id),
        );
        let request_id = violations.check("request_id", values::request_id(&req.request_id));
        violations.build(|| {
            Some(Keyed {
                command: CreateApplication {
                    project_id: project_id?,
                    application_id: application_id?,
                    window_id: window_id?,
                    requested: requested?,
                    description: description?,
                },
                request_id: request_id?,
            })
        })
    }
}

/// The query of ListFundingApplications and the fingerprint of its parent and filter.
fn application_query(
    req: &v1::ListFundingApplicationsRequest,
) -> Result<(ApplicationQuery, String), Invalid> {
    let mut violations = Violations::new();
    let parent = violations
        .check("parent", names::parse_milestone_parent(&req.parent))
        .map(|p| p.map(String::from));
    let limit = violations.check("page_size", pagination::page_size(req.page_size));
    let mut filter = ApplicationFilter {
        project_id: parent.flatten(),
        ..Default::default()
    };
    const FIELDS: &[(&str, Op)] = &[
        ("funding_window", Op::Equals),
        ("channel", Op::Equals),
        ("state", Op::Equals),
        ("township", Op::Equals),
        ("department", Op::Equals),
    ];
    if let Some(terms) = violations.check("filter", filter::parse(&req.filter, FIELDS)) {
        for term in terms {
            match term.field.as_str() {
                "funding_window" => {
                    filter.window_id = violations
                        .check("filter", parse_window_name(&term.value))
                        .map(Id::into_string)
                }
                "channel" => {
                    filter.channel = violations.check(
                        "filter",
                        enum_filter(&term.value, "FUNDING_CHANNEL_", FundingChannel::parse),
                    )
                }
                "state" => {
                    filter.state = violations.check(
                        "filter",
                        enum_filter(
                            &term.value,
                            "FUNDING_APPLICATION_STATE_",
                            ApplicationState::parse,
                        ),
                    )
                }
                "township" => filter.township = Some(term.value.clone()),
                _ => filter.department = Some(term.value.clone()),
            }
        }
    }
    let print = pagination::fingerprint(&[&req.parent, &format!("{filter:?}")]);
    let after = violations
        .check("page_token", pagination::decode(&req.page_token, &print))
        .flatten();
    if matches!(&after, Some(c) if !matches!(c.key, SortKey::Int(_))) {
        violations.add("page_token", "is not a page token issued by this service");
    }
    violations.build(|| {
        Some((
            ApplicationQuery {
                filter,
                after,
                limit: limit?,
            },
            print,
        ))
    })
}

impl TryFrom<&v1::UpdateFundingApplicationRequest> for UpdateApplication {
    type Error = Invalid;

    fn try_from(req: &v1::UpdateFundingApplicationRequest) -> Result<Self, Invalid> {
        let mut violations = Violations::new();
        let none = v1::FundingApplication::default();
        let a = req.funding_application.as_ref().unwrap_or(&none);
        let ids = violations.check("funding_application.name", application_ids(&a.name));
        let paths = mask_paths(
            req.update_mask.as_ref(),
            MUTABLE,
            OUTPUT_ONLY,
            |p| match p {
                "requested_amount_yuan" => a.requested_amount_yuan != 0,
                _ => !a.description.is_empty(),
            },
            &mut violations,
        );
        let mut patch = ApplicationPatch::default();
        for path in paths {
            let field = format!("funding_application.{path}");
            if path == "requested_amount_yuan" {
                patch.requested_amount_yuan = violations
                    .check(&field, Yuan::funding(a.requested_amount_yuan, false))
                    .map(Yuan::get);
            } else {
                patch.description = violations
                    .check(&field, Description::parse(&a.description))
                    .map(String::from);
            }
        }
        violations.build(|| {
            let (project_id, application_id) = ids?;
            Some(UpdateApplication {
                project_id,
                application_id,
                patch,
                etag: optional_etag(&a.etag).map(String::from),
            })
        })
    }
}

/// A Submit, Approve, Reject or Withdraw request: Reject and Withdraw need a reason.
fn transition_command<R: TransitionRequest>(
    req: &R,
) -> Result<Keyed<TransitionApplication>, Invalid> {
    let parts = req.parts();
    let mut violations = Violations::new();
    let ids = violations.check("name", application_ids(parts.name));
    let reason = match R::ACTION {
        ApplicationAction::Reject | ApplicationAction::Withdraw => Note::required(parts.reason),
        ApplicationAction::Submit | ApplicationAction::Approve => Note::parse(parts.reason),
    };
    let reason = violations.check("reason", reason);
    let amount = violations.check(
        "approved_amount_yuan",
        Yuan::funding(parts.approved_amount_yuan, true),
    );
    let request_id = violations.check("request_id", values::request_id(parts.request_id));
    violations.build(|| {
        let (project_id, application_id) = ids?;
        Some(Keyed {
            command: TransitionApplication {
                project_id,
                application_id,
                change: ApplicationTransition {
                    action: R::ACTION,
                    reason: reason?,
                    approved_amount_yuan: Some(amount?.get()).filter(|a| *a > 0),
                    allow_exceeding_request: parts.allow_exceeding_request,
                    etag: optional_etag(parts.etag).map(String::from),
                },
            },
            request_id: request_id?,
        })
    })
}

/// A RecordFundingDisbursement request; the money cannot arrive after `today`.
fn disbursement_command(
    req: &v1::RecordFundingDisbursementRequest,
    today: NaiveDate,
) -> Result<Keyed<RecordDisbursement>, Invalid> {
    let mut violations = Violations::new();
    let ids = violations.check("name", application_ids(&req.name));
    let amount = violations.check("amount_yuan", Yuan::funding(req.amount_yuan, false));
    let date = match &req.disbursement_date {
        None => {
            violations.add("disbursement_date", "is required");
            None
        }
        Some(d) => date_value(&mut violations, "disbursement_date", d),
    };
    if let Some(d) = date
        && d > today
    {
        violations.add("disbursement_date", format!("{d} is after today ({today})"));
    }
    let note = violations.check("note", DisbursementNote::parse(&req.note));
    let request_id = violations.check("request_id", values::request_id(&req.request_id));
    violations.build(|| {
        let (project_id, application_id) = ids?;
        Some(Keyed {
            command: RecordDisbursement {
                project_id,
                application_id,
                amount: amount?,
                date: date?,
                note: note?,
                etag: optional_etag(&req.etag).map(String::from),
            },
            request_id: request_id?,
        })
    })
}

impl FundingApi {
    pub(super) async fn create_application(
        &self,
        request: Request<v1::CreateFundingApplicationRequest>,
    ) -> Result<Response<v1::FundingApplication>, Status> {
        let (ctx, command, key) = self.keyed(
            request,
            "CreateFundingApplication",
            |r, _| Keyed::try_from(r),
            |r| r.request_id.clear(),
        )?;
        let outcome =
            service::funding::create_application(&self.services.store, &ctx, key.as_ref(), command)
                .await?;
        respond(outcome, |a| v1::FundingApplication::from(&a)).map(Response::new)
    }

    pub(super) async fn get_application(
        &self,
        request: Request<v1::GetFundingApplicationRequest>,
    ) -> Result<Response<v1::FundingApplication>, Status> {
        let req = request.into_inner();
        let (project_id, application_id) =
            parsed(application_ids(&req.name).map_err(|e| Invalid::field("name", e)))?;
        let application = self
            .services
            .store
            .get_funding_application(&project_id, &application_id)
            .await?;
        Ok(Response::new(v1::FundingApplication::from(&application)))
    }

    pub(super) async fn list_applications(
        &self,
        request: Request<v1::ListFundingApplicationsRequest>,
    ) -> Result<Response<v1::ListFundingApplicationsResponse>, Status> {
        let req = request.into_inner();
        let (query, print) = parsed(application_query(&req))?;
        let (page, totals) = self
            .services
            .store
            .list_funding_applications(&query)
            .await?;
        let (funding_applications, next_page_token) =
            pagination::fit(page, self.services.max_message_bytes, &print, |item| {
                v1::FundingApplication::from(item)
            });
        Ok(Response::new(v1::ListFundingApplicationsResponse {
            funding_applications,
            next_page_token,
            totals: Some(v1::FundingTotals {
                application_count: totals.application_count,
                requested_amount_yuan: reported_yuan(totals.requested_amount_yuan),
                approved_amount_yuan: reported_yuan(totals.approved_amount_yuan),
                disbursed_amount_yuan: reported_yuan(totals.disbursed_amount_yuan),
            }),
        }))
    }

    pub(super) async fn update_application(
        &self,
        request: Request<v1::UpdateFundingApplicationRequest>,
    ) -> Result<Response<v1::FundingApplication>, Status> {
        let ctx = self.services.write_context(&request)?;
        let command = parsed(UpdateApplication::try_from(request.get_ref()))?;
        let outcome =
            service::funding::update_application(&self.services.store, &ctx, command).await?;
        respond(outcome, |a| v1::FundingApplication::from(&a)).map(Response::new)
    }

    /// Submit, Approve, Reject and Withdraw: read the request, then move the application.
    pub(super) async fn transition<R: TransitionRequest>(
        &self,
        request: Request<R>,
    ) -> Result<Response<v1::FundingApplication>, Status> {
        let (ctx, command, key) = self.keyed(
            request,
            R::METHOD,
            |r, _| transition_command(r),
            R::clear_request_id,
        )?;
        let outcome = service::funding::transition_application(
            &self.services.store,
            &ctx,
            key.as_ref(),
            command,
        )
        .await?;
        respond(outcome, |a| v1::FundingApplication::from(&a)).map(Response::new)
    }

    pub(super) async fn record_disbursement(
        &self,
        request: Request<v1::RecordFundingDisbursementRequest>,
    ) -> Result<Response<v1::FundingApplication>, Status> {
        let (ctx, command, key) = self.keyed(
            request,
            "RecordFundingDisbursement",
            |r, ctx| disbursement_command(r, ctx.today),
            |r| r.request_id.clear(),
        )?;
        let outcome = service::funding::record_disbursement(
            &self.services.store,
            &ctx,
            key.as_ref(),
            command,
        )
        .await?;
        respond(outcome, |a| v1::FundingApplication::from(&a)).map(Response::new)
    }

    pub(super) async fn coverage(
        &self,
        request: Request<v1::GetFundingCoverageRequest>,
    ) -> Result<Response<v1::FundingCoverage>, Status> {
        let req = request.into_inner();
        let mut violations = Violations::new();
        let window_id = violations.check("name", parse_window_name(&req.name));
        let status_date = match &req.status_date {
            None => Some(self.services.clock.today()),
            Some(d) => date_value(&mut violations, "status_date", d),
        };
        let (window_id, status_date) =
            parsed(violations.build(|| Some((window_id?, status_date?))))?;
        let coverage = self
            .services
            .store
            .funding_coverage(&window_id, status_date)
            .await?;
        Ok(Response::new(coverage_message(&coverage)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::funding::{Eligibility, FundingWindow, WindowFields};
    use crate::domain::values::{DESCRIPTION_CHARS, MAX_YUAN, TITLE_CHARS, UNIT_CHARS};
    use crate::proto::budget::worst;
    use prost::Message;

    #[test]
    fn worst_case_coverage_fits() {
        let day = chrono::NaiveDate::from_ymd_opt(2200, 12, 31).unwrap();
        let entry = CoverageEntry {
            project_id: worst::id(),
            display_name: worst::text(TITLE_CHARS),
            township: worst::text(UNIT_CHARS),
            department: worst::text(UNIT_CHARS),
            total_investment_yuan: MAX_YUAN,
            application_id: Some(worst::id()),
        };
        let coverage = Coverage {
            window: FundingWindow {
                id: worst::id(),
                uid: worst::uid(),
                fields: WindowFields {
                    channel: FundingChannel::Other,
                    title: worst::text(TITLE_CHARS),
                    description: worst::text(DESCRIPTION_CHARS),
                    open_date: day,
                    close_date: day,
                    target_count: i32::MAX,
                    target_amount_yuan: MAX_YUAN,
                    eligibility: Eligibility::default(),
                },
                created_at_us: 0,
                updated_at_us: 0,
                version: 1,
            },
            status_date: chrono::NaiveDate::from_ymd_opt(1900, 1, 1).unwrap(),
            eligible_count: i64::from(i32::MAX),
            undeclared_count: i64::from(i32::MAX),
            undeclared: vec![entry.clone(); 1000],
            draft_count: i64::from(i32::MAX),
            drafts: vec![entry; 1000],
            submitted_count: i64::from(i32::MAX),
            approved_count: i64::from(i32::MAX),
            rejected_count: i64::from(i32::MAX),
            declared_amount_yuan: i128::MAX / 2,
            approved_amount_yuan: i128::MAX / 2,
            disbursed_amount_yuan: i128::MAX / 2,
        };
        let message = coverage_message(&coverage);
        assert!(message.undeclared_projects.len() >= 15);
        assert_eq!(message.draft_count, i32::MAX);
        let len = message.encoded_len();
        assert!(len <= budget::MAX_RESOURCE_BYTES, "{len}");
    }
}
