use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use trellis::{database, keys, server};
use trellis_config::{LogFormat, Settings};

/// Trellis: internal tools and AI apps over any data source or API.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// TOML settings file; `TRELLIS_*` environment variables override it.
    #[arg(long, short, global = true, env = "TRELLIS_CONFIG")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every service in one process on `listen` (SQLite in `data_dir` unless
    /// `database_url` is set).
    Serve,
    /// Run the API gateway alone on `listen`.
    Gateway,
    /// Run the auth service alone on `auth_listen`.
    Auth,
    /// Run the apps service alone on `apps_listen`.
    Apps,
    /// Run the exec service alone on `exec_listen`.
    Exec,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Print the OpenAPI document.
    Openapi,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Add a new signing key; older keys keep verifying until their tokens expire.
    RotateSigning,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The variable names the settings file only; it is not a setting itself.
    let variables: Vec<(String, String)> = std::env::vars()
        .filter(|(name, _)| name != "TRELLIS_CONFIG")
        .collect();
    let settings = match Settings::load_from(cli.config.as_deref(), &variables) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("trellis: {error}");
            std::process::exit(2);
        }
    };
    trellis_telemetry::init_logging(&settings.log_level, settings.log_format == LogFormat::Json);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(cli.command, settings))
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    let role = match command {
        Command::Serve => server::Role::Embedded,
        Command::Auth => server::Role::Auth,
        Command::Apps => server::Role::Apps,
        Command::Exec => server::Role::Exec,
        Command::Gateway => return trellis_gateway_main(settings).await,
        Command::Migrate => {
            database::connect_all(&settings).await?;
            tracing::info!("migrations applied");
            return Ok(());
        }
        Command::Keys {
            command: KeysCommand::RotateSigning,
        } => {
            let kid = keys::rotate_signing_keys(&settings)?;
            println!("new signing key {kid}; running services pick it up within 10 seconds");
            return Ok(());
        }
        Command::Openapi => {
            print!("{}", trellis::openapi::document_json());
            return Ok(());
        }
    };

    let address = match role {
        server::Role::Embedded => settings.listen,
        server::Role::Auth => settings.auth_listen,
        server::Role::Apps => settings.apps_listen,
        server::Role::Exec => settings.exec_listen,
    };
    if settings.database_url.is_none()
        && matches!(role, server::Role::Embedded | server::Role::Auth)
    {
        tracing::info!(data_dir = %settings.data_dir.display(), "storing data in SQLite files in the data folder");
    }
    let listener = server::bind(address)?;
    let running = server::start(settings, role, listener)
        .await
        .context("starting the server")?;
    tracing::info!(address = %running.address, "Trellis is ready; API reference at /docs");
    running
        .task
        .await
        .context("the server task failed")?
        .context("the server failed")?;
    tracing::info!("stopped");
    Ok(())
}

async fn trellis_gateway_main(settings: Settings) -> anyhow::Result<()> {
    let listener = server::bind(settings.listen)?;
    let running = server::start_gateway(settings, listener)?;
    running
        .task
        .await
        .context("the gateway task failed")?
        .context("the gateway failed")?;
    Ok(())
}
