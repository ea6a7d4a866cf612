//! A small builder for hand-written SQL with bound values, for queries whose shape (derived
//! status conditions, computed ordering keys, joins) goes beyond the entity API. Placeholders
//! follow the backend: `?` on SQLite, `$n` on PostgreSQL.

use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement, Value};

use super::error::StoreError;

pub struct Sql {
    backend: DbBackend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    pub fn new(backend: DbBackend, text: impl Into<String>) -> Self {
        Self {
            backend,
            text: text.into(),
            values: Vec::new(),
        }
    }

    /// Appends SQL text. Never put caller-supplied text here; bind it.
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.values.push(value.into());
        match self.backend {
            DbBackend::Postgres => {
                let n = self.values.len();
                self.text.push_str(&format!("${n}"));
            }
            _ => self.text.push('?'),
        }
        self
    }

    pub fn build(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.text, self.values)
    }
}

/// Where `exact_sum` splits each value: 2^32.
const SPLIT: i64 = 1 << 32;

/// Select-list text for the exact sum of the BIGINT expression `expr`, as two columns: the sum
/// of the values' high parts and of their low parts (split at 2^32, truncating, so a negative
/// value splits into two non-positive parts). With fewer than 2^31 rows neither part's sum can
/// leave 64 bits, whatever the values; a plain SUM could: SQLite's integer SUM fails with
/// "integer overflow" and PostgreSQL's CAST of the NUMERIC sum with "bigint out of range".
/// `read_exact_sum` joins the two columns in 128 bits.
pub fn exact_sum(expr: &str) -> String {
    format!(
        "CAST(COALESCE(SUM(({expr}) / {SPLIT}), 0) AS BIGINT), \
         CAST(COALESCE(SUM(({expr}) % {SPLIT}), 0) AS BIGINT)"
    )
}

/// The sum selected by `exact_sum` whose first column is at `index`.
pub fn read_exact_sum(row: &QueryResult, index: usize) -> Result<i128, StoreError> {
    let high: i64 = row.try_get_by_index(index)?;
    let low: i64 = row.try_get_by_index(index + 1)?;
    Ok(i128::from(high) * i128::from(SPLIT) + i128::from(low))
}

/// Inserts one row into an alert ledger unless a row with the same unique key exists; true when
/// this call inserted it. The ledgers' unique keys are what make scanner alerts once-only
/// across passes, restarts and replicas.
pub async fn insert_once(
    conn: &impl ConnectionTrait,
    table: &str,
    columns: &[&str],
    values: Vec<Value>,
) -> Result<bool, StoreError> {
    let mut sql = Sql::new(
        conn.get_database_backend(),
        format!("INSERT INTO {table} ({}) VALUES (", columns.join(", ")),
    );
    for (i, value) in values.into_iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind(value);
    }
    sql.push(") ON CONFLICT DO NOTHING RETURNING id");
    Ok(conn.query_one_raw(sql.build()).await?.is_some())
}
