//! ReportService: summaries, rankings and bulletins for leaders. Each handler parses its
//! request into a query or command (every bad field collected), runs it, and converts the
//! domain answer into its message (`proto::reports`).

use chrono::{Datelike, NaiveDate};
use prost::Message;
use tonic::{Request, Response, Status};

use super::filter::{self, Op};
use super::pagination;
use super::parse::{date_value, enum_filter};
use super::{Services, request_key, respond};
use crate::domain::error::Violations;
use crate::domain::names;
use crate::domain::project::{Category, InvestmentType};
use crate::domain::report::{Bulletin, Dimension, ReportFilter};
use crate::domain::values::{self, Id, Title};
use crate::proto::reports::{self as encoded, decode_bulletin};
use crate::proto::{
    budget,
    v1::{self, report_service_server::ReportService},
};
use crate::service::ServiceError;
use crate::service::reports::{self as service, PublishBulletin};
use crate::store::reports;
use crate::store::{Cursor, Page, SortKey};

/// The gRPC face of reports.
#[derive(Clone, Debug)]
pub struct ReportApi {
    services: Services,
}

/// GetPipelineSummary and GetFundingSummary, parsed.
struct SummaryQuery {
    status_date: NaiveDate,
    filter: ReportFilter,
}

/// Where the rows of a ListRankings request come from.
enum RankingSource {
    /// The ranking kept in the bulletin with this id.
    Bulletin(String),
    /// Computed now, with these units ranked even when they have no project.
    Live {
        status_date: NaiveDate,
        units: Vec<String>,
    },
}

/// ListRankings, parsed.
struct RankingsQuery {
    source: RankingSource,
    dimension: Dimension,
    after: Option<Cursor>,
    limit: usize,
    /// The fingerprint of the request's pages.
    print: String,
}

/// ListBulletins, parsed.
struct BulletinsQuery {
    after: Option<Cursor>,
    limit: u64,
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
        let first = reports::first_data_year(self.services.store.connection()).await?;
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
        for (field, value) in reports::unknown_units(self.services.store.connection(), &f).await? {
            violations.add("filter", format!("no project has {field} {value:?}"));
        }
        Ok(f)
    }

    /// The status date and filter of a summary request.
    async fn summary_query(
        &self,
        status_date: Option<&v1::Date>,
        filter: &str,
    ) -> Result<SummaryQuery, Status> {
        let mut violations = Violations::new();
        let status_date = self.status_date(status_date, &mut violations).await?;
        let filter = self.filter(filter, &mut violations).await?;
        Ok(violations.build(|| {
            Some(SummaryQuery {
                status_date: status_date?,
                filter,
            })
        })?)
    }

    async fn rankings_query(&self, req: &v1::ListRankingsRequest) -> Result<RankingsQuery, Status> {
        let mut violations = Violations::new();
        let from_bulletin = !req.bulletin.is_empty();
        let bulletin_id = if from_bulletin {
            if req.status_date.is_some() {
                violations.add(
                    "status_date",
                    "must be empty with `bulletin`: a bulletin has its own status date",
                );
            }
            if !req.units.is_empty() {
                violations.add(
                    "units",
                    "must be empty with `bulletin`: a bulletin ranks the units it ranked",
                );
            }
            violations.check("bulletin", parse_bulletin_name(&req.bulletin))
        } else {
            None
        };
        let status_date = if from_bulletin {
            None
        } else {
            self.status_date(req.status_date.as_ref(), &mut violations)
                .await?
        };
        let dimension = violations.check("dimension", dimension(req.dimension));
        if req.units.len() > MAX_UNITS {
            violations.add(
                "units",
                format!("at most {MAX_UNITS}, got {}", req.units.len()),
            );
        }
        let units: Vec<String> = req
            .units
            .iter()
            .enumerate()
            .take(MAX_UNITS)
            .filter_map(|(i, u)| {
                violations
                    .check(&format!("units[{i}]"), Title::required(u))
                    .map(Title::into_string)
            })
            .collect();
        let limit = violations.check("page_size", pagination::page_size(req.page_size));
        let print = if from_bulletin {
            bulletin_ranking_print(&req.bulletin, req.dimension)
        } else {
            pagination::fingerprint(&[
                &format!("{status_date:?}{:?}", req.dimension),
                &units.join("\n"),
            ])
        };
        let after = violations
            .check("page_token", pagination::decode(&req.page_token, &print))
            .flatten();
        if matches!(&after, Some(c) if !matches!(c.key, SortKey::Int(_))) {
            violations.add("page_token", "is not a page token issued by this service");
        }
        Ok(violations.build(|| {
            Some(RankingsQuery {
                source: match bulletin_id {
                    Some(id) => RankingSource::Bulletin(id.to_string()),
                    None => RankingSource::Live {
                        status_date: status_date?,
                        units,
                    },
                },
                dimension: dimension?,
                after,
                limit: limit? as usize,
                print,
            })
        })?)
    }

    async fn publish_command(
        &self,
        req: &v1::PublishBulletinRequest,
    ) -> Result<(PublishBulletin, Option<String>), Status> {
        let mut violations = Violations::new();
        let status_date = self
            .status_date(req.status_date.as_ref(), &mut violations)
            .await?;
        let title = violations.check("title", Title::required(&req.title));
        let bulletin_id = violations.check("bulletin_id", Id::optional(&req.bulletin_id));
        let request_id = violations.check("request_id", values::request_id(&req.request_id));
        Ok(violations.build(|| {
            Some((
                PublishBulletin {
                    bulletin_id: bulletin_id?,
                    title: title?,
                    status_date: status_date?,
                },
                request_id?,
            ))
        })?)
    }
}

/// A ranking dimension of a request: required, and one the service knows.
fn dimension(raw: i32) -> Result<Dimension, String> {
    match v1::RankingDimension::try_from(raw) {
        Ok(v1::RankingDimension::Department) => Ok(Dimension::Department),
        Ok(v1::RankingDimension::Township) => Ok(Dimension::Township),
        Ok(v1::RankingDimension::Leader) => Ok(Dimension::Leader),
        Ok(v1::RankingDimension::Unspecified) => {
            Err("is required: DEPARTMENT, TOWNSHIP or LEADER".into())
        }
        Err(_) => Err(format!("unknown value {raw}")),
    }
}

/// The most units a ListRankings request may name.
const MAX_UNITS: usize = 500;

fn parse_bulletin_name(name: &str) -> Result<&str, String> {
    match name.strip_prefix("bulletins/") {
        Some(id) if names::validate_id(id).is_ok() => Ok(id),
        _ => Err(format!(
            "must be a bulletin resource name, bulletins/{{bulletin}}; got {name:?}"
        )),
    }
}

/// The fingerprint of the pages of the ranking of `dimension` in `bulletin`.
fn bulletin_ranking_print(bulletin: &str, dimension: i32) -> String {
    pagination::fingerprint(&["bulletin", bulletin, &dimension.to_string()])
}

/// Where a page of a ranking continues: after this row (rows are ordered by rank, then unit).
fn row_cursor(row: &v1::RankingRow) -> Cursor {
    Cursor {
        key: SortKey::Int(row.rank as i64),
        id: row.unit.clone(),
    }
}

/// One page of `ranking`'s rows after `after`: at most `limit` rows, and no more than fit in
/// the message limit.
fn ranking_page(
    mut ranking: v1::ListRankingsResponse,
    after: Option<&Cursor>,
    limit: usize,
    max_message_bytes: usize,
    print: &str,
) -> v1::ListRankingsResponse {
    let mut rows = std::mem::take(&mut ranking.rows);
    if let Some(Cursor {
        key: SortKey::Int(rank),
        id,
    }) = after
    {
        rows.retain(|r| (r.rank as i64, &r.unit) > (*rank, id));
    }
    let more = rows.len() > limit;
    rows.truncate(limit);
    let (rows, token) = pagination::fit(
        Page::new(rows, more, row_cursor),
        max_message_bytes,
        print,
        |row| row.clone(),
    );
    ranking.rows = rows;
    ranking.next_page_token = token;
    ranking
}

/// Room a bulletin keeps for each ranking's next page token (a unit name of at most 400 bytes,
/// in base64) and the growth of its length prefix.
const TOKEN_ROOM: usize = 1024;

/// Splits `room` among lists needing `sizes` bytes: a list that needs less than an even share
/// gets what it needs, and what it leaves is shared evenly among the others.
fn fair_shares(sizes: &[usize], room: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by_key(|&i| sizes[i]);
    let mut left = room;
    let mut shares = vec![0; sizes.len()];
    for (n, &i) in order.iter().enumerate() {
        shares[i] = sizes[i].min(left / (sizes.len() - n));
        left -= shares[i];
    }
    shares
}

/// A bulletin as the API sends it. It is stored whole, but three rankings of every unit need
/// not fit in one message: when they would take the bulletin past MAX_RESOURCE_BYTES, each
/// ranking keeps its best rows within a fair share of the room (`fair_shares`) and its
/// `next_page_token` reads the rest through ListRankings with `bulletin` set. The cut depends
/// only on the stored bulletin, so it is the same on every read.
fn presented(mut bulletin: v1::Bulletin) -> v1::Bulletin {
    let rows: Vec<Vec<v1::RankingRow>> = bulletin
        .rankings
        .iter_mut()
        .map(|r| std::mem::take(&mut r.rows))
        .collect();
    let sizes: Vec<usize> = rows
        .iter()
        .map(|rows| rows.iter().map(budget::entry_len).sum())
        .collect();
    let fixed = bulletin.encoded_len() + bulletin.rankings.len() * TOKEN_ROOM;
    let room = budget::MAX_RESOURCE_BYTES.saturating_sub(fixed);
    let shares = fair_shares(&sizes, room);
    let name = bulletin.name.clone();
    for ((ranking, rows), share) in bulletin.rankings.iter_mut().zip(rows).zip(shares) {
        let kept = budget::fitting(&rows, share);
        if kept < rows.len() {
            // Before the first row when none fits: every rank is at least 1.
            let resume = match kept {
                0 => Cursor {
                    key: SortKey::Int(0),
                    id: String::new(),
                },
                n => row_cursor(&rows[n - 1]),
            };
            ranking.next_page_token =
                pagination::encode(&bulletin_ranking_print(&name, ranking.dimension), &resume);
        }
        ranking.rows = rows;
        ranking.rows.truncate(kept);
    }
    bulletin
}

/// Bulletin lists: 20 by default, at most 100 (each bulletin carries every ranking).
fn bulletin_page_size(requested: i32) -> Result<u64, String> {
    match requested {
        n if n < 0 => Err(format!("must not be negative, got {n}")),
        0 => Ok(20),
        n => Ok((n as u64).min(100)),
    }
}

fn bulletins_query(req: &v1::ListBulletinsRequest) -> Result<BulletinsQuery, ServiceError> {
    let mut violations = Violations::new();
    let limit = violations.check("page_size", bulletin_page_size(req.page_size));
    let after = violations
        .check(
            "page_token",
            pagination::decode(&req.page_token, &bulletins_print()),
        )
        .flatten();
    if matches!(&after, Some(c) if !matches!(c.key, SortKey::Int(_))) {
        violations.add("page_token", "is not a page token issued by this service");
    }
    Ok(violations.build(|| {
        Some(BulletinsQuery {
            after,
            limit: limit?,
        })
    })?)
}

/// The fingerprint of the pages of ListBulletins.
fn bulletins_print() -> String {
    pagination::fingerprint(&["bulletins"])
}

/// A stored bulletin, decoded; a payload that does not decode is an internal error.
fn stored(payload: &[u8]) -> Result<v1::Bulletin, ServiceError> {
    decode_bulletin(payload).map_err(ServiceError::internal)
}

#[tonic::async_trait]
impl ReportService for ReportApi {
    async fn get_pipeline_summary(
        &self,
        request: Request<v1::GetPipelineSummaryRequest>,
    ) -> Result<Response<v1::PipelineSummary>, Status> {
        let req = request.into_inner();
        let query = self
            .summary_query(req.status_date.as_ref(), &req.filter)
            .await?;
        let conn = self.services.store.connection();
        let pace = crate::service::reports::pace_basis(conn, query.status_date).await?;
        let (policy, _) = self.services.light_policy().await?;
        let summary =
            reports::pipeline_summary(conn, &query.filter, query.status_date, &policy, &pace)
                .await?;
        Ok(Response::new(encoded::pipeline_summary(
            &summary,
            &req.filter,
        )))
    }

    async fn list_rankings(
        &self,
        request: Request<v1::ListRankingsRequest>,
    ) -> Result<Response<v1::ListRankingsResponse>, Status> {
        let req = request.into_inner();
        let query = self.rankings_query(&req).await?;
        let ranking = match query.source {
            RankingSource::Bulletin(id) => {
                let bulletin = self.services.store.get_bulletin(&id).await?;
                stored(&bulletin.payload)?
                    .rankings
                    .into_iter()
                    .find(|r| r.dimension == req.dimension)
                    .ok_or_else(|| {
                        ServiceError::internal(format!(
                            "{} holds no ranking of dimension {}",
                            req.bulletin, req.dimension
                        ))
                    })?
            }
            RankingSource::Live { status_date, units } => v1::ListRankingsResponse::from(
                &service::ranking(
                    self.services.store.connection(),
                    &self.services.light_policy().await?.0,
                    query.dimension,
                    status_date,
                    &units,
                )
                .await?,
            ),
        };
        Ok(Response::new(ranking_page(
            ranking,
            query.after.as_ref(),
            query.limit,
            self.services.max_message_bytes,
            &query.print,
        )))
    }

    async fn get_funding_summary(
        &self,
        request: Request<v1::GetFundingSummaryRequest>,
    ) -> Result<Response<v1::FundingSummary>, Status> {
        let req = request.into_inner();
        let query = self
            .summary_query(req.status_date.as_ref(), &req.filter)
            .await?;
        let summary = reports::funding_summary(
            self.services.store.connection(),
            &query.filter,
            query.status_date,
        )
        .await?;
        Ok(Response::new(encoded::funding_summary(
            &summary,
            &req.filter,
        )))
    }

    async fn publish_bulletin(
        &self,
        request: Request<v1::PublishBulletinRequest>,
    ) -> Result<Response<v1::Bulletin>, Status> {
        let ctx = self.services.write_context(&request)?;
        let req = request.into_inner();
        let (cmd, request_id) = self.publish_command(&req).await?;
        let key = request_key("PublishBulletin", request_id, &req, |r| {
            r.request_id.clear()
        });
        let sent = |b: &Bulletin| presented(v1::Bulletin::from(b));
        let (policy, _) = self.services.light_policy().await?;
        let outcome = service::publish_bulletin(
            &self.services.store,
            &policy,
            &ctx,
            key.as_ref(),
            cmd,
            // A retry gets the response the first call sent, which may be cut (`presented`).
            |b| sent(b).encode_to_vec(),
        )
        .await?;
        respond(outcome, |b| sent(&b)).map(Response::new)
    }

    async fn get_bulletin(
        &self,
        request: Request<v1::GetBulletinRequest>,
    ) -> Result<Response<v1::Bulletin>, Status> {
        let req = request.into_inner();
        let id = parse_bulletin_name(&req.name).map_err(|e| ServiceError::invalid("name", e))?;
        let bulletin = self.services.store.get_bulletin(id).await?;
        Ok(Response::new(presented(stored(&bulletin.payload)?)))
    }

    async fn list_bulletins(
        &self,
        request: Request<v1::ListBulletinsRequest>,
    ) -> Result<Response<v1::ListBulletinsResponse>, Status> {
        let req = request.into_inner();
        let query = bulletins_query(&req)?;
        let page = self
            .services
            .store
            .list_bulletins(query.after.as_ref(), query.limit)
            .await?;
        let page = Page {
            items: page
                .items
                .iter()
                .map(|b| stored(&b.payload))
                .collect::<Result<Vec<_>, _>>()?,
            cursors: page.cursors,
            more: page.more,
        };
        let (bulletins, next_page_token) = pagination::fit(
            page,
            self.services.max_message_bytes,
            &bulletins_print(),
            |b| presented(b.clone()),
        );
        Ok(Response::new(v1::ListBulletinsResponse {
            bulletins,
            next_page_token,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::report::INDICATORS;
    use crate::domain::values::{TITLE_CHARS, UNIT_CHARS};
    use crate::proto::budget::worst;

    fn row(unit: String, rank: i32) -> v1::RankingRow {
        v1::RankingRow {
            unit,
            project_count: i32::MAX,
            indicators: INDICATORS
                .iter()
                .map(|d| v1::IndicatorScore {
                    indicator: d.name.into(),
                    value: 0.37,
                    score: 37.5,
                    weight: d.weight as i32,
                    measured: true,
                })
                .collect(),
            total_score: 88.36,
            rank,
            rank_change: i32::MIN,
            ranked_before: true,
        }
    }

    fn ranking(
        dimension: v1::RankingDimension,
        rows: Vec<v1::RankingRow>,
    ) -> v1::ListRankingsResponse {
        v1::ListRankingsResponse {
            status_date: worst::date(),
            dimension: dimension as i32,
            weights: encoded::weights(),
            rows,
            previous_bulletin: format!("bulletins/{}", worst::id()),
            next_page_token: String::new(),
        }
    }

    fn bulletin(rows: impl Fn(usize) -> Vec<v1::RankingRow>) -> v1::Bulletin {
        v1::Bulletin {
            name: format!("bulletins/{}", worst::id()),
            uid: worst::uid(),
            title: worst::text(TITLE_CHARS),
            status_date: worst::date(),
            summary: Some(crate::proto::reports::worst_summary()),
            rankings: [
                v1::RankingDimension::Department,
                v1::RankingDimension::Township,
                v1::RankingDimension::Leader,
            ]
            .into_iter()
            .enumerate()
            .map(|(i, d)| ranking(d, rows(i)))
            .collect(),
            publisher: worst::actor(),
            create_time: worst::time(),
            update_time: worst::time(),
            etag: worst::etag(),
            light_rule_set: format!("lightRuleSets/{}@{}", worst::id(), i32::MAX),
        }
    }

    #[test]
    fn worst_case_bulletin_is_cut_to_fit_and_continues() {
        let stored = bulletin(|_| {
            (0..1000)
                .map(|i| row(format!("{i:04}{}", worst::text(UNIT_CHARS - 4)), i + 1))
                .collect()
        });
        let sent = presented(stored.clone());
        let len = sent.encoded_len();
        assert!(len <= budget::MAX_RESOURCE_BYTES, "{len}");
        assert_eq!(presented(stored.clone()), sent, "the same cut every time");
        for (cut, whole) in sent.rankings.iter().zip(&stored.rankings) {
            let kept = cut.rows.len();
            assert!(kept > 0 && kept < 1000, "{kept}");
            assert_eq!(cut.rows[..], whole.rows[..kept]);
            // The token reads on from the stored ranking, right after the last row sent.
            let print = bulletin_ranking_print(&stored.name, cut.dimension);
            let after = pagination::decode(&cut.next_page_token, &print)
                .unwrap()
                .unwrap();
            let next = ranking_page(whole.clone(), Some(&after), 1000, 4 << 20, &print);
            assert_eq!(next.rows[0], whole.rows[kept]);
        }
    }

    #[test]
    fn a_county_sized_bulletin_is_sent_whole() {
        // 40 departments, 25 townships and 30 leaders with everyday names, each row with the
        // nine indicators (a county has about 35 departments and bureaus, 10 to 30 townships
        // and 20 leaders).
        let stored = bulletin(|i| {
            let n = [40, 25, 30][i];
            (0..n).map(|k| row(format!("县第{k}局"), k + 1)).collect()
        });
        let stored = v1::Bulletin {
            summary: Some(v1::PipelineSummary::default()),
            ..stored
        };
        let sent = presented(stored.clone());
        assert_eq!(sent, stored);
    }

    #[test]
    fn shares_are_fair() {
        assert_eq!(fair_shares(&[10, 20, 30], 100), vec![10, 20, 30]);
        assert_eq!(fair_shares(&[10, 100, 100], 90), vec![10, 40, 40]);
        assert_eq!(fair_shares(&[100, 5, 100], 65), vec![30, 5, 30]);
        assert_eq!(fair_shares(&[], 65), Vec::<usize>::new());
    }

    #[test]
    fn a_ranking_page_keeps_its_margin() {
        // Everything but the rows, with the longest token a live ranking issues.
        let mut page = ranking(v1::RankingDimension::Leader, Vec::new());
        page.next_page_token = pagination::encode(
            &pagination::fingerprint(&["x"]),
            &row_cursor(&row(worst::text(TITLE_CHARS), i32::MAX)),
        );
        assert!(
            page.encoded_len() <= budget::LIST_MARGIN,
            "{}",
            page.encoded_len()
        );
    }
}
