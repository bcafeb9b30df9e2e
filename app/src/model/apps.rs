//! Where applications open: the gateway's addressing.

use serde::{Deserialize, Serialize};

/// How the gateway gives each instance's application an origin of its own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum AppsAddressing {
    /// `https://<portal host>:<port>/`, a port of the range each: no DNS
    /// needed. The port is the instance's until it is deleted.
    Ports {
        /// The range's first port: 1024 or above.
        #[cfg_attr(feature = "ssr", schema(minimum = 1024, maximum = 65535))]
        first: u16,
        /// Its last port (inclusive): not before the first, and at most
        /// 10,000 ports in all.
        #[cfg_attr(feature = "ssr", schema(minimum = 1024, maximum = 65535))]
        last: u16,
    },
    /// `https://<instance name>.<domain>/` on the portal's own port, by
    /// `Host`: needs a wildcard DNS record for the domain.
    Domain {
        /// E.g. `apps.dpe.example.org`; `localhost` on a machine of one's
        /// own (browsers resolve every `*.localhost` to loopback). Labels
        /// of letters, digits and inner `-`, at most 200 characters; read
        /// in lower case, without a trailing dot.
        #[cfg_attr(
            feature = "ssr",
            schema(
                max_length = 200,
                pattern = r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?$"
            )
        )]
        domain: String,
    },
}

impl AppsAddressing {
    /// The default: per-instance ports 20000 to 20999.
    pub const DEFAULT_PORTS: AppsAddressing = AppsAddressing::Ports {
        first: 20000,
        last: 20999,
    };
}

/// `GET`/`PUT /api/v1/settings/apps`: where applications open.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AppsSettings {
    /// The portal's origin as users type it, e.g. `https://dpe.example.org`
    /// or `https://192.0.2.10`: applications open on its host (ports) or
    /// its port (domain). Recorded by the setup wizard.
    pub portal_origin: String,
    pub addressing: AppsAddressing,
}
