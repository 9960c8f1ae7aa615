//! # quire-core — what every other Quire crate builds on
//!
//! No AWS and no HTTP: values and pure functions only.
//!
//! | you are looking for | module |
//! |---|---|
//! | organisation and user ids | [`ids`] |
//! | join codes, invitation ids, the email domains that may join | [`invitation`] |
//! | roles, permissions, the default matrix | [`rbac`] |
//! | an organisation's document types (key, number prefix, review interval) | [`documents`] |
//! | audit events, canonical JSON (RFC 8785), the SHA-256 hash chain, blobs | [`audit`] |
//! | free text made safe to record | [`text`] |
//! | attachment file names (sanitised) and the accepted file types | [`files`] |
//! | an organisation's IP allowlist (CIDR ranges, IPv4 and IPv6) | [`network`] |
//! | logs and metrics (one JSON line each) | [`telemetry`] |
//!
//! The crates above it: `quire-store` (DynamoDB, the tenant scope, the transaction builder),
//! `quire-crypto` (KMS envelope encryption), `quire-http` (the request pipeline, routes,
//! problems); dependencies point one way: core ← store ← crypto ← http ← functions.

pub mod audit;
pub mod documents;
pub mod files;
pub mod ids;
pub mod invitation;
pub mod network;
pub mod password;
pub mod rbac;
pub mod telemetry;
pub mod text;
