//! The sign-in passcode `devkit up` asks for while the issuer is reachable
//! through a public tunnel: knowing the URL must not be enough to sign in.
//!
//! A new code is made on every start and shown only in the terminal. Guesses
//! are compared in constant time, and a few wrong ones lock the gate for a
//! while. The lock is global, not per address: behind a tunnel every request
//! comes from the tunnel's loopback connection, so there is no address to key
//! on. A stranger can therefore keep the gate locked, but cannot get through.

use std::{fmt, sync::Mutex};

use rand::Rng;

use crate::digest::{constant_time_eq, sha256_b64url};

/// Wrong guesses allowed before the gate locks.
pub const MAX_FAILURES: u32 = 5;
/// How long the gate stays locked, in seconds.
pub const LOCK_SECONDS: i64 = 300;
/// Digits in a generated code: short enough to type from a phone.
const DIGITS: usize = 6;

/// A passcode. Its `Debug` hides the value, so settings can be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Passcode(String);

impl Passcode {
    /// A fresh random code.
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        Self(
            (0..DIGITS)
                .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                .collect(),
        )
    }

    /// What to show the person at the terminal.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Passcode {
    fn from(code: &str) -> Self {
        Self(code.to_owned())
    }
}

impl fmt::Debug for Passcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passcode(…)")
    }
}

/// Why a guess was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasscodeError {
    #[error("wrong passcode: {tries_left} tries left before sign-in locks for a while")]
    Wrong { tries_left: u32 },
    #[error(
        "too many wrong passcodes: sign-in is locked for {seconds} more seconds. \
         The passcode is shown in the terminal that runs `devkit up`"
    )]
    Locked { seconds: i64 },
}

#[derive(Debug, Default)]
struct Attempts {
    failures: u32,
    locked_until: Option<i64>,
}

/// The gate in front of approving a sign-in.
pub struct PasscodeGate {
    /// Digests give both sides of the comparison one length. A six-digit
    /// code's digest is no secret from anyone who sees it, hence the `Debug`.
    digest: String,
    attempts: Mutex<Attempts>,
}

impl fmt::Debug for PasscodeGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasscodeGate").finish_non_exhaustive()
    }
}

impl PasscodeGate {
    pub fn new(code: &Passcode) -> Self {
        Self {
            digest: sha256_b64url(&code.0),
            attempts: Mutex::default(),
        }
    }

    /// Checks a guess at `now` (unix seconds). While locked, even the right
    /// code is refused, so a lock cannot be probed past.
    pub fn check(&self, guess: &str, now: i64) -> Result<(), PasscodeError> {
        let mut attempts = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(until) = attempts.locked_until {
            if now < until {
                return Err(PasscodeError::Locked {
                    seconds: until - now,
                });
            }
            *attempts = Attempts::default();
        }
        let guess = sha256_b64url(guess.trim());
        if constant_time_eq(guess.as_bytes(), self.digest.as_bytes()) {
            attempts.failures = 0;
            return Ok(());
        }
        attempts.failures += 1;
        if attempts.failures >= MAX_FAILURES {
            attempts.locked_until = Some(now + LOCK_SECONDS);
            return Err(PasscodeError::Locked {
                seconds: LOCK_SECONDS,
            });
        }
        Err(PasscodeError::Wrong {
            tries_left: MAX_FAILURES - attempts.failures,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_are_six_digits_and_differ() {
        let a = Passcode::generate();
        let b = Passcode::generate();
        assert_eq!(a.reveal().len(), DIGITS);
        assert!(a.reveal().chars().all(|c| c.is_ascii_digit()));
        // One in a million collides; a second draw makes a flaky failure one in 10^12.
        assert!(a != b || a != Passcode::generate());
    }

    #[test]
    fn the_right_code_passes_and_resets_the_count() {
        let gate = PasscodeGate::new(&Passcode::from("123456"));
        assert_eq!(
            gate.check("000000", 0),
            Err(PasscodeError::Wrong { tries_left: 4 })
        );
        assert_eq!(gate.check(" 123456 ", 0), Ok(()));
        assert_eq!(
            gate.check("000000", 0),
            Err(PasscodeError::Wrong { tries_left: 4 })
        );
    }

    #[test]
    fn wrong_guesses_lock_the_gate_even_for_the_right_code() {
        let gate = PasscodeGate::new(&Passcode::from("123456"));
        for left in (1..MAX_FAILURES).rev() {
            assert_eq!(
                gate.check("999999", 10),
                Err(PasscodeError::Wrong { tries_left: left })
            );
        }
        assert_eq!(
            gate.check("999999", 10),
            Err(PasscodeError::Locked {
                seconds: LOCK_SECONDS
            })
        );
        assert_eq!(
            gate.check("123456", 11),
            Err(PasscodeError::Locked {
                seconds: LOCK_SECONDS - 1
            })
        );
        // Once the lock ends, the count starts again.
        assert_eq!(gate.check("123456", 10 + LOCK_SECONDS), Ok(()));
    }

    #[test]
    fn debug_hides_the_code() {
        let code = Passcode::from("424242");
        assert!(!format!("{code:?}").contains("424242"));
        assert!(!format!("{:?}", PasscodeGate::new(&code)).contains("424242"));
    }
}
