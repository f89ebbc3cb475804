//! Profile claims for tokens that carry none. Hosted issuers' access tokens
//! usually have no `email`; when the issuer publishes an OIDC userinfo
//! endpoint, it is asked once per user, in the background, with the token
//! the caller sent (to the issuer that issued it, and nowhere else).
//!
//! Nothing waits for it and nothing fails because of it: a tool call goes on
//! with what the token says, and the answer fills in later calls. OIDC Core
//! §5.3.2: the answer's `sub` must be the token's, or it is ignored.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde::Deserialize;

use super::KeyStore;

/// Users remembered; past this the memory starts over.
const REMEMBERED_USERS: usize = 10_000;
/// How long an answer (or a failure) is kept before the user is asked about again.
const KEEP_FOR: Duration = Duration::from_secs(3600);
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest userinfo answer read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone)]
enum Entry {
    /// A fetch is running or has just failed: do not start another.
    Asked(Instant),
    Known {
        email: Option<String>,
        at: Instant,
    },
}

/// The bounded memory of what userinfo said, per (issuer, subject).
#[derive(Debug)]
pub struct UserInfo {
    keys: Arc<KeyStore>,
    http: reqwest::Client,
    entries: Mutex<HashMap<String, Entry>>,
}

#[derive(Deserialize)]
struct Answer {
    sub: String,
    #[serde(default)]
    email: Option<String>,
}

impl UserInfo {
    pub fn new(keys: Arc<KeyStore>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            keys,
            http,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The email userinfo gave for `subject`, if it has answered. When it
    /// has not been asked yet and the issuer has an endpoint, starts one
    /// background fetch with `token` and returns at once; `on_email` is told
    /// the subject and the answer (to record it).
    pub fn email_for<Recorded>(
        self: &Arc<Self>,
        subject: &str,
        token: &str,
        on_email: impl FnOnce(String, String) -> Recorded + Send + 'static,
    ) -> Option<String>
    where
        Recorded: std::future::Future<Output = ()> + Send,
    {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(subject) {
            Some(Entry::Known { email, at }) if at.elapsed() < KEEP_FOR => return email.clone(),
            Some(Entry::Asked(at)) if at.elapsed() < KEEP_FOR => return None,
            _ => {}
        }
        let endpoint = self.keys.userinfo_endpoint()?;
        if entries.len() >= REMEMBERED_USERS {
            entries.clear();
        }
        entries.insert(subject.to_owned(), Entry::Asked(now));
        drop(entries);
        let (this, subject, token) = (self.clone(), subject.to_owned(), token.to_owned());
        tokio::spawn(async move {
            match this.fetch(&endpoint, &token, &subject).await {
                Ok(email) => {
                    this.entries
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(
                            subject.clone(),
                            Entry::Known {
                                email: email.clone(),
                                at: Instant::now(),
                            },
                        );
                    if let Some(email) = email {
                        on_email(subject, email).await;
                    }
                }
                // Kept as `Asked`: not asked again for a while.
                Err(problem) => tracing::info!(%problem, "userinfo gave no profile"),
            }
        });
        None
    }

    async fn fetch(
        &self,
        endpoint: &url::Url,
        token: &str,
        subject: &str,
    ) -> Result<Option<String>, String> {
        let response = self
            .http
            .get(endpoint.clone())
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| format!("{endpoint}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{endpoint}: HTTP {}", response.status()));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("{endpoint}: {e}"))?;
        if body.len() > MAX_ANSWER_BYTES {
            return Err(format!("{endpoint}: answer too large"));
        }
        let answer: Answer =
            serde_json::from_slice(&body).map_err(|e| format!("{endpoint}: {e}"))?;
        if answer.sub != subject {
            return Err(format!("{endpoint}: answered for another subject"));
        }
        Ok(answer.email.filter(|e| !e.is_empty() && e.len() <= 320))
    }
}
