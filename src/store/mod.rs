//! Storage: the sea-orm connection, transactions, and the queries of each resource. Every
//! mutation runs in one write transaction that also appends its events to the log.

pub mod applications;
pub mod entities;
pub mod error;

pub mod funding;
pub mod idempotency;
mod inline;
pub mod investment;
pub mod justifications;
pub mod log;
pub mod milestones;
mod nodelay;
pub mod outbox;
pub mod prerequisites;
pub mod problems;
pub mod projects;
pub mod reports;
pub mod sql;
pub mod tokens;

/// For tests/postgres_nodelay.rs: whether the process's sockets to a port have TCP_NODELAY.
#[cfg(target_os = "linux")]
#[doc(hidden)]
pub use nodelay::peer_port_sockets_nodelay;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use error::StoreError;

/// Who writes and when: recorded on every change and event.
#[derive(Debug, Clone)]
pub struct WriteContext {
    /// The principal's name, recorded as the actor.
    pub actor: String,
    /// Who is writing: decides which projects may be changed.
    pub principal: crate::domain::access::Principal,
    pub now_us: i64,
    pub today: chrono::NaiveDate,
}

/// The result of a call that carries a `request_id`: either done now, or the encoded response
/// of the first call with that id.
#[derive(Debug)]
pub enum Outcome<T> {
    Done(T),
    Replayed(Vec<u8>),
}

/// A position in an ordered listing: the sort key of the last row returned and its id (the
/// resource id, unique, breaks ties).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub key: SortKey,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortKey {
    Int(i64),
    Text(String),
}

impl Cursor {
    /// The keyset condition "rows after this cursor" for an order by (`key_column`,
    /// `id_column`), both ascending or both descending.
    pub(crate) fn after<C: sea_orm::ColumnTrait>(
        &self,
        key_column: C,
        id_column: C,
        descending: bool,
    ) -> sea_orm::Condition {
        use sea_orm::Condition;
        let key = match &self.key {
            SortKey::Int(v) => sea_orm::Value::from(*v),
            SortKey::Text(v) => sea_orm::Value::from(v.clone()),
        };
        let id = self.id.clone();
        let (beyond, tie) = if descending {
            (key_column.lt(key.clone()), id_column.lt(id))
        } else {
            (key_column.gt(key.clone()), id_column.gt(id))
        };
        Condition::any()
            .add(beyond)
            .add(Condition::all().add(key_column.eq(key)).add(tie))
    }
}

/// One page of a keyset listing: its items in order, the cursor that resumes right after each
/// of them, and whether rows follow the last one. The API may send fewer items than the page
/// holds (to fit its message limit) and continue after any of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub cursors: Vec<Cursor>,
    pub more: bool,
}

impl<T> Page<T> {
    pub fn new(items: Vec<T>, more: bool, cursor_of: impl FnMut(&T) -> Cursor) -> Self {
        Self {
            cursors: items.iter().map(cursor_of).collect(),
            items,
            more,
        }
    }
}

/// One page of a keyset listing fetched with `LIMIT limit + 1`: the first `limit` rows
/// converted, with the cursor of each; the extra row shows whether more follow.
pub(crate) fn page<R, T, E>(
    rows: Vec<R>,
    limit: u64,
    convert: impl FnMut(R) -> Result<T, E>,
    cursor_of: impl FnMut(&T) -> Cursor,
) -> Result<Page<T>, E> {
    let more = rows.len() as u64 > limit;
    let items = rows
        .into_iter()
        .take(limit as usize)
        .map(convert)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::new(items, more, cursor_of))
}

/// Rows a SQLite query may have in flight from sqlx's connection thread before that thread
/// waits for the caller to take them. With sqlx's default of 50, a read of a thousand rows
/// (a report's groups, a long listing) woke each side twenty times over.
const ROW_BUFFER: usize = 1024;

/// The database behind the service.
#[derive(Clone, Debug)]
pub struct Store {
    db: DatabaseConnection,
    /// Where write transactions run: the same pool on PostgreSQL, a one-connection pool on
    /// SQLite.
    writer: DatabaseConnection,
    url: String,
    /// Signalled after every commit that appended events, so the log tailer of this process
    /// wakes at once instead of at its next poll.
    commits: Arc<Notify>,
    /// On a SQLite database file: read-only connections for the point reads every call makes,
    /// run on the calling thread (see `inline`).
    inline: Option<Arc<inline::InlineReader>>,
}

/// The TCP port of a PostgreSQL URL (5432 when it names none); None for other URLs and for
/// Unix sockets.
fn postgres_port(url: &str) -> Option<u16> {
    use sea_orm::sqlx::postgres::PgConnectOptions;
    if !url.starts_with("postgres") {
        return None;
    }
    let options: PgConnectOptions = url.parse().ok()?;
    options.get_socket().is_none().then(|| options.get_port())
}

impl Store {
    /// Connects to `postgres://…` or `sqlite://…` URLs. SQLite runs in WAL mode with a busy
    /// timeout, foreign keys on and NORMAL synchronous (durable at checkpoints, safe in WAL).
    /// On SQLite, write transactions get a pool of their own with one connection: SQLite
    /// admits one writer at a time anyway, and queueing for that connection is fair and cheap
    /// where contending for the file lock means sleeping in the busy handler.
    pub async fn connect(url: &str) -> Result<Self, DbErr> {
        let db = Database::connect(Self::options(url, 16)).await?;
        let writer = if db.get_database_backend() == DbBackend::Sqlite {
            Database::connect(Self::options(url, 1)).await?
        } else {
            db.clone()
        };
        // Connecting created the file if it was missing; an in-memory database has none.
        let inline = match db.get_database_backend() {
            DbBackend::Sqlite => url
                .parse::<SqliteConnectOptions>()
                .ok()
                .and_then(|options| inline::InlineReader::for_file(options.get_filename()))
                .map(Arc::new),
            _ => None,
        };
        Ok(Self {
            db,
            writer,
            url: url.to_string(),
            commits: Arc::new(Notify::new()),
            inline,
        })
    }

    fn options(url: &str, connections: u32) -> ConnectOptions {
        let mut options = ConnectOptions::new(url.to_string());
        options
            .sqlx_logging(false)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(30))
            .max_connections(connections);
        // A pooled SQLite connection is a file handle that cannot go stale, so it is never
        // pinged before use (the ping was one more hand-off to sqlx's connection thread per
        // transaction). A PostgreSQL connection is pinged only after it sat idle for a while,
        // so a server restart is still noticed before a request fails on it.
        if url.starts_with("sqlite:") {
            options.test_before_acquire(false);
        } else {
            options.test_before_acquire_if_idle_for(Duration::from_secs(30));
        }
        if let Some(port) = postgres_port(url) {
            options.map_sqlx_postgres_pool_opts(move |pool| {
                pool.after_connect(move |_, _| {
                    Box::pin(async move {
                        nodelay::set_for_peer_port(port);
                        Ok(())
                    })
                })
            });
        }
        options.map_sqlx_sqlite_opts(|opts| {
            opts.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                .row_buffer_size(ROW_BUFFER)
        });
        options
    }

    /// The SQLite URL of the database file inside `data_dir`.
    pub fn sqlite_url(data_dir: &Path) -> String {
        format!(
            "sqlite://{}?mode=rwc",
            data_dir.join("pipeline.db").display()
        )
    }

    pub async fn migrate(&self) -> Result<(), DbErr> {
        Migrator::up(&self.db, None).await
    }

    /// The URL this store connected to (the log tailer opens its own LISTEN connection).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Woken after each local commit.
    pub fn commit_signal(&self) -> Arc<Notify> {
        self.commits.clone()
    }

    /// Commits a write transaction and wakes the local log tailer.
    pub(crate) async fn commit(&self, tx: DatabaseTransaction) -> Result<(), StoreError> {
        tx.commit().await?;
        self.commits.notify_one();
        Ok(())
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The calling-thread reader, on a SQLite database file.
    pub(crate) fn inline_reader(&self) -> Option<&Arc<inline::InlineReader>> {
        self.inline.as_ref()
    }

    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// Starts a write transaction. On SQLite it is `BEGIN IMMEDIATE`, so writers queue on the
    /// busy timeout at the start instead of failing when a read lock would have to be upgraded.
    pub(crate) async fn begin_write(&self) -> Result<DatabaseTransaction, StoreError> {
        self.writer
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await
            .map_err(StoreError::from)
    }

    pub async fn close(self) -> Result<(), DbErr> {
        if self.backend() == DbBackend::Sqlite {
            self.writer.close().await?;
        }
        self.db.close().await
    }
}

impl Store {
    /// One page, newest first (`created` then `uid`, both descending), of the rows of the
    /// project children `E` that meet `condition` after `after`, each converted with its
    /// project's id (`project_pk` names the row's project). Problems and justifications are
    /// listed this way.
    pub(crate) async fn newest_first<E, T>(
        &self,
        condition: sea_orm::Condition,
        (created, uid): (E::Column, E::Column),
        (after, limit): (Option<&Cursor>, u64),
        project_pk: impl Fn(&E::Model) -> i64,
        convert: impl Fn(&str, E::Model) -> Result<T, StoreError>,
        cursor_of: impl FnMut(&T) -> Cursor,
    ) -> Result<Page<T>, StoreError>
    where
        E: sea_orm::EntityTrait,
    {
        use sea_orm::{QueryFilter, QueryOrder, QuerySelect};
        let mut condition = condition;
        if let Some(after) = after {
            condition = condition.add(after.after(created, uid, true));
        }
        let rows = E::find()
            .filter(condition)
            .order_by_desc(created)
            .order_by_desc(uid)
            .limit(limit + 1)
            .all(self.connection())
            .await?;
        let ids = projects::ids_by_pk(self.connection(), rows.iter().map(&project_pk)).await?;
        page(
            rows,
            limit,
            |row| {
                let project_id = ids.get(&project_pk(&row)).ok_or_else(|| {
                    StoreError::corrupt(format!(
                        "a row of {} names a missing project",
                        E::default().table_name()
                    ))
                })?;
                convert(project_id, row)
            },
            cursor_of,
        )
    }
}
