//! Stream cursors: the log's epoch (one per database) and a sequence number, as opaque
//! base64url text. The epoch makes a cursor from another database recognisable.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub fn encode(epoch: &str, seq: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{epoch}.{seq}"))
}

/// The sequence number of a cursor issued for `epoch`.
pub fn decode(cursor: &str, epoch: &str) -> Result<i64, String> {
    let malformed = || "is not a cursor issued by this service".to_string();
    if cursor.len() > 200 {
        return Err(malformed());
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| malformed())?;
    let text = String::from_utf8(bytes).map_err(|_| malformed())?;
    let (their_epoch, seq) = text.rsplit_once('.').ok_or_else(malformed)?;
    let seq: i64 = seq.parse().map_err(|_| malformed())?;
    if seq < 0 {
        return Err(malformed());
    }
    if their_epoch != epoch {
        return Err(
            "belongs to another database (its epoch differs); start again without a cursor".into(),
        );
    }
    Ok(seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let c = encode("abc", 42);
        assert_eq!(decode(&c, "abc"), Ok(42));
        assert!(
            decode(&c, "other")
                .unwrap_err()
                .contains("another database")
        );
        assert!(decode("!!", "abc").is_err());
        assert!(decode(&URL_SAFE_NO_PAD.encode("abc.-1"), "abc").is_err());
        assert!(decode(&URL_SAFE_NO_PAD.encode("abc"), "abc").is_err());
    }
}
