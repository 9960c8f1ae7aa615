//! # quire — the shared library of every Quire function
//!
//! Where things live:
//!
//! | you are looking for | module |
//! |---|---|
//! | a route, its permission and body limit | [`route`] (each function's `routes()` declares its table) |
//! | the request pipeline (tower layers, in order) | [`pipeline`] |
//! | roles, permissions, the default matrix | [`rbac`] |
//! | token verification, JWKS | [`auth`] |
//! | who the caller is, the tenant scope | [`tenant`] |
//! | every DynamoDB key and call, sealed cursors | [`store`] |
//! | audit events, canonical JSON, the hash chain | [`audit`] |
//! | attachment/export encryption (KMS envelope, AWS Encryption SDK format) | [`crypto`] |
//! | errors (RFC 9457) | [`problem`] |
//! | configuration and per-cold-start state | [`config`], [`app`] |
//! | logs | [`telemetry`] |
//!
//! Crypto choices: RS256 tokens verified with aws-lc-rs (through jsonwebtoken); SHA-256 (sha2)
//! for the audit chain; AES-256-GCM (aws-lc-rs) under a KMS data key for cursors; for attachments
//! and exports the AWS Encryption SDK message format v2, suite 0x0478 (HKDF-SHA512, key-committing
//! AES-256-GCM frames) under a per-object KMS data key (`docs/envelope-format.md`).

pub mod app;
pub mod audit;
pub mod auth;
pub mod config;
pub mod context;
pub mod crypto;
pub mod json;
pub mod pipeline;
pub mod problem;
pub mod rbac;
pub mod route;
pub mod store;
pub mod telemetry;
pub mod tenant;
pub mod text;

pub use app::App;
pub use context::RequestCtx;
pub use problem::Problem;
pub use route::{Access, Effect, Module, Route, Router};
