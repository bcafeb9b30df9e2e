//! An instance's consoles for the console pages: who may open them
//! (whoever may see the instance), the audit record of each opening, the
//! resize command typed on the serial line, and the graphical console's
//! connection to the guest's display.

use app::error::AppError;
use app::model::{CONSOLE_MAX_COLS, CONSOLE_MAX_ROWS, ConsoleView, Power};
use app::policy::{Authorized, rights};
use app::service::{ConsoleService, ConsoleSession, GraphicsSession};
use async_trait::async_trait;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::Appliance;
use super::errors::engine_err;
use crate::engine::EngineError;
use crate::engine::console::{ConsoleOutput, ConsoleViewer};
use crate::engine::hypervisor::HostError;
use crate::store::audit::Audit;
use crate::store::instances::InstanceRow;

#[async_trait]
impl ConsoleService for Appliance {
    async fn console_page(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        id: i64,
    ) -> Result<ConsoleView, AppError> {
        let row = self.visible_instance(&who, id).await?;
        let manifest = &self.engine.stack().manifest;
        Ok(ConsoleView {
            instance: self.instance_view(row.into()),
            sign_in: manifest
                .console
                .as_ref()
                .map(|c| c.sign_in(&manifest.params)),
        })
    }

    async fn open_console(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        id: i64,
    ) -> Result<Box<dyn ConsoleSession>, AppError> {
        let row = self.visible_instance(&who, id).await?;
        let record = Audit::by(&who)
            .action("instance.console")
            .object(format!("instance {}", row.name))
            .department(row.department_id);
        let host_id = self.running_host(&row, &record, "").await?;
        match self
            .engine
            .console(host_id, &row.uuid, &row.volume_stem)
            .await
        {
            Ok(viewer) => {
                self.audit(record.ok()).await;
                Ok(Box::new(Session { viewer }))
            }
            Err(EngineError::Host(HostError::Unsupported(what))) => {
                self.audit(record.detail(format!("the host cannot {what}")).failed())
                    .await;
                Err(AppError::Unavailable(
                    "the instance's host offers no serial console".into(),
                ))
            }
            Err(e) => {
                self.audit(record.detail(e.to_string()).failed()).await;
                Err(engine_err(e))
            }
        }
    }

    async fn open_graphics(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        id: i64,
    ) -> Result<Box<dyn GraphicsSession>, AppError> {
        let row = self.visible_instance(&who, id).await?;
        let record = Audit::by(&who)
            .action("instance.console")
            .object(format!("instance {}", row.name))
            .department(row.department_id);
        let host_id = self.running_host(&row, &record, "graphical: ").await?;
        match self.engine.graphics(host_id, &row.uuid).await {
            Ok(display) => {
                self.audit(record.detail("graphical").ok()).await;
                Ok(Box::new(Display {
                    display,
                    buf: vec![0; 64 * 1024],
                }))
            }
            Err(EngineError::Host(HostError::Unsupported(what))) => {
                self.audit(
                    record
                        .detail(format!("graphical: the host cannot {what}"))
                        .failed(),
                )
                .await;
                Err(AppError::Unavailable(
                    "the instance's host cannot hand out its display".into(),
                ))
            }
            Err(e) => {
                self.audit(record.detail(format!("graphical: {e}")).failed())
                    .await;
                Err(engine_err(e))
            }
        }
    }
}

impl Appliance {
    /// The host of instance `row` when it runs; else the refusal, audited
    /// (`record`'s detail starts with `kind`).
    async fn running_host(
        &self,
        row: &InstanceRow,
        record: &Audit,
        kind: &str,
    ) -> Result<i64, AppError> {
        match (row.host_id, row.power) {
            (Some(host_id), Power::Running) => Ok(host_id),
            (_, Power::Paused | Power::ShutOff | Power::Crashed | Power::ShuttingDown)
            | (_, Power::Unknown)
            | (None, Power::Running) => {
                self.audit(
                    record
                        .clone()
                        .detail(format!("{kind}not running"))
                        .refused(),
                )
                .await;
                Err(AppError::Conflict(
                    "the instance is not running; start it to use its console".into(),
                ))
            }
        }
    }
}

/// A viewer's own connection to a guest's display.
struct Display {
    display: UnixStream,
    buf: Vec<u8>,
}

#[async_trait]
impl GraphicsSession for Display {
    async fn output(&mut self) -> Option<Vec<u8>> {
        // `read` is cancel-safe: dropped unfinished, it has read nothing.
        match self.display.read(&mut self.buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => Some(self.buf[..n].to_vec()),
        }
    }

    async fn input(&mut self, bytes: &[u8]) -> Result<(), AppError> {
        self.display.write_all(bytes).await.map_err(|e| {
            tracing::debug!(error = %e, "a guest's display cannot be written");
            AppError::Unavailable("the guest's display closed".into())
        })
    }
}

struct Session {
    viewer: ConsoleViewer,
}

#[async_trait]
impl ConsoleSession for Session {
    fn take_scrollback(&mut self) -> Vec<u8> {
        self.viewer.take_scrollback()
    }

    async fn output(&mut self) -> Option<Vec<u8>> {
        match self.viewer.next().await {
            ConsoleOutput::Bytes(bytes) => Some(bytes),
            ConsoleOutput::Ended => None,
        }
    }

    async fn input(&self, bytes: Vec<u8>) -> Result<(), AppError> {
        self.viewer.send(bytes).await.map_err(engine_err)
    }

    async fn resize(&self, rows: u16, cols: u16) -> Result<(), AppError> {
        if !(1..=CONSOLE_MAX_ROWS).contains(&rows) || !(1..=CONSOLE_MAX_COLS).contains(&cols) {
            return Err(AppError::Invalid {
                field: "resize".into(),
                message: format!(
                    "rows must be 1 to {CONSOLE_MAX_ROWS} and columns 1 to {CONSOLE_MAX_COLS}"
                ),
            });
        }
        // A serial line has no size of its own: the shell learns it from
        // stty, typed as a command would be.
        let command = format!("stty rows {rows} cols {cols}\r");
        self.input(command.into_bytes()).await
    }
}
