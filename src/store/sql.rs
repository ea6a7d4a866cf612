//! A small builder for hand-written SQL with bound values, for queries whose shape (derived
//! status conditions, computed ordering keys, joins) goes beyond the entity API. Placeholders
//! follow the backend: `?` on SQLite, `$n` on PostgreSQL.

use sea_orm::{DbBackend, Statement, Value};

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
