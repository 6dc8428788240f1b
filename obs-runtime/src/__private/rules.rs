//! [`RequestOutcome`]'s rules, and the error text of a failed call, as autoref specialization:
//! the expansion calls `(&&&Probe(&value)).__obs_status()` and `Probe(&value).__obs_error_text()`,
//! and method resolution takes the first impl, in its order of candidates, whose bounds hold.
//!
//! One trait per question, with one impl per rule, each on its own receiver type (every method
//! takes `self`). At each step of dereferencing the receiver, method resolution tries the type
//! itself, then a shared reference to it, then a mutable one; from `&&&Probe` that is `&&&Probe`,
//! `&&&&Probe`, `&mut &&&Probe`, then `&&Probe`, `&&&Probe` again, `&mut &&Probe`, then `&Probe`,
//! `&&Probe` again, `&mut &Probe`, then `Probe`, `&Probe` again, `&mut Probe`. The six status rules
//! are on the first six distinct types of that order that may hold a rule: a repeated type gives
//! the answer it gave the first time, and no rule may be on `&mut &&Probe`, `&mut &Probe` or
//! `&mut Probe`, behind a shared reference, where resolution would pick it and the borrow
//! checker then refuse it (`&mut &&&Probe` is a mutable reference to the receiver itself, a
//! temporary). The three text rules are on `Probe`, `&Probe`, `&mut Probe` of a receiver `Probe`
//! (a temporary). Fewer steps for the compiler to walk in each of the user's functions than one
//! reference per rule (`&&&&&&Probe`) took. (A trait per rule, all in scope, made it check every
//! trait at every step.)

use crate::__private::ErrorText;
use crate::metrics::RequestOutcome;

/// The value asked about. `Copy`, for the rules that take it by value behind references.
#[allow(missing_debug_implementations)]
pub struct Probe<'a, T: ?Sized>(pub &'a T);

impl<T: ?Sized> Clone for Probe<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: ?Sized> Copy for Probe<'_, T> {}

/// What the status probe gives for a value that is a future, in place of a status: a type error
/// naming the problem. A fn that returns a future of a type the macro does not recognise
/// (an alias, an associated type) would otherwise be timed while the future is built and
/// recorded from the future itself, not from its output.
#[allow(non_camel_case_types, missing_debug_implementations)]
pub struct the_attribute_cannot_see_this_future_make_the_fn_async_or_return_impl_Future;

/// The status of a call's value, by the first rule that applies: a future is refused; a
/// [`RequestOutcome`] gives its own; a `Result` takes its `Err`'s if that is one (else 500), its
/// `Ok`'s if that is one (else 200); anything else is 200.
pub trait Status {
    /// `u16`, or the refusal of a future.
    type Status;
    /// The status of the probed value.
    fn __obs_status(self) -> Self::Status;
}

/// First (`&&&Probe` itself): a future is refused.
impl<T: std::future::Future + ?Sized> Status for &&&Probe<'_, T> {
    type Status = the_attribute_cannot_see_this_future_make_the_fn_async_or_return_impl_Future;
    #[inline]
    fn __obs_status(self) -> Self::Status {
        the_attribute_cannot_see_this_future_make_the_fn_async_or_return_impl_Future
    }
}

/// Second (`&&&Probe` by reference): a [`RequestOutcome`].
impl<T: RequestOutcome + ?Sized> Status for &&&&Probe<'_, T> {
    type Status = u16;
    #[inline]
    fn __obs_status(self) -> u16 {
        self.0.http_status()
    }
}

/// Third (`&&&Probe` by mutable reference): a `Result` whose `Err` is a [`RequestOutcome`].
impl<T, E: RequestOutcome> Status for &mut &&&Probe<'_, Result<T, E>> {
    type Status = u16;
    #[inline]
    fn __obs_status(self) -> u16 {
        match self.0 {
            Ok(_) => 200,
            Err(error) => error.http_status(),
        }
    }
}

/// Fourth (`&&Probe`): a `Result` whose `Ok` is a [`RequestOutcome`].
impl<T: RequestOutcome, E> Status for &&Probe<'_, Result<T, E>> {
    type Status = u16;
    #[inline]
    fn __obs_status(self) -> u16 {
        match self.0 {
            Ok(value) => value.http_status(),
            Err(_) => 500,
        }
    }
}

/// Fifth (`&Probe`): any `Result`.
impl<T, E> Status for &Probe<'_, Result<T, E>> {
    type Status = u16;
    #[inline]
    fn __obs_status(self) -> u16 {
        match self.0 {
            Ok(_) => 200,
            Err(_) => 500,
        }
    }
}

/// Last (`Probe`): anything else.
impl<T: ?Sized> Status for Probe<'_, T> {
    type Status = u16;
    #[inline]
    fn __obs_status(self) -> u16 {
        200
    }
}

/// The error of a call's value, for its log line and span: an `Err`'s `Display`, else its
/// `Debug`, else nothing. Probed from `Probe` itself: `Probe`, `&Probe`, `&mut Probe`.
pub trait Text<'a> {
    /// The error text of the probed value.
    fn __obs_error_text(self) -> ErrorText<'a>;
}

impl<'a, T, E: std::fmt::Display> Text<'a> for Probe<'a, Result<T, E>> {
    #[inline]
    fn __obs_error_text(self) -> ErrorText<'a> {
        match self.0 {
            Err(error) => ErrorText::Display(error),
            Ok(_) => ErrorText::Nothing,
        }
    }
}

impl<'a, T, E: std::fmt::Debug> Text<'a> for &Probe<'a, Result<T, E>> {
    #[inline]
    fn __obs_error_text(self) -> ErrorText<'a> {
        match self.0 {
            Err(error) => ErrorText::Debug(error),
            Ok(_) => ErrorText::Nothing,
        }
    }
}

impl<'a, T: ?Sized> Text<'a> for &mut Probe<'a, T> {
    #[inline]
    fn __obs_error_text(self) -> ErrorText<'a> {
        ErrorText::Nothing
    }
}
