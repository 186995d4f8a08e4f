//! A minimal HTTP/1.1 client for talking to the pool's own servers on 127.0.0.1: enough for
//! `testbed status`/`fault` and for `up`'s readiness probes, without pulling a full client
//! library into the testbed.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// A response: status code and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// `http://host:port/path` → (`host:port`, `/path`).
fn split_url(url: &str) -> Result<(&str, &str)> {
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("{url}: only http:// URLs are served by the testbed"))?;
    Ok(match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    })
}

/// Sends one request and reads the whole response (the connection is closed after it).
pub fn request(
    method: &str,
    url: &str,
    content_type: &str,
    body: &str,
    timeout: Duration,
) -> Result<Response> {
    let (authority, path) = split_url(url)?;
    let addr = authority
        .to_socket_addrs()
        .with_context(|| format!("bad address in {url}"))?
        .next()
        .with_context(|| format!("{url} resolves to nothing"))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).with_context(|| format!("cannot connect to {url}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .context("cannot set a read timeout")?;
    stream
        .set_write_timeout(Some(timeout))
        .context("cannot set a write timeout")?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: testbed\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body.as_bytes()))
        .with_context(|| format!("cannot send the request to {url}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .with_context(|| format!("cannot read the response of {url}"))?;
    parse_response(&raw).with_context(|| format!("bad HTTP response from {url}"))
}

pub fn get(url: &str, timeout: Duration) -> Result<Response> {
    request("GET", url, "application/json", "", timeout)
}

pub fn post_json(url: &str, body: &str, timeout: Duration) -> Result<Response> {
    request("POST", url, "application/json", body, timeout)
}

fn parse_response(raw: &[u8]) -> Result<Response> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.lines();
    let status_line = lines.next().context("empty response")?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let chunked = lines.any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("transfer-encoding") && v.trim().eq_ignore_ascii_case("chunked")
        })
    });
    let body = &raw[split + 4..];
    let body = if chunked { dechunk(body)? } else { body.to_vec() };
    Ok(Response {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("truncated chunk size")?;
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size =
            usize::from_str_radix(size_text, 16).with_context(|| format!("bad chunk size {size_text:?}"))?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size {
            bail!("truncated chunk");
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_bodies() -> Result<()> {
        let r = parse_response(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")?;
        assert_eq!((r.status, r.body.as_str()), (201, "ok"));
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )?;
        assert_eq!((r.status, r.body.as_str()), (200, "abcde"));
        Ok(())
    }

    #[test]
    fn splits_urls() -> Result<()> {
        assert_eq!(split_url("http://127.0.0.1:80")?, ("127.0.0.1:80", "/"));
        assert_eq!(split_url("http://127.0.0.1:80/v1/x")?, ("127.0.0.1:80", "/v1/x"));
        assert!(split_url("https://x").is_err());
        Ok(())
    }
}
