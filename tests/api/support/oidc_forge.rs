//! A crafted OpenID Provider for the negative tests, in-process on 127.0.0.1
//! (axum): discovery, JWKS, an authorization endpoint that answers at once
//! with a code, a token endpoint (client authentication, single-use codes,
//! PKCE S256 checked), userinfo and a Graph-like groups endpoint. A `Plan`
//! sets what the ID token says and how it is signed, so each attack is minted
//! on purpose. Keys: fixtures/oidc/keys (see fixtures/oidc/README.md).

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const CLIENT_ID: &str = "forge-client";
pub const CLIENT_SECRET: &str = "forge-secret-0123456789";
pub const SUB: &str = "forge-user-1";

fn key_file(name: &str) -> String {
    let path = format!("{}/fixtures/oidc/keys/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// DER bytes of a PEM file.
pub fn pem_der(name: &str) -> Vec<u8> {
    let text = key_file(name);
    let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(b64).unwrap()
}

/// A public JWK from fixtures/oidc/keys with a kid.
pub fn jwk(name: &str, kid: &str, alg: &str) -> Value {
    let mut k: Value = serde_json::from_str(&key_file(&format!("{name}.jwk.json"))).unwrap();
    k["kid"] = json!(kid);
    k["alg"] = json!(alg);
    k["use"] = json!("sig");
    k
}

/// How the ID token is signed.
#[derive(Clone, Debug)]
pub enum Signer {
    /// RS256 with fixtures/oidc/keys/{name}.key.pem.
    Rsa(&'static str),
    /// ES256 with ec-a.
    Ec,
    /// HS256 keyed with these bytes.
    Hmac(Vec<u8>),
    /// `alg: none`, empty signature.
    None,
}

/// What the next logins get.
#[derive(Clone, Debug)]
pub struct Plan {
    pub signer: Signer,
    /// Merged over the default header; `null` removes a parameter.
    pub header: Value,
    /// Merged over the default claims; `null` removes a claim.
    pub claims: Value,
    /// Answer the authorization request with `error=...` instead of a code.
    pub error: Option<String>,
    /// Add `iss=...` to the authorization response (RFC 9207).
    pub response_iss: Option<String>,
    /// Userinfo's answer (default: `{"sub": SUB}`).
    pub userinfo: Option<Value>,
    /// Group ids from the Graph endpoint.
    pub graph_groups: Vec<String>,
    /// The token endpoint's JSON answer instead of the genuine one (a
    /// malformed token response).
    pub token_response: Option<Value>,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            signer: Signer::Rsa("rsa-a"),
            header: json!({}),
            claims: json!({}),
            error: None,
            response_iss: None,
            userinfo: None,
            graph_groups: Vec::new(),
            token_response: None,
        }
    }
}

struct Issued {
    challenge: String,
    redirect_uri: String,
    response: Value,
}

#[derive(Default)]
pub struct Hits {
    pub discovery: AtomicUsize,
    pub jwks: AtomicUsize,
    pub token: AtomicUsize,
    pub userinfo: AtomicUsize,
    pub graph: AtomicUsize,
}

struct Inner {
    base: String,
    /// The `issuer` the discovery document states.
    doc_issuer: Mutex<String>,
    /// The `iss` the tokens carry by default.
    token_issuer: Mutex<String>,
    iss_param_supported: Mutex<bool>,
    /// Extra bytes of padding in the discovery document.
    discovery_padding: Mutex<usize>,
    /// Answer discovery with a redirect to this URL.
    discovery_redirect: Mutex<Option<String>>,
    /// The token endpoint discovery names instead of this provider's own.
    token_endpoint: Mutex<Option<String>>,
    /// The `end_session_endpoint` discovery names (none by default).
    end_session: Mutex<Option<String>>,
    jwks: Mutex<Value>,
    plan: Mutex<Plan>,
    codes: Mutex<HashMap<String, Issued>>,
    access_tokens: Mutex<Vec<String>>,
    hits: Hits,
}

/// The running crafted provider.
#[derive(Clone)]
pub struct Forge {
    inner: Arc<Inner>,
    pub base: String,
}

impl Forge {
    pub async fn start() -> Forge {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let inner = Arc::new(Inner {
            base: base.clone(),
            doc_issuer: Mutex::new(base.clone()),
            token_issuer: Mutex::new(base.clone()),
            iss_param_supported: Mutex::new(false),
            discovery_padding: Mutex::new(0),
            discovery_redirect: Mutex::new(None),
            token_endpoint: Mutex::new(None),
            end_session: Mutex::new(None),
            jwks: Mutex::new(
                json!({"keys": [jwk("rsa-a", "key-a", "RS256"), jwk("ec-a", "key-ec", "ES256")]}),
            ),
            plan: Mutex::new(Plan::default()),
            codes: Mutex::new(HashMap::new()),
            access_tokens: Mutex::new(Vec::new()),
            hits: Hits::default(),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/{tenant}/v2.0/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .route("/graph/getMemberObjects", post(graph))
            .with_state(inner.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Forge { inner, base }
    }

    pub fn plan(&self, plan: Plan) {
        *self.inner.plan.lock().unwrap() = plan;
    }
    pub fn set_jwks(&self, jwks: Value) {
        *self.inner.jwks.lock().unwrap() = jwks;
    }
    /// Discovery states `doc` as issuer; tokens carry `token` by default.
    pub fn set_issuers(&self, doc: &str, token: &str) {
        *self.inner.doc_issuer.lock().unwrap() = doc.to_string();
        *self.inner.token_issuer.lock().unwrap() = token.to_string();
    }
    /// Pad the discovery document with `bytes` of junk.
    pub fn pad_discovery(&self, bytes: usize) {
        *self.inner.discovery_padding.lock().unwrap() = bytes;
    }
    /// Answer discovery with a 302 to `to`.
    pub fn redirect_discovery(&self, to: Option<&str>) {
        *self.inner.discovery_redirect.lock().unwrap() = to.map(String::from);
    }
    /// Name `url` as the token endpoint in discovery (e.g. a closed port).
    pub fn set_token_endpoint(&self, url: &str) {
        *self.inner.token_endpoint.lock().unwrap() = Some(url.to_string());
    }
    /// Name `url` as the end_session_endpoint (and announce back-channel logout).
    pub fn set_end_session(&self, url: Option<&str>) {
        *self.inner.end_session.lock().unwrap() = url.map(String::from);
    }
    pub fn announce_iss_param(&self) {
        *self.inner.iss_param_supported.lock().unwrap() = true;
    }
    pub fn hits(&self) -> &Hits {
        &self.inner.hits
    }
    pub fn jwks_hits(&self) -> usize {
        self.inner.hits.jwks.load(Ordering::SeqCst)
    }

    /// The connection settings for this provider, merged with `extra`.
    pub fn connection(&self, extra: Value) -> Value {
        let mut body = json!({
            "kind": "oidc",
            "name": "Forge",
            "issuer": self.base,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    }
}

fn merge(target: &mut Value, over: &Value) {
    for (k, v) in over.as_object().unwrap() {
        if v.is_null() {
            target.as_object_mut().unwrap().remove(k);
        } else {
            target[k] = v.clone();
        }
    }
}

/// Sign `header.claims` as the plan says.
pub fn sign(signer: &Signer, header: &Value, claims: &Value) -> String {
    let mut header = header.clone();
    let (alg, key) = match signer {
        Signer::Rsa(name) => {
            (Algorithm::RS256, Some(EncodingKey::from_rsa_der(&pem_der(&format!("{name}.key.pem")))))
        }
        Signer::Ec => (Algorithm::ES256, Some(EncodingKey::from_ec_der(&pem_der("ec-a.key.pem")))),
        Signer::Hmac(secret) => (Algorithm::HS256, Some(EncodingKey::from_secret(secret))),
        Signer::None => (Algorithm::HS256, None),
    };
    if header.get("alg").is_none() {
        header["alg"] = json!(if key.is_none() { "none".to_string() } else { format!("{alg:?}") });
    }
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = match key {
        Some(k) => jsonwebtoken::crypto::sign(input.as_bytes(), &k, alg).unwrap(),
        None => String::new(),
    };
    format!("{input}.{sig}")
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

async fn discovery(State(s): State<Arc<Inner>>) -> Response {
    s.hits.discovery.fetch_add(1, Ordering::SeqCst);
    if let Some(to) = s.discovery_redirect.lock().unwrap().clone() {
        return Redirect::temporary(&to).into_response();
    }
    let b = &s.base;
    let padding = "x".repeat(*s.discovery_padding.lock().unwrap());
    let mut doc = json!({
        "x_padding": padding,
        "issuer": *s.doc_issuer.lock().unwrap(),
        "authorization_endpoint": format!("{b}/authorize"),
        "token_endpoint": s.token_endpoint.lock().unwrap().clone().unwrap_or_else(|| format!("{b}/token")),
        "userinfo_endpoint": format!("{b}/userinfo"),
        "jwks_uri": format!("{b}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": *s.iss_param_supported.lock().unwrap(),
    });
    if let Some(end) = s.end_session.lock().unwrap().clone() {
        doc["end_session_endpoint"] = json!(end);
        doc["backchannel_logout_supported"] = json!(true);
        doc["backchannel_logout_session_supported"] = json!(true);
    }
    axum::Json(doc).into_response()
}

async fn jwks(State(s): State<Arc<Inner>>) -> Response {
    s.hits.jwks.fetch_add(1, Ordering::SeqCst);
    axum::Json(s.jwks.lock().unwrap().clone()).into_response()
}

async fn authorize(State(s): State<Arc<Inner>>, Query(q): Query<HashMap<String, String>>) -> Response {
    let plan = s.plan.lock().unwrap().clone();
    let redirect_uri = q.get("redirect_uri").cloned().unwrap_or_default();
    let state = q.get("state").cloned().unwrap_or_default();
    let mut back = url::Url::parse(&redirect_uri).unwrap();
    // PKCE S256 is required of idbridge.
    if q.get("code_challenge_method").map(String::as_str) != Some("S256")
        || q.get("response_type").map(String::as_str) != Some("code")
        || q.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || !q.get("scope").is_some_and(|s| s.split(' ').any(|x| x == "openid"))
    {
        back.query_pairs_mut().append_pair("error", "invalid_request").append_pair("state", &state);
        return Redirect::to(back.as_str()).into_response();
    }
    if let Some(error) = &plan.error {
        back.query_pairs_mut()
            .append_pair("error", error)
            .append_pair("error_description", "<b>crafted</b>")
            .append_pair("state", &state);
        return Redirect::to(back.as_str()).into_response();
    }
    let access_token = format!("at-{}", random());
    s.access_tokens.lock().unwrap().push(access_token.clone());
    let t = now();
    let mut claims = json!({
        "iss": *s.token_issuer.lock().unwrap(),
        "sub": SUB,
        "aud": CLIENT_ID,
        "iat": t,
        "exp": t + 300,
        "nonce": q.get("nonce").cloned().unwrap_or_default(),
        "email": "ann@example.com",
        "email_verified": true,
        "name": "Ann Example",
        "groups": ["Engineering"],
    });
    merge(&mut claims, &plan.claims);
    let mut header = json!({"typ": "JWT", "kid": "key-a"});
    if matches!(plan.signer, Signer::Ec) {
        header["kid"] = json!("key-ec");
    }
    merge(&mut header, &plan.header);
    let id_token = sign(&plan.signer, &header, &claims);
    let code = format!("code-{}", random());
    s.codes.lock().unwrap().insert(
        code.clone(),
        Issued {
            challenge: q.get("code_challenge").cloned().unwrap_or_default(),
            redirect_uri: redirect_uri.clone(),
            response: json!({"access_token": access_token, "token_type": "Bearer", "expires_in": 300, "id_token": id_token}),
        },
    );
    back.query_pairs_mut().append_pair("code", &code).append_pair("state", &state);
    if let Some(iss) = &plan.response_iss {
        back.query_pairs_mut().append_pair("iss", iss);
    }
    Redirect::to(back.as_str()).into_response()
}

fn random() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, axum::Json(json!({"error": error}))).into_response()
}

async fn token(
    State(s): State<Arc<Inner>>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    s.hits.token.fetch_add(1, Ordering::SeqCst);
    let expected = format!("Basic {}", STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}")));
    if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if f.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    // Codes are single use.
    let Some(issued) = f.get("code").and_then(|c| s.codes.lock().unwrap().remove(c)) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    let verifier = f.get("code_verifier").cloned().unwrap_or_default();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    if challenge != issued.challenge || f.get("redirect_uri") != Some(&issued.redirect_uri) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let planned = s.plan.lock().unwrap().token_response.clone();
    axum::Json(planned.unwrap_or(issued.response)).into_response()
}

fn bearer_ok(s: &Inner, headers: &HeaderMap) -> bool {
    let got = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    s.access_tokens.lock().unwrap().iter().any(|t| got == format!("Bearer {t}"))
}

async fn userinfo(State(s): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    s.hits.userinfo.fetch_add(1, Ordering::SeqCst);
    if !bearer_ok(&s, &headers) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_token");
    }
    let plan = s.plan.lock().unwrap().clone();
    axum::Json(plan.userinfo.unwrap_or_else(|| json!({"sub": SUB}))).into_response()
}

async fn graph(State(s): State<Arc<Inner>>, headers: HeaderMap, body: String) -> Response {
    s.hits.graph.fetch_add(1, Ordering::SeqCst);
    if !bearer_ok(&s, &headers) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_token");
    }
    let req: Value = serde_json::from_str(&body).unwrap_or_default();
    if req.get("securityEnabledOnly").is_none() {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    let plan = s.plan.lock().unwrap().clone();
    axum::Json(json!({"value": plan.graph_groups})).into_response()
}
