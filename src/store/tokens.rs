//! API tokens. A token is `pl_` and 43 URL-safe base64 characters (256 random bits); only its
//! SHA-256 hash is stored, so a leaked database does not leak usable tokens. A fast hash is
//! enough here: the secrets are random, not passwords, so there is nothing to guess.

use base64::Engine;
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use sha2::{Digest, Sha256};

use super::Store;
use super::entities::api_token;
use super::error::{StoreError, conflict_on};
use crate::domain::access::{Principal, Role};

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

fn parse_role(role: &str) -> Result<Role, StoreError> {
    Role::parse(role).ok_or_else(|| StoreError::corrupt(format!("stored role {role:?} is unknown")))
}

/// A driver failure of the fixed token read.
fn read_failed(err: impl std::fmt::Display) -> StoreError {
    StoreError::Db(sea_orm::DbErr::Custom(format!("reading the token: {err}")))
}

fn to_info(row: api_token::Model) -> Result<TokenInfo, StoreError> {
    let role = parse_role(&row.role)?;
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
    /// Creates a token and returns its secret, the only time it exists outside the caller. A
    /// taken name is a conflict on `name`. The rule on names is `access::check_token_name`,
    /// applied by `service::tokens::create`.
    pub async fn create_token(
        &self,
        principal: &Principal,
        now_us: i64,
    ) -> Result<String, StoreError> {
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
        .map_err(|err| {
            let token = || format!("token {:?}", principal.name);
            // Names are the one unique key a new token can clash on (the secret is random).
            conflict_on(err, &[("", &token, "name")])
        })?;
        Ok(secret)
    }

    /// Every token, revoked ones included, by name.
    pub async fn list_tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        api_token::Entity::find()
            .order_by_asc(api_token::Column::Name)
            .all(self.connection())
            .await?
            .into_iter()
            .map(to_info)
            .collect()
    }

    pub async fn count_tokens(&self) -> Result<u64, StoreError> {
        Ok(api_token::Entity::find().count(self.connection()).await?)
    }

    /// Revokes a token by name; it stops working with the next call. Revoking twice is fine.
    pub async fn revoke_token(&self, name: &str, now_us: i64) -> Result<(), StoreError> {
        let row = api_token::Entity::find()
            .filter(api_token::Column::Name.eq(name))
            .one(self.connection())
            .await?
            .ok_or_else(|| StoreError::not_found(format!("token {name:?}")))?;
        if row.revoked_at_us.is_some() {
            return Ok(());
        }
        api_token::ActiveModel {
            id: sea_orm::Unchanged(row.id),
            revoked_at_us: Set(Some(now_us)),
            ..Default::default()
        }
        .update(self.connection())
        .await?;
        Ok(())
    }

    /// The principal of a live token, or None for an unknown or revoked one. Read from the
    /// database on every call, so a revocation takes effect at once on every replica.
    ///
    /// Every call runs this, so it is one fixed statement through the driver (prepared once
    /// per connection) rather than a query built per call: the built query's future was about
    /// 13 KB, held by each call waiting for a connection. On a SQLite file it runs on the
    /// calling thread (`store::inline`).
    pub async fn authenticate(&self, secret: &str) -> Result<Option<Principal>, StoreError> {
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
                .map_err(read_failed)?,
                _ => sqlx::query_as(SQL)
                    .bind(secret_hash)
                    .fetch_optional(self.connection().get_sqlite_connection_pool())
                    .await
                    .map_err(read_failed)?,
            }
        };
        let Some((name, role, departments, townships, revoked_at_us)) = row else {
            return Ok(None);
        };
        if revoked_at_us.is_some() {
            return Ok(None);
        }
        Ok(Some(Principal {
            name,
            role: parse_role(&role)?,
            departments: split_list(&departments),
            townships: split_list(&townships),
        }))
    }
}
