//! Stream filters, checked and compiled once per stream, then applied to every event.

use std::collections::HashSet;

use crate::domain::error::Violations;
use crate::domain::milestone::Light;
use crate::domain::names;
use crate::events::log::LogEvent;
use crate::proto::v1;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompiledFilter {
    project_ids: HashSet<String>,
    townships: HashSet<String>,
    departments: HashSet<String>,
    leader: Option<String>,
    kinds: HashSet<i32>,
    min_light: Option<u8>,
    min_slip_days: Option<i32>,
}

fn light_rank(light: Light) -> u8 {
    match light {
        Light::Green => 1,
        Light::Yellow => 2,
        Light::Red => 3,
    }
}

/// The most projects an event filter lists. A subscription keeps its filter and is sent back
/// whole, so the lists are held to what fits in a resource (`proto::budget`): 100 project
/// names and 50 townships and departments of the longest allowed take 49 KiB.
pub const MAX_FILTER_PROJECTS: usize = 100;

/// The most townships, and the most departments, an event filter lists.
pub const MAX_FILTER_UNITS: usize = 50;

/// How many event kinds there are (a filter lists each at most once).
pub(crate) fn event_kinds() -> usize {
    (1..=i32::from(u8::MAX))
        .filter(|n| v1::EventKind::try_from(*n).is_ok())
        .count()
}

/// Checks the lists of `filter` (paths under `prefix`) against their bounds, each entry listed
/// once, and returns the filter with any longer list cut to its bound, so that
/// `compile` checks only entries that could count and names no list twice.
pub fn bounded(
    filter: &v1::EventFilter,
    prefix: &str,
    violations: &mut Violations,
) -> v1::EventFilter {
    fn list<T: PartialEq + Clone>(
        violations: &mut Violations,
        field: String,
        entries: &[T],
        max: usize,
    ) -> Vec<T> {
        if entries.len() > max {
            violations.add(
                &field,
                format!("at most {max} entries, got {}", entries.len()),
            );
            return entries[..max].to_vec();
        }
        for (i, entry) in entries.iter().enumerate() {
            if entries[..i].contains(entry) {
                violations.add(
                    format!("{field}[{i}]"),
                    "repeats an earlier entry; list each once",
                );
            }
        }
        entries.to_vec()
    }
    let field = |name: &str| format!("{prefix}.{name}");
    v1::EventFilter {
        projects: list(
            violations,
            field("projects"),
            &filter.projects,
            MAX_FILTER_PROJECTS,
        ),
        townships: list(
            violations,
            field("townships"),
            &filter.townships,
            MAX_FILTER_UNITS,
        ),
        departments: list(
            violations,
            field("departments"),
            &filter.departments,
            MAX_FILTER_UNITS,
        ),
        kinds: list(violations, field("kinds"), &filter.kinds, event_kinds()),
        ..filter.clone()
    }
}

/// A township, department or leader name: 1 to 100 characters, no control characters.
fn unit(violations: &mut Violations, field: &str, value: &str) -> Option<String> {
    if value.is_empty() || value.chars().count() > 100 || value.chars().any(char::is_control) {
        violations.add(
            field,
            "must be 1 to 100 characters without control characters",
        );
        None
    } else {
        Some(value.to_string())
    }
}

/// Checks every field of `filter` (paths under `prefix`) and compiles it. Its lists are
/// expected within their bounds (`bounded`).
pub fn compile(
    filter: &v1::EventFilter,
    prefix: &str,
    violations: &mut Violations,
) -> CompiledFilter {
    let field = |name: &str| format!("{prefix}.{name}");
    let mut compiled = CompiledFilter::default();
    for (i, project) in filter.projects.iter().enumerate() {
        if let Some(id) = violations.check(
            &field(&format!("projects[{i}]")),
            names::parse_project_name(project),
        ) {
            compiled.project_ids.insert(id.to_string());
        }
    }
    for (set, values, name) in [
        (&mut compiled.townships, &filter.townships, "townships"),
        (
            &mut compiled.departments,
            &filter.departments,
            "departments",
        ),
    ] {
        for (i, value) in values.iter().enumerate() {
            if let Some(value) = unit(violations, &field(&format!("{name}[{i}]")), value) {
                set.insert(value);
            }
        }
    }
    if !filter.leader.is_empty() {
        compiled.leader = unit(violations, &field("leader"), &filter.leader);
    }
    for (i, kind) in filter.kinds.iter().enumerate() {
        match v1::EventKind::try_from(*kind) {
            Ok(v1::EventKind::Unspecified) | Err(_) => violations.add(
                field(&format!("kinds[{i}]")),
                format!("unknown event kind {kind}"),
            ),
            Ok(_) => {
                compiled.kinds.insert(*kind);
            }
        }
    }
    match v1::AlertLight::try_from(filter.min_light) {
        Ok(v1::AlertLight::Unspecified) => {}
        Ok(light) => {
            let name = light.as_str_name().trim_start_matches("ALERT_LIGHT_");
            compiled.min_light = Light::parse(name).map(light_rank);
        }
        Err(_) => violations.add(
            field("min_light"),
            format!("unknown light {}", filter.min_light),
        ),
    }
    if filter.min_slip_days < 0 {
        violations.add(field("min_slip_days"), "must not be negative");
    } else if filter.min_slip_days > 0 {
        compiled.min_slip_days = Some(filter.min_slip_days);
    }
    compiled
}

impl CompiledFilter {
    pub fn matches(&self, event: &LogEvent) -> bool {
        (self.project_ids.is_empty() || self.project_ids.contains(&event.project_id))
            && (self.townships.is_empty() || self.townships.contains(&event.township))
            && (self.departments.is_empty() || self.departments.contains(&event.department))
            && self.leader.as_ref().is_none_or(|l| *l == event.leader)
            && (self.kinds.is_empty() || self.kinds.contains(&event.kind))
            && self.min_light.is_none_or(|min| {
                event
                    .light
                    .as_deref()
                    .and_then(Light::parse)
                    .is_some_and(|light| light_rank(light) >= min)
            })
            && self
                .min_slip_days
                .is_none_or(|min| event.slip_days.is_some_and(|days| days >= min))
    }
}
