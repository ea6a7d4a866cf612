//! Who may change what: the scope check of every write, inside its unit of work. The rule
//! itself (editors change the projects of their departments or townships) is
//! `domain::access::Principal::may_change`.

use sea_orm::DatabaseTransaction;

use super::ServiceError;
use crate::domain::names;
use crate::domain::project::{Project, ProjectFields};
use crate::store::WriteContext;

/// Loads a project inside a write transaction, locking it against concurrent writers, and
/// checks that the writer may change it. For a caller who may not, a missing project is
/// PERMISSION_DENIED too, so that names cannot be probed.
pub async fn load_for_update(
    tx: &DatabaseTransaction,
    ctx: &WriteContext,
    project_id: &str,
) -> Result<(i64, Project), ServiceError> {
    let name = names::project_name(project_id);
    match crate::store::projects::lock(tx, project_id).await? {
        Some((pk, project))
            if ctx
                .principal
                .may_change(&project.fields.department, &project.fields.township) =>
        {
            Ok((pk, project))
        }
        None if ctx.principal.is_admin() => Err(ServiceError::not_found(name)),
        _ => Err(out_of_scope(ctx, &name)),
    }
}

/// The error for a project the caller may not change.
pub fn out_of_scope(ctx: &WriteContext, what: &str) -> ServiceError {
    ServiceError::permission_denied(format!(
        "token {:?} ({}) may not change {what}; editors change only projects of their departments or townships",
        ctx.principal.name,
        ctx.principal.role.as_str()
    ))
}

/// Checks that the writer may own a project with these fields (create, or update that moves
/// a project to another department or township).
pub fn check_scope(
    ctx: &WriteContext,
    fields: &ProjectFields,
    name: &str,
) -> Result<(), ServiceError> {
    if ctx
        .principal
        .may_change(&fields.department, &fields.township)
    {
        Ok(())
    } else {
        Err(out_of_scope(
            ctx,
            &format!(
                "{name} with department {:?} and township {:?}",
                fields.department, fields.township
            ),
        ))
    }
}
