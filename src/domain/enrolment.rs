//! Statistics enrolment (入库纳统, DESIGN §2): a project that has started construction must be
//! registered in the statistics system, and published local rules light the lag: YELLOW one
//! month after the construction start without enrolment, RED after two. The months are the
//! light rule set's (`enrolment_yellow_after_months`, `enrolment_red_after_months`).
//!
//! The start is the actual date of the project's construction start milestone (the earliest,
//! if it has several achieved); the enrolment is the project's `statistics_enrolment_date`.

use chrono::{Datelike, Months, NaiveDate};

use super::milestone::Light;
use super::pace::LightRules;

/// Whole months from `from` to `to`: the largest n with `from` + n months on or before `to`,
/// adding months the calendar way (a day past the end of the shorter month is its last day:
/// 31 January + 1 month = 28 or 29 February). 0 when `to` is before `from + 1 month`.
pub fn whole_months(from: NaiveDate, to: NaiveDate) -> i32 {
    if to <= from {
        return 0;
    }
    // The month boundaries crossed, less one when the day of the month is not yet reached.
    let month_index = |d: NaiveDate| d.year() * 12 + d.month0() as i32;
    let mut n = month_index(to) - month_index(from);
    while n > 0 && add_months(from, n) > to {
        n -= 1;
    }
    n
}

fn add_months(date: NaiveDate, months: i32) -> NaiveDate {
    date.checked_add_months(Months::new(months as u32))
        .unwrap_or(NaiveDate::MAX)
}

/// The enrolment light of one started project as of a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolment {
    /// The construction start (the achieved milestone's actual date).
    pub construction_start: NaiveDate,
    /// The enrolment date when it is on or before the day judged.
    pub enrolled_on: Option<NaiveDate>,
    /// Whole months from the start to the enrolment, or to the day judged when not enrolled.
    pub months: i32,
    pub light: Light,
    /// Why, in the county's terms, naming the rule and the rule set, e.g.
    /// "开工 2026-07-10, not 入库纳统 after 2 months: RED by rule enrolment-lag default@1".
    pub reason: String,
}

/// Judges the enrolment of a project that started construction on `start`, as of `as_of`
/// (which should be on or after `start`): enrolled on or before `as_of` is GREEN whatever the
/// lag was; otherwise RED from `rules.enrolment_red_after_months` whole months after the
/// start, YELLOW from `rules.enrolment_yellow_after_months`, GREEN before. `label` names the
/// rule set revision in the reason ("default@1").
pub fn assess(
    start: NaiveDate,
    enrolled: Option<NaiveDate>,
    as_of: NaiveDate,
    rules: &LightRules,
    label: &str,
) -> Enrolment {
    let enrolled_on = enrolled.filter(|day| *day <= as_of);
    if let Some(day) = enrolled_on {
        let months = whole_months(start, day);
        let unit = if months == 1 { "month" } else { "months" };
        return Enrolment {
            construction_start: start,
            enrolled_on,
            months,
            light: Light::Green,
            reason: format!(
                "开工 {start}, 入库纳统 {day} ({months} {unit} after the start): GREEN by rule enrolment-lag {label}"
            ),
        };
    }
    let months = whole_months(start, as_of);
    let light = if months >= rules.enrolment_red_after_months {
        Light::Red
    } else if months >= rules.enrolment_yellow_after_months {
        Light::Yellow
    } else {
        Light::Green
    };
    let unit = if months == 1 { "month" } else { "months" };
    let limit = match light {
        Light::Green => format!(
            " (YELLOW from {} months)",
            rules.enrolment_yellow_after_months
        ),
        _ => String::new(),
    };
    Enrolment {
        construction_start: start,
        enrolled_on: None,
        months,
        light,
        reason: format!(
            "开工 {start}, not 入库纳统 after {months} {unit}{limit}: {} by rule enrolment-lag {label}",
            light.as_str()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn whole_months_count_the_calendar_way_with_month_ends_clamped() {
        assert_eq!(whole_months(day(2026, 3, 10), day(2026, 3, 10)), 0);
        assert_eq!(whole_months(day(2026, 3, 10), day(2026, 4, 9)), 0);
        assert_eq!(whole_months(day(2026, 3, 10), day(2026, 4, 10)), 1);
        assert_eq!(whole_months(day(2026, 3, 10), day(2026, 5, 10)), 2);
        // 31 January + 1 month is the last day of February.
        assert_eq!(whole_months(day(2026, 1, 31), day(2026, 2, 27)), 0);
        assert_eq!(whole_months(day(2026, 1, 31), day(2026, 2, 28)), 1);
        assert_eq!(whole_months(day(2028, 1, 31), day(2028, 2, 28)), 0);
        assert_eq!(whole_months(day(2028, 1, 31), day(2028, 2, 29)), 1);
        // Across a year end.
        assert_eq!(whole_months(day(2026, 11, 30), day(2027, 1, 29)), 1);
        assert_eq!(whole_months(day(2026, 11, 30), day(2027, 1, 30)), 2);
        // Before the start.
        assert_eq!(whole_months(day(2026, 5, 1), day(2026, 4, 1)), 0);
    }

    #[test]
    fn unenrolled_start_turns_yellow_after_one_month_and_red_after_two_by_default() {
        let rules = LightRules::default();
        let start = day(2026, 7, 10);
        let at = |as_of| assess(start, None, as_of, &rules, "default@1");
        let e = at(day(2026, 8, 9));
        assert_eq!((e.light, e.months), (Light::Green, 0));
        assert_eq!(
            e.reason,
            "开工 2026-07-10, not 入库纳统 after 0 months (YELLOW from 1 months): GREEN by rule enrolment-lag default@1"
        );
        let e = at(day(2026, 8, 10));
        assert_eq!((e.light, e.months), (Light::Yellow, 1));
        assert_eq!(
            e.reason,
            "开工 2026-07-10, not 入库纳统 after 1 month: YELLOW by rule enrolment-lag default@1"
        );
        let e = at(day(2026, 9, 10));
        assert_eq!((e.light, e.months), (Light::Red, 2));
        assert_eq!(
            e.reason,
            "开工 2026-07-10, not 入库纳统 after 2 months: RED by rule enrolment-lag default@1"
        );
    }

    #[test]
    fn enrolment_on_or_before_the_day_judged_is_green_and_a_later_one_is_not_seen() {
        let rules = LightRules::default();
        let start = day(2026, 7, 10);
        let e = assess(
            start,
            Some(day(2026, 9, 20)),
            day(2026, 9, 30),
            &rules,
            "default@1",
        );
        assert_eq!((e.light, e.months), (Light::Green, 2));
        assert_eq!(e.enrolled_on, Some(day(2026, 9, 20)));
        assert_eq!(
            e.reason,
            "开工 2026-07-10, 入库纳统 2026-09-20 (2 months after the start): GREEN by rule enrolment-lag default@1"
        );
        // As of a day before the enrolment, the lag is what it was then.
        let e = assess(
            start,
            Some(day(2026, 9, 20)),
            day(2026, 9, 15),
            &rules,
            "default@1",
        );
        assert_eq!((e.light, e.enrolled_on), (Light::Red, None));
    }

    #[test]
    fn the_rule_set_decides_the_months() {
        let rules = LightRules {
            enrolment_yellow_after_months: 2,
            enrolment_red_after_months: 3,
            ..LightRules::default()
        };
        let start = day(2026, 1, 31);
        let light = |as_of| assess(start, None, as_of, &rules, "city@2").light;
        assert_eq!(light(day(2026, 3, 30)), Light::Green);
        assert_eq!(light(day(2026, 3, 31)), Light::Yellow);
        assert_eq!(light(day(2026, 4, 30)), Light::Red);
    }
}
