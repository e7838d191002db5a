//! SP-initiated Single Logout (SAML Profiles 4.4.3): after `POST /v1/logout`
//! has ended a SAML session, the browser is sent to the IdP's HTTP-Redirect
//! SingleLogoutService with a signed LogoutRequest naming the session's
//! NameID (with the Format and qualifiers the IdP gave at login) and
//! SessionIndex. Its ID is stored single-use with a TTL (login_states, kind
//! `saml_logout_sent`) so that `/saml/{id}/slo` accepts the IdP's
//! LogoutResponse only as an answer to it; the audit event is written in the
//! same transaction.

use serde_json::{Value, json};

use super::error::SamlError;
use super::idp_metadata::BINDING_REDIRECT;
use super::logout::{self, NameId};
use super::redirect_binding::{self, Param};
use super::slo::SENT_KIND;
use super::{authn_request, connection, keys};
use crate::audit::{self, AuditAction};
use crate::clock;
use crate::http::AppState;
use crate::store::login_states::{self, LoginState};
use crate::store::sessions::SessionRow;

/// How long the IdP may take to answer: as long as a login request.
const SENT_TTL_SECS: i64 = authn_request::REQUEST_TTL_SECS;

/// The IdP URL carrying a signed LogoutRequest for the (already revoked)
/// SAML session `row`; `None` when the IdP metadata has no HTTP-Redirect
/// SingleLogoutService or the session recorded no NameID.
pub async fn logout_url(state: &AppState, row: &SessionRow) -> Result<Option<String>, SamlError> {
    let Some(conn_id) = row.connection_id.as_deref() else { return Ok(None) };
    let conn = connection::load(state, conn_id).await?;
    let Some(service) = conn.idp()?.slo_for(BINDING_REDIRECT).cloned() else { return Ok(None) };
    let Some(subject) = row.idp.subject.clone() else { return Ok(None) };
    // The org of the session must be the connection's: nothing crosses orgs.
    if conn.org.id != row.org_id {
        return Ok(None);
    }
    let data: Value = serde_json::from_str(&row.idp.data).unwrap_or_default();
    let field = |k: &str| data.get(k).and_then(Value::as_str);
    let request_id = authn_request::new_request_id();
    let urls = conn.urls(&state.public_url);
    let xml = logout::request_xml(
        &request_id,
        &service.location,
        &urls.entity_id,
        &NameId {
            value: &subject,
            format: field("name_id_format"),
            name_qualifier: field("name_qualifier"),
            sp_name_qualifier: field("sp_name_qualifier"),
        },
        row.idp.session_index.as_deref(),
        clock::now(),
    );
    let sp_keys = keys::open(&state.secret_box, &conn.row.id, conn.row.secret.as_deref())?;
    let url = redirect_binding::signed_url(&service.location, Param::Request, &xml, None, &sp_keys.signing)?;
    let now = clock::now();
    let entry = LoginState {
        kind: SENT_KIND.into(),
        key: request_id.clone(),
        connection_id: conn.row.id.to_string(),
        data: json!({"jti": row.jti}).to_string(),
        created_at: clock::format(now),
        expires_at: clock::format(now + time::Duration::seconds(SENT_TTL_SECS)),
    };
    let (org_id, conn_id, user_id, jti) =
        (conn.org.id.clone(), conn.row.id.clone(), row.user_id.clone(), row.jti.clone());
    state
        .db
        .write(move |tx| -> Result<(), SamlError> {
            let now = clock::now_str();
            login_states::purge_expired(tx, &now)?;
            login_states::insert(tx, &entry, &now)?;
            crate::store::audit::append(
                tx,
                &now,
                audit::Event {
                    org_id: Some(&org_id),
                    actor: &format!("user:{user_id}"),
                    action: AuditAction::SessionSloRequest,
                    target: &format!("user:{user_id}"),
                    detail: json!({"connection_id": conn_id, "reason": "saml_slo", "jti": jti,
                        "request_id": entry.key}),
                },
            )?;
            Ok(())
        })
        .await?;
    Ok(Some(url))
}
