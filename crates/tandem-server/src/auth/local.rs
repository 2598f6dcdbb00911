//! The guard of `--auth none`, where anyone who reaches the server owns every document. Binding
//! to loopback keeps other machines out; two browser tricks remain, and this closes them:
//!
//! - **DNS rebinding**: a page on `evil.example` points its name at 127.0.0.1 and then reads
//!   and writes `http://evil.example:8080/api/…` as its own origin. The Host header it sends
//!   names its own domain, so only a Host naming this machine is served: `localhost`, a
//!   loopback address, the listen address, or the `--public-url` host.
//! - **Cross-site writes**: any site can make a visitor's browser send a plain form POST (to
//!   `/api/docs/import`, say). A state-changing request must say it comes from our own page:
//!   `Origin` equal to our origin, or `Sec-Fetch-Site: same-origin`. Browsers send both on every
//!   such request; a script sends `Origin` itself (`-H 'Origin: http://127.0.0.1:8080'`).
//!
//! With accounts neither applies: a request carries a token a foreign page cannot read, and the
//! cookie routes check their origin (`Auth::check_origin`).

use std::net::{IpAddr, SocketAddr};

use axum::http::{header, HeaderMap, Method};

use crate::error::AppError;

/// Whether `--auth none` serves this request.
pub fn check(
    listen: SocketAddr,
    public_origin: Option<&str>,
    method: &Method,
    headers: &HeaderMap,
) -> Result<(), AppError> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .ok_or_else(|| AppError::BadRequest("a Host header is required".into()))?;
    if !is_local_host(host, listen, public_origin) {
        return Err(AppError::Forbidden(format!(
            "this server (--auth none) answers only to localhost, not to {:?}",
            host.chars().take(100).collect::<String>()
        )));
    }
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let same_site = headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"same-origin");
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    let ours = |o: &str| {
        public_origin == Some(o) || o == format!("http://{host}") || o == format!("https://{host}")
    };
    match origin {
        Some(o) if ours(o) => Ok(()),
        None if same_site => Ok(()),
        _ => Err(AppError::Forbidden(
            "a change must come from this server's own page (send an Origin header naming it)"
                .into(),
        )),
    }
}

/// `localhost`, a loopback address, the listen address or the public host, with any port.
fn is_local_host(host: &str, listen: SocketAddr, public_origin: Option<&str>) -> bool {
    let name = match host.strip_prefix('[') {
        // `[::1]:8080`
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(n, _)| n),
    };
    let public_host = public_origin
        .and_then(|o| o.split_once("://"))
        .map(|(_, h)| {
            h.strip_prefix('[')
                .map_or(h, |r| r.split(']').next().unwrap_or(""))
        })
        .map(|h| h.rsplit_once(':').map_or(h, |(n, _)| n));
    if name.eq_ignore_ascii_case("localhost") || public_host.is_some_and(|p| p == name) {
        return true;
    }
    name.parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_loopback() || ip == listen.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(host: &str, extra: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, host.parse().unwrap());
        for (k, v) in extra {
            h.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn only_names_of_this_machine_are_served() {
        let listen: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let get = |host: &str| check(listen, None, &Method::GET, &req(host, &[]));
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST",
            "[::1]:8080",
            "127.0.0.2",
        ] {
            assert!(get(ok).is_ok(), "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "evil.example",
            "127.0.0.1.evil.example:8080",
            "10.0.0.1",
        ] {
            assert!(matches!(get(bad), Err(AppError::Forbidden(_))), "{bad}");
        }
        let public = Some("https://docs.example.org");
        let h = req("docs.example.org", &[]);
        assert!(check(listen, public, &Method::GET, &h).is_ok());
        assert!(check(listen, None, &Method::GET, &HeaderMap::new()).is_err());
    }

    #[test]
    fn changes_must_come_from_our_own_page() {
        let listen: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let post =
            |h: &[(&str, &str)]| check(listen, None, &Method::POST, &req("127.0.0.1:8080", h));
        assert!(post(&[("origin", "http://127.0.0.1:8080")]).is_ok());
        assert!(post(&[("sec-fetch-site", "same-origin")]).is_ok());
        // A form on another site, a request without any sign of where it came from.
        assert!(post(&[("origin", "https://evil.example")]).is_err());
        assert!(post(&[("sec-fetch-site", "cross-site")]).is_err());
        assert!(post(&[("origin", "null")]).is_err());
        assert!(post(&[]).is_err());
        assert!(check(listen, None, &Method::DELETE, &req("localhost:8080", &[])).is_err());
    }
}
