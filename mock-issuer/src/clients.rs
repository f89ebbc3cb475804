//! Known clients: dynamically registered ones (RFC 7591), persisted so a
//! host that registered once keeps working across restarts, and clients
//! identified by a metadata document URL (see [`crate::cimd`]).

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::RwLock,
};

use serde::{Deserialize, Serialize};

pub use crate::registration::AuthMethod;
use crate::{
    digest::{constant_time_eq, sha256_b64url},
    keys::{KeyError, write_private},
    redirect::RedirectUri,
    tokens::random_token,
};

/// The registered-clients file inside the state folder.
pub const CLIENTS_FILE: &str = "clients.json";

/// A client the issuer will talk to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Client {
    pub client_id: String,
    /// SHA-256 of the secret, base64url; `None` for public clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_sha256: Option<String>,
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub client_name: Option<String>,
    pub auth_method: AuthMethod,
    pub grant_types: Vec<String>,
    pub issued_at: i64,
}

impl Client {
    /// The registered redirect URI that `requested` matches (RFC 8252 §7.3
    /// lets loopback ports vary), or, with none requested, the only one.
    pub fn redirect_for(&self, requested: Option<&str>) -> Option<String> {
        match requested {
            Some(requested) => self
                .redirect_uris
                .iter()
                .filter_map(|r| RedirectUri::parse(r).ok())
                .any(|r| r.matches(requested))
                .then(|| requested.to_owned()),
            None if self.redirect_uris.len() == 1 => self.redirect_uris.first().cloned(),
            None => None,
        }
    }

    pub fn allows_grant(&self, grant_type: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant_type)
    }

    /// Checks a presented secret in constant time.
    pub fn secret_matches(&self, secret: &str) -> bool {
        match &self.secret_sha256 {
            Some(expected) => {
                constant_time_eq(sha256_b64url(secret).as_bytes(), expected.as_bytes())
            }
            None => false,
        }
    }
}

/// What registration decided, ready to be stored.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub redirect_uris: Vec<String>,
    pub client_name: Option<String>,
    pub auth_method: AuthMethod,
    pub grant_types: Vec<String>,
}

/// Registered clients, mirrored to a 0600 JSON file.
#[derive(Debug)]
pub struct ClientStore {
    path: Option<PathBuf>,
    clients: RwLock<HashMap<String, Client>>,
}

impl ClientStore {
    /// Loads `dir/clients.json` (absent is fine: no one registered yet).
    pub fn load(dir: &Path) -> Result<Self, KeyError> {
        let path = dir.join(CLIENTS_FILE);
        let clients: Vec<Client> = match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| KeyError::Corrupt {
                path: path.clone(),
                problem: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![],
            Err(source) => return Err(KeyError::Read { path, source }),
        };
        Ok(Self {
            path: Some(path),
            clients: RwLock::new(
                clients
                    .into_iter()
                    .map(|c| (c.client_id.clone(), c))
                    .collect(),
            ),
        })
    }

    /// A store that forgets on exit (tests).
    pub fn in_memory() -> Self {
        Self {
            path: None,
            clients: RwLock::default(),
        }
    }

    pub fn get(&self, client_id: &str) -> Option<Client> {
        self.clients
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(client_id)
            .cloned()
    }

    /// Registers a client; returns it and, for confidential clients, the
    /// secret (shown once, stored only as a hash).
    pub fn register(&self, new: NewClient, now: i64) -> Result<(Client, Option<String>), KeyError> {
        let secret = (new.auth_method != AuthMethod::None).then(|| random_token(32));
        let client = Client {
            client_id: format!("dcr_{}", random_token(16)),
            secret_sha256: secret.as_ref().map(|s| sha256_b64url(s)),
            redirect_uris: new.redirect_uris,
            client_name: new.client_name,
            auth_method: new.auth_method,
            grant_types: new.grant_types,
            issued_at: now,
        };
        let mut clients = self.clients.write().unwrap_or_else(|e| e.into_inner());
        clients.insert(client.client_id.clone(), client.clone());
        if let Some(path) = &self.path {
            let mut all: Vec<&Client> = clients.values().collect();
            all.sort_by(|a, b| {
                a.issued_at
                    .cmp(&b.issued_at)
                    .then(a.client_id.cmp(&b.client_id))
            });
            let text = serde_json::to_string_pretty(&all).unwrap_or_default();
            if let Err(e) = write_private(path, text.as_bytes()) {
                // Not persisted means not registered: a restart would forget it.
                clients.remove(&client.client_id);
                return Err(e);
            }
        }
        Ok((client, secret))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_client(method: AuthMethod) -> NewClient {
        NewClient {
            redirect_uris: vec![
                "http://127.0.0.1:3000/cb".into(),
                "https://claude.ai/api/mcp/auth_callback".into(),
            ],
            client_name: Some("test".into()),
            auth_method: method,
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        }
    }

    #[test]
    fn registered_clients_survive_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ClientStore::load(dir.path()).expect("load");
        let (client, secret) = store
            .register(new_client(AuthMethod::None), 5)
            .expect("register");
        assert!(secret.is_none(), "public clients get no secret");
        let again = ClientStore::load(dir.path()).expect("reload");
        let found = again.get(&client.client_id).expect("still registered");
        assert_eq!(found.redirect_uris, client.redirect_uris);
    }

    #[test]
    fn secrets_are_checked_and_never_stored_in_the_clear() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ClientStore::load(dir.path()).expect("load");
        let (client, secret) = store
            .register(new_client(AuthMethod::ClientSecretPost), 5)
            .expect("register");
        let secret = secret.expect("confidential clients get a secret");
        assert!(client.secret_matches(&secret));
        assert!(!client.secret_matches("guess"));
        let file = std::fs::read_to_string(dir.path().join(CLIENTS_FILE)).expect("file");
        assert!(!file.contains(&secret));
    }

    #[test]
    fn redirects_match_exactly_except_loopback_ports() {
        let store = ClientStore::in_memory();
        let (client, _) = store
            .register(new_client(AuthMethod::None), 5)
            .expect("register");
        assert!(
            client
                .redirect_for(Some("http://127.0.0.1:49152/cb"))
                .is_some()
        );
        assert!(
            client
                .redirect_for(Some("https://claude.ai/api/mcp/auth_callback"))
                .is_some()
        );
        assert!(
            client
                .redirect_for(Some("https://claude.ai/api/mcp/auth_callback/x"))
                .is_none()
        );
        assert!(
            client
                .redirect_for(Some("https://evil.example/cb"))
                .is_none()
        );
        assert!(
            client.redirect_for(None).is_none(),
            "two registered: one must be named"
        );
    }
}
