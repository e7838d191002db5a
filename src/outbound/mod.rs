//! The one guard on every request idbridge makes to a URL it was given
//! (IdP metadata, OpenID Provider discovery, JWKS, token, userinfo, Graph):
//!
//! - scheme `https`; plain `http` only to a loopback host (local IdPs, tests);
//!   no credentials in the URL;
//! - redirects are never followed (a 3xx is refused, so an answer cannot
//!   bounce idbridge to plain http or to an internal address);
//! - the destination address is classified (addr.rs) — the literal in the
//!   URL before anything is sent, every address a name resolves to in the
//!   client's own DNS resolver — and refused unless the `Policy` permits its
//!   class. The connection goes only to the addresses checked, so a name
//!   cannot resolve to a public address for the check and a private one for
//!   the connection (DNS rebinding);
//! - environment proxies are not used (a proxy would resolve the name itself,
//!   out of the guard's sight).
//!
//! `fetch` holds the capped JSON client built on this guard (`HttpClient`),
//! shared by OIDC and the signal endpoints.

pub mod addr;
pub mod fetch;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

pub use addr::AddrClass;
use addr::{METADATA_HOSTS, classify};

/// Which destinations outbound requests may reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    allow_loopback: bool,
    allow_private: bool,
}

impl Policy {
    /// URLs a customer enters (self-serve setup): public addresses only,
    /// whatever the operator's setting (secure default, not configurable).
    pub const CUSTOMER: Policy = Policy { allow_loopback: false, allow_private: false };

    /// URLs the operator gives through the admin API: loopback allowed
    /// (tests, an IdP on the same host); private, link-local and shared
    /// addresses only when `allow_private` (IDBRIDGE_OUTBOUND_ALLOW_PRIVATE,
    /// default false: refuse).
    pub const fn operator(allow_private: bool) -> Policy {
        Policy { allow_loopback: true, allow_private }
    }

    /// Whether a destination of `class` may be reached. Metadata services,
    /// unspecified, broadcast, multicast and reserved addresses never may.
    pub fn permits(self, class: AddrClass) -> bool {
        match class {
            AddrClass::Public => true,
            AddrClass::Loopback => self.allow_loopback,
            AddrClass::Private | AddrClass::LinkLocal | AddrClass::SharedCgnat => self.allow_private,
            AddrClass::MetadataService
            | AddrClass::Unspecified
            | AddrClass::Broadcast
            | AddrClass::Multicast
            | AddrClass::Reserved => false,
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy::operator(false)
    }
}

/// Why an outbound request was refused.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Refused {
    /// Not an absolute URL with a host.
    #[error("{url:?} is not an absolute URL with a host: {message}")]
    BadUrl { url: String, message: String },
    /// Not https (or http to a loopback host).
    #[error("{url:?} must use https (plain http only to a loopback host), not {scheme}")]
    Scheme { url: String, scheme: String },
    /// The URL carries a user name or password.
    #[error("{url:?} must not carry credentials")]
    Credentials { url: String },
    /// The host is (or resolves to) an address the policy does not permit.
    #[error("{host} is {} address ({addr}); outbound requests may not reach it", class.describe())]
    Address { host: String, addr: IpAddr, class: AddrClass },
    /// The host name is a cloud metadata service's.
    #[error("{host} is a cloud metadata-service name; outbound requests may not reach it")]
    MetadataHost { host: String },
    /// The answer was a redirect, which is never followed.
    #[error(
        "{url} answered HTTP {status} (a redirect to {location:?}); redirects are not followed: give the final https URL"
    )]
    Redirect { url: String, status: u16, location: String },
    /// The name does not resolve.
    #[error("cannot resolve {host}: {message}")]
    Resolve { host: String, message: String },
}

impl Refused {
    /// A short code for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Refused::BadUrl { .. } => "bad_url",
            Refused::Scheme { .. } => "scheme",
            Refused::Credentials { .. } => "credentials",
            Refused::Address { .. } | Refused::MetadataHost { .. } => "address",
            Refused::Redirect { .. } => "redirect",
            Refused::Resolve { .. } => "resolve",
        }
    }
}

fn is_localhost(name: &str) -> bool {
    name == "localhost" || name.ends_with(".localhost")
}

/// Check `url` before any packet is sent: scheme, credentials, a metadata
/// host name, and an IP literal's class. (Names are checked as they resolve.)
pub fn check_url(url: &str, policy: Policy) -> Result<url::Url, Refused> {
    let bad = |message: String| Refused::BadUrl { url: url.chars().take(300).collect(), message };
    let u = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
    let host = u.host().ok_or_else(|| bad("no host".into()))?;
    let literal: Option<IpAddr> = match host {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    };
    let name = match host {
        url::Host::Domain(d) => d.trim_end_matches('.').to_ascii_lowercase(),
        _ => String::new(),
    };
    // The destination first: the most telling reason for `http://169.254.169.254/`.
    if METADATA_HOSTS.contains(&name.as_str()) {
        return Err(Refused::MetadataHost { host: name });
    }
    let host_str = u.host_str().unwrap_or_default().to_string();
    if let Some(ip) = literal {
        let class = classify(ip);
        if !policy.permits(class) {
            return Err(Refused::Address { host: host_str, addr: ip, class });
        }
    } else if is_localhost(&name) && !policy.permits(AddrClass::Loopback) {
        let addr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
        return Err(Refused::Address { host: host_str, addr, class: AddrClass::Loopback });
    }
    let loopback = literal.map_or(is_localhost(&name), |ip| classify(ip) == AddrClass::Loopback);
    match u.scheme() {
        "https" => {}
        "http" if loopback => {}
        s => return Err(Refused::Scheme { url: u.to_string(), scheme: s.to_string() }),
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(Refused::Credentials { url: format!("{}://{}", u.scheme(), host_str) });
    }
    Ok(u)
}

/// A 3xx answer as a refusal (redirects are never followed).
pub fn refuse_redirect(url: &str, resp: &reqwest::Response) -> Result<(), Refused> {
    if !resp.status().is_redirection() {
        return Ok(());
    }
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).chars().take(300).collect())
        .unwrap_or_default();
    Err(Refused::Redirect { url: url.to_string(), status: resp.status().as_u16(), location })
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The DNS resolver of guarded clients: every address a name resolves to
/// must be permitted, else the lookup fails with `Refused::Address`; the
/// connector then connects only to the addresses returned here.
struct GuardedResolver {
    policy: Policy,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let (policy, host) = (self.policy, name.as_str().to_string());
        Box::pin(async move {
            let resolve_err = |message: String| Refused::Resolve { host: host.clone(), message };
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| Box::new(resolve_err(e.to_string())) as BoxError)?
                .collect();
            if addrs.is_empty() {
                return Err(Box::new(resolve_err("no address".into())) as BoxError);
            }
            if let Some(bad) = addrs.iter().find(|a| !policy.permits(classify(a.ip()))) {
                let refused =
                    Refused::Address { host: host.clone(), addr: bad.ip(), class: classify(bad.ip()) };
                return Err(Box::new(refused) as BoxError);
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A reqwest client builder with the guard: the policy's resolver, no
/// redirects, no proxies. Every request through it must also pass `check_url`.
pub fn client_builder(policy: Policy) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver { policy }))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
}

/// The guard's refusal inside a request error (the resolver's), if that is
/// why it failed.
pub fn refusal_in(e: &(dyn std::error::Error + 'static)) -> Option<Refused> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<Refused>() {
            return Some(r.clone());
        }
        cur = err.source();
    }
    None
}

#[cfg(test)]
mod tests;
