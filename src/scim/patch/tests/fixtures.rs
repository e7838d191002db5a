//! The real request bodies from Microsoft's and Okta's SCIM documentation
//! (`fixtures/scim/{entra,okta}/`, sources in `fixtures/scim/README.md`), normalised and applied
//! to the example users and groups of the same pages.

use serde_json::{Value, json};

use super::support::{entra_user, ids, okta_group, okta_user, run_quirks as run};
use crate::scim::patch::*;

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

macro_rules! fixture {
    ($idp:literal, $name:literal) => {
        serde_json::from_str::<Value>(include_str!(concat!(
            "../../../../fixtures/scim/",
            $idp,
            "/",
            $name,
            ".json"
        )))
        .unwrap()
    };
}

fn op_case(index: usize, found: &str) -> Quirk {
    Quirk::OpCase { index, found: found.into() }
}

#[test]
fn entra_disable_user_old_new_and_tutorial_bodies_agree() {
    let mut expected = entra_user();
    expected["active"] = json!(false);
    let legacy = run(&UserSchema, entra_user(), fixture!("entra", "disable-user-legacy"));
    assert_eq!(legacy.0, expected);
    assert_eq!(
        legacy.2,
        vec![op_case(0, "Replace"), Quirk::BooleanString { index: 0, attr: "active".into() }]
    );
    let flagged = run(&UserSchema, entra_user(), fixture!("entra", "disable-user-aadoptscim062020"));
    assert_eq!((flagged.0, flagged.2), (expected.clone(), vec![]));
    let tutorial = run(&UserSchema, entra_user(), fixture!("entra", "disable-user"));
    assert_eq!((tutorial.0, tutorial.2), (expected, vec![op_case(0, "Replace")]));
}

#[test]
fn entra_add_single_value() {
    let mut expected = entra_user();
    expected["nickName"] = json!("Babs");
    let legacy = run(&UserSchema, entra_user(), fixture!("entra", "add-single-value-legacy"));
    assert_eq!((legacy.0, legacy.2), (expected.clone(), vec![op_case(0, "Add")]));
    let flagged = run(&UserSchema, entra_user(), fixture!("entra", "add-single-value-aadoptscim062020"));
    assert_eq!((flagged.0, flagged.1.changed, flagged.2), (expected, true, vec![]));
}

#[test]
fn entra_replace_multiple_attributes_legacy() {
    let (out, _, quirks) = run(&UserSchema, entra_user(), fixture!("entra", "replace-multiple-legacy"));
    let mut expected = entra_user();
    expected["displayName"] = json!("Pvlo");
    expected["emails"][0]["value"] = json!("TestBcwqnm@test.microsoft.com");
    expected["name"]["givenName"] = json!("Gtfd");
    expected["name"]["familyName"] = json!("Pkqf");
    expected["externalId"] = json!("Eqpj");
    expected[ENT] = json!({"employeeNumber": "Eqpj"});
    expected["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:User", ENT]);
    assert_eq!(out, expected);
    assert_eq!(quirks, (0..6).map(|i| op_case(i, "Replace")).collect::<Vec<_>>());
}

#[test]
fn entra_replace_multiple_attributes_with_flag() {
    let (out, _, quirks) =
        run(&UserSchema, entra_user(), fixture!("entra", "replace-multiple-aadoptscim062020"));
    let mut expected = entra_user();
    expected["emails"][0]["value"] = json!("TestMhvaes@test.microsoft.com");
    expected["displayName"] = json!("Bjfe");
    expected["name"] =
        json!({"formatted": "givenName familyName", "familyName": "Unua", "givenName": "Kkom"});
    expected[ENT] = json!({"employeeNumber": "Aklq"});
    expected["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:User", ENT]);
    assert_eq!(out, expected);
    let nested = |key: &str| Quirk::NestedKey { index: 1, key: key.into() };
    assert_eq!(
        quirks,
        vec![nested("name.familyName"), nested("name.givenName"), nested(&format!("{ENT}:employeeNumber"))]
    );
    // On a user without a work email, the filtered replace adds one instead of failing.
    let mut no_work = entra_user();
    no_work["emails"] = json!([{"value": "home@example.com", "type": "home"}]);
    let (out, _, _) = run(&UserSchema, no_work, fixture!("entra", "replace-multiple-aadoptscim062020"));
    assert_eq!(
        out["emails"],
        json!([{"value": "home@example.com", "type": "home"}, {"type": "work", "value": "TestMhvaes@test.microsoft.com"}])
    );
}

#[test]
fn entra_pathless_value_with_path_keys_applies_each_key_as_its_path() {
    let body = fixture!("entra", "replace-pathless-path-keys");
    let (out, _, quirks) = run(&UserSchema, entra_user(), body.clone());
    // The same as the published body whose work email has its own operation.
    let (published, _, _) =
        run(&UserSchema, entra_user(), fixture!("entra", "replace-multiple-aadoptscim062020"));
    let mut expected = published;
    expected[ENT]["manager"] = json!({"value": "26118915-6090-4610-87a4-79e7f3a5b9d3"});
    assert_eq!(out, expected);
    assert_eq!(
        out["emails"],
        json!([{"value": "TestMhvaes@test.microsoft.com", "type": "work", "primary": true}])
    );
    assert_eq!(out["name"]["formatted"], "givenName familyName", "other sub-attributes are left");
    let key = r#"emails[type eq "work"].value"#;
    assert!(quirks.contains(&Quirk::PathKey { index: 0, key: key.into() }), "{quirks:?}");
    assert!(quirks.contains(&Quirk::ManagerShape { index: 0 }), "{quirks:?}");
    // The value-path key became an operation with that path; the rest stayed path-less.
    let request = normalize_request(body).unwrap();
    assert_eq!(request.ops.len(), 2);
    assert_eq!(request.ops[1].path.as_ref().map(ToString::to_string).as_deref(), Some(key));
    assert_eq!(request.ops[1].value, Some(json!("TestMhvaes@test.microsoft.com")));
    // Without a work email, the filtered replace adds one (as with a path).
    let mut no_work = entra_user();
    no_work["emails"] = json!([{"value": "home@example.com", "type": "home"}]);
    let (out, _, _) = run(&UserSchema, no_work, fixture!("entra", "replace-pathless-path-keys"));
    assert_eq!(
        out["emails"],
        json!([{"value": "home@example.com", "type": "home"}, {"type": "work", "value": "TestMhvaes@test.microsoft.com"}])
    );
}

#[test]
fn entra_tutorial_user_updates() {
    let (out, _, quirks) = run(&UserSchema, entra_user(), fixture!("entra", "update-user-multi-valued"));
    let mut expected = entra_user();
    expected["emails"][0]["value"] = json!("updatedEmail@microsoft.com");
    // The tutorial's response also recomputes name.formatted; a PATCH server need not.
    expected["name"]["familyName"] = json!("updatedFamilyName");
    assert_eq!((out, quirks), (expected, vec![op_case(0, "Replace"), op_case(1, "Replace")]));
    let (out, _, _) = run(&UserSchema, entra_user(), fixture!("entra", "update-user-single-valued"));
    let mut expected = entra_user();
    expected["userName"] = json!("5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com");
    assert_eq!(out, expected);
}

#[test]
fn entra_manager_as_one_element_array_on_the_bare_path() {
    let (out, _, quirks) = run(&UserSchema, entra_user(), fixture!("entra", "update-user-manager"));
    let mut expected = entra_user();
    expected[ENT] = json!({"manager": {
        "$ref": "http://.../scim/Users/00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
        "value": "00aa00aa-bb11-cc22-dd33-44ee44ee44ee"
    }});
    expected["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:User", ENT]);
    assert_eq!((out, quirks), (expected, vec![op_case(0, "Add"), Quirk::ManagerShape { index: 0 }]));
}

#[test]
fn entra_group_bodies() {
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "fa2ce26709934589afc5",
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "displayName",
        "meta": {"resourceType": "Group", "created": "2018-03-27T19:59:26.000Z"}
    });
    let (out, applied, _) = run(&GroupSchema, group.clone(), fixture!("entra", "update-group-non-member"));
    let mut expected = group.clone();
    expected["displayName"] = json!("1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName");
    assert_eq!((out, applied.members.is_empty()), (expected, true));
    let member = |add: &[&str], remove: &[&str]| MemberChanges {
        add: ids(add),
        remove: ids(remove),
        ..Default::default()
    };
    let cases = [
        (fixture!("entra", "update-group-add-members"), member(&["f648f8d5ea4e4cd38e9c"], &[])),
        (fixture!("entra", "update-group-remove-members"), member(&[], &["f648f8d5ea4e4cd38e9c"])),
        (fixture!("entra", "remove-member-legacy"), member(&[], &["u1091"])),
        (
            fixture!("entra", "remove-member-aadoptscim062020"),
            member(&[], &["7f4bc1a3-285e-48ae-8202-5accb43efb0e"]),
        ),
    ];
    for (body, expected) in cases {
        let (out, applied, _) = run(&GroupSchema, group.clone(), body);
        assert_eq!((out, applied), (group.clone(), Applied { changed: false, members: expected }));
    }
}

#[test]
fn okta_deactivate_user_changes_only_active() {
    let (out, applied, quirks) = run(&UserSchema, okta_user(), fixture!("okta", "deactivate-user"));
    let mut expected = okta_user();
    expected["active"] = json!(false);
    assert_eq!((out, applied.changed, quirks), (expected, true, vec![]));
}

#[test]
fn okta_group_rename_repeats_the_id() {
    let mut expected = okta_group();
    expected["displayName"] = json!("Test SCIMv2");
    let (out, applied, _) = run(&GroupSchema, okta_group(), fixture!("okta", "rename-group"));
    assert_eq!((out, applied.members.is_empty()), (expected, true));
    // A caller that keeps the id outside the JSON gets the same rename.
    let mut without_id = okta_group();
    without_id.as_object_mut().unwrap().remove("id");
    let (out, _, _) = run(&GroupSchema, without_id, fixture!("okta", "rename-group"));
    assert_eq!(out["displayName"], json!("Test SCIMv2"));
    // Another group's id is a modification of a read-only attribute.
    let mut other = okta_group();
    other["id"] = json!("another-group");
    let request = normalize_request(fixture!("okta", "rename-group")).unwrap();
    assert_eq!(
        apply(&mut other, &request.ops, &GroupSchema),
        Err(PatchError::Mutability {
            index: 0,
            op: OpKind::Replace,
            path: "id".into(),
            mutability: Mutability::ReadOnly
        })
    );
}

#[test]
fn okta_group_membership() {
    let (out, applied, _) = run(&GroupSchema, okta_group(), fixture!("okta", "update-group-membership"));
    let expected = MemberChanges {
        add: ids(&["23a35c27-23d3-4c03-b4c5-6443c09e7173"]),
        remove: ids(&["89bb1940-b905-4575-9e7f-6f887cfb368e"]),
        ..Default::default()
    };
    assert_eq!((out, applied), (okta_group(), Applied { changed: false, members: expected }));
    let (_, applied, _) = run(&GroupSchema, okta_group(), fixture!("okta", "replace-group-members"));
    let all = ids(&["23a35c27-23d3-4c03-b4c5-6443c09e7173", "89bb1940-b905-4575-9e7f-6f887cfb368e"]);
    assert_eq!(applied.members, MemberChanges { replace_all: Some(all), ..Default::default() });
}
