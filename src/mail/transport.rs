//! How messages leave the server: SMTP through lettre (TLS with rustls, or
//! STARTTLS, or plain to a nearby relay), the log on a development server,
//! or not at all.

use std::net::IpAddr;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use url::Url;

use super::Rendered;
use crate::config::Config;

/// How long one SMTP exchange (connect, TLS, send) may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Where messages go.
pub enum Delivery {
    /// To an SMTP server.
    Smtp {
        /// The transport, with its connection pool.
        transport: AsyncSmtpTransport<Tokio1Executor>,
        /// `host:port (security)`, for the log.
        shown: String,
    },
    /// Into the log, links included: only on a development server (an
    /// `http://` issuer on a loopback host) without `smtp_url`.
    Log,
    /// Nowhere: no `smtp_url` on a server others reach.
    Off,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Delivery::Smtp { shown, .. } => write!(f, "Smtp({shown})"),
            Delivery::Log => f.write_str("Log"),
            Delivery::Off => f.write_str("Off"),
        }
    }
}

/// Why one delivery attempt failed.
#[derive(Debug)]
pub struct SendFailure {
    /// Whether trying again cannot help (a bad address, a permanent SMTP refusal).
    pub permanent: bool,
    /// What went wrong, for operators (no message content).
    pub reason: String,
}

/// Checks `smtp_url` and the password settings without connecting.
pub(super) fn check_url(config: &Config) -> Result<(), (&'static str, String)> {
    if config.smtp_password.is_some() && config.smtp_password_file.is_some() {
        return Err((
            "smtp_password_file",
            "set either smtp_password or smtp_password_file, not both".into(),
        ));
    }
    let Some(raw) = &config.smtp_url else {
        return Ok(());
    };
    let url = Url::parse(raw).map_err(|e| ("smtp_url", format!("is not a URL ({e})")))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(("smtp_url", "names no host".into()));
    }
    let tls = url.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v);
    match (url.scheme(), tls.as_deref()) {
        ("smtps", None) | ("smtp", None | Some("required")) => {}
        ("smtp", Some("opportunistic")) => {
            return Err((
                "smtp_url",
                "tls=opportunistic lets anyone on the path read every message; use tls=required or smtps://"
                    .into(),
            ));
        }
        _ => {
            return Err((
                "smtp_url",
                "must be smtps://host[:port], smtp://host[:port]?tls=required or smtp://host[:port]"
                    .into(),
            ));
        }
    }
    let has_password = config.smtp_password.is_some() || config.smtp_password_file.is_some();
    if has_password && url.username().is_empty() {
        return Err((
            "smtp_url",
            "a password is configured but smtp_url names no user (smtp://user@host…)".into(),
        ));
    }
    Ok(())
}

/// Whether `issuer` is a development server's: `http://` on a loopback host.
fn is_development(issuer: &str) -> bool {
    let Ok(url) = Url::parse(issuer) else {
        return false;
    };
    url.scheme() == "http"
        && match url.host() {
            Some(url::Host::Domain(host)) => host == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        }
}

impl Delivery {
    /// The delivery `config` asks for (reading the SMTP password file, if any).
    pub fn for_config(config: &Config) -> Result<Self, String> {
        let Some(raw) = &config.smtp_url else {
            return Ok(if is_development(&config.issuer) {
                Delivery::Log
            } else {
                Delivery::Off
            });
        };
        let url = Url::parse(raw).map_err(|e| format!("smtp_url: {e}"))?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(raw)
            .map_err(|e| format!("smtp_url: {e}"))?
            .timeout(Some(SMTP_TIMEOUT));
        if let Some(password) = password(config)? {
            let user = percent_encoding::percent_decode_str(url.username())
                .decode_utf8_lossy()
                .into_owned();
            builder = builder.credentials(Credentials::new(user, password));
        }
        let security = match url.scheme() {
            "smtps" => "TLS",
            _ if url
                .query_pairs()
                .any(|(k, v)| k == "tls" && v == "required") =>
            {
                "STARTTLS"
            }
            _ => "plain",
        };
        let host = url.host_str().unwrap_or_default();
        let port = url.port().map_or_else(String::new, |p| format!(":{p}"));
        Ok(Delivery::Smtp {
            transport: builder.build(),
            shown: format!("{host}{port} ({security})"),
        })
    }

    /// Says plainly in the log how mail goes out.
    pub fn announce(&self) {
        match self {
            Delivery::Smtp { shown, .. } if shown.ends_with("(plain)") && !near(shown) => {
                tracing::warn!(server = %shown, "mail: sent over SMTP WITHOUT encryption to a host that is not this one; use smtps:// or tls=required")
            }
            Delivery::Smtp { shown, .. } => {
                tracing::info!(server = %shown, "mail: sent over SMTP")
            }
            Delivery::Log => tracing::warn!(
                "mail: no smtp_url is set, so this development server WRITES EVERY MESSAGE, LINKS INCLUDED, TO THE LOG instead of sending it"
            ),
            Delivery::Off => tracing::warn!(
                "mail: no smtp_url is set, so no mail is sent: password reset by email is unavailable (set smtp_url and mail_from)"
            ),
        }
    }

    /// Sends `rendered` from `from` to `to`.
    pub async fn send(
        &self,
        from: &Mailbox,
        to: &str,
        rendered: &Rendered,
    ) -> Result<(), SendFailure> {
        let to: Mailbox = to.parse().map_err(|e| SendFailure {
            permanent: true,
            reason: format!("the recipient is not a mail address ({e})"),
        })?;
        match self {
            Delivery::Smtp { transport, .. } => {
                let email = lettre::Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(&rendered.subject)
                    .multipart(MultiPart::alternative_plain_html(
                        rendered.text.clone(),
                        rendered.html.clone(),
                    ))
                    .map_err(|e| SendFailure {
                        permanent: true,
                        reason: format!("the message cannot be built ({e})"),
                    })?;
                transport
                    .send(email)
                    .await
                    .map(|_| ())
                    .map_err(|e| SendFailure {
                        permanent: e.is_permanent(),
                        reason: e.to_string(),
                    })
            }
            Delivery::Log => {
                tracing::info!(to = %to, subject = %rendered.subject, body = %rendered.text, "development mail (not sent)");
                Ok(())
            }
            Delivery::Off => Err(SendFailure {
                permanent: false,
                reason: "mail is off (no smtp_url)".into(),
            }),
        }
    }
}

/// Whether `shown` (`host[:port] (…)`) names this host.
fn near(shown: &str) -> bool {
    let host = shown.split(' ').next().unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The SMTP password: `smtp_password`, or the first line of `smtp_password_file`.
fn password(config: &Config) -> Result<Option<String>, String> {
    if let Some(password) = &config.smtp_password {
        return Ok(Some(password.clone()));
    }
    let Some(path) = &config.smtp_password_file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("smtp_password_file {}: {e}", path.display()))?;
    let line = text.lines().next().unwrap_or_default();
    if line.is_empty() {
        return Err(format!("smtp_password_file {} is empty", path.display()));
    }
    Ok(Some(line.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_url(url: &str) -> Config {
        Config {
            smtp_url: Some(url.into()),
            ..Config::default()
        }
    }

    #[test]
    fn smtp_urls_must_say_how_they_are_secured() {
        for good in [
            "smtps://mail.example:465",
            "smtp://mail.example:587?tls=required",
            "smtp://127.0.0.1:2525",
        ] {
            assert!(check_url(&with_url(good)).is_ok(), "{good}");
        }
        for bad in [
            "smtp://mail.example?tls=opportunistic",
            "http://mail.example",
            "smtp://",
            "not a url",
        ] {
            assert!(check_url(&with_url(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_loopback_http_issuers_log_their_mail() {
        assert!(is_development("http://localhost:8080"));
        assert!(is_development("http://127.0.0.1:1234"));
        assert!(is_development("http://[::1]:8080"));
        assert!(!is_development("https://localhost:8080"));
        assert!(!is_development("http://id.example"));
    }

    #[test]
    fn a_password_needs_a_user() {
        let config = Config {
            smtp_password: Some("secret".into()),
            ..with_url("smtps://mail.example")
        };
        assert!(check_url(&config).is_err());
        let config = Config {
            smtp_password: Some("secret".into()),
            ..with_url("smtps://gatehouse@mail.example")
        };
        assert!(check_url(&config).is_ok());
    }
}
