//! The command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "dpe",
    version,
    about = "Dynamic Provisioning Environment: a self-service portal for KVM"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// TOML configuration file.
    #[arg(long, global = true, env = "DPE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory of the store [default: ./data].
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the portal and the REST API.
    Serve {
        /// Address to listen on [default: 127.0.0.1:8080].
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Manage local accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Copy the store to FILE while the server runs (SQLite online backup).
    Backup {
        file: PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Put a store backup (`dpe backup`, or a `dpe-store-*.sqlite3` of the
    /// backup store) in place as this appliance's store, for a disaster
    /// recovery; with no server running.
    RestoreStore {
        file: PathBuf,
        /// Replace the store this appliance has.
        #[arg(long)]
        force: bool,
    },
    /// Print the one-time code the setup wizard asks for (making it if
    /// there is none yet); nothing once setup is complete.
    SetupCode,
    /// Exit 0 when the server answers its health check.
    Healthcheck {
        /// Health URL [default: from the configured listen address].
        #[arg(long)]
        url: Option<String>,
    },
    /// Developer tools, for measuring and trying out; not for appliances
    /// in use.
    #[command(subcommand, hide = true)]
    Dev(DevCommand),
}

#[derive(Debug, Subcommand)]
pub enum DevCommand {
    /// Add made-up departments, accounts and instances (records only, on
    /// no host) to measure the portal at scale.
    Seed {
        /// How many instances: PREFIX-00000, PREFIX-00001, ...
        #[arg(long, default_value_t = 1000)]
        instances: usize,
        /// How many accounts own them: PREFIX-user-00, ...
        #[arg(long, default_value_t = 20)]
        accounts: usize,
        #[arg(long, default_value = "seed")]
        prefix: String,
        /// Read the accounts' password from standard input (without it,
        /// they cannot sign in).
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a local account.
    Add {
        username: String,
        #[arg(long, value_enum, default_value_t = RoleArg::User)]
        role: RoleArg,
        /// Read the password from standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a local account's password.
    Passwd {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts.
    List,
    /// Disable an account: its sessions and tokens stop working at once.
    Disable { username: String },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RoleArg {
    Admin,
    User,
}

impl From<RoleArg> for app::model::Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Admin => app::model::Role::Admin,
            RoleArg::User => app::model::Role::User,
        }
    }
}
