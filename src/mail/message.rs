//! The messages Gatehouse sends, each an askama template pair (plain text and
//! HTML, under `templates/mail/`), rendered when the message is written to
//! the outbox.

use askama::Template;
use serde::{Deserialize, Serialize};

/// A message to send, with what its templates show.
#[derive(Debug)]
pub enum Message<'a> {
    /// A password reset link (the link holds a single-use token).
    PasswordReset {
        /// The link to the reset page.
        link: &'a str,
        /// How long the link works, minutes.
        minutes: i64,
    },
    /// A notice that the password changed.
    PasswordChanged {
        /// How, in words ("with a reset link from 192.0.2.1, Firefox on Linux").
        how: &'a str,
        /// Where to reset the password if the change was not the person's.
        link: &'a str,
    },
}

/// A rendered message: what the outbox keeps (sealed) until it is sent.
#[derive(Debug, Serialize, Deserialize)]
pub struct Rendered {
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body.
    pub html: String,
}

/// What every message's templates may show: the server's name, the
/// recipient, and the message's own link, words and minutes.
struct Context<'a> {
    site: &'a str,
    recipient: &'a str,
    link: &'a str,
    how: &'a str,
    minutes: i64,
}

#[derive(Template)]
#[template(path = "mail/password_reset.txt")]
struct ResetText<'a> {
    m: &'a Context<'a>,
}

#[derive(Template)]
#[template(path = "mail/password_reset.html")]
struct ResetHtml<'a> {
    m: &'a Context<'a>,
}

#[derive(Template)]
#[template(path = "mail/password_changed.txt")]
struct ChangedText<'a> {
    m: &'a Context<'a>,
}

#[derive(Template)]
#[template(path = "mail/password_changed.html")]
struct ChangedHtml<'a> {
    m: &'a Context<'a>,
}

impl Message<'_> {
    /// What the message is about, as the outbox and operators name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::PasswordReset { .. } => "password_reset",
            Message::PasswordChanged { .. } => "password_changed",
        }
    }

    /// Whether the message holds a secret (a single-use link), so it must
    /// be sealed while it waits.
    pub fn holds_secret(&self) -> bool {
        matches!(self, Message::PasswordReset { .. })
    }

    /// Whether a message of `kind` carries a link that stops working after
    /// the reset lifetime, so it is not worth sending once that has passed.
    pub fn expires(kind: &str) -> bool {
        kind == "password_reset"
    }

    /// The subject and both bodies, for `recipient`, naming the server as `site`.
    pub fn render(&self, site: &str, recipient: &str) -> Result<Rendered, askama::Error> {
        let mut m = Context {
            site,
            recipient,
            link: "",
            how: "",
            minutes: 0,
        };
        match *self {
            Message::PasswordReset { link, minutes } => {
                (m.link, m.minutes) = (link, minutes);
                rendered(
                    format!("Reset your {site} password"),
                    &ResetText { m: &m },
                    &ResetHtml { m: &m },
                )
            }
            Message::PasswordChanged { how, link } => {
                (m.link, m.how) = (link, how);
                rendered(
                    format!("Your {site} password was changed"),
                    &ChangedText { m: &m },
                    &ChangedHtml { m: &m },
                )
            }
        }
    }
}

fn rendered(
    subject: String,
    text: &impl Template,
    html: &impl Template,
) -> Result<Rendered, askama::Error> {
    Ok(Rendered {
        subject,
        text: text.render()?,
        html: html.render()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_bodies_escape_what_they_show_and_text_bodies_do_not() {
        let message = Message::PasswordChanged {
            how: "from <script>",
            link: "https://id.example/login/forgot?a=1&b=2",
        };
        let rendered = message.render("id.example", "a@example.com").unwrap();
        assert!(rendered.text.contains("from <script>"), "{}", rendered.text);
        assert!(rendered.text.contains("?a=1&b=2"));
        assert!(
            rendered.html.contains("from &#60;script&#62;")
                || rendered.html.contains("from &lt;script&gt;"),
            "{}",
            rendered.html
        );
        assert!(!rendered.html.contains("<script>"));
    }
}
