//! Sealing data under a secret the issuer does not keep.
//!
//! The issuer stores secrets only as SHA-256 digests, yet a refresh repeated
//! within the reuse interval must get back the tokens the first one got
//! (`grants.rs`). Those are sealed with ChaCha20-Poly1305 (RFC 8439) under a
//! key derived from the presented secret, so what is stored opens only for
//! someone who presents that secret again.
//!
//! The key is SHA-256 over a label naming its use and the secret: the same
//! secret seals nothing else, and the key is not the digest the secret is
//! looked up by. The AEAD is aws-lc-rs's, which the TLS stack already builds.

use aws_lc_rs::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use sha2::{Digest, Sha256};

/// Seals `plaintext` under a key derived from `label` and `secret`, bound to
/// `context` (authenticated, not encrypted). `None` only if the cipher fails.
pub fn seal(label: &str, secret: &str, context: &[u8], plaintext: &[u8]) -> Option<Vec<u8>> {
    let key = key(label, secret)?;
    // Each key seals once (a secret is rotated once), so a random nonce
    // never repeats under it; it is random anyway, at no cost.
    let nonce: [u8; NONCE_LEN] = rand::random();
    let mut sealed = plaintext.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(context),
        &mut sealed,
    )
    .ok()?;
    Some([nonce.as_slice(), &sealed].concat())
}

/// Opens what [`seal`] returned, given the same label, secret and context.
/// `None` if any of them differ or the data was changed.
pub fn open(label: &str, secret: &str, context: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    let key = key(label, secret)?;
    let (nonce, ciphertext) = sealed.split_at_checked(NONCE_LEN)?;
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut buffer = ciphertext.to_vec();
    let plaintext = key
        .open_in_place(nonce, Aad::from(context), &mut buffer)
        .ok()?;
    Some(plaintext.to_vec())
}

fn key(label: &str, secret: &str) -> Option<LessSafeKey> {
    let mut hasher = Sha256::new();
    // Length-prefixed, so no (label, secret) pair runs into another.
    hasher.update((label.len() as u64).to_be_bytes());
    hasher.update(label.as_bytes());
    hasher.update(secret.as_bytes());
    let unbound = UnboundKey::new(&CHACHA20_POLY1305, &hasher.finalize()).ok()?;
    Some(LessSafeKey::new(unbound))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABEL: &str = "test label";

    #[test]
    fn sealed_data_opens_with_the_same_secret_label_and_context() {
        let sealed = seal(LABEL, "secret", b"ctx", b"plain").expect("sealed");
        assert!(!sealed.windows(5).any(|w| w == b"plain"));
        assert_eq!(
            open(LABEL, "secret", b"ctx", &sealed).as_deref(),
            Some(&b"plain"[..])
        );
    }

    #[test]
    fn sealed_data_does_not_open_with_anything_else() {
        let sealed = seal(LABEL, "secret", b"ctx", b"plain").expect("sealed");
        assert_eq!(open(LABEL, "secreT", b"ctx", &sealed), None);
        assert_eq!(open("other label", "secret", b"ctx", &sealed), None);
        assert_eq!(open(LABEL, "secret", b"ctx2", &sealed), None);
        let mut changed = sealed.clone();
        let last = changed.len() - 1;
        changed[last] ^= 1;
        assert_eq!(open(LABEL, "secret", b"ctx", &changed), None);
        assert_eq!(open(LABEL, "secret", b"ctx", &sealed[..5]), None);
    }

    #[test]
    fn the_same_plaintext_seals_differently_each_time() {
        let a = seal(LABEL, "secret", b"", b"plain").expect("sealed");
        let b = seal(LABEL, "secret", b"", b"plain").expect("sealed");
        assert_ne!(a, b);
    }
}
