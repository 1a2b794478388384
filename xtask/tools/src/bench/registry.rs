//! A container registry on 127.0.0.1 (the CNCF distribution registry, Debian's docker-registry)
//! behind a proxy that counts the bytes clients send it: what a publish uploads. Stopped when
//! dropped. The bench's registry, and the tests'.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::Path,
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use anyhow::{ensure, Context, Result};

/// A running registry behind its byte-counting proxy; stopped when dropped.
pub struct Registry {
    child: Child,
    /// `127.0.0.1:PORT` of the proxy: where images are pushed.
    pub host: String,
    sent: Arc<AtomicU64>,
}

impl Registry {
    /// Starts a registry that stores under `dir`, and the proxy in front of it; fails when it does not listen.
    pub fn start(dir: &Path) -> Result<Registry> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let config = dir.join("registry.yml");
        std::fs::create_dir_all(dir)?;
        let storage = dir.join("storage");
        let yaml = format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            storage.display()
        );
        std::fs::write(&config, yaml)?;
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start docker-registry: install it (`apt-get install docker-registry`)")?;
        ensure!(super::nginx::listens(port), "the registry did not listen on {port}");
        let (host, sent) = counting_proxy(port)?;
        Ok(Registry { child, host, sent })
    }

    /// Bytes clients sent the registry so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP proxy on 127.0.0.1 to `port`: its address, and the bytes clients sent through it.
fn counting_proxy(port: u16) -> Result<(String, Arc<AtomicU64>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let host = format!("127.0.0.1:{}", listener.local_addr()?.port());
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(("127.0.0.1", port)) else { continue };
            let (Ok(mut upload_from), Ok(mut upload_to)) = (client.try_clone(), server.try_clone()) else { continue };
            let (mut download_from, mut download_to) = (server, client);
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut buf = [0; 65536];
                while let Ok(n) = upload_from.read(&mut buf) {
                    if n == 0 || upload_to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    counter.fetch_add(n as u64, Ordering::SeqCst);
                }
                let _ = upload_to.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut download_from, &mut download_to);
                let _ = download_to.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    Ok((host, sent))
}
