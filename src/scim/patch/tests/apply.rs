//! Tests of `apply` on single-valued, complex and extension attributes, the RFC 7644 §3.5.2
//! examples, case-insensitive names and path-less operations. Every test compares the whole
//! resulting resource. Schema rules (mutability, required, types) are in `tests/schema.rs`.

use serde_json::json;

use super::support::{barbara, body, patch_user, run};
use crate::scim::patch::*;

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

#[test]
fn rfc_3_5_2_1_pathless_add_skips_present_values_and_spells_new_keys_canonically() {
    // RFC 7644 §3.5.2.1 example: "nickname" in the request, already-present home email.
    let out = patch_user(
        barbara(),
        json!([{"op": "add", "value": {
            "emails": [{"value": "babs@jensen.org", "type": "home"}],
            "nickname": "Babs"
        }}]),
    )
    .unwrap();
    let mut expected = barbara();
    expected["nickName"] = json!("Babs");
    assert_eq!(out, expected);
}

#[test]
fn rfc_3_5_2_3_replace_examples() {
    let address = json!({
        "type": "work",
        "streetAddress": "911 Universal City Plaza",
        "locality": "Hollywood",
        "region": "CA",
        "postalCode": "91608",
        "country": "US",
        "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US",
        "primary": true
    });
    let out = patch_user(
        barbara(),
        json!([{"op": "replace", "path": "addresses[type eq \"work\"]", "value": address}]),
    )
    .unwrap();
    let mut expected = barbara();
    expected["addresses"] = json!([address]);
    assert_eq!(out, expected);

    let out = patch_user(
        barbara(),
        json!([{"op": "replace", "path": "addresses[type eq \"work\"].streetAddress", "value": "1010 Broadway Ave"}]),
    )
    .unwrap();
    let mut expected = barbara();
    expected["addresses"][0]["streetAddress"] = json!("1010 Broadway Ave");
    assert_eq!(out, expected);

    let out = patch_user(
        barbara(),
        json!([{"op": "replace", "value": {
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "nickname": "Babs"
        }}]),
    )
    .unwrap();
    let mut expected = barbara();
    expected["nickName"] = json!("Babs");
    assert_eq!(out, expected);
}

#[test]
fn single_valued_and_complex_attributes() {
    let out = patch_user(
        barbara(),
        json!([
            {"op": "add", "path": "title", "value": "Tour Guide"},
            {"op": "replace", "path": "displayName", "value": "Babs"},
            {"op": "replace", "path": "name", "value": {"givenName": "Barb", "honorificprefix": "Ms."}},
            {"op": "add", "path": "name.middleName", "value": "Jane"},
            {"op": "remove", "path": "name.formatted"},
            {"op": "remove", "path": "externalId"},
            {"op": "remove", "path": "locale"}
        ]),
    )
    .unwrap();
    let mut expected = barbara();
    expected["title"] = json!("Tour Guide");
    expected["displayName"] = json!("Babs");
    expected["name"] =
        json!({"familyName": "Jensen", "givenName": "Barb", "honorificPrefix": "Ms.", "middleName": "Jane"});
    expected.as_object_mut().unwrap().remove("externalId");
    assert_eq!(out, expected);

    // Removing the last sub-attribute, or replacing with null, leaves the attribute unassigned.
    let out = patch_user(
        json!({"userName": "a", "name": {"givenName": "A"}, "title": "T"}),
        json!([{"op": "remove", "path": "name.givenName"}, {"op": "replace", "path": "title", "value": null}]),
    )
    .unwrap();
    assert_eq!(out, json!({"userName": "a"}));
    // add of null adds nothing; a null sub-attribute in a merge removes it.
    let out = patch_user(
        json!({"userName": "a", "name": {"givenName": "A", "familyName": "B"}}),
        json!([{"op": "add", "path": "title", "value": null}, {"op": "replace", "path": "name", "value": {"familyName": null}}]),
    )
    .unwrap();
    assert_eq!(out, json!({"userName": "a", "name": {"givenName": "A"}}));
}

#[test]
fn attribute_names_are_case_insensitive_and_keep_the_stored_spelling() {
    let stored = json!({"userName": "a", "NickName": "x", "Name": {"GivenName": "y"}, "EMAILS": [{"Value": "a@x", "Type": "work"}]});
    let out = patch_user(
        stored,
        json!([
            {"op": "replace", "path": "nickname", "value": "z"},
            {"op": "replace", "path": "NAME.givenname", "value": "w"},
            {"op": "replace", "path": "emails[TYPE eq \"WORK\"].VALUE", "value": "b@x"},
            {"op": "add", "path": "USERTYPE", "value": "Employee"}
        ]),
    )
    .unwrap();
    assert_eq!(
        out,
        json!({"userName": "a", "NickName": "z", "Name": {"GivenName": "w"}, "EMAILS": [{"Value": "b@x", "Type": "work"}], "userType": "Employee"})
    );
}

#[test]
fn replacing_active_never_wipes_other_attributes() {
    for operation in [
        json!({"op": "replace", "path": "active", "value": false}),
        json!({"op": "Replace", "path": "active", "value": "False"}),
        json!({"op": "replace", "value": {"active": false}}),
    ] {
        let out = patch_user(barbara(), json!([operation])).unwrap();
        let mut expected = barbara();
        expected["active"] = json!(false);
        assert_eq!(out, expected);
    }
}

#[test]
fn enterprise_extension_paths_and_schemas_list() {
    let out = patch_user(
        barbara(),
        json!([
            {"op": "add", "path": format!("{ENT}:employeeNumber"), "value": "701984"},
            {"op": "add", "path": "manager", "value": "26118915-6090"},
            {"op": "replace", "path": "department", "value": "Tour Operations"}
        ]),
    )
    .unwrap();
    let mut expected = barbara();
    expected["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:User", ENT]);
    expected[ENT] = json!({"employeeNumber": "701984", "manager": {"value": "26118915-6090"}, "department": "Tour Operations"});
    assert_eq!(out, expected);

    // Removing the last extension attribute removes the extension and its URN.
    let out = patch_user(
        out,
        json!([
            {"op": "remove", "path": format!("{ENT}:employeeNumber")},
            {"op": "remove", "path": format!("{ENT}:manager")},
            {"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:DEPARTMENT"}
        ]),
    )
    .unwrap();
    assert_eq!(out, barbara());
    // Removing from an extension the resource does not have is a no-op.
    assert_eq!(
        patch_user(barbara(), json!([{"op": "remove", "path": format!("{ENT}:costCenter")}])).unwrap(),
        barbara()
    );
}

#[test]
fn manager_sub_attributes_keep_what_is_stored() {
    // A bare id stored by an older create becomes the implied `value` when a sub-attribute is set.
    let stored = json!({"userName": "a", ENT: {"manager": "old-id"}});
    let out = patch_user(
        stored,
        json!([{"op": "add", "path": format!("{ENT}:manager.$ref"), "value": "../Users/old-id"}]),
    );
    // `$ref` is not an ATTRNAME (RFC 7644 Figure 1), so that path is refused by the grammar.
    assert!(matches!(out, Err(PatchError::InvalidPath { .. })));
    let stored = json!({"userName": "a", ENT: {"manager": "old-id"}});
    let out =
        patch_user(stored, json!([{"op": "replace", "path": "manager.value", "value": "new-id"}])).unwrap();
    assert_eq!(out, json!({"userName": "a", ENT: {"manager": {"value": "new-id"}}}));
    let stored = json!({"userName": "a", ENT: {"manager": {"value": "m", "displayName": "Jo"}}});
    let out = patch_user(
        stored,
        json!([{"op": "replace", "path": format!("{ENT}:manager"), "value": {"value": "n"}}]),
    )
    .unwrap();
    assert_eq!(out, json!({"userName": "a", ENT: {"manager": {"value": "n", "displayName": "Jo"}}}));
}

#[test]
fn writes_are_reported_and_no_ops_are_not() {
    let (_, applied) = run(
        &UserSchema,
        barbara(),
        body(json!([{"op": "replace", "path": "displayName", "value": "Babs Jensen"}])),
    )
    .unwrap();
    assert_eq!(applied, Applied { changed: false, members: MemberChanges::default() });
    let (_, applied) =
        run(&UserSchema, barbara(), body(json!([{"op": "remove", "path": "nickName"}]))).unwrap();
    assert!(!applied.changed);
    let (_, applied) =
        run(&UserSchema, barbara(), body(json!([{"op": "add", "path": "nickName", "value": "B"}]))).unwrap();
    assert!(applied.changed && applied.members.is_empty());
}

#[test]
fn unknown_attributes_are_kept_as_single_valued() {
    let out = patch_user(
        json!({"userName": "a", "favouriteColours": ["red"]}),
        json!([
            {"op": "add", "path": "favouriteColours", "value": ["blue"]},
            {"op": "add", "value": {"urn:example:ext:1.0:Badge": {"level": "gold"}}}
        ]),
    )
    .unwrap();
    assert_eq!(
        out,
        json!({"userName": "a", "favouriteColours": ["blue"], "urn:example:ext:1.0:Badge": {"level": "gold"}})
    );
}
