//! Parsing helpers shared by the services: update masks, enums, dates, etags.

use prost_types::FieldMask;

use crate::domain::error::Violations;
use crate::domain::values;
use crate::proto::v1;

/// Resolves an update mask into the list of paths to apply (AIP-134). A path named twice counts
/// once.
pub fn mask_paths(
    mask: Option<&FieldMask>,
    mutable: &'static [&'static str],
    output_only: &[&str],
    populated: impl Fn(&str) -> bool,
    violations: &mut Violations,
) -> Vec<&'static str> {
    let Some(mask) = mask else {
        return mutable.iter().copied().filter(|p| populated(p)).collect();
    };
    // A mask longer than the message has fields repeats or invents paths; it is refused as a
    // whole rather than answered with a violation per path.
    let fields = mutable.len() + output_only.len();
    if mask.paths.len() > fields {
        violations.add(
            "update_mask",
            format!(
                "names at most {fields} paths, one per field; got {}",
                mask.paths.len()
            ),
        );
        return Vec::new();
    }
    if mask.paths.iter().any(|p| p == "*") {
        if mask.paths.len() > 1 {
            violations.add("update_mask", "`*` cannot be combined with other paths");
        }
        return mutable.to_vec();
    }
    let mut paths = Vec::new();
    for path in &mask.paths {
        if let Some(known) = mutable.iter().find(|m| **m == path.as_str()) {
            if !paths.contains(known) {
                paths.push(*known);
            }
        } else if output_only.contains(&path.as_str()) {
            violations.add("update_mask", format!("{path:?} is output only"));
        } else {
            violations.add("update_mask", format!("unknown field path {path:?}"));
        }
    }
    if mask.paths.is_empty() {
        violations.add(
            "update_mask",
            "names no field; omit it to update the populated fields",
        );
    }
    paths
}

/// Parses an enum field: unknown numbers are always an error, 0 only when required.
pub fn enum_value<T: Copy>(
    violations: &mut Violations,
    field: &str,
    raw: i32,
    required: bool,
    convert: impl Fn(i32) -> Option<T>,
) -> Option<T> {
    if raw == 0 {
        if required {
            violations.add(field, "is required");
        }
        return None;
    }
    let value = convert(raw);
    if value.is_none() {
        violations.add(field, format!("unknown value {raw}"));
    }
    value
}

/// A repeated enum field read as a set: every entry a known value and none twice, so it has at
/// most as many entries as the enum has values (`values`). A longer list is one violation on
/// the field itself, without a look at its entries; a repeated entry is refused, not
/// collapsed, so that what is stored is what was sent.
pub fn enum_set<T: Copy>(
    violations: &mut Violations,
    field: &str,
    raw: &[i32],
    values: usize,
    convert: impl Fn(i32) -> Option<T>,
) -> Vec<T> {
    if raw.len() > values {
        violations.add(
            field,
            format!(
                "lists each value at most once, so at most {values} entries; got {}",
                raw.len()
            ),
        );
        return Vec::new();
    }
    let mut set = Vec::with_capacity(raw.len());
    for (i, value) in raw.iter().enumerate() {
        let entry = format!("{field}[{i}]");
        if raw[..i].contains(value) {
            violations.add(
                entry,
                format!("repeats value {value}; list each value once"),
            );
        } else if let Some(parsed) = enum_value(violations, &entry, *value, true, &convert) {
            set.push(parsed);
        }
    }
    set
}

/// A filter value naming an enum value, with or without its prefix.
pub fn enum_filter<T>(
    value: &str,
    prefix: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, String> {
    parse(value.strip_prefix(prefix).unwrap_or(value))
        .ok_or_else(|| format!("unknown value {value:?}"))
}

pub fn date_value(
    violations: &mut Violations,
    field: &str,
    date: &v1::Date,
) -> Option<chrono::NaiveDate> {
    violations.check(field, values::civil_date(date.year, date.month, date.day))
}

pub fn optional_etag(etag: &str) -> Option<&str> {
    (!etag.is_empty()).then_some(etag)
}
