//! `pipeline.v1.EventBatch` written by hand so that a stream can send events that are already
//! encoded: the log stores each event's encoded bytes, and every subscriber's batch carries
//! those same bytes (reference-counted) instead of a copy of the message to encode again.
//! On the wire it is exactly the message the proto file declares; decoding fills `events`.

use bytes::{Buf, BufMut, Bytes};
use prost::DecodeError;
use prost::encoding::{self, DecodeContext, WireType};

/// Events of one or more whole transactions, in sequence order (see event.proto). Generic in
/// the event message so that this module needs nothing of the generated code, which refers to
/// it: `proto::v1::EventBatch` is `EventBatch<v1::Event>`.
#[derive(Clone, PartialEq, Debug)]
pub struct EventBatch<E> {
    /// The matching events, when built or decoded as messages.
    pub events: Vec<E>,
    /// Resume after this batch with this cursor.
    pub cursor: String,
    /// Already-encoded events, written before `events` on the wire (server side only).
    pub encoded_events: Vec<Bytes>,
}

/// `message` as one gRPC length-prefixed message: an uncompressed flag byte, the length as
/// four big-endian bytes, then the message.
pub fn grpc_frame(message: &impl prost::Message) -> Bytes {
    let len = message.encoded_len();
    let mut buf = bytes::BytesMut::with_capacity(5 + len);
    buf.put_u8(0);
    buf.put_u32(u32::try_from(len).expect("a batch is far smaller than 4 GiB"));
    message.encode_raw(&mut buf);
    buf.freeze()
}

const EVENTS: u32 = 1;
const CURSOR: u32 = 2;

impl<E> Default for EventBatch<E> {
    fn default() -> Self {
        Self {
            events: Vec::new(),
            cursor: String::new(),
            encoded_events: Vec::new(),
        }
    }
}

impl<E: prost::Message + Default> prost::Message for EventBatch<E> {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        for event in &self.encoded_events {
            encoding::encode_key(EVENTS, WireType::LengthDelimited, buf);
            encoding::encode_varint(event.len() as u64, buf);
            buf.put_slice(event);
        }
        encoding::message::encode_repeated(EVENTS, &self.events, buf);
        if !self.cursor.is_empty() {
            encoding::string::encode(CURSOR, &self.cursor, buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            EVENTS => encoding::message::merge_repeated(wire_type, &mut self.events, buf, ctx),
            CURSOR => encoding::string::merge(wire_type, &mut self.cursor, buf, ctx),
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        let encoded: usize = self
            .encoded_events
            .iter()
            .map(|e| {
                encoding::key_len(EVENTS) + encoding::encoded_len_varint(e.len() as u64) + e.len()
            })
            .sum();
        let cursor = if self.cursor.is_empty() {
            0
        } else {
            encoding::string::encoded_len(CURSOR, &self.cursor)
        };
        encoded + encoding::message::encoded_len_repeated(EVENTS, &self.events) + cursor
    }

    fn clear(&mut self) {
        self.events.clear();
        self.cursor.clear();
        self.encoded_events.clear();
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::proto::v1;

    #[test]
    fn pre_encoded_events_decode_as_events() {
        let event = v1::Event {
            sequence: 7,
            kind: v1::EventKind::ProjectCreated as i32,
            project: "projects/a".into(),
            ..Default::default()
        };
        let batch = v1::EventBatch {
            encoded_events: vec![
                Bytes::from(event.encode_to_vec()),
                Bytes::from(event.encode_to_vec()),
            ],
            cursor: "c".into(),
            ..Default::default()
        };
        let bytes = batch.encode_to_vec();
        assert_eq!(bytes.len(), batch.encoded_len());
        let decoded = v1::EventBatch::decode(bytes.as_slice()).unwrap();
        assert_eq!(decoded.events, vec![event.clone(), event]);
        assert_eq!(decoded.cursor, "c");
        assert!(decoded.encoded_events.is_empty());
    }
}
