//! # quire-fn-attachment-ingest — an uploaded file checked before Quire keeps it (FILE-1)
//!
//! A client uploads an attachment to the bucket's quarantine prefix with a presigned PUT; this
//! function reads it from there, and only a file that passes [`inspect::inspect`] is
//! encrypted into the tenant's prefix. Everything here is about the file's bytes: its size,
//! its type as its first bytes tell it, and for Office Open XML packages, the package itself.
//!
//! | you are looking for | module |
//! |---|---|
//! | the checks, the refusals and their reasons, the limits | [`inspect`] |
//! | one upload's ingest: from the S3 notification to accepted or rejected | [`handler`] |
//! | the queue's batch, retries and the delivery bound | [`queue`] |
//! | file names and the accepted types | `quire_core::files` |

pub mod handler;
pub mod inspect;
pub mod queue;

pub use handler::{ingest_notification, Attempt, Ingest, Outcome, Retry};
pub use inspect::Limits;
