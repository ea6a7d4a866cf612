//! Checks for plain values shared by every resource: text lengths, money, dates, request ids.

use chrono::{Datelike, NaiveDate};

/// Earliest and latest years a date may carry; anything else is a typo.
pub const MIN_YEAR: i32 = 1900;
pub const MAX_YEAR: i32 = 2200;

/// Text limits, in characters. Each free-text field of the API names one of these, and the
/// `worst_case_*` size tests fill every field to its limit with 4-byte characters, so raising
/// one is checked against the message budget (`proto::budget`).
///
/// Names and titles people give things: display names, titles, the owner unit.
pub const TITLE_CHARS: usize = 200;
/// Townships, departments and leaders.
pub const UNIT_CHARS: usize = 100;
/// Descriptions of projects, windows and applications.
pub const DESCRIPTION_CHARS: usize = 4000;
/// Notes of prerequisites, milestone descriptions, the reasons of application state changes.
pub const NOTE_CHARS: usize = 2000;
/// Reasons of stage changes and milestone date changes.
pub const REASON_CHARS: usize = 1000;
/// The note of one disbursement (a document number, a tranche): an application lists all of
/// its disbursements, so each is kept short.
pub const DISBURSEMENT_NOTE_CHARS: usize = 200;
/// Token names, recorded as the actor of every change.
pub const ACTOR_CHARS: usize = 128;
/// National project codes (ASCII).
pub const PROJECT_CODE_CHARS: usize = 64;

/// Trims surrounding white space and checks the length in characters (not bytes).
pub fn text(value: &str, required: bool, max_chars: usize) -> Result<String, String> {
    let trimmed = value.trim();
    if required && trimmed.is_empty() {
        return Err("is required".into());
    }
    let chars = trimmed.chars().count();
    if chars > max_chars {
        return Err(format!(
            "must be at most {max_chars} characters, got {chars}"
        ));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err("must not contain control characters".into());
    }
    Ok(trimmed.to_string())
}

/// The largest amount of money any field accepts, in yuan: ten trillion (1e13), far above any
/// county's budget or project. Every amount enters through `yuan` or `funding_amount`, so a
/// sum of amounts needs more than 922,337 of them to leave 64 bits; the reports sum in 128
/// bits all the same (see `store::reports`).
pub const MAX_YUAN: i64 = 10_000_000_000_000;

/// An amount of money in yuan: from 0 to MAX_YUAN.
pub fn yuan(value: i64) -> Result<i64, String> {
    if value < 0 {
        return Err(format!("must not be negative, got {value}"));
    }
    if value > MAX_YUAN {
        return Err(format!("must be at most {MAX_YUAN} yuan, got {value}"));
    }
    Ok(value)
}

/// A funding amount in yuan: positive (or zero when `allow_zero`) and at most MAX_YUAN.
pub fn funding_amount(value: i64, allow_zero: bool) -> Result<i64, String> {
    if value < 0 || (value == 0 && !allow_zero) {
        return Err(format!("must be positive, got {value}"));
    }
    yuan(value)
}

/// A sum of amounts for an int64 field of a response: exact up to i64::MAX, which stands for
/// anything larger (only reachable with more than 922,337 amounts at MAX_YUAN). Sums are kept
/// in 128 bits until here, so they never wrap.
pub fn reported_yuan(sum: i128) -> i64 {
    i64::try_from(sum).unwrap_or(if sum < 0 { i64::MIN } else { i64::MAX })
}

/// A count of rows for an int32 field of a response, saturating at i32::MAX.
pub fn reported_count(count: i64) -> i32 {
    i32::try_from(count).unwrap_or(if count < 0 { 0 } else { i32::MAX })
}

/// A national project code (项目代码): ASCII letters, digits and hyphens, at most 64.
pub fn project_code(value: &str) -> Result<Option<String>, String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    if trimmed.len() > PROJECT_CODE_CHARS
        || !trimmed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(format!(
            "must be at most {PROJECT_CODE_CHARS} ASCII letters, digits and hyphens"
        ));
    }
    Ok(Some(trimmed.to_string()))
}

/// A civil date from its parts; rejects dates that do not exist and absurd years.
pub fn civil_date(year: i32, month: i32, day: i32) -> Result<NaiveDate, String> {
    if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
        return Err(format!(
            "year must be between {MIN_YEAR} and {MAX_YEAR}, got {year}"
        ));
    }
    let date = u32::try_from(month)
        .ok()
        .zip(u32::try_from(day).ok())
        .and_then(|(m, d)| NaiveDate::from_ymd_opt(year, m, d));
    date.ok_or_else(|| format!("{year:04}-{month:02}-{day:02} is not a calendar date"))
}

/// Days since 1970-01-01, the storage form of a civil date.
pub fn day_number(date: NaiveDate) -> i32 {
    (date - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

pub fn from_day_number(days: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") + chrono::Duration::days(days as i64)
}

/// (year, month, day) of a date, for the API.
pub fn date_parts(date: NaiveDate) -> (i32, i32, i32) {
    (date.year(), date.month() as i32, date.day() as i32)
}

/// An idempotency key: 1 to 128 printable ASCII characters, or empty for none.
pub fn request_id(value: &str) -> Result<Option<String>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    if value.len() > 128 || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be 1 to 128 printable ASCII characters".into());
    }
    Ok(Some(value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert!(civil_date(2026, 2, 29).is_err());
        assert!(civil_date(2028, 2, 29).is_ok());
        assert!(civil_date(2026, 13, 1).is_err());
        assert!(civil_date(2026, 0, 1).is_err());
        assert!(civil_date(2026, 4, 31).is_err());
        assert!(civil_date(1899, 1, 1).is_err());
        assert!(civil_date(2026, -1, 1).is_err());
        let date = civil_date(2026, 10, 31).unwrap();
        assert_eq!(from_day_number(day_number(date)), date);
        assert_eq!(day_number(civil_date(1970, 1, 2).unwrap()), 1);
    }

    #[test]
    fn texts() {
        assert_eq!(text("  县水网  ", true, 5).unwrap(), "县水网");
        assert!(text("   ", true, 5).is_err());
        assert!(text("一二三四五六", true, 5).is_err());
        assert!(text("a\u{0}b", false, 5).is_err());
        assert!(yuan(-1).is_err());
        assert_eq!(yuan(MAX_YUAN), Ok(MAX_YUAN));
        assert!(yuan(MAX_YUAN + 1).is_err());
        assert!(yuan(i64::MAX).is_err());
        assert!(funding_amount(0, false).is_err());
        assert_eq!(funding_amount(0, true), Ok(0));
        assert!(funding_amount(MAX_YUAN + 1, false).is_err());
        assert_eq!(reported_yuan(2 * i128::from(MAX_YUAN)), 2 * MAX_YUAN);
        assert_eq!(reported_yuan(i128::from(i64::MAX) + 1), i64::MAX);
        assert_eq!(reported_count(i64::from(i32::MAX) + 1), i32::MAX);
        assert_eq!(
            project_code(" 2209-510922-04-01-123456 ").unwrap().unwrap(),
            "2209-510922-04-01-123456"
        );
        assert!(project_code("代码").is_err());
        assert!(request_id("a b").is_err());
        assert_eq!(request_id("").unwrap(), None);
    }
}

/// A free text of at most `MAX` characters, trimmed, without control characters other than
/// newline and tab (see `text`). `Reason`, `Title`, `Note` and the others name its bounds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Text<const MAX: usize>(String);

impl<const MAX: usize> Text<MAX> {
    /// An optional text: empty is allowed.
    pub fn parse(value: &str) -> Result<Self, String> {
        text(value, false, MAX).map(Self)
    }

    /// A text that must not be empty after trimming.
    pub fn required(value: &str) -> Result<Self, String> {
        text(value, true, MAX).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl<const MAX: usize> std::ops::Deref for Text<MAX> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize> From<Text<MAX>> for String {
    fn from(text: Text<MAX>) -> String {
        text.0
    }
}

/// Why a date or a state changed: at most REASON_CHARS characters.
pub type Reason = Text<REASON_CHARS>;
/// A display name or title: at most TITLE_CHARS characters.
pub type Title = Text<TITLE_CHARS>;
/// A longer description: at most DESCRIPTION_CHARS characters.
pub type Description = Text<DESCRIPTION_CHARS>;
/// A note: at most NOTE_CHARS characters.
pub type Note = Text<NOTE_CHARS>;
/// A department, township, leader or owner unit: at most UNIT_CHARS characters.
pub type Unit = Text<UNIT_CHARS>;
/// The note of one disbursement: at most DISBURSEMENT_NOTE_CHARS characters.
pub type DisbursementNote = Text<DISBURSEMENT_NOTE_CHARS>;

/// An amount of money in whole yuan, from 0 to MAX_YUAN.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Yuan(i64);

impl Yuan {
    pub fn parse(value: i64) -> Result<Self, String> {
        yuan(value).map(Yuan)
    }

    /// A funding amount: positive (or zero when `allow_zero`).
    pub fn funding(value: i64, allow_zero: bool) -> Result<Self, String> {
        funding_amount(value, allow_zero).map(Yuan)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// A caller-chosen resource id (AIP-122): see `names::validate_id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(String);

impl Id {
    pub fn parse(value: &str) -> Result<Self, String> {
        super::names::validate_id(value).map(|()| Id(value.to_string()))
    }

    /// An optional id: empty means the server chooses one.
    pub fn optional(value: &str) -> Result<Option<Self>, String> {
        if value.is_empty() {
            Ok(None)
        } else {
            Self::parse(value).map(Some)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::ops::Deref for Id {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}
