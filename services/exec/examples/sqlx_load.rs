//! Runs one query from many concurrent clients straight through sqlx, as the baseline beside
//! `scripts/bench-runs`, and prints requests per second with the median and p99 latency.
//!
//! Usage: `cargo run --release -p trellis-exec --example sqlx_load -- URL CLIENTS SECONDS SQL`

use std::time::{Duration, Instant};

use sqlx::postgres::PgPoolOptions;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or("postgres://postgres@127.0.0.1:5432/postgres".into());
    let clients: u32 = args.next().map_or(Ok(32), |text| text.parse())?;
    let seconds: u64 = args.next().map_or(Ok(15), |text| text.parse())?;
    let statement = args.next().unwrap_or("SELECT 1::int8 AS id".into());

    let pool = PgPoolOptions::new()
        .max_connections(clients)
        .connect(&url)
        .await?;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let pool = pool.clone();
        let statement = statement.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let started = Instant::now();
                sqlx::query(&statement).fetch_all(&pool).await?;
                latencies.push(started.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }

    latencies.sort();
    let percentile = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    println!(
        "queries/s {:.0}  p50 {:.3} ms  p99 {:.3} ms  ({} queries, {clients} clients, {seconds} s)",
        latencies.len() as f64 / seconds as f64,
        percentile(0.50).as_secs_f64() * 1e3,
        percentile(0.99).as_secs_f64() * 1e3,
        latencies.len()
    );
    Ok(())
}
