//! What a server binary's `main` does around its accept loop, the same for every runtime.

use std::error::Error;
use std::ffi::OsString;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::process::ExitCode;
use std::sync::Arc;

use crate::config::Reloader;
use crate::{limits, logging, signals, systemd, Host, Options};

/// A server ready to accept: what [`main`] hands to the runtime's accept loop.
#[derive(Debug)]
#[non_exhaustive]
pub struct Server {
    /// The options (command line and config file).
    pub options: Options,
    /// Storage, users, limits and settings, shared by every session.
    pub host: Arc<Host>,
    /// The control connections' listeners, in blocking mode: one per `--listen`, or the sockets
    /// systemd passed (socket activation). Accept on every one of them.
    pub listeners: Vec<TcpListener>,
}

/// The whole `main` of a server binary named `bin`, except its accept loop, which is `serve`.
///
/// It parses the command line and the `--config` file (printing help or an error and exiting
/// when asked or invalid), carries out `--hash-password` and returns, or else: starts logging,
/// builds the [`Host`], takes the listening sockets systemd passed or binds each `--listen`,
/// logs the first line ([`Host::startup_line`]), raises the open-files limit
/// ([`limits::raise_open_files_limit`]), installs the signal handlers ([`signals`]: SIGINT and
/// SIGTERM stop, SIGHUP reloads) and tells systemd `READY=1`. Then `serve` accepts connections
/// until the [shutdown flag](crate::shutdown::Lifecycle::shutdown) is raised, and returns after
/// [`drain`](crate::shutdown::Lifecycle::drain). An error on the way is logged and makes the
/// exit code a failure; so does a shutdown that cut transfers short
/// ([`cut_short`](crate::shutdown::Lifecycle::cut_short): the grace period ended first).
pub fn main<F>(bin: &'static str, serve: F) -> ExitCode
where
    F: FnOnce(Server) -> Result<(), Box<dyn Error>>,
{
    let args: Vec<OsString> = std::env::args_os().collect();
    let options = Options::parse_with_config(bin, args.clone()).unwrap_or_else(|e| e.exit());
    if let Some(code) = options.run_utility() {
        return code;
    }
    // Before any thread starts: taking the sockets removes LISTEN_FDS from the environment.
    let inherited = systemd::inherited_listeners();
    logging::init(options.verbosity());
    let served = start(bin, args, options, inherited).and_then(|server| {
        let host = Arc::clone(&server.host);
        serve(server).map(|()| host)
    });
    match served {
        Ok(host) if host.lifecycle().cut_short() => {
            tracing::warn!("exiting: shutdown cut transfers short");
            ExitCode::FAILURE
        }
        Ok(_) => {
            tracing::info!("exiting");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn start(
    bin: &'static str,
    args: Vec<OsString>,
    options: Options,
    inherited: io::Result<Vec<TcpListener>>,
) -> Result<Server, Box<dyn Error>> {
    // --umask is the whole mask for what the server creates: the storage asks for
    // `0o666 & !umask` and the kernel applies the process's umask on top, so it is set to the
    // same value (this process creates nothing else).
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(options.umask));
    let host = Arc::new(Host::from_options(&options)?);
    let inherited = inherited.map_err(|e| format!("cannot use the sockets systemd passed: {e}"))?;
    let from_systemd = !inherited.is_empty();
    let listeners = if from_systemd {
        inherited
    } else {
        listen_all(&options.listen)?
    };
    let addrs = listeners
        .iter()
        .map(TcpListener::local_addr)
        .collect::<io::Result<Vec<_>>>()?;
    // Before anything else is logged at info level: tests read the address from this line.
    tracing::info!("{}", host.startup_line(bin, &addrs));
    if from_systemd {
        tracing::info!("listening on the sockets systemd passed; --listen is not used");
    }
    if let Some(addr) = options.metrics_listen {
        let bound = crate::observe::http::serve(addr, Arc::clone(&host))
            .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))?;
        tracing::info!("metrics on http://{bound}/metrics");
    }
    host.warn_missing_homes();
    host.remove_stale_uploads();
    limits::raise_open_files_limit();
    let mut reloader = Reloader::new(bin, args, Arc::clone(&host), options.clone());
    let reopen = host.observe().transfer_log.clone();
    signals::install(host.lifecycle().shutdown().clone(), move || {
        // After logrotate, whether or not the settings reload.
        if let Some(log) = &reopen {
            log.reopen();
        }
        reloader.reload();
    })?;
    systemd::notify_or_log("READY=1");
    Ok(Server {
        options,
        host,
        listeners,
    })
}

/// Binds a listener on each of `addrs`. An unspecified IPv6 address (`[::]`) takes IPv4 clients
/// too, unless `addrs` also has `0.0.0.0` on the same port.
fn listen_all(addrs: &[SocketAddr]) -> Result<Vec<TcpListener>, Box<dyn Error>> {
    let mut listeners = Vec::with_capacity(addrs.len());
    for addr in addrs {
        let v4_too = addr.ip() == IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            && !addrs
                .iter()
                .any(|a| a.ip() == IpAddr::V4(Ipv4Addr::UNSPECIFIED) && a.port() == addr.port());
        let listener =
            listen_with(*addr, v4_too).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        listeners.push(listener);
    }
    Ok(listeners)
}

/// Queue of connections the kernel completes before the server accepts them. std's
/// `TcpListener::bind` asks for 128: a burst of clients connecting at once (a thousand sessions
/// starting together) overflows that, and the clients beyond it wait for SYN retransmits (1 s,
/// then 3 s...) or fail. The kernel caps this at `net.core.somaxconn` (4096 by default since
/// Linux 5.4).
pub const LISTEN_BACKLOG: i32 = 4096;

/// Binds the control listener like `TcpListener::bind` (with `SO_REUSEADDR`, so a restart does
/// not wait for old connections in `TIME_WAIT`), but with a [`LISTEN_BACKLOG`] queue.
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    listen_with(addr, false)
}

/// [`listen`]; an IPv6 `addr` takes IPv4 clients too (as IPv4-mapped addresses) when `v4_too`,
/// and only IPv6 ones otherwise, whatever `net.ipv6.bindv6only` says.
fn listen_with(addr: SocketAddr, v4_too: bool) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(!v4_too)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unspecified_ipv6_address_takes_ipv4_clients_too() {
        // A listener on [::] listens on every interface: on an OS-chosen port, only for the
        // moment this test runs, and only loopback connects to it.
        let Ok(listeners) = listen_all(&["[::]:0".parse().unwrap()]) else {
            return; // no IPv6 on this machine
        };
        let port = listeners[0].local_addr().unwrap().port();
        let v4 = std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
        let (_, from) = listeners[0].accept().unwrap();
        assert_eq!(from.ip().to_canonical(), IpAddr::V4(Ipv4Addr::LOCALHOST));
        drop(v4);
        let v6 = std::net::TcpStream::connect((Ipv6Addr::LOCALHOST, port)).unwrap();
        let (_, from) = listeners[0].accept().unwrap();
        assert_eq!(from.ip(), IpAddr::V6(Ipv6Addr::LOCALHOST));
        drop(v6);
        // Beside 0.0.0.0 on the same port, [::] takes IPv6 only, so that both can bind (a
        // dual-stack [::] would collide with it). The port was just freed.
        drop(listeners);
        let both = listen_all(&[
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)),
        ])
        .unwrap();
        assert_eq!(both.len(), 2);
    }

    #[test]
    fn a_listen_address_that_cannot_be_bound_is_named() {
        // 192.0.2.1 (TEST-NET-1) is no address of this machine.
        let e = listen_all(&["192.0.2.1:21".parse().unwrap()]).unwrap_err();
        assert!(
            e.to_string().contains("cannot listen on 192.0.2.1:21"),
            "{e}"
        );
    }

    #[test]
    fn listener_queues_a_burst_of_connections_before_any_accept() {
        // Where the kernel caps the queue below the burst, connects would stall: nothing to test.
        let cap = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if cap < 400 {
            return;
        }
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        // More than std's backlog of 128: all of them complete without a single accept.
        let clients: Vec<_> = (0..300)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        listener.set_nonblocking(true).unwrap();
        let accepted = std::iter::from_fn(|| listener.accept().ok()).count();
        assert_eq!(accepted, clients.len());
    }
}
