//! Why an OIDC login did not complete, with the evidence for the log, the
//! precise reason code for the log and metrics, and the short text of the
//! page the browser sees (which never shows the evidence). The status of
//! that page and the page itself are the edge's (`routes.rs`).

use super::discovery::DiscoveryError;
use super::verify::IdTokenError;
use crate::error::Error;
use crate::outbound::fetch::FetchError;
use crate::session::login::LoginRefused;

/// A failed or refused OIDC login.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// No OIDC connection with this id.
    #[error("no OIDC connection {id:?}")]
    UnknownConnection { id: String },
    /// The connection has no issuer, client id or secret yet: set-up is unfinished.
    #[error("connection {id:?} is pending: issuer, client id and client secret are not all set yet")]
    Pending { id: String },
    /// The provider's metadata or keys could not be had.
    #[error("discovery: {0}")]
    Discovery(#[from] DiscoveryError),
    /// The provider answered the authorization request with an error.
    #[error("the provider returned error={error:?} ({description:?})")]
    Provider { error: String, description: String },
    /// A required callback parameter is absent.
    #[error("the callback has no {name} parameter")]
    MissingParameter { name: &'static str },
    /// A parameter appears more than once.
    #[error("parameter {name:?} appears more than once")]
    DuplicateParameter { name: String },
    /// The state is unknown, expired or already used (replay).
    #[error("unknown, expired or already used state")]
    UnknownState,
    /// The state was issued for another connection.
    #[error("state issued for connection {issued_for:?}, used on {used_on:?}")]
    StateOtherConnection { issued_for: String, used_on: String },
    /// The browser finishing the login is not the one that started it
    /// (login CSRF: an attacker's callback URL sent to a victim).
    #[error("the state's browser-binding cookie is missing or wrong")]
    NotSameBrowser,
    /// RFC 9207: the authorization response names another issuer (mix-up).
    #[error("authorization response iss {got:?}, expected {expected:?}")]
    ResponseIssuer { expected: String, got: Option<String> },
    /// The token endpoint refused the code (invalid_grant: used, expired, wrong verifier).
    #[error("token endpoint refused the code: {error} ({description:?})")]
    TokenRefused { error: String, description: String },
    /// The token endpoint could not be used.
    #[error("token endpoint: {message}")]
    TokenEndpoint { message: String },
    /// The token response has no ID token.
    #[error("the token response has no id_token")]
    MissingIdToken,
    /// The provider answered the code exchange, but not with a token
    /// response idbridge can accept (RFC 6749 5.1; no ID token fault found).
    #[error("the token response is not acceptable: {message}")]
    TokenResponseInvalid { message: String },
    /// The ID token failed a check.
    #[error("ID token: {0}")]
    IdToken(#[from] IdTokenError),
    /// The userinfo endpoint failed.
    #[error("userinfo: {0}")]
    Userinfo(FetchError),
    /// OIDC Core 5.3.4: the userinfo `sub` must be the ID token's.
    #[error("userinfo sub {userinfo:?} differs from the ID token's {id_token:?}")]
    UserinfoSubject { id_token: String, userinfo: String },
    /// Entra's groups overage, and no Graph endpoint is configured.
    #[error("groups overage (_claim_names.{claim}) and no graph_groups_url configured")]
    GroupsOverage { claim: String },
    /// The Graph call for overage groups failed.
    #[error("graph: {0}")]
    Graph(FetchError),
    /// The Graph answer is not a list of group ids.
    #[error("graph: unexpected answer: {message}")]
    GraphAnswer { message: String },
    /// Matching is by email and the provider says the address is unverified.
    #[error("email {email:?} has email_verified=false and the connection matches by email")]
    EmailNotVerified { email: String },
    /// login::complete refused (no user, inactive, not a member, ...).
    #[error(transparent)]
    Login(#[from] LoginRefused),
    /// idbridge itself failed (store, HTTP client).
    #[error("internal: {0}")]
    Internal(String),
}

impl From<Error> for LoginError {
    fn from(e: Error) -> Self {
        LoginError::Internal(e.to_string())
    }
}

impl LoginError {
    /// The precise reason code, logged and counted.
    pub fn reason(&self) -> &'static str {
        match self {
            LoginError::UnknownConnection { .. } => "unknown_connection",
            LoginError::Pending { .. } => "connection_pending",
            LoginError::Discovery(_) => "discovery_failed",
            LoginError::Provider { error, .. } if error == "access_denied" => "provider_denied",
            LoginError::Provider { .. } => "provider_error",
            LoginError::MissingParameter { name: "state" } => "missing_state",
            LoginError::MissingParameter { name: "code" } => "missing_code",
            LoginError::MissingParameter { .. } => "missing_parameter",
            LoginError::DuplicateParameter { .. } => "duplicate_parameter",
            LoginError::UnknownState => "unknown_state",
            LoginError::StateOtherConnection { .. } => "state_connection_mismatch",
            LoginError::NotSameBrowser => "state_not_bound",
            LoginError::ResponseIssuer { .. } => "response_issuer_mismatch",
            LoginError::TokenRefused { .. } => "token_exchange_refused",
            LoginError::TokenEndpoint { .. } => "token_endpoint_failed",
            LoginError::MissingIdToken => "missing_id_token",
            LoginError::TokenResponseInvalid { .. } => "token_response_invalid",
            LoginError::IdToken(e) => e.reason(),
            LoginError::Userinfo(_) => "userinfo_failed",
            LoginError::UserinfoSubject { .. } => "userinfo_subject_mismatch",
            LoginError::GroupsOverage { .. } => "groups_overage_unresolved",
            LoginError::Graph(_) | LoginError::GraphAnswer { .. } => "graph_failed",
            LoginError::EmailNotVerified { .. } => "email_not_verified",
            LoginError::Login(e) => e.reason(),
            LoginError::Internal(_) => "internal",
        }
    }

    /// What the person sees: short, and without the evidence.
    pub fn message(&self) -> &'static str {
        match self {
            LoginError::UnknownConnection { .. } => "This sign-in link is not valid.",
            LoginError::Pending { .. } => {
                "Sign-in through this connection is not set up yet: its set-up is unfinished. \
                 Please try again once your administrator has completed it."
            }
            LoginError::Provider { error, .. } if error == "access_denied" => {
                "The identity provider did not allow this sign-in."
            }
            LoginError::Provider { .. } => "The identity provider could not sign you in.",
            LoginError::MissingParameter { .. } | LoginError::DuplicateParameter { .. } => {
                "The sign-in request is malformed. Please start again."
            }
            LoginError::UnknownState => {
                "This sign-in attempt has expired or was already used. Please start again."
            }
            LoginError::StateOtherConnection { .. } | LoginError::ResponseIssuer { .. } => {
                "The sign-in response does not belong to this sign-in. Please start again."
            }
            LoginError::NotSameBrowser => "This sign-in was started in another browser. Please start again.",
            LoginError::TokenRefused { .. } => {
                "The identity provider refused to complete the sign-in. Please start again."
            }
            LoginError::IdToken(IdTokenError::TenantNotAllowed { .. }) => {
                "Your organization's directory is not allowed to sign in here."
            }
            LoginError::IdToken(_)
            | LoginError::MissingIdToken
            | LoginError::TokenResponseInvalid { .. }
            | LoginError::UserinfoSubject { .. } => {
                "The sign-in message from the identity provider was not acceptable, so you were not \
                 signed in. Please try again; if it keeps happening, contact your administrator."
            }
            LoginError::GroupsOverage { .. } => {
                "You belong to too many groups for the sign-in token, and this connection is not set \
                 up to look them up. Ask your administrator to configure the Microsoft Graph groups endpoint."
            }
            LoginError::EmailNotVerified { .. } => {
                "Your identity provider has not verified your email address, so it cannot be used to sign you in."
            }
            LoginError::Login(LoginRefused::NoSuchUser { .. }) => {
                "There is no account for you here, and accounts are not created automatically."
            }
            LoginError::Login(LoginRefused::MissingAttribute { .. }) => {
                "The identity provider did not send the information needed to find your account."
            }
            LoginError::Login(LoginRefused::Inactive { .. }) => "Your account is deactivated.",
            LoginError::Login(LoginRefused::NotMember { .. }) => {
                "Your account has no access to this organization."
            }
            LoginError::Login(LoginRefused::ConnectionGone { .. }) => {
                "This sign-in connection no longer exists."
            }
            LoginError::Login(LoginRefused::ProvisionedMismatch { .. }) => {
                crate::session::login::PROVISIONED_MISMATCH_PAGE
            }
            LoginError::Discovery(_)
            | LoginError::TokenEndpoint { .. }
            | LoginError::Userinfo(_)
            | LoginError::Graph(_)
            | LoginError::GraphAnswer { .. } => {
                "The identity provider could not be reached or answered incorrectly. Please try again later."
            }
            LoginError::Login(LoginRefused::Store(_)) | LoginError::Internal(_) => {
                "Sign-in failed because of a server error. Please try again later."
            }
        }
    }
}
