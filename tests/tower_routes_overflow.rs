//! Past 1,024 distinct (method, route) pairs the tower layer labels new ones `endpoint="other"`:
//! a router's templates are few, so more means something feeds raw paths. Its own process: the
//! route count is the process's.

mod common;

use common::requests;
use http::{Request, Response};
use obs_runtime::trace::tower::HttpLayer;
use tower::{Layer, ServiceExt};

#[derive(Clone)]
struct Template(String);

fn template_of(extensions: &http::Extensions) -> Option<&str> {
    extensions.get::<Template>().map(|template| template.0.as_str())
}

#[tokio::test]
async fn routes_past_the_limit_share_one_series() {
    let ok = tower::service_fn(|_: Request<()>| async { Ok::<_, std::convert::Infallible>(Response::new(())) });
    let service = HttpLayer::new(template_of).layer(ok);
    for index in 0..1_030 {
        let mut request = Request::builder().method("GET").uri("/").body(()).expect("a request");
        request.extensions_mut().insert(Template(format!("/overflow/{index}")));
        service.clone().oneshot(request).await.expect("infallible");
    }
    assert_eq!(requests("GET", "/overflow/0", "200"), 1.0);
    assert_eq!(requests("GET", "/overflow/1023", "200"), 1.0);
    assert_eq!(requests("GET", "/overflow/1024", "200"), 0.0);
    assert_eq!(requests("GET", "other", "200"), 6.0);
}
