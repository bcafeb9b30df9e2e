//! The host pool (appliance admins).

use async_trait::async_trait;

use crate::error::AppError;
use crate::model::{
    AddHost, AdoptRequest, Adopted, HostCredentialsView, HostMode, HostStatus, Leftovers,
    MoveRequest, ServerCertificateBundle, ServerCertificateRequest,
};
use crate::policy::{Authorized, rights};

#[async_trait]
pub trait HostService: Send + Sync + 'static {
    /// The hosts with their live status.
    async fn hosts(
        &self,
        who: Authorized<'_, rights::ManageHosts>,
    ) -> Result<Vec<HostStatus>, AppError>;
    async fn add_host(
        &self,
        who: Authorized<'_, rights::ManageHosts>,
        request: AddHost,
    ) -> Result<HostStatus, AppError>;
    /// Removes a host that holds no instances.
    async fn remove_host(
        &self,
        who: Authorized<'_, rights::ManageHosts>,
        id: i64,
    ) -> Result<(), AppError>;
    /// dpe's CA certificate and SSH public key, for remote hosts to trust.
    async fn host_credentials(
        &self,
        who: Authorized<'_, rights::ManageHosts>,
    ) -> Result<HostCredentialsView, AppError>;
    /// Issues a `qemu+tls` host's server certificate (and key) from dpe's
    /// CA, with what to install where.
    async fn issue_server_certificate(
        &self,
        who: Authorized<'_, rights::ManageHosts>,
        request: ServerCertificateRequest,
    ) -> Result<ServerCertificateBundle, AppError>;
    /// Starts moving an instance to another host: the task's id.
    async fn move_instance(
        &self,
        who: Authorized<'_, rights::ManageHosts>,
        instance: i64,
        request: MoveRequest,
    ) -> Result<i64, AppError>;
    /// Drains the host (it takes nothing new; its instances are moved
    /// away one at a time) or resumes it.
    async fn set_host_mode(
        &self,
        who: Authorized<'_, rights::ManageHosts>,
        id: i64,
        mode: HostMode,
    ) -> Result<HostStatus, AppError>;
    /// dpe leftovers (domains, volumes) with no record, which the
    /// reconciler kept (after a restored store) or removed.
    async fn leftovers(
        &self,
        who: Authorized<'_, rights::ManageHosts>,
    ) -> Result<Leftovers, AppError>;
    /// Records a kept guest as an instance again (see [`AdoptRequest`]).
    async fn adopt_leftover(
        &self,
        who: Authorized<'_, rights::ManageHosts>,
        request: AdoptRequest,
    ) -> Result<Adopted, AppError>;
    /// Lets the reconciler remove the kept leftovers from its next pass
    /// on (they are gone for good), as it does leftovers of a crash.
    async fn release_leftovers(
        &self,
        who: Authorized<'_, rights::ManageHosts>,
    ) -> Result<Leftovers, AppError>;
}
