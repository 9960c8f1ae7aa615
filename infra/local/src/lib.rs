pub mod emulator;
pub mod provision;
