//! `POST /saml/{id}/acs`: the Assertion Consumer Service (HTTP-POST binding,
//! IdP- and SP-initiated). The posted message is size-capped and guarded
//! before parsing, validated off the async runtime, then — in one store
//! transaction — its InResponseTo is matched to a request this connection
//! issued (single use) to the browser now posting it (binding.rs), and its
//! assertion ID is entered in the replay cache. Only then does
//! `session::login::complete` match or create the user. The handler (the
//! request read into plain data, the outcome made a response) is in routes.rs.

use serde_json::json;

use super::binding::Cookies;
use super::connection::{self, Loaded};
use super::error::SamlError;
use super::validate::{self, Expectations, ValidAssertion};
use super::{Service, attributes, keys, xml_guard};
use super::{authn_request, binding};
use crate::clock;
use crate::directory::User;
use crate::session::login::{self, LoginRefused};
use crate::session::redirect::safe_target;
use crate::session::{Issued, SharedSessions};
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

/// A completed login: the session to set, where to send the browser, and the
/// Set-Cookie that clears the binding cookie of the answered request.
pub struct Completed {
    pub issued: Issued,
    pub user: User,
    pub target: String,
    /// Present when the response answered an SP-initiated request.
    pub clear_binding_cookie: Option<String>,
}

/// Why the ACS refused: the message, or the login it carried.
#[derive(Debug)]
pub enum Refused {
    Saml(SamlError),
    Login(LoginRefused),
}

impl From<SamlError> for Refused {
    fn from(e: SamlError) -> Self {
        Refused::Saml(e)
    }
}

/// Consume the message `body` posted to connection `id` by a browser with
/// `cookies`, and complete the login it carries.
pub async fn login(
    svc: &Service,
    sessions: SharedSessions,
    id: &str,
    cookies: Cookies,
    body: &[u8],
) -> Result<Completed, Refused> {
    let conn = connection::load(svc, id).await?;
    // A pending connection trusts no IdP yet: refused before anything is read or written.
    conn.idp()?;
    let (valid, return_to) = consume(svc, &conn, cookies, body).await?;
    let facts = attributes::facts(&valid, &conn.cfg, &conn.org.id, &conn.row.id);
    let overage = facts.groups.is_none();
    if overage {
        record_overage(svc, &conn, &valid).await;
    }
    let completed = login::complete(&svc.db, sessions, &svc.public_url, facts).await;
    if overage {
        let user = completed.as_ref().map(|(_, u)| u.id.as_str()).unwrap_or("(login refused)");
        tracing::warn!(
            connection = %id, user, subject = %valid.name_id.escape_debug(), reason = "groups_overage",
            "the IdP sent a groups link instead of the groups (Entra groups overage): \
             the user's last known groups from this connection were kept"
        );
    }
    let (issued, user) = completed.map_err(Refused::Login)?;
    tracing::info!(connection = %id, user = %user.id, assertion = %valid.assertion_id, "SAML login");
    let login = &conn.cfg.login;
    let default = login.default_target(&svc.public_url);
    let target = safe_target(&svc.public_url, &login.allowed_origins, return_to.as_deref(), &default);
    // The binding cookie of the answered request has served its purpose.
    let clear_binding_cookie = valid.in_response_to.as_ref().map(|irt| {
        let acs_path = super::login::path_of(&conn.urls(&svc.public_url).acs);
        binding::set_cookie(irt, "", &acs_path, 0)
    });
    Ok(Completed { issued, user, target, clear_binding_cookie })
}

/// An overage assertion (groups link, no groups): count it, flag the
/// connection and audit it. A failure to record is logged; the login goes on.
async fn record_overage(state: &Service, conn: &Loaded, valid: &ValidAssertion) {
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
    state: &Service,
    conn: &Loaded,
    cookies: Cookies,
    body: &[u8],
) -> Result<(ValidAssertion, Option<String>), SamlError> {
    let posted = parse_form(body)?;
    let xml = xml_guard::decode_saml_response(&posted.saml_response)?;
    let urls = conn.urls(&state.public_url);
    let certs = conn.trusted_certs()?;
    let sp_keys = keys::open(&state.secrets, &conn.row.id, conn.row.secret.as_deref())?;
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
    let (conn_id, v) = (conn.row.id.clone(), valid.clone());
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
                    data["binding_sha256"].as_str().is_some_and(|h| binding::presented(&cookies, irt, h));
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
