//! # quire-http — the HTTP side of every API function
//!
//! Where things live:
//!
//! | you are looking for | where |
//! |---|---|
//! | a route, its permission, whether it writes and what it records, its body limit | [`route`] (each function's `routes()` declares its table) |
//! | how an API Gateway event becomes a request, and a response an answer (never from headers) | [`event`] |
//! | the request pipeline (tower layers, in order) | [`pipeline`] |
//! | token verification, JWKS | [`auth`] |
//! | password checks: lockout, rate limits, identity events (sign-in, later re-authentication) | [`identity`] |
//! | what a handler is given: caller, parameters, audit context | [`context`] |
//! | request bodies, page requests, JSON responses | [`json`] |
//! | `ETag` / `If-Match` on versioned records (RFC 9110 §13) | [`conditional`] |
//! | errors (RFC 9457), and how storage and crypto errors become them | [`problem`] |
//! | the OpenAPI document, generated from the route tables | [`openapi`] |
//! | configuration and per-cold-start state | [`config`], [`app`] |
//! | roles, permissions, the default matrix | `quire_core::rbac` |
//! | audit events, canonical JSON, the hash chain | `quire_core::audit` |
//! | the tenant scope, every DynamoDB key and call, the transaction builder | `quire_store` |
//! | attachment/export encryption (KMS envelope, AWS Encryption SDK format) | `quire_crypto` |
//!
//! Dependencies point one way: `quire-core` ← `quire-store` ← `quire-crypto` ← `quire-http` ←
//! functions. Only the audit writer links the chain's append (`quire-store`, feature
//! `chain-writer`), and it does not link this crate.
//!
//! Crypto choices: RS256 tokens verified with aws-lc-rs (through jsonwebtoken); SHA-256 (sha2)
//! for the audit chain; AES-256-GCM (aws-lc-rs) under a KMS data key for cursors; for attachments
//! and exports the AWS Encryption SDK message format v2, suite 0x0478 (HKDF-SHA512, key-committing
//! AES-256-GCM frames) under a per-object KMS data key (`docs/envelope-format.md`).

pub mod app;
pub mod app_client;
pub mod auth;
pub mod conditional;
pub mod config;
pub mod context;
pub mod download;
pub mod event;
pub mod identity;
pub mod json;
pub mod openapi;
pub mod pipeline;
pub mod problem;
pub mod route;

pub use app::App;
pub use context::RequestCtx;
pub use problem::Problem;
pub use route::{Access, Effect, Module, Route, Router};
