//! ReportService: summaries, rankings and bulletins for leaders.

use chrono::{Datelike, NaiveDate};
use tonic::{Request, Response, Status};

use super::filter::{self, Op};
use super::pagination;
use super::parse::{date_value, enum_filter, invalid};
use super::{Services, request_key, respond, to_status};
use crate::domain::error::Violations;
use crate::domain::project::{Category, InvestmentType};
use crate::domain::{names, values};
use crate::proto::v1::{self, report_service_server::ReportService};
use crate::store::reports::{self, Dimension, ReportFilter};
use crate::store::{Cursor, SortKey};

/// The gRPC face of reports.
#[derive(Clone, Debug)]
pub struct ReportApi {
    services: Services,
}

impl ReportApi {
    pub fn new(services: Services) -> Self {
        Self { services }
    }

    /// The status date of a request: today when unset; refused in a year before any data or
    /// more than five years after today.
    async fn status_date(
        &self,
        date: Option<&v1::Date>,
        violations: &mut Violations,
    ) -> Result<Option<NaiveDate>, Status> {
        let today = self.services.clock.today();
        let Some(date) = date else {
            return Ok(Some(today));
        };
        let Some(day) = date_value(violations, "status_date", date) else {
            return Ok(None);
        };
        if day > today + chrono::Duration::days(5 * 366) {
            violations.add(
                "status_date",
                format!("{day} is more than five years after today ({today})"),
            );
            return Ok(None);
        }
        let first = reports::first_data_year(self.services.store.connection())
            .await
            .map_err(to_status)?;
        if let Some(first) = first
            && day.year() < first
        {
            violations.add(
                "status_date",
                format!("{day} is in a year before any data (the earliest milestone or funding window is in {first})"),
            );
            return Ok(None);
        }
        Ok(Some(day))
    }

    /// Parses a summary filter and refuses units no project has.
    async fn filter(
        &self,
        text: &str,
        violations: &mut Violations,
    ) -> Result<ReportFilter, Status> {
        const FIELDS: &[(&str, Op)] = &[
            ("township", Op::Equals),
            ("department", Op::Equals),
            ("leader", Op::Equals),
            ("category", Op::Equals),
            ("investment_type", Op::Equals),
        ];
        let mut f = ReportFilter::default();
        let Some(terms) = violations.check("filter", filter::parse(text, FIELDS)) else {
            return Ok(f);
        };
        for term in terms {
            match term.field.as_str() {
                "township" => f.township = Some(term.value.clone()),
                "department" => f.department = Some(term.value.clone()),
                "leader" => f.leader = Some(term.value.clone()),
                "category" => {
                    f.category = violations.check(
                        "filter",
                        enum_filter(&term.value, "PROJECT_CATEGORY_", Category::parse),
                    )
                }
                _ => {
                    f.investment_type = violations.check(
                        "filter",
                        enum_filter(&term.value, "INVESTMENT_TYPE_", InvestmentType::parse),
                    )
                }
            }
        }
        for (field, value) in reports::unknown_units(self.services.store.connection(), &f)
            .await
            .map_err(to_status)?
        {
            violations.add("filter", format!("no project has {field} {value:?}"));
        }
        Ok(f)
    }
}

fn dimension_from_proto(raw: i32) -> Option<Dimension> {
    match v1::RankingDimension::try_from(raw).ok()? {
        v1::RankingDimension::Department => Some(Dimension::Department),
        v1::RankingDimension::Township => Some(Dimension::Township),
        v1::RankingDimension::Leader => Some(Dimension::Leader),
        v1::RankingDimension::Unspecified => None,
    }
}

/// Bulletin lists: 20 by default, at most 100 (each bulletin carries every ranking).
fn bulletin_page_size(requested: i32) -> Result<u64, String> {
    match requested {
        n if n < 0 => Err(format!("must not be negative, got {n}")),
        0 => Ok(20),
        n => Ok((n as u64).min(100)),
    }
}

#[tonic::async_trait]
impl ReportService for ReportApi {
    async fn get_pipeline_summary(
        &self,
        request: Request<v1::GetPipelineSummaryRequest>,
    ) -> Result<Response<v1::PipelineSummary>, Status> {
        let req = request.into_inner();
        let mut violations = Violations::new();
        let status_date = self
            .status_date(req.status_date.as_ref(), &mut violations)
            .await?;
        let filter = self.filter(&req.filter, &mut violations).await?;
        invalid(violations)?;
        let summary = reports::pipeline_summary(
            self.services.store.connection(),
            &filter,
            &req.filter,
            status_date.expect("validated"),
            &self.services.policy,
        )
        .await
        .map_err(to_status)?;
        Ok(Response::new(summary))
    }

    async fn list_rankings(
        &self,
        request: Request<v1::ListRankingsRequest>,
    ) -> Result<Response<v1::ListRankingsResponse>, Status> {
        let req = request.into_inner();
        let mut violations = Violations::new();
        let status_date = self
            .status_date(req.status_date.as_ref(), &mut violations)
            .await?;
        let dimension = if req.dimension == 0 {
            violations.add("dimension", "is required: DEPARTMENT, TOWNSHIP or LEADER");
            None
        } else {
            let d = dimension_from_proto(req.dimension);
            if d.is_none() {
                violations.add("dimension", format!("unknown value {}", req.dimension));
            }
            d
        };
        if req.units.len() > 500 {
            violations.add("units", format!("at most 500, got {}", req.units.len()));
        }
        let units: Vec<String> = req
            .units
            .iter()
            .enumerate()
            .take(500)
            .filter_map(|(i, u)| {
                violations.check(&format!("units[{i}]"), values::text(u, true, 200))
            })
            .collect();
        let limit = violations.check("page_size", pagination::page_size(req.page_size));
        let print = pagination::fingerprint(&[
            &format!("{status_date:?}{:?}", req.dimension),
            &units.join("\n"),
        ]);
        let after = violations
            .check("page_token", pagination::decode(&req.page_token, &print))
            .flatten();
        if matches!(&after, Some(c) if !matches!(c.key, SortKey::Int(_))) {
            violations.add("page_token", "is not a page token issued by this service");
        }
        invalid(violations)?;
        let mut ranking = reports::rankings(
            self.services.store.connection(),
            dimension.expect("validated"),
            status_date.expect("validated"),
            &self.services.policy,
            &units,
        )
        .await
        .map_err(to_status)?;
        // Rows are ordered by (rank, unit); a page continues after the last one sent.
        if let Some(Cursor {
            key: SortKey::Int(rank),
            id,
        }) = &after
        {
            ranking
                .rows
                .retain(|r| (r.rank as i64, &r.unit) > (*rank, id));
        }
        let limit = limit.expect("validated") as usize;
        if ranking.rows.len() > limit {
            ranking.rows.truncate(limit);
            let last = ranking.rows.last().expect("a full page");
            ranking.next_page_token = pagination::encode(
                &print,
                &Cursor {
                    key: SortKey::Int(last.rank as i64),
                    id: last.unit.clone(),
                },
            );
        }
        Ok(Response::new(ranking))
    }

    async fn get_funding_summary(
        &self,
        request: Request<v1::GetFundingSummaryRequest>,
    ) -> Result<Response<v1::FundingSummary>, Status> {
        let req = request.into_inner();
        let mut violations = Violations::new();
        let status_date = self
            .status_date(req.status_date.as_ref(), &mut violations)
            .await?;
        let filter = self.filter(&req.filter, &mut violations).await?;
        invalid(violations)?;
        let summary = reports::funding_summary(
            self.services.store.connection(),
            &filter,
            &req.filter,
            status_date.expect("validated"),
        )
        .await
        .map_err(to_status)?;
        Ok(Response::new(summary))
    }

    async fn publish_bulletin(
        &self,
        request: Request<v1::PublishBulletinRequest>,
    ) -> Result<Response<v1::Bulletin>, Status> {
        let ctx = self.services.write_context(&request)?;
        let req = request.into_inner();
        let mut violations = Violations::new();
        let status_date = self
            .status_date(req.status_date.as_ref(), &mut violations)
            .await?;
        let title = violations.check("title", values::text(&req.title, true, 200));
        let bulletin_id = if req.bulletin_id.is_empty() {
            None
        } else {
            violations
                .check("bulletin_id", names::validate_id(&req.bulletin_id))
                .map(|_| req.bulletin_id.clone())
        };
        let request_id = violations
            .check("request_id", values::request_id(&req.request_id))
            .flatten();
        invalid(violations)?;
        let key = request_key("PublishBulletin", request_id, &req, |r| {
            r.request_id.clear()
        });
        let outcome = self
            .services
            .store
            .publish_bulletin(
                &ctx,
                bulletin_id,
                title.expect("validated"),
                status_date.expect("validated"),
                &self.services.policy,
                key.as_ref(),
            )
            .await
            .map_err(to_status)?;
        respond(outcome, |b| b).map(Response::new)
    }

    async fn get_bulletin(
        &self,
        request: Request<v1::GetBulletinRequest>,
    ) -> Result<Response<v1::Bulletin>, Status> {
        let req = request.into_inner();
        let mut violations = Violations::new();
        let id = match req.name.strip_prefix("bulletins/") {
            Some(id) if names::validate_id(id).is_ok() => Some(id),
            _ => {
                violations.add(
                    "name",
                    format!(
                        "must be a bulletin resource name, bulletins/{{bulletin}}; got {:?}",
                        req.name
                    ),
                );
                None
            }
        };
        invalid(violations)?;
        let bulletin = self
            .services
            .store
            .get_bulletin(id.expect("validated"))
            .await
            .map_err(to_status)?;
        Ok(Response::new(bulletin))
    }

    async fn list_bulletins(
        &self,
        request: Request<v1::ListBulletinsRequest>,
    ) -> Result<Response<v1::ListBulletinsResponse>, Status> {
        let req = request.into_inner();
        let mut violations = Violations::new();
        let limit = violations.check("page_size", bulletin_page_size(req.page_size));
        let print = pagination::fingerprint(&["bulletins"]);
        let after = violations
            .check("page_token", pagination::decode(&req.page_token, &print))
            .flatten();
        if matches!(&after, Some(c) if !matches!(c.key, SortKey::Int(_))) {
            violations.add("page_token", "is not a page token issued by this service");
        }
        invalid(violations)?;
        let (bulletins, cursor) = self
            .services
            .store
            .list_bulletins(after.as_ref(), limit.expect("validated"))
            .await
            .map_err(to_status)?;
        Ok(Response::new(v1::ListBulletinsResponse {
            bulletins,
            next_page_token: cursor
                .map(|c| pagination::encode(&print, &c))
                .unwrap_or_default(),
        }))
    }
}
