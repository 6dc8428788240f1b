//! The service: its routes, handlers and errors, each handler instrumented with one attribute.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client as LegacyClient;
use hyper_util::client::legacy::connect::HttpConnector;
use obs_runtime::client::{ClientLayer, ClientService};
use obs_runtime::metrics::RequestOutcome;
use obs_runtime::trace::tower::HttpLayer;
use obs_runtime::{trace_operation, track_request};
use serde_json::{Value, json};
use tower::{Layer as _, ServiceExt as _};
use tower_http::trace::{DefaultMakeSpan, TraceLayer};

struct User {
    id: u32,
    name: &'static str,
    email: &'static str,
    /// A demo: a real service stores a password hash, never the password.
    password: &'static str,
}

const USERS: [User; 3] = [
    User { id: 1, name: "ada", email: "ada@example.com", password: "lovelace" },
    User { id: 2, name: "grace", email: "grace@example.com", password: "hopper" },
    User { id: 3, name: "edsger", email: "edsger@example.com", password: "dijkstra" },
];

impl User {
    fn to_json(&self) -> Value {
        json!({ "id": self.id, "name": self.name, "email": self.email })
    }
}

pub(crate) fn app() -> Router {
    Router::new()
        .route("/users", get(list_users))
        .route("/users/{id}", get(get_user))
        .route("/login", post(login))
        // tower-http's span of each request (a `tracing` span, at INFO so that the default filter
        // keeps it): bridged into the request's trace, under the server span; the handlers' spans
        // and log lines are in it.
        .layer(TraceLayer::new_for_http().make_span_with(DefaultMakeSpan::new().level(tracing::Level::INFO)))
        .layer(axum::middleware::from_fn(log_request))
        // Outermost: the server span (the caller's trace, the route template) covers the rest.
        // The handlers record their own metrics with #[track_request], so the layer only traces.
        .layer(
            HttpLayer::new(|extensions| extensions.get::<axum::extract::MatchedPath>().map(|path| path.as_str()))
                .without_metrics(),
        )
}

/// Logs each handled request as one JSON line (method, path, status, duration, a request id),
/// inside the request's server span, so the line carries its `trace_id` and `span_id`.
async fn log_request(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    static REQUESTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let request_id = REQUESTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    let status = response.status().as_u16();
    if status >= 500 {
        tracing::error!(request_id, %method, path, status, duration_ms, "request failed");
    } else {
        tracing::info!(request_id, %method, path, status, duration_ms, "request handled");
    }
    response
}

/// The query string every route reads: `?fail=1` makes the handler fail with a 500.
type Params = Query<HashMap<String, String>>;

// The positional form: method, then endpoint.
#[track_request("GET", "/users")]
async fn list_users(Query(params): Params) -> Result<Json<Value>, ApiError> {
    fail_on_demand(&params)?;
    let users: Vec<Value> = USERS.iter().map(User::to_json).collect();
    Ok(Json(json!({ "users": users })))
}

// The named form. The endpoint is the route's template, so `/users/1` and `/users/999` share the
// series of "/users/{id}". `track_concurrency` keeps `http_requests_in_flight` and
// `active_connections` up to date.
//
// The id is taken as a string so that every request reaches the handler and is recorded: with
// `Path<u32>`, axum would answer `/users/abc` itself, before any instrumented code runs.
#[track_request(method = "GET", endpoint = "/users/{id}", track_concurrency)]
async fn get_user(Path(id): Path<String>, Query(params): Params) -> Result<Json<Value>, ApiError> {
    process_user_request(&id, &params).await.map(Json)
}

// A traced operation: a span with `operation.name`, `operation.status`, and on
// failure `error.message` and an `exception` event; its children are the two calls below.
#[trace_operation("process_user_request")]
async fn process_user_request(user_id: &str, params: &HashMap<String, String>) -> Result<Value, ApiError> {
    obs_runtime::span_attributes!(user_id = user_id);
    fail_on_demand(params)?;
    let id: u32 = user_id.parse().map_err(|_| ApiError::NotFound)?;
    let user = database_query(id).await?;
    let mut body = user.to_json();
    // The profile comes from another service; without it the user is still returned.
    if let Ok(profile) = external_api_call(id).await {
        body["profile"] = profile;
    }
    Ok(body)
}

#[trace_operation("database_query", kind = client, fields(db.system = "postgresql", db.operation.name = "SELECT"))]
async fn database_query(id: u32) -> Result<&'static User, ApiError> {
    fetch_user_row(id).await.ok_or(ApiError::NotFound)
}

/// Stands in for a database driver, which speaks `tracing`: its span joins the trace, under
/// `database_query` (feature `tracing-bridge`).
#[tracing::instrument(level = "info")]
async fn fetch_user_row(id: u32) -> Option<&'static User> {
    // Stands in for the query: a few milliseconds of waiting.
    tokio::time::sleep(Duration::from_millis(3)).await;
    USERS.iter().find(|user| user.id == id)
}

#[trace_operation("external_api_call", kind = client)]
async fn external_api_call(id: u32) -> Result<Value, String> {
    let base = std::env::var("PROFILE_SERVICE_URL").unwrap_or_else(|_| "http://127.0.0.1:8081".to_owned());
    // The base may carry a query (`?api_key=..`): it goes after the path.
    let (base, query) = base.split_once('?').map_or((base.as_str(), None), |(base, query)| (base, Some(query)));
    let url = format!("{}/profiles/{id}", base.trim_end_matches('/'));
    let url = match query {
        Some(query) => format!("{url}?{query}"),
        None => url,
    };
    get_json(&url).await
}

/// The client of the outgoing calls: hyper-util's (pooled connections) with a 2 s budget per
/// call, under obs's client layer, which makes each call's client span, writes its context into
/// the request (the service called joins this trace) and records it in
/// `http_client_request_duration_seconds`.
type Client = ClientService<tower::timeout::Timeout<LegacyClient<HttpConnector, Empty<Bytes>>>>;

fn client() -> Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let client = LegacyClient::builder(hyper_util::rt::TokioExecutor::new()).build_http();
            ClientLayer::new().layer(tower::timeout::Timeout::new(client, Duration::from_secs(2)))
        })
        .clone()
}

/// `GET url`, through [`client`].
async fn get_json(url: &str) -> Result<Value, String> {
    // Never in an error message: the URL may carry a secret.
    let request = axum::http::Request::get(url).body(Empty::new()).map_err(|_| "not a URL".to_owned())?;
    // The span records `url.full` from the whole URL, secrets redacted.
    let response = client().oneshot(request).await.map_err(|error| error.to_string())?;
    let status = response.status();
    let body = response.into_body().collect().await.map_err(|error| error.to_string())?.to_bytes();
    if status != StatusCode::OK {
        return Err(format!("HTTP {}", status.as_u16()));
    }
    serde_json::from_slice(&body).map_err(|error| error.to_string())
}

// Positional, with options: this site's own buckets (logins are slower than lookups) and the
// in-flight gauge.
#[track_request("POST", "/login", buckets = [0.001, 0.005, 0.025, 0.1, 0.5, 2.5], track_concurrency)]
async fn login(Query(params): Params, headers: HeaderMap, body: Bytes) -> Result<Json<Value>, ApiError> {
    fail_on_demand(&params)?;
    let (name, password) = credentials(&headers, &body)?;
    // The password is a field like any other here: obs writes it as "[REDACTED]".
    tracing::info!(user_id = %name, password = %password, "login attempt");
    let Some(user) = USERS.iter().find(|user| user.name == name && user.password == password) else {
        tracing::warn!(user_id = %name, "login failed");
        return Err(ApiError::Unauthorized);
    };
    tracing::info!(user_id = user.id, "User login successful");
    Ok(Json(json!({ "token": format!("demo-token-{}-{}", user.id, user.name), "token_type": "Bearer" })))
}

fn fail_on_demand(params: &HashMap<String, String>) -> Result<(), ApiError> {
    match params.get("fail").map(String::as_str) {
        Some("1" | "true") => Err(ApiError::Internal("failure requested with ?fail=1")),
        _ => Ok(()),
    }
}

/// `user` and `password` from a JSON body (`{"user": .., "password": ..}`) or a form body
/// (`user=..&password=..`), chosen by `Content-Type`.
///
/// The body is read here rather than by axum's `Json` extractor so that a malformed login is
/// answered by the handler, and therefore recorded, like any other failed login.
fn credentials(headers: &HeaderMap, body: &[u8]) -> Result<(String, String), ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let (user, password) = match media_type.as_str() {
        "application/json" => {
            let body: Value =
                serde_json::from_slice(body).map_err(|_| ApiError::BadRequest("the body is not valid JSON"))?;
            let field = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
            (field("user"), field("password"))
        }
        "application/x-www-form-urlencoded" => {
            // A form body is a query string: axum's `Query` decodes it (`+`, `%XX`).
            let mut form = std::str::from_utf8(body)
                .ok()
                .and_then(|body| format!("/?{body}").parse::<axum::http::Uri>().ok())
                .and_then(|uri| Params::try_from_uri(&uri).ok())
                .ok_or(ApiError::BadRequest("the body is not a valid form"))?
                .0;
            (form.remove("user"), form.remove("password"))
        }
        _ => return Err(ApiError::BadRequest("send a JSON or form body with `user` and `password`")),
    };
    match (user, password) {
        (Some(user), Some(password)) => Ok((user, password)),
        _ => Err(ApiError::BadRequest("`user` and `password` are both required")),
    }
}

// ---------------------------------------------------------------------------------------------
// Errors: one type that is both the HTTP response and the recorded status
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
enum ApiError {
    BadRequest(&'static str),
    Unauthorized,
    NotFound,
    Internal(&'static str),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn message(&self) -> &'static str {
        match self {
            ApiError::BadRequest(message) | ApiError::Internal(message) => message,
            ApiError::Unauthorized => "unknown user or wrong password",
            ApiError::NotFound => "no such user",
        }
    }
}

/// What the span's `error.message` says.
impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

/// What the client gets.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status(), Json(json!({ "error": self.message() }))).into_response()
    }
}

/// What `#[track_request]` records in the `status` label: the same code the client gets.
impl RequestOutcome for ApiError {
    fn http_status(&self) -> u16 {
        self.status().as_u16()
    }
}
