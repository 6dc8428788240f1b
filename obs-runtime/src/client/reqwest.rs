//! [`ObsMiddleware`]: the client middleware for `reqwest` through `reqwest-middleware`
//! (feature `reqwest`).

use reqwest_middleware::reqwest::{Request, Response};
use reqwest_middleware::{Error, Middleware, Next, Result};

use super::{ClientCall, Target, error_type_of};

/// A `reqwest-middleware` middleware: each request gets a client span (the current span its
/// parent) whose context it carries in the configured propagators' headers, and is recorded in
/// `http_client_request_duration_seconds` (see the [module](super)); `reqwest`'s own timeout is
/// `error_type="timeout"`.
///
/// ```
/// use obs_runtime::client::reqwest::ObsMiddleware;
///
/// # async fn run() -> Result<(), reqwest_middleware::Error> {
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new()).with(ObsMiddleware::new()).build();
/// let response = client.get("http://127.0.0.1:8081/profiles/1").send().await?;
/// # drop(response);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct ObsMiddleware {
    _private: (),
}

impl ObsMiddleware {
    /// The middleware.
    pub fn new() -> ObsMiddleware {
        ObsMiddleware { _private: () }
    }
}

/// Where a request to `url` goes.
fn target_of(url: &reqwest_middleware::reqwest::Url) -> Target<'_> {
    let authority = url.authority();
    Target {
        scheme: Some(url.scheme()),
        authority: Some(authority.rsplit('@').next().unwrap_or_default()),
        credentials: authority.contains('@'),
        host: url.host_str(),
        port: url.port_or_known_default(),
        path: url.path(),
        query: url.query(),
    }
}

#[async_trait::async_trait]
impl Middleware for ObsMiddleware {
    async fn handle(
        &self,
        mut request: Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> Result<Response> {
        // The headers apart while the URL is read (no copy of either).
        let mut headers = std::mem::take(request.headers_mut());
        let call = ClientCall::start(request.method(), &target_of(request.url()), &mut headers);
        *request.headers_mut() = headers;
        let result = call.span().scope_ref(next.run(request, extensions)).await;
        match &result {
            Ok(response) => call.response(response.status().as_u16()),
            Err(Error::Reqwest(error)) => {
                let error_type = if error.is_timeout() { "timeout" } else { error_type_of(error) };
                // reqwest's message ends with `for url (..)`, the whole URL: written with its
                // secrets redacted, as `url.full` is.
                let mut message = error.to_string();
                if let Some(url) = error.url() {
                    message = message.replace(url.as_str(), &target_of(url).url_full());
                }
                call.error(error_type, &message);
            }
            // Another middleware's error: its message may hold anything, the URL included.
            Err(Error::Middleware(error)) => {
                call.error(error_type_of(error.as_ref()), &"a middleware failed (its message is not recorded)");
            }
        }
        result
    }
}
