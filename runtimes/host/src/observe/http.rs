//! The `/metrics` endpoint (`--metrics-listen`): a minimal HTTP/1.0-style responder on one
//! thread, enough for a Prometheus scrape (`GET /metrics`), not a web server. A full HTTP
//! stack (hyper, tiny_http) would cost more to build than everything else here; a scrape is one
//! request per connection, answered and closed.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::Host;

/// How long a scraper may take to send its request, and to read the answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// The most of a request read: its request line is all that counts.
const MAX_REQUEST: usize = 8 * 1024;

/// Binds `addr` and answers scrapes of `host`'s metrics on a thread of its own, one connection
/// at a time (a slow scraper is cut off after [`CLIENT_TIMEOUT`]). Returns the bound address.
pub fn serve(addr: SocketAddr, host: Arc<Host>) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for conn in listener.incoming() {
                match conn {
                    Ok(conn) => {
                        if let Err(e) = answer(conn, &host) {
                            tracing::debug!("metrics request failed: {e}");
                        }
                    }
                    Err(e) => {
                        tracing::debug!("metrics accept failed: {e}");
                        thread::sleep(Duration::from_millis(50));
                    }
                }
            }
        })?;
    Ok(bound)
}

fn answer(mut conn: TcpStream, host: &Host) -> io::Result<()> {
    conn.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    conn.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let head = read_head(&mut conn)?;
    let line = head.lines().next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => {
            ("200 OK", super::metrics::CONTENT_TYPE, host.metrics_text())
        }
        ("GET" | "HEAD", _) => (
            "404 Not Found",
            "text/plain",
            "not found: try /metrics\n".into(),
        ),
        _ => ("405 Method Not Allowed", "text/plain", "GET only\n".into()),
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        response.extend_from_slice(body.as_bytes());
    }
    conn.write_all(&response)?;
    let _ = conn.shutdown(std::net::Shutdown::Write);
    Ok(())
}

/// Reads the request up to the blank line that ends its head (at most [`MAX_REQUEST`]).
fn read_head(conn: &mut TcpStream) -> io::Result<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        if head.len() >= MAX_REQUEST {
            break;
        }
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}
