//! How many event streams each token may hold open at once. A permit is taken when a stream
//! opens and given back when the stream is dropped (the client went away or the stream ended),
//! so one client cannot take every stream slot of a server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::service::ServiceError;

#[derive(Clone, Debug)]
pub struct StreamQuota {
    limit: usize,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

impl StreamQuota {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            open: Arc::default(),
        }
    }

    /// A permit for one more stream of `who`, or RESOURCE_EXHAUSTED at the limit.
    pub fn acquire(&self, who: &str) -> Result<StreamPermit, ServiceError> {
        let mut open = self.open.lock().expect("stream quota lock");
        let count = open.entry(who.to_string()).or_default();
        if *count >= self.limit {
            return Err(ServiceError::ResourceExhausted {
                reason: "TOO_MANY_STREAMS",
                message: format!(
                    "token {who:?} already has {} open event streams, the most one token may hold; close one first",
                    self.limit
                ),
            });
        }
        *count += 1;
        Ok(StreamPermit {
            quota: self.clone(),
            who: who.to_string(),
        })
    }

    /// Open streams of `who`.
    pub fn open_streams(&self, who: &str) -> usize {
        let open = self.open.lock().expect("stream quota lock");
        open.get(who).copied().unwrap_or_default()
    }
}

/// One open stream's share of its token's quota; released on drop.
#[derive(Debug)]
pub struct StreamPermit {
    quota: StreamQuota,
    who: String,
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut open = self.quota.open.lock().expect("stream quota lock");
        if let Some(count) = open.get_mut(&self.who) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.who);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_come_back() {
        let quota = StreamQuota::new(2);
        let a = quota.acquire("bot").unwrap();
        let _b = quota.acquire("bot").unwrap();
        assert!(quota.acquire("bot").is_err());
        assert!(quota.acquire("other").is_ok());
        drop(a);
        assert_eq!(quota.open_streams("bot"), 1);
        assert!(quota.acquire("bot").is_ok());
    }
}
