//! The HTTP side of the host checks: GETs and one form POST with short
//! timeouts, redirects shown rather than followed, bodies read to a bound.
//! What came back is handed to [`super::rules`] as an [`Answer`].

use std::{error::Error, io::ErrorKind, time::Duration};

use reqwest::header;
use url::Url;

use super::rules::{Answer, Reply};

/// Longest one request may take, and its connection.
const TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Metadata documents and error answers are small; more is not read.
const MAX_BODY: usize = 64 * 1024;

#[derive(Debug)]
pub struct Prober {
    client: reqwest::Client,
}

impl Prober {
    pub fn new() -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("devkit-doctor/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client })
    }

    pub async fn get(&self, url: &Url) -> Answer {
        let request = self
            .client
            .get(url.clone())
            .header(header::ACCEPT, "application/json");
        send(request).await
    }

    /// POSTs `form` (already encoded) as `application/x-www-form-urlencoded`.
    pub async fn post_form(&self, url: &Url, form: &'static str) -> Answer {
        let request = self
            .client
            .post(url.clone())
            .header(header::ACCEPT, "application/json")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form);
        send(request).await
    }
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(e) => return classify(&e),
    };
    let header = |name: header::HeaderName| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header(header::CONTENT_TYPE);
    let location = header(header::LOCATION);
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while body.len() < MAX_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_BODY - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) => break,
            Err(e) => return Answer::Failed(format!("the answer broke off: {}", innermost(&e))),
        }
    }
    Answer::Http(Reply {
        status,
        content_type,
        location,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// Nobody there (refused, no such name, no answer in time) is told apart
/// from a broken exchange (a TLS failure, a cut connection): the first
/// means "not running", the second is a problem to fix.
fn classify(error: &reqwest::Error) -> Answer {
    if error.is_timeout() {
        return Answer::Unreachable(format!("no answer within {}s", TIMEOUT.as_secs()));
    }
    let mut source: Option<&(dyn Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            match io.kind() {
                ErrorKind::ConnectionRefused => {
                    return Answer::Unreachable("connection refused".into());
                }
                ErrorKind::TimedOut => return Answer::Unreachable("timed out".into()),
                ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => {
                    return Answer::Unreachable(io.to_string());
                }
                _ => {}
            }
        }
        // hyper-util names a failed name lookup this way.
        if cause.to_string().starts_with("dns error") {
            return Answer::Unreachable(format!("no such host: {}", innermost(cause)));
        }
        source = cause.source();
    }
    Answer::Failed(innermost(error))
}

/// The deepest cause's text: the part that says what happened.
fn innermost(error: &(dyn Error + 'static)) -> String {
    let mut deepest = error;
    while let Some(cause) = deepest.source() {
        deepest = cause;
    }
    deepest.to_string()
}
