//! The gRPC codec of every generated client and server: prost encoding, with a small first
//! encode buffer.
//!
//! tonic's default encoder starts each call's body with an 8 KiB buffer and keeps it for the
//! life of the call. For unary calls that is brief, but an event stream lives for hours and
//! carries messages of a few hundred bytes: a heap profile of 10,000 open streams found 82 MB,
//! four fifths of the server's heap, in those buffers. Starting at 1 KiB, a buffer grows to what
//! the call's messages need (a large response reserves its full size at once), so a stream
//! keeps about one message's worth. Decoding keeps prost's defaults.

use std::marker::PhantomData;

use prost::Message;
use tonic::codec::{BufferSettings, Codec};
use tonic_prost::ProstCodec;

/// First capacity of a call's encode buffer.
const ENCODE_BUFFER: usize = 1024;

/// Encoded bytes a streaming body collects before handing them to HTTP/2 (tonic's default).
const YIELD_THRESHOLD: usize = 32 * 1024;

/// `ProstCodec` with `ENCODE_BUFFER` as its first encode buffer (named in build.rs).
#[derive(Debug, Clone)]
pub struct LeanCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for LeanCodec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, U> Codec for LeanCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = <ProstCodec<T, U> as Codec>::Encoder;
    type Decoder = <ProstCodec<T, U> as Codec>::Decoder;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::raw_encoder(BufferSettings::new(ENCODE_BUFFER, YIELD_THRESHOLD))
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstCodec::<T, U>::default().decoder()
    }
}
