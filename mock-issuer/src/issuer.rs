//! The issuer itself: its keys, clients and grants, and the protocol steps
//! the HTTP layer calls (register, authorize, approve, exchange). No HTTP
//! types here, so every step can be tested with plain inputs.

use std::{path::PathBuf, sync::RwLock, time::Duration};

use kit_serve::activity::{Activity, What};
use serde_json::Value;
use url::Url;

use crate::{
    authorize::{self, AuthorizeError, AuthorizeParams, Policy, ValidRequest, redirect_with},
    cimd::{CimdError, MetadataDocuments},
    clients::{AuthMethod, Client, ClientStore, NewClient},
    digest::constant_time_eq,
    exchange::{TokenError, TokenForm, TokenResponse},
    grants::{Grant, Grants, Minted, RefreshPolicy},
    keys::{KeyError, KeyRing},
    metadata::AuthorizationServerMetadata,
    passcode::{Passcode, PasscodeError, PasscodeGate},
    registration::{self, RegistrationError, RegistrationRequest},
    tokens::{self, TokenRequest},
};

/// Scopes this issuer knows. Tokens carry what was approved.
pub const SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// Everything the issuer is told (see `config.rs` for the flags).
#[derive(Debug, Clone)]
pub struct IssuerSettings {
    /// The exact issuer identifier (`iss`), a root URL without a trailing slash.
    pub issuer: String,
    pub state_dir: PathBuf,
    /// Approve every request at once as the fixed user (automated tests).
    pub auto_approve: bool,
    /// Sign in as this user instead of asking.
    pub fixed_user: Option<String>,
    /// `aud` for requests that name no RFC 8707 resource.
    pub default_audience: Option<String>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// How long a just-rotated refresh token still gets the same answer
    /// (`grants.rs`); zero revokes its family at once.
    pub refresh_reuse_interval: Duration,
    /// Tests only: accept `http://127.0.0.1` client metadata documents.
    pub allow_loopback_documents: bool,
    /// Ask for this code before approving a sign-in (`devkit up` through a tunnel).
    pub passcode: Option<Passcode>,
    /// Where each sign-in step is published (`devkit up`'s live lines).
    pub activity: Activity,
}

/// The person who approved a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub sub: String,
    pub email: Option<String>,
}

impl Person {
    /// What the person typed: a name or an email, which becomes `sub`
    /// (lower-cased, so `Ada` and `ada` are one person).
    pub fn parse(input: &str) -> Result<Self, String> {
        let text = input.trim();
        if text.is_empty() || text.chars().count() > 64 || text.chars().any(char::is_control) {
            return Err("type a name or email of 1 to 64 characters".into());
        }
        let sub = text.to_lowercase();
        let email = (sub.contains('@') && !sub.starts_with('@') && !sub.ends_with('@'))
            .then(|| sub.clone());
        Ok(Self { sub, email })
    }
}

/// The user auto-approval signs in as when no fixed user is set.
pub const DEFAULT_TEST_USER: &str = "test-user";

#[derive(Debug)]
pub struct Issuer {
    pub settings: IssuerSettings,
    issuer_url: Url,
    keys: RwLock<KeyRing>,
    clients: ClientStore,
    documents: MetadataDocuments,
    grants: Grants,
    policy: Policy,
    passcode: Option<PasscodeGate>,
}

/// Why the issuer could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("issuer URL `{0}` must be an http(s) URL without a path, query or trailing slash")]
    IssuerUrl(String),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("auto-approve and a sign-in passcode cannot both be on")]
    AutoApproveWithPasscode,
}

impl Issuer {
    /// Loads (or creates) the keys and the registered clients.
    pub fn open(settings: IssuerSettings, now: i64) -> Result<Self, StartError> {
        let issuer_url = Url::parse(&settings.issuer)
            .ok()
            .filter(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.path() == "/"
                    && u.query().is_none()
                    && !settings.issuer.ends_with('/')
            })
            .ok_or_else(|| StartError::IssuerUrl(settings.issuer.clone()))?;
        if settings.auto_approve && settings.passcode.is_some() {
            return Err(StartError::AutoApproveWithPasscode);
        }
        let keys = KeyRing::load_or_create(&settings.state_dir, now)?;
        let clients = ClientStore::load(&settings.state_dir)?;
        let policy = Policy {
            scopes_supported: SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            default_audience: settings.default_audience.clone(),
        };
        Ok(Self {
            documents: MetadataDocuments::new(settings.allow_loopback_documents),
            issuer_url,
            keys: RwLock::new(keys),
            clients,
            grants: Grants::default(),
            policy,
            passcode: settings.passcode.as_ref().map(PasscodeGate::new),
            settings,
        })
    }

    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    /// Whether approving a sign-in needs the terminal's passcode.
    pub fn asks_passcode(&self) -> bool {
        self.passcode.is_some()
    }

    /// Checks the passcode typed on the sign-in page, when one is asked for.
    pub fn check_passcode(&self, guess: Option<&str>, now: i64) -> Result<(), PasscodeError> {
        match &self.passcode {
            None => Ok(()),
            Some(gate) => gate.check(guess.unwrap_or_default(), now),
        }
    }

    pub fn metadata(&self) -> AuthorizationServerMetadata {
        AuthorizationServerMetadata::for_issuer(&self.issuer_url, &SCOPES)
    }

    pub fn jwks(&self, now: i64) -> Value {
        self.keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .jwks(now)
    }

    /// A new signing key; the old one stays published for one access-token lifetime.
    pub fn rotate_keys(&self, now: i64) -> Result<(), KeyError> {
        let grace = self.settings.access_ttl.as_secs() as i64 + 60;
        self.keys
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .rotate(now, now + grace)
    }

    /// A registered client, or the one a metadata document URL describes.
    pub async fn client(&self, client_id: &str, now: i64) -> Result<Option<Client>, CimdError> {
        if let Some(client) = self.clients.get(client_id) {
            return Ok(Some(client));
        }
        if MetadataDocuments::is_document_id(client_id) {
            return self.documents.client(client_id, now).await.map(Some);
        }
        Ok(None)
    }

    /// RFC 7591 §3: registers a client.
    pub fn register(
        &self,
        request: RegistrationRequest,
        now: i64,
    ) -> Result<Value, RegistrationError> {
        let valid = registration::validate(request)?;
        let new = NewClient {
            redirect_uris: valid
                .redirect_uris
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
            client_name: valid.client_name.clone(),
            auth_method: valid.token_endpoint_auth_method,
            grant_types: valid
                .grant_types
                .iter()
                .map(|g| g.as_str().to_owned())
                .collect(),
        };
        let (client, secret) = self.clients.register(new, now).map_err(|e| {
            tracing::error!(error = %e, "could not persist a registered client");
            RegistrationError::Server
        })?;
        let mut body = serde_json::json!({
            "client_id": client.client_id,
            "client_id_issued_at": client.issued_at,
            "redirect_uris": client.redirect_uris,
            "grant_types": client.grant_types,
            "response_types": ["code"],
            "token_endpoint_auth_method": client.auth_method.as_str(),
        });
        if let Some(name) = &client.client_name {
            body["client_name"] = Value::String(name.clone());
        }
        self.settings.activity.emit(What::Registered {
            client_id: client.client_id.clone(),
            client_name: client.client_name.clone(),
            how: "dcr",
        });
        if let Some(secret) = secret {
            body["client_secret"] = Value::String(secret);
            body["client_secret_expires_at"] = Value::from(0);
        }
        Ok(body)
    }

    /// Checks an authorization request, looking the client up first.
    pub async fn check_authorize(
        &self,
        params: &AuthorizeParams,
        now: i64,
    ) -> Result<ValidRequest, AuthorizeError> {
        let client = match &params.client_id {
            Some(id) => self
                .client(id, now)
                .await
                .map_err(|e| AuthorizeError::Page(e.to_string()))?,
            None => None,
        };
        authorize::check(params, client, &self.policy)
    }

    /// The person approved: a code goes back to the client.
    pub fn approve(&self, request: &ValidRequest, person: &Person, now: i64) -> String {
        self.settings.activity.emit(What::Approved {
            client_id: request.client.client_id.clone(),
            user: person.sub.clone(),
        });
        let grant = Grant {
            client_id: request.client.client_id.clone(),
            sub: person.sub.clone(),
            email: person.email.clone(),
            scope: request.scope.clone(),
            audience: request.audience.clone(),
        };
        let given = request
            .redirect_uri_given
            .then_some(request.redirect_uri.as_str());
        let code = self
            .grants
            .issue_code(grant, given, request.challenge.clone(), now);
        redirect_with(
            &request.redirect_uri,
            self.issuer(),
            request.state.as_deref(),
            &[("code", &code)],
        )
    }

    /// The person said no (RFC 6749 §4.1.2.1 `access_denied`).
    pub fn deny(&self, request: &ValidRequest) -> String {
        self.settings.activity.emit(What::Denied {
            client_id: request.client.client_id.clone(),
            why: "the person declined".into(),
        });
        redirect_with(
            &request.redirect_uri,
            self.issuer(),
            request.state.as_deref(),
            &[
                ("error", "access_denied"),
                ("error_description", "the person declined"),
            ],
        )
    }

    /// `POST /oauth/token`. `basic` is the client's HTTP Basic credentials, if sent.
    pub async fn token(
        &self,
        form: TokenForm,
        basic: Option<(String, String)>,
        now: i64,
    ) -> Result<TokenResponse, TokenError> {
        let client_id = form
            .client_id
            .clone()
            .or_else(|| basic.as_ref().map(|b| b.0.clone()));
        let answer = self.answer_token(form, basic, now).await;
        if let Err(error) = &answer {
            self.settings.activity.emit(What::TokenRefused {
                client_id,
                why: format!("{}: {error}", error.code()),
            });
        }
        answer
    }

    async fn answer_token(
        &self,
        form: TokenForm,
        basic: Option<(String, String)>,
        now: i64,
    ) -> Result<TokenResponse, TokenError> {
        let client = self.authenticate(&form, basic, now).await?;
        let grant_type = form.grant_type.as_deref().unwrap_or_default();
        if !matches!(
            grant_type,
            "authorization_code" | "refresh_token" | "client_credentials"
        ) {
            return Err(TokenError::UnsupportedGrantType);
        }
        if !client.allows_grant(grant_type) {
            return Err(TokenError::UnauthorizedClient(format!(
                "this client may not use {grant_type}"
            )));
        }
        if grant_type == "refresh_token" {
            return self.refresh(&form, &client, now);
        }
        let refresh_ttl = self.settings.refresh_ttl.as_secs() as i64;
        let (grant, refresh_token) = match grant_type {
            "authorization_code" => {
                let code = required(&form.code, "code")?;
                let verifier = required(&form.code_verifier, "code_verifier")?;
                let grant = self
                    .grants
                    .redeem_code(
                        code,
                        &client.client_id,
                        form.redirect_uri.as_deref(),
                        verifier,
                        now,
                    )
                    .map_err(TokenError::from)?;
                check_same_resource(form.resource.as_deref(), &grant)?;
                let refresh = client
                    .allows_grant("refresh_token")
                    .then(|| self.grants.issue_refresh(grant.clone(), refresh_ttl, now));
                (grant, refresh)
            }
            _ => {
                if client.auth_method == AuthMethod::None {
                    return Err(TokenError::UnauthorizedClient(
                        "client_credentials needs a confidential client".into(),
                    ));
                }
                let audience = match &form.resource {
                    Some(resource) => {
                        authorize::check_resource(resource).map_err(TokenError::InvalidTarget)?
                    }
                    None => self.settings.default_audience.clone().ok_or_else(|| {
                        TokenError::InvalidTarget("resource is required (RFC 8707)".into())
                    })?,
                };
                let scope = authorize::normalise_scope(
                    form.scope.as_deref(),
                    &self.policy.scopes_supported,
                )
                .map_err(|s| TokenError::InvalidScope(format!("unknown scope `{s}`")))?;
                let grant = Grant {
                    client_id: client.client_id.clone(),
                    sub: client.client_id.clone(),
                    email: None,
                    scope,
                    audience,
                };
                (grant, None)
            }
        };
        let lifetime = self.settings.access_ttl.as_secs() as i64;
        let access_token = self.mint(&grant, lifetime, now)?;
        if grant_type == "authorization_code" {
            self.settings.activity.emit(What::CodeExchanged {
                client_id: client.client_id.clone(),
                user: grant.sub.clone(),
            });
        }
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in: lifetime,
            refresh_token,
            scope: grant.scope,
        })
    }

    /// RFC 6749 §6 with rotation (RFC 9700 §4.14.2) and the reuse interval
    /// (`grants.rs`): a repeat within it gets the first answer again.
    fn refresh(
        &self,
        form: &TokenForm,
        client: &Client,
        now: i64,
    ) -> Result<TokenResponse, TokenError> {
        let token = required(&form.refresh_token, "refresh_token")?;
        let policy = RefreshPolicy {
            lifetime: self.settings.refresh_ttl.as_secs() as i64,
            reuse_interval: self.settings.refresh_reuse_interval.as_secs() as i64,
        };
        let lifetime = self.settings.access_ttl.as_secs() as i64;
        let successor = self.grants.rotate_refresh(
            token,
            &client.client_id,
            policy,
            now,
            |grant| -> Result<_, TokenError> {
                check_same_resource(form.resource.as_deref(), grant)?;
                let mut grant = grant.clone();
                if let Some(scope) = &form.scope {
                    grant.scope = narrower_scope(scope, &grant.scope)?;
                }
                Ok(Minted {
                    access_token: self.mint(&grant, lifetime, now)?,
                    expires_at: now.saturating_add(lifetime),
                    grant,
                })
            },
        )?;
        // A repeat is answered as it was first, but never for another resource.
        check_same_resource(form.resource.as_deref(), &successor.access.grant)?;
        self.settings.activity.emit(What::Refreshed {
            client_id: client.client_id.clone(),
            user: successor.access.grant.sub.clone(),
        });
        Ok(TokenResponse {
            access_token: successor.access.access_token,
            token_type: "Bearer".into(),
            expires_in: (successor.access.expires_at - now).max(0),
            refresh_token: Some(successor.refresh_token),
            scope: successor.access.grant.scope,
        })
    }

    fn mint(&self, grant: &Grant, lifetime: i64, now: i64) -> Result<String, TokenError> {
        let request = TokenRequest {
            issuer: self.issuer(),
            sub: &grant.sub,
            email: grant.email.as_deref(),
            audience: &grant.audience,
            scope: &grant.scope,
            client_id: &grant.client_id,
            lifetime,
        };
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        tokens::mint(keys.current(), &request, now).map_err(|e| {
            tracing::error!(error = %e, "could not sign an access token");
            TokenError::Server
        })
    }

    /// RFC 6749 §2.3: Basic or form credentials for confidential clients,
    /// `client_id` alone for public ones. Never both methods at once.
    async fn authenticate(
        &self,
        form: &TokenForm,
        basic: Option<(String, String)>,
        now: i64,
    ) -> Result<Client, TokenError> {
        let used_basic = basic.is_some();
        let invalid = |description: &str| TokenError::InvalidClient {
            description: description.into(),
            used_basic,
        };
        if used_basic && form.client_secret.is_some() {
            return Err(TokenError::InvalidRequest(
                "use one client authentication method, not two".into(),
            ));
        }
        let (client_id, secret) = match basic {
            Some((id, secret)) => {
                if form.client_id.as_deref().is_some_and(|f| f != id) {
                    return Err(TokenError::InvalidRequest(
                        "client_id differs from the Basic credentials".into(),
                    ));
                }
                (id, Some(secret))
            }
            None => (
                required(&form.client_id, "client_id")?.to_owned(),
                form.client_secret.clone(),
            ),
        };
        let client = self
            .client(&client_id, now)
            .await
            .map_err(|e| invalid(&e.to_string()))?
            .ok_or_else(|| invalid("unknown client: register again"))?;
        let method_ok = match (client.auth_method, &secret) {
            (AuthMethod::None, None) => true,
            (AuthMethod::None, Some(_)) => false,
            (AuthMethod::ClientSecretBasic, Some(s)) => used_basic && client.secret_matches(s),
            (AuthMethod::ClientSecretPost, Some(s)) => !used_basic && client.secret_matches(s),
            (_, None) => false,
        };
        if !method_ok {
            return Err(invalid("client authentication failed"));
        }
        Ok(client)
    }
}

fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, TokenError> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| TokenError::InvalidRequest(format!("{name} is required")))
}

/// RFC 8707 §2.2: a resource at the token endpoint must be one the grant covers.
fn check_same_resource(resource: Option<&str>, grant: &Grant) -> Result<(), TokenError> {
    match resource {
        Some(r) if !constant_time_eq(r.as_bytes(), grant.audience.as_bytes()) => Err(
            TokenError::InvalidTarget("resource differs from the one that was authorized".into()),
        ),
        _ => Ok(()),
    }
}

/// RFC 6749 §6: a refresh may ask for less, never more.
fn narrower_scope(requested: &str, granted: &str) -> Result<String, TokenError> {
    let granted: Vec<&str> = granted.split_whitespace().collect();
    let mut out: Vec<&str> = Vec::new();
    for s in requested.split_whitespace() {
        if !granted.contains(&s) {
            return Err(TokenError::InvalidScope(format!("`{s}` was not granted")));
        }
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_person_types_becomes_sub_and_email() {
        assert_eq!(
            Person::parse("  Ada@Example.org "),
            Ok(Person {
                sub: "ada@example.org".into(),
                email: Some("ada@example.org".into())
            })
        );
        assert_eq!(
            Person::parse("Ada").map(|p| (p.sub, p.email)),
            Ok(("ada".into(), None))
        );
        assert!(Person::parse("").is_err());
        assert!(Person::parse(&"x".repeat(65)).is_err());
        assert!(Person::parse("a\u{0}b").is_err());
    }

    fn open(dir: &std::path::Path) -> Issuer {
        let settings = IssuerSettings {
            issuer: "http://127.0.0.1:9000".into(),
            state_dir: dir.to_owned(),
            auto_approve: false,
            fixed_user: None,
            default_audience: Some("http://127.0.0.1:8000/mcp".into()),
            access_ttl: Duration::from_secs(600),
            refresh_ttl: Duration::from_secs(3600),
            refresh_reuse_interval: Duration::from_secs(30),
            allow_loopback_documents: false,
            passcode: None,
            activity: Activity::off(),
        };
        Issuer::open(settings, 1_000).expect("issuer opens")
    }

    fn register(issuer: &Issuer, body: Value) -> Value {
        let request: RegistrationRequest = serde_json::from_value(body).expect("request");
        issuer.register(request, 1_000).expect("registered")
    }

    fn form(pairs: &[(&str, &str)]) -> TokenForm {
        let text: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        serde_json::from_value(Value::Object(
            url::form_urlencoded::parse(text.as_bytes())
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect(),
        ))
        .expect("form")
    }

    #[test]
    fn an_issuer_url_with_a_trailing_slash_or_path_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        for bad in [
            "http://127.0.0.1:9000/",
            "http://127.0.0.1:9000/tenant",
            "ftp://x",
        ] {
            let mut settings = open(dir.path()).settings;
            settings.issuer = bad.into();
            assert!(
                matches!(Issuer::open(settings, 0), Err(StartError::IssuerUrl(_))),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn client_credentials_needs_the_right_secret_in_the_registered_way() {
        let dir = tempfile::tempdir().expect("tempdir");
        let issuer = open(dir.path());
        let reg = register(
            &issuer,
            serde_json::json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_post"}),
        );
        let id = reg["client_id"].as_str().expect("id");
        let secret = reg["client_secret"].as_str().expect("secret");
        let ok = issuer
            .token(
                form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", id),
                    ("client_secret", secret),
                ]),
                None,
                1_001,
            )
            .await
            .expect("token");
        assert_eq!(ok.token_type, "Bearer");
        assert!(ok.refresh_token.is_none());
        let wrong = issuer
            .token(
                form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", id),
                    ("client_secret", "nope"),
                ]),
                None,
                1_001,
            )
            .await;
        assert_eq!(wrong.map_err(|e| e.code()), Err("invalid_client"));
        // Registered for the body, so Basic is refused even with the right secret.
        let basic = issuer
            .token(
                form(&[("grant_type", "client_credentials")]),
                Some((id.into(), secret.into())),
                1_001,
            )
            .await;
        assert_eq!(basic.map_err(|e| e.code()), Err("invalid_client"));
    }

    #[tokio::test]
    async fn unknown_clients_are_told_to_register_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let issuer = open(dir.path());
        let result = issuer
            .token(
                form(&[
                    ("grant_type", "authorization_code"),
                    ("client_id", "dcr_gone"),
                    ("code", "x"),
                ]),
                None,
                1,
            )
            .await;
        let error = result.expect_err("unknown client");
        assert_eq!((error.code(), error.status()), ("invalid_client", 401));
        assert!(error.to_string().contains("register again"));
    }

    #[tokio::test]
    async fn a_public_client_cannot_use_client_credentials_or_unknown_grants() {
        let dir = tempfile::tempdir().expect("tempdir");
        let issuer = open(dir.path());
        let reg = register(
            &issuer,
            serde_json::json!({"redirect_uris": ["https://claude.ai/api/mcp/auth_callback"], "token_endpoint_auth_method": "none"}),
        );
        let id = reg["client_id"].as_str().expect("id");
        let cc = issuer
            .token(
                form(&[("grant_type", "client_credentials"), ("client_id", id)]),
                None,
                1,
            )
            .await;
        assert_eq!(cc.map_err(|e| e.code()), Err("unauthorized_client"));
        let password = issuer
            .token(
                form(&[("grant_type", "password"), ("client_id", id)]),
                None,
                1,
            )
            .await;
        assert_eq!(
            password.map_err(|e| e.code()),
            Err("unsupported_grant_type")
        );
    }

    #[tokio::test]
    async fn the_full_code_flow_and_refresh_rotation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let issuer = open(dir.path());
        let reg = register(
            &issuer,
            serde_json::json!({"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none",
                               "grant_types": ["authorization_code", "refresh_token"]}),
        );
        let id = reg["client_id"].as_str().expect("id").to_owned();
        let params = AuthorizeParams {
            response_type: Some("code".into()),
            client_id: Some(id.clone()),
            redirect_uri: Some("http://127.0.0.1:5555/cb".into()),
            state: Some("s".into()),
            code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
            code_challenge_method: Some("S256".into()),
            scope: Some("openid".into()),
            resource: Some("https://app.example/mcp".into()),
        };
        let request = issuer.check_authorize(&params, 1_000).await.expect("valid");
        let person = Person::parse("Ada").expect("person");
        let location = url::Url::parse(&issuer.approve(&request, &person, 1_000)).expect("url");
        let code = location
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .expect("code");
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let exchange = |code: String, resource: &'static str| {
            form(&[
                ("grant_type", "authorization_code"),
                ("client_id", &id),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1:5555/cb"),
                ("code_verifier", verifier),
                ("resource", resource),
            ])
        };
        let tokens = issuer
            .token(
                exchange(code.clone(), "https://app.example/mcp"),
                None,
                1_001,
            )
            .await
            .expect("tokens");
        let claims = jsonwebtoken::dangerous::insecure_decode::<crate::tokens::AccessClaims>(
            &tokens.access_token,
        )
        .expect("claims")
        .claims;
        assert_eq!(
            (
                claims.aud.as_str(),
                claims.sub.as_str(),
                claims.iss.as_str()
            ),
            ("https://app.example/mcp", "ada", "http://127.0.0.1:9000")
        );
        assert_eq!(claims.exp - claims.iat, 600);
        let replay = issuer
            .token(exchange(code, "https://app.example/mcp"), None, 1_002)
            .await;
        assert_eq!(replay.map_err(|e| e.code()), Err("invalid_grant"));

        let refresh = tokens.refresh_token.expect("a refresh token");
        let refresh_at = |now: i64| {
            issuer.token(
                form(&[
                    ("grant_type", "refresh_token"),
                    ("client_id", &id),
                    ("refresh_token", &refresh),
                ]),
                None,
                now,
            )
        };
        let rotated = refresh_at(1_003).await.expect("rotated");
        assert_ne!(rotated.refresh_token.as_deref(), Some(refresh.as_str()));
        assert_eq!(rotated.expires_in, 600);
        // A retry within the 30 s reuse interval gets the same tokens, with
        // `expires_in` counting down; after it, reuse revokes the family.
        let retried = refresh_at(1_013).await.expect("the same answer");
        assert_eq!(
            (&retried.access_token, &retried.refresh_token),
            (&rotated.access_token, &rotated.refresh_token)
        );
        assert_eq!(retried.expires_in, 590);
        let reused = refresh_at(1_033).await;
        assert_eq!(reused.map_err(|e| e.code()), Err("invalid_grant"));
        let successor = issuer
            .token(
                form(&[
                    ("grant_type", "refresh_token"),
                    ("client_id", &id),
                    ("refresh_token", &rotated.refresh_token.expect("rotated")),
                ]),
                None,
                1_034,
            )
            .await;
        assert_eq!(successor.map_err(|e| e.code()), Err("invalid_grant"));
    }

    #[test]
    fn a_refresh_may_narrow_scope_but_not_widen_it() {
        assert_eq!(
            narrower_scope("openid", "openid email"),
            Ok("openid".into())
        );
        assert!(narrower_scope("openid admin", "openid email").is_err());
    }
}
