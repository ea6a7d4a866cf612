//! TCP_NODELAY for the PostgreSQL connections.
//!
//! sqlx opens PostgreSQL TCP connections without TCP_NODELAY and has no setting for it. A
//! message longer than one TCP segment (a batch insert, the scanner's 1,000 alert events) then
//! ends in a short segment that Nagle's algorithm holds until the server acknowledges the one
//! before it, and the server delays that acknowledgement for up to 40 ms while it waits for the
//! rest of the message. On loopback, where a segment is 64 KiB, that added 40 ms to every other
//! scanner batch; over a network, with 1,460-byte segments, far smaller statements are split.
//! sqlx does not hand out its socket, so when a pooled connection has been opened this finds
//! the process's TCP sockets connected to the database's port and turns Nagle off on them
//! (which is idempotent and harmless on any other connection to that port). The scan costs a
//! few system calls per open descriptor, paid only when the pool opens a connection.

/// Turns on TCP_NODELAY for every TCP socket of this process whose peer has `port`.
#[cfg(target_os = "linux")]
pub fn set_for_peer_port(port: u16) {
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
        // duration of three socket calls. Should another thread close it (and the number be
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
            let _ = socket.set_tcp_nodelay(true);
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
        super::set_for_peer_port(port);
        assert!(client.nodelay().unwrap());
        // The accepted side's peer is the client's ephemeral port: untouched.
        assert!(!accepted.nodelay().unwrap());
    }
}
