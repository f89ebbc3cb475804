//! Who is calling, as proven by a verified access token.

/// The verified caller. Built only by [`crate::auth::TokenVerifier`] (or, in
/// demo mode, [`Identity::stand_in`]); tools read it from the request, never
/// from their arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The token's `iss`: subjects are unique only within one issuer.
    pub issuer: String,
    /// The token's `sub`: the only key into the store.
    pub subject: String,
    pub email: Option<String>,
    pub scopes: Vec<String>,
}

impl Identity {
    /// The one user every caller becomes when `AUTH_DISABLED` is set.
    pub fn stand_in() -> Self {
        Self {
            issuer: "urn:connector-devkit:auth-disabled".into(),
            subject: "demo-user".into(),
            email: None,
            scopes: vec![],
        }
    }
}

#[cfg(test)]
impl Identity {
    /// `sub` at a fixed test issuer, for unit tests.
    pub(crate) fn test_user(sub: &str) -> Self {
        Self {
            issuer: "https://issuer.test".into(),
            subject: sub.into(),
            email: None,
            scopes: vec![],
        }
    }
}
