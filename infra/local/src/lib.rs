//! Quire without AWS: the emulator, provisioning from template.yaml, demo data, the in-process
//! API gateway and the local driver of the audit writer. `make dev` runs [`stack::Stack`];
//! the black-box tests start their own.

pub mod emulator;
pub mod gateway;
pub mod guardrail;
pub mod provision;
pub mod queue;
pub mod seed;
pub mod stack;
pub mod stream;

pub use stack::{Stack, StackOptions};
