//! An impaired IPv4 link between the root network namespace and a namespace the test creates,
//! built in userspace because the CI kernel has no netem qdisc: two TUN devices, one left in the
//! root namespace and one moved into the test's namespace, and a thread of this process copying
//! IP packets between their file descriptors. UDP packets (media, STUN, DTLS, RTCP) can be lost
//! at random, delayed by a random amount each (so they also get reordered, as with netem's
//! jitter), or cut altogether for one address; everything else (the TCP signalling) passes
//! straight through so setup time does not depend on the impairment.
//!
//! Addresses (a /29 in 10.77.N.0, N free on this host): `.1` root side (the server), `.2` and
//! `.3` namespace side (peers). Namespace and devices are removed on drop, also when a test
//! panics; namespaces left by a killed run (its pid is gone) are removed by the next run.
#![allow(dead_code)]

use std::collections::{BTreeMap, BinaryHeap};
use std::ffi::CString;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

const NS_PREFIX: &str = "kmstest-";
const SKIP_ENV: &str = "KMS_SKIP_NETNS_TESTS";

/// Test logs at `RUST_LOG` (default warn), captured per test.
pub fn init_log() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// Checks what these tests need. Without it they fail with the reason, unless the skip
/// variable is set (then the caller returns early, counted as skipped; under CI the variable
/// is refused: CI runs as root with TUN).
pub fn available(test: &str) -> bool {
    if std::env::var(SKIP_ENV).is_ok_and(|v| v == "1") {
        kurento_protocol::test_skip::skipped(test, &format!("{SKIP_ENV}=1"), true);
        return false;
    }
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "network-namespace tests need root (ip netns, TUN devices); run as root or set {SKIP_ENV}=1"
    );
    assert!(
        std::path::Path::new("/dev/net/tun").exists(),
        "/dev/net/tun is missing (no TUN support); set {SKIP_ENV}=1 to skip these tests"
    );
    assert!(
        Command::new("ip").arg("-V").output().is_ok(),
        "the `ip` command (iproute2) is missing; set {SKIP_ENV}=1 to skip these tests"
    );
    true
}

/// What the link does to UDP packets; the test may change it while traffic flows.
#[derive(Debug, Clone, Default)]
pub struct Impairment {
    /// Probability that a UDP packet is dropped, each direction independently.
    pub loss: f64,
    /// Each UDP packet is delayed by a uniform random time in `[0, jitter]`.
    pub jitter: Duration,
    /// Every UDP packet from or to this address is dropped (the host's network vanished).
    pub cut: Option<Ipv4Addr>,
}

/// Counters of one direction.
#[derive(Debug, Clone, Default)]
pub struct DirStats {
    pub udp: u64,
    /// Dropped by the random loss.
    pub lost: u64,
    /// Dropped because of `cut`.
    pub cut: u64,
    /// RTP packets by payload type: (seen, lost).
    pub rtp: BTreeMap<u8, (u64, u64)>,
    pub rtcp: u64,
    pub other: u64,
}

impl DirStats {
    pub fn loss_pct(&self) -> f64 {
        if self.udp == 0 {
            0.0
        } else {
            self.lost as f64 * 100.0 / self.udp as f64
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct LinkStats {
    /// Root namespace → test namespace (server → peers).
    pub down: DirStats,
    /// Test namespace → root namespace (peers → server).
    pub up: DirStats,
}

pub struct ImpairedLink {
    pub ns: String,
    pub root_dev: String,
    pub ns_dev: String,
    pub root_ip: Ipv4Addr,
    pub ns_ips: [Ipv4Addr; 2],
    ctl: Arc<Mutex<Impairment>>,
    stats: Arc<Mutex<LinkStats>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {args:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Removes namespaces that runs killed before their cleanup left behind.
fn remove_stale_namespaces() {
    let Ok(list) = ip(&["netns", "list"]) else {
        return;
    };
    for line in list.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(NS_PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if !pid.is_empty() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

/// Opens a TUN device (no packet-info header) named `name`.
fn open_tun(name: &str) -> Result<OwnedFd, String> {
    let path = CString::new("/dev/net/tun").map_err(|e| e.to_string())?;
    // SAFETY: a valid C string; the returned fd is checked and then owned.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_NONBLOCK) };
    if fd < 0 {
        return Err(format!(
            "open /dev/net/tun: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: fd was just opened by us.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    #[repr(C)]
    struct IfReq {
        name: [u8; libc::IFNAMSIZ],
        flags: libc::c_short,
        _pad: [u8; 22],
    }
    let mut req = IfReq {
        name: [0; libc::IFNAMSIZ],
        flags: (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short,
        _pad: [0; 22],
    };
    if name.len() >= libc::IFNAMSIZ {
        return Err(format!("interface name too long: {name}"));
    }
    req.name[..name.len()].copy_from_slice(name.as_bytes());
    // SAFETY: TUNSETIFF reads and writes a struct ifreq, which IfReq lays out (40 bytes).
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut req as *mut IfReq) };
    if r < 0 {
        return Err(format!(
            "TUNSETIFF {name}: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(fd)
}

/// A /24 index N such that nothing on this host uses 10.77.N.0 yet.
fn free_subnet(seed: u32) -> Result<u8, String> {
    let used = ip(&["-4", "-o", "addr", "show"])?;
    for i in 0..250u32 {
        let n = ((seed + i) % 250 + 1) as u8;
        if !used.contains(&format!("10.77.{n}.")) {
            return Ok(n);
        }
    }
    Err("no free 10.77.N.0 subnet".into())
}

impl ImpairedLink {
    pub fn new(imp: Impairment) -> ImpairedLink {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        remove_stale_namespaces();
        let pid = std::process::id();
        let c = COUNT.fetch_add(1, Ordering::Relaxed);
        let ns = format!("{NS_PREFIX}{pid}-{c}");
        let root_dev = format!("kt{}{c}r", pid % 10_000_000);
        let ns_dev = format!("kt{}{c}n", pid % 10_000_000);
        let n = free_subnet(pid.wrapping_mul(7).wrapping_add(c * 13)).unwrap();
        let root_ip = Ipv4Addr::new(10, 77, n, 1);
        let ns_ips = [Ipv4Addr::new(10, 77, n, 2), Ipv4Addr::new(10, 77, n, 3)];

        ip(&["netns", "add", &ns]).unwrap();
        // From here on, Drop cleans up whatever was made, even if a later step fails.
        let mut link = ImpairedLink {
            ns: ns.clone(),
            root_dev: root_dev.clone(),
            ns_dev: ns_dev.clone(),
            root_ip,
            ns_ips,
            ctl: Arc::new(Mutex::new(imp)),
            stats: Arc::new(Mutex::new(LinkStats::default())),
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
        };
        let root_fd = open_tun(&root_dev).unwrap();
        let ns_fd = open_tun(&ns_dev).unwrap();
        let cidr = |a: Ipv4Addr| format!("{a}/29");
        ip(&["link", "set", &ns_dev, "netns", &ns]).unwrap();
        ip(&["addr", "add", &cidr(root_ip), "dev", &root_dev]).unwrap();
        ip(&["link", "set", &root_dev, "up"]).unwrap();
        for a in ns_ips {
            ip(&["-n", &ns, "addr", "add", &cidr(a), "dev", &ns_dev]).unwrap();
        }
        ip(&["-n", &ns, "link", "set", &ns_dev, "up"]).unwrap();
        ip(&["-n", &ns, "link", "set", "lo", "up"]).unwrap();

        let (ctl, stats, stop) = (link.ctl.clone(), link.stats.clone(), link.stop.clone());
        link.thread = Some(
            std::thread::Builder::new()
                .name("impaired-link".into())
                .spawn(move || forward(root_fd, ns_fd, ctl, stats, stop))
                .unwrap(),
        );
        link
    }

    /// A server in the root namespace, signalling on the link's root address and gathering ICE
    /// candidates on its root-side device only, on a runtime of its own (returned with it).
    pub fn start_server(
        &self,
    ) -> (
        tokio::runtime::Runtime,
        kurento_media_server::server::RunningServer,
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut o = kurento_media_server::setup::default_options();
        o.port = Some(0);
        o.address = Some(self.root_ip.into());
        o.webrtc.network_interfaces = Some(vec![self.root_dev.clone()]);
        let server = rt.block_on(kurento_media_server::server::start(o)).unwrap();
        (rt, server)
    }

    pub fn set(&self, f: impl FnOnce(&mut Impairment)) {
        f(&mut self.ctl.lock().unwrap());
    }

    pub fn stats(&self) -> LinkStats {
        self.stats.lock().unwrap().clone()
    }

    pub fn reset_stats(&self) {
        *self.stats.lock().unwrap() = LinkStats::default();
    }

    /// Runs `f` on a new thread that lives in the test's namespace: sockets it creates belong
    /// to that namespace (and so their traffic crosses the link).
    /// Waits for the peers' thread, reads the link's figures, then stops the server, its runtime
    /// and the link, in that order.
    pub fn finish<T>(
        self,
        peers: JoinHandle<T>,
        rt: tokio::runtime::Runtime,
        server: kurento_media_server::server::RunningServer,
    ) -> (T, LinkStats) {
        let r = peers.join().expect("peer thread");
        let l = self.stats();
        drop(server);
        drop(rt);
        (r, l)
    }

    pub fn spawn_in_ns<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> JoinHandle<T> {
        let path = format!("/var/run/netns/{}", self.ns);
        std::thread::Builder::new()
            .name("in-netns".into())
            .spawn(move || {
                let f_ns = std::fs::File::open(&path).unwrap();
                // SAFETY: a namespace fd we opened; setns changes only this thread's namespace.
                let r = unsafe { libc::setns(f_ns.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
                f()
            })
            .unwrap()
    }
}

impl Drop for ImpairedLink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // The fds closed with the thread, which removed both (non-persistent) TUN devices.
        let _ = ip(&["link", "del", &self.root_dev]);
        let _ = ip(&["netns", "del", &self.ns]);
    }
}

struct Delayed {
    at: Instant,
    n: u64,
    data: Vec<u8>,
}

impl PartialEq for Delayed {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.n) == (o.at, o.n)
    }
}
impl Eq for Delayed {}
impl PartialOrd for Delayed {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Delayed {
    // Reversed: BinaryHeap is a max-heap and the earliest release must come out first.
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.at, o.n).cmp(&(self.at, self.n))
    }
}

/// (is UDP, source, destination, UDP payload) of an IPv4 packet.
fn parse_ipv4(p: &[u8]) -> Option<(bool, Ipv4Addr, Ipv4Addr, &[u8])> {
    if p.len() < 20 || p[0] >> 4 != 4 {
        return None;
    }
    let ihl = (p[0] & 0x0f) as usize * 4;
    let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
    let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    let udp = p[9] == 17;
    let payload = if udp { p.get(ihl + 8..)? } else { &[][..] };
    Some((udp, src, dst, payload))
}

fn forward(
    root: OwnedFd,
    ns: OwnedFd,
    ctl: Arc<Mutex<Impairment>>,
    stats: Arc<Mutex<LinkStats>>,
    stop: Arc<AtomicBool>,
) {
    // IMPAIR_SEED replays a run's drop and delay draws (the packets' own timing still varies).
    let seed: u64 = std::env::var("IMPAIR_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    println!("impaired link: random seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    // [0] root → ns, [1] ns → root.
    let fds = [root.as_raw_fd(), ns.as_raw_fd()];
    let mut queues: [BinaryHeap<Delayed>; 2] = [BinaryHeap::new(), BinaryHeap::new()];
    let mut n: u64 = 0;
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        for (dir, q) in queues.iter_mut().enumerate() {
            while q.peek().is_some_and(|d| d.at <= now) {
                let Some(d) = q.pop() else { break };
                let out = fds[1 - dir];
                // SAFETY: writing an owned buffer to our own fd.
                unsafe { libc::write(out, d.data.as_ptr().cast(), d.data.len()) };
            }
        }
        let next = queues.iter().filter_map(|q| q.peek().map(|d| d.at)).min();
        let wait = next
            .map(|t| t.saturating_duration_since(now))
            .unwrap_or(Duration::from_millis(20))
            .min(Duration::from_millis(20));
        let ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: wait.as_nanos() as libc::c_long,
        };
        let mut pfd = [
            libc::pollfd {
                fd: fds[0],
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: fds[1],
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfds, a valid timespec, no signal mask.
        let r = unsafe { libc::ppoll(pfd.as_mut_ptr(), 2, &ts, std::ptr::null()) };
        if r <= 0 {
            continue;
        }
        let imp = ctl.lock().unwrap().clone();
        for dir in 0..2 {
            if pfd[dir].revents & libc::POLLIN == 0 {
                continue;
            }
            loop {
                // SAFETY: reading into our own buffer from our own non-blocking fd.
                let len = unsafe { libc::read(fds[dir], buf.as_mut_ptr().cast(), buf.len()) };
                if len <= 0 {
                    break;
                }
                let pkt = &buf[..len as usize];
                let mut delay = Duration::ZERO;
                let mut drop = false;
                if let Some((true, src, dst, payload)) = parse_ipv4(pkt) {
                    let mut st = stats.lock().unwrap();
                    let s = if dir == 0 { &mut st.down } else { &mut st.up };
                    s.udp += 1;
                    if imp.cut.is_some_and(|c| c == src || c == dst) {
                        s.cut += 1;
                        drop = true;
                    } else {
                        drop = imp.loss > 0.0 && rng.random::<f64>() < imp.loss;
                        if drop {
                            s.lost += 1;
                        }
                        if !imp.jitter.is_zero() {
                            delay = imp.jitter.mul_f64(rng.random::<f64>());
                        }
                    }
                    // RFC 7983 demultiplexing: 128..=191 is RTP or RTCP; RTCP packet types
                    // 192..=223 sit where RTP has marker + payload type.
                    match payload {
                        [b0, b1, ..] if (128..=191).contains(b0) => {
                            if (192..=223).contains(b1) {
                                s.rtcp += 1;
                            } else {
                                let e = s.rtp.entry(b1 & 0x7f).or_default();
                                e.0 += 1;
                                if drop && imp.cut.is_none() {
                                    e.1 += 1;
                                }
                            }
                        }
                        _ => s.other += 1,
                    }
                }
                if drop {
                    continue;
                }
                n += 1;
                queues[dir].push(Delayed {
                    at: Instant::now() + delay,
                    n,
                    data: pkt.to_vec(),
                });
            }
        }
    }
}
