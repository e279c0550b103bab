//! Per-attempt log capture.
//!
//! The runner runs each attempt inside a span `attempt` with an
//! `attempt_id` field. [`CaptureLayer`], installed in the server's tracing
//! subscriber, copies every event inside such a span into a buffer for
//! that attempt; the runner moves the buffer into the store as it goes
//! ([`drain`]). Log text comes from Ferry's own messages, which print URLs
//! with their passwords redacted and never print connection secrets.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};

use ferry_store::control::LogLine;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// The name of the span the runner opens around an attempt.
pub const SPAN: &str = "attempt";
/// Lines kept per attempt before the oldest unsaved are dropped (and a
/// line says so), so a runaway log cannot exhaust memory.
const MAX_BUFFERED: usize = 10_000;

#[derive(Default)]
struct Buffer {
    next_seq: i64,
    lines: Vec<LogLine>,
    dropped: u64,
}

fn buffers() -> &'static Mutex<HashMap<String, Buffer>> {
    static B: OnceLock<Mutex<HashMap<String, Buffer>>> = OnceLock::new();
    B.get_or_init(Default::default)
}

/// Starts capturing for an attempt.
pub fn begin(attempt_id: &str) {
    if let Ok(mut b) = buffers().lock() {
        b.insert(
            attempt_id.to_string(),
            Buffer {
                next_seq: 1,
                ..Buffer::default()
            },
        );
    }
}

/// Takes the lines captured so far.
pub fn drain(attempt_id: &str) -> Vec<LogLine> {
    let Ok(mut b) = buffers().lock() else {
        return Vec::new();
    };
    b.get_mut(attempt_id)
        .map(|buf| std::mem::take(&mut buf.lines))
        .unwrap_or_default()
}

/// Stops capturing and takes the rest.
pub fn end(attempt_id: &str) -> Vec<LogLine> {
    let Ok(mut b) = buffers().lock() else {
        return Vec::new();
    };
    b.remove(attempt_id)
        .map(|buf| buf.lines)
        .unwrap_or_default()
}

fn push(attempt_id: &str, level: &str, message: String) {
    let Ok(mut b) = buffers().lock() else { return };
    let Some(buf) = b.get_mut(attempt_id) else {
        return;
    };
    if buf.lines.len() >= MAX_BUFFERED {
        buf.dropped += 1;
        return;
    }
    if buf.dropped > 0 {
        let seq = buf.next_seq;
        buf.next_seq += 1;
        let dropped = std::mem::take(&mut buf.dropped);
        buf.lines.push(LogLine {
            seq,
            at: ferry_store::format_timestamp(chrono::Utc::now()),
            level: "WARN".into(),
            message: format!("{dropped} log lines dropped (buffer full)"),
        });
    }
    let seq = buf.next_seq;
    buf.next_seq += 1;
    buf.lines.push(LogLine {
        seq,
        at: ferry_store::format_timestamp(chrono::Utc::now()),
        level: level.to_string(),
        message,
    });
}

/// The attempt id recorded on an `attempt` span.
struct AttemptId(String);

#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
    attempt_id: Option<String>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            "attempt_id" => self.attempt_id = Some(format!("{value:?}")),
            name => {
                let _ = write!(self.rest, " {name}={value:?}");
            }
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message.push_str(value),
            "attempt_id" => self.attempt_id = Some(value.to_string()),
            name => {
                let _ = write!(self.rest, " {name}={value}");
            }
        }
    }
}

/// Copies events inside `attempt` spans into that attempt's buffer.
pub struct CaptureLayer;

impl<S> Layer<S> for CaptureLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        if attrs.metadata().name() != SPAN {
            return;
        }
        let mut f = Fields::default();
        attrs.record(&mut f);
        if let (Some(attempt), Some(span)) = (f.attempt_id, ctx.span(id)) {
            span.extensions_mut().insert(AttemptId(attempt));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(scope) = ctx.event_scope(event) else {
            return;
        };
        let attempt = scope
            .into_iter()
            .find_map(|span| span.extensions().get::<AttemptId>().map(|a| a.0.clone()));
        let Some(attempt) = attempt else { return };
        let mut f = Fields::default();
        event.record(&mut f);
        let level = event.metadata().level().to_string();
        push(&attempt, &level, format!("{}{}", f.message, f.rest));
    }
}
