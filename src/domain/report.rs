//! Rankings (通报): the indicators of each unit, their scores, the weighted total and the rank.
//! Pure arithmetic over counts the store aggregates in SQL, so every rule is unit-tested here.

/// One indicator's definition: its API name, weight (the weights sum to 100) and meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndicatorDef {
    pub name: &'static str,
    pub weight: u32,
    pub description: &'static str,
}

/// The indicators, in the order rows list them.
pub const INDICATORS: [IndicatorDef; 6] = [
    IndicatorDef {
        name: "on_time_start_rate",
        weight: 25,
        description: "construction starts due this year up to the status date that were achieved on or before their baseline, as a share of those due; score = share × 100",
    },
    IndicatorDef {
        name: "on_time_trial_production_rate",
        weight: 20,
        description: "the same for trial productions",
    },
    IndicatorDef {
        name: "overdue_count",
        weight: 15,
        description: "unachieved milestones past their baseline on the status date; score = 100 − 10 per overdue milestone, at least 0",
    },
    IndicatorDef {
        name: "average_days_slipped",
        weight: 10,
        description: "mean lateness of the unit's milestones (achieved, forecast or overdue; early counts as 0) in days; score = 100 − 1 per day, at least 0",
    },
    IndicatorDef {
        name: "investment_completion_rate",
        weight: 20,
        description: "completed investment over annual planned investment; score = share × 100, at most 100",
    },
    IndicatorDef {
        name: "funding_coverage_rate",
        weight: 10,
        description: "eligible projects declared (submitted, approved or rejected) in this year's funding windows opened by the status date, as a share of eligible project-window pairs; score = share × 100",
    },
];

/// What the store counts for one unit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnitCounts {
    pub unit: String,
    pub project_count: i64,
    pub starts_due: i64,
    pub starts_on_time: i64,
    pub trials_due: i64,
    pub trials_on_time: i64,
    pub milestones: i64,
    pub overdue: i64,
    pub days_slipped_total: i64,
    /// Sums of the units' amounts, in 128 bits so that they cannot overflow.
    pub planned_investment_yuan: i128,
    pub completed_investment_yuan: i128,
    pub eligible_pairs: i64,
    pub declared_pairs: i64,
}

/// One indicator of one unit. `measured` is false when there is nothing to measure (no
/// construction start due, no milestone, no planned investment, no eligible project); such an
/// indicator is left out of the total and the other weights are scaled up.
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorValue {
    pub name: &'static str,
    pub value: f64,
    pub score: f64,
    pub weight: u32,
    pub measured: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RankedUnit {
    pub counts: UnitCounts,
    pub indicators: Vec<IndicatorValue>,
    /// Weighted mean of the measured scores, rounded to two decimals; 0 when none is measured.
    pub total: f64,
    /// Standard competition ranking: equal totals share a rank, the next rank skips.
    pub rank: u32,
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn share(part: impl Into<i128>, whole: impl Into<i128>) -> Option<f64> {
    let (part, whole) = (part.into(), whole.into());
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Turns an indicator's value into its score.
type Scorer = fn(f64) -> f64;

/// The indicators of one unit.
pub fn indicators(c: &UnitCounts) -> Vec<IndicatorValue> {
    let avg_slip = share(c.days_slipped_total, c.milestones);
    let values: [(Option<f64>, Scorer); 6] = [
        (share(c.starts_on_time, c.starts_due), |v| v * 100.0),
        (share(c.trials_on_time, c.trials_due), |v| v * 100.0),
        ((c.milestones > 0).then_some(c.overdue as f64), |v| {
            (100.0 - 10.0 * v).max(0.0)
        }),
        (avg_slip, |v| (100.0 - v).max(0.0)),
        (
            share(c.completed_investment_yuan, c.planned_investment_yuan),
            |v| (v * 100.0).min(100.0),
        ),
        (share(c.declared_pairs, c.eligible_pairs), |v| v * 100.0),
    ];
    INDICATORS
        .iter()
        .zip(values)
        .map(|(def, (value, score))| IndicatorValue {
            name: def.name,
            value: round2(value.unwrap_or_default()),
            score: round2(value.map(score).unwrap_or_default()),
            weight: def.weight,
            measured: value.is_some(),
        })
        .collect()
}

/// Scores and ranks units. Order: total descending, then unit name ascending (byte order), so
/// that ties are listed the same way every time; tied units share the better rank.
pub fn rank(units: Vec<UnitCounts>) -> Vec<RankedUnit> {
    let mut rows: Vec<RankedUnit> = units
        .into_iter()
        .map(|counts| {
            let indicators = indicators(&counts);
            let weights: u32 = indicators
                .iter()
                .filter(|i| i.measured)
                .map(|i| i.weight)
                .sum();
            let weighted: f64 = indicators
                .iter()
                .filter(|i| i.measured)
                .map(|i| i.score * i.weight as f64)
                .sum();
            let total = if weights == 0 {
                0.0
            } else {
                round2(weighted / weights as f64)
            };
            RankedUnit {
                counts,
                indicators,
                total,
                rank: 0,
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        b.total
            .total_cmp(&a.total)
            .then_with(|| a.counts.unit.cmp(&b.counts.unit))
    });
    for i in 0..rows.len() {
        rows[i].rank = if i > 0 && rows[i].total == rows[i - 1].total {
            rows[i - 1].rank
        } else {
            i as u32 + 1
        };
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(name: &str) -> UnitCounts {
        UnitCounts {
            unit: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn weights_sum_to_100() {
        assert_eq!(INDICATORS.iter().map(|i| i.weight).sum::<u32>(), 100);
    }

    #[test]
    fn scores_and_scaling() {
        let c = UnitCounts {
            starts_due: 4,
            starts_on_time: 3,
            milestones: 5,
            overdue: 1,
            days_slipped_total: 20,
            planned_investment_yuan: 100,
            completed_investment_yuan: 150,
            ..unit("县住建局")
        };
        let ind = indicators(&c);
        assert_eq!(ind[0].score, 75.0);
        assert!(!ind[1].measured, "no trial production due");
        assert_eq!(ind[2].score, 90.0);
        assert_eq!(ind[3].value, 4.0);
        assert_eq!(ind[3].score, 96.0);
        assert_eq!(ind[4].score, 100.0, "capped");
        assert!(!ind[5].measured);
        // (75×25 + 90×15 + 96×10 + 100×20) / 70 = 6185 / 70
        let ranked = rank(vec![c]);
        assert_eq!(ranked[0].total, 88.36);
    }

    #[test]
    fn ties_share_a_rank_and_are_ordered_by_name() {
        let a = UnitCounts {
            milestones: 1,
            ..unit("太和镇")
        };
        let b = UnitCounts {
            milestones: 1,
            ..unit("城关镇")
        };
        let c = UnitCounts {
            milestones: 1,
            overdue: 2,
            ..unit("东山镇")
        };
        let empty = unit("西河镇");
        let ranked = rank(vec![a, b, c, empty]);
        let order: Vec<(&str, u32, f64)> = ranked
            .iter()
            .map(|r| (r.counts.unit.as_str(), r.rank, r.total))
            .collect();
        assert_eq!(
            order,
            vec![
                ("城关镇", 1, 100.0),
                ("太和镇", 1, 100.0),
                ("东山镇", 3, 88.0),
                ("西河镇", 4, 0.0),
            ]
        );
    }
}
