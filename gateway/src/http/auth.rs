//! The bearer-token gate in front of `/mcp`: reads the one `Authorization`
//! header, runs the four checks, and hands the verified [`Identity`] to the
//! tools through the request's extensions. The token itself goes no further.

use std::sync::Arc;

use http::{HeaderMap, header::AUTHORIZATION};
use kit_serve::activity::{Activity, What};

use super::error::{AuthRejection, Reason};
use crate::{
    auth::{TokenError, TokenVerifier, userinfo::UserInfo},
    identity::Identity,
    metrics::Metrics,
    store::Store,
};

/// How `/mcp` establishes who is calling.
#[derive(Debug)]
pub struct Guard {
    /// `None` in demo mode: every caller is the stand-in user.
    pub verifier: Option<TokenVerifier>,
    pub resource_metadata: Arc<str>,
    /// The scopes a host should ask for (`AUTH_SCOPES` plus every required one).
    pub scope: Arc<str>,
    /// Fills in the email a token lacks, from the issuer's userinfo endpoint.
    pub userinfo: Option<Arc<UserInfo>>,
    /// Where an email learned from userinfo is recorded.
    pub store: Store,
    pub metrics: Arc<Metrics>,
    /// Where refusals are published (`devkit up`'s live lines).
    pub activity: Activity,
}

impl Guard {
    /// The verified caller, or the challenge to answer with.
    pub(crate) async fn identify(
        &self,
        headers: &HeaderMap,
    ) -> Result<Arc<Identity>, AuthRejection> {
        let Some(verifier) = &self.verifier else {
            return Ok(Arc::new(Identity::stand_in()));
        };
        let token = bearer(headers).map_err(|reason| self.reject(reason))?;
        let now = chrono::Utc::now().timestamp();
        let mut identity = verifier.verify(token, now).await.map_err(|e| {
            tracing::info!(reason = %e, "access token refused");
            self.reject(Reason::Token(e))
        })?;
        if let (None, Some(userinfo)) = (&identity.email, &self.userinfo) {
            let store = self.store.clone();
            let learned = userinfo.email_for(&identity.subject, token, |subject, email| async move {
                if let Err(e) = store.record_email(&subject, &email).await {
                    tracing::warn!(error = %kit_serve::error_chain(&e), "could not record the email userinfo gave");
                }
            });
            // Copied only to add an email: the remembered identity stays as the token says.
            if learned.is_some() {
                Arc::make_mut(&mut identity).email = learned;
            }
        }
        Ok(identity)
    }

    fn reject(&self, reason: Reason) -> AuthRejection {
        self.metrics.token_refused(match &reason {
            Reason::Missing => "missing",
            Reason::BadHeader => "bad_header",
            Reason::Token(e) => e.code(),
        });
        if self.activity.is_on() {
            let (status, why) = match &reason {
                Reason::Missing => (401, "no access token".to_owned()),
                Reason::BadHeader => (401, "not one `Authorization: Bearer` header".to_owned()),
                Reason::Token(e @ TokenError::InsufficientScope) => (403, e.to_string()),
                Reason::Token(e) if e.is_unavailable() => (503, e.to_string()),
                Reason::Token(e) => (401, e.to_string()),
            };
            self.activity.emit(What::Refused { status, why });
        }
        AuthRejection {
            reason,
            resource_metadata: self.resource_metadata.clone(),
            scope: self.scope.clone(),
        }
    }
}

/// The token from exactly one `Authorization: Bearer …` header. The scheme
/// is case-insensitive (RFC 9110 §11.1); tokens in the query or body are never read.
fn bearer(headers: &HeaderMap) -> Result<&str, Reason> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values.next().ok_or(Reason::Missing)?;
    if values.next().is_some() {
        return Err(Reason::BadHeader);
    }
    let value = value.to_str().map_err(|_| Reason::BadHeader)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or(Reason::BadHeader)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
        return Err(Reason::BadHeader);
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(AUTHORIZATION, HeaderValue::from_str(v).expect("header"));
        }
        map
    }

    #[test]
    fn one_bearer_header_is_read_and_nothing_else() {
        assert_eq!(bearer(&headers(&["Bearer abc"])).ok(), Some("abc"));
        assert_eq!(bearer(&headers(&["bearer abc"])).ok(), Some("abc"));
        assert!(matches!(bearer(&headers(&[])), Err(Reason::Missing)));
        assert!(matches!(
            bearer(&headers(&["Bearer a", "Bearer b"])),
            Err(Reason::BadHeader)
        ));
        assert!(matches!(
            bearer(&headers(&["Basic abc"])),
            Err(Reason::BadHeader)
        ));
        assert!(matches!(
            bearer(&headers(&["Bearer"])),
            Err(Reason::BadHeader)
        ));
        assert!(matches!(
            bearer(&headers(&["Bearer a b"])),
            Err(Reason::BadHeader)
        ));
    }
}
