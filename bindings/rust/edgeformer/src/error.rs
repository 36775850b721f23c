//! Error: an ef_status plus the library's message.
use std::ffi::CStr;
use std::fmt;

use edgeformer_sys as sys;

/// The kind of failure, one per ef_status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    InvalidArg,
    NoMemory,
    Io,
    Format,
    Unsupported,
    Budget,
    ContextFull,
    Cancelled,
    NotFound,
    BufferTooSmall,
    Backend,
    Unavailable,
    State,
    Mismatch,
    Corrupt,
    Internal,
    /// A code this binding does not know (a newer library).
    Other,
}

/// A failed library call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    status: i32,
    message: String,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(status: i32, message: impl Into<String>) -> Self {
        Error { status, message: message.into() }
    }

    /// The error of `status` with this thread's ef_last_error().
    pub(crate) fn last(status: i32) -> Self {
        Error::new(status, unsafe { cstr(sys::ef_last_error()) })
    }

    /// The raw ef_status code.
    pub fn status(&self) -> i32 {
        self.status
    }

    /// The code's name, e.g. "EF_ERR_IO".
    pub fn status_name(&self) -> String {
        status_name(self.status)
    }

    /// The library's message.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn kind(&self) -> ErrorKind {
        use ErrorKind::*;
        match self.status {
            sys::EF_ERR_INVALID_ARG => InvalidArg,
            sys::EF_ERR_NO_MEMORY => NoMemory,
            sys::EF_ERR_IO => Io,
            sys::EF_ERR_FORMAT => Format,
            sys::EF_ERR_UNSUPPORTED => Unsupported,
            sys::EF_ERR_BUDGET => Budget,
            sys::EF_ERR_CONTEXT_FULL => ContextFull,
            sys::EF_ERR_CANCELLED => Cancelled,
            sys::EF_ERR_NOT_FOUND => NotFound,
            sys::EF_ERR_BUFFER_TOO_SMALL => BufferTooSmall,
            sys::EF_ERR_BACKEND => Backend,
            sys::EF_ERR_UNAVAILABLE => Unavailable,
            sys::EF_ERR_STATE => State,
            sys::EF_ERR_MISMATCH => Mismatch,
            sys::EF_ERR_CORRUPT => Corrupt,
            sys::EF_ERR_INTERNAL => Internal,
            _ => Other,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status_name(), self.message)
    }
}

impl std::error::Error for Error {}

/// Name of a status code ("EF_ERR_FORMAT").
pub fn status_name(status: i32) -> String {
    unsafe { cstr(sys::ef_status_str(status)) }
}

/// Turns a status into a Result, reading the thread's message on failure.
pub(crate) fn check(status: i32) -> Result<()> {
    if status == sys::EF_OK {
        Ok(())
    } else {
        Err(Error::last(status))
    }
}

/// Copies a C string the library owns (NULL gives "").
pub(crate) unsafe fn cstr(p: *const std::ffi::c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}
