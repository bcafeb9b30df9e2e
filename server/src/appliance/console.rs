//! An instance's serial console for the console page: who may open it
//! (whoever may see the instance), the audit record of each opening, and
//! the resize command typed on the line.

use app::error::AppError;
use app::model::{CONSOLE_MAX_COLS, CONSOLE_MAX_ROWS, ConsoleView, Power};
use app::policy::{Authorized, rights};
use app::service::{ConsoleService, ConsoleSession};
use async_trait::async_trait;

use super::Appliance;
use super::errors::engine_err;
use crate::engine::EngineError;
use crate::engine::console::{ConsoleOutput, ConsoleViewer};
use crate::engine::hypervisor::HostError;
use crate::store::audit::Audit;

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
        let host_id = match (row.host_id, row.power) {
            (Some(host_id), Power::Running) => host_id,
            (_, Power::Paused | Power::ShutOff | Power::Crashed | Power::ShuttingDown)
            | (_, Power::Unknown)
            | (None, Power::Running) => {
                self.audit(record.detail("not running").refused()).await;
                return Err(AppError::Conflict(
                    "the instance is not running; start it to use its console".into(),
                ));
            }
        };
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
