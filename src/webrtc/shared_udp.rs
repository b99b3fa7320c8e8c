//! One UDP port for every WebRTC endpoint: the opt-in `sharedUdpPort` setting (our extension;
//! KMS always gives each endpoint its own ports from the `minPort`..`maxPort` range).
//!
//! A firewall then needs one open port instead of a range, and hundreds of viewers cost one
//! socket per host address instead of one each. Datagrams are told apart the way ICE itself
//! allows: a peer's first connectivity check carries `USERNAME = <our ufrag>:<theirs>`, and each
//! endpoint has its own ufrag, so the check names the endpoint; from then on its source address
//! does. One reader task per socket owns those tables: no lock per packet.
//!
//! Without per-endpoint sockets there is nothing to allocate TURN relays or probe STUN from
//! (a TURN server tells allocations apart by the client's address and port), so in this mode
//! endpoints offer host candidates only; browsers can still use TURN servers of their own.

use super::actor::NetIn;
use super::stun;
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

enum Ctl {
    /// Datagrams whose ICE check names this ufrag go to this endpoint.
    Register(String, mpsc::Sender<NetIn>),
    Unregister(String),
    /// The endpoint is about to send to this address: its answers are the endpoint's too
    /// (STUN responses carry no USERNAME).
    Learn(SocketAddr, mpsc::Sender<NetIn>),
}

pub struct SharedUdp {
    sockets: Vec<(Arc<UdpSocket>, SocketAddr)>,
    /// One control channel per socket's reader task.
    ctl: Vec<mpsc::UnboundedSender<Ctl>>,
}

impl fmt::Debug for SharedUdp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let addrs: Vec<SocketAddr> = self.sockets.iter().map(|(_, a)| *a).collect();
        f.debug_struct("SharedUdp").field("addrs", &addrs).finish()
    }
}

impl SharedUdp {
    /// Binds `port` on each host address of `interfaces` (as `networkInterfaces` selects them)
    /// and starts their readers on the current tokio runtime.
    pub fn bind(interfaces: Option<&[String]>, port: u16) -> io::Result<Arc<SharedUdp>> {
        let ips =
            super::net::host_addresses(interfaces).map_err(|e| io::Error::other(e.to_string()))?;
        let mut sockets = Vec::new();
        let mut ctl = Vec::new();
        for ip in ips {
            let std_sock = std::net::UdpSocket::bind(SocketAddr::new(ip, port)).map_err(|e| {
                io::Error::new(e.kind(), format!("shared UDP port {ip}:{port}: {e}"))
            })?;
            std_sock.set_nonblocking(true)?;
            let sock = Arc::new(UdpSocket::from_std(std_sock)?);
            let addr = sock.local_addr()?;
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(reader(sockets.len(), sock.clone(), rx));
            sockets.push((sock, addr));
            ctl.push(tx);
        }
        if sockets.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                "no host address to bind the shared UDP port on",
            ));
        }
        Ok(Arc::new(SharedUdp { sockets, ctl }))
    }

    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.sockets.iter().map(|(_, a)| *a).collect()
    }

    pub(super) fn sockets(&self) -> &[(Arc<UdpSocket>, SocketAddr)] {
        &self.sockets
    }

    pub(super) fn register(&self, ufrag: &str, tx: &mpsc::Sender<NetIn>) {
        for c in &self.ctl {
            let _ = c.send(Ctl::Register(ufrag.to_string(), tx.clone()));
        }
    }

    pub(super) fn unregister(&self, ufrag: &str) {
        for c in &self.ctl {
            let _ = c.send(Ctl::Unregister(ufrag.to_string()));
        }
    }

    pub(super) fn learn(&self, sock: usize, dst: SocketAddr, tx: &mpsc::Sender<NetIn>) {
        if let Some(c) = self.ctl.get(sock) {
            let _ = c.send(Ctl::Learn(dst, tx.clone()));
        }
    }
}

/// The ufrag a STUN binding request is addressed to (the part of USERNAME before the colon).
fn addressed_ufrag(data: &[u8]) -> Option<String> {
    if !stun::is_stun(data) {
        return None;
    }
    let m = stun::Message::parse(data)?;
    let user = m.string_attr(stun::attr::USERNAME)?;
    user.split_once(':').map(|(ours, _)| ours.to_string())
}

async fn reader(idx: usize, sock: Arc<UdpSocket>, mut ctl: mpsc::UnboundedReceiver<Ctl>) {
    let mut by_ufrag: HashMap<String, mpsc::Sender<NetIn>> = HashMap::new();
    let mut by_addr: HashMap<SocketAddr, mpsc::Sender<NetIn>> = HashMap::new();
    let mut buf = vec![0u8; super::actor::MAX_DATAGRAM];
    loop {
        tokio::select! {
            c = ctl.recv() => match c {
                Some(Ctl::Register(u, tx)) => {
                    by_ufrag.insert(u, tx);
                }
                Some(Ctl::Unregister(u)) => {
                    by_ufrag.remove(&u);
                    by_addr.retain(|_, tx| !tx.is_closed());
                }
                Some(Ctl::Learn(a, tx)) => {
                    by_addr.insert(a, tx);
                }
                None => return,
            },
            r = sock.recv_from(&mut buf) => match r {
                Ok((n, src)) => {
                    let data = &buf[..n];
                    let known = by_addr.get(&src).filter(|tx| !tx.is_closed()).cloned();
                    let tx = known.or_else(|| {
                        let tx = addressed_ufrag(data).and_then(|u| by_ufrag.get(&u).cloned())?;
                        by_addr.insert(src, tx.clone());
                        Some(tx)
                    });
                    if let Some(tx) = tx {
                        // Never wait on one endpoint: the others share this reader.
                        let _ = tx.try_send(NetIn::Udp {
                            sock: idx,
                            src,
                            data: data.to_vec(),
                            at: Instant::now(),
                        });
                    }
                }
                // ICMP port-unreachable surfaces as ECONNREFUSED; the socket is still fine.
                Err(e) => {
                    tracing::trace!("shared udp recv error: {e}");
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stun::{Class, MessageBuilder};

    #[test]
    fn a_check_names_the_endpoint_by_the_first_half_of_username() {
        let req = MessageBuilder::new(
            stun::method::BINDING,
            Class::Request,
            stun::new_transaction_id(),
        )
        .attr(stun::attr::USERNAME, b"ourUfrag:theirs")
        .build(None, true);
        assert_eq!(addressed_ufrag(&req).as_deref(), Some("ourUfrag"));
        let resp = MessageBuilder::new(
            stun::method::BINDING,
            Class::Success,
            stun::new_transaction_id(),
        )
        .build(None, true);
        assert_eq!(addressed_ufrag(&resp), None);
        assert_eq!(addressed_ufrag(&[0x80, 0x60, 0, 1, 0, 0, 0, 0]), None);
    }
}
