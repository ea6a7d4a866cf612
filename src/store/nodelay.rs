//! TCP_NODELAY for the PostgreSQL connections.
//!
//! sqlx 0.9.0 opens PostgreSQL TCP connections without TCP_NODELAY and has no setting for it.
//! This is an upstream regression: sqlx set the flag in `connect_tcp` since
//! launchbadge/sqlx#3055, and 0.9.0's `connect_tcp` (sqlx-core `net/socket/mod.rs`, which
//! sqlx-postgres calls for every TCP connection) connects a `tokio::net::TcpStream` and hands it
//! on without it. The regression is launchbadge/sqlx#4335 (which names #4022 as the change that
//! dropped the call); its fix, launchbadge/sqlx#4336, is merged on sqlx's main branch, where
//! `connect_tcp` calls `set_nodelay(true)` again, but no release has it yet. (The same issue
//! numbers are also found under transact-rs/sqlx.)
//!
//! A message longer than one TCP segment (a batch insert, the scanner's 1,000 alert events) then
//! ends in a short segment that Nagle's algorithm holds until the server acknowledges the one
//! before it, and the server delays that acknowledgement for up to 40 ms while it waits for the
//! rest of the message. On loopback, where a segment is 64 KiB, that added 40 ms to every other
//! scanner batch; over a network, with 1,460-byte segments, far smaller statements are split.
//! sqlx does not hand out its socket, so when a pooled connection has been opened this finds
//! the process's TCP sockets connected to the database's port and turns Nagle off on them
//! (which is idempotent and harmless on any other connection to that port). The scan costs a
//! few system calls per open descriptor, paid only when the pool opens a connection.
//!
//! `tests/postgres_nodelay.rs` checks that a pooled PostgreSQL connection has TCP_NODELAY set.
//! It passes with this module in place, and will keep passing once a sqlx release sets the flag
//! itself. To find out whether an upgraded sqlx still needs this module, run that test with the
//! `after_connect` hook in `Store::options` taken out: if it passes, sqlx sets the flag, and
//! this module and the hook can be deleted (moving `peer_port_sockets_nodelay`, which the test
//! reads the flag through, into the test).

/// Turns on TCP_NODELAY for every TCP socket of this process whose peer has `port`.
#[cfg(target_os = "linux")]
pub fn set_for_peer_port(port: u16) {
    for_each_peer_port_socket(port, |socket| {
        let _ = socket.set_tcp_nodelay(true);
    });
}

/// Whether TCP_NODELAY is on, for each TCP socket of this process whose peer has `port` (the
/// sockets `set_for_peer_port` changes); a socket whose flag cannot be read counts as off.
/// For tests: it shows whether the pool's connections have the flag, set by this module or by
/// sqlx.
#[cfg(target_os = "linux")]
pub fn peer_port_sockets_nodelay(port: u16) -> Vec<bool> {
    let mut nodelay = Vec::new();
    for_each_peer_port_socket(port, |socket| {
        nodelay.push(socket.tcp_nodelay().unwrap_or(false));
    });
    nodelay
}

/// Calls `f` with each TCP stream socket of this process whose peer has `port`, found through
/// the descriptors listed in /proc/self/fd.
#[cfg(target_os = "linux")]
fn for_each_peer_port_socket(port: u16, mut f: impl FnMut(socket2::SockRef<'_>)) {
    use std::os::fd::{BorrowedFd, RawFd};

    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    for entry in fds.flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<RawFd>().ok())
        else {
            continue;
        };
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
        if !is_socket {
            continue;
        }
        // SAFETY: the descriptor was open when it was listed and is only borrowed for the
        // duration of a few socket calls. Should another thread close it (and the number be
        // reused) in between, the calls fail or reach a socket of this same process, and the
        // checks below leave anything that is not a TCP stream to `port` alone.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        let to_port = socket
            .peer_addr()
            .ok()
            .and_then(|addr| addr.as_socket())
            .is_some_and(|addr| addr.port() == port);
        if to_port && socket.r#type().is_ok_and(|t| t == socket2::Type::STREAM) {
            f(socket);
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub fn set_for_peer_port(_port: u16) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn turns_nagle_off_for_connections_to_the_port() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        assert!(!client.nodelay().unwrap());
        assert_eq!(super::peer_port_sockets_nodelay(port), [false]);
        super::set_for_peer_port(port);
        assert!(client.nodelay().unwrap());
        assert_eq!(super::peer_port_sockets_nodelay(port), [true]);
        // The accepted side's peer is the client's ephemeral port: untouched.
        assert!(!accepted.nodelay().unwrap());
    }
}
