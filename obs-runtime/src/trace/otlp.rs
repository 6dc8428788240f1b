//! OTLP export of spans: `ExportTraceServiceRequest` encoded by hand and sent with
//! [`crate::otlp`]'s transport. Each export is waited for by the span export thread and runs on
//! obs's background runtime.

use std::time::Duration;

use super::data::{SpanData, Status};
use super::export::{ExportError, Resource, SpanExporter};
use crate::otlp::Sender;
use crate::otlp::wire::{self, bytes_field, fixed32_field, fixed64_field, key_value, message, varint_field};

pub(crate) struct OtlpExporter {
    sender: Sender,
    body: Vec<u8>,
    /// The last export's partial success: spans rejected.
    rejected: u64,
}

impl OtlpExporter {
    pub(crate) fn new(sender: Sender) -> OtlpExporter {
        OtlpExporter { sender, body: Vec::new(), rejected: 0 }
    }
}

impl SpanExporter for OtlpExporter {
    fn export(&mut self, batch: &[SpanData], resource: &Resource, timeout: Duration) -> Result<(), ExportError> {
        self.rejected = 0;
        self.body.clear();
        encode_request(&mut self.body, batch, resource);
        let body = self.sender.body(&self.body)?;
        // The request runs on obs's background runtime, driven by its thread; this (the span
        // export thread) only waits for it.
        self.rejected = self.sender.send_blocking(body, timeout, batch.len())?;
        Ok(())
    }

    fn take_rejected(&mut self) -> u64 {
        std::mem::take(&mut self.rejected)
    }
}

/// `ExportTraceServiceRequest { resource_spans: [ResourceSpans { resource, scope_spans:
/// [ScopeSpans { scope: obs, spans }] }] }`.
pub(crate) fn encode_request(out: &mut Vec<u8>, batch: &[SpanData], resource: &Resource) {
    message(out, 1, |out| {
        wire::resource(out, 1, resource);
        message(out, 2, |out| {
            wire::scope(out, 1);
            for span in batch {
                message(out, 2, |out| encode_span(out, span));
            }
        });
    });
}

fn encode_span(out: &mut Vec<u8>, span: &SpanData) {
    bytes_field(out, 1, &span.context.trace_id().to_bytes());
    bytes_field(out, 2, &span.context.span_id().to_bytes());
    if let Some(state) = span.tracestate() {
        bytes_field(out, 3, state.as_bytes());
    }
    if let Some(parent) = span.parent {
        bytes_field(out, 4, &parent.to_bytes());
    }
    bytes_field(out, 5, span.name().as_bytes());
    varint_field(out, 6, span.kind.otlp());
    fixed64_field(out, 7, span.start_unix_nanos);
    fixed64_field(out, 8, span.end_unix_nanos);
    for (name, value) in span.attributes() {
        key_value(out, 9, name, value);
    }
    if span.dropped_attributes > 0 {
        varint_field(out, 10, u64::from(span.dropped_attributes));
    }
    for event in &span.events {
        message(out, 11, |out| {
            fixed64_field(out, 1, event.time_unix_nanos);
            bytes_field(out, 2, event.name.as_bytes());
            for (name, value) in &event.attributes {
                key_value(out, 3, name, value.as_ref());
            }
        });
    }
    if span.dropped_events > 0 {
        varint_field(out, 12, u64::from(span.dropped_events));
    }
    // Link { trace_id = 1, span_id = 2, flags = 6 (fixed32: the W3C trace flags) }.
    for link in &span.links {
        message(out, 13, |out| {
            bytes_field(out, 1, &link.trace_id().to_bytes());
            bytes_field(out, 2, &link.span_id().to_bytes());
            fixed32_field(out, 6, u32::from(link.trace_flags()));
        });
    }
    if span.dropped_links > 0 {
        varint_field(out, 14, u64::from(span.dropped_links));
    }
    // Status { message = 2, code = 3 }: unset 0, ok 1, error 2.
    message(out, 15, |out| match &span.status {
        Status::Unset => {}
        Status::Ok => {
            varint_field(out, 3, 1);
        }
        Status::Error(description) => {
            bytes_field(out, 2, description.as_bytes());
            varint_field(out, 3, 2);
        }
    });
    // Flags: the W3C trace flags (sampled, random) in the low byte, and "the parent is known to
    // be remote or not" left unset.
    fixed32_field(out, 16, u32::from(span.context.trace_flags()));
}
