//! Sends one trace to the collector the `OTEL_*` variables name, and says what became of it: a
//! check of an exporter's configuration (endpoint, TLS certificates, proxy, headers, compression)
//! from the command line, before a service depends on it.
//!
//! ```text
//! OTEL_EXPORTER_OTLP_ENDPOINT=https://collector.example.com:4318 \
//! OTEL_EXPORTER_OTLP_CERTIFICATE=/etc/ssl/private-ca.pem \
//! OTEL_EXPORTER_OTLP_COMPRESSION=gzip HTTPS_PROXY=http://proxy.internal:3128 \
//!     cargo run --example otlp_check -- 10
//! ```
//!
//! The argument is how many spans the trace has (3 by default). It prints obs's span counters
//! (`obs_spans_exported_total`, `obs_spans_dropped_total{reason}`) in the Prometheus text format,
//! and why an export failed on stderr; the exit status is 0 when every span was exported, 1 when
//! some were not, 2 when the configuration is refused.

use std::process::ExitCode;

use obs_runtime::trace::{Span, TraceConfig};

fn main() -> ExitCode {
    let spans: u32 = std::env::args().nth(1).and_then(|count| count.parse().ok()).unwrap_or(3).max(1);
    let obs =
        obs_runtime::Obs::builder().service("otlp-check").without_http_server().tracing(TraceConfig::new()).init();
    let obs = match obs {
        Ok(obs) => obs,
        Err(error) => {
            eprintln!("otlp_check: the configuration is refused: {error}");
            return ExitCode::from(2);
        }
    };
    let trace_id = {
        let root = Span::new("otlp_check");
        root.in_scope(|| {
            for index in 1..spans {
                let child = Span::new("otlp_check_child");
                child.set_attribute("index", i64::from(index));
            }
        });
        root.context().map(|context| context.trace_id().to_string())
    };
    let exported = obs.traces().map_or(0, |traces| {
        traces.flush();
        traces.exported()
    });
    obs.shutdown();
    for line in obs_runtime::metrics::encode(obs_runtime::metrics::Format::Text).lines() {
        if line.starts_with("obs_spans_") {
            println!("{line}");
        }
    }
    println!("# trace {}: {exported} of {spans} span(s) exported", trace_id.as_deref().unwrap_or("(not sampled)"));
    if exported == u64::from(spans) { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
