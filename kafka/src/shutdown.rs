//! Stopping a runner cleanly: a flag the run loop checks between bundles, set by Ctrl-C, SIGTERM or a
//! caller (tests, embedding programs).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A shared "please stop" flag. Clones share it.
#[derive(Debug, Clone, Default)]
pub struct Shutdown(Arc<AtomicBool>);

impl Shutdown {
    /// A flag nobody has raised yet.
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// A flag raised by the first SIGINT (Ctrl-C) or SIGTERM the process receives; a second one exits
    /// at once with status 130. The signals are watched by a background thread running a small tokio
    /// runtime.
    pub fn on_signals() -> std::io::Result<Shutdown> {
        let shutdown = Shutdown::new();
        let flag = shutdown.clone();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        std::thread::Builder::new().name("signals".to_owned()).spawn(move || {
            runtime.block_on(async move {
                #[cfg(unix)]
                let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(term) => term,
                    Err(e) => {
                        tracing::warn!("cannot watch SIGTERM: {e}");
                        return;
                    }
                };
                for _ in 0..2 {
                    #[cfg(unix)]
                    let name = tokio::select! {
                        _ = tokio::signal::ctrl_c() => "SIGINT",
                        _ = term.recv() => "SIGTERM",
                    };
                    #[cfg(not(unix))]
                    let name = {
                        let _ = tokio::signal::ctrl_c().await;
                        "Ctrl-C"
                    };
                    if flag.is_requested() {
                        tracing::warn!("{name} again: exiting without flushing");
                        std::process::exit(130);
                    }
                    tracing::info!("{name}: stopping after flushing and committing");
                    flag.request();
                }
            });
        })?;
        Ok(shutdown)
    }

    /// Raises the flag.
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether the flag was raised.
    pub fn is_requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
