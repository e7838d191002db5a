//! Helpers shared by the PATCH tests: request envelopes, runs of normalise + apply, and the
//! example resources the tests start from (RFC 7643's Barbara Jensen, and the users and groups
//! of Microsoft's and Okta's documentation pages the fixtures come from).

use serde_json::{Value, json};

use crate::scim::patch::*;

/// A PatchOp body around `operations`.
pub fn body(operations: Value) -> Value {
    json!({"schemas": [PATCH_OP_SCHEMA], "Operations": operations})
}

/// Normalises `body` and applies it to `resource`; the patched resource and what `apply` reported.
pub fn run(
    schema: &dyn SchemaInfo,
    mut resource: Value,
    body: Value,
) -> Result<(Value, Applied), PatchError> {
    let request = normalize_request(body)?;
    let applied = apply(&mut resource, &request.ops, schema)?;
    Ok((resource, applied))
}

/// `run` on a User with the operations `operations`; only the patched resource.
pub fn patch_user(resource: Value, operations: Value) -> Result<Value, PatchError> {
    run(&UserSchema, resource, body(operations)).map(|(resource, _)| resource)
}

/// `run` on a Group with the operations `operations`; only the membership changes, after checking
/// that the group JSON (which may hold a stale `members`) was left alone apart from `expected`.
pub fn patch_group_members(operations: Value) -> Result<MemberChanges, PatchError> {
    let (resource, applied) = run(&GroupSchema, group(), body(operations))?;
    assert_eq!(resource, group(), "members operations must not touch the resource");
    Ok(applied.members)
}

/// The User of RFC 7643 §8.2, trimmed: what most user tests start from.
pub fn barbara() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "701984",
        "userName": "bjensen@example.com",
        "name": {
            "formatted": "Ms. Barbara J Jensen, III",
            "familyName": "Jensen",
            "givenName": "Barbara"
        },
        "displayName": "Babs Jensen",
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "addresses": [{
            "type": "work",
            "streetAddress": "100 Universal City Plaza",
            "locality": "Hollywood",
            "region": "CA",
            "postalCode": "91608",
            "country": "USA",
            "primary": true
        }],
        "active": true,
        "meta": {
            "resourceType": "User",
            "created": "2010-01-23T04:56:22Z",
            "lastModified": "2011-05-13T04:42:34Z",
            "version": "W/\"3694e05e9dff591\"",
            "location": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646"
        }
    })
}

/// A Group as the caller hands it to `apply`: members live elsewhere, but a stale copy is
/// included to prove `apply` never writes it.
pub fn group() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "abf4dd94-a4c0-4f67-89c9-76b03340cb9b",
        "displayName": "Tour Guides",
        "members": [{"value": "stale-copy"}],
        "meta": {"resourceType": "Group", "created": "2019-09-10T04:54:18Z"}
    })
}

/// The member ids as owned strings.
pub fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Normalises `body` and applies it; the patched resource, what `apply` reported, and the quirks.
pub fn run_quirks(schema: &dyn SchemaInfo, mut resource: Value, body: Value) -> (Value, Applied, Vec<Quirk>) {
    let request = normalize_request(body).unwrap();
    let applied = apply(&mut resource, &request.ops, schema).unwrap();
    (resource, applied, request.quirks)
}

/// The user of the Entra tutorial's "Update User [Multi-valued properties]" exchange, before it.
pub fn entra_user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "6764549bef60420686bc",
        "externalId": "6c75de36-30fa-4d2d-a196-6bdcdb6b6539",
        "meta": {"resourceType": "User", "created": "2018-03-27T19:59:26.000Z", "lastModified": "2018-03-27T19:59:26.000Z"},
        "userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "active": true,
        "emails": [{"value": "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com", "type": "work", "primary": true}]
    })
}

/// The user of Okta's "Retrieve a specific User" sample.
pub fn okta_user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "23a35c27-23d3-4c03-b4c5-6443c09e7173",
        "userName": "test.user@okta.local",
        "name": {"givenName": "Another", "middleName": "", "familyName": "User"},
        "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work", "display": "test.user@okta.local"}],
        "active": true,
        "groups": [],
        "meta": {"resourceType": "User"}
    })
}

/// The group of Okta's "Retrieve specific Groups" sample, members left to the member table.
pub fn okta_group() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "abf4dd94-a4c0-4f67-89c9-76b03340cb9b",
        "displayName": "Okta Group",
        "meta": {"resourceType": "Group"}
    })
}
