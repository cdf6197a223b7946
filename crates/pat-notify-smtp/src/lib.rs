//! # pat-notify-smtp
//!
//! The `pat-core` [`Notifier`] over SMTP with `lettre` (async, tokio): expiry reminders
//! and security notices as plain-text and HTML mail from `askama` templates. A mail
//! names the token, its expiry in UTC and links to the token page — never the secret
//! nor its hash.
//!
//! SMTP replies map onto the domain's two failure kinds: 5xx and unusable addresses are
//! [`NotifyError::Permanent`]; 4xx, refused connections and timeouts are
//! [`NotifyError::Temporary`], which the outbox retries with backoff.

#[cfg(feature = "test-server")]
pub mod test_server;

use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use pat_core::model::{Notice, NoticeKind};
use pat_core::ports::{Clock, Notifier, NotifyError, SystemClock};

/// Why the SMTP settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SmtpConfigError {
    /// The URL is not `smtp://…` or `smtps://…`.
    #[error(
        "smtp_url must look like smtp://user:pass@host:587 (add ?tls=required for STARTTLS) \
         or smtps://user:pass@host:465: {0}"
    )]
    Url(String),
    /// The sender address does not parse.
    #[error(
        "mail_from must be an address like patd@example.com or \"patd <patd@example.com>\": {0}"
    )]
    From(String),
}

/// Where and how mail is sent. Its `Debug` hides the URL (it holds the password).
#[derive(Clone)]
pub struct SmtpConfig {
    /// `smtp://user:pass@host:port` (plain, or STARTTLS with `?tls=required`) or
    /// `smtps://…` (implicit TLS).
    pub url: String,
    /// The sender.
    pub from: String,
    /// Base URL of the web UI, for links.
    pub public_url: String,
    /// How long one delivery may take.
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("url", &"<redacted>")
            .field("from", &self.from)
            .field("public_url", &self.public_url)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The [`Notifier`] that mails token owners.
pub struct SmtpNotifier {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    public_url: String,
    clock: Arc<dyn Clock>,
    timeout: Duration,
}

impl std::fmt::Debug for SmtpNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SmtpNotifier(from {})", self.from)
    }
}

/// What both parts of a mail say.
struct MailFields<'a> {
    name: &'a str,
    headline: &'a str,
    token_name: &'a str,
    expires_at: &'a str,
    advice: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "notice.txt", escape = "none")]
struct TextMail<'a> {
    f: &'a MailFields<'a>,
}

#[derive(Template)]
#[template(path = "notice.html")]
struct HtmlMail<'a> {
    f: &'a MailFields<'a>,
}

fn render(template: &impl Template) -> Result<String, NotifyError> {
    template
        .render()
        .map_err(|e| NotifyError::Permanent(format!("mail template failed: {e}")))
}

/// The words of one mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wording {
    /// Subject line.
    pub subject: String,
    /// The first sentence.
    pub headline: String,
    /// What to do about it.
    pub advice: String,
}

/// What a notice says, given the time now (for "in N days").
pub fn wording(notice: &Notice, now: chrono::DateTime<chrono::Utc>) -> Wording {
    let name = &notice.token_name;
    match notice.kind {
        NoticeKind::ExpiringSoon => {
            let seconds = (notice.expires_at - now).num_seconds().max(0);
            let days = (seconds + 86_399) / 86_400;
            let when = if days == 1 {
                "1 day".to_owned()
            } else {
                format!("{days} days")
            };
            Wording {
                subject: format!("Your personal access token \"{name}\" expires in {when}"),
                headline: format!("Your personal access token \"{name}\" expires in {when}."),
                advice: "If you still need it, regenerate it before then; otherwise nothing needs doing.".to_owned(),
            }
        }
        NoticeKind::Expired => Wording {
            subject: format!("Your personal access token \"{name}\" has expired"),
            headline: format!(
                "Your personal access token \"{name}\" has expired and no longer works."
            ),
            advice: "Regenerate it if a script or integration still needs it.".to_owned(),
        },
        NoticeKind::Created => Wording {
            subject: format!("A new personal access token \"{name}\" was created"),
            headline: format!("A new personal access token \"{name}\" was added to your account."),
            advice: "If you did not create it, revoke it now and change your password.".to_owned(),
        },
        NoticeKind::LeakRevoked => Wording {
            subject: format!(
                "Your personal access token \"{name}\" was revoked after a leak report"
            ),
            headline: format!(
                "Your personal access token \"{name}\" was reported as publicly exposed and has been revoked."
            ),
            advice: "It cannot be brought back: create a new token to replace it, and remove the old value from wherever it was published."
                .to_owned(),
        },
        NoticeKind::Regenerated => Wording {
            subject: format!("Your personal access token \"{name}\" was regenerated"),
            headline: format!(
                "Your personal access token \"{name}\" was given a new secret; the previous one stops working at once, or when the grace period chosen for it ends (the token page says when)."
            ),
            advice: "If you did not regenerate it, revoke it now and change your password."
                .to_owned(),
        },
        NoticeKind::ReuseRevoked => Wording {
            subject: format!(
                "Your personal access token \"{name}\" was revoked: an old secret of it was used"
            ),
            headline: format!(
                "A secret your personal access token \"{name}\" had before it was rotated was used again after its grace period, so it has leaked; the token has been revoked."
            ),
            advice: "Find where the old secret is still stored or was exposed. An administrator must review and lift the revocation before the token can be regenerated; or create a new token."
                .to_owned(),
        },
        NoticeKind::ReuseReported => Wording {
            subject: format!(
                "An old secret of your personal access token \"{name}\" was used"
            ),
            headline: format!(
                "A secret your personal access token \"{name}\" had before it was rotated was used again after its grace period, so it has probably leaked. It was refused; the token itself still works (your administrator has reuse detection in report-only mode)."
            ),
            advice: "Find where the old secret is still stored or was exposed, and regenerate or revoke the token if you suspect more than a stale copy."
                .to_owned(),
        },
    }
}

impl SmtpNotifier {
    /// A notifier for `config`, using the system clock.
    ///
    /// # Errors
    /// [`SmtpConfigError`] for an unusable URL or sender.
    pub fn new(config: &SmtpConfig) -> Result<Self, SmtpConfigError> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// A notifier whose "in N days" is counted from `clock`.
    ///
    /// # Errors
    /// [`SmtpConfigError`] for an unusable URL or sender.
    pub fn with_clock(config: &SmtpConfig, clock: Arc<dyn Clock>) -> Result<Self, SmtpConfigError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&config.url)
            .map_err(|e| SmtpConfigError::Url(e.to_string()))?
            .timeout(Some(config.timeout))
            .build();
        let from = config
            .from
            .parse::<Mailbox>()
            .map_err(|e| SmtpConfigError::From(e.to_string()))?;
        Ok(Self {
            transport,
            from,
            public_url: config.public_url.trim_end_matches('/').to_owned(),
            clock,
            timeout: config.timeout,
        })
    }

    /// Builds the mail for `notice` (public for previews and tests).
    ///
    /// # Errors
    /// [`NotifyError::Permanent`] when the recipient's address is unusable.
    pub fn compose(&self, notice: &Notice) -> Result<Message, NotifyError> {
        let to = Mailbox::new(
            Some(notice.recipient.name.clone()),
            notice.recipient.email.parse().map_err(|e| {
                NotifyError::Permanent(format!(
                    "recipient address {:?} is unusable: {e}",
                    notice.recipient.email
                ))
            })?,
        );
        let words = wording(notice, self.clock.now());
        let expires_at = notice.expires_at.format("%Y-%m-%d %H:%M UTC").to_string();
        let link = format!("{}/tokens/{}", self.public_url, notice.token_id);
        let fields = MailFields {
            name: &notice.recipient.name,
            headline: &words.headline,
            token_name: &notice.token_name,
            expires_at: &expires_at,
            advice: &words.advice,
            link: &link,
        };
        let text = render(&TextMail { f: &fields })?;
        let html = render(&HtmlMail { f: &fields })?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(words.subject)
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| NotifyError::Permanent(format!("mail could not be built: {e}")))
    }
}

#[async_trait]
impl Notifier for SmtpNotifier {
    async fn notify(&self, notice: &Notice) -> Result<(), NotifyError> {
        let message = self.compose(notice)?;
        // The whole exchange is bounded, whatever the server does mid-conversation.
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Err(_) => Err(NotifyError::Temporary(format!(
                "the SMTP exchange took longer than {} s",
                self.timeout.as_secs()
            ))),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) if e.is_permanent() => Err(NotifyError::Permanent(e.to_string())),
            Ok(Err(e)) => Err(NotifyError::Temporary(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};
    use pat_core::model::{Recipient, TokenId, UserId};

    use super::*;

    fn notice(kind: NoticeKind, expires_in: Duration) -> Notice {
        let now = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("date");
        Notice {
            kind,
            recipient: Recipient {
                user_id: UserId(uuid::Uuid::nil()),
                email: "a@example.com".into(),
                name: "A".into(),
            },
            token_id: TokenId(uuid::Uuid::nil()),
            token_name: "ci <deploy>".into(),
            expires_at: now + expires_in,
            generation: 1,
        }
    }

    #[test]
    fn expiring_soon_counts_whole_days_up() {
        let now = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("date");
        let in_seven = wording(&notice(NoticeKind::ExpiringSoon, Duration::days(7)), now);
        assert!(
            in_seven.subject.ends_with("expires in 7 days"),
            "{}",
            in_seven.subject
        );
        let in_hours = wording(&notice(NoticeKind::ExpiringSoon, Duration::hours(3)), now);
        assert!(
            in_hours.subject.ends_with("expires in 1 day"),
            "{}",
            in_hours.subject
        );
    }

    #[test]
    fn html_escapes_the_token_name_and_text_does_not() {
        let config = SmtpConfig {
            url: "smtp://127.0.0.1:2525".into(),
            from: "patd@example.com".into(),
            public_url: "https://pat.example.com/".into(),
            timeout: std::time::Duration::from_secs(1),
        };
        let notifier = SmtpNotifier::new(&config).expect("config");
        let mail = notifier
            .compose(&notice(NoticeKind::Created, Duration::days(30)))
            .expect("mail");
        // Undo quoted-printable soft line breaks.
        let raw = String::from_utf8(mail.formatted())
            .expect("utf-8")
            .replace("=\r\n", "");
        assert!(raw.contains("<td>ci &#60;deploy&#62;</td>"), "{raw}");
        assert!(raw.contains("Token:   ci <deploy>"), "{raw}");
        assert!(
            raw.contains("https://pat.example.com/tokens/00000000-0000-0000-0000-000000000000")
        );
        assert!(raw.contains("2026-01-31 00:00 UTC"));
    }

    #[test]
    fn bad_settings_say_what_is_allowed() {
        let mut config = SmtpConfig {
            url: "http://x".into(),
            from: "patd@example.com".into(),
            public_url: String::new(),
            timeout: std::time::Duration::from_secs(1),
        };
        assert!(
            SmtpNotifier::new(&config)
                .unwrap_err()
                .to_string()
                .contains("smtp://")
        );
        config.url = "smtp://127.0.0.1:25".into();
        config.from = "not an address".into();
        assert!(
            SmtpNotifier::new(&config)
                .unwrap_err()
                .to_string()
                .contains("mail_from")
        );
    }
}
