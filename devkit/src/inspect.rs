//! The dashboard's token inspector: a pasted JWT's header and claims, and
//! the gateway's four checks (signature, issuer, audience, expiry) made
//! against the running configuration, each passing or failing with the
//! reason in plain words. It decides nothing: the gateway's own verifier
//! does that on every call; this only explains.

use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use serde::Serialize;
use serde_json::Value;

/// What the running `devkit up` accepts.
#[derive(Debug, Clone)]
pub(crate) struct Expected {
    pub issuer: String,
    pub audience: String,
    /// The issuer's published keys.
    pub jwks: JwkSet,
}

/// The inspector's answer.
#[derive(Debug, Serialize)]
pub(crate) struct Inspection {
    pub header: Value,
    pub claims: Value,
    pub checks: Vec<Check>,
}

#[derive(Debug, Serialize, PartialEq)]
pub(crate) struct Check {
    pub name: &'static str,
    pub passed: bool,
    pub why: String,
}

/// Inspects `token` at time `now` (seconds); `Err` when it is not a JWT at all.
pub(crate) fn inspect(token: &str, expected: &Expected, now: i64) -> Result<Inspection, String> {
    let token = token.trim().trim_start_matches("Bearer ").trim();
    let parts: Vec<&str> = token.split('.').collect();
    let [header, claims, _signature] = parts.as_slice() else {
        return Err("a JWT has three parts separated by dots".into());
    };
    let decode = |part: &str, what: &str| -> Result<Value, String> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part.trim_end_matches('='))
            .map_err(|_| format!("the {what} is not base64url"))?;
        serde_json::from_slice(&bytes).map_err(|_| format!("the {what} is not JSON"))
    };
    let header = decode(header, "header")?;
    let claims = decode(claims, "payload")?;
    let checks = vec![
        signature(token, &header, expected),
        issuer(&claims, expected),
        audience(&claims, expected),
        expiry(&claims, now),
    ];
    Ok(Inspection {
        header,
        claims,
        checks,
    })
}

fn check(name: &'static str, passed: bool, why: impl Into<String>) -> Check {
    Check {
        name,
        passed,
        why: why.into(),
    }
}

fn signature(token: &str, header: &Value, expected: &Expected) -> Check {
    const NAME: &str = "signature";
    if header["alg"] != "RS256" {
        return check(
            NAME,
            false,
            format!("alg is {}; only RS256 is accepted", header["alg"]),
        );
    }
    let Some(kid) = header["kid"].as_str() else {
        return check(NAME, false, "the header names no key (kid)");
    };
    let Some(jwk) = expected.jwks.find(kid) else {
        return check(
            NAME,
            false,
            format!(
                "key `{kid}` is not in the issuer's JWKS: signed by another issuer, or a key it no longer publishes"
            ),
        );
    };
    let key = match DecodingKey::from_jwk(jwk) {
        Ok(key) => key,
        Err(e) => {
            return check(
                NAME,
                false,
                format!("the issuer's key `{kid}` is unusable: {e}"),
            );
        }
    };
    // Only the signature here; the other checks follow, one by one.
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    match jsonwebtoken::decode::<Value>(token, &key, &validation) {
        Ok(_) => check(
            NAME,
            true,
            format!("RS256, signed by the issuer's key `{kid}`"),
        ),
        Err(e) => check(
            NAME,
            false,
            format!("the signature does not verify with key `{kid}`: {e}"),
        ),
    }
}

fn issuer(claims: &Value, expected: &Expected) -> Check {
    const NAME: &str = "issuer";
    match claims["iss"].as_str() {
        Some(iss) if iss == expected.issuer => check(NAME, true, format!("iss is {iss}")),
        Some(iss) => check(
            NAME,
            false,
            format!(
                "issued by {iss}, but the gateway trusts {}",
                expected.issuer
            ),
        ),
        None => check(NAME, false, "the token has no iss claim"),
    }
}

fn audience(claims: &Value, expected: &Expected) -> Check {
    const NAME: &str = "audience";
    let audiences: Vec<&str> = match &claims["aud"] {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if audiences.is_empty() {
        return check(NAME, false, "the token has no aud claim");
    }
    if audiences.contains(&expected.audience.as_str()) {
        check(NAME, true, format!("aud is {}", expected.audience))
    } else {
        check(
            NAME,
            false,
            format!(
                "issued for {}, but this connector is {}: the host signed in for another URL (an old tunnel?)",
                audiences.join(", "),
                expected.audience
            ),
        )
    }
}

fn expiry(claims: &Value, now: i64) -> Check {
    const NAME: &str = "expiry";
    let Some(exp) = claims["exp"].as_i64() else {
        return check(NAME, false, "the token has no exp claim");
    };
    let left = exp - now;
    if left > 0 {
        check(NAME, true, format!("expires in {}", span(left)))
    } else {
        check(
            NAME,
            false,
            format!("expired {} ago: the host should refresh it", span(-left)),
        )
    }
}

fn span(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s => format!("{} h", s / 3600),
    }
}

#[cfg(test)]
mod tests {
    use mock_issuer::{
        keys::KeyRing,
        tokens::{self, TokenRequest},
    };

    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn issuer_and_token(audience: &str, lifetime: i64) -> (Expected, String) {
        let dir = tempfile::tempdir().expect("temp dir");
        let ring = KeyRing::load_or_create(dir.path(), NOW).expect("a key");
        let jwks: JwkSet = serde_json::from_value(ring.jwks(NOW)).expect("a JWKS");
        let request = TokenRequest {
            issuer: "http://127.0.0.1:8000",
            sub: "ada",
            email: None,
            audience,
            scope: "openid",
            client_id: "c",
            lifetime,
        };
        let token = tokens::mint(ring.current(), &request, NOW).expect("signs");
        let expected = Expected {
            issuer: "http://127.0.0.1:8000".into(),
            audience: "http://127.0.0.1:8000/mcp".into(),
            jwks,
        };
        (expected, token)
    }

    fn verdicts(inspection: &Inspection) -> Vec<(&str, bool)> {
        inspection
            .checks
            .iter()
            .map(|c| (c.name, c.passed))
            .collect()
    }

    #[test]
    fn a_good_token_passes_all_four() {
        let (expected, token) = issuer_and_token("http://127.0.0.1:8000/mcp", 600);
        let seen = inspect(&token, &expected, NOW).expect("a JWT");
        assert_eq!(
            verdicts(&seen),
            [
                ("signature", true),
                ("issuer", true),
                ("audience", true),
                ("expiry", true)
            ]
        );
        assert_eq!(seen.claims["sub"], "ada");
        assert_eq!(seen.header["alg"], "RS256");
    }

    #[test]
    fn each_failure_says_why() {
        let (expected, token) = issuer_and_token("https://old-tunnel.example/mcp", -30);
        let seen = inspect(&token, &expected, NOW).expect("a JWT");
        assert_eq!(
            verdicts(&seen),
            [
                ("signature", true),
                ("issuer", true),
                ("audience", false),
                ("expiry", false)
            ]
        );
        assert!(seen.checks[2].why.contains("issued for https://old-tunnel.example/mcp, but this connector is http://127.0.0.1:8000/mcp"));
        assert!(seen.checks[3].why.contains("expired 30 s ago"));

        // Another issuer's key: the kid is not published here.
        let (other, foreign) = issuer_and_token("http://127.0.0.1:8000/mcp", 600);
        let seen = inspect(&foreign, &expected, NOW).expect("a JWT");
        assert!(!seen.checks[0].passed && seen.checks[0].why.contains("not in the issuer's JWKS"));
        drop(other);

        // A tampered payload no longer matches its signature.
        let (expected, token) = issuer_and_token("http://127.0.0.1:8000/mcp", 600);
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut claims: Value =
            serde_json::from_slice(&engine.decode(&parts[1]).expect("b64")).expect("json");
        claims["sub"] = "mallory".into();
        parts[1] = engine.encode(claims.to_string());
        let seen = inspect(&parts.join("."), &expected, NOW).expect("a JWT");
        assert!(!seen.checks[0].passed, "{:?}", seen.checks[0]);
    }

    #[test]
    fn not_a_jwt_is_said_plainly() {
        let (expected, _) = issuer_and_token("x", 1);
        assert!(
            inspect("abc", &expected, NOW)
                .expect_err("not a JWT")
                .contains("three parts")
        );
        assert!(
            inspect("YWJj.YWJj.c", &expected, NOW)
                .expect_err("not a JWT")
                .contains("not JSON")
        );
    }
}
