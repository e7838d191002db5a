//! `POST /saml/{id}/acs`: the Assertion Consumer Service (HTTP-POST binding,
//! IdP- and SP-initiated). The posted message is size-capped and guarded
//! before parsing, validated off the async runtime, then — in one store
//! transaction — its InResponseTo is matched to a request this connection
//! issued (single use) to the browser now posting it (binding.rs), and its
//! assertion ID is entered in the replay cache. Only then does
//! `session::login::complete` match or create the user.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use serde_json::json;

use super::connection::{self, Loaded};
use super::error::SamlError;
use super::validate::{self, Expectations, ValidAssertion};
use super::{attributes, keys, refuse, refuse_login, xml_guard};
use super::{authn_request, binding};
use crate::clock;
use crate::http::AppState;
use crate::http::login_pages as redirect;
use crate::session::login;
use crate::store::StoreError;
use crate::store::login_states::{self, LoginState};

/// Kind of login state that holds used assertion IDs (the replay cache).
pub const REPLAY_KIND: &str = "saml_assertion";
/// Largest form body read (the SAMLResponse plus a RelayState).
const MAX_FORM_BYTES: usize = xml_guard::MAX_ENCODED_BYTES + 8 * 1024;

/// The form fields of the HTTP-POST binding.
struct Posted {
    saml_response: String,
    relay_state: Option<String>,
}

fn parse_form(body: &[u8]) -> Result<Posted, SamlError> {
    if body.len() > MAX_FORM_BYTES {
        return Err(SamlError::TooLarge { len: body.len(), max: MAX_FORM_BYTES });
    }
    let mut saml_response = None;
    let mut relay_state = None;
    for (k, v) in url::form_urlencoded::parse(body) {
        match k.as_ref() {
            "SAMLResponse" if saml_response.is_none() => saml_response = Some(v.into_owned()),
            "SAMLResponse" => {
                return Err(SamlError::BadEncoding { detail: "two SAMLResponse fields".into() });
            }
            "RelayState" => relay_state = Some(v.into_owned()),
            _ => {}
        }
    }
    let saml_response =
        saml_response.ok_or(SamlError::BadEncoding { detail: "no SAMLResponse field".into() })?;
    Ok(Posted { saml_response, relay_state })
}

pub async fn saml_acs_post(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let conn = match connection::load(&state, &id).await {
        Ok(c) => c,
        Err(e) => return refuse(&state, &id, &e),
    };
    // A pending connection trusts no IdP yet: refused before anything is read or written.
    if let Err(e) = conn.idp() {
        return refuse(&state, &id, &e);
    }
    let (valid, return_to) = match consume(&state, &conn, &headers, &body).await {
        Ok(v) => v,
        Err(e) => return refuse(&state, &id, &e),
    };
    let facts = attributes::facts(&valid, &conn.cfg, &conn.org.id, &conn.row.id);
    let overage = facts.groups.is_none();
    if overage {
        record_overage(&state, &conn, &valid).await;
    }
    let completed = login::complete(&state.db, state.sessions.clone(), &state.public_url, facts).await;
    if overage {
        let user = completed.as_ref().map(|(_, u)| u.id.as_str()).unwrap_or("(login refused)");
        tracing::warn!(
            connection = %id, user, subject = %valid.name_id.escape_debug(), reason = "groups_overage",
            "the IdP sent a groups link instead of the groups (Entra groups overage): \
             the user's last known groups from this connection were kept"
        );
    }
    match completed {
        Ok((issued, user)) => {
            tracing::info!(connection = %id, user = %user.id, assertion = %valid.assertion_id, "SAML login");
            let login = &conn.cfg.login;
            let default = login.default_target(&state.public_url);
            let target = redirect::safe_target(
                &state.public_url,
                &login.allowed_origins,
                return_to.as_deref(),
                &default,
            );
            let mut resp = redirect::login_success(&state, &issued, &target);
            // The binding cookie of the answered request has served its purpose.
            if let Some(irt) = &valid.in_response_to {
                let acs_path = super::path_of(&conn.urls(&state.public_url).acs);
                let clear = binding::set_cookie(irt, "", &acs_path, 0);
                if let Ok(v) = HeaderValue::from_str(&clear) {
                    resp.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            resp
        }
        Err(e) => refuse_login(&state, &id, &e),
    }
}

/// An overage assertion (groups link, no groups): count it, flag the
/// connection and audit it. A failure to record is logged; the login goes on.
async fn record_overage(state: &AppState, conn: &Loaded, valid: &ValidAssertion) {
    state.metrics.groups_overage(&conn.row.id);
    let detail = json!({"subject": valid.name_id, "assertion": valid.assertion_id});
    if let Err(e) =
        crate::connections::record_groups_overage(&state.db, &conn.org.id, &conn.row.id, detail).await
    {
        tracing::error!(connection = %conn.row.id, error = %e, "recording a groups overage failed");
    }
}

/// Validate the posted message and record its use. Returns the assertion and
/// the requested return address (stored at SP-initiated login, else RelayState).
async fn consume(
    state: &AppState,
    conn: &Loaded,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(ValidAssertion, Option<String>), SamlError> {
    let posted = parse_form(body)?;
    let xml = xml_guard::decode_saml_response(&posted.saml_response)?;
    let urls = conn.urls(&state.public_url);
    let certs = conn.trusted_certs()?;
    let sp_keys = keys::open(&state.secret_box, &conn.row.id, conn.row.secret.as_deref())?;
    let (idp_entity_id, skew, allow_sha1) =
        (conn.idp()?.entity_id.clone(), conn.cfg.clock_skew_seconds, conn.cfg.allow_sha1);
    let valid = tokio::task::spawn_blocking(move || {
        let exp = Expectations {
            idp_entity_id: &idp_entity_id,
            trusted_certs: &certs,
            sp_entity_id: &urls.entity_id,
            acs_url: &urls.acs,
            clock_skew_secs: skew,
            allow_sha1,
            decryption_key: Some(&sp_keys.encryption),
            now: clock::now(),
        };
        validate::validate(&xml, &exp)
    })
    .await
    .map_err(|e| SamlError::Store(format!("validation task: {e}")))??;

    // SAML Profiles 4.1.4.3: an unsolicited response (no InResponseTo) is
    // accepted only when the connection allows IdP-initiated login.
    if valid.in_response_to.is_none() && !conn.cfg.allow_idp_initiated {
        return Err(SamlError::IdpInitiatedDisabled);
    }
    let (conn_id, v, headers) = (conn.row.id.clone(), valid.clone(), headers.clone());
    let stored_target = state
        .db
        .write(move |tx| -> Result<Option<String>, SamlError> {
            let now = clock::now_str();
            let mut target = None;
            if let Some(irt) = &v.in_response_to {
                // InResponseTo must name a live request of this connection, once.
                let req = login_states::take(tx, authn_request::STATE_KIND, irt, &now)?
                    .filter(|s| s.connection_id == conn_id)
                    .ok_or_else(|| SamlError::UnknownRequest { id: irt.chars().take(80).collect() })?;
                let data = serde_json::from_str::<serde_json::Value>(&req.data).unwrap_or_default();
                // ... and must be answered into the browser that started it.
                // A refusal rolls the take back: the request stays usable by
                // its own browser. A request stored without a binding is refused.
                let bound =
                    data["binding_sha256"].as_str().is_some_and(|h| binding::presented(&headers, irt, h));
                if !bound {
                    return Err(SamlError::BrowserMismatch { id: irt.chars().take(80).collect() });
                }
                target = data["return_to"].as_str().map(str::to_string);
            }
            // The replay cache: the assertion ID is kept until the assertion
            // could no longer be accepted anyway (NotOnOrAfter + skew).
            let entry = LoginState {
                kind: REPLAY_KIND.into(),
                key: format!("{conn_id}:{}", v.assertion_id),
                connection_id: conn_id.to_string(),
                data: json!({}).to_string(),
                created_at: now.clone(),
                expires_at: clock::format(v.replay_until),
            };
            match login_states::insert(tx, &entry, &now) {
                Ok(()) => {}
                Err(StoreError::Conflict { .. }) => {
                    return Err(SamlError::Replay { id: v.assertion_id.chars().take(80).collect() });
                }
                Err(e) => return Err(e.into()),
            }
            Ok(target)
        })
        .await?;
    let requested = if valid.in_response_to.is_some() { stored_target } else { posted.relay_state };
    Ok((valid, requested))
}
