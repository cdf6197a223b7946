//! `patd rotate-self`: a client of a running patd for CI jobs that renew the token they
//! run with (`POST /api/v1/tokens/self/rotate`). The token comes from `PATD_TOKEN`,
//! never from the command line (other users of the machine can read that); the new
//! secret is the only thing written to stdout, so `new=$(patd rotate-self …)` takes it.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

/// Where and how to rotate.
#[derive(Debug, Clone, clap::Args)]
pub struct RotateSelf {
    /// patd's address, e.g. `https://patd.example`.
    #[arg(long, env = "PATD_URL")]
    pub url: String,
    /// The new lifetime in whole days (default: 30, or the admin's maximum when lower).
    #[arg(long)]
    pub expires_in_days: Option<i64>,
    /// Minutes the current secret keeps working, for jobs still using it (default 0).
    #[arg(long)]
    pub grace_minutes: Option<i64>,
}

/// Why a rotation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    /// `PATD_TOKEN` is not set.
    #[error("set PATD_TOKEN to the token to rotate (it is not read from the command line)")]
    NoToken,
    /// The URL is not https (or http to this machine or a private address).
    #[error(
        "--url must start with https:// (http:// only to localhost or a private address, where the token cannot be read on the way), got {0:?}"
    )]
    Url(String),
    /// The request did not get an answer.
    #[error("cannot reach patd at {url}: {cause}")]
    Unreachable {
        /// Where.
        url: String,
        /// What went wrong.
        cause: String,
    },
    /// patd refused: its problem's code and detail.
    #[error("patd refused the rotation ({status} {code}): {detail}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The problem's code.
        code: String,
        /// The problem's detail.
        detail: String,
    },
}

/// The rotated token, as patd answered.
#[derive(Debug, Clone)]
pub struct Rotated {
    /// The new secret.
    pub secret: String,
    /// Its expiry (RFC 3339).
    pub expires_at: String,
    /// Until when the previous secret works, if it does.
    pub previous_secret_expires_at: Option<String>,
}

/// Rotates the token `token` through patd at `args.url`.
///
/// # Errors
/// [`RotateError`] naming what went wrong; nothing changed unless patd answered 200.
pub fn rotate_self(args: &RotateSelf, token: &str) -> Result<Rotated, RotateError> {
    let base = args.url.trim_end_matches('/');
    let allowed = base.starts_with("https://")
        || base
            .strip_prefix("http://")
            .is_some_and(|rest| is_local_host(rest.split('/').next().unwrap_or_default()));
    if !allowed {
        return Err(RotateError::Url(args.url.clone()));
    }
    let url = format!("{base}/api/v1/tokens/self/rotate");
    let mut body = json!({});
    if let Some(days) = args.expires_in_days {
        body["expires_in_days"] = json!(days);
    }
    if let Some(minutes) = args.grace_minutes {
        body["grace_minutes"] = json!(minutes);
    }
    let unreachable = |cause: String| RotateError::Unreachable {
        url: url.clone(),
        cause,
    };
    let mut reply = agent()
        .post(&url)
        .header("Authorization", &format!("Bearer {token}"))
        .send_json(&body)
        .map_err(|e| unreachable(e.to_string()))?;
    let status = reply.status().as_u16();
    let answer: Value = reply
        .body_mut()
        .read_json()
        .map_err(|e| unreachable(format!("an answer that is not JSON ({status}): {e}")))?;
    let text = |value: &Value, key: &str| value[key].as_str().map(str::to_owned);
    if status != 200 {
        return Err(RotateError::Refused {
            status,
            code: text(&answer, "code").unwrap_or_default(),
            detail: text(&answer, "detail").unwrap_or_default(),
        });
    }
    Ok(Rotated {
        secret: text(&answer, "secret").ok_or_else(|| unreachable("no secret".to_owned()))?,
        expires_at: text(&answer["token"], "expires_at").unwrap_or_default(),
        previous_secret_expires_at: text(&answer, "previous_secret_expires_at"),
    })
}

/// Whether `authority` (`host[:port]`) is this machine or a private address, where
/// plain HTTP does not carry the token across networks.
fn is_local_host(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host),
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback() || ip.is_private(),
        Ok(std::net::IpAddr::V6(ip)) => ip.is_loopback() || ip.is_unique_local(),
        Err(_) => false,
    }
}

/// An HTTP client that trusts the system's root certificates and answers every status.
fn agent() -> ureq::Agent {
    let roots: Vec<ureq::tls::Certificate<'static>> = rustls_native_certs::load_native_certs()
        .certs
        .iter()
        .map(|der| ureq::tls::Certificate::from_der(der.as_ref()).to_owned())
        .collect();
    let tls = ureq::tls::TlsConfig::builder()
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .root_certs(ureq::tls::RootCerts::new_with_certs(&roots))
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

#[cfg(test)]
mod tests {
    use super::is_local_host;

    #[test]
    fn plain_http_only_to_this_machine_or_a_private_address() {
        for local in [
            "localhost:8080",
            "127.0.0.1:9",
            "10.1.2.3",
            "192.168.0.1:80",
            "[::1]:8080",
            "[fd00::1]",
        ] {
            assert!(is_local_host(local), "{local}");
        }
        for remote in [
            "patd.example",
            "patd.example:80",
            "8.8.8.8",
            "[2001:db8::1]:80",
            "",
        ] {
            assert!(!is_local_host(remote), "{remote}");
        }
    }
}
