//! Time as a dependency: the service asks a `Clock` for today's civil date in the
//! jurisdiction, and for the current instant. Tests and demos fix today with `--today`.

use chrono::{NaiveDate, Utc};
use chrono_tz::Tz;

#[derive(Debug, Clone)]
pub struct Clock {
    time_zone: Tz,
    fixed_today: Option<NaiveDate>,
}

impl Clock {
    pub fn new(time_zone: Tz, fixed_today: Option<NaiveDate>) -> Self {
        Self {
            time_zone,
            fixed_today,
        }
    }

    /// Today's date in the jurisdiction's time zone (or the fixed date).
    pub fn today(&self) -> NaiveDate {
        self.fixed_today
            .unwrap_or_else(|| Utc::now().with_timezone(&self.time_zone).date_naive())
    }

    /// The current instant in microseconds since the Unix epoch (UTC); always the real clock,
    /// because instants record when something was written.
    pub fn now_micros(&self) -> i64 {
        Self::system_now_micros()
    }

    /// The real current instant, for code that has no clock at hand (command-line tools).
    pub fn system_now_micros() -> i64 {
        Utc::now().timestamp_micros()
    }

    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }
}
