//! `GET|POST /saml/{id}/slo`: SAML Single Logout (Profiles 4.4), HTTP-Redirect
//! and HTTP-POST bindings. An IdP's LogoutRequest, signed by a certificate of
//! this connection, ends the sessions of its NameID (only those of its
//! SessionIndex values when given) on this connection only, and is answered
//! with a signed LogoutResponse by the same binding. An IdP's LogoutResponse
//! answers a LogoutRequest idbridge sent from `POST /v1/logout`
//! (slo_out.rs). In one store transaction: the message ID enters the replay
//! cache, the revocation happens, and the audit event is written; a refusal
//! changes nothing. What is answered is a `SloAnswer`; its pages and the
//! refusal page are the edge's part (routes.rs, slo_pages.rs).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use super::connection::{self, Loaded};
use super::error::SamlError;
use super::idp_metadata::{BINDING_POST, BINDING_REDIRECT};
use super::logout::{self, Binding, Expectations, ValidLogoutRequest, ValidLogoutResponse};
use super::redirect_binding::{self, Param};
use super::{Service, authn_request, keys, xml_guard};
use crate::audit::{self, AuditAction};
use crate::clock;
use crate::store::login_states::{self, LoginState};
use crate::store::{StoreError, sessions};

/// Kind of login state holding the IDs of logout messages received (replay cache).
pub const SEEN_KIND: &str = "saml_logout_seen";
/// Kind of login state holding the IDs of LogoutRequests idbridge sent.
pub const SENT_KIND: &str = "saml_logout_sent";
/// Largest form body read.
const MAX_FORM_BYTES: usize = xml_guard::MAX_ENCODED_BYTES + 8 * 1024;
/// Longest RelayState echoed back (SAML Bindings 3.4.3 caps it at 80 bytes; some IdPs send more).
const MAX_RELAY_STATE: usize = 1024;

/// A received logout message, decoded and (Redirect) signature-checked.
struct Received {
    param: Param,
    xml: String,
    relay_state: Option<String>,
    binding: Binding,
}

/// What the endpoint answers a valid logout message with.
#[derive(Debug)]
pub enum SloAnswer {
    /// The "signed out" page; `idp_confirmed` is false when the IdP's
    /// LogoutResponse was not a Success.
    SignedOut { idp_confirmed: bool },
    /// The signed LogoutResponse by HTTP-Redirect: a 303 to `location`.
    Redirect { location: String },
    /// The signed LogoutResponse by HTTP-POST: a form posting `field` to `action`.
    PostForm { action: String, field: &'static str, value: String, relay_state: Option<String> },
}

/// A logout message by HTTP-Redirect (`query`: the raw query string) to connection `id`.
pub async fn receive_redirect(svc: &Service, id: &str, query: Option<&str>) -> Result<SloAnswer, SamlError> {
    let conn = load(svc, id).await?;
    let r = redirect_binding::parse(query.unwrap_or_default())?;
    let xml = r.verify_and_decode(&conn.trusted_certs()?, conn.cfg.allow_sha1)?;
    let received =
        Received { param: r.param, xml, relay_state: r.relay_state, binding: Binding::RedirectVerified };
    handle(svc, &conn, &received).await
}

/// A logout message by HTTP-POST (`body`: the form) to connection `id`.
pub async fn receive_post(svc: &Service, id: &str, body: &[u8]) -> Result<SloAnswer, SamlError> {
    let conn = load(svc, id).await?;
    let received = parse_form(body)?;
    handle(svc, &conn, &received).await
}

async fn load(state: &Service, id: &str) -> Result<Loaded, SamlError> {
    let conn = connection::load(state, id).await?;
    // A pending connection trusts no IdP: nothing is read.
    conn.idp()?;
    Ok(conn)
}

fn parse_form(body: &[u8]) -> Result<Received, SamlError> {
    if body.len() > MAX_FORM_BYTES {
        return Err(SamlError::TooLarge { len: body.len(), max: MAX_FORM_BYTES });
    }
    let (mut msg, mut relay_state) = (None, None);
    for (k, v) in url::form_urlencoded::parse(body) {
        let param = match k.as_ref() {
            "SAMLRequest" => Param::Request,
            "SAMLResponse" => Param::Response,
            "RelayState" => {
                relay_state = Some(v.into_owned());
                continue;
            }
            _ => continue,
        };
        if msg.is_some() {
            return Err(SamlError::BadEncoding { detail: "two SAML message fields".into() });
        }
        msg = Some((param, v.into_owned()));
    }
    let (param, b64) =
        msg.ok_or(SamlError::BadEncoding { detail: "no SAMLRequest or SAMLResponse".into() })?;
    Ok(Received { param, xml: xml_guard::decode_saml_response(&b64)?, relay_state, binding: Binding::Post })
}

async fn handle(state: &Service, conn: &Loaded, r: &Received) -> Result<SloAnswer, SamlError> {
    match r.param {
        Param::Request => idp_logout(state, conn, r).await,
        Param::Response => logout_answered(state, conn, r).await,
    }
}

/// Validate off the async runtime (xmlsec).
async fn validated<T: Send + 'static>(
    conn: &Loaded,
    state: &Service,
    r: &Received,
    f: fn(&str, &Expectations<'_>, Binding) -> Result<T, SamlError>,
) -> Result<T, SamlError> {
    let certs = conn.trusted_certs()?;
    let idp_entity_id = conn.idp()?.entity_id.clone();
    let slo_url = conn.urls(&state.public_url).slo;
    let (skew, allow_sha1, xml, binding) =
        (conn.cfg.clock_skew_seconds, conn.cfg.allow_sha1, r.xml.clone(), r.binding);
    tokio::task::spawn_blocking(move || {
        let exp = Expectations {
            idp_entity_id: &idp_entity_id,
            trusted_certs: &certs,
            slo_url: &slo_url,
            clock_skew_secs: skew,
            allow_sha1,
            now: clock::now(),
        };
        f(&xml, &exp, binding)
    })
    .await
    .map_err(|e| SamlError::Store(format!("validation task: {e}")))?
}

/// Enter a received message ID in the replay cache (per connection).
fn remember(
    tx: &crate::store::Tx<'_>,
    conn_id: &str,
    id: &str,
    until: time::OffsetDateTime,
) -> Result<(), SamlError> {
    let now = clock::now_str();
    let entry = LoginState {
        kind: SEEN_KIND.into(),
        key: format!("{conn_id}:{id}"),
        connection_id: conn_id.into(),
        data: "{}".into(),
        created_at: now.clone(),
        expires_at: clock::format(until),
    };
    match login_states::insert(tx, &entry, &now) {
        Ok(()) => Ok(()),
        Err(StoreError::Conflict { .. }) => {
            Err(SamlError::MessageReplay { id: id.chars().take(80).collect() })
        }
        Err(e) => Err(e.into()),
    }
}

/// IdP-initiated Single Logout (Profiles 4.4.4.1): end the named sessions.
async fn idp_logout(state: &Service, conn: &Loaded, r: &Received) -> Result<SloAnswer, SamlError> {
    let v: ValidLogoutRequest = validated(conn, state, r, logout::validate_request).await?;
    let (conn_id, org_id, req) = (conn.row.id.clone(), conn.org.id.clone(), v.clone());
    let users = state
        .db
        .write(move |tx| -> Result<Vec<String>, SamlError> {
            remember(tx, &conn_id, &req.id, req.replay_until)?;
            let now = clock::now_str();
            let mut users = Vec::new();
            // Only this connection's sessions: a NameID of another connection
            // (another org's included) matches nothing here.
            if req.session_indexes.is_empty() {
                users = sessions::revoke_by_idp_subject(tx, &conn_id, &req.name_id, None, "saml_slo", &now)?;
            } else {
                for index in &req.session_indexes {
                    users.extend(sessions::revoke_by_idp_subject(
                        tx,
                        &conn_id,
                        &req.name_id,
                        Some(index),
                        "saml_slo",
                        &now,
                    )?);
                }
                users.sort();
                users.dedup();
            }
            crate::events::emit::sessions_revoked(tx, &org_id, &users, "idp_logout")?;
            crate::store::audit::append(
                tx,
                &now,
                audit::Event {
                    org_id: Some(&org_id),
                    actor: &format!("sso:{conn_id}"),
                    action: AuditAction::SessionIdpLogout,
                    target: &format!("connection:{conn_id}"),
                    detail: json!({"connection_id": conn_id, "reason": "saml_slo", "request_id": req.id,
                        "name_id": req.name_id, "session_indexes": req.session_indexes,
                        "users": users, "count": users.len()}),
                },
            )?;
            Ok(users)
        })
        .await?;
    if users.is_empty() {
        // Still answered with Success (Profiles 4.4.4.2: the principal has no
        // session here), but logged: it may be a NameID of another connection.
        tracing::warn!(connection = %conn.row.id, reason = "no_session", request = %v.id.escape_debug(),
            subject = %v.name_id.escape_debug(), "SAML LogoutRequest named no live session of this connection");
        state.metrics.refusal("saml_slo", "no_session");
    } else {
        tracing::info!(connection = %conn.row.id, users = users.len(), request = %v.id.escape_debug(),
            reason = "saml_slo", "SAML Single Logout ended sessions");
    }
    answer(state, conn, &v.id, r.binding, r.relay_state.as_deref().filter(|s| s.len() <= MAX_RELAY_STATE))
        .await
}

/// The IdP's answer to a LogoutRequest idbridge sent (Profiles 4.4.4.2).
async fn logout_answered(state: &Service, conn: &Loaded, r: &Received) -> Result<SloAnswer, SamlError> {
    let v: ValidLogoutResponse = validated(conn, state, r, logout::validate_response).await?;
    let (conn_id, org_id, resp) = (conn.row.id.clone(), conn.org.id.clone(), v.clone());
    state
        .db
        .write(move |tx| -> Result<(), SamlError> {
            let now = clock::now_str();
            // InResponseTo must name a live LogoutRequest of this connection, once.
            login_states::take(tx, SENT_KIND, &resp.in_response_to, &now)?
                .filter(|s| s.connection_id == conn_id)
                .ok_or_else(|| SamlError::UnknownLogoutRequest { id: resp.in_response_to.chars().take(80).collect() })?;
            remember(tx, &conn_id, &resp.id, resp.replay_until)?;
            crate::store::audit::append(
                tx,
                &now,
                audit::Event {
                    org_id: Some(&org_id),
                    actor: &format!("sso:{conn_id}"),
                    action: AuditAction::SessionSloResponse,
                    target: &format!("connection:{conn_id}"),
                    detail: json!({"connection_id": conn_id, "reason": "saml_slo", "in_response_to": resp.in_response_to,
                        "status": resp.status}),
                },
            )?;
            Ok(())
        })
        .await?;
    let success = v.status == logout::STATUS_SUCCESS;
    if !success {
        tracing::warn!(connection = %conn.row.id, status = %v.status.escape_debug(), reason = "status_not_success",
            "the IdP did not confirm the Single Logout; its own session may still be open");
    }
    Ok(SloAnswer::SignedOut { idp_confirmed: success })
}

/// Answer the IdP's LogoutRequest `in_response_to` with a signed
/// LogoutResponse (SAML Profiles 4.4.4.2) by the binding it came with, else
/// the other binding the IdP's metadata has, else a signed-out page.
async fn answer(
    state: &Service,
    conn: &Loaded,
    in_response_to: &str,
    came_by: Binding,
    relay_state: Option<&str>,
) -> Result<SloAnswer, SamlError> {
    let idp = conn.idp()?;
    let (first, second) = match came_by {
        Binding::RedirectVerified => (BINDING_REDIRECT, BINDING_POST),
        Binding::Post => (BINDING_POST, BINDING_REDIRECT),
    };
    let Some(service) = idp.slo_for(first).or_else(|| idp.slo_for(second)) else {
        return Ok(SloAnswer::SignedOut { idp_confirmed: true });
    };
    let destination = service.response_url().to_string();
    let sp_keys = keys::open(&state.secrets, &conn.row.id, conn.row.secret.as_deref())?;
    let sp_entity_id = conn.urls(&state.public_url).entity_id;
    let id = authn_request::new_request_id();
    let now = clock::now();
    if service.binding == BINDING_REDIRECT {
        let xml = logout::response_xml(&id, &destination, &sp_entity_id, in_response_to, now, false);
        let location =
            redirect_binding::signed_url(&destination, Param::Response, &xml, relay_state, &sp_keys.signing)?;
        return Ok(SloAnswer::Redirect { location });
    }
    let xml = logout::response_xml(&id, &destination, &sp_entity_id, in_response_to, now, true);
    let key = sp_keys.signing;
    let signed = tokio::task::spawn_blocking(move || logout::sign_enveloped(&xml, &key))
        .await
        .map_err(|e| SamlError::Store(format!("signing task: {e}")))??;
    Ok(SloAnswer::PostForm {
        action: destination,
        field: "SAMLResponse",
        value: STANDARD.encode(signed),
        relay_state: relay_state.map(str::to_string),
    })
}
