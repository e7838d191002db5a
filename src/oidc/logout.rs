//! OpenID Connect RP-Initiated Logout 1.0: when `/v1/logout` ends a session
//! made through an OIDC connection whose provider announces an
//! `end_session_endpoint`, the browser is sent there so the provider's own
//! session ends too, with `id_token_hint`, `client_id`, a
//! `post_logout_redirect_uri` on the allow-list and a `state`.
//!
//! The ID token for `id_token_hint` is kept with the session only sealed
//! (`SecretBox`, context `oidc-id-token-hint:{connection_id}`): the store never
//! holds a readable ID token, and a sealed one moved to another connection's
//! session does not open.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::load;
use crate::audit::{self, AuditAction};
use crate::clock;
use crate::http::AppState;
use crate::session::redirect;
use crate::store::sessions::SessionRow;

/// Member of `IdpSession.data` holding the sealed ID token.
pub const SEALED_ID_TOKEN: &str = "id_token_sealed";

fn context(connection_id: &str) -> String {
    format!("oidc-id-token-hint:{connection_id}")
}

/// Keep the raw ID token of a login, sealed, in the session's IdP data.
pub(crate) fn keep_id_token(
    state: &AppState,
    connection_id: &str,
    id_token: &str,
    data: &mut Map<String, Value>,
) {
    let sealed = state.secret_box.seal(&context(connection_id), id_token.as_bytes());
    data.insert(SEALED_ID_TOKEN.into(), Value::String(URL_SAFE_NO_PAD.encode(sealed)));
}

/// The ID token kept with a session, if it opens.
fn kept_id_token(state: &AppState, connection_id: &str, data: &str) -> Option<String> {
    let data: Map<String, Value> = serde_json::from_str(data).ok()?;
    let sealed = URL_SAFE_NO_PAD.decode(data.get(SEALED_ID_TOKEN)?.as_str()?).ok()?;
    match state.secret_box.open(&context(connection_id), &sealed) {
        Ok(plain) => String::from_utf8(plain).ok(),
        Err(e) => {
            tracing::warn!(connection = connection_id, error = %e, "kept ID token does not open; logout without id_token_hint");
            None
        }
    }
}

/// Where to send the browser after idbridge ended `session` (made through
/// OIDC connection `connection_id`): the provider's `end_session_endpoint`
/// with the logout parameters, or `None` when the provider has none (or
/// cannot be reached: the local logout stands either way). The redirect is
/// audited (`session.logout`, reason `oidc_rp_initiated`).
pub async fn end_session_url(state: &AppState, connection_id: &str, session: &SessionRow) -> Option<String> {
    let conn = match load(state, connection_id).await {
        Ok(c) => c,
        Err(e) => {
            tracing::info!(connection = connection_id, reason = e.reason(), "no RP-initiated logout");
            return None;
        }
    };
    let provider = match conn.provider(state).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(connection = connection_id, error = %e, "provider unavailable: logout stays local");
            return None;
        }
    };
    let mut url = url::Url::parse(provider.end_session_endpoint.as_deref()?).ok()?;
    // RP-Initiated Logout §2: "id_token_hint RECOMMENDED. ID Token previously
    // issued by the OP to the RP passed to the Logout Endpoint as a hint about
    // the End-User's current authenticated session with the Client."
    let hint = kept_id_token(state, connection_id, &session.idp.data);
    // §3: "post_logout_redirect_uri ... MUST have been previously registered
    // with the OP"; idbridge also keeps it on its own allow-list (checked
    // again here, in case the allowed origins changed since).
    let back = conn.cfg.post_logout_redirect_uri.as_deref().or(conn.cfg.login.default_return_to.as_deref());
    let back = back
        .map(|b| redirect::safe_target(&state.public_url, &conn.cfg.login.allowed_origins, Some(b), ""))
        .filter(|b| !b.is_empty());
    {
        let mut q = url.query_pairs_mut();
        if let Some(h) = &hint {
            q.append_pair("id_token_hint", h);
        }
        // §2: "client_id OPTIONAL ... the client_id value MUST be the Client
        // Identifier of the RP". Sent always: it also serves providers that
        // need it without a hint.
        q.append_pair("client_id", &conn.cfg.client_id);
        if let Some(b) = &back {
            q.append_pair("post_logout_redirect_uri", b);
            // §2: "state OPTIONAL. Opaque value used by the RP to maintain
            // state between the logout request and the callback".
            q.append_pair("state", &crate::secrets::random_hex(16));
        }
    }
    let (org_id, user_id, jti) = (session.org_id.clone(), session.user_id.clone(), session.jti.clone());
    let detail = json!({
        "connection": connection_id,
        "reason": "oidc_rp_initiated",
        "jti": jti,
        "end_session_endpoint": provider.end_session_endpoint,
        "id_token_hint": hint.is_some(),
    });
    let written = state
        .db
        .write(move |tx| {
            crate::store::audit::append(
                tx,
                &clock::now_str(),
                audit::Event {
                    org_id: Some(&org_id),
                    actor: &format!("user:{user_id}"),
                    action: AuditAction::SessionLogout,
                    target: &format!("user:{user_id}"),
                    detail,
                },
            )
        })
        .await;
    if let Err(e) = written {
        tracing::error!(connection = connection_id, error = %e, "audit of RP-initiated logout failed");
    }
    tracing::info!(connection = connection_id, hint = hint.is_some(), "OIDC RP-initiated logout");
    Some(url.to_string())
}
