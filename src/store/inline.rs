//! Point reads on SQLite that run on the calling thread.
//!
//! sqlx drives each SQLite connection from a worker thread of its own, so every query is a hand
//! off to that thread and back: two context switches around a lookup that takes a few
//! microseconds. For the reads every call makes (the token check), every stream open makes
//! (the log head) and the hottest single-row read (GetProject), that hand-off was most of the
//! cost of the call. This reader keeps a few read-only connections to the same database file
//! and runs such reads directly, with their statements prepared once per connection.
//!
//! Running a query on a runtime thread blocks it for the query's duration, so only indexed
//! single-row reads run there (`read`); reads of many rows, such as the scanner's batches, go
//! to the blocking pool (`read_blocking`). In WAL mode a reader never waits for the writer; it
//! could only wait (up to `BUSY_TIMEOUT`) while another connection recovers the WAL index,
//! which happens after a crash, not in normal running. The reader sees the last committed
//! state, exactly as a pooled sqlx connection would.
//!
//! It is used only for a database file: an in-memory database (tests may use one) and
//! PostgreSQL keep the pooled path.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::error::StoreError;

/// Longest a read waits for a lock it cannot get (see the module comment for when).
const BUSY_TIMEOUT: Duration = Duration::from_millis(500);

/// Connections kept for reuse. A read never awaits while it holds one, so at most one is in
/// use per runtime thread; a few more cover threads outside the runtime.
const KEPT: usize = 8;

/// Statements cached per connection.
const STATEMENTS: usize = 16;

#[derive(Debug)]
pub(crate) struct InlineReader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl InlineReader {
    /// A reader for the database file at `path`, or None when there is no such file (an
    /// in-memory database).
    pub(crate) fn for_file(path: &Path) -> Option<Self> {
        path.is_file().then(|| Self {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        })
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        connection.set_prepared_statement_cache_capacity(STATEMENTS);
        Ok(connection)
    }

    /// Runs `read` on an idle connection (opening one when none is idle) and returns the
    /// connection for reuse unless the read failed.
    pub(crate) fn read<T>(
        &self,
        what: &str,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let failed = |e: rusqlite::Error| StoreError::Inline(format!("{what}: {e}"));
        let idle = self.idle.lock().map(|mut idle| idle.pop()).ok().flatten();
        let connection = match idle {
            Some(connection) => connection,
            None => self.open().map_err(failed)?,
        };
        let value = read(&connection).map_err(failed)?;
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < KEPT
        {
            idle.push(connection);
        }
        Ok(value)
    }

    /// `read` on a thread of the blocking pool: for reads of many rows, which should not hold
    /// a runtime thread for milliseconds.
    pub(crate) async fn read_blocking<T: Send + 'static>(
        self: &Arc<Self>,
        what: &'static str,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let reader = self.clone();
        tokio::task::spawn_blocking(move || reader.read(what, read))
            .await
            .map_err(|e| StoreError::Inline(format!("{what}: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_committed_rows_and_reuses_connections() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT);",
            )
            .unwrap();
        let reader = InlineReader::for_file(&path).unwrap();
        let get = |k: i64| {
            reader.read("reading t", |c| {
                use rusqlite::OptionalExtension;
                c.prepare_cached("SELECT v FROM t WHERE k = ?1")?
                    .query_row([k], |row| row.get::<_, String>(0))
                    .optional()
            })
        };
        assert_eq!(get(1).unwrap(), None);
        writer
            .execute("INSERT INTO t (k, v) VALUES (1, 'one')", [])
            .unwrap();
        assert_eq!(get(1).unwrap().as_deref(), Some("one"));
        assert_eq!(reader.idle.lock().unwrap().len(), 1);

        // A read-only connection refuses writes, and a failed read drops its connection.
        let err = reader
            .read("writing t", |c| c.execute("DELETE FROM t", []))
            .unwrap_err();
        assert!(err.to_string().contains("writing t"), "{err}");
        assert_eq!(reader.idle.lock().unwrap().len(), 0);
        assert_eq!(get(1).unwrap().as_deref(), Some("one"));

        assert!(InlineReader::for_file(&dir.path().join("missing.db")).is_none());
    }
}

#[cfg(test)]
mod store_tests {
    use crate::domain::access::{Principal, Role};
    use crate::store::Store;

    /// The same answers from a database file (read on the calling thread) and from an
    /// in-memory database (read through the pool), so neither path is left untested.
    #[tokio::test]
    async fn file_and_memory_databases_answer_alike() {
        let dir = tempfile::tempdir().unwrap();
        for (url, inline) in [
            (Store::sqlite_url(dir.path()), true),
            ("sqlite::memory:".to_string(), false),
        ] {
            let store = Store::connect(&url).await.unwrap();
            store.migrate().await.unwrap();
            assert_eq!(store.inline_reader().is_some(), inline, "{url}");
            let principal = Principal {
                name: "dashboard".into(),
                role: Role::Editor,
                departments: vec!["县发改委".into(), "县交通局".into()],
                townships: vec!["城关镇".into()],
            };
            let secret = store.create_token(&principal, 1).await.unwrap();
            assert_eq!(
                store.authenticate(&secret).await.unwrap(),
                Some(principal.clone()),
                "{url}"
            );
            assert_eq!(store.authenticate("pl_unknown").await.unwrap(), None);
            store.revoke_token("dashboard", 2).await.unwrap();
            assert_eq!(store.authenticate(&secret).await.unwrap(), None, "{url}");
            assert_eq!(store.log_head().await.unwrap(), 0, "{url}");
            let missing = store.get_project("no-such-project").await.unwrap_err();
            assert!(
                matches!(missing, crate::store::error::StoreError::NotFound { .. }),
                "{url}: {missing:?}"
            );
            store.close().await.unwrap();
        }
    }
}
