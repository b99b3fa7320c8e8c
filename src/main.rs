use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let opts = kurento_media_server::setup::default_options();
    match kurento_media_server::server::start(opts).await {
        Ok(_server) => {
            let _ = tokio::signal::ctrl_c().await;
        }
        Err(e) => {
            eprintln!("kurento-media-server: {e}");
            std::process::exit(1);
        }
    }
}
