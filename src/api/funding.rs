//! FundingService: funding windows here; applications, disbursements and coverage in
//! `applications.rs`.

use chrono::NaiveDate;
use tonic::{Request, Response, Status};

use super::filter::{self, Op};
use super::pagination;
use super::parse::{date_value, enum_filter, enum_set, enum_value, mask_paths, optional_etag};
use super::projects::{
    category_from_proto, investment_type_from_proto, prerequisite_kind_from_proto, stage_from_proto,
};
use super::{Services, request_key, respond};
use crate::domain::error::{Invalid, Violations};
use crate::domain::funding::{
    CreateWindow, Eligibility, FundingChannel, UpdateWindow, WindowFields, WindowPatch, WindowState,
};
use crate::domain::prerequisite::PrerequisiteKind;
use crate::domain::project::{Category, Stage};
use crate::domain::values::{self, Description, Id, Title};
use crate::proto::v1::{self, funding_service_server::FundingService};
use crate::service::{self, ServiceError};
use crate::store::funding::WindowQuery;
use crate::store::idempotency::RequestKey;
use crate::store::{SortKey, WriteContext};

/// The gRPC face of funding.
#[derive(Clone, Debug)]
pub struct FundingApi {
    pub(super) services: Services,
}

impl FundingApi {
    pub fn new(services: Services) -> Self {
        Self { services }
    }
}

/// A parsed command and the request id it came with.
pub(super) struct Keyed<C> {
    pub command: C,
    pub request_id: Option<String>,
}

impl FundingApi {
    /// The writer, the command of a request that may carry a request id, and the request's
    /// idempotency key.
    pub(super) fn keyed<R: prost::Message + Clone, C>(
        &self,
        request: Request<R>,
        method: &'static str,
        parse: impl FnOnce(&R, &WriteContext) -> Result<Keyed<C>, Invalid>,
        clear_id: impl FnOnce(&mut R),
    ) -> Result<(WriteContext, C, Option<RequestKey>), Status> {
        let ctx = self.services.write_context(&request)?;
        let req = request.into_inner();
        let Keyed {
            command,
            request_id,
        } = parsed(parse(&req, &ctx))?;
        let key = request_key(method, request_id, &req, clear_id);
        Ok((ctx, command, key))
    }
}

/// The status of a request that did not parse.
pub(super) fn parsed<T>(result: Result<T, Invalid>) -> Result<T, Status> {
    result.map_err(|invalid| Status::from(ServiceError::from(invalid)))
}

const MUTABLE: &[&str] = &[
    "channel",
    "title",
    "description",
    "open_date",
    "close_date",
    "target_count",
    "target_amount_yuan",
    "eligibility",
];
const OUTPUT_ONLY: &[&str] = &["name", "uid", "create_time", "update_time", "etag"];

fn channel_from_proto(raw: i32) -> Option<FundingChannel> {
    match v1::FundingChannel::try_from(raw).ok()? {
        v1::FundingChannel::Unspecified => None,
        v1::FundingChannel::SpecialBond => Some(FundingChannel::SpecialBond),
        v1::FundingChannel::PolicyFinance => Some(FundingChannel::PolicyFinance),
        v1::FundingChannel::CentralBudget => Some(FundingChannel::CentralBudget),
        v1::FundingChannel::LongTermLoan => Some(FundingChannel::LongTermLoan),
        v1::FundingChannel::Other => Some(FundingChannel::Other),
    }
}

/// The id of `fundingWindows/{funding_window}`.
pub(super) fn parse_window_name(name: &str) -> Result<Id, String> {
    match name.strip_prefix("fundingWindows/").map(Id::parse) {
        Some(Ok(id)) => Ok(id),
        _ => Err(format!(
            "must be a funding window resource name, fundingWindows/{{funding_window}}; got {name:?}"
        )),
    }
}

fn required_date(
    violations: &mut Violations,
    field: &str,
    date: Option<&v1::Date>,
) -> Option<NaiveDate> {
    match date {
        None => {
            violations.add(field, "is required");
            None
        }
        Some(d) => date_value(violations, field, d),
    }
}

fn eligibility(e: &v1::FundingEligibility, violations: &mut Violations) -> Eligibility {
    let field = |name: &str| format!("funding_window.eligibility.{name}");
    let mut out = Eligibility::default();
    let stages = enum_set(
        violations,
        &field("stages"),
        &e.stages,
        Stage::ALL.len(),
        stage_from_proto,
    );
    if !stages.is_empty() {
        out.stages = stages;
    }
    out.categories = enum_set(
        violations,
        &field("categories"),
        &e.categories,
        Category::ALL.len(),
        category_from_proto,
    );
    out.investment_type = enum_value(
        violations,
        &field("investment_type"),
        e.investment_type,
        false,
        investment_type_from_proto,
    );
    out.min_total_investment_yuan = violations
        .check(
            &field("min_total_investment_yuan"),
            values::yuan(e.min_total_investment_yuan),
        )
        .unwrap_or_default();
    out.required_prerequisites = enum_set(
        violations,
        &field("required_prerequisites"),
        &e.required_prerequisites,
        PrerequisiteKind::ALL.len(),
        prerequisite_kind_from_proto,
    );
    out
}

/// Reads the listed paths of `w` into a patch; every bad value is recorded.
fn window_patch(w: &v1::FundingWindow, paths: &[&str], violations: &mut Violations) -> WindowPatch {
    let mut patch = WindowPatch::default();
    for path in paths {
        let f = format!("funding_window.{path}");
        match *path {
            "channel" => {
                patch.channel = enum_value(violations, &f, w.channel, true, channel_from_proto)
            }
            "title" => {
                patch.title = violations
                    .check(&f, Title::required(&w.title))
                    .map(String::from)
            }
            "description" => {
                patch.description = violations
                    .check(&f, Description::parse(&w.description))
                    .map(String::from)
            }
            "open_date" => patch.open_date = required_date(violations, &f, w.open_date.as_ref()),
            "close_date" => patch.close_date = required_date(violations, &f, w.close_date.as_ref()),
            "target_count" => {
                if w.target_count < 0 {
                    violations.add(&f, "must not be negative");
                } else {
                    patch.target_count = Some(w.target_count);
                }
            }
            "target_amount_yuan" => {
                patch.target_amount_yuan = violations.check(&f, values::yuan(w.target_amount_yuan))
            }
            _ => {
                patch.eligibility = Some(eligibility(
                    &w.eligibility.clone().unwrap_or_default(),
                    violations,
                ))
            }
        }
    }
    patch
}

fn populated(w: &v1::FundingWindow, path: &str) -> bool {
    match path {
        "channel" => w.channel != 0,
        "title" => !w.title.is_empty(),
        "description" => !w.description.is_empty(),
        "open_date" => w.open_date.is_some(),
        "close_date" => w.close_date.is_some(),
        "target_count" => w.target_count != 0,
        "target_amount_yuan" => w.target_amount_yuan != 0,
        "eligibility" => w.eligibility.is_some(),
        _ => false,
    }
}

/// A patch that sets every field: the fields of a new window.
fn whole(patch: WindowPatch) -> Option<WindowFields> {
    Some(WindowFields {
        channel: patch.channel?,
        title: patch.title?,
        description: patch.description?,
        open_date: patch.open_date?,
        close_date: patch.close_date?,
        target_count: patch.target_count?,
        target_amount_yuan: patch.target_amount_yuan?,
        eligibility: patch.eligibility?,
    })
}

impl TryFrom<&v1::CreateFundingWindowRequest> for Keyed<CreateWindow> {
    type Error = Invalid;

    fn try_from(req: &v1::CreateFundingWindowRequest) -> Result<Self, Invalid> {
        let mut violations = Violations::new();
        let none = v1::FundingWindow::default();
        let w = req.funding_window.as_ref().unwrap_or(&none);
        if req.funding_window.is_none() {
            violations.add("funding_window", "is required");
        }
        let fields = whole(window_patch(w, MUTABLE, &mut violations));
        let window_id = violations.check("funding_window_id", Id::optional(&req.funding_window_id));
        let request_id = violations.check("request_id", values::request_id(&req.request_id));
        if let Some(Err(Invalid(found))) = fields.as_ref().map(WindowFields::check) {
            for v in found {
                violations.add(v.field, v.description);
            }
        }
        violations.build(|| {
            Some(Keyed {
                command: CreateWindow {
                    window_id: window_id?,
                    fields: fields?,
                },
                request_id: request_id?,
            })
        })
    }
}

impl TryFrom<&v1::UpdateFundingWindowRequest> for UpdateWindow {
    type Error = Invalid;

    fn try_from(req: &v1::UpdateFundingWindowRequest) -> Result<Self, Invalid> {
        let mut violations = Violations::new();
        let none = v1::FundingWindow::default();
        let w = req.funding_window.as_ref().unwrap_or(&none);
        let window_id = violations.check("funding_window.name", parse_window_name(&w.name));
        let paths = mask_paths(
            req.update_mask.as_ref(),
            MUTABLE,
            OUTPUT_ONLY,
            |p| populated(w, p),
            &mut violations,
        );
        let patch = window_patch(w, &paths, &mut violations);
        violations.build(|| {
            Some(UpdateWindow {
                window_id: window_id?,
                patch,
                etag: optional_etag(&w.etag).map(String::from),
            })
        })
    }
}

/// The query of ListFundingWindows and the fingerprint of its filter and order.
fn window_query(
    req: &v1::ListFundingWindowsRequest,
    today: NaiveDate,
) -> Result<(WindowQuery, String), Invalid> {
    let mut violations = Violations::new();
    let limit = violations.check("page_size", pagination::page_size(req.page_size));
    let status_date = match &req.status_date {
        None => Some(today),
        Some(d) => date_value(&mut violations, "status_date", d),
    };
    let mut channel = None;
    let mut state = None;
    const FIELDS: &[(&str, Op)] = &[("channel", Op::Equals), ("state", Op::Equals)];
    if let Some(terms) = violations.check("filter", filter::parse(&req.filter, FIELDS)) {
        for term in terms {
            if term.field == "channel" {
                channel = violations.check(
                    "filter",
                    enum_filter(&term.value, "FUNDING_CHANNEL_", FundingChannel::parse),
                );
            } else {
                state =
                    violations.check("filter", enum_filter(&term.value, "", WindowState::parse));
            }
        }
    }
    let order_by: Vec<&str> = req.order_by.split_whitespace().collect();
    let (by_open_date, descending) = match order_by.as_slice() {
        [] => (false, false),
        [field] | [field, "asc"] | [field, "desc"]
            if *field == "close_date" || *field == "open_date" =>
        {
            (
                *field == "open_date",
                order_by.len() == 2 && order_by[1] == "desc",
            )
        }
        _ => {
            violations.add(
                "order_by",
                "must be close_date or open_date, optionally followed by desc",
            );
            (false, false)
        }
    };
    let print = pagination::fingerprint(&[
        &format!("{channel:?}{state:?}{status_date:?}"),
        &req.order_by.trim().to_lowercase(),
    ]);
    let after = violations
        .check("page_token", pagination::decode(&req.page_token, &print))
        .flatten();
    if matches!(&after, Some(c) if !matches!(c.key, SortKey::Int(_))) {
        violations.add("page_token", "is not a page token issued by this service");
    }
    violations.build(|| {
        Some((
            WindowQuery {
                channel,
                state,
                status_date: status_date?,
                by_open_date,
                descending,
                after,
                limit: limit?,
            },
            print,
        ))
    })
}

#[tonic::async_trait]
impl FundingService for FundingApi {
    async fn create_funding_window(
        &self,
        request: Request<v1::CreateFundingWindowRequest>,
    ) -> Result<Response<v1::FundingWindow>, Status> {
        let (ctx, command, key) = self.keyed(
            request,
            "CreateFundingWindow",
            |r, _| Keyed::try_from(r),
            |r| r.request_id.clear(),
        )?;
        let outcome =
            service::funding::create_window(&self.services.store, &ctx, key.as_ref(), command)
                .await?;
        respond(outcome, |w| v1::FundingWindow::from(&w)).map(Response::new)
    }

    async fn get_funding_window(
        &self,
        request: Request<v1::GetFundingWindowRequest>,
    ) -> Result<Response<v1::FundingWindow>, Status> {
        let req = request.into_inner();
        let id = parsed(parse_window_name(&req.name).map_err(|e| Invalid::field("name", e)))?;
        let window = self.services.store.get_funding_window(&id).await?;
        Ok(Response::new(v1::FundingWindow::from(&window)))
    }

    async fn list_funding_windows(
        &self,
        request: Request<v1::ListFundingWindowsRequest>,
    ) -> Result<Response<v1::ListFundingWindowsResponse>, Status> {
        let req = request.into_inner();
        let (query, print) = parsed(window_query(&req, self.services.clock.today()))?;
        let page = self.services.store.list_funding_windows(&query).await?;
        let (funding_windows, next_page_token) =
            pagination::fit(page, self.services.max_message_bytes, &print, |item| {
                v1::FundingWindow::from(item)
            });
        Ok(Response::new(v1::ListFundingWindowsResponse {
            funding_windows,
            next_page_token,
        }))
    }

    async fn update_funding_window(
        &self,
        request: Request<v1::UpdateFundingWindowRequest>,
    ) -> Result<Response<v1::FundingWindow>, Status> {
        let ctx = self.services.write_context(&request)?;
        let command = parsed(UpdateWindow::try_from(request.get_ref()))?;
        let outcome = service::funding::update_window(&self.services.store, &ctx, command).await?;
        respond(outcome, |w| v1::FundingWindow::from(&w)).map(Response::new)
    }

    async fn create_funding_application(
        &self,
        request: Request<v1::CreateFundingApplicationRequest>,
    ) -> Result<Response<v1::FundingApplication>, Status> {
        self.create_application(request).await
    }

    async fn get_funding_application(
        &self,
        request: Request<v1::GetFundingApplicationRequest>,
    ) -> Result<Response<v1::FundingApplication>, Status> {
        self.get_application(request).await
    }

    async fn list_funding_applications(
        &self,
        request: Request<v1::ListFundingApplicationsRequest>,
    ) -> Result<Response<v1::ListFundingApplicationsResponse>, Status> {
        self.list_applications(request).await
    }

    async fn update_funding_application(
        &self,
        request: Request<v1::UpdateFundingApplicationRequest>,
    ) -> Result<Response<v1::FundingApplication>, Status> {
        self.update_application(request).await
    }

    async fn submit_funding_application(
        &self,
        request: Request<v1::SubmitFundingApplicationRequest>,
    ) -> Result<Response<v1::FundingApplication>, Status> {
        self.transition(request).await
    }

    async fn approve_funding_application(
        &self,
        request: Request<v1::ApproveFundingApplicationRequest>,
    ) -> Result<Response<v1::FundingApplication>, Status> {
        self.transition(request).await
    }

    async fn reject_funding_application(
        &self,
        request: Request<v1::RejectFundingApplicationRequest>,
    ) -> Result<Response<v1::FundingApplication>, Status> {
        self.transition(request).await
    }

    async fn withdraw_funding_application(
        &self,
        request: Request<v1::WithdrawFundingApplicationRequest>,
    ) -> Result<Response<v1::FundingApplication>, Status> {
        self.transition(request).await
    }

    async fn record_funding_disbursement(
        &self,
        request: Request<v1::RecordFundingDisbursementRequest>,
    ) -> Result<Response<v1::FundingApplication>, Status> {
        self.record_disbursement(request).await
    }

    async fn get_funding_coverage(
        &self,
        request: Request<v1::GetFundingCoverageRequest>,
    ) -> Result<Response<v1::FundingCoverage>, Status> {
        self.coverage(request).await
    }
}
