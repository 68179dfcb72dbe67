use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use trellis::{database, keys, server};
use trellis_config::{LogFormat, Settings};

// Under the run benchmark the server spent about a tenth of its time in glibc's allocator.
// mimalloc keeps free lists per thread, which suits many small allocations per request.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Generate a new encryption key and re-encrypt every stored secret under it; the old key
    /// is kept as a previous key.
    Rotate,
    /// Re-encrypt every stored secret still under a previous key with the current key.
    Reencrypt,
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
        Command::Keys {
            command: KeysCommand::Rotate,
        } => {
            let key_id = keys::rotate_encryption_key(&settings)?;
            println!("new encryption key {key_id}");
            // Running servers load the new key within one reload interval. Waiting that long
            // first leaves few secrets written under the old key after the pass.
            let wait = server::ENCRYPTION_KEY_RELOAD_SECONDS + 2;
            println!("waiting {wait} seconds for running servers to load it");
            tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
            return reencrypt(&settings).await;
        }
        Command::Keys {
            command: KeysCommand::Reencrypt,
        } => return reencrypt(&settings).await,
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
    running.wait().await?;
    tracing::info!("stopped");
    Ok(())
}

async fn reencrypt(settings: &Settings) -> anyhow::Result<()> {
    let keys = keys::encryption_keys(settings)?;
    let db = database::open(settings, database::Owner::Apps).await?;
    let report = trellis_apps::rotation::reencrypt_all(
        &db,
        &keys,
        trellis_apps::rotation::DEFAULT_BATCH_SIZE,
    )
    .await?;
    println!(
        "re-encrypted {} resources under key {}; {} still under older keys",
        report.reencrypted,
        keys.current_id(),
        report.remaining
    );
    if !report.failed.is_empty() {
        anyhow::bail!(
            "{} resources could not be decrypted with any configured key: {:?}",
            report.failed.len(),
            report.failed
        );
    }
    if report.remaining > 0 {
        println!("run `trellis keys reencrypt` again once every server has loaded the new key");
    }
    Ok(())
}

async fn trellis_gateway_main(settings: Settings) -> anyhow::Result<()> {
    let listener = server::bind(settings.listen)?;
    let running = server::start_gateway(settings, listener).await?;
    running.wait().await
}
