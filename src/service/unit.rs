//! The unit of work every command runs in: one write transaction that authorizes the caller,
//! honours the request id (AIP-155), collects the events of the change and commits them with
//! the change and the kept response, or leaves nothing behind.

use sea_orm::DatabaseTransaction;

use super::ServiceError;
use crate::events::outbox::{self, EventDraft};
use crate::store::idempotency::{self, Kept, RequestKey};
use crate::store::{Outcome, Store, WriteContext};

/// An open write transaction of one command.
pub struct Unit<'a> {
    store: &'a Store,
    ctx: &'a WriteContext,
    key: Option<&'a RequestKey>,
    tx: DatabaseTransaction,
    events: Vec<EventDraft>,
}

/// How a unit of work starts: fresh, with what the authorization step loaded, or with the
/// encoded first response of an earlier call with the same request id.
pub enum Begun<'a, A> {
    Fresh(Unit<'a>, A),
    Replayed(Vec<u8>),
}

impl<'a> Unit<'a> {
    /// Starts a write transaction for a call that may carry a request id, in this order:
    ///
    /// 1. `authorize` decides, inside the transaction, whether the caller may make this call:
    ///    it loads and locks the resource to change and checks the caller's scope on it (or on
    ///    the fields of a resource to create). Its refusal is the answer, whatever was stored:
    ///    the role check has already run in the auth layer, so nothing is replayed to a caller
    ///    who may not make the call now.
    /// 2. The key is claimed (`idempotency::claim`), so concurrent retries take turns.
    /// 3. The key is looked up under the caller's name: a kept response is returned as
    ///    `Replayed`, and the same id sent with another request is INVALID_ARGUMENT.
    ///
    /// A resource that is gone (NOT_FOUND, which only a caller allowed to change anything
    /// gets; others get PERMISSION_DENIED so names cannot be probed) does not stop a replay: a
    /// retry after a later delete still gets the answer its first call earned.
    pub async fn begin<A>(
        store: &'a Store,
        ctx: &'a WriteContext,
        key: Option<&'a RequestKey>,
        authorize: impl AsyncFnOnce(&DatabaseTransaction) -> Result<A, ServiceError>,
    ) -> Result<Begun<'a, A>, ServiceError> {
        let tx = store.begin_write().await?;
        let authorized = authorize(&tx).await;
        let unit = |tx| Unit {
            store,
            ctx,
            key,
            tx,
            events: Vec::new(),
        };
        let Some(key) = key else {
            return Ok(Begun::Fresh(unit(tx), authorized?));
        };
        let authorized = match authorized {
            Err(err) if !matches!(err, ServiceError::NotFound { .. }) => return Err(err),
            other => other,
        };
        let caller = ctx.principal.name.as_str();
        idempotency::claim(&tx, caller, key).await?;
        if let Some(response) = kept(idempotency::lookup(&tx, caller, key).await?)? {
            return Ok(Begun::Replayed(response));
        }
        Ok(Begun::Fresh(unit(tx), authorized?))
    }

    /// A unit of work around a transaction opened by `Store::begin_write` (for the writers
    /// that have not moved to `begin` yet).
    pub fn resume(
        store: &'a Store,
        ctx: &'a WriteContext,
        key: Option<&'a RequestKey>,
        tx: DatabaseTransaction,
    ) -> Self {
        Unit {
            store,
            ctx,
            key,
            tx,
            events: Vec::new(),
        }
    }

    /// The transaction, for the repositories.
    pub fn tx(&self) -> &DatabaseTransaction {
        &self.tx
    }

    /// The transaction itself (for the writers that have not moved to `commit` yet).
    pub fn into_tx(self) -> DatabaseTransaction {
        self.tx
    }

    /// Who is writing, and when.
    pub fn ctx(&self) -> &'a WriteContext {
        self.ctx
    }

    /// Adds an event, appended to the log with the change at commit.
    pub fn emit(&mut self, draft: EventDraft) {
        self.events.push(draft);
    }

    /// Appends the events, keeps the encoded response under the request id (when there is
    /// one) and commits. When a concurrent call with the same key won the race, returns its
    /// response instead (with the key claimed in `begin` that race is not expected; this stays
    /// the last word).
    pub async fn commit<T>(
        self,
        value: T,
        response: impl FnOnce(&T) -> Vec<u8>,
    ) -> Result<Outcome<T>, ServiceError> {
        let Unit {
            store,
            ctx,
            key,
            tx,
            events,
        } = self;
        outbox::append(&tx, &ctx.actor, ctx.now_us, events).await?;
        if let Some(key) = key {
            let caller = ctx.principal.name.as_str();
            if !idempotency::record(&tx, caller, key, response(&value), ctx.now_us).await? {
                drop(tx);
                return kept(idempotency::lookup(store.connection(), caller, key).await?)?
                    .map(Outcome::Replayed)
                    .ok_or_else(|| ServiceError::internal("request id vanished after a conflict"));
            }
        }
        store.commit(tx).await?;
        Ok(Outcome::Done(value))
    }
}

/// The kept response, if any; the id kept for another request is the caller's mistake.
fn kept(kept: Kept) -> Result<Option<Vec<u8>>, ServiceError> {
    match kept {
        Kept::Nothing => Ok(None),
        Kept::Response(response) => Ok(Some(response)),
        Kept::OtherRequest => Err(ServiceError::invalid(
            "request_id",
            "was already used for a different request",
        )),
    }
}

/// Refuses a write whose etag (when given) is not the resource's current one.
pub fn check_etag(
    given: Option<&str>,
    resource: String,
    current: String,
) -> Result<(), ServiceError> {
    match given {
        Some(etag) if etag != current => Err(ServiceError::EtagMismatch {
            resource,
            current_etag: current,
        }),
        _ => Ok(()),
    }
}
