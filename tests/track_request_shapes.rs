//! Bodies that only compile when the wrapped body keeps the exact meaning it had unwrapped:
//! borrows handed out of `&mut self`, coercions to the declared return type through `return` and
//! `?`, and functions that return a future instead of being `async`.

#![deny(warnings)]

mod common;

use std::collections::HashMap;
use std::error::Error;
use std::future::Future;
use std::pin::Pin;

#[cfg(feature = "metrics")]
use common::{duration_count, requests};
use obs_runtime::track_request;

#[derive(Debug)]
struct Missing;

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("missing")
    }
}

impl Error for Missing {}

#[derive(Default)]
struct Cache {
    items: HashMap<u32, Vec<String>>,
    hits: u32,
}

impl Cache {
    // Returns a borrow of captured `self`: needs the body to run as an `FnOnce`.
    #[track_request("PUT", "/shapes/entry")]
    fn entry(&mut self, key: u32) -> &mut Vec<String> {
        self.hits += 1;
        self.items.entry(key).or_default()
    }

    #[track_request("GET", "/shapes/items")]
    fn items_mut(&mut self) -> Result<&mut HashMap<u32, Vec<String>>, Missing> {
        if self.items.is_empty() {
            return Err(Missing);
        }
        Ok(&mut self.items)
    }
}

// `return Err(Box::new(..))` coerces to `Box<dyn Error>` only if the declared type reaches it.
#[track_request("GET", "/shapes/boxed-error")]
fn boxed_error(input: &str) -> Result<u32, Box<dyn Error>> {
    if input.is_empty() {
        return Err(Box::new(Missing));
    }
    Ok(input.parse::<u32>()?)
}

#[track_request("GET", "/shapes/async-boxed-error")]
async fn async_boxed_error(input: &str) -> Result<u32, Box<dyn Error + Send + Sync>> {
    if input.is_empty() {
        return Err(Box::new(Missing));
    }
    tokio::task::yield_now().await;
    Ok(input.parse::<u32>()?)
}

#[track_request("GET", "/shapes/async-dyn")]
async fn async_dyn(verbose: bool) -> &'static dyn std::fmt::Display {
    if verbose {
        return &"a long description";
    }
    &7
}

// A future built by a plain fn: the request is the future's run, not its construction. (The shape
// is the point: clippy would rewrite it as an `async fn`, which the attribute leaves it as when off.)
#[track_request("GET", "/shapes/impl-future")]
#[allow(clippy::manual_async_fn)]
fn impl_future(fail: bool) -> impl Future<Output = Result<u32, Missing>> + Send {
    async move {
        tokio::task::yield_now().await;
        if fail { Err(Missing) } else { Ok(3) }
    }
}

trait Repository {
    fn load(&self, id: u32) -> Pin<Box<dyn Future<Output = Result<String, Missing>> + Send + '_>>;
}

struct Users(Vec<String>);

// The shape `#[async_trait]` gives an `async fn` in a trait impl.
impl Repository for Users {
    #[track_request("GET", "/shapes/boxed-future")]
    fn load(&self, id: u32) -> Pin<Box<dyn Future<Output = Result<String, Missing>> + Send + '_>> {
        Box::pin(async move { self.0.get(id as usize).cloned().ok_or(Missing) })
    }
}

#[test]
fn a_body_may_return_borrows_of_mut_self() {
    let mut cache = Cache::default();
    assert_eq!(cache.items_mut().err().map(|e| e.to_string()), Some("missing".to_owned()));
    cache.entry(1).push("ada".to_owned());
    cache.entry(1).push("grace".to_owned());
    assert_eq!(cache.items_mut().expect("not empty")[&1], ["ada", "grace"]);
    assert_eq!(cache.hits, 2);
    common::assert_recorded!(requests("PUT", "/shapes/entry", "200"), 2.0);
    common::assert_recorded!(requests("GET", "/shapes/items", "500"), 1.0);
    common::assert_recorded!(requests("GET", "/shapes/items", "200"), 1.0);
}

#[test]
fn return_coerces_to_the_declared_type() {
    assert_eq!(boxed_error("").err().map(|e| e.to_string()).as_deref(), Some("missing"));
    assert!(boxed_error("x").is_err());
    assert_eq!(boxed_error("4").ok(), Some(4));
    common::assert_recorded!(requests("GET", "/shapes/boxed-error", "500"), 2.0);
    common::assert_recorded!(requests("GET", "/shapes/boxed-error", "200"), 1.0);
}

#[tokio::test]
async fn return_coerces_to_the_declared_type_in_async_fns() {
    assert_eq!(async_boxed_error("").await.err().map(|e| e.to_string()).as_deref(), Some("missing"));
    assert!(async_boxed_error("x").await.is_err());
    assert_eq!(async_boxed_error("5").await.ok(), Some(5));
    assert_eq!(async_dyn(true).await.to_string(), "a long description");
    assert_eq!(async_dyn(false).await.to_string(), "7");
    common::assert_recorded!(requests("GET", "/shapes/async-boxed-error", "500"), 2.0);
    common::assert_recorded!(requests("GET", "/shapes/async-boxed-error", "200"), 1.0);
    common::assert_recorded!(requests("GET", "/shapes/async-dyn", "200"), 2.0);
}

#[tokio::test]
async fn a_returned_future_is_recorded_when_it_completes() {
    let pending = impl_future(true);
    let boxed = Users(vec!["ada".to_owned()]);
    let pending_boxed = boxed.load(0);
    // Built, not run: nothing recorded yet.
    common::assert_recorded!(duration_count("GET", "/shapes/impl-future"), 0.0);
    common::assert_recorded!(duration_count("GET", "/shapes/boxed-future"), 0.0);
    assert!(pending.await.is_err());
    assert_eq!(impl_future(false).await.ok(), Some(3));
    assert_eq!(pending_boxed.await.ok().as_deref(), Some("ada"));
    assert!(boxed.load(9).await.is_err());
    // The status comes from the future's output, not from the future.
    common::assert_recorded!(requests("GET", "/shapes/impl-future", "500"), 1.0);
    common::assert_recorded!(requests("GET", "/shapes/impl-future", "200"), 1.0);
    common::assert_recorded!(requests("GET", "/shapes/boxed-future", "200"), 1.0);
    common::assert_recorded!(requests("GET", "/shapes/boxed-future", "500"), 1.0);
}

/// The `futures` crate's alias, recognised by name.
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[track_request("GET", "/shapes/box-future-alias")]
fn box_future_alias(fail: bool) -> BoxFuture<'static, Result<(), Missing>> {
    Box::pin(async move { if fail { Err(Missing) } else { Ok(()) } })
}

/// Its alias for futures that are not `Send`, recognised by name too.
type LocalBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

#[track_request("GET", "/shapes/local-box-future-alias")]
fn local_box_future_alias(fail: bool) -> LocalBoxFuture<'static, Result<(), Missing>> {
    // Not `Send`: the reason for the alias.
    let fail = std::rc::Rc::new(fail);
    Box::pin(async move { if *fail { Err(Missing) } else { Ok(()) } })
}

// `Unpin` is promised: the wrapped future is boxed to keep the promise.
#[track_request("GET", "/shapes/unpin-future")]
fn unpin_future(value: u32) -> impl Future<Output = u32> + Unpin {
    std::future::ready(value)
}

#[tokio::test]
async fn aliases_and_unpin_futures_are_timed_over_their_run() {
    assert!(box_future_alias(true).await.is_err());
    assert!(box_future_alias(false).await.is_ok());
    assert!(local_box_future_alias(true).await.is_err());
    assert!(local_box_future_alias(false).await.is_ok());
    let mut unpin = unpin_future(4);
    // Usable where `Unpin` is required.
    assert_eq!((&mut unpin).await, 4);
    common::assert_recorded!(requests("GET", "/shapes/box-future-alias", "500"), 1.0);
    common::assert_recorded!(requests("GET", "/shapes/box-future-alias", "200"), 1.0);
    common::assert_recorded!(requests("GET", "/shapes/local-box-future-alias", "500"), 1.0);
    common::assert_recorded!(requests("GET", "/shapes/local-box-future-alias", "200"), 1.0);
    common::assert_recorded!(requests("GET", "/shapes/unpin-future", "200"), 1.0);
}

#[test]
fn a_returned_future_is_spawnable() {
    // `+ Send` in the signature still holds for the wrapped future.
    fn assert_send<T: Send>(_: &T) {}
    let users = Users(Vec::new());
    assert_send(&impl_future(false));
    assert_send(&users.load(0));
}
