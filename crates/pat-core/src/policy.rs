//! Validated inputs and the admin settings: the limits every token obeys.

use std::fmt;

use chrono::{DateTime, Duration, Utc};

/// Longest token name, in characters, after trimming.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest token description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 500;
/// Most scopes one token holds.
pub const MAX_SCOPES_PER_TOKEN: usize = 50;
/// The highest `max_lifetime_days` an admin may set: a token lives at most this long.
pub const MAX_LIFETIME_CAP_DAYS: u32 = 366;
/// The highest `max_active_per_user` an admin may set.
pub const MAX_ACTIVE_CAP: u32 = 100;
/// The highest `expiry_warning_days` an admin may set.
pub const MAX_WARNING_DAYS: u32 = 90;
/// Highest `max_grace_minutes` an admin may set (a week).
pub const MAX_GRACE_CAP_MINUTES: u32 = 10_080;
/// Shortest time between two last-used writes for one token.
pub const LAST_USED_WRITE_INTERVAL: Duration = Duration::seconds(60);
/// Fewest characters in a password.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Most characters in a password.
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Why a new password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Shorter than [`MIN_PASSWORD_CHARS`] or longer than [`MAX_PASSWORD_CHARS`].
    #[error("password must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters, got {got}")]
    Length {
        /// Characters given.
        got: usize,
    },
    /// The account's own email address (the first guess of anyone who knows it).
    #[error("password must not be the account's email address")]
    IsEmail,
}

/// Checks a new password for the account with `email`: 8 to 256 characters, and not
/// the email itself (ignoring case and surrounding white space).
///
/// # Errors
/// [`PasswordError`] naming the rule.
pub fn check_password(password: &str, email: &str) -> Result<(), PasswordError> {
    let got = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&got) {
        return Err(PasswordError::Length { got });
    }
    if password.trim().eq_ignore_ascii_case(email.trim()) {
        return Err(PasswordError::IsEmail);
    }
    Ok(())
}

/// Why a token name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Empty after trimming.
    #[error("name must not be empty; give the token a name of 1 to {MAX_NAME_CHARS} characters")]
    Empty,
    /// Longer than [`MAX_NAME_CHARS`] after trimming.
    #[error("name must be at most {MAX_NAME_CHARS} characters, got {got}")]
    TooLong {
        /// Characters after trimming.
        got: usize,
    },
    /// Holds a control character (newline, tab, …).
    #[error("name must not contain control characters such as newlines or tabs")]
    ControlCharacter,
}

/// A token name: 1–64 characters after trimming, no control characters.
/// Unique per owner, ignoring case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenName(String);

impl TokenName {
    /// Trims and validates `raw`.
    ///
    /// # Errors
    /// [`NameError`] saying what is wrong.
    pub fn new(raw: &str) -> Result<Self, NameError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        let chars = name.chars().count();
        if chars > MAX_NAME_CHARS {
            return Err(NameError::TooLong { got: chars });
        }
        if name.chars().any(char::is_control) {
            return Err(NameError::ControlCharacter);
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as given (trimmed).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form compared for uniqueness.
    pub fn folded(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Display for TokenName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a description was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("description must be at most {MAX_DESCRIPTION_CHARS} characters, got {got}")]
pub struct DescriptionError {
    /// Characters given.
    pub got: usize,
}

/// A token description: 0–500 characters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Description(String);

impl Description {
    /// Trims and validates `raw`.
    ///
    /// # Errors
    /// [`DescriptionError`] above [`MAX_DESCRIPTION_CHARS`].
    pub fn new(raw: &str) -> Result<Self, DescriptionError> {
        let text = raw.trim();
        let chars = text.chars().count();
        if chars > MAX_DESCRIPTION_CHARS {
            return Err(DescriptionError { got: chars });
        }
        Ok(Self(text.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a lifetime was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expires_in_days must be a whole number between 1 and {max}, got {got}")]
pub struct ExpiryError {
    /// The refused value, as given.
    pub got: String,
    /// The current maximum.
    pub max: u32,
}

/// A validated lifetime in whole days, within the admin's maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime(u32);

impl Lifetime {
    /// Checks `days` against `1..=max_days`.
    ///
    /// # Errors
    /// [`ExpiryError`] naming the value and the allowed range.
    pub fn new(days: i64, max_days: u32) -> Result<Self, ExpiryError> {
        match u32::try_from(days) {
            Ok(d) if (1..=max_days).contains(&d) => Ok(Self(d)),
            _ => Err(ExpiryError {
                got: days.to_string(),
                max: max_days,
            }),
        }
    }

    /// Checks a number that may be fractional or out of range (e.g. from JSON).
    ///
    /// # Errors
    /// [`ExpiryError`] for fractions, non-finite values and values out of range.
    pub fn from_f64(days: f64, max_days: u32) -> Result<Self, ExpiryError> {
        if days.fract() != 0.0 || !days.is_finite() || days < 1.0 || days > f64::from(max_days) {
            return Err(ExpiryError {
                got: days.to_string(),
                max: max_days,
            });
        }
        // In 1..=max_days and whole, so the cast is exact.
        Ok(Self(days as u32))
    }

    /// Days.
    pub fn days(self) -> u32 {
        self.0
    }

    /// When a token issued at `now` with this lifetime expires.
    pub fn expires_at(self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + Duration::days(i64::from(self.0))
    }
}

/// Why settings were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// `max_lifetime_days` outside 1..=366.
    #[error("max_lifetime_days must be between 1 and {MAX_LIFETIME_CAP_DAYS}, got {0}")]
    MaxLifetime(u32),
    /// `max_active_per_user` outside 1..=100.
    #[error("max_active_per_user must be between 1 and {MAX_ACTIVE_CAP}, got {0}")]
    MaxActive(u32),
    /// `expiry_warning_days` outside 1..=90.
    #[error("expiry_warning_days must be between 1 and {MAX_WARNING_DAYS}, got {0}")]
    WarningDays(u32),
    /// `max_grace_minutes` above 10080.
    #[error("max_grace_minutes must be between 0 and {MAX_GRACE_CAP_MINUTES}, got {0}")]
    MaxGrace(u32),
}

/// A `grace_minutes` outside 0..=max, or not a whole number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("grace_minutes must be a whole number between 0 and {max}, got {got}")]
pub struct GraceError {
    /// What was asked for.
    pub got: String,
    /// The admin's `max_grace_minutes`.
    pub max: u32,
}

/// How long a regenerated token's previous secret keeps working: 0..=the admin's
/// `max_grace_minutes` whole minutes (0: it stops at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GracePeriod(u32);

impl GracePeriod {
    /// No grace: the previous secret stops at once.
    pub const NONE: GracePeriod = GracePeriod(0);

    /// Checks `minutes` against the admin's `max_minutes`.
    ///
    /// # Errors
    /// [`GraceError`] outside 0..=max_minutes.
    pub fn new(minutes: i64, max_minutes: u32) -> Result<Self, GraceError> {
        u32::try_from(minutes)
            .ok()
            .filter(|m| *m <= max_minutes)
            .map(Self)
            .ok_or(GraceError {
                got: minutes.to_string(),
                max: max_minutes,
            })
    }

    /// Minutes.
    pub fn minutes(self) -> u32 {
        self.0
    }

    /// When a secret retired at `now` stops authenticating.
    pub fn ends_at(self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + Duration::minutes(i64::from(self.0))
    }
}

/// The admin's switches and limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Off: no token creation and no authentication by token.
    pub pats_enabled: bool,
    /// Longest lifetime a new or regenerated token may have (1..=366, default 180).
    pub max_lifetime_days: u32,
    /// Most active tokens per user (1..=100, default 5).
    pub max_active_per_user: u32,
    /// Days before expiry the owner is warned (1..=90, default 7).
    pub expiry_warning_days: u32,
    /// Longest grace period a regeneration may give the previous secret (0..=10080
    /// minutes, default 1440).
    pub max_grace_minutes: u32,
    /// On: a secret rotated away and presented after its grace period revokes the token
    /// (reason `reuse_detected`). Off: report only (audit and mail), the token stays.
    pub revoke_on_reuse: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            pats_enabled: true,
            max_lifetime_days: 180,
            max_active_per_user: 5,
            expiry_warning_days: 7,
            max_grace_minutes: 1440,
            revoke_on_reuse: true,
        }
    }
}

impl Settings {
    /// Checks every limit is in its allowed range.
    ///
    /// # Errors
    /// [`SettingsError`] for the first value out of range.
    pub fn validate(self) -> Result<Self, SettingsError> {
        if !(1..=MAX_LIFETIME_CAP_DAYS).contains(&self.max_lifetime_days) {
            return Err(SettingsError::MaxLifetime(self.max_lifetime_days));
        }
        if !(1..=MAX_ACTIVE_CAP).contains(&self.max_active_per_user) {
            return Err(SettingsError::MaxActive(self.max_active_per_user));
        }
        if !(1..=MAX_WARNING_DAYS).contains(&self.expiry_warning_days) {
            return Err(SettingsError::WarningDays(self.expiry_warning_days));
        }
        if self.max_grace_minutes > MAX_GRACE_CAP_MINUTES {
            return Err(SettingsError::MaxGrace(self.max_grace_minutes));
        }
        Ok(self)
    }

    /// The warning window as a duration.
    pub fn warning_window(&self) -> Duration {
        Duration::days(i64::from(self.expiry_warning_days))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(TokenName::new("  ci  ").expect("valid").as_str(), "ci");
        assert_eq!(TokenName::new("   "), Err(NameError::Empty));
        assert!(TokenName::new(&"é".repeat(64)).is_ok());
        assert_eq!(
            TokenName::new(&"x".repeat(65)),
            Err(NameError::TooLong { got: 65 })
        );
        assert_eq!(TokenName::new("a\nb"), Err(NameError::ControlCharacter));
        assert_eq!(TokenName::new("a\u{7}b"), Err(NameError::ControlCharacter));
        assert_eq!(TokenName::new("Deploy").expect("valid").folded(), "deploy");
    }

    #[test]
    fn grace_is_zero_to_max_whole_minutes() {
        assert_eq!(GracePeriod::new(0, 1440).expect("valid"), GracePeriod::NONE);
        assert_eq!(GracePeriod::new(1440, 1440).expect("valid").minutes(), 1440);
        for bad in [-1, 1441, i64::MAX, i64::MIN] {
            let err = GracePeriod::new(bad, 1440).expect_err("out of range");
            assert_eq!(
                err.to_string(),
                format!("grace_minutes must be a whole number between 0 and 1440, got {bad}")
            );
        }
        let now = DateTime::from_timestamp(1_000_000, 0).expect("valid time");
        assert_eq!(
            GracePeriod::new(5, 10).expect("valid").ends_at(now),
            now + Duration::minutes(5)
        );
    }

    #[test]
    fn descriptions_are_bounded() {
        assert!(Description::new(&"d".repeat(500)).is_ok());
        assert_eq!(
            Description::new(&"d".repeat(501)),
            Err(DescriptionError { got: 501 })
        );
    }

    #[test]
    fn lifetime_is_one_to_max_whole_days() {
        assert_eq!(Lifetime::new(1, 180).expect("valid").days(), 1);
        assert_eq!(Lifetime::new(180, 180).expect("valid").days(), 180);
        for bad in [0, -1, 181, i64::MAX, i64::MIN] {
            assert!(Lifetime::new(bad, 180).is_err(), "{bad}");
        }
        assert!(Lifetime::from_f64(30.0, 180).is_ok());
        for bad in [1.5, 0.0, -1.0, 181.0, f64::NAN, f64::INFINITY] {
            assert!(Lifetime::from_f64(bad, 180).is_err(), "{bad}");
        }
        let message = Lifetime::new(365, 180).unwrap_err().to_string();
        assert_eq!(
            message,
            "expires_in_days must be a whole number between 1 and 180, got 365"
        );
    }

    #[test]
    fn settings_ranges() {
        assert!(Settings::default().validate().is_ok());
        let s = Settings::default();
        for bad in [
            Settings {
                max_lifetime_days: 0,
                ..s
            },
            Settings {
                max_lifetime_days: 367,
                ..s
            },
            Settings {
                max_active_per_user: 0,
                ..s
            },
            Settings {
                max_active_per_user: 101,
                ..s
            },
            Settings {
                expiry_warning_days: 0,
                ..s
            },
            Settings {
                expiry_warning_days: 91,
                ..s
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        assert!(
            Settings {
                max_lifetime_days: 366,
                max_active_per_user: 100,
                ..s
            }
            .validate()
            .is_ok()
        );
    }

    #[test]
    fn passwords_are_8_to_256_characters_and_not_the_email() {
        assert_eq!(
            check_password("short", "a@example.com"),
            Err(PasswordError::Length { got: 5 })
        );
        assert_eq!(
            check_password(&"é".repeat(257), "a@example.com"),
            Err(PasswordError::Length { got: 257 })
        );
        assert!(check_password(&"é".repeat(256), "a@example.com").is_ok());
        assert_eq!(
            check_password("Alice@Example.com", " alice@example.com"),
            Err(PasswordError::IsEmail)
        );
        assert!(check_password("a long passphrase", "alice@example.com").is_ok());
        assert_eq!(
            PasswordError::Length { got: 7 }.to_string(),
            "password must be 8 to 256 characters, got 7"
        );
    }
}
