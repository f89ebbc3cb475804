//! The resource-server side of OAuth: proving who is calling.
//!
//! Plain protocol code, no HTTP framework: [`keys`] holds the issuer's public
//! keys, [`token`] runs the four checks on an access token, [`verified`]
//! remembers tokens that passed so a repeat costs no RSA, [`userinfo`] asks
//! the issuer for the profile a token lacks. The HTTP layer
//! ([`crate::http::auth`]) turns their answers into 401/403/503 responses.

pub mod keys;
pub mod token;
pub mod userinfo;
pub mod verified;

pub use keys::KeyStore;
pub use token::{TokenError, TokenVerifier};
