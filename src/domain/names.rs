//! Resource names and ids (AIP-122): `projects/{project}` and
//! `projects/{project}/prerequisites/{prerequisite}`.

/// Checks a caller-chosen id: lowercase letters, digits and hyphens, 1 to 63 characters,
/// starting with a letter or digit and not ending with a hyphen.
pub fn validate_id(id: &str) -> Result<(), String> {
    let bytes = id.as_bytes();
    if bytes.is_empty() || bytes.len() > 63 {
        return Err("must be 1 to 63 characters".into());
    }
    if !bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
    {
        return Err("may contain only lowercase letters, digits and hyphens".into());
    }
    if bytes[0] == b'-' || bytes[bytes.len() - 1] == b'-' {
        return Err("may not start or end with a hyphen".into());
    }
    Ok(())
}

/// A server-chosen id: a time-ordered UUID, which satisfies `validate_id`.
pub fn generate_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub fn project_name(project_id: &str) -> String {
    format!("projects/{project_id}")
}

pub fn prerequisite_name(project_id: &str, prerequisite_id: &str) -> String {
    format!("projects/{project_id}/prerequisites/{prerequisite_id}")
}

pub fn milestone_name(project_id: &str, milestone_id: &str) -> String {
    format!("projects/{project_id}/milestones/{milestone_id}")
}

pub fn funding_application_name(project_id: &str, application_id: &str) -> String {
    format!("projects/{project_id}/fundingApplications/{application_id}")
}

/// Parses `projects/{project}/fundingApplications/{funding_application}` into both ids.
pub fn parse_funding_application_name(name: &str) -> Result<(&str, &str), String> {
    parse_child_name(name, "fundingApplications").ok_or_else(|| {
        format!("must be a funding application resource name, projects/{{project}}/fundingApplications/{{funding_application}}; got {name:?}")
    })
}

/// Parses `projects/{project}/milestones/{milestone}` into both ids.
pub fn parse_milestone_name(name: &str) -> Result<(&str, &str), String> {
    parse_child_name(name, "milestones").ok_or_else(|| {
        format!("must be a milestone resource name, projects/{{project}}/milestones/{{milestone}}; got {name:?}")
    })
}

/// Parses a milestone parent: `projects/{project}` or `projects/-` (every project, None).
pub fn parse_milestone_parent(name: &str) -> Result<Option<&str>, String> {
    if name == "projects/-" {
        return Ok(None);
    }
    parse_project_name(name).map(Some)
}

fn parse_child_name<'a>(name: &'a str, collection: &str) -> Option<(&'a str, &'a str)> {
    let parts: Vec<&str> = name.split('/').collect();
    match parts.as_slice() {
        ["projects", project, c, child]
            if *c == collection && validate_id(project).is_ok() && validate_id(child).is_ok() =>
        {
            Some((project, child))
        }
        _ => None,
    }
}

/// Parses `projects/{project}` into the project id.
pub fn parse_project_name(name: &str) -> Result<&str, String> {
    match name.strip_prefix("projects/") {
        Some(id) if validate_id(id).is_ok() => Ok(id),
        _ => Err(format!(
            "must be a project resource name, projects/{{project}}; got {name:?}"
        )),
    }
}

/// Parses `projects/{project}/prerequisites/{prerequisite}` into both ids.
pub fn parse_prerequisite_name(name: &str) -> Result<(&str, &str), String> {
    parse_child_name(name, "prerequisites").ok_or_else(|| {
        format!(
            "must be a prerequisite resource name, projects/{{project}}/prerequisites/{{prerequisite}}; got {name:?}"
        )
    })
}

/// The etag of a row at `version`. Opaque to clients; compared as a string.
pub fn etag(version: i64) -> String {
    format!("\"v{version}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(validate_id("a").is_ok());
        assert!(validate_id("shui-ku-2026").is_ok());
        assert!(validate_id("0190a5b2-7c3e-7d41-9b2a-1c2d3e4f5a6b").is_ok());
        assert!(validate_id(&generate_id()).is_ok());
        assert!(validate_id("").is_err());
        assert!(validate_id("-a").is_err());
        assert!(validate_id("a-").is_err());
        assert!(validate_id("A").is_err());
        assert!(validate_id("水库").is_err());
        assert!(validate_id(&"a".repeat(64)).is_err());
        assert!(validate_id(&"a".repeat(63)).is_ok());
    }

    #[test]
    fn names() {
        assert_eq!(parse_project_name("projects/abc"), Ok("abc"));
        assert!(parse_project_name("projects/").is_err());
        assert!(parse_project_name("project/abc").is_err());
        assert!(parse_project_name("projects/abc/x").is_err());
        assert_eq!(
            parse_prerequisite_name("projects/a/prerequisites/b"),
            Ok(("a", "b"))
        );
        assert!(parse_prerequisite_name("projects/a/milestones/b").is_err());
    }
}
