//! The issuer's signing keys (RFC 7517 JWKS, RFC 7638 thumbprint `kid`s).
//!
//! One RSA key signs; keys it replaced stay published until the tokens they
//! signed have expired, so a rotation never breaks a live session. The key
//! ring is kept in one JSON file, created with mode 0600 and written
//! atomically (temporary file, then rename); a file others can read is
//! refused rather than used.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::{
    RsaPrivateKey,
    pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey, LineEnding},
    traits::PublicKeyParts,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The key ring's file name inside the state folder.
pub const KEY_FILE: &str = "signing-keys.json";
const RSA_BITS: usize = 2048;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`")]
    Exposed { path: PathBuf, mode: u32 },
    #[error("{path} is not a valid key ring: {problem}")]
    Corrupt { path: PathBuf, problem: String },
    #[error("RSA key generation failed: {0}")]
    Generate(String),
}

#[derive(Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    private_pem: String,
    created_at: i64,
    /// Unix time after which a replaced key is dropped from the JWKS.
    #[serde(default)]
    retire_after: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct StoredRing {
    keys: Vec<StoredKey>,
}

/// One usable key.
pub struct SigningKey {
    pub kid: String,
    encoding: EncodingKey,
    jwk: Value,
    private_pem: String,
    created_at: i64,
    retire_after: Option<i64>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    fn generate(now: i64) -> Result<Self, KeyError> {
        let mut rng = rsa::rand_core::OsRng;
        let private = RsaPrivateKey::new(&mut rng, RSA_BITS)
            .map_err(|e| KeyError::Generate(e.to_string()))?;
        let pem = private
            .to_pkcs1_pem(LineEnding::LF)
            .map_err(|e| KeyError::Generate(e.to_string()))?;
        Self::from_pem(pem.to_string(), now, None).map_err(KeyError::Generate)
    }

    fn from_pem(
        private_pem: String,
        created_at: i64,
        retire_after: Option<i64>,
    ) -> Result<Self, String> {
        let private = RsaPrivateKey::from_pkcs1_pem(&private_pem).map_err(|e| e.to_string())?;
        let n = B64.encode(private.n().to_bytes_be());
        let e = B64.encode(private.e().to_bytes_be());
        let kid = thumbprint(&n, &e);
        let encoding =
            EncodingKey::from_rsa_pem(private_pem.as_bytes()).map_err(|e| e.to_string())?;
        let jwk = json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e});
        Ok(Self {
            kid,
            encoding,
            jwk,
            private_pem,
            created_at,
            retire_after,
        })
    }

    /// Signs `claims` as an RS256 JWT whose header names this key.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        header.typ = Some("at+jwt".into());
        jsonwebtoken::encode(&header, claims, &self.encoding)
    }
}

/// RFC 7638 §3: SHA-256 over the required members in lexicographic order.
fn thumbprint(n: &str, e: &str) -> String {
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    B64.encode(Sha256::digest(canonical.as_bytes()))
}

/// The signing key and the retired keys still published.
#[derive(Debug)]
pub struct KeyRing {
    path: PathBuf,
    current: SigningKey,
    retired: Vec<SigningKey>,
}

impl KeyRing {
    /// Loads the ring from `dir`, or creates one with a fresh key on first start.
    pub fn load_or_create(dir: &Path, now: i64) -> Result<Self, KeyError> {
        let path = dir.join(KEY_FILE);
        if !path.exists() {
            let ring = Self {
                path,
                current: SigningKey::generate(now)?,
                retired: vec![],
            };
            ring.save()?;
            return Ok(ring);
        }
        Self::load(&path, now)
    }

    /// Loads an existing ring (used by `devkit mint-token`, which must not create one).
    pub fn load(path: &Path, now: i64) -> Result<Self, KeyError> {
        check_private(path)?;
        let text = fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        let corrupt = |problem: String| KeyError::Corrupt {
            path: path.to_owned(),
            problem,
        };
        let stored: StoredRing = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        let mut keys = stored
            .keys
            .into_iter()
            .filter(|k| k.retire_after.is_none_or(|t| t > now))
            .map(|k| SigningKey::from_pem(k.private_pem, k.created_at, k.retire_after))
            .collect::<Result<Vec<_>, _>>()
            .map_err(corrupt)?;
        let at = keys
            .iter()
            .position(|k| k.retire_after.is_none())
            .ok_or_else(|| corrupt("no current key".into()))?;
        let current = keys.remove(at);
        Ok(Self {
            path: path.to_owned(),
            current,
            retired: keys,
        })
    }

    pub fn current(&self) -> &SigningKey {
        &self.current
    }

    /// A new signing key; the old one stays published until `retire_after`.
    pub fn rotate(&mut self, now: i64, retire_after: i64) -> Result<(), KeyError> {
        let mut old = std::mem::replace(&mut self.current, SigningKey::generate(now)?);
        old.retire_after = Some(retire_after);
        self.retired
            .retain(|k| k.retire_after.is_some_and(|t| t > now));
        self.retired.push(old);
        self.save()
    }

    /// The public keys: the current one and those not yet retired.
    pub fn jwks(&self, now: i64) -> Value {
        let keys: Vec<&Value> = std::iter::once(&self.current)
            .chain(
                self.retired
                    .iter()
                    .filter(|k| k.retire_after.is_some_and(|t| t > now)),
            )
            .map(|k| &k.jwk)
            .collect();
        json!({ "keys": keys })
    }

    fn save(&self) -> Result<(), KeyError> {
        let stored = StoredRing {
            keys: std::iter::once(&self.current)
                .chain(&self.retired)
                .map(|k| StoredKey {
                    kid: k.kid.clone(),
                    private_pem: k.private_pem.clone(),
                    created_at: k.created_at,
                    retire_after: k.retire_after,
                })
                .collect(),
        };
        let text = serde_json::to_string_pretty(&stored).unwrap_or_default();
        write_private(&self.path, text.as_bytes())
    }
}

/// Writes `bytes` to `path` atomically, readable by the owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let fail = |source| KeyError::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(fail)?;
    }
    let tmp = path.with_extension("tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(fail)?;
    file.write_all(bytes).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    fs::rename(&tmp, path).map_err(fail)
}

/// Refuses a key file that group or others can read.
fn check_private(path: &Path) -> Result<(), KeyError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = fs::metadata(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::Exposed {
                path: path.to_owned(),
                mode,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_created_once_private_and_reloaded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = KeyRing::load_or_create(dir.path(), 100).expect("create");
        let again = KeyRing::load_or_create(dir.path(), 200).expect("reload");
        assert_eq!(first.current().kid, again.current().kid);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(KEY_FILE))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_readable_key_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        KeyRing::load_or_create(dir.path(), 100).expect("create");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.path().join(KEY_FILE);
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
            assert!(matches!(
                KeyRing::load_or_create(dir.path(), 200),
                Err(KeyError::Exposed { .. })
            ));
        }
    }

    #[test]
    fn rotation_keeps_the_old_key_published_until_its_tokens_expire() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ring = KeyRing::load_or_create(dir.path(), 100).expect("create");
        let old = ring.current().kid.clone();
        ring.rotate(200, 300).expect("rotate");
        let new = ring.current().kid.clone();
        assert_ne!(old, new);
        let kids = |ring: &KeyRing, now| -> Vec<String> {
            ring.jwks(now)["keys"]
                .as_array()
                .expect("keys")
                .iter()
                .map(|k| k["kid"].as_str().unwrap_or_default().to_owned())
                .collect()
        };
        assert_eq!(kids(&ring, 250), [new.as_str(), old.as_str()]);
        assert_eq!(kids(&ring, 300), [new.as_str()]);
        // The rotation survives a restart.
        let reloaded = KeyRing::load_or_create(dir.path(), 250).expect("reload");
        assert_eq!(reloaded.current().kid, new);
        assert_eq!(kids(&reloaded, 250), [new.as_str(), old.as_str()]);
    }

    #[test]
    fn kid_is_the_rfc7638_thumbprint() {
        // RFC 7638 §3.1's example key and thumbprint.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        assert_eq!(
            thumbprint(n, "AQAB"),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
