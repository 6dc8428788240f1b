//! [`RequestOutcome`]'s rules as autoref specialization: the expansion calls
//! `(&&&&&&Probe(&value)).__obs_status()` and method resolution takes the impl with the most
//! references whose bounds hold.

use crate::metrics::RequestOutcome;

#[allow(missing_debug_implementations)]
pub struct Probe<'a, T: ?Sized>(pub &'a T);

/// What `status_of!` gives for a value that is a future, in place of a status: a type error
/// naming the problem. A fn that returns a future of a type the macro does not recognise
/// (an alias, an associated type) would otherwise be timed while the future is built and
/// recorded from the future itself, not from its output.
#[allow(non_camel_case_types, missing_debug_implementations)]
pub struct track_request_cannot_see_this_future_make_the_fn_async_or_return_impl_Future;

pub trait ByFuture {
    fn __obs_status(&self) -> track_request_cannot_see_this_future_make_the_fn_async_or_return_impl_Future;
}
impl<T: std::future::Future + ?Sized> ByFuture for &&&&&Probe<'_, T> {
    #[inline(always)]
    fn __obs_status(&self) -> track_request_cannot_see_this_future_make_the_fn_async_or_return_impl_Future {
        track_request_cannot_see_this_future_make_the_fn_async_or_return_impl_Future
    }
}

#[cfg(any(feature = "metrics", feature = "trace"))]
pub trait TextByDisplay<'a> {
    fn __obs_error_text(&self) -> crate::__private::ErrorText<'a>;
}
#[cfg(any(feature = "metrics", feature = "trace"))]
impl<'a, T, E: std::fmt::Display> TextByDisplay<'a> for &&Probe<'a, Result<T, E>> {
    fn __obs_error_text(&self) -> crate::__private::ErrorText<'a> {
        match self.0 {
            Err(error) => crate::__private::ErrorText::Display(error),
            Ok(_) => crate::__private::ErrorText::Nothing,
        }
    }
}

#[cfg(any(feature = "metrics", feature = "trace"))]
pub trait TextByDebug<'a> {
    fn __obs_error_text(&self) -> crate::__private::ErrorText<'a>;
}
#[cfg(any(feature = "metrics", feature = "trace"))]
impl<'a, T, E: std::fmt::Debug> TextByDebug<'a> for &Probe<'a, Result<T, E>> {
    fn __obs_error_text(&self) -> crate::__private::ErrorText<'a> {
        match self.0 {
            Err(error) => crate::__private::ErrorText::Debug(error),
            Ok(_) => crate::__private::ErrorText::Nothing,
        }
    }
}

#[cfg(any(feature = "metrics", feature = "trace"))]
pub trait TextByNothing<'a> {
    fn __obs_error_text(&self) -> crate::__private::ErrorText<'a>;
}
#[cfg(any(feature = "metrics", feature = "trace"))]
impl<'a, T: ?Sized> TextByNothing<'a> for Probe<'a, T> {
    fn __obs_error_text(&self) -> crate::__private::ErrorText<'a> {
        crate::__private::ErrorText::Nothing
    }
}

pub trait ByOutcome {
    fn __obs_status(&self) -> u16;
}
impl<T: RequestOutcome + ?Sized> ByOutcome for &&&&Probe<'_, T> {
    #[inline(always)]
    fn __obs_status(&self) -> u16 {
        self.0.http_status()
    }
}

pub trait ByErrOutcome {
    fn __obs_status(&self) -> u16;
}
impl<T, E: RequestOutcome> ByErrOutcome for &&&Probe<'_, Result<T, E>> {
    #[inline(always)]
    fn __obs_status(&self) -> u16 {
        match self.0 {
            Ok(_) => 200,
            Err(error) => error.http_status(),
        }
    }
}

pub trait ByOkOutcome {
    fn __obs_status(&self) -> u16;
}
impl<T: RequestOutcome, E> ByOkOutcome for &&Probe<'_, Result<T, E>> {
    #[inline(always)]
    fn __obs_status(&self) -> u16 {
        match self.0 {
            Ok(value) => value.http_status(),
            Err(_) => 500,
        }
    }
}

pub trait ByResult {
    fn __obs_status(&self) -> u16;
}
impl<T, E> ByResult for &Probe<'_, Result<T, E>> {
    #[inline(always)]
    fn __obs_status(&self) -> u16 {
        match self.0 {
            Ok(_) => 200,
            Err(_) => 500,
        }
    }
}

pub trait ByDefault {
    fn __obs_status(&self) -> u16;
}
impl<T: ?Sized> ByDefault for Probe<'_, T> {
    #[inline(always)]
    fn __obs_status(&self) -> u16 {
        200
    }
}
