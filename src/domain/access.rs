//! Who may do what: roles, the principal a token stands for, and the one table that says what
//! each RPC needs. Project-level scope (which departments and townships an editor may change)
//! is `Principal::may_change`, checked by the service layer (`service::scope`) when it loads
//! the project row it is about to change.

use super::error::Invalid;
use super::project::named_enum;
use super::values::ACTOR_CHARS;

named_enum!(
    /// What a token may do.
    Role {
        Admin => "ADMIN",
        Editor => "EDITOR",
        Viewer => "VIEWER",
        Subscriber => "SUBSCRIBER",
    }
);

/// What an RPC needs from its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Reading resources (Get*, List*, coverage).
    Read,
    /// WatchEvents.
    Watch,
    /// Durable subscriptions: one's own, or every one for an admin.
    Subscriptions,
    /// Changing a project or anything under it, within the caller's scope.
    ProjectWrite,
    /// Everything else: funding windows, and any method not classified here.
    Admin,
}

impl Role {
    pub fn allows(self, need: Need) -> bool {
        match self {
            Role::Admin => true,
            Role::Editor => need != Need::Admin,
            Role::Viewer => matches!(need, Need::Read | Need::Watch | Need::Subscriptions),
            Role::Subscriber => matches!(need, Need::Watch | Need::Subscriptions),
        }
    }
}

/// RPC paths that need no token: health checks and reflection.
pub fn is_open(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/")
        || path.starts_with("/grpc.reflection.v1.ServerReflection/")
        || path.starts_with("/grpc.reflection.v1alpha.ServerReflection/")
}

/// What the RPC at `path` (`/package.Service/Method`) needs.
pub fn need_of(path: &str) -> Need {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let service = parts.next().unwrap_or_default();
    let method = parts.next().unwrap_or_default();
    match (service, method) {
        ("pipeline.v1.EventService", "WatchEvents") => Need::Watch,
        ("pipeline.v1.EventService", _) => Need::Subscriptions,
        ("pipeline.v1.FundingService", "CreateFundingWindow" | "UpdateFundingWindow") => {
            Need::Admin
        }
        ("pipeline.v1.ReportService", m) if m.starts_with("Get") || m.starts_with("List") => {
            Need::Read
        }
        ("pipeline.v1.InvestmentService", m) if m.starts_with("Get") || m.starts_with("List") => {
            Need::Read
        }
        (
            "pipeline.v1.InvestmentService",
            "SetInvestmentPlan" | "CreateInvestmentReport" | "CorrectInvestmentReport",
        ) => Need::ProjectWrite,
        (
            "pipeline.v1.ProjectService"
            | "pipeline.v1.MilestoneService"
            | "pipeline.v1.FundingService"
            | "pipeline.v1.ProblemService",
            m,
        ) if m.starts_with("Get") || m.starts_with("List") => Need::Read,
        (
            "pipeline.v1.ProjectService"
            | "pipeline.v1.MilestoneService"
            | "pipeline.v1.FundingService"
            | "pipeline.v1.ProblemService",
            _,
        ) => Need::ProjectWrite,
        _ => Need::Admin,
    }
}

/// The caller behind a request: a token's name, role and scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
    /// An editor may change projects led by these departments …
    pub departments: Vec<String>,
    /// … or located in these townships.
    pub townships: Vec<String>,
}

impl Principal {
    /// The service itself (the scanner, start-up tasks): an admin.
    pub fn system(name: &str) -> Self {
        Self {
            name: name.to_string(),
            role: Role::Admin,
            departments: Vec::new(),
            townships: Vec::new(),
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// May this caller change a project of `department` in `township`? Admins always; editors
    /// when either matches their scope; nobody else.
    pub fn may_change(&self, department: &str, township: &str) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Editor => {
                self.departments.iter().any(|d| d == department)
                    || self.townships.iter().any(|t| t == township)
            }
            Role::Viewer | Role::Subscriber => false,
        }
    }

    /// May this caller see and manage a subscription owned by `owner`?
    pub fn owns_subscription(&self, owner: &str) -> bool {
        self.is_admin() || self.name == owner
    }
}

/// A token's name is recorded as the actor of every change the token makes, in resources and
/// events alike, so it is held to ACTOR_CHARS like any other text of theirs.
pub fn check_token_name(name: &str) -> Result<(), Invalid> {
    if name.chars().count() > ACTOR_CHARS {
        return Err(Invalid::field(
            "name",
            format!("must be at most {ACTOR_CHARS} characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_and_roles() {
        assert_eq!(
            need_of("/pipeline.v1.ProjectService/GetProject"),
            Need::Read
        );
        assert_eq!(
            need_of("/pipeline.v1.ProjectService/ChangeProjectStage"),
            Need::ProjectWrite
        );
        assert_eq!(
            need_of("/pipeline.v1.FundingService/GetFundingCoverage"),
            Need::Read
        );
        assert_eq!(
            need_of("/pipeline.v1.FundingService/UpdateFundingWindow"),
            Need::Admin
        );
        assert_eq!(
            need_of("/pipeline.v1.FundingService/RecordFundingDisbursement"),
            Need::ProjectWrite
        );
        assert_eq!(
            need_of("/pipeline.v1.EventService/ListSubscriptions"),
            Need::Subscriptions
        );
        assert_eq!(need_of("/pipeline.v1.Unknown/Anything"), Need::Admin);
        assert_eq!(
            need_of("/pipeline.v1.ReportService/ListRankings"),
            Need::Read
        );
        assert_eq!(
            need_of("/pipeline.v1.ReportService/PublishBulletin"),
            Need::Admin
        );
        assert_eq!(
            need_of("/pipeline.v1.ProblemService/ListProblems"),
            Need::Read
        );
        assert_eq!(
            need_of("/pipeline.v1.ProblemService/CloseProblem"),
            Need::ProjectWrite
        );
        assert!(is_open("/grpc.health.v1.Health/Check"));
        assert!(!is_open("/pipeline.v1.ProjectService/GetProject"));
        assert!(Role::Viewer.allows(Need::Read) && !Role::Viewer.allows(Need::ProjectWrite));
        assert!(!Role::Subscriber.allows(Need::Read) && Role::Subscriber.allows(Need::Watch));
        assert!(!Role::Editor.allows(Need::Admin));
        let editor = Principal {
            name: "住建".into(),
            role: Role::Editor,
            departments: vec!["县住建局".into()],
            townships: vec![],
        };
        assert!(editor.may_change("县住建局", "城关镇"));
        assert!(!editor.may_change("县交通运输局", "城关镇"));
    }

    #[test]
    fn a_token_name_fits_the_actor_bound() {
        assert!(check_token_name(&"名".repeat(ACTOR_CHARS)).is_ok());
        assert_eq!(
            check_token_name(&"名".repeat(ACTOR_CHARS + 1)),
            Err(Invalid::field("name", "must be at most 128 characters"))
        );
    }
}
