//! Tests of `normalize_request`: the envelope, op names, paths, and every client quirk it
//! rewrites, with the exact operations and quirks expected.

use serde_json::{Value, json};

use super::support::body;
use crate::scim::filter::{FilterError, parse_patch_path};
use crate::scim::patch::*;

fn op(op: OpKind, path: Option<&str>, value: Option<Value>) -> PatchOp {
    PatchOp { op, path: path.map(|p| parse_patch_path(p).unwrap()), value }
}

fn one(operation: Value) -> PatchRequest {
    normalize_request(body(json!([operation]))).unwrap()
}

#[test]
fn envelope_errors() {
    assert_eq!(normalize_request(json!([])), Err(PatchError::BodyNotObject { found: "an empty array" }));
    assert_eq!(normalize_request(json!({"schemas": [PATCH_OP_SCHEMA]})), Err(PatchError::MissingOperations));
    assert_eq!(
        normalize_request(body(json!([]))),
        Err(PatchError::BadOperations { found: "an empty array" })
    );
    assert_eq!(normalize_request(body(json!("add"))), Err(PatchError::BadOperations { found: "a string" }));
    let wrong =
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "Operations": [{"op": "add"}]});
    assert_eq!(
        normalize_request(wrong),
        Err(PatchError::WrongSchemas { found: vec!["urn:ietf:params:scim:schemas:core:2.0:User".into()] })
    );
    let not_array =
        json!({"schemas": PATCH_OP_SCHEMA, "Operations": [{"op": "add", "path": "title", "value": "x"}]});
    assert_eq!(
        normalize_request(not_array),
        Err(PatchError::WrongSchemas { found: vec![PATCH_OP_SCHEMA.into()] })
    );
    let many: Vec<Value> = (0..=MAX_OPERATIONS).map(|_| json!({"op": "remove", "path": "title"})).collect();
    assert_eq!(
        normalize_request(body(Value::Array(many))),
        Err(PatchError::TooManyOperations { count: 1001, max: 1000 })
    );
    let at_limit: Vec<Value> =
        (0..MAX_OPERATIONS).map(|_| json!({"op": "remove", "path": "title"})).collect();
    assert_eq!(normalize_request(body(Value::Array(at_limit))).map(|r| r.ops.len()), Ok(1000));
}

#[test]
fn lenient_envelope_is_recorded() {
    let req =
        normalize_request(json!({"operations": [{"op": "add", "path": "title", "value": "Boss"}]})).unwrap();
    assert_eq!(req.ops, vec![op(OpKind::Add, Some("title"), Some(json!("Boss")))]);
    assert_eq!(req.quirks, vec![Quirk::MissingSchemas, Quirk::OperationsKey { found: "operations".into() }]);
    // The message URN compares case-insensitively; keys of an operation too.
    let req = normalize_request(json!({
        "SCHEMAS": ["URN:IETF:PARAMS:SCIM:API:MESSAGES:2.0:PATCHOP"],
        "Operations": [{"OP": "remove", "Path": "title", "VALUE": null}]
    }))
    .unwrap();
    assert_eq!(req.ops, vec![op(OpKind::Remove, Some("title"), Some(Value::Null))]);
    assert_eq!(req.quirks, vec![]);
}

#[test]
fn operation_errors_name_the_operation() {
    let second = |bad: Value| normalize_request(body(json!([{"op": "remove", "path": "title"}, bad])));
    assert_eq!(second(json!("add")), Err(PatchError::OperationNotObject { index: 1, found: "a string" }));
    assert_eq!(
        second(json!({"op": "move", "path": "x"})),
        Err(PatchError::UnknownOp { index: 1, found: "\"move\"".into() })
    );
    assert_eq!(second(json!({"op": 1})), Err(PatchError::UnknownOp { index: 1, found: "a number".into() }));
    assert_eq!(
        second(json!({"path": "x"})),
        Err(PatchError::UnknownOp { index: 1, found: "no \"op\" member".into() })
    );
    assert_eq!(
        second(json!({"op": "add", "path": 7})),
        Err(PatchError::PathNotString { index: 1, found: "a number" })
    );
    let err = second(json!({"op": "add", "path": "emails[type eq \"work\"", "value": 1})).unwrap_err();
    assert_eq!(
        err,
        PatchError::InvalidPath {
            index: 1,
            path: "emails[type eq \"work\"".into(),
            source: FilterError::Unexpected {
                pos: 21,
                found: "end of input".into(),
                expected: "']' closing the value filter"
            }
        }
    );
    assert_eq!((err.scim_type(), err.status()), (Some("invalidPath"), 400));
}

#[test]
fn entra_capitalised_ops_are_recorded_per_operation() {
    let req = normalize_request(body(json!([
        {"op": "Add", "path": "nickName", "value": "Babs"},
        {"op": "replace", "path": "title", "value": "Tour Guide"},
        {"op": "Remove", "path": "locale"},
        {"op": "REPLACE", "path": "timezone", "value": "Europe/Berlin"}
    ])))
    .unwrap();
    assert_eq!(
        req.ops,
        vec![
            op(OpKind::Add, Some("nickName"), Some(json!("Babs"))),
            op(OpKind::Replace, Some("title"), Some(json!("Tour Guide"))),
            op(OpKind::Remove, Some("locale"), None),
            op(OpKind::Replace, Some("timezone"), Some(json!("Europe/Berlin"))),
        ]
    );
    assert_eq!(
        req.quirks,
        vec![
            Quirk::OpCase { index: 0, found: "Add".into() },
            Quirk::OpCase { index: 2, found: "Remove".into() },
            Quirk::OpCase { index: 3, found: "REPLACE".into() },
        ]
    );
}

#[test]
fn boolean_strings_become_booleans_only_where_booleans_belong() {
    let req = normalize_request(body(json!([
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:active", "value": "TRUE"},
        {"op": "replace", "path": "emails[type eq \"work\"].primary", "value": "true"},
        {"op": "add", "path": "emails", "value": [{"value": "a@x", "primary": "True"}, {"value": "b@x"}]},
        {"op": "replace", "path": "addresses[type eq \"work\"]", "value": {"type": "work", "Primary": "false"}},
        {"op": "replace", "path": "displayName", "value": "True"},
        {"op": "replace", "path": "active", "value": "yes"},
        {"op": "replace", "path": "active", "value": true}
    ])))
    .unwrap();
    let values: Vec<Value> = req.ops.iter().map(|o| o.value.clone().unwrap_or(Value::Null)).collect();
    assert_eq!(
        values,
        vec![
            json!(false),
            json!(true),
            json!(true),
            json!([{"value": "a@x", "primary": true}, {"value": "b@x"}]),
            json!({"type": "work", "Primary": false}),
            json!("True"),
            json!("yes"),
            json!(true),
        ]
    );
    let attr = |index: usize, attr: &str| Quirk::BooleanString { index, attr: attr.into() };
    assert_eq!(
        req.quirks,
        vec![
            Quirk::OpCase { index: 0, found: "Replace".into() },
            attr(0, "active"),
            attr(1, "urn:ietf:params:scim:schemas:core:2.0:User:active"),
            attr(2, "emails[type eq \"work\"].primary"),
            attr(3, "emails"),
            attr(4, "addresses[type eq \"work\"]"),
        ]
    );
    let pathless =
        one(json!({"op": "replace", "value": {"active": "False", "emails": [{"primary": "TRUE"}]}}));
    assert_eq!(pathless.ops[0].value, Some(json!({"active": false, "emails": [{"primary": true}]})));
    assert_eq!(pathless.quirks, vec![attr(0, "active"), attr(0, "emails.primary")]);
}

#[test]
fn pathless_dotted_and_qualified_keys_are_nested() {
    let req = one(json!({"op": "replace", "value": {
        "displayName": "Bjfe",
        "name.givenName": "Kkom",
        "name.familyName": "Unua",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Aklq",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value": "m-1",
        "urn:ietf:params:scim:schemas:core:2.0:User:userName": "bjfe@example.com"
    }}));
    assert_eq!(
        req.ops,
        vec![op(
            OpKind::Replace,
            None,
            Some(json!({
                "displayName": "Bjfe",
                "name": {"givenName": "Kkom", "familyName": "Unua"},
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                    "employeeNumber": "Aklq",
                    "manager": {"value": "m-1"}
                },
                "userName": "bjfe@example.com"
            }))
        )]
    );
    let nested = |key: &str| Quirk::NestedKey { index: 0, key: key.into() };
    assert_eq!(
        req.quirks,
        vec![
            nested("name.familyName"),
            nested("name.givenName"),
            nested("urn:ietf:params:scim:schemas:core:2.0:User:userName"),
            nested("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"),
            nested("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"),
        ]
    );
}

#[test]
fn pathless_objects_merge_but_duplicates_are_refused() {
    let merged = one(json!({"op": "add", "value": {
        "name": {"familyName": "Jensen"},
        "name.givenName": "Barbara",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Tours"},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter": "4130",
        "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User": {"tag": "701984"}
    }}));
    assert_eq!(
        merged.ops[0].value,
        Some(json!({
            "name": {"familyName": "Jensen", "givenName": "Barbara"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Tours", "costCenter": "4130"},
            "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User": {"tag": "701984"}
        }))
    );
    let twice = json!({"op": "add", "value": {"name": {"givenName": "A"}, "name.givenName": "B"}});
    assert_eq!(
        normalize_request(body(json!([twice]))),
        Err(PatchError::DuplicateKey { index: 0, key: "name.givenName".into() })
    );
    let case = json!({"op": "add", "value": {"nickName": "A", "NICKNAME": "B"}});
    assert_eq!(
        normalize_request(body(json!([case]))),
        Err(PatchError::DuplicateKey { index: 0, key: "nickName".into() })
    );
    let bad = normalize_request(body(json!([{"op": "add", "value": {"user name": "x"}}]))).unwrap_err();
    assert!(matches!(&bad, PatchError::InvalidPath { index: 0, path, .. } if path == "user name"), "{bad:?}");
    let ext =
        json!({"op": "add", "value": {"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": "x"}});
    assert_eq!(
        normalize_request(body(json!([ext]))),
        Err(PatchError::InvalidValue {
            index: 0,
            path: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".into(),
            reason: "an extension schema's attributes must be given as an object",
            found: "a string"
        })
    );
}

#[test]
fn manager_shapes_become_value_objects() {
    let manager = |path: &str, value: Value| one(json!({"op": "Add", "path": path, "value": value}));
    let ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager";
    let cases = [
        (manager("manager", json!("26118915-6090")), json!({"value": "26118915-6090"}), true),
        (
            manager(ent, json!([{"$ref": "../Users/m-1", "value": "m-1"}])),
            json!({"$ref": "../Users/m-1", "value": "m-1"}),
            true,
        ),
        (manager(ent, json!(["m-2"])), json!({"value": "m-2"}), true),
        (manager(ent, json!("")), Value::Null, true),
        (manager(ent, json!({"value": "", "$ref": null})), Value::Null, true),
        (manager(ent, json!([])), Value::Null, true),
        (
            manager(ent, json!({"value": "m-3", "displayName": "Jo"})),
            json!({"value": "m-3", "displayName": "Jo"}),
            false,
        ),
        (manager("manager.value", json!("m-4")), json!("m-4"), false),
    ];
    for (req, expected, quirk) in cases {
        assert_eq!(req.ops[0].value, Some(expected));
        assert_eq!(req.quirks.contains(&Quirk::ManagerShape { index: 0 }), quirk, "{req:?}");
    }
    let pathless = one(json!({"op": "replace", "value": {
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager": "m-5",
        "manager": ["m-6"]
    }}));
    assert_eq!(
        pathless.ops[0].value,
        Some(json!({
            "manager": {"value": "m-6"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "m-5"}}
        }))
    );
    assert_eq!(pathless.quirks.iter().filter(|q| **q == Quirk::ManagerShape { index: 0 }).count(), 2);
}

#[test]
fn passwords_are_dropped_and_reported_never_kept() {
    let secret = "1mz050nq";
    let req = normalize_request(body(json!([
        {"op": "replace", "path": "password", "value": secret},
        {"op": "replace", "value": {"password": secret, "active": true}},
        {"op": "replace", "value": {"PASSWORD": secret}},
        {"op": "replace", "value": {"urn:ietf:params:scim:schemas:core:2.0:User:password": secret}},
        {"op": "add", "path": "urn:ietf:params:scim:schemas:core:2.0:User:Password", "value": secret},
        {"op": "add", "path": "title", "value": "Guide"}
    ])))
    .unwrap();
    assert_eq!(
        req.ops,
        vec![
            op(OpKind::Replace, None, Some(json!({"active": true}))),
            op(OpKind::Add, Some("title"), Some(json!("Guide")))
        ]
    );
    let dropped: Vec<usize> = req
        .quirks
        .iter()
        .filter_map(|q| match q {
            Quirk::PasswordDropped { index } => Some(*index),
            _ => None,
        })
        .collect();
    assert_eq!(dropped, vec![0, 1, 2, 3, 4]);
    assert!(req.password_dropped());
    assert!(!format!("{req:?}").contains(secret));
    // An extension's own `password` attribute is not the core one and is left alone.
    let ext = one(json!({"op": "add", "path": "urn:example:ext:1.0:User:password", "value": "kept"}));
    assert!(!ext.password_dropped() && ext.ops.len() == 1);
}

#[test]
fn null_value_and_absent_value_stay_distinct() {
    let req = normalize_request(body(json!([
        {"op": "remove", "path": "members", "value": null},
        {"op": "remove", "path": "members"},
        {"op": "remove", "path": null}
    ])))
    .unwrap();
    assert_eq!(
        req.ops,
        vec![
            op(OpKind::Remove, Some("members"), Some(Value::Null)),
            op(OpKind::Remove, Some("members"), None),
            op(OpKind::Remove, None, None),
        ]
    );
}

#[test]
fn pathless_value_path_keys_become_operations_with_that_path() {
    let work = r#"emails[type eq "work"].value"#;
    let request = one(json!({"op": "Add", "value": {
        "nickName": "Babs",
        work: "ann@example.com",
        "phoneNumbers[type eq \"mobile\"].value": "+1 555",
        "addresses[type eq \"work\"].primary": "True"
    }}));
    assert_eq!(
        request.ops,
        vec![
            op(OpKind::Add, None, Some(json!({"nickName": "Babs"}))),
            op(OpKind::Add, Some(r#"addresses[type eq "work"].primary"#), Some(json!(true))),
            op(OpKind::Add, Some(work), Some(json!("ann@example.com"))),
            op(OpKind::Add, Some(r#"phoneNumbers[type eq "mobile"].value"#), Some(json!("+1 555"))),
        ]
    );
    assert!(request.quirks.contains(&Quirk::PathKey { index: 0, key: work.into() }));
    // Only value-path keys: no empty path-less operation is left.
    let only = one(json!({"op": "replace", "value": {work: "a@b.c"}}));
    assert_eq!(only.ops, vec![op(OpKind::Replace, Some(work), Some(json!("a@b.c")))]);
    // The same attribute as a plain key and as a value path: ambiguous, refused.
    let both = json!({"op": "replace", "value": {"Emails": [{"value": "x@y.z"}], work: "a@b.c"}});
    assert_eq!(
        normalize_request(body(json!([both]))),
        Err(PatchError::DuplicateKey { index: 0, key: "emails".into() })
    );
    let bad = normalize_request(body(json!([{"op": "add", "value": {"emails[type eq]": "x"}}]))).unwrap_err();
    assert!(
        matches!(&bad, PatchError::InvalidPath { index: 0, path, .. } if path == "emails[type eq]"),
        "{bad:?}"
    );
}
