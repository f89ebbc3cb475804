//! Median cost of one RS256 `decode` (signature + claim checks) with a
//! 2048-bit key, for whichever backend this binary was built with.

use std::time::Instant;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use rsa::{
    RsaPrivateKey,
    pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey},
};

#[derive(serde::Serialize, serde::Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    aud: String,
    exp: u64,
}

const ROUNDS: usize = 15;
const PER_ROUND: usize = 500;

fn main() {
    let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("key");
    let private_pem = key.to_pkcs1_pem(Default::default()).expect("pem");
    let public_pem = key
        .to_public_key()
        .to_pkcs1_pem(Default::default())
        .expect("pem");
    let encoding = EncodingKey::from_rsa_pem(private_pem.as_bytes()).expect("encoding key");
    let decoding = DecodingKey::from_rsa_pem(public_pem.as_bytes()).expect("decoding key");
    let claims = Claims {
        sub: "alice".into(),
        iss: "issuer".into(),
        aud: "aud".into(),
        exp: 4_000_000_000,
    };
    let token = encode(&Header::new(Algorithm::RS256), &claims, &encoding).expect("sign");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&["aud"]);
    validation.set_issuer(&["issuer"]);

    let mut micros: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..PER_ROUND {
                decode::<Claims>(&token, &decoding, &validation).expect("verifies");
            }
            start.elapsed().as_secs_f64() * 1e6 / PER_ROUND as f64
        })
        .collect();
    micros.sort_by(f64::total_cmp);
    let backend = if cfg!(feature = "aws") {
        "aws_lc_rs"
    } else {
        "rust_crypto"
    };
    println!(
        "{backend}: median {:.1} µs per RS256 verify (min {:.1}, max {:.1}; {ROUNDS}×{PER_ROUND})",
        micros[ROUNDS / 2],
        micros[0],
        micros[ROUNDS - 1]
    );
}
