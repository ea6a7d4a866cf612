//! Reports as `pipeline.v1` messages: the pipeline and funding summaries, the rankings and the
//! bulletins, with the caps that keep their lists within the message budget.

use std::collections::HashMap;

use super::{budget, date, timestamp, v1};
use crate::domain::names;
use crate::domain::report::{
    Bulletin, Dimension, DueMilestones, FundingFigures, FundingSummary, INDICATORS, PaceFigures,
    PipelineSummary, Ranking, RankingRow, Tally,
};
use crate::domain::values::{reported_count, reported_yuan};

impl From<Dimension> for v1::RankingDimension {
    fn from(dimension: Dimension) -> Self {
        match dimension {
            Dimension::Department => Self::Department,
            Dimension::Township => Self::Township,
            Dimension::Leader => Self::Leader,
        }
    }
}

impl From<&Tally> for v1::ProjectTally {
    fn from(t: &Tally) -> Self {
        v1::ProjectTally {
            key: t.key.clone(),
            project_count: reported_count(t.project_count),
            total_investment_yuan: reported_yuan(t.total_investment_yuan),
            annual_planned_investment_yuan: reported_yuan(t.annual_planned_investment_yuan),
            completed_investment_yuan: reported_yuan(t.completed_investment_yuan),
        }
    }
}

/// The most the tallies of one list of a summary by township or by department take, encoded.
/// The rest are summed up in one last tally with an empty key (no township or department is
/// empty), so the counts and amounts still add up to the summary's totals. 8 KiB hold over 200
/// groups of typical names and at least 18 of the longest allowed.
pub const TALLY_LIST_BYTES: usize = 8 * 1024;

/// `tallies` (sorted by key) as response entries: every group while they fit in
/// TALLY_LIST_BYTES, then one tally with an empty key summing the groups left out.
fn capped_tallies(tallies: &[Tally]) -> Vec<v1::ProjectTally> {
    let entries: Vec<v1::ProjectTally> = tallies.iter().map(v1::ProjectTally::from).collect();
    // Room for the remainder: an empty key and every number at its widest.
    let widest_remainder = budget::entry_len(&v1::ProjectTally {
        key: String::new(),
        project_count: i32::MAX,
        total_investment_yuan: i64::MAX,
        annual_planned_investment_yuan: i64::MAX,
        completed_investment_yuan: i64::MAX,
    });
    if budget::fitting(&entries, TALLY_LIST_BYTES) == entries.len() {
        return entries;
    }
    let kept = budget::fitting(&entries, TALLY_LIST_BYTES - widest_remainder);
    let rest = Tally::sum(&tallies[kept..]);
    let mut capped: Vec<v1::ProjectTally> = entries.into_iter().take(kept).collect();
    capped.push(v1::ProjectTally::from(&rest));
    capped
}

fn tallies(tallies: &[Tally]) -> Vec<v1::ProjectTally> {
    tallies.iter().map(v1::ProjectTally::from).collect()
}

impl From<&DueMilestones> for v1::DueMilestones {
    fn from(d: &DueMilestones) -> Self {
        v1::DueMilestones {
            start_date: Some(date(d.start)),
            end_date: Some(date(d.end)),
            due_count: reported_count(d.due),
            achieved_count: reported_count(d.achieved),
            overdue_count: reported_count(d.overdue),
        }
    }
}

/// The pipeline summary as sent, with the filter it answers.
fn pace_figures(f: &PaceFigures) -> v1::InvestmentPaceFigures {
    let rate = |part: i128, whole: i128| {
        if whole > 0 {
            part as f64 / whole as f64
        } else {
            0.0
        }
    };
    v1::InvestmentPaceFigures {
        month: f.month.to_string(),
        light_rule_set: f.light_rule_set.clone(),
        project_count: reported_count(f.projects),
        exempt_count: reported_count(f.exempt),
        pace_yuan: reported_yuan(f.pace_yuan),
        completed_yuan: reported_yuan(f.completed_yuan),
        completion_rate: rate(f.completed_yuan, f.pace_yuan),
        reports_due: reported_count(f.reports_due),
        reports_on_time: reported_count(f.reports_on_time),
        report_on_time_rate: rate(i128::from(f.reports_on_time), i128::from(f.reports_due)),
    }
}

pub fn pipeline_summary(s: &PipelineSummary, filter: &str) -> v1::PipelineSummary {
    v1::PipelineSummary {
        status_date: Some(date(s.status_date)),
        filter: filter.to_string(),
        project_count: reported_count(s.total.project_count),
        total_investment_yuan: reported_yuan(s.total.total_investment_yuan),
        // Stages and categories are enums: a handful of groups, never cut.
        by_stage: tallies(&s.by_stage),
        by_township: capped_tallies(&s.by_township),
        by_department: capped_tallies(&s.by_department),
        by_category: tallies(&s.by_category),
        due_this_month: Some((&s.due_this_month).into()),
        due_this_quarter: Some((&s.due_this_quarter).into()),
        on_time_this_year: s
            .on_time_this_year
            .iter()
            .map(|o| v1::OnTimeRate {
                kind: v1::MilestoneKind::from(o.kind) as i32,
                due_count: reported_count(o.due),
                achieved_count: reported_count(o.achieved),
                on_time_count: reported_count(o.on_time),
                on_time_rate: o.rate(),
            })
            .collect(),
        by_light: s
            .by_light
            .iter()
            .map(|l| v1::LightCount {
                light: v1::AlertLight::from(l.light) as i32,
                milestone_count: reported_count(l.milestones),
            })
            .collect(),
        investment_pace: Some(pace_figures(&s.investment_pace)),
        problems_by_category: s
            .problems_by_category
            .iter()
            .map(|c| v1::ProblemCount {
                category: v1::ProblemCategory::from(c.category) as i32,
                open_count: reported_count(c.open),
                overdue_count: reported_count(c.overdue),
            })
            .collect(),
        year_end_date: Some(date(s.year_end)),
        days_to_year_end: s.days_to_year_end() as i32,
        due_by_year_end: s
            .due_by_year_end
            .iter()
            .map(|k| v1::KindCount {
                kind: v1::MilestoneKind::from(k.kind) as i32,
                milestone_count: reported_count(k.milestones),
                overdue_count: reported_count(k.overdue),
            })
            .collect(),
    }
}

impl From<&FundingFigures> for v1::FundingFigures {
    fn from(f: &FundingFigures) -> Self {
        v1::FundingFigures {
            draft_count: reported_count(f.draft_count),
            submitted_count: reported_count(f.submitted_count),
            approved_count: reported_count(f.approved_count),
            rejected_count: reported_count(f.rejected_count),
            withdrawn_count: reported_count(f.withdrawn_count),
            declared_amount_yuan: reported_yuan(f.declared_amount_yuan),
            approved_amount_yuan: reported_yuan(f.approved_amount_yuan),
            disbursed_amount_yuan: reported_yuan(f.disbursed_amount_yuan),
            undeclared_count: reported_count(f.undeclared_count),
        }
    }
}

/// The most the window lines of a funding summary take, encoded; the lines after are left out
/// (the channels and the total still count every window). 48 KiB hold about 500 lines of
/// typical titles and at least 48 of the longest allowed.
pub const WINDOW_LINES_BYTES: usize = 48 * 1024;

/// The funding summary as sent, with the filter it answers.
pub fn funding_summary(s: &FundingSummary, filter: &str) -> v1::FundingSummary {
    let mut windows: Vec<v1::WindowFunding> = s
        .windows
        .iter()
        .map(|line| {
            let w = &line.window;
            v1::WindowFunding {
                funding_window: w.name(),
                title: w.fields.title.clone(),
                channel: v1::FundingChannel::from(w.fields.channel) as i32,
                state: v1::FundingWindowState::from(w.fields.state_on(s.status_date)) as i32,
                figures: Some((&line.figures).into()),
                target_count: w.fields.target_count,
                count_gap: reported_count(line.count_gap()),
            }
        })
        .collect();
    windows.truncate(budget::fitting(&windows, WINDOW_LINES_BYTES));
    v1::FundingSummary {
        status_date: Some(date(s.status_date)),
        filter: filter.to_string(),
        windows,
        channels: s
            .channels()
            .map(|c| v1::ChannelFunding {
                channel: v1::FundingChannel::from(c.channel) as i32,
                window_count: reported_count(c.window_count),
                figures: Some((&c.figures).into()),
            })
            .collect(),
        total: Some((&s.total).into()),
    }
}

impl From<&RankingRow> for v1::RankingRow {
    fn from(r: &RankingRow) -> Self {
        let ranked = &r.ranked;
        v1::RankingRow {
            unit: ranked.counts.unit.clone(),
            project_count: reported_count(ranked.counts.project_count),
            indicators: ranked
                .indicators
                .iter()
                .map(|i| v1::IndicatorScore {
                    indicator: i.name.to_string(),
                    value: i.value,
                    score: i.score,
                    weight: i.weight as i32,
                    measured: i.measured,
                })
                .collect(),
            total_score: ranked.total,
            rank: ranked.rank as i32,
            rank_change: r.rank_change(),
            ranked_before: r.previous_rank.is_some(),
        }
    }
}

/// The indicators' weights and meanings, as every ranking lists them.
pub fn weights() -> Vec<v1::IndicatorWeight> {
    INDICATORS
        .iter()
        .map(|d| v1::IndicatorWeight {
            indicator: d.name.to_string(),
            weight: d.weight as i32,
            description: d.description.to_string(),
        })
        .collect()
}

/// A whole ranking, as one response (the API pages it).
impl From<&Ranking> for v1::ListRankingsResponse {
    fn from(r: &Ranking) -> Self {
        v1::ListRankingsResponse {
            status_date: Some(date(r.status_date)),
            dimension: v1::RankingDimension::from(r.dimension) as i32,
            weights: weights(),
            rows: r.rows.iter().map(v1::RankingRow::from).collect(),
            previous_bulletin: r.previous_bulletin.clone().unwrap_or_default(),
            next_page_token: String::new(),
        }
    }
}

/// A bulletin whole, as it is stored (the API cuts what it sends).
impl From<&Bulletin> for v1::Bulletin {
    fn from(b: &Bulletin) -> Self {
        let created = timestamp(b.created_at_us);
        v1::Bulletin {
            name: b.name(),
            uid: b.uid.clone(),
            title: b.title.clone(),
            status_date: Some(date(b.status_date)),
            summary: Some(pipeline_summary(&b.summary, "")),
            rankings: b
                .rankings
                .iter()
                .map(v1::ListRankingsResponse::from)
                .collect(),
            publisher: b.publisher.clone(),
            create_time: Some(created),
            update_time: Some(created),
            etag: names::etag(1),
            light_rule_set: b.light_rule_set.clone(),
        }
    }
}

/// A stored bulletin's payload, decoded.
pub fn decode_bulletin(payload: &[u8]) -> Result<v1::Bulletin, prost::DecodeError> {
    use prost::Message;
    v1::Bulletin::decode(payload)
}

/// The rank of every unit in `bulletin`'s ranking of `dimension` (empty when it has none).
pub fn ranks(bulletin: &v1::Bulletin, dimension: Dimension) -> HashMap<String, i32> {
    let dimension = v1::RankingDimension::from(dimension) as i32;
    bulletin
        .rankings
        .iter()
        .find(|r| r.dimension == dimension)
        .map(|r| {
            r.rows
                .iter()
                .map(|row| (row.unit.clone(), row.rank))
                .collect()
        })
        .unwrap_or_default()
}

/// The pipeline summary at its bounds: the longest filter, every stage and category, and a
/// thousand townships and departments of the longest names (cut by `capped_tallies`).
#[cfg(test)]
pub(crate) fn worst_summary() -> v1::PipelineSummary {
    use crate::domain::milestone::MilestoneKind;
    use crate::domain::project::{Category, Stage};
    use crate::domain::values::UNIT_CHARS;
    use budget::worst;
    let group = |key: String| Tally {
        key,
        project_count: i64::from(i32::MAX),
        total_investment_yuan: i128::from(i64::MAX),
        annual_planned_investment_yuan: i128::from(i64::MAX),
        completed_investment_yuan: i128::from(i64::MAX),
    };
    let units: Vec<Tally> = (0..1000)
        .map(|i| group(format!("{i:04}{}", worst::text(UNIT_CHARS - 4))))
        .collect();
    let enums = |n: usize| -> Vec<v1::ProjectTally> {
        (0..n)
            .map(|_| v1::ProjectTally::from(&group("TRIAL_PRODUCTION".into())))
            .collect()
    };
    let due = || {
        Some(v1::DueMilestones {
            start_date: worst::date(),
            end_date: worst::date(),
            due_count: i32::MAX,
            achieved_count: i32::MAX,
            overdue_count: i32::MAX,
        })
    };
    v1::PipelineSummary {
        investment_pace: Some(v1::InvestmentPaceFigures {
            month: "2200-12".into(),
            light_rule_set: format!("lightRuleSets/{}@{}", worst::id(), i32::MAX),
            project_count: i32::MAX,
            exempt_count: i32::MAX,
            pace_yuan: i64::MAX,
            completed_yuan: i64::MAX,
            completion_rate: f64::MAX,
            reports_due: i32::MAX,
            reports_on_time: i32::MAX,
            report_on_time_rate: f64::MAX,
        }),
        status_date: worst::date(),
        filter: "x".repeat(crate::api::filter::MAX_FILTER_BYTES),
        project_count: i32::MAX,
        total_investment_yuan: i64::MAX,
        by_stage: enums(Stage::ALL.len()),
        by_township: capped_tallies(&units),
        by_department: capped_tallies(&units),
        by_category: enums(Category::ALL.len()),
        problems_by_category: vec![
            v1::ProblemCount {
                category: v1::ProblemCategory::EnterpriseRequest as i32,
                open_count: i32::MAX,
                overdue_count: i32::MAX,
            };
            crate::domain::problem::ProblemCategory::ALL.len()
        ],
        due_this_month: due(),
        due_this_quarter: due(),
        on_time_this_year: vec![
            v1::OnTimeRate {
                kind: v1::MilestoneKind::TrialProduction as i32,
                due_count: i32::MAX,
                achieved_count: i32::MAX,
                on_time_count: i32::MAX,
                on_time_rate: 0.5,
            };
            2
        ],
        by_light: vec![
            v1::LightCount {
                light: v1::AlertLight::Yellow as i32,
                milestone_count: i32::MAX,
            };
            3
        ],
        year_end_date: worst::date(),
        days_to_year_end: i32::MIN,
        due_by_year_end: vec![
            v1::KindCount {
                kind: v1::MilestoneKind::TrialProduction as i32,
                milestone_count: i32::MAX,
                overdue_count: i32::MAX,
            };
            MilestoneKind::ALL.len()
        ],
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::domain::funding::FundingChannel;
    use crate::domain::values::TITLE_CHARS;
    use budget::worst;

    #[test]
    fn capped_tallies_keep_the_sums_and_fit() {
        let tally = |key: &str, n: i64| Tally {
            key: key.into(),
            project_count: n,
            total_investment_yuan: i128::from(n) * 10,
            annual_planned_investment_yuan: 0,
            completed_investment_yuan: 0,
        };
        let few = vec![tally("城关镇", 2), tally("太和镇", 3)];
        assert_eq!(capped_tallies(&few), tallies(&few));
        let many: Vec<Tally> = (0..2000).map(|i| tally(&format!("{i:05}镇"), 1)).collect();
        let capped = capped_tallies(&many);
        let listed: usize = capped.iter().map(budget::entry_len).sum();
        assert!(listed <= TALLY_LIST_BYTES, "{listed}");
        let rest = capped.last().unwrap();
        assert_eq!(
            rest.key, "",
            "the groups left out are summed up under an empty key"
        );
        assert!(capped.len() > 150, "typical names: {}", capped.len());
        assert_eq!(capped.iter().map(|t| t.project_count).sum::<i32>(), 2000);
        assert_eq!(
            capped.iter().map(|t| t.total_investment_yuan).sum::<i64>(),
            20_000
        );
    }

    #[test]
    fn worst_case_summary_fits() {
        let summary = worst_summary();
        assert!(
            summary.by_township.len() >= 18,
            "{}",
            summary.by_township.len()
        );
        let len = summary.encoded_len();
        assert!(len <= budget::MAX_RESOURCE_BYTES, "{len}");
    }

    #[test]
    fn worst_case_funding_summary_fits() {
        let figures = || {
            Some(v1::FundingFigures {
                draft_count: i32::MAX,
                submitted_count: i32::MAX,
                approved_count: i32::MAX,
                rejected_count: i32::MAX,
                withdrawn_count: i32::MAX,
                declared_amount_yuan: i64::MAX,
                approved_amount_yuan: i64::MAX,
                disbursed_amount_yuan: i64::MAX,
                undeclared_count: i32::MAX,
            })
        };
        let line = v1::WindowFunding {
            funding_window: worst::window_name(),
            title: worst::text(TITLE_CHARS),
            channel: v1::FundingChannel::Other as i32,
            state: v1::FundingWindowState::Closed as i32,
            figures: figures(),
            target_count: i32::MAX,
            count_gap: i32::MAX,
        };
        let mut windows = vec![line; 1000];
        windows.truncate(budget::fitting(&windows, WINDOW_LINES_BYTES));
        assert!(windows.len() >= 48, "{}", windows.len());
        let summary = v1::FundingSummary {
            status_date: worst::date(),
            filter: "x".repeat(crate::api::filter::MAX_FILTER_BYTES),
            windows,
            channels: vec![
                v1::ChannelFunding {
                    channel: v1::FundingChannel::Other as i32,
                    window_count: i32::MAX,
                    figures: figures(),
                };
                FundingChannel::ALL.len()
            ],
            total: figures(),
        };
        let len = summary.encoded_len();
        assert!(len <= budget::MAX_RESOURCE_BYTES, "{len}");
    }
}
