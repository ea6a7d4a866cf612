//! API tokens: creating one holds its name to the rule of `domain::access`.

use super::ServiceError;
use crate::domain::access::{self, Principal};
use crate::store::Store;

/// Creates a token for `principal` and returns its secret, the only time it exists outside
/// the caller.
pub async fn create(
    store: &Store,
    principal: &Principal,
    now_us: i64,
) -> Result<String, ServiceError> {
    access::check_token_name(&principal.name)?;
    Ok(store.create_token(principal, now_us).await?)
}
