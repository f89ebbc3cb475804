//! Running the issuer alone (`cargo run -p mock-issuer`); `devkit up`
//! mounts [`crate::http::router`] next to the gateway instead.

use std::{future::Future, net::SocketAddr, sync::Arc};

use anyhow::Context;
use tokio::net::TcpListener;

use crate::{config::IssuerConfig, issuer::Issuer};

#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    issuer: Arc<Issuer>,
    addr: SocketAddr,
}

impl Application {
    pub async fn build(config: IssuerConfig) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.addr))?;
        let addr = listener.local_addr()?;
        let settings = config.settle(addr);
        let issuer = Issuer::open(settings, chrono::Utc::now().timestamp())?;
        Ok(Self {
            listener,
            issuer: Arc::new(issuer),
            addr,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn issuer(&self) -> &Arc<Issuer> {
        &self.issuer
    }

    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        kit_serve::serve(
            self.listener,
            crate::http::router(self.issuer),
            crate::http::REQUEST_TIMEOUT,
            shutdown,
        )
        .await
    }
}
