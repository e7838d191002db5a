//! Entra ID groups overage. When a user is in more groups than fit in a
//! token (200 in a JWT), Entra leaves the `groups` claim out and puts
//! `_claim_names: {"groups": "src1"}` and `_claim_sources` in its place.
//! idbridge then asks Microsoft Graph for the user's group ids at the
//! operator-configured endpoint, never at the endpoint named inside the token
//! (that one is the retired Azure AD Graph, and a token is not where idbridge
//! takes URLs to call from).
//!
//! The call is `POST {graph_groups_url}` with `{"securityEnabledOnly": false}`
//! and the login's access token, the shape of Graph's
//! `/me/getMemberObjects`; the answer is `{"value": ["<group id>", ...]}`.
//! The access token must be for Graph, so the connection's scopes must
//! include a Graph permission (e.g. `https://graph.microsoft.com/User.Read`
//! with `GroupMember.Read.All` granted to the app).

use serde_json::{Value, json};

use super::error::LoginError;
use super::fetch::HttpClient;

/// Largest Graph answer accepted (a member of thousands of groups).
const MAX_GRAPH_BODY: usize = 4 * 1024 * 1024;

/// The group ids of the signed-in user, from the configured Graph endpoint.
pub async fn overage_groups(
    http: &HttpClient,
    url: &str,
    access_token: &str,
) -> Result<Vec<String>, LoginError> {
    let body = json!({"securityEnabledOnly": false});
    let answer = http.post_json(url, access_token, &body, MAX_GRAPH_BODY).await.map_err(LoginError::Graph)?;
    let Some(values) = answer.get("value").and_then(Value::as_array) else {
        return Err(LoginError::GraphAnswer { message: "no \"value\" array".into() });
    };
    values
        .iter()
        .map(|v| {
            v.as_str()
                .map(String::from)
                .ok_or_else(|| LoginError::GraphAnswer { message: format!("{v} is not a group id") })
        })
        .collect()
}
