//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): HMAC-SHA-1,
//! six digits, 30-second steps — what every authenticator app computes — with
//! one step of clock drift accepted either side. Which step a code matched is
//! returned, so the caller can refuse that step and every earlier one from
//! then on (a code is never accepted twice).

use aws_lc_rs::{constant_time, hmac};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::clock::UnixTime;

/// Digits in a code.
pub const DIGITS: usize = 6;

/// Seconds per step (RFC 6238 §5.2's recommended 30).
pub const STEP_SECS: i64 = 30;

/// Bytes of a secret: 160 bits, the length RFC 4226 §4 recommends.
pub const SECRET_BYTES: usize = 20;

/// The step `now` falls in.
pub fn step_at(now: UnixTime) -> i64 {
    now.div_euclid(STEP_SECS)
}

/// The code of `secret` at `step` (RFC 4226 §5.3: dynamic truncation of the
/// HMAC-SHA-1 of the big-endian step counter), as the digits an app shows.
pub fn code(secret: &[u8], step: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &step.to_be_bytes());
    let mac = tag.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    format!("{:06}", binary % 1_000_000)
}

/// The step whose code `typed` is — the current step at `now` or one either
/// side — when that step is later than `used` (the last step accepted for
/// this secret). All three codes are computed and compared in constant time
/// whatever matches, so the answer's timing says nothing.
pub fn matching_step(secret: &[u8], typed: &str, now: UnixTime, used: Option<i64>) -> Option<i64> {
    let typed: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    if typed.len() != DIGITS || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_at(now);
    let mut matched = None;
    for step in [current - 1, current, current + 1] {
        let same =
            constant_time::verify_slices_are_equal(code(secret, step).as_bytes(), typed.as_bytes())
                .is_ok();
        if same && used.is_none_or(|used| step > used) && matched.is_none() {
            matched = Some(step);
        }
    }
    matched
}

/// RFC 4648 base32 without padding: how authenticator apps take a secret typed by hand.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The `otpauth://` URI an authenticator app reads from the QR code (the Key
/// Uri Format every app supports): the account's label, the secret, and the
/// algorithm, digits and period spelled out.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let issuer = utf8_percent_encode(issuer, NON_ALPHANUMERIC);
    let account = utf8_percent_encode(account, NON_ALPHANUMERIC);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        base32(secret)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B's SHA-1 secret ("12345678901234567890") and the
    /// last six digits of its eight-digit test values.
    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (time, expected) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
            (20_000_000_000, "353130"),
        ] {
            assert_eq!(code(secret, step_at(time)), expected, "at {time}");
        }
    }

    #[test]
    fn one_step_of_drift_is_accepted_and_used_steps_never_again() {
        let secret = b"12345678901234567890";
        let now = 1_111_111_111;
        let step = step_at(now);
        let current = code(secret, step);
        assert_eq!(matching_step(secret, &current, now, None), Some(step));
        assert_eq!(matching_step(secret, &current, now, Some(step)), None);
        let previous = code(secret, step - 1);
        assert_eq!(matching_step(secret, &previous, now, None), Some(step - 1));
        assert_eq!(matching_step(secret, &previous, now, Some(step - 1)), None);
        let two_away = code(secret, step + 2);
        assert_eq!(matching_step(secret, &two_away, now, None), None);
        assert_eq!(matching_step(secret, "12345", now, None), None);
        assert_eq!(matching_step(secret, "abcdef", now, None), None);
    }

    #[test]
    fn base32_follows_rfc_4648() {
        for (input, expected) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(input.as_bytes()), expected);
        }
    }
}
