//! The front door: accepts the clients' connections and pipes them to the HTTP server behind
//! it, so that "the controller refuses connections" (a fault) can be played faithfully. While
//! the world says the controller refuses, new connections are closed at once and the open
//! ones (python-linstor keeps one alive) are cut, as when the real controller goes away.
//! tiny_http owns its sockets and cannot drop one without answering, hence this door.

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// How often open connections are checked against the refusal fault.
const WATCH_EVERY: Duration = Duration::from_millis(25);

#[derive(Default)]
struct Open {
    next: AtomicU64,
    streams: Mutex<HashMap<u64, TcpStream>>,
}

impl Open {
    fn add(&self, stream: &TcpStream) -> io::Result<u64> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let clone = stream.try_clone()?;
        self.streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, clone);
        Ok(id)
    }

    fn remove(&self, id: u64) {
        self.streams.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    }

    fn cut_all(&self) {
        let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        for (_, s) in streams.drain() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// Serves `listener` forever, piping each connection to `backend` unless `refusing()`.
pub fn run(
    listener: TcpListener,
    backend: SocketAddr,
    refusing: Arc<dyn Fn() -> bool + Send + Sync>,
) -> anyhow::Result<()> {
    let open = Arc::new(Open::default());
    {
        let (open, refusing) = (open.clone(), refusing.clone());
        thread::Builder::new()
            .name("linstor-door-watch".into())
            .spawn(move || {
                loop {
                    if refusing() {
                        open.cut_all();
                    }
                    thread::sleep(WATCH_EVERY);
                }
            })?;
    }
    for stream in listener.incoming() {
        let client = match stream {
            Ok(s) => s,
            Err(e) => {
                // E.g. out of file descriptors: wait a little rather than spin.
                tracing::debug!("linstor face: accept failed: {e}");
                thread::sleep(WATCH_EVERY);
                continue;
            }
        };
        if refusing() {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let open = open.clone();
        thread::Builder::new()
            .name("linstor-door".into())
            .spawn(move || {
                if let Err(e) = pipe(client, backend, &open) {
                    tracing::debug!("linstor face: connection ended: {e}");
                }
            })?;
    }
    Ok(())
}

/// Copies both ways until either side closes.
fn pipe(client: TcpStream, backend: SocketAddr, open: &Open) -> io::Result<()> {
    let server = TcpStream::connect(backend)?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let id = open.add(&client)?;
    let (mut client_read, mut server_write) = (client.try_clone()?, server.try_clone()?);
    let upstream = thread::spawn(move || {
        let _ = io::copy(&mut client_read, &mut server_write);
        let _ = server_write.shutdown(Shutdown::Write);
    });
    let (mut server_read, mut client_write) = (server, client);
    let _ = io::copy(&mut server_read, &mut client_write);
    let _ = client_write.shutdown(Shutdown::Both);
    let _ = server_read.shutdown(Shutdown::Both);
    let _ = upstream.join();
    open.remove(id);
    Ok(())
}
