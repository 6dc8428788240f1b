//! JSON logs through obs's layer on a local subscriber: the exact schema, correlation with the
//! current context, redaction, escaping of any input, truncation, and nothing lost (or every
//! loss counted) under load.

mod common;

use std::io::Write;
use std::time::Duration;

use common::Captured;
use obs_runtime::context::SpanContext;
use obs_runtime::logging::{FieldValue, LoggingConfig, Output, StructuredLogger};
use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt as _;

/// Runs `log` with obs's layer as the subscriber; returns the lines and the guard's counts.
fn capture(service: &str, config: LoggingConfig, log: impl FnOnce()) -> (Vec<String>, u64, u64) {
    let output = Captured::default();
    let (layer, guard) =
        common::log_layer(service, config.output(Output::Writer(Box::new(output.clone())))).expect("starts");
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), log);
    let counts = finish(guard);
    (output.lines(), counts.0, counts.1)
}

fn finish(guard: common::Logs) -> (u64, u64) {
    assert!(guard.flush(), "flushed in time");
    (guard.written(), guard.dropped())
}

fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|error| panic!("not JSON ({error}): {line}"))
}

/// The line with its timestamp replaced, after checking the timestamp's form.
fn without_timestamp(line: &str) -> String {
    let value = parse(line);
    let timestamp = value["timestamp"].as_str().expect("a timestamp");
    // RFC 3339, UTC, microseconds: 2026-11-29T03:04:05.123456Z
    assert_eq!(timestamp.len(), 27, "{timestamp}");
    assert!(timestamp.ends_with('Z') && &timestamp[10..11] == "T" && &timestamp[19..20] == ".", "{timestamp}");
    line.replace(timestamp, "TIMESTAMP")
}

#[test]
fn a_login_line_has_the_documented_schema_exactly() {
    let (lines, written, dropped) = capture("user-service", LoggingConfig::new(), || {
        tracing::info!(user_id = "12345", ip_address = "192.168.1.1", duration_ms = 150, "User login successful");
    });
    assert_eq!((written, dropped), (1, 0));
    assert_eq!(
        without_timestamp(&lines[0]),
        r#"{"timestamp":"TIMESTAMP","service":"user-service","level":"INFO","message":"User login successful","trace_id":null,"span_id":null,"user_id":"12345","request_id":null,"metadata":{"ip_address":"192.168.1.1","duration_ms":150}}"#
    );
}

#[test]
fn json_types_are_kept_and_levels_named() {
    let (lines, ..) = capture("svc", LoggingConfig::new().filter("trace"), || {
        tracing::warn!(
            request_id = 42u64,
            ratio = 0.25,
            ok = false,
            negative = -7i64,
            error = &std::io::Error::other("disk full") as &dyn std::error::Error,
            debug = ?vec![1, 2],
            display = %"shown",
            "careful"
        );
        tracing::error!("e");
        tracing::debug!("d");
    });
    let first = parse(&lines[0]);
    assert_eq!(first["level"], "WARN");
    assert_eq!(first["request_id"], 42);
    let metadata = &first["metadata"];
    assert_eq!(metadata["ratio"], 0.25);
    assert_eq!(metadata["ok"], false);
    assert_eq!(metadata["negative"], -7);
    assert_eq!(metadata["error"], "disk full");
    assert_eq!(metadata["debug"], "[1, 2]");
    assert_eq!(metadata["display"], "shown");
    assert_eq!(parse(&lines[1])["level"], "ERROR");
    assert_eq!(parse(&lines[2])["level"], "DEBUG");
}

#[test]
fn trace_and_span_ids_come_from_the_current_context() {
    let context =
        SpanContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").expect("valid");
    let (lines, ..) = capture("svc", LoggingConfig::new(), || {
        tracing::info!("outside");
        {
            let _attached = context.attach();
            tracing::info!("inside");
        }
        // A field of that name wins (a caller may pass trace_id explicitly).
        tracing::info!(trace_id = "abc-123", "explicit");
    });
    assert_eq!(parse(&lines[0])["trace_id"], Value::Null);
    let inside = parse(&lines[1]);
    assert_eq!(inside["trace_id"], context.trace_id().to_string());
    assert_eq!(inside["span_id"], context.span_id().to_string());
    assert_eq!(parse(&lines[2])["trace_id"], "abc-123");
}

#[test]
fn secrets_are_redacted_top_level_nested_and_by_pattern() {
    let logger = StructuredLogger::new();
    let (lines, ..) = capture("svc", LoggingConfig::new().also_redact(&["pin"]).mask_values(true), || {
        tracing::info!(
            password = "hunter2",
            Authorization = "Bearer abc",
            user.password = "nested",
            pin = 1234,
            note = "paid with 4111 1111 1111 1111, header Bearer eyJhbGciOi.x",
            "login"
        );
        logger.info(
            "structured",
            &[
                ("user", FieldValue::Object(vec![("name", "ada".into()), ("api_key", "k-123".into())])),
                ("token", "t".into()),
                ("attempts", 3.into()),
            ],
        );
    });
    let first = parse(&lines[0]);
    let metadata = &first["metadata"];
    assert_eq!(metadata["password"], "[REDACTED]");
    assert_eq!(metadata["Authorization"], "[REDACTED]");
    assert_eq!(metadata["user.password"], "[REDACTED]");
    assert_eq!(metadata["pin"], "[REDACTED]");
    assert_eq!(metadata["note"], "paid with **** **** **** 1111, header Bearer [REDACTED]");
    assert!(!lines[0].contains("hunter2") && !lines[0].contains("eyJhbGciOi"), "{}", lines[0]);
    let second = parse(&lines[1]);
    assert_eq!(second["service"], "svc");
    assert_eq!(second["metadata"]["user"]["name"], "ada");
    assert_eq!(second["metadata"]["user"]["api_key"], "[REDACTED]");
    assert_eq!(second["metadata"]["token"], "[REDACTED]");
    assert_eq!(second["metadata"]["attempts"], 3);
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn string(&mut self) -> String {
        const PIECES: &[&str] = &[
            "a",
            "Z",
            " ",
            "\"",
            "\\",
            "\n",
            "\r",
            "\t",
            "\u{0}",
            "\u{1f}",
            "\u{7f}",
            "é",
            "中",
            "🦀",
            "\u{2028}",
            "\u{feff}",
            "{",
            "}",
            "[",
            "]",
            ":",
            ",",
            "null",
            "\\u0000",
            "</script>",
        ];
        let length = (self.next() % 40) as usize;
        (0..length).map(|_| PIECES[(self.next() % PIECES.len() as u64) as usize]).collect()
    }
}

#[test]
fn arbitrary_strings_always_give_valid_json_and_round_trip() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let inputs: Vec<(String, String)> = (0..2000).map(|_| (rng.string(), rng.string())).collect();
    let logger = StructuredLogger::new();
    let (lines, written, dropped) = capture("svc", LoggingConfig::new(), || {
        for (message, value) in &inputs {
            tracing::info!(field = value.as_str(), debug = ?value, "{message}");
            logger.warn(message, &[(value.as_str(), value.as_str().into())]);
        }
    });
    assert_eq!((written, dropped), (4000, 0));
    for (pair, (message, value)) in lines.chunks(2).zip(&inputs) {
        let event = parse(&pair[0]);
        assert_eq!(event["message"], message.as_str());
        assert_eq!(event["metadata"]["field"], value.as_str());
        assert_eq!(event["metadata"]["debug"], format!("{value:?}"));
        let structured = parse(&pair[1]);
        assert_eq!(structured["message"], message.as_str());
    }
}

#[test]
fn invalid_utf8_bytes_and_huge_values_stay_valid_json() {
    let huge = "x".repeat(1_000_000);
    let (lines, ..) = capture("svc", LoggingConfig::new().max_line_bytes(1024), || {
        tracing::info!(raw = &b"ok\xff\xfe"[..], "bytes");
        tracing::info!(big = ?huge, after = 1, "{huge}");
    });
    assert_eq!(parse(&lines[0])["metadata"]["raw"], "ok\u{fffd}\u{fffd}");
    let cut = parse(&lines[1]);
    assert!(lines[1].len() <= 1024 + 64, "{} bytes", lines[1].len());
    assert_eq!(cut["truncated"], true);
    assert!(cut["message"].as_str().expect("a string").ends_with("...[truncated]"));
}

#[test]
fn eight_threads_lose_nothing_with_a_large_enough_buffer() {
    const THREADS: u64 = 8;
    const LINES: u64 = 100_000;
    let output = Captured::default();
    let config = LoggingConfig::new().buffer_bytes(512 << 20).output(Output::Writer(Box::new(output.clone())));
    let (layer, guard) = common::log_layer("svc", config).expect("starts");
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let dispatch = dispatch.clone();
            std::thread::spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    for line in 0..LINES {
                        tracing::info!(thread, line, user_id = "u-1", "line");
                    }
                });
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("no panic");
    }
    let (written, dropped) = finish(guard);
    assert_eq!((written, dropped), (THREADS * LINES, 0));
    let lines = output.lines();
    assert_eq!(lines.len() as u64, THREADS * LINES);
    // Every line parses, and each thread's lines arrive complete and in order.
    let mut next = vec![0u64; THREADS as usize];
    for line in &lines {
        let value = parse(line);
        let thread = value["metadata"]["thread"].as_u64().expect("thread") as usize;
        assert_eq!(value["metadata"]["line"].as_u64(), Some(next[thread]), "{line}");
        next[thread] += 1;
    }
    assert!(next.iter().all(|&count| count == LINES));
}

/// A writer stuck like a hung disk until the test opens its gate; its first write tells the test
/// it has started (and so holds the batch it took).
struct Held {
    output: Captured,
    started: Option<std::sync::mpsc::Sender<()>>,
    gate: std::sync::Arc<std::sync::RwLock<()>>,
}

impl Write for Held {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Some(started) = self.started.take() {
            let _ = started.send(());
        }
        drop(self.gate.read());
        self.output.write(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_full_buffer_drops_lines_without_blocking_and_counts_every_one() {
    // Catches: a full buffer that blocks the caller, keeps more than its capacity, or drops lines
    // without counting them (in the guard and in obs_log_lines_dropped_total{reason="buffer_full"}).
    const LOGGED: u64 = 2_000;
    const BUFFER: usize = 1024;
    let output = Captured::default();
    let gate = std::sync::Arc::new(std::sync::RwLock::new(()));
    let shut = gate.write().expect("the gate");
    let (started, has_started) = std::sync::mpsc::channel();
    let writer = Held { output: output.clone(), started: Some(started), gate: gate.clone() };
    let config = LoggingConfig::new().buffer_bytes(BUFFER).max_line_bytes(512);
    let (layer, guard) = common::log_layer("svc", config.output(Output::Writer(Box::new(writer)))).expect("starts");
    let buffer_full = || common::sample(&common::scrape(), "obs_log_lines_dropped_total", &[("reason", "buffer_full")]);
    let full_before = buffer_full().expect("registered with the layer");
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        // Line numbers of one width: every line is as long as the first.
        tracing::info!(line = 10_000u64, "line");
        has_started.recv_timeout(Duration::from_secs(60)).expect("the writer took the first line");
        // The writer is stuck with the first line: the rest go to the empty buffer or are dropped.
        for line in 1..LOGGED {
            tracing::info!(line = 10_000 + line, "line");
        }
    });
    let dropped_while_stuck = guard.dropped();
    drop(shut);
    let (written, dropped) = finish(guard);
    let lines = output.lines();
    // What fit: as many whole lines (with their newline) as the buffer holds, after the first.
    let length = lines[0].len() + 1;
    assert!(lines.iter().all(|line| line.len() + 1 == length), "{lines:?}");
    let fit = (BUFFER / length) as u64;
    assert_eq!((written, dropped, dropped_while_stuck), (1 + fit, LOGGED - 1 - fit, LOGGED - 1 - fit));
    let numbers: Vec<u64> = lines.iter().map(|line| parse(line)["metadata"]["line"].as_u64().expect("line")).collect();
    assert_eq!(numbers, (10_000..10_001 + fit).collect::<Vec<_>>());
    // This file's only test that fills a buffer: the scrape's counter moved by exactly as much.
    assert_eq!(buffer_full(), Some(full_before + dropped as f64));
}

#[test]
fn bad_configuration_is_an_err_naming_the_setting() {
    let error = common::log_layer("svc", LoggingConfig::new().buffer_bytes(10)).expect_err("tiny buffer");
    assert!(error.to_string().contains("buffer_bytes"), "{error}");
    let error = common::log_layer("svc", LoggingConfig::new().max_line_bytes(10)).expect_err("tiny lines");
    assert!(error.to_string().contains("max_line_bytes"), "{error}");
    let error = common::log_layer("", LoggingConfig::new()).expect_err("no service");
    assert!(error.to_string().contains("service"), "{error}");
    let missing = std::env::temp_dir().join("obs-no-such-dir").join("app.log");
    let error = common::log_layer("svc", LoggingConfig::new().output(Output::file(&missing))).expect_err("no dir");
    assert!(error.to_string().contains("obs-no-such-dir"), "{error}");
}

/// A random value: strings, numbers (floats too), booleans, nulls, nested objects.
fn random_value(rng: &mut Rng, depth: u32) -> FieldValue<'static> {
    match rng.next() % if depth > 2 { 6 } else { 8 } {
        0 => FieldValue::String(rng.string()),
        1 => FieldValue::I64(rng.next() as i64),
        2 => FieldValue::F64(f64::from_bits(rng.next() >> 2) * if rng.next().is_multiple_of(2) { 1.0 } else { -1.0 }),
        3 => FieldValue::F64(0.1 + (rng.next() % 1000) as f64 / 7.0),
        4 => FieldValue::Bool(rng.next().is_multiple_of(2)),
        5 => FieldValue::Null,
        _ => {
            let entries =
                (0..rng.next() % 40).map(|index| (KEYS[index as usize % KEYS.len()], random_value(rng, depth + 1)));
            FieldValue::Object(entries.collect())
        }
    }
}

const KEYS: &[&str] = &["a", "password", "nested \"key\"", "n", "message", "trace_id", "é\n"];

#[test]
fn any_fields_at_any_limit_give_valid_json() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for limit in [512usize, 700, 1024, 4096] {
        let logger = StructuredLogger::new();
        let events: Vec<(String, Vec<(&str, FieldValue<'static>)>)> = (0..300)
            .map(|_| {
                let fields = (0..rng.next() % 12)
                    .map(|index| (KEYS[index as usize % KEYS.len()], random_value(&mut rng, 0)))
                    .collect();
                (rng.string().repeat((rng.next() % 20) as usize), fields)
            })
            .collect();
        let (lines, written, dropped) = capture("svc", LoggingConfig::new().max_line_bytes(limit), || {
            for (message, fields) in &events {
                logger.info(message, fields);
                tracing::info!(ratio = 0.30000000000000004, big = f64::MAX, nan = f64::NAN, "{message}");
            }
        });
        assert_eq!((written, dropped), (600, 0), "limit {limit}");
        for line in &lines {
            parse(line);
            assert!(line.len() <= limit + 96, "limit {limit}: a line of {} bytes", line.len());
        }
    }
}

#[test]
fn a_field_given_twice_counts_once_and_the_last_wins() {
    let logger = StructuredLogger::new();
    let (lines, ..) = capture("svc", LoggingConfig::new(), || {
        logger.info("first", &[("message", "second".into()), ("user_id", 1.into()), ("user_id", 2.into())]);
    });
    let line = parse(&lines[0]);
    assert_eq!(line["message"], "second");
    assert_eq!(line["user_id"], 2);
}

#[test]
fn an_explicit_trace_id_replaces_both_ids_of_the_context() {
    let context =
        SpanContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").expect("valid");
    let (lines, ..) = capture("svc", LoggingConfig::new(), || {
        let _attached = context.attach();
        tracing::info!(trace_id = "abc-123", "explicit");
    });
    let line = parse(&lines[0]);
    assert_eq!(line["trace_id"], "abc-123");
    assert_eq!(line["span_id"], Value::Null, "a span id of another trace would mislead");
}

/// A writer that panics on its first batch, then works.
struct PanicsOnce(Captured, bool);

impl Write for PanicsOnce {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if !self.1 {
            self.1 = true;
            panic!("the disk driver panicked");
        }
        self.0.write(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_writer_that_panics_costs_its_batch_not_the_logger() {
    let output = Captured::default();
    let config = LoggingConfig::new().output(Output::Writer(Box::new(PanicsOnce(output.clone(), false))));
    let (layer, guard) = common::log_layer("svc", config).expect("starts");
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info!("lost with the panicking batch");
        assert!(guard.flush(), "the writer thread survived");
        tracing::info!("written after it");
    });
    let (written, dropped) = finish(guard);
    assert_eq!((written, dropped), (1, 1));
    let lines = output.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(parse(&lines[0])["message"], "written after it");
}
