//! An error accumulator: every check pushes into it, and all errors are reported together.

use proc_macro2::TokenStream;

#[derive(Default)]
pub(crate) struct Errors {
    first: Option<syn::Error>,
}

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.first {
            Some(first) => first.combine(error),
            None => self.first = Some(error),
        }
    }

    /// Every error of `other`, after those already pushed.
    pub(crate) fn append(&mut self, other: Errors) {
        if let Some(error) = other.first {
            self.push(error);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// `Ok(())` when nothing was pushed, else every error as one `syn::Error`.
    pub(crate) fn finish(self) -> syn::Result<()> {
        match self.first {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

/// What a macro emits when its input is wrong: the errors, and the item as the user wrote it, so
/// that the user sees one message instead of a cascade of "cannot find function".
pub(crate) fn with_original(error: syn::Error, item: TokenStream) -> TokenStream {
    let mut out = error.into_compile_error();
    out.extend(item);
    out
}
