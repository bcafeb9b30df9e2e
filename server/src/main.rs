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

/// mimalloc asks for transparent huge pages on its arenas, and with them
/// each 2 MiB the allocator so much as touches becomes resident in full:
/// about 50 MB more after `scripts/bench-portal`'s load, for no speed it
/// could measure. Set before the runtime's threads start.
fn no_transparent_huge_pages() {
    if let Err(err) = rustix::thread::disable_transparent_huge_pages(true) {
        // An old or locked-down kernel: more memory, nothing wrong.
        tracing::debug!("transparent huge pages stay on: {err}");
    }
}

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
        Command::RestoreStore { file, force } => commands::restore_store(&config, &file, force),
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

fn main() -> ExitCode {
    init_logging();
    no_transparent_huge_pages();
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => {
            let code = runtime.block_on(async_main());
            // Tasks still running once the command is done get this long,
            // not forever: a worker stopped for good (see
            // vendor/reactive_graph) once kept `dpe serve` from exiting.
            runtime.shutdown_timeout(std::time::Duration::from_secs(10));
            code
        }
        Err(err) => {
            eprintln!("dpe: cannot start the async runtime: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn async_main() -> ExitCode {
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
