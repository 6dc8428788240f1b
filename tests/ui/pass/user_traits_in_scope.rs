// A trait of the user's in scope, with methods of the names the expansions call, taking `self`
// and implemented for every type (so found before an inherent `&self` method of the same name),
// is not what they call: the site's methods and the probes' are prefixed, the site's builder
// methods take `self` (an inherent method by value is found before a trait's), and the span's
// are called by path (in `span_attributes!` too).
#![deny(warnings)]

#[allow(dead_code)]
trait Everything: Sized {
    fn start(self) -> u8 {
        0
    }
    fn finish(self, _: u8, _: u8, _: u8) -> u8 {
        0
    }
    fn start_span(self, _: u8) -> u8 {
        0
    }
    fn finish_traced(self, _: u8, _: u8, _: u8, _: u8) -> u8 {
        0
    }
    fn with_buckets(self, _: u8) -> u8 {
        0
    }
    fn with_concurrency(self) -> u8 {
        0
    }
    fn with_error_log(self) -> u8 {
        0
    }
    fn enter(self) -> u8 {
        0
    }
    fn scope_ref(self, _: u8) -> u8 {
        0
    }
    fn is_recording(self) -> u8 {
        0
    }
    fn set_attribute(self, _: u8, _: u8) -> u8 {
        0
    }
}

impl<T> Everything for T {}

#[obs_runtime::track_request("GET", "/plain")]
fn plain(x: u64) -> Result<u64, String> {
    if x == 0 { Err("zero".to_owned()) } else { Ok(x) }
}

#[obs_runtime::track_request("GET", "/options", buckets = [0.1, 1], track_concurrency, log_errors)]
fn with_options(x: u64) -> u64 {
    x + 1
}

#[obs_runtime::track_request("GET", "/traced", trace)]
fn traced(x: u64) -> Result<u64, std::io::Error> {
    Ok(x)
}

#[obs_runtime::track_request("GET", "/traced-async", trace)]
async fn traced_async(x: u64) -> Result<u64, std::io::Error> {
    Ok(x)
}

#[obs_runtime::trace_operation("op", args, ret)]
fn operation(id: u64) -> u64 {
    id + 1
}

#[obs_runtime::trace_operation("op_async")]
async fn operation_async(id: u64) -> u64 {
    id + 1
}

#[obs_runtime::trace_operation("op_secret", args, unredacted(token_count))]
fn operation_unredacted(token_count: u32) -> u32 {
    obs_runtime::span_attributes!(user_id = 7, "db.system" = "postgresql", password = "hidden");
    token_count
}

#[obs_runtime::trace_operation("op_future")]
fn operation_future() -> impl std::future::Future<Output = u32> {
    async { 1 }
}

#[obs_runtime::track_request("GET", "/future", trace)]
fn request_future() -> impl std::future::Future<Output = Result<u32, std::io::Error>> {
    async { Ok(1) }
}

fn main() {
    drop(traced_async(1));
    drop(operation_async(1));
    drop(operation_future());
    drop(request_future());
    assert_eq!(operation_unredacted(3), 3);
    assert_eq!(operation(1), 2);
    assert_eq!(plain(1), Ok(1));
    assert_eq!(with_options(1), 2);
    assert_eq!(traced(1).ok(), Some(1));
}
