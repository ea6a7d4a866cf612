//! Milestones and the slippage rules (DESIGN §5), as pure functions of dates.
//!
//! As of a status date: the projected date is the actual date when achieved, otherwise the
//! later of forecast and status date; the variance is projected minus baseline; the status is
//! the first of ACHIEVED, OVERDUE, SLIPPED, AT_RISK, ON_TRACK that holds; the light is RED for
//! OVERDUE or a variance above the tolerance, YELLOW for AT_RISK or a variance from 1 day to the
//! tolerance, GREEN otherwise.

use chrono::{Datelike, NaiveDate};

use super::project::{Stage, named_enum};

named_enum!(
    /// What a milestone marks.
    MilestoneKind {
        ContractSigning => "CONTRACT_SIGNING",
        ConstructionStart => "CONSTRUCTION_START",
        TrialProduction => "TRIAL_PRODUCTION",
        Completion => "COMPLETION",
        Custom => "CUSTOM",
    }
);

named_enum!(
    /// Where a milestone stands as of a status date.
    MilestoneStatus {
        Achieved => "ACHIEVED",
        Overdue => "OVERDUE",
        Slipped => "SLIPPED",
        AtRisk => "AT_RISK",
        OnTrack => "ON_TRACK",
    }
);

named_enum!(
    /// The colour a leader sees.
    Light {
        Green => "GREEN",
        Yellow => "YELLOW",
        Red => "RED",
    }
);

named_enum!(
    /// Which date a revision changed.
    RevisionField {
        Baseline => "BASELINE",
        Forecast => "FORECAST",
        Actual => "ACTUAL",
    }
);

impl MilestoneKind {
    /// The stage a project reaches when this milestone is achieved.
    pub fn stage_on_achieve(self) -> Option<Stage> {
        match self {
            MilestoneKind::ConstructionStart => Some(Stage::Construction),
            MilestoneKind::TrialProduction => Some(Stage::TrialProduction),
            MilestoneKind::Completion => Some(Stage::Operation),
            MilestoneKind::ContractSigning | MilestoneKind::Custom => None,
        }
    }
}

/// The thresholds of the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// A CONSTRUCTION_START this many days ahead (inclusive) with open prerequisites is AT_RISK.
    pub warning_horizon_days: i32,
    /// A variance above this many days is RED.
    pub tolerance_days: i32,
    /// A funding window this many days (inclusive) from closing raises daily CLOSING alerts
    /// while something is missing.
    pub funding_horizon_days: i32,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            warning_horizon_days: 14,
            tolerance_days: 30,
            funding_horizon_days: 7,
        }
    }
}

/// The three dates of a milestone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MilestoneDates {
    pub baseline: NaiveDate,
    pub forecast: NaiveDate,
    pub actual: Option<NaiveDate>,
}

/// The derived view of a milestone as of a status date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assessment {
    pub status_date: NaiveDate,
    pub projected: NaiveDate,
    pub variance_days: i32,
    pub status: MilestoneStatus,
    pub light: Light,
}

fn days(from: NaiveDate, to: NaiveDate) -> i32 {
    (to - from).num_days() as i32
}

/// Applies the rules. `open_prerequisites`: some prerequisite of the project is neither DONE
/// nor WAIVED.
pub fn assess(
    kind: MilestoneKind,
    dates: &MilestoneDates,
    open_prerequisites: bool,
    status_date: NaiveDate,
    policy: &Policy,
) -> Assessment {
    let projected = dates
        .actual
        .unwrap_or_else(|| dates.forecast.max(status_date));
    let variance_days = days(dates.baseline, projected);
    let days_to_baseline = days(status_date, dates.baseline);
    let status = if dates.actual.is_some() {
        MilestoneStatus::Achieved
    } else if status_date > dates.baseline {
        MilestoneStatus::Overdue
    } else if dates.forecast > dates.baseline {
        MilestoneStatus::Slipped
    } else if kind == MilestoneKind::ConstructionStart
        && (0..=policy.warning_horizon_days).contains(&days_to_baseline)
        && open_prerequisites
    {
        MilestoneStatus::AtRisk
    } else {
        MilestoneStatus::OnTrack
    };
    let light = if status == MilestoneStatus::Overdue || variance_days > policy.tolerance_days {
        Light::Red
    } else if status == MilestoneStatus::AtRisk || variance_days >= 1 {
        Light::Yellow
    } else {
        Light::Green
    };
    Assessment {
        status_date,
        projected,
        variance_days,
        status,
        light,
    }
}

/// One change of one date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    pub number: i32,
    pub field: RevisionField,
    pub old_date: Option<NaiveDate>,
    pub new_date: NaiveDate,
    pub reason: String,
    pub actor: String,
    pub created_at_us: i64,
    /// The jurisdiction's date when it was recorded.
    pub recorded_on: NaiveDate,
}

impl Revision {
    pub fn delta_days(&self) -> i32 {
        self.old_date
            .map(|old| days(old, self.new_date))
            .unwrap_or(0)
    }

    /// A forecast change that moved the date later.
    pub fn is_slip(&self) -> bool {
        self.field == RevisionField::Forecast && self.delta_days() > 0
    }
}

/// Slip counters over a sequence of revisions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlipTotals {
    pub slip_count: i32,
    pub days_slipped: i32,
}

impl SlipTotals {
    /// Counts `revision` if it is a slip. The counters saturate: a milestone's forecast can be
    /// moved back and forth without limit, and a few hundred thousand slips of decades would
    /// otherwise leave 32 bits.
    pub fn add(&mut self, revision: &Revision) {
        if revision.is_slip() {
            self.slip_count = self.slip_count.saturating_add(1);
            self.days_slipped = self.days_slipped.saturating_add(revision.delta_days());
        }
    }
}

/// What the milestone's dates were at the end of `day`, rebuilt from its revisions (oldest
/// first). None when it had not been scheduled yet.
pub fn dates_as_of(revisions: &[Revision], day: NaiveDate) -> Option<(MilestoneDates, SlipTotals)> {
    let mut baseline = None;
    let mut forecast = None;
    let mut actual = None;
    let mut totals = SlipTotals::default();
    for revision in revisions.iter().filter(|r| r.recorded_on <= day) {
        match revision.field {
            RevisionField::Baseline => baseline = Some(revision.new_date),
            RevisionField::Forecast => forecast = Some(revision.new_date),
            RevisionField::Actual => actual = Some(revision.new_date),
        }
        totals.add(revision);
    }
    let baseline = baseline?;
    Some((
        MilestoneDates {
            baseline,
            forecast: forecast.unwrap_or(baseline),
            actual,
        },
        totals,
    ))
}

/// A date is plausible for a project created in `created_year`: from ten years before that
/// year to thirty years after today.
pub fn check_plausible(date: NaiveDate, created_year: i32, today: NaiveDate) -> Result<(), String> {
    let earliest = NaiveDate::from_ymd_opt(created_year - 10, 1, 1).expect("valid year");
    let latest = today
        .with_year(today.year() + 30)
        .unwrap_or_else(|| today + chrono::Duration::days(30 * 365));
    if date < earliest {
        Err(format!(
            "{date} is before {earliest}, ten years before the project was created"
        ))
    } else if date > latest {
        Err(format!("{date} is more than 30 years ahead"))
    } else {
        Ok(())
    }
}

/// A milestone as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Milestone {
    pub project_id: String,
    pub id: String,
    pub uid: String,
    pub kind: MilestoneKind,
    pub title: String,
    pub description: String,
    pub dates: MilestoneDates,
    pub totals: SlipTotals,
    pub created_at_us: i64,
    pub updated_at_us: i64,
    pub version: i64,
}

impl Milestone {
    pub fn name(&self) -> String {
        super::names::milestone_name(&self.project_id, &self.id)
    }

    pub fn etag(&self) -> String {
        super::names::etag(self.version)
    }
}

/// A milestone with its derived view, as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssessedMilestone {
    pub milestone: Milestone,
    pub assessment: Assessment,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, month, day).unwrap()
    }

    fn open(baseline: NaiveDate, forecast: NaiveDate) -> MilestoneDates {
        MilestoneDates {
            baseline,
            forecast,
            actual: None,
        }
    }

    fn check(
        kind: MilestoneKind,
        dates: MilestoneDates,
        prereqs_open: bool,
        status_date: NaiveDate,
    ) -> (MilestoneStatus, Light, i32) {
        let a = assess(kind, &dates, prereqs_open, status_date, &Policy::default());
        (a.status, a.light, a.variance_days)
    }

    use Light::*;
    use MilestoneKind::*;
    use MilestoneStatus::*;

    #[test]
    fn slip_totals_saturate_instead_of_wrapping() {
        let slip = Revision {
            number: 2,
            field: RevisionField::Forecast,
            old_date: Some(NaiveDate::from_ymd_opt(2000, 1, 1).unwrap()),
            new_date: NaiveDate::from_ymd_opt(2056, 1, 1).unwrap(),
            reason: String::new(),
            actor: String::new(),
            created_at_us: 0,
            recorded_on: d(1, 1),
        };
        let mut totals = SlipTotals {
            slip_count: i32::MAX - 1,
            days_slipped: i32::MAX - 30_000,
        };
        totals.add(&slip);
        totals.add(&slip);
        assert_eq!(totals.slip_count, i32::MAX);
        assert_eq!(totals.days_slipped, i32::MAX);
    }

    #[test]
    fn baseline_day_itself_is_not_overdue() {
        assert_eq!(
            check(
                TrialProduction,
                open(d(10, 31), d(10, 31)),
                false,
                d(10, 31)
            ),
            (OnTrack, Green, 0)
        );
    }

    #[test]
    fn the_day_after_the_baseline_is_overdue_and_red() {
        assert_eq!(
            check(TrialProduction, open(d(10, 31), d(10, 31)), false, d(11, 1)),
            (Overdue, Red, 1)
        );
        // An overdue milestone whose forecast nobody updated still shows how late it is.
        assert_eq!(
            check(
                TrialProduction,
                open(d(10, 31), d(10, 20)),
                false,
                d(11, 20)
            ),
            (Overdue, Red, 20)
        );
    }

    #[test]
    fn slipped_lights_follow_the_tolerance() {
        assert_eq!(
            check(TrialProduction, open(d(10, 1), d(10, 2)), false, d(9, 1)),
            (Slipped, Yellow, 1)
        );
        assert_eq!(
            check(TrialProduction, open(d(10, 1), d(10, 31)), false, d(9, 1)),
            (Slipped, Yellow, 30)
        );
        assert_eq!(
            check(TrialProduction, open(d(10, 1), d(11, 1)), false, d(9, 1)),
            (Slipped, Red, 31)
        );
    }

    #[test]
    fn warning_horizon_edges() {
        // 14 days ahead, inclusive, with open prerequisites.
        assert_eq!(
            check(
                ConstructionStart,
                open(d(10, 15), d(10, 15)),
                true,
                d(10, 1)
            ),
            (AtRisk, Yellow, 0)
        );
        assert_eq!(
            check(
                ConstructionStart,
                open(d(10, 15), d(10, 15)),
                true,
                d(9, 30)
            ),
            (OnTrack, Green, 0)
        );
        assert_eq!(
            check(
                ConstructionStart,
                open(d(10, 15), d(10, 15)),
                true,
                d(10, 15)
            ),
            (AtRisk, Yellow, 0)
        );
        // Only construction starts, and only with open prerequisites.
        assert_eq!(
            check(TrialProduction, open(d(10, 15), d(10, 15)), true, d(10, 10)),
            (OnTrack, Green, 0)
        );
        // Waived or done prerequisites do not count as open.
        assert_eq!(
            check(
                ConstructionStart,
                open(d(10, 15), d(10, 15)),
                false,
                d(10, 10)
            ),
            (OnTrack, Green, 0)
        );
        // SLIPPED wins over AT_RISK.
        assert_eq!(
            check(
                ConstructionStart,
                open(d(10, 15), d(10, 20)),
                true,
                d(10, 10)
            ),
            (Slipped, Yellow, 5)
        );
    }

    #[test]
    fn achieved_keeps_the_light_of_its_final_variance() {
        let early = MilestoneDates {
            baseline: d(10, 31),
            forecast: d(10, 31),
            actual: Some(d(10, 25)),
        };
        assert_eq!(
            check(TrialProduction, early, false, d(12, 31)),
            (Achieved, Green, -6)
        );
        let late = MilestoneDates {
            baseline: d(10, 31),
            forecast: d(11, 10),
            actual: Some(d(11, 12)),
        };
        assert_eq!(
            check(TrialProduction, late, false, d(12, 31)),
            (Achieved, Yellow, 12)
        );
        let very_late = MilestoneDates {
            baseline: d(9, 1),
            forecast: d(9, 1),
            actual: Some(d(11, 12)),
        };
        assert_eq!(
            check(TrialProduction, very_late, false, d(12, 31)),
            (Achieved, Red, 72)
        );
    }

    fn revision(
        number: i32,
        field: RevisionField,
        old: Option<NaiveDate>,
        new: NaiveDate,
        on: NaiveDate,
    ) -> Revision {
        Revision {
            number,
            field,
            old_date: old,
            new_date: new,
            reason: String::new(),
            actor: "t".into(),
            created_at_us: 0,
            recorded_on: on,
        }
    }

    #[test]
    fn rebaselined_after_a_slip() {
        use RevisionField::*;
        let revisions = vec![
            revision(1, Baseline, None, d(10, 31), d(8, 1)),
            revision(2, Forecast, None, d(10, 31), d(8, 1)),
            revision(3, Forecast, Some(d(10, 31)), d(11, 10), d(9, 5)),
            revision(4, Forecast, Some(d(11, 10)), d(11, 20), d(9, 25)),
            revision(5, Baseline, Some(d(10, 31)), d(11, 30), d(11, 3)),
        ];
        let (before, totals) = dates_as_of(&revisions, d(9, 10)).unwrap();
        assert_eq!(before, open(d(10, 31), d(11, 10)));
        assert_eq!(
            totals,
            SlipTotals {
                slip_count: 1,
                days_slipped: 10
            }
        );
        assert_eq!(
            check(TrialProduction, before, false, d(9, 10)),
            (Slipped, Yellow, 10)
        );
        let (overdue, _) = dates_as_of(&revisions, d(11, 1)).unwrap();
        assert_eq!(
            check(TrialProduction, overdue, false, d(11, 1)),
            (Overdue, Red, 20)
        );
        let (after, totals) = dates_as_of(&revisions, d(11, 3)).unwrap();
        assert_eq!(after, open(d(11, 30), d(11, 20)));
        assert_eq!(
            totals,
            SlipTotals {
                slip_count: 2,
                days_slipped: 20
            }
        );
        // The new baseline is ahead of the forecast: on track again, slips kept in the record.
        assert_eq!(
            check(TrialProduction, after, false, d(11, 3)),
            (OnTrack, Green, -10)
        );
        assert!(dates_as_of(&revisions, d(7, 31)).is_none());
    }

    #[test]
    fn recoveries_are_not_slips() {
        let r = revision(
            3,
            RevisionField::Forecast,
            Some(d(11, 10)),
            d(11, 1),
            d(9, 5),
        );
        assert!(!r.is_slip());
        assert_eq!(r.delta_days(), -9);
        let b = revision(
            3,
            RevisionField::Baseline,
            Some(d(11, 10)),
            d(11, 30),
            d(9, 5),
        );
        assert!(!b.is_slip());
    }

    #[test]
    fn plausible_dates() {
        assert!(check_plausible(d(1, 1), 2026, d(9, 1)).is_ok());
        assert!(
            check_plausible(NaiveDate::from_ymd_opt(2016, 1, 1).unwrap(), 2026, d(9, 1)).is_ok()
        );
        assert!(
            check_plausible(
                NaiveDate::from_ymd_opt(2015, 12, 31).unwrap(),
                2026,
                d(9, 1)
            )
            .is_err()
        );
        assert!(
            check_plausible(NaiveDate::from_ymd_opt(2056, 9, 1).unwrap(), 2026, d(9, 1)).is_ok()
        );
        assert!(
            check_plausible(NaiveDate::from_ymd_opt(2056, 9, 2).unwrap(), 2026, d(9, 1)).is_err()
        );
    }

    #[test]
    fn stages_on_achievement() {
        assert_eq!(
            ConstructionStart.stage_on_achieve(),
            Some(Stage::Construction)
        );
        assert_eq!(Completion.stage_on_achieve(), Some(Stage::Operation));
        assert_eq!(ContractSigning.stage_on_achieve(), None);
    }
}
