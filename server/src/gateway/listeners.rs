//! One listener a gateway port, while applications are addressed by port:
//! kept in step with the store (a port appears with its instance and goes
//! with it) and with the apps settings.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use app::model::{AppsAddressing, AppsSettings};
use axum_server::Handle;
use axum_server::accept::NoDelayAcceptor;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use tokio::sync::watch;

use super::Gateway;
use crate::store::{Store, instances};

/// How often the listeners are compared with the instances' ports.
const RESYNC: Duration = Duration::from_secs(1);

/// What the listeners serve with.
pub struct PortListeners {
    pub gateway: Arc<Gateway>,
    pub store: Store,
    /// The portal's listening address: the ports open beside it.
    pub ip: IpAddr,
    /// The portal's TLS configuration, shared by every port.
    pub tls: Option<RustlsConfig>,
}

impl PortListeners {
    /// Runs until the process ends.
    pub fn spawn(
        self,
        mut apps: watch::Receiver<Option<AppsSettings>>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut open: BTreeMap<u16, Handle> = BTreeMap::new();
            loop {
                let by_port = matches!(
                    apps.borrow_and_update().as_ref().map(|a| &a.addressing),
                    Some(AppsAddressing::Ports { .. })
                );
                let wanted = if by_port {
                    match self.store.read(instances::app_ports).await {
                        Ok(ports) => ports,
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot read the application ports");
                            open.keys().copied().collect()
                        }
                    }
                } else {
                    Vec::new()
                };
                self.sync(&mut open, &wanted);
                tokio::select! {
                    _ = tokio::time::sleep(RESYNC) => {}
                    changed = apps.changed() => if changed.is_err() { break },
                }
            }
        })
    }

    fn sync(&self, open: &mut BTreeMap<u16, Handle>, wanted: &[u16]) {
        open.retain(|port, handle| {
            let keep = wanted.contains(port);
            if !keep {
                tracing::info!(port, "closing an application port");
                handle.graceful_shutdown(Some(Duration::from_secs(5)));
            }
            keep
        });
        for &port in wanted {
            if open.contains_key(&port) {
                continue;
            }
            match self.listen(port) {
                Ok(handle) => {
                    open.insert(port, handle);
                }
                // Tried again on the next pass.
                Err(e) => tracing::warn!(port, error = %e, "cannot open an application port"),
            }
        }
    }

    fn listen(&self, port: u16) -> std::io::Result<Handle> {
        let listener = std::net::TcpListener::bind(SocketAddr::new(self.ip, port))?;
        listener.set_nonblocking(true)?;
        let handle = Handle::new();
        let app = super::port_router(self.gateway.clone(), port)
            .into_make_service_with_connect_info::<SocketAddr>();
        let serving = handle.clone();
        match self.tls.clone() {
            // TCP_NODELAY: an answer's head and body go out at once, not
            // 40 ms apart (Nagle's algorithm against delayed ACKs).
            Some(tls) => {
                let server = axum_server::from_tcp(listener)
                    .acceptor(RustlsAcceptor::new(tls).acceptor(NoDelayAcceptor::new()))
                    .handle(serving);
                tokio::spawn(async move {
                    if let Err(e) = server.serve(app).await {
                        tracing::warn!(port, error = %e, "an application port stopped");
                    }
                });
            }
            None => {
                let server = axum_server::from_tcp(listener)
                    .acceptor(NoDelayAcceptor::new())
                    .handle(serving);
                tokio::spawn(async move {
                    if let Err(e) = server.serve(app).await {
                        tracing::warn!(port, error = %e, "an application port stopped");
                    }
                });
            }
        }
        Ok(handle)
    }
}
