//! Tests of schema-driven rules: the built-in `UserSchema` and `GroupSchema` tables,
//! `SchemaInfo::resolve`, a caller's own `SchemaInfo`, and how `apply` enforces mutability,
//! required attributes, value types and all-or-nothing application.

use serde_json::{Value, json};

use super::support::{barbara, body, patch_user, run};
use crate::scim::filter::{AttrPath, parse_patch_path};
use crate::scim::patch::*;

fn p(text: &str) -> AttrPath {
    AttrPath::parse(text).unwrap()
}

#[test]
fn resolve_canonicalises_spelling_and_scope() {
    let u = UserSchema;
    assert_eq!(u.resolve(&p("USERNAME")), AttrPath::new("userName"));
    assert_eq!(u.resolve(&p("name.GIVENNAME")), AttrPath::new("name").with_sub("givenName"));
    assert_eq!(
        u.resolve(&p("urn:ietf:params:scim:schemas:core:2.0:User:emails.Primary")),
        AttrPath::new("emails").with_sub("primary")
    );
    // Entra's unqualified `manager` is the enterprise extension's.
    assert_eq!(u.resolve(&p("manager")), AttrPath::new("manager").with_urn(ENTERPRISE_USER_URN));
    let lower = p("urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:employeenumber");
    assert_eq!(u.resolve(&lower), AttrPath::new("employeeNumber").with_urn(ENTERPRISE_USER_URN));
    // Unknown attributes and extensions keep the client's spelling.
    assert_eq!(u.resolve(&p("favouriteColour")), AttrPath::new("favouriteColour"));
    assert_eq!(
        u.resolve(&p("urn:example:ext:1.0:User:x")),
        AttrPath::new("x").with_urn("urn:example:ext:1.0:User")
    );
    // A Group has no enterprise extension.
    assert_eq!(GroupSchema.resolve(&p("manager")), AttrPath::new("manager"));
    assert_eq!(GroupSchema.resolve(&p("DISPLAYNAME")), AttrPath::new("displayName"));
}

#[test]
fn user_attribute_facts() {
    let u = UserSchema;
    let r = |t: &str| u.resolve(&p(t));
    assert!(u.is_multi_valued(&r("emails")) && u.is_multi_valued(&r("x509Certificates")));
    assert!(!u.is_multi_valued(&r("emails.value")) && !u.is_multi_valued(&r("name")));
    assert!(
        u.is_boolean(&r("active"))
            && u.is_boolean(&r("emails.primary"))
            && u.is_boolean(&r("addresses.primary"))
    );
    assert!(!u.is_boolean(&r("active.x")) && !u.is_boolean(&r("emails")) && !u.is_boolean(&r("title")));
    assert!(
        u.case_exact(&r("id"))
            && u.case_exact(&r("externalId"))
            && u.case_exact(&r("x509Certificates.value"))
    );
    assert!(
        !u.case_exact(&r("emails.value")) && !u.case_exact(&r("userName")) && !u.case_exact(&r("unknown"))
    );
    assert_eq!(u.mutability(&r("id")), Mutability::ReadOnly);
    assert_eq!(u.mutability(&r("meta.created")), Mutability::ReadOnly);
    assert_eq!(u.mutability(&r("groups")), Mutability::ReadOnly);
    assert_eq!(u.mutability(&r("groups.display")), Mutability::ReadOnly);
    assert_eq!(u.mutability(&r("manager.displayName")), Mutability::ReadOnly);
    assert_eq!(u.mutability(&r("manager.value")), Mutability::ReadWrite);
    assert_eq!(u.mutability(&r("password")), Mutability::WriteOnly);
    assert_eq!(u.mutability(&r("unknownThing")), Mutability::ReadWrite);
    assert!(u.is_required(&r("userName")) && !u.is_required(&r("displayName")));
    assert!(!u.is_members(&r("members")));
}

#[test]
fn group_attribute_facts() {
    let g = GroupSchema;
    assert!(g.is_members(&AttrPath::new("members")) && g.is_members(&AttrPath::new("Members")));
    assert!(!g.is_members(&AttrPath::new("members").with_urn("urn:example:x")));
    assert!(g.is_multi_valued(&AttrPath::new("members")));
    assert!(g.is_required(&AttrPath::new("displayName")));
    assert_eq!(g.mutability(&AttrPath::new("id")), Mutability::ReadOnly);
    assert_eq!(g.mutability(&AttrPath::new("externalId")), Mutability::ReadWrite);
    assert!(!g.is_boolean(&AttrPath::new("active")));
    assert_eq!(Mutability::Immutable.to_string(), "immutable");
}

#[test]
fn read_only_attributes_are_refused() {
    let refused = |path: &str, op: OpKind, mutability| PatchError::Mutability {
        index: 0,
        op,
        path: path.into(),
        mutability,
    };
    let ro = Mutability::ReadOnly;
    let cases = [
        (json!({"op": "replace", "path": "id", "value": "other"}), refused("id", OpKind::Replace, ro)),
        (
            json!({"op": "replace", "path": "meta.created", "value": "2020-01-01T00:00:00Z"}),
            refused("meta.created", OpKind::Replace, ro),
        ),
        (json!({"op": "remove", "path": "meta"}), refused("meta", OpKind::Remove, ro)),
        (
            json!({"op": "add", "path": "groups", "value": [{"value": "g1"}]}),
            refused("groups", OpKind::Add, ro),
        ),
        (json!({"op": "remove", "path": "groups"}), refused("groups", OpKind::Remove, ro)),
        (
            json!({"op": "replace", "path": "manager.displayName", "value": "Jo"}),
            refused("manager.displayName", OpKind::Replace, ro),
        ),
        (json!({"op": "replace", "value": {"id": "other"}}), refused("id", OpKind::Replace, ro)),
    ];
    for (operation, expected) in cases {
        let err = patch_user(barbara(), json!([operation])).unwrap_err();
        assert_eq!((err.scim_type(), err.status()), (Some("mutability"), 400));
        assert_eq!(err, expected);
    }
}

#[test]
fn read_only_values_that_do_not_change_are_accepted() {
    let (out, applied) = run(
        &UserSchema,
        barbara(),
        body(json!([
            {"op": "replace", "path": "id", "value": "2819c223-7f76-453a-919d-413861904646"},
            {"op": "replace", "value": {"id": "2819c223-7f76-453a-919d-413861904646", "meta": {"resourceType": "User"}, "groups": []}}
        ])),
    )
    .unwrap();
    assert_eq!((out, applied.changed), (barbara(), false));
    // A path-less readOnly attribute the resource does not hold is skipped, not written.
    let out =
        patch_user(json!({"userName": "a"}), json!([{"op": "replace", "value": {"id": "x", "title": "T"}}]))
            .unwrap();
    assert_eq!(out, json!({"userName": "a", "title": "T"}));
}

#[test]
fn required_attributes_cannot_be_removed() {
    for operation in [
        json!({"op": "remove", "path": "userName"}),
        json!({"op": "replace", "path": "USERNAME", "value": null}),
        json!({"op": "replace", "value": {"userName": null}}),
    ] {
        let err = patch_user(barbara(), json!([operation.clone()])).unwrap_err();
        let path = operation["path"].as_str().unwrap_or("userName");
        assert_eq!(
            err,
            PatchError::Required {
                index: 0,
                op: OpKind::from_name(operation["op"].as_str().unwrap()).unwrap(),
                path: path.into()
            }
        );
        assert_eq!(err.scim_type(), Some("mutability"));
    }
}

#[test]
fn values_of_the_wrong_type_are_refused() {
    let err =
        patch_user(barbara(), json!([{"op": "replace", "path": "active", "value": "yes"}])).unwrap_err();
    assert_eq!(
        err,
        PatchError::InvalidValue {
            index: 0,
            path: "active".into(),
            reason: "must be a boolean",
            found: "a string"
        }
    );
    assert_eq!(err.scim_type(), Some("invalidValue"));
    let err = patch_user(
        barbara(),
        json!([{"op": "add", "path": "emails", "value": [{"value": "x@y", "primary": 1}]}]),
    )
    .unwrap_err();
    assert_eq!(
        err,
        PatchError::InvalidValue {
            index: 0,
            path: "emails.primary".into(),
            reason: "must be a boolean",
            found: "a number"
        }
    );
    let err = patch_user(barbara(), json!([{"op": "add", "value": "Babs"}])).unwrap_err();
    assert_eq!(err, PatchError::PathlessValueNotObject { index: 0, op: OpKind::Add, found: "a string" });
    let err = patch_user(barbara(), json!([{"op": "replace", "path": "title"}])).unwrap_err();
    assert_eq!(
        (err.clone(), err.scim_type()),
        (PatchError::MissingValue { index: 0, op: OpKind::Replace }, Some("invalidValue"))
    );
}

#[test]
fn remove_without_path_is_no_target() {
    let err = patch_user(barbara(), json!([{"op": "remove", "value": {"title": "x"}}])).unwrap_err();
    assert_eq!(
        (err.clone(), err.scim_type()),
        (PatchError::RemoveWithoutPath { index: 0 }, Some("noTarget"))
    );
}

#[test]
fn a_failing_operation_leaves_the_resource_untouched() {
    let mut resource = barbara();
    let request = normalize_request(body(json!([
        {"op": "replace", "path": "displayName", "value": "Changed"},
        {"op": "add", "path": "title", "value": "Changed"},
        {"op": "replace", "path": "id", "value": "other"}
    ])))
    .unwrap();
    let err = apply(&mut resource, &request.ops, &UserSchema).unwrap_err();
    assert_eq!(
        err,
        PatchError::Mutability {
            index: 2,
            op: OpKind::Replace,
            path: "id".into(),
            mutability: Mutability::ReadOnly
        }
    );
    assert_eq!(resource, barbara());
}

/// A caller's own schema: only the trait's required methods, and one immutable attribute.
struct BadgeSchema;

impl SchemaInfo for BadgeSchema {
    fn is_multi_valued(&self, path: &AttrPath) -> bool {
        path.attr == "tags" && path.sub_attr.is_none()
    }
    fn is_boolean(&self, _: &AttrPath) -> bool {
        false
    }
    fn case_exact(&self, _: &AttrPath) -> bool {
        true
    }
    fn mutability(&self, path: &AttrPath) -> Mutability {
        if path.attr == "serial" { Mutability::Immutable } else { Mutability::ReadWrite }
    }
}

#[test]
fn immutable_may_be_set_once_and_the_default_trait_methods_apply() {
    let ops = |list: Value| normalize_request(body(list)).unwrap().ops;
    let mut badge = json!({"tags": ["A"]});
    let add = ops(json!([
        {"op": "add", "path": "serial", "value": "S-1"},
        {"op": "add", "path": "tags", "value": ["a", "A"]},
        {"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:Badge:label", "value": "L"}
    ]));
    apply(&mut badge, &add, &BadgeSchema).unwrap();
    assert_eq!(badge, json!({"serial": "S-1", "tags": ["A", "a"], "label": "L"}));
    let same = ops(json!([{"op": "replace", "path": "serial", "value": "S-1"}]));
    assert_eq!(apply(&mut badge, &same, &BadgeSchema).map(|a| a.changed), Ok(false));
    let change = ops(json!([{"op": "replace", "path": "serial", "value": "S-2"}]));
    assert_eq!(
        apply(&mut badge, &change, &BadgeSchema),
        Err(PatchError::Mutability {
            index: 0,
            op: OpKind::Replace,
            path: "serial".into(),
            mutability: Mutability::Immutable
        })
    );
}

#[test]
fn passwords_that_bypass_normalisation_are_refused_and_resources_must_be_objects() {
    let op = PatchOp {
        op: OpKind::Replace,
        path: Some(parse_patch_path("password").unwrap()),
        value: Some(json!("x")),
    };
    let mut user = barbara();
    assert_eq!(
        apply(&mut user, &[op], &UserSchema),
        Err(PatchError::Mutability {
            index: 0,
            op: OpKind::Replace,
            path: "password".into(),
            mutability: Mutability::WriteOnly
        })
    );
    let mut not_object = json!(null);
    let err = apply(&mut not_object, &[], &UserSchema).unwrap_err();
    assert_eq!(
        (err.clone(), err.status(), err.scim_type()),
        (PatchError::ResourceNotObject { found: "null" }, 500, None)
    );
}
