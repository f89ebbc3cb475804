//! Host and Origin, checked before anything else on `/mcp`.
//!
//! A request addressed to a host we are not (DNS rebinding), or sent by a
//! web page from a foreign origin, is refused with 403 before its bearer
//! token costs an RSA verification. Allowed: loopback (any port), and the
//! public connector URL's host (and, for Origin, its scheme and port).
//! rmcp checks the same lists again inside; this copy only moves the
//! refusal to the front.

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, Uri, header};
use kit_serve::activity::{Activity, What};
use url::Url;

const LOOPBACK: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Who may address the connector.
#[derive(Debug, Clone)]
pub struct Allowed {
    /// The public connector's scheme, host (lower-case, no brackets) and port.
    public: Option<(String, String, u16)>,
    /// Where refusals are published.
    activity: Activity,
}

impl Allowed {
    pub fn for_resource(resource: &Url) -> Self {
        let public = resource.host_str().map(|host| {
            (
                resource.scheme().to_owned(),
                bare(host),
                resource.port_or_known_default().unwrap_or(443),
            )
        });
        Self {
            public,
            activity: Activity::off(),
        }
    }

    /// Publishes each refusal to `activity`.
    pub fn observed(self, activity: Activity) -> Self {
        Self { activity, ..self }
    }

    /// The same lists in rmcp's form (hosts; origins with `*` for any
    /// port), for its own check inside the service.
    pub fn rmcp_lists(&self) -> (Vec<String>, Vec<String>) {
        let mut hosts: Vec<String> = LOOPBACK.iter().map(|h| (*h).to_owned()).collect();
        let mut origins = vec![
            "http://localhost:*".to_owned(),
            "http://127.0.0.1:*".to_owned(),
            "http://[::1]:*".to_owned(),
        ];
        if let Some((scheme, host, port)) = &self.public {
            if !hosts.contains(host) {
                hosts.push(host.clone());
            }
            // An explicit port: rmcp reads a port-less entry as "any port".
            let host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host.clone()
            };
            origins.push(format!("{scheme}://{host}:{port}"));
        }
        (hosts, origins)
    }

    /// `Err` with the reason when Host or Origin is not ours.
    pub fn check(&self, uri: &Uri, headers: &HeaderMap) -> Result<(), &'static str> {
        let authority = match headers.get(header::HOST) {
            Some(value) => value
                .to_str()
                .ok()
                .and_then(|v| v.parse::<http::uri::Authority>().ok()),
            None => uri.authority().cloned(),
        };
        let Some(authority) = authority else {
            return Err("Forbidden: Host header is not allowed");
        };
        let host = bare(authority.host());
        let public_host = self.public.as_ref().map(|(_, h, _)| h.as_str());
        if !LOOPBACK.contains(&host.as_str()) && Some(host.as_str()) != public_host {
            return Err("Forbidden: Host header is not allowed");
        }
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let origin = origin
            .to_str()
            .ok()
            .and_then(|o| Url::parse(o).ok())
            .filter(|o| o.host_str().is_some())
            .ok_or("Forbidden: Invalid Origin header")?;
        let (scheme, host) = (origin.scheme(), bare(origin.host_str().unwrap_or_default()));
        let port = origin.port_or_known_default();
        let local = scheme == "http" && LOOPBACK.contains(&host.as_str());
        let public = self
            .public
            .as_ref()
            .is_some_and(|(s, h, p)| s == scheme && *h == host && Some(*p) == port);
        if local || public {
            Ok(())
        } else {
            Err("Forbidden: Origin header is not allowed")
        }
    }

    /// The 403 for a foreign Host or Origin, logged and published; `None`
    /// when both are allowed.
    pub(crate) fn refusal(&self, uri: &Uri, headers: &HeaderMap) -> Option<Response> {
        let reason = self.check(uri, headers).err()?;
        tracing::warn!(reason, "request refused before its token was read");
        self.activity.emit(What::Refused {
            status: 403,
            why: reason.to_owned(),
        });
        Some((StatusCode::FORBIDDEN, reason).into_response())
    }
}

fn bare(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(host: &str, origin: Option<&str>) -> Result<(), &'static str> {
        let allowed = Allowed::for_resource(&Url::parse("https://room.example/mcp").expect("url"));
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, host.parse().expect("host"));
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, origin.parse().expect("origin"));
        }
        allowed.check(&Uri::from_static("/mcp"), &headers)
    }

    #[test]
    fn the_public_host_joins_loopback() {
        let url = Url::parse("https://abc.trycloudflare.com/mcp").expect("url");
        let (hosts, origins) = Allowed::for_resource(&url).rmcp_lists();
        assert!(hosts.contains(&"abc.trycloudflare.com".to_owned()));
        assert!(
            origins.contains(&"https://abc.trycloudflare.com:443".to_owned()),
            "{origins:?}"
        );
        let local = Url::parse("http://127.0.0.1:8000/mcp").expect("url");
        let (_, origins) = Allowed::for_resource(&local).rmcp_lists();
        assert!(
            origins.contains(&"http://127.0.0.1:8000".to_owned()),
            "{origins:?}"
        );
    }

    #[test]
    fn loopback_and_the_public_host_pass_and_nothing_else() {
        for ok in [
            "room.example",
            "ROOM.example:443",
            "localhost:8000",
            "127.0.0.1",
            "[::1]:9",
        ] {
            assert!(check(ok, None).is_ok(), "{ok}");
        }
        for bad in [
            "evil.example",
            "room.example.evil.example",
            "127.0.0.2",
            "localhost.evil",
        ] {
            assert!(check(bad, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn origins_must_be_loopback_http_or_the_public_origin_exactly() {
        for ok in [
            "http://localhost:6274",
            "http://127.0.0.1:1",
            "http://[::1]:3000",
            "https://room.example",
            "https://room.example:443",
        ] {
            assert!(check("room.example", Some(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "https://evil.example",
            "http://room.example",
            "https://room.example:8443",
            "https://localhost:6274",
            "null",
            "not a url",
        ] {
            assert!(check("room.example", Some(bad)).is_err(), "{bad}");
        }
    }
}
