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
        let (method, url) = (request.method(), request.url());
        let authority = url.authority();
        let target = Target {
            scheme: Some(url.scheme()),
            authority: Some(authority.rsplit('@').next().unwrap_or_default()),
            credentials: authority.contains('@'),
            host: url.host_str(),
            port: url.port_or_known_default(),
            path: url.path(),
            query: url.query(),
        };
        let call = ClientCall::start(method, &target, &mut headers);
        *request.headers_mut() = headers;
        let result = call.span().scope_ref(next.run(request, extensions)).await;
        match &result {
            Ok(response) => call.response(response.status().as_u16()),
            Err(Error::Reqwest(error)) if error.is_timeout() => call.error("timeout", error),
            Err(Error::Reqwest(error)) => call.error(error_type_of(error), error),
            Err(Error::Middleware(error)) => call.error(error_type_of(error.as_ref()), error),
        }
        result
    }
}
