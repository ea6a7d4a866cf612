//! Funding windows: one declaration round of one channel, with who may be declared into it.

use chrono::NaiveDate;

use super::prerequisite::PrerequisiteKind;
use super::project::{Category, InvestmentType, Stage, named_enum};

named_enum!(
    /// A funding channel.
    FundingChannel {
        SpecialBond => "SPECIAL_BOND",
        PolicyFinance => "POLICY_FINANCE",
        CentralBudget => "CENTRAL_BUDGET",
        LongTermLoan => "LONG_TERM_LOAN",
        Other => "OTHER",
    }
);

named_enum!(
    /// Where a window is relative to a date.
    WindowState {
        Upcoming => "UPCOMING",
        Open => "OPEN",
        Closed => "CLOSED",
    }
);

/// Which projects qualify for a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eligibility {
    /// Never empty: RESERVE and PREPARATION unless the caller named others.
    pub stages: Vec<Stage>,
    /// Empty means any category.
    pub categories: Vec<Category>,
    pub investment_type: Option<InvestmentType>,
    pub min_total_investment_yuan: i64,
    pub required_prerequisites: Vec<PrerequisiteKind>,
}

impl Default for Eligibility {
    fn default() -> Self {
        Self {
            stages: vec![Stage::Reserve, Stage::Preparation],
            categories: Vec::new(),
            investment_type: None,
            min_total_investment_yuan: 0,
            required_prerequisites: Vec::new(),
        }
    }
}

/// What a client sets on a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowFields {
    pub channel: FundingChannel,
    pub title: String,
    pub description: String,
    pub open_date: NaiveDate,
    pub close_date: NaiveDate,
    pub target_count: i32,
    pub target_amount_yuan: i64,
    pub eligibility: Eligibility,
}

impl WindowFields {
    /// Rules across fields: a window closes on or after the day it opens.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.close_date < self.open_date {
            return Err((
                "close_date",
                format!(
                    "{} is before the open date {}",
                    self.close_date, self.open_date
                ),
            ));
        }
        Ok(())
    }

    /// Upcoming before the open date, open through the close date (inclusive), then closed.
    pub fn state_on(&self, day: NaiveDate) -> WindowState {
        if day < self.open_date {
            WindowState::Upcoming
        } else if day <= self.close_date {
            WindowState::Open
        } else {
            WindowState::Closed
        }
    }
}

/// A window as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundingWindow {
    pub id: String,
    pub uid: String,
    pub fields: WindowFields,
    pub created_at_us: i64,
    pub updated_at_us: i64,
    pub version: i64,
}

impl FundingWindow {
    pub fn name(&self) -> String {
        format!("fundingWindows/{}", self.id)
    }

    pub fn etag(&self) -> String {
        super::names::etag(self.version)
    }
}

/// A validated partial update.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowPatch {
    pub channel: Option<FundingChannel>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub open_date: Option<NaiveDate>,
    pub close_date: Option<NaiveDate>,
    pub target_count: Option<i32>,
    pub target_amount_yuan: Option<i64>,
    pub eligibility: Option<Eligibility>,
}

impl WindowPatch {
    /// Applies the patch and returns the names of the fields whose values changed.
    pub fn apply(self, f: &mut WindowFields) -> Vec<&'static str> {
        let mut changed = Vec::new();
        macro_rules! set {
            ($field:ident) => {
                if let Some(value) = self.$field
                    && f.$field != value
                {
                    f.$field = value;
                    changed.push(stringify!($field));
                }
            };
        }
        set!(channel);
        set!(title);
        set!(description);
        set!(open_date);
        set!(close_date);
        set!(target_count);
        set!(target_amount_yuan);
        set!(eligibility);
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, day).unwrap()
    }

    fn window(open: NaiveDate, close: NaiveDate) -> WindowFields {
        WindowFields {
            channel: FundingChannel::PolicyFinance,
            title: "第五批".into(),
            description: String::new(),
            open_date: open,
            close_date: close,
            target_count: 16,
            target_amount_yuan: 0,
            eligibility: Eligibility::default(),
        }
    }

    #[test]
    fn states_and_dates() {
        let w = window(d(10, 1), d(10, 20));
        assert_eq!(w.state_on(d(9, 30)), WindowState::Upcoming);
        assert_eq!(w.state_on(d(10, 1)), WindowState::Open);
        assert_eq!(w.state_on(d(10, 20)), WindowState::Open);
        assert_eq!(w.state_on(d(10, 21)), WindowState::Closed);
        assert!(w.check().is_ok());
        assert!(window(d(10, 20), d(10, 1)).check().is_err());
        assert!(window(d(10, 1), d(10, 1)).check().is_ok());
    }

    #[test]
    fn patches_report_changes() {
        let mut w = window(d(10, 1), d(10, 20));
        let changed = WindowPatch {
            title: Some("第五批".into()),
            target_count: Some(20),
            ..Default::default()
        }
        .apply(&mut w);
        assert_eq!(changed, vec!["target_count"]);
    }
}
