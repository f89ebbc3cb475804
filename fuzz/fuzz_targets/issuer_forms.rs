//! The issuer's form parsers on arbitrary input, decoded as its HTTP layer
//! decodes them (`application/x-www-form-urlencoded`), then checked:
//!
//! - the authorization request (the `GET /oauth/authorize` query, and the
//!   consent form's hidden fields): an error may be sent only to a redirect
//!   URI the client registered, and so may a code;
//! - the token request (`POST /oauth/token`) from the registered client: no
//!   token comes out, because no code or refresh token was ever given.
//!
//! Nothing may panic.
#![no_main]

use std::{sync::OnceLock, time::Duration};

use libfuzzer_sys::fuzz_target;
use mock_issuer::{
    authorize::{self, AuthorizeError, AuthorizeParams, Policy},
    cimd::MetadataDocuments,
    clients::{AuthMethod, Client},
    exchange::TokenForm,
    issuer::{Issuer, IssuerSettings},
    registration::RegistrationRequest,
};

const NOW: i64 = 1_000_000;
const REDIRECTS: [&str; 2] = ["https://client.example/cb", "http://127.0.0.1:7777/cb"];

/// What every input runs against, made once per fuzzing process.
struct World {
    runtime: tokio::runtime::Runtime,
    issuer: Issuer,
    /// The issuer's one registered client.
    client_id: String,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        // One folder for every run: the issuer keeps its key and clients there.
        let state_dir = std::env::temp_dir().join("connector-devkit-fuzz-issuer");
        let settings = IssuerSettings {
            issuer: "https://issuer.example".into(),
            state_dir,
            auto_approve: false,
            fixed_user: None,
            default_audience: Some("https://app.example/mcp".into()),
            access_ttl: Duration::from_secs(600),
            refresh_ttl: Duration::from_secs(3600),
            refresh_reuse_interval: Duration::from_secs(30),
            allow_loopback_documents: false,
            passcode: None,
            activity: kit_serve::activity::Activity::off(),
        };
        let issuer = Issuer::open(settings, NOW).expect("the issuer opens");
        let request: RegistrationRequest = serde_json::from_value(serde_json::json!({
            "redirect_uris": REDIRECTS,
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
        }))
        .expect("a registration request");
        let registered = issuer.register(request, NOW).expect("registered");
        let client_id = registered["client_id"]
            .as_str()
            .expect("a client_id")
            .to_owned();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        World {
            runtime,
            issuer,
            client_id,
        }
    })
}

/// The client that `authorize::check` sees for any `client_id`.
fn client() -> Client {
    Client {
        client_id: "fuzz-client".into(),
        secret_sha256: None,
        redirect_uris: REDIRECTS.iter().map(|r| (*r).to_owned()).collect(),
        client_name: None,
        auth_method: AuthMethod::None,
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        issued_at: NOW,
    }
}

/// Whether a browser sent to `uri` lands on a registered redirect URI
/// (a loopback one on any port, RFC 8252 §7.3).
fn lands_on_registered(uri: &str) -> bool {
    let Ok(url) = url::Url::parse(uri) else {
        return false;
    };
    let plain = url.query().is_none() && url.fragment().is_none() && url.username().is_empty();
    let https = url.scheme() == "https" && url.host_str() == Some("client.example");
    let loopback = url.scheme() == "http" && url.host_str() == Some("127.0.0.1");
    plain && url.path() == "/cb" && (https && url.port().is_none() || loopback)
}

fuzz_target!(|data: &[u8]| {
    if let Ok(params) = serde_urlencoded::from_bytes::<AuthorizeParams>(data) {
        let policy = Policy {
            scopes_supported: vec!["openid".into(), "email".into(), "offline_access".into()],
            default_audience: None,
        };
        let known = params.client_id.as_ref().map(|_| client());
        match authorize::check(&params, known, &policy) {
            Ok(valid) => assert!(
                lands_on_registered(&valid.redirect_uri),
                "a code would go to {}",
                valid.redirect_uri
            ),
            Err(AuthorizeError::Redirect { redirect_uri, .. }) => assert!(
                lands_on_registered(&redirect_uri),
                "an error would go to {redirect_uri}"
            ),
            Err(AuthorizeError::Page(_)) => {}
        }
    }
    if let Ok(mut form) = serde_urlencoded::from_bytes::<TokenForm>(data) {
        // A URL client_id would be fetched from the network; those have
        // their own tests. Any other is made the registered one, so the
        // grant checks behind client authentication are reached.
        if form
            .client_id
            .as_deref()
            .is_some_and(MetadataDocuments::is_document_id)
        {
            return;
        }
        let world = world();
        form.client_id = Some(world.client_id.clone());
        let issued = world.runtime.block_on(world.issuer.token(form, None, NOW));
        assert!(
            issued.is_err(),
            "a token without any code or refresh token given"
        );
    }
});
