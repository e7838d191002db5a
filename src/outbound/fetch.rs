//! The one HTTP client idbridge uses to talk to OpenID Providers (discovery,
//! JWKS, token, userinfo, Microsoft Graph) and to Shared Signals
//! transmitters (JWKS, RFC 8936 poll): behind the outbound guard
//! (outbound/: https or loopback http, redirects refused, destination
//! addresses checked against the policy), connect and total timeouts, and a
//! cap on every response body, read chunk by chunk so an endless or huge
//! answer costs at most the cap. It also serves as openidconnect's
//! `AsyncHttpClient` for the code exchange.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use openidconnect::{HttpRequest, HttpResponse};
use serde_json::Value;

use std::sync::OnceLock;

use crate::outbound::{self, Policy, Refused};

/// Connecting to a provider may take this long (secure default: a slow or
/// black-holed provider cannot hold a login request open for long).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A whole request, body included, may take this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest discovery document, JWKS, token or userinfo response accepted.
pub const MAX_BODY: usize = 1024 * 1024;

/// Why a request to the provider failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The client could not be built (TLS backend).
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// Connection, TLS, timeout or protocol failure.
    #[error("{url}: {message}")]
    Transport { url: String, message: String },
    /// The body was larger than allowed.
    #[error("{url}: response larger than {limit} bytes")]
    TooLarge { url: String, limit: usize },
    /// A status other than 2xx (redirects are not followed).
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: u16 },
    /// The body is not the JSON expected.
    #[error("{url}: invalid JSON: {message}")]
    Json { url: String, message: String },
    /// The outbound guard refused the URL, its address or a redirect.
    #[error("refused: {0}")]
    Refused(#[from] Refused),
}

/// A reqwest client behind the outbound guard: it never follows redirects
/// (a provider's endpoint cannot bounce idbridge elsewhere) and reaches only
/// the addresses `policy` permits.
#[derive(Clone, Debug)]
pub struct HttpClient {
    inner: reqwest::Client,
    policy: Policy,
}

impl HttpClient {
    pub fn new(policy: Policy) -> Result<Self, FetchError> {
        let inner = outbound::client_builder(policy)
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("idbridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::Client(e.to_string()))?;
        Ok(HttpClient { inner, policy })
    }

    /// What this client may reach.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Send a request and read at most `limit` bytes of its body.
    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        url: &str,
        limit: usize,
    ) -> Result<(reqwest::StatusCode, reqwest::header::HeaderMap, Vec<u8>), FetchError> {
        // Before any packet: scheme, credentials, an address literal's class.
        outbound::check_url(url, self.policy)?;
        let transport = |e: reqwest::Error| match outbound::refusal_in(&e) {
            Some(refused) => FetchError::Refused(refused),
            None => FetchError::Transport { url: url.to_string(), message: e.to_string() },
        };
        let mut resp = req.send().await.map_err(transport)?;
        outbound::refuse_redirect(url, &resp)?;
        if resp.content_length().is_some_and(|n| n > limit as u64) {
            return Err(FetchError::TooLarge { url: url.to_string(), limit });
        }
        let status = resp.status();
        let headers = resp.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > limit {
                return Err(FetchError::TooLarge { url: url.to_string(), limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, headers, body))
    }

    /// GET a JSON document (optionally with a bearer token); 2xx only.
    pub async fn get_json(&self, url: &str, bearer: Option<&str>, limit: usize) -> Result<Value, FetchError> {
        let mut req = self.inner.get(url).header(reqwest::header::ACCEPT, "application/json");
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let (status, _, body) = self.send(req, url, limit).await?;
        json_body(url, status, &body)
    }

    /// POST a JSON body with a bearer token and read a JSON answer; 2xx only.
    pub async fn post_json(
        &self,
        url: &str,
        bearer: &str,
        body: &Value,
        limit: usize,
    ) -> Result<Value, FetchError> {
        let req = self
            .inner
            .post(url)
            .bearer_auth(bearer)
            .header(reqwest::header::ACCEPT, "application/json")
            .json(body);
        let (status, _, body) = self.send(req, url, limit).await?;
        json_body(url, status, &body)
    }

    /// The request openidconnect built (the token request), with the same
    /// timeouts, no redirects and the body cap.
    async fn execute(&self, request: HttpRequest) -> Result<HttpResponse, FetchError> {
        let url = request.uri().to_string();
        let (parts, body) = request.into_parts();
        let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes())
            .map_err(|e| FetchError::Transport { url: url.clone(), message: e.to_string() })?;
        let req = self.inner.request(method, &url).headers(parts.headers).body(body);
        let (status, headers, body) = self.send(req, &url, MAX_BODY).await?;
        let mut out = openidconnect::http::Response::builder().status(status.as_u16());
        if let Some(h) = out.headers_mut() {
            *h = headers;
        }
        out.body(body).map_err(|e| FetchError::Transport { url, message: e.to_string() })
    }
}

/// The process-wide client, built on first use (a failure to build it is
/// answered at every use, not once at start-up).
#[derive(Debug, Default)]
pub struct SharedClient {
    policy: Policy,
    http: OnceLock<HttpClient>,
}

impl SharedClient {
    /// A client that will reach only what `policy` permits.
    pub fn new(policy: Policy) -> Self {
        SharedClient { policy, http: OnceLock::new() }
    }

    /// The shared client, built now if it is not yet.
    pub fn get(&self) -> Result<&HttpClient, FetchError> {
        if let Some(h) = self.http.get() {
            return Ok(h);
        }
        let h = HttpClient::new(self.policy)?;
        Ok(self.http.get_or_init(|| h))
    }
}

fn json_body(url: &str, status: reqwest::StatusCode, body: &[u8]) -> Result<Value, FetchError> {
    if !status.is_success() {
        return Err(FetchError::Status { url: url.to_string(), status: status.as_u16() });
    }
    serde_json::from_slice(body)
        .map_err(|e| FetchError::Json { url: url.to_string(), message: e.to_string() })
}

impl<'c> openidconnect::AsyncHttpClient<'c> for HttpClient {
    type Error = FetchError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, FetchError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.execute(request))
    }
}

/// An endpoint idbridge may call or send browsers to: https, or plain http
/// only on a loopback host (local development and tests). No credentials,
/// no fragment.
pub fn endpoint_allowed(url: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(url).map_err(|e| format!("{url:?} is not an absolute URL: {e}"))?;
    let loopback = match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(format!("{url:?} has no host")),
    };
    match u.scheme() {
        "https" => {}
        "http" if loopback => {}
        s => return Err(format!("{url:?} must use https (got {s})")),
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(format!("{url:?} must not carry credentials"));
    }
    if u.fragment().is_some() {
        return Err(format!("{url:?} must not have a fragment"));
    }
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http() {
        assert!(endpoint_allowed("https://login.example.com/oauth2").is_ok());
        assert!(endpoint_allowed("http://127.0.0.1:8080/x").is_ok());
        assert!(endpoint_allowed("http://localhost/x").is_ok());
        assert!(endpoint_allowed("http://[::1]:9/x").is_ok());
        for bad in [
            "http://login.example.com/",
            "http://10.0.0.1/",
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "https://example.com/#frag",
            "not a url",
            "javascript:alert(1)",
        ] {
            assert!(endpoint_allowed(bad).is_err(), "{bad} accepted");
        }
    }
}
