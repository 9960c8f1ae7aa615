//! Authentication: verifying Cognito access tokens.

mod jwks;
mod jwt;

pub use jwt::{AuthError, JwtConfig, JwtVerifier, VerifiedToken, CLOCK_SKEW_SECONDS, MAX_TOKEN_BYTES};

#[cfg(test)]
mod tests;
