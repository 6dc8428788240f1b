//! No secret leaves: the names of secrets however they are spelled (brackets, `%XX`, short forms),
//! in spans from the macros and the client API and in log lines; the names that only look alike
//! stay visible. (URLs in messages and `OTEL_*` errors are tested beside their code.)

mod common;

use common::Captured;
use common::spans::{attribute, install, of_trace, one};
use obs_runtime::logging::{LoggingConfig, Output};
use obs_runtime::trace::Span;
use obs_runtime::{is_secret_name, trace_operation};
use tracing_subscriber::layer::SubscriberExt as _;

/// Spelled the ways a secret's name arrives.
const SECRET_NAMES: [&str; 12] = [
    "user[password]",
    "pass%77ord",
    "pwd",
    "pass",
    "session",
    "sessionid",
    "auth",
    "accessToken",
    "X-Api-Key",
    "JSESSIONID",
    "X-Amz-Signature",
    "client_secret",
];

/// Alike, but no secrets.
const PLAIN_NAMES: [&str; 7] =
    ["author", "passenger", "authority", "passage", "tokenizer", "sessions_total", "user_id"];

#[test]
fn one_rule_for_every_spelling() {
    for name in SECRET_NAMES {
        assert!(is_secret_name(name), "{name}");
    }
    for name in PLAIN_NAMES {
        assert!(!is_secret_name(name), "{name}");
    }
    // Decided at compile time, as the expansions do.
    const { assert!(is_secret_name("user[password]") && !is_secret_name("author")) };
}

#[trace_operation(args)]
#[allow(non_snake_case)] // `accessToken`, as a JSON body names it
fn sign_in(author: &str, passenger: u32, user_pwd: &str, session_id: &str, accessToken: &str) -> usize {
    obs_runtime::span_attributes!(
        "user[password]" = "S3CRET",
        "pass%77ord" = "S3CRET",
        "authority" = "registry",
        auth = "S3CRET",
    );
    author.len() + passenger as usize + user_pwd.len() + session_id.len() + accessToken.len()
}

#[test]
fn spans_redact_arguments_attributes_and_query_values() {
    install();
    let root = Span::new("secrets_root");
    let trace_id = root.context().expect("installed").trace_id();
    root.in_scope(|| {
        sign_in("ada", 2, "S3CRET", "S3CRET", "S3CRET");
        let query: Vec<String> = SECRET_NAMES.iter().chain(&PLAIN_NAMES).map(|name| format!("{name}=S3CRET")).collect();
        let url = format!("http://user:pw@127.0.0.1:9/path?{}&user%5Bpassword%5D=S3CRET", query.join("&"));
        let mut request = http::Request::get(url).body(()).expect("a request");
        obs_runtime::trace::client_request(&mut request).record_response(200);
    });
    drop(root);
    let spans = of_trace(trace_id);
    let operation = one(&spans, "secrets::sign_in");
    for redacted in ["user_pwd", "session_id", "accessToken", "user[password]", "pass%77ord", "auth"] {
        assert_eq!(attribute(operation, redacted).as_deref(), Some("[REDACTED]"), "{redacted}");
    }
    assert_eq!(attribute(operation, "author").as_deref(), Some("ada"));
    assert_eq!(attribute(operation, "passenger").as_deref(), Some("2"));
    assert_eq!(attribute(operation, "authority").as_deref(), Some("registry"));

    let client = one(&spans, "GET");
    let url = attribute(client, "url.full").expect("url.full");
    assert!(url.starts_with("http://REDACTED:REDACTED@127.0.0.1:9/path?"), "{url}");
    // Every secret's value is gone; the plain names keep theirs.
    assert_eq!(url.matches("S3CRET").count(), PLAIN_NAMES.len(), "{url}");
    for name in PLAIN_NAMES {
        assert!(url.contains(&format!("&{name}=S3CRET")), "{name}: {url}");
    }
    assert!(url.contains("?user[password]=REDACTED&pass%77ord=REDACTED&pwd=REDACTED&"), "{url}");
    assert!(url.ends_with("&user%5Bpassword%5D=REDACTED"), "{url}");
    assert!(!url.contains(":pw@"), "{url}");
}

#[test]
fn log_lines_redact_fields_by_the_same_rule() {
    let output = Captured::default();
    let config = LoggingConfig::new().output(Output::Writer(Box::new(output.clone())));
    let (layer, guard) = common::log_layer("svc", config).expect("starts");
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info!(
            pwd = "S3CRET",
            pass = "S3CRET",
            session = "S3CRET",
            sessionid = "S3CRET",
            auth = "S3CRET",
            accessToken = "S3CRET",
            author = "ada",
            passenger = 2,
            authority = "registry",
            "signed in"
        );
    });
    assert!(guard.flush(), "flushed in time");
    let lines = output.lines();
    let text = lines.join("\n");
    let line: serde_json::Value = serde_json::from_str(&text).expect("one JSON line");
    let metadata = &line["metadata"];
    for redacted in ["pwd", "pass", "session", "sessionid", "auth", "accessToken"] {
        assert_eq!(metadata[redacted], "[REDACTED]", "{redacted}: {text}");
    }
    assert_eq!(metadata["author"], "ada");
    assert_eq!(metadata["passenger"], 2);
    assert_eq!(metadata["authority"], "registry");
    assert!(!text.contains("S3CRET"), "{text}");
}
