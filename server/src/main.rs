use std::process::ExitCode;

use clap::Parser;
use server::cli::{Cli, Command, DevCommand, UserCommand};
use server::commands;
use server::config::{Config, Overrides};

/// A page render is mostly short-lived allocations across threads:
/// mimalloc serves them faster than glibc's malloc and returns memory to
/// the system sooner (`scripts/bench-portal` measures both).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut overrides = Overrides {
        listen: None,
        data_dir: cli.global.data_dir.clone(),
    };
    if let Command::Serve { listen } = &cli.command {
        overrides.listen = *listen;
    }
    let config = Config::load(cli.global.config.as_deref(), &overrides)?;
    match cli.command {
        Command::Serve { .. } => commands::serve(config).await,
        Command::User(UserCommand::Add {
            username,
            role,
            password_stdin,
        }) => commands::user_add(&config, &username, role.into(), password_stdin).await,
        Command::User(UserCommand::Passwd {
            username,
            password_stdin,
        }) => commands::user_passwd(&config, &username, password_stdin).await,
        Command::User(UserCommand::List) => commands::user_list(&config).await,
        Command::User(UserCommand::Disable { username }) => {
            commands::user_disable(&config, &username).await
        }
        Command::Backup { file, force } => commands::backup(&config, &file, force).await,
        Command::SetupCode => commands::setup_code(&config).await,
        Command::Healthcheck { url } => commands::healthcheck(&config, url).await,
        Command::Dev(DevCommand::Seed {
            instances,
            accounts,
            prefix,
            password_stdin,
        }) => commands::seed(&config, &prefix, accounts, instances, password_stdin).await,
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // The chain, once: "outer: inner: innermost".
            eprintln!("dpe: {}", server::error_chain(err.as_ref()));
            ExitCode::FAILURE
        }
    }
}
