//! InvokeWithResponseStream's response body: AWS event-stream messages (prelude, headers,
//! payload, CRCs), framed by the official smithy event-stream crate.
//!
//! Every message is an event (`:message-type: event`, which the Rust SDK requires) whose
//! `:event-type` names the member of `InvokeWithResponseStreamResponseEvent`.

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;
use invokd_model::{InvokeComplete, StreamEvent};
use serde::Serialize;

/// `Content-Type` of the whole response body.
pub const CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

/// Largest payload put in one `PayloadChunk`: far under the format's 16 MB message limit, small
/// enough that a big buffered response reaches the caller progressively.
pub const MAX_CHUNK: usize = 256 * 1024;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Complete<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_details: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    log_result: Option<&'a str>,
}

fn event(event_type: &'static str, content_type: &'static str, payload: Bytes) -> Bytes {
    let message = Message::new(payload)
        .add_header(Header::new(
            ":event-type",
            HeaderValue::String(event_type.into()),
        ))
        .add_header(Header::new(
            ":content-type",
            HeaderValue::String(content_type.into()),
        ))
        .add_header(Header::new(
            ":message-type",
            HeaderValue::String("event".into()),
        ));
    let mut out = Vec::with_capacity(message.payload().len() + 128);
    write_message_to(&message, &mut out).expect("payloads are bounded far below the limit");
    Bytes::from(out)
}

/// Encodes one event as one or more messages (a long chunk is split at [`MAX_CHUNK`]).
pub fn encode(e: &StreamEvent) -> Vec<Bytes> {
    match e {
        StreamEvent::Chunk(bytes) => {
            let mut out = Vec::with_capacity(bytes.len() / MAX_CHUNK + 1);
            let mut rest = bytes.clone();
            while !rest.is_empty() {
                let piece = rest.split_to(rest.len().min(MAX_CHUNK));
                out.push(event("PayloadChunk", "application/octet-stream", piece));
            }
            out
        }
        StreamEvent::Complete(c) => vec![complete(c)],
    }
}

fn complete(c: &InvokeComplete) -> Bytes {
    let body = Complete {
        error_code: c.error_code.as_deref(),
        error_details: c.error_details.as_deref(),
        log_result: c.log_result.as_deref(),
    };
    let json = serde_json::to_vec(&body).expect("strings serialise");
    event("InvokeComplete", "application/json", Bytes::from(json))
}

#[cfg(test)]
mod tests {
    use aws_smithy_eventstream::frame::read_message_from;

    use super::*;

    fn header<'a>(m: &'a Message, name: &str) -> &'a str {
        m.headers()
            .iter()
            .find(|h| h.name().as_str() == name)
            .and_then(|h| h.value().as_string().ok())
            .map(|s| s.as_str())
            .unwrap_or_default()
    }

    #[test]
    fn chunks_round_trip_through_the_decoder_with_the_headers_clients_need() {
        let payload = Bytes::from(vec![7u8; MAX_CHUNK + 10]);
        let frames = encode(&StreamEvent::Chunk(payload));
        assert_eq!(frames.len(), 2);
        let first = read_message_from(frames[0].clone()).unwrap();
        assert_eq!(header(&first, ":message-type"), "event");
        assert_eq!(header(&first, ":event-type"), "PayloadChunk");
        assert_eq!(header(&first, ":content-type"), "application/octet-stream");
        assert_eq!(first.payload().len(), MAX_CHUNK);
        assert_eq!(
            read_message_from(frames[1].clone())
                .unwrap()
                .payload()
                .len(),
            10
        );
        assert!(encode(&StreamEvent::Chunk(Bytes::new())).is_empty());
    }

    #[test]
    fn invoke_complete_carries_only_the_members_it_has() {
        let ok = encode(&StreamEvent::Complete(InvokeComplete::default()));
        let m = read_message_from(ok[0].clone()).unwrap();
        assert_eq!(header(&m, ":event-type"), "InvokeComplete");
        assert_eq!(header(&m, ":content-type"), "application/json");
        assert_eq!(&m.payload()[..], b"{}");
        let failed = InvokeComplete {
            error_code: Some("Sandbox.Timedout".into()),
            error_details: Some("Task timed out".into()),
            log_result: Some("bG9n".into()),
        };
        let m = read_message_from(encode(&StreamEvent::Complete(failed))[0].clone()).unwrap();
        assert_eq!(
            &m.payload()[..],
            br#"{"ErrorCode":"Sandbox.Timedout","ErrorDetails":"Task timed out","LogResult":"bG9n"}"#
        );
    }
}
