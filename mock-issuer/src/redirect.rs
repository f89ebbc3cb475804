//! Redirect URIs: which may be registered, and when a requested one matches.
//!
//! - RFC 6749 §3.1.2: an absolute URI with no fragment.
//! - OAuth 2.1 §1.5 / RFC 9700 §2.6: https, so codes never cross the network
//!   in the clear; plain http only to the loopback interface, where a native
//!   app listens (RFC 8252 §7.3, §8.3).
//! - RFC 8252 §7.1: a native app may receive the code on a private-use
//!   scheme the operating system hands to it. Accepted are the reverse-domain
//!   form the RFC asks for (`com.example.app:/oauth2redirect`: a scheme with
//!   a dot, each label letters, digits or `-`) and the few bare schemes that
//!   MCP hosts already register ([`HOST_SCHEMES`]). Every other scheme is
//!   refused, so a browser is never sent to `javascript:`, `data:`, `file:`,
//!   `blob:` or the like with a code attached.
//! - OAuth 2.1 §2.3.1 / RFC 9700 §4.1.3: matching is exact string
//!   comparison, except that a loopback http redirect may use any port,
//!   because a native app picks a free one when it starts (RFC 8252 §7.3).
//!   Private-use redirects match exactly (RFC 8252 §7.1 leaves no freedom).

use std::fmt;

use url::{Host, Url};

/// Private-use schemes without a dot that MCP hosts register for their
/// OAuth callbacks: Cursor (`cursor://anysphere.cursor-retrieval/…`) and
/// VS Code, stable and Insiders (`vscode://vscode.github-authentication/…`).
/// They predate RFC 8252's reverse-domain advice; the operating system still
/// hands them only to the app that claimed them. Kept short on purpose.
pub const HOST_SCHEMES: [&str; 3] = ["cursor", "vscode", "vscode-insiders"];

/// A redirect URI that passed the registration rules. Keeps the string as
/// given, since matching compares strings, not normalised URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri {
    raw: String,
    url: Url,
}

/// Why a redirect URI cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectError {
    #[error("must be an absolute URI ({0})")]
    NotAbsolute(url::ParseError),
    #[error("must not contain a fragment (RFC 6749 §3.1.2)")]
    Fragment,
    #[error("http is allowed only for loopback hosts (127.0.0.1, [::1], localhost); use https")]
    HttpNotLoopback,
    #[error(
        "scheme `{0}` is not allowed; use https, http to a loopback host, a reverse-domain \
         private-use scheme such as `com.example.app:/cb` (RFC 8252 §7.1), or one of: {hosts}",
        hosts = HOST_SCHEMES.join(", ")
    )]
    Scheme(String),
}

impl RedirectUri {
    pub fn parse(raw: &str) -> Result<Self, RedirectError> {
        let url = Url::parse(raw).map_err(RedirectError::NotAbsolute)?;
        // `Url` drops an empty fragment ("…/cb#"), so look at the raw text too.
        if url.fragment().is_some() || raw.contains('#') {
            return Err(RedirectError::Fragment);
        }
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => return Err(RedirectError::HttpNotLoopback),
            other if is_private_use(other) => {}
            other => return Err(RedirectError::Scheme(other.to_owned())),
        }
        Ok(Self {
            raw: raw.to_owned(),
            url,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Whether a redirect URI sent in an authorization or token request
    /// matches this registered one.
    pub fn matches(&self, requested: &str) -> bool {
        if requested == self.raw {
            return true;
        }
        if self.url.scheme() != "http" {
            return false;
        }
        // Loopback http: everything but the port must be equal.
        let Ok(requested) = Url::parse(requested) else {
            return false;
        };
        if requested.fragment().is_some() || requested.as_str().contains('#') {
            return false;
        }
        without_port(&self.url) == without_port(&requested)
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl serde::Serialize for RedirectUri {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.raw)
    }
}

/// RFC 8252 §7.1: a reverse-domain scheme (two or more non-empty labels of
/// letters, digits and `-`), or one of [`HOST_SCHEMES`]. `Url` has already
/// lower-cased the scheme and checked RFC 3986 §3.1's syntax.
fn is_private_use(scheme: &str) -> bool {
    let label_ok = |label: &str| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    HOST_SCHEMES.contains(&scheme) || (scheme.contains('.') && scheme.split('.').all(label_ok))
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
        Some(Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
        Some(Host::Domain(name)) => name == "localhost",
        None => false,
    }
}

fn without_port(url: &Url) -> Option<Url> {
    let mut url = url.clone();
    // Fails only for URLs that cannot have a port; those never match.
    url.set_port(None).ok()?;
    Some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> RedirectUri {
        RedirectUri::parse(raw).expect(raw)
    }

    #[test]
    fn an_https_callback_is_accepted() {
        for raw in [
            "https://claude.ai/api/mcp/auth_callback",
            "https://chatgpt.com/connector_platform_oauth_redirect",
            "https://app.example.com/cb?tenant=a",
            "https://app.example.com:8443/cb",
        ] {
            assert_eq!(parse(raw).as_str(), raw);
        }
    }

    #[test]
    fn http_is_accepted_for_each_loopback_host() {
        for raw in [
            "http://127.0.0.1/cb",
            "http://127.0.0.1:33418/cb",
            "http://[::1]:8080/cb",
            "http://localhost:6274/oauth/callback",
        ] {
            assert_eq!(parse(raw).as_str(), raw);
        }
    }

    #[test]
    fn http_to_a_non_loopback_host_is_refused() {
        for raw in [
            "http://claude.ai/api/mcp/auth_callback",
            "http://127.0.0.2/cb",
            "http://localhost.evil.example/cb",
            "http://10.0.0.1/cb",
        ] {
            assert_eq!(
                RedirectUri::parse(raw),
                Err(RedirectError::HttpNotLoopback),
                "{raw}"
            );
        }
    }

    #[test]
    fn a_relative_uri_is_refused() {
        for raw in ["/cb", "cb", "//claude.ai/cb", ""] {
            assert!(
                matches!(RedirectUri::parse(raw), Err(RedirectError::NotAbsolute(_))),
                "{raw}"
            );
        }
    }

    #[test]
    fn a_fragment_is_refused() {
        for raw in [
            "https://app.example.com/cb#x",
            "https://app.example.com/cb#",
        ] {
            assert_eq!(
                RedirectUri::parse(raw),
                Err(RedirectError::Fragment),
                "{raw}"
            );
        }
    }

    #[test]
    fn a_reverse_domain_private_use_scheme_is_accepted() {
        for raw in [
            "com.example.app:/oauth2redirect",
            "com.example.app:/oauth2redirect/example-provider",
            "com.example.app://callback?x=1",
            "io.github.some-host2.desktop:/cb",
        ] {
            assert_eq!(parse(raw).as_str(), raw);
        }
    }

    #[test]
    fn the_listed_host_schemes_are_accepted() {
        for raw in [
            "cursor://anysphere.cursor-retrieval/oauth/callback",
            "vscode://vscode.github-authentication/did-authenticate",
            "vscode-insiders://vscode.github-authentication/did-authenticate",
        ] {
            assert_eq!(parse(raw).as_str(), raw);
        }
    }

    #[test]
    fn script_data_file_and_other_schemes_are_refused() {
        for (raw, scheme) in [
            ("javascript:alert(1)", "javascript"),
            ("JavaScript:alert(1)", "javascript"),
            ("data:text/html,<script>alert(1)</script>", "data"),
            ("file:///etc/passwd", "file"),
            ("vbscript:msgbox(1)", "vbscript"),
            ("blob:https://app.example.com/0b6e", "blob"),
            ("about:blank", "about"),
            ("ftp://example.com/cb", "ftp"),
            ("mailto:a@example.com", "mailto"),
            ("intent://cb#Intent;end", "intent"),
        ] {
            // `intent://…#…` fails on its fragment first; either way it is refused.
            let refused = RedirectUri::parse(raw).expect_err(raw);
            assert!(
                refused == RedirectError::Scheme(scheme.into())
                    || refused == RedirectError::Fragment,
                "{raw}: {refused:?}"
            );
        }
    }

    #[test]
    fn a_look_alike_private_use_scheme_is_refused() {
        for (raw, scheme) in [
            ("cursorx://anysphere.cursor-retrieval/cb", "cursorx"),
            ("vscode-evil://cb", "vscode-evil"),
            ("com..example:/cb", "com..example"),
            ("com.example.:/cb", "com.example."),
            ("cursor.:/cb", "cursor."),
            ("com.example+app:/cb", "com.example+app"),
        ] {
            assert_eq!(
                RedirectUri::parse(raw),
                Err(RedirectError::Scheme(scheme.into())),
                "{raw}"
            );
        }
    }

    #[test]
    fn a_private_use_redirect_with_a_fragment_is_refused() {
        for raw in [
            "cursor://anysphere.cursor-retrieval/cb#x",
            "com.example.app:/cb#",
        ] {
            assert_eq!(
                RedirectUri::parse(raw),
                Err(RedirectError::Fragment),
                "{raw}"
            );
        }
    }

    #[test]
    fn a_refused_scheme_is_told_what_is_allowed() {
        let message = RedirectUri::parse("javascript:alert(1)")
            .expect_err("refused")
            .to_string();
        for allowed in [
            "https",
            "http to a loopback host",
            "com.example.app:/cb",
            "RFC 8252 §7.1",
            "cursor, vscode, vscode-insiders",
        ] {
            assert!(message.contains(allowed), "{message}");
        }
        let message = RedirectUri::parse("http://evil.example/cb")
            .expect_err("refused")
            .to_string();
        assert!(
            message.contains("loopback") && message.contains("https"),
            "{message}"
        );
    }

    #[test]
    fn an_https_redirect_matches_only_the_exact_string() {
        let registered = parse("https://claude.ai/api/mcp/auth_callback");
        assert!(registered.matches("https://claude.ai/api/mcp/auth_callback"));
        for other in [
            "https://claude.ai/api/mcp/auth_callback/",
            "https://claude.ai/api/mcp/auth_callback?x=1",
            "https://claude.ai:443/api/mcp/auth_callback",
            "https://claude.ai:8443/api/mcp/auth_callback",
            "https://CLAUDE.ai/api/mcp/auth_callback",
            "https://claude.ai/api/mcp/auth_callback#x",
            "https://claude.ai.evil.example/api/mcp/auth_callback",
            "http://claude.ai/api/mcp/auth_callback",
        ] {
            assert!(!registered.matches(other), "{other}");
        }
    }

    #[test]
    fn a_loopback_http_redirect_matches_on_any_port() {
        let registered = parse("http://127.0.0.1:8080/cb?x=1");
        assert!(registered.matches("http://127.0.0.1:8080/cb?x=1"));
        assert!(registered.matches("http://127.0.0.1:51004/cb?x=1"));
        assert!(registered.matches("http://127.0.0.1/cb?x=1"));
        let registered = parse("http://localhost/callback");
        assert!(registered.matches("http://localhost:6274/callback"));
        let registered = parse("http://[::1]/cb");
        assert!(registered.matches("http://[::1]:9999/cb"));
    }

    #[test]
    fn a_loopback_http_redirect_still_needs_equal_scheme_host_path_and_query() {
        let registered = parse("http://127.0.0.1:8080/cb?x=1");
        for other in [
            "https://127.0.0.1:8080/cb?x=1",
            "http://localhost:8080/cb?x=1",
            "http://[::1]:8080/cb?x=1",
            "http://127.0.0.1:8080/other?x=1",
            "http://127.0.0.1:8080/cb",
            "http://127.0.0.1:8080/cb?x=2",
            "http://127.0.0.1:8080/cb?x=1#frag",
            "http://user@127.0.0.1:8080/cb?x=1",
            "not a url",
        ] {
            assert!(!registered.matches(other), "{other}");
        }
    }

    #[test]
    fn a_private_use_redirect_matches_only_the_exact_string() {
        let registered = parse("cursor://anysphere.cursor-retrieval/oauth/callback");
        assert!(registered.matches("cursor://anysphere.cursor-retrieval/oauth/callback"));
        for other in [
            "cursor://anysphere.cursor-retrieval:8080/oauth/callback",
            "cursor://anysphere.cursor-retrieval/oauth/callback/",
            "cursor://anysphere.cursor-retrieval/oauth/callback?x=1",
            "cursor://evil.example/oauth/callback",
            "CURSOR://anysphere.cursor-retrieval/oauth/callback",
            "vscode://anysphere.cursor-retrieval/oauth/callback",
            "https://anysphere.cursor-retrieval/oauth/callback",
        ] {
            assert!(!registered.matches(other), "{other}");
        }
        let registered = parse("com.example.app:/oauth2redirect");
        assert!(registered.matches("com.example.app:/oauth2redirect"));
        for other in [
            "com.example.app://oauth2redirect",
            "com.example.app:/oauth2redirect/x",
            "com.example.evil:/oauth2redirect",
        ] {
            assert!(!registered.matches(other), "{other}");
        }
    }

    #[test]
    fn the_port_exception_is_only_for_loopback_http() {
        // https on loopback is matched exactly, like any https redirect.
        let registered = parse("https://localhost:8443/cb");
        assert!(!registered.matches("https://localhost:9443/cb"));
    }

    /// Property tests (proptest): redirect URIs nobody wrote by hand.
    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// URI-ish text: real schemes and hosts mixed with junk.
        fn uri() -> impl Strategy<Value = String> {
            (
                "https|http|javascript|data|file|vbscript|blob|about|cursor|vscode|custom\\.app|[a-z.+-]{1,8}",
                "://|:|:/",
                "127\\.0\\.0\\.1|localhost|\\[::1\\]|claude\\.ai|evil\\.example|10\\.0\\.0\\.1|[a-z.]{0,12}",
                "(:[0-9]{1,5})?",
                "(/[a-zA-Z0-9_.#?=&%-]{0,12}){0,3}",
            )
                .prop_map(|(scheme, sep, host, port, path)| format!("{scheme}{sep}{host}{port}{path}"))
        }

        /// A registered-looking URI and a request for it, often a near miss:
        /// another port, a longer path, userinfo, a look-alike host.
        fn pair() -> impl Strategy<Value = (String, String)> {
            uri().prop_flat_map(|registered| {
                let variants = (0..5usize, "[/?a-z0-9.:@-]{1,8}", "[0-9]{1,5}").prop_map({
                    let r = registered.clone();
                    move |(kind, junk, port)| match kind {
                        0 => format!("{r}{junk}"),
                        1 => r.replacen("127.0.0.1", "127.0.0.2", 1).replacen(
                            "localhost",
                            "localhost.evil.example",
                            1,
                        ),
                        2 => r.replacen("://", &format!("://{junk}@"), 1),
                        3 => match r
                            .find("://")
                            .and_then(|at| r[at + 3..].find('/').map(|p| at + 3 + p))
                        {
                            Some(end) => format!("{}:{port}{}", &r[..end], &r[end..]),
                            None => format!("{r}:{port}"),
                        },
                        _ => r.clone(),
                    }
                });
                (Just(registered), prop_oneof![uri(), variants])
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(1024))]

            /// Whatever is registered is https, http on loopback, or a
            /// private-use scheme that is never a script, data or file one,
            /// without a fragment.
            #[test]
            fn only_allowed_schemes_are_registered(raw in uri()) {
                if let Ok(registered) = RedirectUri::parse(&raw) {
                    let url = &registered.url;
                    let scheme = url.scheme();
                    prop_assert!(!raw.contains('#'));
                    prop_assert!(
                        scheme == "https"
                            || (scheme == "http" && is_loopback(url))
                            || scheme.contains('.')
                            || HOST_SCHEMES.contains(&scheme)
                    );
                    prop_assert!(!["javascript", "data", "file", "vbscript", "blob", "about", "ftp"].contains(&scheme));
                }
            }

            /// A registered https URI matches only itself, exactly; a loopback
            /// one matches only itself on another port. Never another host.
            #[test]
            fn a_redirect_matches_only_its_registered_uri((registered, requested) in pair()) {
                let Ok(registered) = RedirectUri::parse(&registered) else {
                    return Ok(());
                };
                if registered.matches(&requested) && requested != registered.raw {
                    let requested = Url::parse(&requested).expect("a loopback match parses");
                    prop_assert_eq!(registered.url.scheme(), "http");
                    prop_assert_eq!(requested.host(), registered.url.host());
                    prop_assert_eq!(requested.path(), registered.url.path());
                    prop_assert_eq!(requested.query(), registered.url.query());
                }
            }
        }
    }
}
