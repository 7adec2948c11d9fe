//! `--only tls-ceiling`: how fast one TLS download can be on this machine at all, the FTPS
//! counterpart of iperf3's loopback figure. No FTP server takes part: a thread of this process
//! sends `big_size` bytes over loopback with rustls (the crypto provider, record size and
//! 256 KiB writes thinftp uses, so the figure is a floor for any server written with it), and
//! the benchmark's own TLS client receives them exactly as in `retr --tls`. It runs twice: the
//! bytes from memory (encryption and the socket only), then read from `--ceiling-file` (the
//! one copy out of the page cache a server without kernel TLS cannot avoid). Each side's CPU
//! seconds are measured on its own thread: on a machine where client and server share the
//! cores, a server near the file row is at the limit the client leaves it.

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use rustls::pki_types::PrivatePkcs8KeyDer;
use rustls::{ServerConfig, ServerConnection};
use serde_json::{json, Map, Value};

use crate::data::{Sink, Source};
use crate::ftp::{Error, Result};
use crate::tls::{self, Stream};
use crate::Settings;

/// What thinftp writes to rustls at a time (its `tls::data::BUF`).
const WRITE: usize = 256 * 1024;

/// One download from memory and one from `file` (skipped when there is none), each with its
/// MB/s and each side's CPU seconds.
pub fn tls_ceiling(s: &Settings, file: Option<&str>) -> Result<Map<String, Value>> {
    let config = server_config()?;
    let mut m = Map::new();
    let from_memory = download(s, &config, None)?;
    m.insert("mb_s".into(), from_memory["mb_s"].clone());
    m.insert("memory".into(), Value::Object(from_memory));
    if let Some(path) = file {
        let from_file = download(s, &config, Some(path))?;
        m.insert("file_mb_s".into(), from_file["mb_s"].clone());
        m.insert("file".into(), Value::Object(from_file));
    }
    Ok(m)
}

/// A self-signed certificate for "localhost" on ring, TLS 1.2 and 1.3, as thinftp builds it.
fn server_config() -> Result<Arc<ServerConfig>> {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .map_err(|e| Error::Protocol(format!("cannot generate a certificate: {e}")))?;
    let key = PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der());
    let config = ServerConfig::builder_with_provider(tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Protocol(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(vec![generated.cert.der().clone()], key.into())
        .map_err(|e| Error::Protocol(e.to_string()))?;
    Ok(Arc::new(config))
}

fn download(
    s: &Settings,
    config: &Arc<ServerConfig>,
    file: Option<&str>,
) -> Result<Map<String, Value>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let bytes = s.big_size;
    let (config, file) = (Arc::clone(config), file.map(str::to_owned));
    let server = thread::spawn(move || -> io::Result<(u64, f64)> {
        let (tcp, _) = listener.accept()?;
        let sent = send(config, tcp, bytes, file.as_deref())?;
        Ok((sent, crate::procfs::thread_cpu_s()))
    });
    let client = tls::standalone();
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(s.io_timeout))?;
    let mut stream = Stream::secure(&client, tcp)?;
    let mut sink = Sink::new(s.recv, s.buf_size);
    let cpu0 = crate::procfs::thread_cpu_s();
    let t0 = Instant::now();
    let received = sink.drain(&mut stream);
    let secs = t0.elapsed().as_secs_f64();
    let client_cpu = crate::procfs::thread_cpu_s() - cpu0;
    // The sender's error first: the receiver's is only its consequence.
    let (sent, server_cpu) = server
        .join()
        .map_err(|_| Error::Protocol("the sending thread panicked".into()))??;
    let received = received?;
    if received != sent || sent != bytes {
        return Err(Error::Protocol(format!(
            "sent {sent} of {bytes} bytes, received {received}"
        )));
    }
    let mut m = Map::new();
    m.insert("mb_s".into(), json!(bytes as f64 / 1e6 / secs));
    m.insert("bytes".into(), json!(bytes));
    m.insert("seconds".into(), json!(secs));
    m.insert("sender_cpu_s".into(), json!(server_cpu));
    m.insert("receiver_cpu_s".into(), json!(client_cpu));
    Ok(m)
}

/// The server side: handshake, `bytes` in writes of [`WRITE`] (from `file` when given,
/// starting over at its end), `close_notify`, FIN. Returns the bytes sent.
fn send(
    config: Arc<ServerConfig>,
    mut tcp: TcpStream,
    bytes: u64,
    file: Option<&str>,
) -> io::Result<u64> {
    let mut conn = ServerConnection::new(config).map_err(io::Error::other)?;
    conn.set_buffer_limit(None);
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)?;
    }
    let mut file = file.map(File::open).transpose()?;
    let mut buf = Source::new(WRITE).into_bytes();
    let mut sent = 0u64;
    while sent < bytes {
        let want = usize::try_from(bytes - sent).unwrap_or(WRITE).min(WRITE);
        let chunk = buf.get_mut(..want).unwrap_or_default();
        let n = match &mut file {
            None => want,
            Some(f) => match f.read(chunk)? {
                0 if f.stream_position()? == 0 => {
                    return Err(io::Error::other("--ceiling-file is empty"));
                }
                0 => {
                    f.rewind()?;
                    continue;
                }
                n => n,
            },
        };
        conn.writer()
            .write_all(chunk.get(..n).unwrap_or_default())?;
        while conn.wants_write() {
            conn.write_tls(&mut tcp)?;
        }
        sent += n as u64;
    }
    conn.send_close_notify();
    while conn.wants_write() {
        conn.write_tls(&mut tcp)?;
    }
    tcp.shutdown(std::net::Shutdown::Write)?;
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn settings(bytes: &str) -> Settings {
        let args = ["thinftp-bench", "--target", "127.0.0.1:1", "--recv", "read"];
        let opts = crate::Opts::try_parse_from([&args[..], &["--big-size", bytes]].concat());
        opts.unwrap().settings().unwrap()
    }

    #[test]
    fn every_byte_arrives_from_memory_and_from_a_file_shorter_than_the_download() {
        let dir = std::env::temp_dir().join(format!("ceiling-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("f.bin");
        std::fs::write(&file, vec![5u8; 100_000]).unwrap();
        let s = settings("1048579");
        let m = tls_ceiling(&s, file.to_str()).unwrap();
        for from in ["memory", "file"] {
            assert_eq!(m[from]["bytes"], json!(1_048_579), "{m:?}");
            assert!(m[from]["mb_s"].as_f64().unwrap() > 0.0);
        }
        std::fs::write(&file, b"").unwrap();
        let e = tls_ceiling(&s, file.to_str()).unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
