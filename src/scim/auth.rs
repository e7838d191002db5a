//! Who a SCIM request is from: the org's bearer token, verified against the
//! stored hashes (through the verification cache). The token is read from the
//! request, and the refusal answered, at the edge (wire.rs).

use super::error::{Refusal, ScimError};
use crate::directory::tokens::TokenCache;
use crate::store::Db;

/// Default SCIM body limit (4 MiB), also advertised as Bulk maxPayloadSize.
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// An authenticated SCIM client of one org.
#[derive(Clone, Debug)]
pub struct ScimClient {
    pub org_id: String,
    pub org_slug: String,
    pub token_id: String,
}

impl ScimClient {
    pub fn actor(&self) -> String {
        format!("scim:{}", self.token_id)
    }
}

/// A token that is valid for some org.
#[derive(Clone, Debug)]
pub struct Verified {
    org_id: String,
    owner_slug: String,
    token_id: String,
}

/// The org a presented token belongs to; `Refusal::BadToken` when it is
/// unknown, revoked or malformed.
pub async fn verify(tokens: &TokenCache, db: &Db, token: &str) -> Result<Verified, ScimError> {
    match tokens.verify(db, token).await? {
        Some((org_id, owner_slug, token_id)) => Ok(Verified { org_id, owner_slug, token_id }),
        None => Err(ScimError::Unauthorized(Refusal::BadToken)),
    }
}

impl Verified {
    /// The client, when the token's org is the org the request names
    /// (`org_slug`); a token of another org is as good as no token here.
    pub fn admit(self, org_slug: String) -> Result<ScimClient, ScimError> {
        match self.owner_slug == org_slug {
            true => Ok(ScimClient { org_id: self.org_id, org_slug, token_id: self.token_id }),
            false => Err(ScimError::Unauthorized(Refusal::OtherOrg)),
        }
    }
}
