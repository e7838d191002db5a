//! Tests of multi-valued attributes: `add` merges, whole-list `replace`, `primary` uniqueness,
//! value-filtered paths with and without a match, and removal by value.

use serde_json::json;

use super::support::{barbara, patch_user};
use crate::scim::patch::*;

#[test]
fn add_appends_only_values_not_already_present() {
    let out = patch_user(
        barbara(),
        json!([{"op": "add", "path": "emails", "value": [
            {"value": "BJENSEN@example.com", "type": "work"},
            {"value": "babs@jensen.org"},
            {"value": "babs@jensen.org", "type": "other"},
            {"value": "b@tours.example", "type": "work", "display": "Tours"}
        ]}]),
    )
    .unwrap();
    let mut expected = barbara();
    expected["emails"] = json!([
        {"value": "bjensen@example.com", "type": "work", "primary": true},
        {"value": "babs@jensen.org", "type": "home"},
        {"value": "babs@jensen.org", "type": "other"},
        {"value": "b@tours.example", "type": "work", "display": "Tours"}
    ]);
    assert_eq!(out, expected);
    // One value instead of an array is a one-element array; an absent list is created.
    let out = patch_user(
        json!({"userName": "a"}),
        json!([{"op": "add", "path": "phoneNumbers", "value": {"value": "555-0100", "Type": "work"}}]),
    )
    .unwrap();
    assert_eq!(out, json!({"userName": "a", "phoneNumbers": [{"value": "555-0100", "type": "work"}]}));
}

#[test]
fn setting_a_primary_clears_the_others() {
    // A new primary value.
    let out = patch_user(
        barbara(),
        json!([{"op": "add", "path": "emails", "value": [{"value": "new@example.com", "type": "other", "primary": true}]}]),
    )
    .unwrap();
    let mut expected = barbara();
    expected["emails"] = json!([
        {"value": "bjensen@example.com", "type": "work", "primary": false},
        {"value": "babs@jensen.org", "type": "home"},
        {"value": "new@example.com", "type": "other", "primary": true}
    ]);
    assert_eq!(out, expected);
    // An existing value made primary by add (merged), by a filtered sub-attribute, by a filter.
    for operation in [
        json!({"op": "add", "path": "emails", "value": [{"value": "babs@jensen.org", "type": "home", "primary": true}]}),
        json!({"op": "replace", "path": "emails[type eq \"home\"].primary", "value": true}),
        json!({"op": "Replace", "path": "emails[value eq \"BABS@jensen.org\"].primary", "value": "True"}),
    ] {
        let out = patch_user(barbara(), json!([operation])).unwrap();
        let mut expected = barbara();
        expected["emails"] = json!([
            {"value": "bjensen@example.com", "type": "work", "primary": false},
            {"value": "babs@jensen.org", "type": "home", "primary": true}
        ]);
        assert_eq!(out, expected);
    }
}

#[test]
fn two_primaries_in_one_operation_are_refused() {
    let two = json!([{"value": "a@x", "primary": true}, {"value": "b@x", "primary": true}]);
    for operation in [
        json!({"op": "replace", "path": "emails", "value": two}),
        json!({"op": "add", "path": "emails", "value": two}),
        json!({"op": "replace", "path": "emails[type pr].primary", "value": true}),
    ] {
        let err = patch_user(barbara(), json!([operation])).unwrap_err();
        assert_eq!(
            err,
            PatchError::InvalidValue {
                index: 0,
                path: err_path(&err),
                reason: "\"primary\" may be true on one value only (RFC 7643 §2.4)",
                found: "several values with \"primary\": true"
            }
        );
    }
}

fn err_path(err: &PatchError) -> String {
    match err {
        PatchError::InvalidValue { path, .. } => path.clone(),
        _ => String::new(),
    }
}

#[test]
fn replace_of_the_whole_list_replaces_it() {
    let out = patch_user(barbara(), json!([{"op": "replace", "path": "emails", "value": [{"value": "only@example.com", "type": "work"}]}])).unwrap();
    let mut expected = barbara();
    expected["emails"] = json!([{"value": "only@example.com", "type": "work"}]);
    assert_eq!(out, expected);
    for empty in [json!([]), json!(null)] {
        let out =
            patch_user(barbara(), json!([{"op": "replace", "path": "emails", "value": empty}])).unwrap();
        let mut expected = barbara();
        expected.as_object_mut().unwrap().remove("emails");
        assert_eq!(out, expected);
    }
}

#[test]
fn filtered_replace_without_a_match_adds_the_described_value() {
    // Entra: "emails[type eq \"work\"].value" on a user without a work email.
    let out = patch_user(
        json!({"userName": "a", "emails": [{"value": "h@x", "type": "home"}]}),
        json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "w@x"}]),
    )
    .unwrap();
    assert_eq!(
        out,
        json!({"userName": "a", "emails": [{"value": "h@x", "type": "home"}, {"type": "work", "value": "w@x"}]})
    );
    // No list at all; several eq terms; a whole value merged into the described one.
    let out = patch_user(
        json!({"userName": "a"}),
        json!([
            {"op": "replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "555-0101"},
            {"op": "add", "path": "addresses[type eq \"work\" and primary eq true]", "value": {"postalCode": "91608"}},
            {"op": "replace", "path": "ims[TYPE eq \"xmpp\"]", "value": {"value": "a@jabber"}}
        ]),
    )
    .unwrap();
    assert_eq!(
        out,
        json!({
            "userName": "a",
            "phoneNumbers": [{"type": "mobile", "value": "555-0101"}],
            "addresses": [{"type": "work", "primary": true, "postalCode": "91608"}],
            "ims": [{"type": "xmpp", "value": "a@jabber"}]
        })
    );
}

#[test]
fn filtered_replace_without_a_match_and_no_describable_value_is_no_target() {
    for path in [
        "emails[type eq \"work\" or type eq \"other\"].value",
        "emails[type ne \"home\"].value",
        "emails[type eq \"work\" and type eq \"other\"].value",
        "emails[value ew \"@x\"].display",
        "emails[not (type eq \"home\")].value",
        "emails[type eq null].value",
    ] {
        let err = patch_user(
            json!({"userName": "a", "emails": [{"value": "h@y", "type": "home"}]}),
            json!([{"op": "replace", "path": path, "value": "w@x"}]),
        )
        .unwrap_err();
        assert_eq!(err, PatchError::NoTarget { index: 0, path: path.into() });
        assert_eq!((err.scim_type(), err.status()), (Some("noTarget"), 400));
    }
}

#[test]
fn filtered_operations_with_a_match() {
    let out = patch_user(
        barbara(),
        json!([
            {"op": "add", "path": "emails[type eq \"home\"]", "value": {"display": "Home"}},
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "barbara@example.com"},
            {"op": "remove", "path": "emails[type eq \"home\"].display"},
            {"op": "remove", "path": "addresses[type eq \"work\"].country"}
        ]),
    )
    .unwrap();
    let mut expected = barbara();
    expected["emails"][0]["value"] = json!("barbara@example.com");
    expected["addresses"][0].as_object_mut().unwrap().remove("country");
    assert_eq!(out, expected);
}

#[test]
fn rfc_3_5_2_2_filtered_remove_and_removal_by_value() {
    // RFC 7644 §3.5.2.2 example filter.
    let out = patch_user(
        barbara(),
        json!([{"op": "remove", "path": "emails[type eq \"work\" and value ew \"example.com\"]"}]),
    )
    .unwrap();
    let mut expected = barbara();
    expected["emails"] = json!([{"value": "babs@jensen.org", "type": "home"}]);
    assert_eq!(out, expected);
    // Matching nothing is success and changes nothing.
    let out = patch_user(barbara(), json!([{"op": "remove", "path": "emails[type eq \"other\"]"}])).unwrap();
    assert_eq!(out, barbara());
    // Entra's shape: a value lists exactly what to remove.
    let out = patch_user(
        barbara(),
        json!([{"op": "Remove", "path": "emails", "value": [{"value": "BABS@jensen.org"}]}]),
    )
    .unwrap();
    let mut expected = barbara();
    expected["emails"] = json!([{"value": "bjensen@example.com", "type": "work", "primary": true}]);
    assert_eq!(out, expected);
    let out = patch_user(barbara(), json!([{"op": "remove", "path": "emails", "value": []}])).unwrap();
    assert_eq!(out, barbara());
    // Removing every value leaves the attribute unassigned.
    let out = patch_user(
        barbara(),
        json!([{"op": "remove", "path": "addresses[type eq \"work\"]"}, {"op": "remove", "path": "emails"}]),
    )
    .unwrap();
    let mut expected = barbara();
    expected.as_object_mut().unwrap().remove("addresses");
    expected.as_object_mut().unwrap().remove("emails");
    assert_eq!(out, expected);
}

#[test]
fn removal_by_value_of_single_valued_attributes_is_exact() {
    let out =
        patch_user(barbara(), json!([{"op": "remove", "path": "displayName", "value": "someone else"}]))
            .unwrap();
    assert_eq!(out, barbara());
    let out = patch_user(barbara(), json!([{"op": "remove", "path": "displayName", "value": "babs jensen"}]))
        .unwrap();
    let mut expected = barbara();
    expected.as_object_mut().unwrap().remove("displayName");
    assert_eq!(out, expected);
    let out =
        patch_user(barbara(), json!([{"op": "remove", "path": "name.givenName", "value": "Other"}])).unwrap();
    assert_eq!(out, barbara());
}

#[test]
fn sub_attributes_of_multi_valued_attributes_need_a_filter_except_for_remove() {
    let err = patch_user(barbara(), json!([{"op": "replace", "path": "emails.value", "value": "x@y"}]))
        .unwrap_err();
    assert_eq!(
        err,
        PatchError::UnsupportedPath {
            index: 0,
            path: "emails.value".into(),
            reason: "a sub-attribute of a multi-valued attribute needs a value filter, e.g. emails[type eq \"work\"].value"
        }
    );
    assert_eq!(err.scim_type(), Some("invalidPath"));
    let out = patch_user(barbara(), json!([{"op": "remove", "path": "emails.type"}])).unwrap();
    let mut expected = barbara();
    expected["emails"] =
        json!([{"value": "bjensen@example.com", "primary": true}, {"value": "babs@jensen.org"}]);
    assert_eq!(out, expected);
}

#[test]
fn filters_need_a_multi_valued_attribute_and_whole_values_need_objects() {
    let err = patch_user(
        barbara(),
        json!([{"op": "replace", "path": "name[givenName eq \"Barbara\"].givenName", "value": "B"}]),
    )
    .unwrap_err();
    assert_eq!(
        err,
        PatchError::UnsupportedPath {
            index: 0,
            path: "name[givenName eq \"Barbara\"].givenName".into(),
            reason: "a value filter selects values of a multi-valued attribute"
        }
    );
    let err =
        patch_user(barbara(), json!([{"op": "replace", "path": "emails[type eq \"work\"]", "value": "x@y"}]))
            .unwrap_err();
    assert_eq!(
        err,
        PatchError::InvalidValue {
            index: 0,
            path: "emails[type eq \"work\"]".into(),
            reason: "a value-filtered path without a sub-attribute takes a whole (object) value",
            found: "a string"
        }
    );
    // A filtered replace with null removes what matched.
    let out =
        patch_user(barbara(), json!([{"op": "replace", "path": "emails[type eq \"home\"]", "value": null}]))
            .unwrap();
    let mut expected = barbara();
    expected["emails"] = json!([{"value": "bjensen@example.com", "type": "work", "primary": true}]);
    assert_eq!(out, expected);
}

#[test]
fn case_exact_sub_attributes_filter_exactly() {
    let stored = json!({"userName": "a", "x509Certificates": [{"value": "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAwTjELMAkGA1UEBhMCVVMx"}]});
    let out = patch_user(stored.clone(), json!([{"op": "remove", "path": "x509Certificates[value eq \"miidqzccaqygawibagiceaawdqyjkozihvcnaqefbqawtjelmakga1uebhmcvvmx\"]"}])).unwrap();
    assert_eq!(out, stored);
    let out = patch_user(stored, json!([{"op": "remove", "path": "x509Certificates[value sw \"MIIDQz\"]"}]))
        .unwrap();
    assert_eq!(out, json!({"userName": "a"}));
}
