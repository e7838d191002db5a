//! SP-initiated login (`GET /saml/{id}/login`): store a fresh request ID with
//! the vetted return address and the hash of a browser-binding cookie
//! (binding.rs), and give the IdP URL carrying the signed AuthnRequest
//! (HTTP-Redirect) with that cookie. The 303 itself is the edge's part
//! (routes.rs).

use serde_json::json;

use super::error::SamlError;
use super::{Service, authn_request, binding, connection, keys};
use crate::clock;
use crate::session::redirect::safe_target;
use crate::store::login_states::{self, LoginState};

/// Where to send the browser, and the cookie that binds the request to it.
pub struct LoginStart {
    /// The IdP URL carrying the signed AuthnRequest.
    pub url: String,
    /// The Set-Cookie value of the binding cookie.
    pub set_cookie: String,
}

/// Start an SP-initiated login through connection `id`, returning to
/// `relay_state` when it is an allowed address.
pub async fn start(svc: &Service, id: &str, relay_state: Option<&str>) -> Result<LoginStart, SamlError> {
    let conn = connection::load(svc, id).await?;
    let sso = conn.idp()?.sso_url.clone().ok_or(SamlError::Misconfigured {
        detail:
            "the IdP metadata has no HTTP-Redirect SingleSignOnService; SP-initiated login is unavailable"
                .into(),
    })?;
    let login = &conn.cfg.login;
    let default = login.default_target(&svc.public_url);
    let target = safe_target(&svc.public_url, &login.allowed_origins, relay_state, &default);
    let request_id = authn_request::new_request_id();
    let cookie_value = binding::new_value();
    let now = clock::now();
    let entry = LoginState {
        kind: authn_request::STATE_KIND.into(),
        key: request_id.clone(),
        connection_id: conn.row.id.to_string(),
        // Only the hash of the binding cookie is stored.
        data: json!({"return_to": target, "binding_sha256": binding::sha256_hex(cookie_value.expose())})
            .to_string(),
        created_at: clock::format(now),
        expires_at: clock::format(now + time::Duration::seconds(authn_request::REQUEST_TTL_SECS)),
    };
    svc.db
        .write(move |tx| -> Result<(), SamlError> {
            login_states::purge_expired(tx, &clock::now_str())?;
            login_states::insert(tx, &entry, &clock::now_str())?;
            Ok(())
        })
        .await?;
    let keys = keys::open(&svc.secrets, &conn.row.id, conn.row.secret.as_deref())?;
    let urls = conn.urls(&svc.public_url);
    let req = authn_request::Request {
        id: &request_id,
        destination: &sso,
        sp_entity_id: &urls.entity_id,
        acs_url: &urls.acs,
        now,
    };
    let url = authn_request::redirect_url(&req, &request_id, &keys.signing)?;
    let set_cookie = binding::set_cookie(
        &request_id,
        cookie_value.expose(),
        &path_of(&urls.acs),
        authn_request::REQUEST_TTL_SECS,
    );
    Ok(LoginStart { url, set_cookie })
}

/// The path of an absolute URL (the ACS, for the binding cookie's Path: it
/// includes a path prefix of the public URL).
pub(crate) fn path_of(url: &str) -> String {
    url::Url::parse(url).map(|u| u.path().to_string()).unwrap_or_else(|_| "/".into())
}
