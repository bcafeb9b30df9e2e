//! Mail over SMTP with lettre: STARTTLS (required, never silently plain)
//! or TLS from the first byte, the system's CAs, and authentication when
//! a user name is set; unencrypted only to this machine (`reach.rs`).

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::NotifyError;
use super::reach::{self, Encrypted};
use crate::store::notify::SmtpConfig;
use app::model::SmtpSecurity;

/// How long one conversation with the server may take.
const TIMEOUT: Duration = Duration::from_secs(20);

/// One mail to send.
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    /// `<...@...>`: the same on every attempt of one delivery, so a mail
    /// sent again after a crash is recognisably the same one.
    pub message_id: String,
}

/// Parses a mail address as the mail server will need it.
pub fn address(text: &str) -> Result<Address, NotifyError> {
    text.trim()
        .parse::<Address>()
        .map_err(|e| NotifyError::Address(text.to_owned(), e))
}

/// Sends `mail` through the server of `config`; what the server said.
pub async fn send(
    config: &SmtpConfig,
    password: Option<String>,
    mail: Mail,
    loopback_only: bool,
) -> Result<String, NotifyError> {
    let encrypted = match config.security {
        SmtpSecurity::Starttls | SmtpSecurity::Tls => Encrypted::Yes,
        SmtpSecurity::None => Encrypted::No,
    };
    reach::check(&config.host, config.port, encrypted, loopback_only).await?;
    let tls = || TlsParameters::new(config.host.clone()).map_err(NotifyError::Smtp);
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
        .port(config.port)
        .timeout(Some(TIMEOUT));
    transport = match config.security {
        SmtpSecurity::Starttls => transport.tls(Tls::Required(tls()?)),
        SmtpSecurity::Tls => transport.tls(Tls::Wrapper(tls()?)),
        SmtpSecurity::None => transport.tls(Tls::None),
    };
    if let Some(user) = &config.username {
        transport =
            transport.credentials(Credentials::new(user.clone(), password.unwrap_or_default()));
    }
    let from = Mailbox::new(Some("dpe".into()), address(&config.from)?);
    let message = Message::builder()
        .from(from)
        .to(Mailbox::new(None, address(&mail.to)?))
        .subject(mail.subject)
        .message_id(Some(mail.message_id))
        .header(ContentType::TEXT_PLAIN)
        .body(mail.text)
        .map_err(NotifyError::Message)?;
    let response = transport
        .build()
        .send(message)
        .await
        .map_err(NotifyError::Smtp)?;
    Ok(response.message().collect::<Vec<_>>().join(" "))
}
