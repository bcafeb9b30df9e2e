//! Where notifications may go. Unencrypted mail and `http://` webhooks go
//! only to this machine (loopback), so no password or message crosses a
//! network in the clear; with `notify_loopback_only` (tests, the API
//! fuzzer) nothing goes anywhere else at all. Checked when settings are
//! saved and again before each connection, on the addresses the name
//! resolves to then.

use std::net::SocketAddr;

use super::NotifyError;

/// Whether traffic must stay on this machine: always, or when plain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encrypted {
    Yes,
    No,
}

/// Checks that `host:port` may be contacted under the rules.
pub async fn check(
    host: &str,
    port: u16,
    encrypted: Encrypted,
    loopback_only: bool,
) -> Result<(), NotifyError> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|source| NotifyError::Resolve {
            host: host.to_owned(),
            source,
        })?
        .collect();
    if addrs.is_empty() {
        return Err(NotifyError::NoAddress {
            host: host.to_owned(),
        });
    }
    let on_machine = addrs.iter().all(|a| a.ip().is_loopback());
    if loopback_only && !on_machine {
        return Err(NotifyError::OffMachine {
            host: host.to_owned(),
        });
    }
    match (encrypted, on_machine) {
        (Encrypted::No, false) => Err(NotifyError::PlainOffMachine {
            host: host.to_owned(),
        }),
        (Encrypted::No, true) | (Encrypted::Yes, _) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn plain_traffic_stays_on_loopback_and_the_test_rule_keeps_all_of_it_there() {
        assert!(check("127.0.0.1", 25, Encrypted::No, false).await.is_ok());
        assert!(check("localhost", 25, Encrypted::No, true).await.is_ok());
        assert!(matches!(
            check("192.0.2.1", 25, Encrypted::No, false).await,
            Err(NotifyError::PlainOffMachine { .. })
        ));
        assert!(check("192.0.2.1", 465, Encrypted::Yes, false).await.is_ok());
        assert!(matches!(
            check("192.0.2.1", 465, Encrypted::Yes, true).await,
            Err(NotifyError::OffMachine { .. })
        ));
    }
}
