//! API tokens. A token is `pl_` and 43 URL-safe base64 characters (256 random bits); only its
//! SHA-256 hash is stored, so a leaked database does not leak usable tokens. A fast hash is
//! enough here: the secrets are random, not passwords, so there is nothing to guess.

use base64::Engine;
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use sha2::{Digest, Sha256};

use super::entities::api_token;
use super::{Store, db_error, unique_violation};
use crate::domain::access::{Principal, Role};
use crate::domain::values::ACTOR_CHARS;
use crate::service::ServiceError;

/// The prefix of every token, so that one pasted in the wrong place is recognisable.
pub const TOKEN_PREFIX: &str = "pl_";

/// A token as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub principal: Principal,
    pub created_at_us: i64,
    pub revoked_at_us: Option<i64>,
}

fn hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn split_list(text: &str) -> Vec<String> {
    text.split('\n')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

fn to_info(row: api_token::Model) -> Result<TokenInfo, ServiceError> {
    let role = Role::parse(&row.role)
        .ok_or_else(|| ServiceError::internal(format!("stored role {:?} is unknown", row.role)))?;
    Ok(TokenInfo {
        principal: Principal {
            name: row.name,
            role,
            departments: split_list(&row.departments),
            townships: split_list(&row.townships),
        },
        created_at_us: row.created_at_us,
        revoked_at_us: row.revoked_at_us,
    })
}

impl Store {
    /// Creates a token and returns its secret, the only time it exists outside the caller. The
    /// name is recorded as the actor of every change the token makes, in resources and events
    /// alike, so it is held to ACTOR_CHARS like any other text of theirs.
    pub async fn create_token(
        &self,
        principal: &Principal,
        now_us: i64,
    ) -> Result<String, ServiceError> {
        if principal.name.chars().count() > ACTOR_CHARS {
            return Err(ServiceError::invalid(
                "name",
                format!("must be at most {ACTOR_CHARS} characters"),
            ));
        }
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let secret = format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        );
        api_token::ActiveModel {
            name: Set(principal.name.clone()),
            role: Set(principal.role.as_str().to_string()),
            departments: Set(principal.departments.join("\n")),
            townships: Set(principal.townships.join("\n")),
            secret_hash: Set(hash(&secret)),
            created_at_us: Set(now_us),
            revoked_at_us: Set(None),
            ..Default::default()
        }
        .insert(self.connection())
        .await
        .map_err(|err| match unique_violation(&err) {
            Some(_) => ServiceError::AlreadyExists {
                resource: format!("token {:?}", principal.name),
                field: "name".into(),
            },
            None => db_error(err),
        })?;
        Ok(secret)
    }

    /// Every token, revoked ones included, by name.
    pub async fn list_tokens(&self) -> Result<Vec<TokenInfo>, ServiceError> {
        api_token::Entity::find()
            .order_by_asc(api_token::Column::Name)
            .all(self.connection())
            .await
            .map_err(db_error)?
            .into_iter()
            .map(to_info)
            .collect()
    }

    pub async fn count_tokens(&self) -> Result<u64, ServiceError> {
        api_token::Entity::find()
            .count(self.connection())
            .await
            .map_err(db_error)
    }

    /// Revokes a token by name; it stops working with the next call. Revoking twice is fine.
    pub async fn revoke_token(&self, name: &str, now_us: i64) -> Result<(), ServiceError> {
        let row = api_token::Entity::find()
            .filter(api_token::Column::Name.eq(name))
            .one(self.connection())
            .await
            .map_err(db_error)?
            .ok_or_else(|| ServiceError::not_found(format!("token {name:?}")))?;
        if row.revoked_at_us.is_some() {
            return Ok(());
        }
        api_token::ActiveModel {
            id: sea_orm::Unchanged(row.id),
            revoked_at_us: Set(Some(now_us)),
            ..Default::default()
        }
        .update(self.connection())
        .await
        .map_err(db_error)?;
        Ok(())
    }

    /// The principal of a live token, or None for an unknown or revoked one. Read from the
    /// database on every call, so a revocation takes effect at once on every replica.
    ///
    /// Every call runs this, so it is one fixed statement through the driver (prepared once
    /// per connection) rather than a query built per call: the built query's future was about
    /// 13 KB, held by each call waiting for a connection. On a SQLite file it runs on the
    /// calling thread (`store::inline`).
    pub async fn authenticate(&self, secret: &str) -> Result<Option<Principal>, ServiceError> {
        use sea_orm::sqlx;
        type Row = (String, String, String, String, Option<i64>);
        if !secret.starts_with(TOKEN_PREFIX) || secret.len() > 128 {
            return Ok(None);
        }
        let secret_hash = hash(secret);
        const SQL: &str = "SELECT name, role, departments, townships, revoked_at_us \
                           FROM api_tokens WHERE secret_hash = ?1";
        let row: Option<Row> = if let Some(reader) = self.inline_reader() {
            reader.read("reading the token", |c| {
                use rusqlite::OptionalExtension;
                c.prepare_cached(SQL)?
                    .query_row([&secret_hash], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                    })
                    .optional()
            })?
        } else {
            match self.backend() {
                sea_orm::DbBackend::Postgres => sqlx::query_as(
                    "SELECT name, role, departments, townships, revoked_at_us \
                     FROM api_tokens WHERE secret_hash = $1",
                )
                .bind(secret_hash)
                .fetch_optional(self.connection().get_postgres_connection_pool())
                .await
                .map_err(|e| ServiceError::internal(format!("reading the token: {e}")))?,
                _ => sqlx::query_as(SQL)
                    .bind(secret_hash)
                    .fetch_optional(self.connection().get_sqlite_connection_pool())
                    .await
                    .map_err(|e| ServiceError::internal(format!("reading the token: {e}")))?,
            }
        };
        let Some((name, role, departments, townships, revoked_at_us)) = row else {
            return Ok(None);
        };
        if revoked_at_us.is_some() {
            return Ok(None);
        }
        let role = Role::parse(&role)
            .ok_or_else(|| ServiceError::internal(format!("stored role {role:?} is unknown")))?;
        Ok(Some(Principal {
            name,
            role,
            departments: split_list(&departments),
            townships: split_list(&townships),
        }))
    }
}
