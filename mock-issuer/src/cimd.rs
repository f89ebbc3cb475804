//! Client ID metadata documents (MCP 2025-11-25 authorization; IETF draft
//! "OAuth Client ID Metadata Document"): a `client_id` that is an https URL
//! names a JSON document, fetched here, that describes the client.
//!
//! Fetching a URL chosen by a stranger is a server-side request forgery
//! risk, so: https only, every resolved address must be public (no
//! loopback, private, link-local or other special ranges), the connection
//! is pinned to the checked address (no DNS rebinding between check and
//! use), no redirects, a short timeout and a small size limit. Documents
//! are cached for a few minutes.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::Mutex,
    time::{Duration, Instant},
};

use serde::Deserialize;
use url::{Host, Url};

use crate::{
    clients::{AuthMethod, Client},
    redirect::RedirectUri,
};

/// Largest document read (the draft suggests documents stay small).
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const CACHE_FOR: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum CimdError {
    #[error("client_id `{0}` is not an https URL with a path")]
    NotAUrl(String),
    #[error("client_id host resolves to a non-public address ({0}); refusing to fetch it")]
    Forbidden(IpAddr),
    #[error("cannot fetch the client metadata document: {0}")]
    Fetch(String),
    #[error("the client metadata document is larger than {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge,
    #[error("the client metadata document is invalid: {0}")]
    Invalid(String),
}

#[derive(Debug, Deserialize)]
struct Document {
    client_id: String,
    #[serde(default)]
    client_name: Option<String>,
    redirect_uris: Vec<String>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    grant_types: Option<Vec<String>>,
}

/// Fetches and caches metadata documents.
#[derive(Debug)]
pub struct MetadataDocuments {
    /// Tests only: also accept `http://127.0.0.1…` documents.
    allow_loopback: bool,
    cache: Mutex<HashMap<String, (Client, Instant)>>,
}

impl MetadataDocuments {
    pub fn new(allow_loopback: bool) -> Self {
        Self {
            allow_loopback,
            cache: Mutex::default(),
        }
    }

    /// Whether `client_id` is a URL (a metadata document) rather than a registered id.
    pub fn is_document_id(client_id: &str) -> bool {
        client_id.starts_with("https://") || client_id.starts_with("http://")
    }

    /// The client the document at `client_id` describes.
    pub async fn client(&self, client_id: &str, now: i64) -> Result<Client, CimdError> {
        if let Some((client, at)) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(client_id)
            && at.elapsed() < CACHE_FOR
        {
            return Ok(client.clone());
        }
        let url = self.check_url(client_id)?;
        let body = self.fetch(&url).await?;
        let client = parse_document(client_id, &body, now)?;
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(client_id.to_owned(), (client.clone(), Instant::now()));
        Ok(client)
    }

    fn check_url(&self, client_id: &str) -> Result<Url, CimdError> {
        let bad = || CimdError::NotAUrl(client_id.chars().take(200).collect());
        let url = Url::parse(client_id).map_err(|_| bad())?;
        let scheme_ok = url.scheme() == "https" || (self.allow_loopback && url.scheme() == "http");
        if !scheme_ok
            || url.host_str().is_none()
            || url.path() == "/"
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(bad());
        }
        Ok(url)
    }

    async fn fetch(&self, url: &Url) -> Result<Vec<u8>, CimdError> {
        let host = url.host_str().unwrap_or_default().to_owned();
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs = addresses_of(url, port).await?;
        let first = *addrs
            .first()
            .ok_or_else(|| CimdError::Fetch(format!("{host} has no address")))?;
        for addr in &addrs {
            let allowed = is_public(addr.ip()) || (self.allow_loopback && addr.ip().is_loopback());
            if !allowed {
                return Err(CimdError::Forbidden(addr.ip()));
            }
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(FETCH_TIMEOUT)
            .resolve(&host, first)
            .build()
            .map_err(|e| CimdError::Fetch(e.to_string()))?;
        let mut response = http
            .get(url.clone())
            .header("accept", "application/json")
            .send()
            .await
            .map_err(fetch_failed)?;
        if !response.status().is_success() {
            return Err(CimdError::Fetch(format!("HTTP {}", response.status())));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
        {
            return Err(CimdError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(fetch_failed)? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(CimdError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// reqwest's own words for a timeout name neither the limit nor the cause.
fn fetch_failed(e: reqwest::Error) -> CimdError {
    if e.is_timeout() {
        CimdError::Fetch(format!(
            "the document did not arrive within {} s",
            FETCH_TIMEOUT.as_secs()
        ))
    } else {
        CimdError::Fetch(e.to_string())
    }
}

/// Where `url`'s host is: an address literal as written (`host_str` keeps
/// an IPv6 literal's brackets, which no resolver takes), a name resolved.
async fn addresses_of(url: &Url, port: u16) -> Result<Vec<SocketAddr>, CimdError> {
    match url.host() {
        Some(Host::Ipv4(ip)) => Ok(vec![SocketAddr::new(ip.into(), port)]),
        Some(Host::Ipv6(ip)) => Ok(vec![SocketAddr::new(ip.into(), port)]),
        Some(Host::Domain(name)) => Ok(tokio::net::lookup_host((name, port))
            .await
            .map_err(|e| CimdError::Fetch(format!("cannot resolve {name}: {e}")))?
            .collect()),
        None => Err(CimdError::NotAUrl(url.to_string())),
    }
}

/// Checks a fetched document and turns it into a public client.
pub fn parse_document(client_id: &str, body: &[u8], now: i64) -> Result<Client, CimdError> {
    let doc: Document =
        serde_json::from_slice(body).map_err(|e| CimdError::Invalid(e.to_string()))?;
    if doc.client_id != client_id {
        return Err(CimdError::Invalid(format!(
            "its client_id `{}` is not the URL it was fetched from",
            doc.client_id.chars().take(200).collect::<String>()
        )));
    }
    if doc.redirect_uris.is_empty() {
        return Err(CimdError::Invalid("redirect_uris is empty".into()));
    }
    for uri in &doc.redirect_uris {
        RedirectUri::parse(uri).map_err(|e| CimdError::Invalid(format!("redirect_uris: {e}")))?;
    }
    // A document cannot carry a secret: such clients are public (or use
    // private_key_jwt, which this issuer does not offer).
    if doc
        .token_endpoint_auth_method
        .as_deref()
        .is_some_and(|m| m != "none")
    {
        return Err(CimdError::Invalid(
            "token_endpoint_auth_method must be `none`".into(),
        ));
    }
    let grant_types = doc
        .grant_types
        .unwrap_or_else(|| vec!["authorization_code".into(), "refresh_token".into()]);
    if grant_types
        .iter()
        .any(|g| g != "authorization_code" && g != "refresh_token")
    {
        return Err(CimdError::Invalid(
            "grant_types may only hold authorization_code and refresh_token".into(),
        ));
    }
    Ok(Client {
        client_id: client_id.to_owned(),
        secret_sha256: None,
        redirect_uris: doc.redirect_uris,
        client_name: doc.client_name,
        auth_method: AuthMethod::None,
        grant_types,
        issued_at: now,
    })
}

/// Public unicast: not loopback, private, link-local, shared (CGNAT),
/// documentation, multicast, unspecified or IPv4-mapped forms of those.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "https://app.example/oauth/client.json";

    #[test]
    fn a_document_must_name_itself() {
        let doc = br#"{"client_id": "https://app.example/oauth/client.json", "redirect_uris": ["https://app.example/cb"]}"#;
        let client = parse_document(ID, doc, 0).expect("valid");
        assert_eq!(client.auth_method, AuthMethod::None);
        let other = br#"{"client_id": "https://evil.example/c.json", "redirect_uris": ["https://app.example/cb"]}"#;
        assert!(matches!(
            parse_document(ID, other, 0),
            Err(CimdError::Invalid(_))
        ));
    }

    #[test]
    fn a_document_may_name_native_callbacks() {
        let doc = br#"{"client_id": "https://app.example/oauth/client.json", "redirect_uris":
            ["cursor://anysphere.cursor-retrieval/oauth/callback", "com.example.app:/oauth2redirect"]}"#;
        let client = parse_document(ID, doc, 0).expect("valid");
        assert!(
            client
                .redirect_for(Some("com.example.app:/oauth2redirect"))
                .is_some()
        );
        assert!(
            client
                .redirect_for(Some("com.example.app:/other"))
                .is_none()
        );
    }

    #[test]
    fn a_document_needs_valid_redirects_and_no_secret() {
        for doc in [
            r#"{"client_id": "https://app.example/oauth/client.json", "redirect_uris": []}"#,
            r#"{"client_id": "https://app.example/oauth/client.json", "redirect_uris": ["javascript:alert(1)"]}"#,
            r#"{"client_id": "https://app.example/oauth/client.json", "redirect_uris": ["mycallback://cb"]}"#,
            r#"{"client_id": "https://app.example/oauth/client.json", "redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "client_secret_post"}"#,
            r#"{"client_id": "https://app.example/oauth/client.json", "redirect_uris": ["https://a.example/cb"], "grant_types": ["client_credentials"]}"#,
            "not json",
        ] {
            assert!(parse_document(ID, doc.as_bytes(), 0).is_err(), "{doc}");
        }
    }

    #[test]
    fn only_public_addresses_may_be_fetched() {
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(is_public(ip.parse().expect("ip")), "{ip}");
        }
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
        ] {
            assert!(!is_public(ip.parse().expect("ip")), "{ip}");
        }
    }

    #[tokio::test]
    async fn non_https_or_pathless_ids_are_refused_unfetched() {
        let docs = MetadataDocuments::new(false);
        for id in [
            "http://app.example/c.json",
            "https://app.example/",
            "https://u:p@app.example/c",
            "https://app.example/c#f",
        ] {
            assert!(
                matches!(docs.client(id, 0).await, Err(CimdError::NotAUrl(_))),
                "{id}"
            );
        }
        // Hosts that are or resolve to loopback are refused before any
        // request, however the address is written.
        for loopback in [
            "https://localhost/client.json",
            "https://2130706433/client.json",
            "https://[::1]/client.json",
            "https://[::ffff:127.0.0.1]/client.json",
        ] {
            assert!(
                matches!(docs.client(loopback, 0).await, Err(CimdError::Forbidden(_))),
                "{loopback}"
            );
        }
    }
}
