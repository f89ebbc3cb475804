//! The issuer's request parsers on arbitrary input: dynamic client
//! registration (RFC 7591) bodies and redirect URIs. None may panic, and
//! whatever registers may redirect only to https, loopback http, or a
//! native app's private-use scheme (reverse-domain, or a listed host's).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mock_issuer::{
    redirect::RedirectUri,
    registration::{RegistrationRequest, validate},
};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = serde_json::from_slice::<RegistrationRequest>(data)
        && let Ok(valid) = validate(request)
    {
        for uri in &valid.redirect_uris {
            let url = url::Url::parse(uri.as_str()).expect("a registered URI parses");
            let loopback = matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
            let private_use = url.scheme().contains('.')
                || mock_issuer::redirect::HOST_SCHEMES.contains(&url.scheme());
            assert!(url.scheme() == "https" || (url.scheme() == "http" && loopback) || private_use);
        }
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Some((registered, requested)) = text.split_once('\n')
        && let Ok(uri) = RedirectUri::parse(registered)
        && uri.matches(requested)
        && requested != registered
    {
        let (a, b) = (url::Url::parse(registered), url::Url::parse(requested));
        let (Ok(a), Ok(b)) = (a, b) else {
            panic!("a match that does not parse");
        };
        assert_eq!(a.host(), b.host());
        assert_eq!(a.path(), b.path());
        assert_eq!(a.query(), b.query());
    }
});
