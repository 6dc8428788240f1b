//! [`ClientLayer`]: the client middleware as a `tower` layer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response};

use super::{ClientCall, Target, error_type_of};
pub use crate::rpc::ResponseBody;
use crate::rpc::{RpcCall, Side};
use crate::trace::{Span, SpanKind};

/// The error of a [`ClientService`]: the inner service's, boxed, as `tower`'s own middleware
/// (`Timeout`, `ConcurrencyLimit`) return it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A `tower` layer for HTTP clients: each request gets a client span (the current span its
/// parent) whose context it carries in the configured propagators' headers, and is recorded in
/// `http_client_request_duration_seconds` (see the [module](super)). Over a gRPC channel (tonic's
/// `Channel`), a call (by its content type) is read as gRPC instead: its span by the RPC
/// conventions, its status from `grpc-status`, recorded in `rpc_client_duration_seconds` (see
/// [`crate::rpc`]). Put it outside a timeout
/// layer, so that the timeout reaches it as an error (`error_type="timeout"`) rather than as a
/// dropped call (`cancelled`).
///
/// ```
/// use http_body_util::Empty;
/// use hyper::body::Bytes;
/// use obs_runtime::client::ClientLayer;
/// use tower::{Layer, ServiceExt};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
///     .build_http::<Empty<Bytes>>();
/// let client = ClientLayer::new().layer(client);
/// let request = http::Request::get("http://127.0.0.1:8081/profiles/1").body(Empty::new())?;
/// let response = client.oneshot(request).await?;
/// # drop(response);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct ClientLayer {
    /// Where requests without a host go (a tonic channel's endpoint).
    origin: Option<http::Uri>,
}

impl ClientLayer {
    /// The layer.
    pub fn new() -> ClientLayer {
        ClientLayer { origin: None }
    }

    /// The server that requests naming no host go to, for their spans' `server.address` and
    /// `server.port` (and `url.full`): a tonic channel's endpoint, since the requests of tonic's
    /// clients carry only their path (`/package.Service/Method`) until the channel sends them.
    ///
    /// ```
    /// use obs_runtime::client::ClientLayer;
    ///
    /// let layer = ClientLayer::new().origin("http://127.0.0.1:50051".parse().unwrap());
    /// # drop(layer);
    /// ```
    pub fn origin(mut self, origin: http::Uri) -> ClientLayer {
        self.origin = Some(origin);
        self
    }
}

impl<S> tower_layer::Layer<S> for ClientLayer {
    type Service = ClientService<S>;

    fn layer(&self, inner: S) -> ClientService<S> {
        ClientService { inner, origin: self.origin.clone() }
    }
}

/// The service [`ClientLayer`] wraps around a client.
#[derive(Clone, Debug)]
pub struct ClientService<S> {
    inner: S,
    origin: Option<http::Uri>,
}

impl<S, B, ResB> tower_service::Service<Request<B>> for ClientService<S>
where
    S: tower_service::Service<Request<B>, Response = Response<ResB>>,
    S::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<ResB>>;
    type Error = BoxError;
    type Future = ClientFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<B>) -> ClientFuture<S::Future> {
        let uri = request.uri().clone();
        // A request naming no host goes to the origin, if one was given.
        let mut target = Target::of_uri(&uri);
        if target.host.is_none()
            && let Some(origin) = &self.origin
        {
            let from = Target::of_uri(origin);
            target =
                Target { scheme: from.scheme, authority: from.authority, host: from.host, port: from.port, ..target };
        }
        let call = if crate::rpc::is_grpc(request.headers()) {
            let span = Span::builder(crate::rpc::span_name(&uri)).kind(SpanKind::Client).start();
            if span.is_recording() {
                crate::rpc::set_attributes(&span, &uri);
                target.set_server_attributes(&span);
            }
            crate::trace::propagation::inject_span(&span, request.headers_mut());
            Call::Rpc(RpcCall::new(span, Side::Client, &uri, true))
        } else {
            let method = request.method().clone();
            Call::Http(ClientCall::start(&method, &target, request.headers_mut()))
        };
        let future = call.span().in_scope(|| self.inner.call(request));
        ClientFuture { future, call: Some(call) }
    }
}

/// An HTTP call or a gRPC call.
#[derive(Debug)]
enum Call {
    Http(ClientCall),
    Rpc(RpcCall),
}

impl Call {
    fn span(&self) -> &Span {
        match self {
            Call::Http(call) => call.span(),
            Call::Rpc(call) => call.span(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`ClientService`]: in the call's span at each poll; records the
    /// span and the metrics when it completes (or, dropped first, as `cancelled`; a gRPC call
    /// whose status comes in the trailers, when its [`ResponseBody`] passes them).
    #[derive(Debug)]
    pub struct ClientFuture<F> {
        #[pin]
        future: F,
        call: Option<Call>,
    }
}

impl<F, ResB, E> Future for ClientFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<ResponseBody<ResB>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let output = match this.call {
            Some(call) => {
                let _in_span = call.span().enter();
                std::task::ready!(this.future.poll(cx))
            }
            None => std::task::ready!(this.future.poll(cx)),
        };
        let output = output.map_err(Into::into);
        Poll::Ready(match (this.call.take(), output) {
            (Some(Call::Http(call)), Ok(response)) => {
                call.response(response.status().as_u16());
                Ok(response.map(ResponseBody::plain))
            }
            (Some(Call::Rpc(call)), Ok(response)) => Ok(call.respond(response)),
            (Some(Call::Http(call)), Err(error)) => {
                call.error(error_type_of(&*error), &error);
                Err(error)
            }
            (Some(Call::Rpc(call)), Err(error)) => {
                let error_type = error_type_of(&*error);
                call.fail(crate::rpc::code_of_error(&*error, error_type), error_type, &error);
                Err(error)
            }
            (None, output) => output.map(|response| response.map(ResponseBody::plain)),
        })
    }
}
