//! Tests of Group `members` operations: what `MemberChanges` each shape yields, how operations
//! combine, and that the resource JSON is never touched.

use serde_json::{Value, json};

use super::support::{body, group, ids, patch_group_members, run};
use crate::scim::patch::*;

fn changes(add: &[&str], remove: &[&str]) -> MemberChanges {
    MemberChanges { add: ids(add), remove: ids(remove), ..MemberChanges::default() }
}

fn replaced(all: &[&str]) -> MemberChanges {
    MemberChanges { replace_all: Some(ids(all)), ..MemberChanges::default() }
}

fn removed_all() -> MemberChanges {
    MemberChanges { remove_all: true, ..MemberChanges::default() }
}

#[test]
fn rfc_examples() {
    // RFC 7644 §3.5.2.1: add one member (display and $ref are ignored).
    let add = json!([{"op": "add", "path": "members", "value": [{
        "display": "Babs Jensen",
        "$ref": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646",
        "value": "2819c223-7f76-453a-919d-413861904646"
    }]}]);
    assert_eq!(patch_group_members(add), Ok(changes(&["2819c223-7f76-453a-919d-413861904646"], &[])));
    // §3.5.2.2: remove one member; remove all members.
    let one = json!([{"op": "remove", "path": "members[value eq \"2819c223-7f76-453a-919d-413861904646\"]"}]);
    assert_eq!(patch_group_members(one), Ok(changes(&[], &["2819c223-7f76-453a-919d-413861904646"])));
    assert_eq!(patch_group_members(json!([{"op": "remove", "path": "members"}])), Ok(removed_all()));
    // §3.5.2.2: "replace all of the members of a group with a different members list".
    let swap = json!([
        {"op": "remove", "path": "members"},
        {"op": "add", "path": "members", "value": [
            {"display": "Babs Jensen", "value": "2819c223-7f76-453a-919d-413861904646"},
            {"display": "James Smith", "value": "08e1d05d-121c-4561-8b96-473d93df9210"}
        ]}
    ]);
    let both = ["2819c223-7f76-453a-919d-413861904646", "08e1d05d-121c-4561-8b96-473d93df9210"];
    assert_eq!(patch_group_members(swap), Ok(replaced(&both)));
    // §3.5.2.3: the same with one replace.
    let replace = json!([{"op": "replace", "path": "members", "value": [
        {"display": "Babs Jensen", "value": "2819c223-7f76-453a-919d-413861904646"},
        {"display": "James Smith", "value": "08e1d05d-121c-4561-8b96-473d93df9210"}
    ]}]);
    assert_eq!(patch_group_members(replace), Ok(replaced(&both)));
}

#[test]
fn removal_by_filter_accepts_or_lists_only_of_value_eq() {
    let or = json!([{"op": "remove", "path": "members[value eq \"a\" or Value eq \"b\" or value EQ \"c\"]"}]);
    assert_eq!(patch_group_members(or), Ok(changes(&[], &["a", "b", "c"])));
    for path in [
        "members[display eq \"Babs\"]",
        "members[value ne \"a\"]",
        "members[value eq \"a\" and type eq \"User\"]",
        "members[value sw \"a\"]",
        "members[value eq 1]",
    ] {
        let err = patch_group_members(json!([{"op": "remove", "path": path}])).unwrap_err();
        assert_eq!(
            err,
            PatchError::UnsupportedPath {
                index: 0,
                path: path.into(),
                reason: "a members filter must be value eq \"id\", optionally joined by or"
            }
        );
        assert_eq!(err.scim_type(), Some("invalidPath"));
    }
}

#[test]
fn entra_remove_with_value_removes_exactly_those_members_never_all() {
    let listed = json!([{"op": "Remove", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}]}]);
    assert_eq!(patch_group_members(listed), Ok(changes(&[], &["u1", "u2"])));
    for nobody in [json!([]), Value::Null] {
        assert_eq!(
            patch_group_members(json!([{"op": "remove", "path": "members", "value": nobody}])),
            Ok(MemberChanges::default())
        );
    }
    // One object, or bare ids, are read leniently.
    assert_eq!(
        patch_group_members(json!([{"op": "remove", "path": "members", "value": {"value": "u3"}}])),
        Ok(changes(&[], &["u3"]))
    );
    assert_eq!(
        patch_group_members(json!([{"op": "add", "path": "members", "value": ["u4", "u5"]}])),
        Ok(changes(&["u4", "u5"], &[]))
    );
}

#[test]
fn operations_combine_in_order() {
    let ops = json!([
        {"op": "add", "path": "members", "value": [{"value": "a"}, {"value": "b"}, {"value": "a"}]},
        {"op": "remove", "path": "members[value eq \"b\" or value eq \"c\"]"},
        {"op": "remove", "path": "members", "value": [{"value": "d"}]},
        {"op": "add", "path": "members", "value": [{"value": "d"}, {"value": "e"}]}
    ]);
    assert_eq!(patch_group_members(ops), Ok(changes(&["a", "d", "e"], &["b", "c"])));
    let after_replace = json!([
        {"op": "replace", "path": "members", "value": [{"value": "a"}, {"value": "b"}]},
        {"op": "remove", "path": "members[value eq \"a\"]"},
        {"op": "add", "path": "members", "value": [{"value": "c"}]}
    ]);
    assert_eq!(patch_group_members(after_replace), Ok(replaced(&["b", "c"])));
    let emptied = json!([
        {"op": "replace", "path": "members", "value": [{"value": "a"}]},
        {"op": "remove", "path": "members[value eq \"a\"]"}
    ]);
    assert_eq!(patch_group_members(emptied), Ok(removed_all()));
    assert_eq!(
        patch_group_members(json!([{"op": "replace", "path": "members", "value": []}])),
        Ok(removed_all())
    );
    assert_eq!(
        patch_group_members(
            json!([{"op": "add", "path": "members", "value": [{"value": "x"}]}, {"op": "remove", "path": "members"}])
        ),
        Ok(removed_all())
    );
}

#[test]
fn pathless_members_replace_all_and_its_absence_touches_nothing() {
    // Okta Group Push shape: path-less replace carrying id, displayName and members.
    let push = body(json!([{"op": "replace", "value": {
        "id": "abf4dd94-a4c0-4f67-89c9-76b03340cb9b",
        "displayName": "Test SCIMv2",
        "members": [{"value": "23a35c27", "display": "test.user@okta.local"}, {"value": "89bb1940"}]
    }}]));
    let (resource, applied) = run(&GroupSchema, group(), push).unwrap();
    let mut expected = group();
    expected["displayName"] = json!("Test SCIMv2");
    assert_eq!(resource, expected);
    assert_eq!(applied, Applied { changed: true, members: replaced(&["23a35c27", "89bb1940"]) });
    // A path-less replace without `members` must not empty the group.
    let rename = body(json!([{"op": "replace", "value": {"displayName": "Renamed"}}]));
    let (_, applied) = run(&GroupSchema, group(), rename).unwrap();
    assert!(applied.members.is_empty());
    let add = body(json!([{"op": "add", "value": {"members": [{"value": "n1"}]}}]));
    assert_eq!(run(&GroupSchema, group(), add).map(|(_, a)| a.members), Ok(changes(&["n1"], &[])));
}

#[test]
fn invalid_member_operations() {
    let invalid =
        |reason, found| PatchError::InvalidValue { index: 0, path: "members".into(), reason, found };
    assert_eq!(
        patch_group_members(json!([{"op": "add", "path": "members", "value": [{"display": "no id"}]}])),
        Err(invalid("each member needs a \"value\" holding its id", "an object without \"value\""))
    );
    assert_eq!(
        patch_group_members(json!([{"op": "add", "path": "members", "value": [{"value": 42}]}])),
        Err(invalid("a member's \"value\" must be a non-empty id string", "a number"))
    );
    assert_eq!(
        patch_group_members(json!([{"op": "replace", "path": "members", "value": [{"value": ""}]}])),
        Err(invalid("a member's \"value\" must be a non-empty id string", "a string"))
    );
    assert_eq!(
        patch_group_members(json!([{"op": "add", "path": "members"}])),
        Err(PatchError::MissingValue { index: 0, op: OpKind::Add })
    );
    let unsupported =
        |path: &str, reason| PatchError::UnsupportedPath { index: 0, path: path.into(), reason };
    assert_eq!(
        patch_group_members(
            json!([{"op": "add", "path": "members[value eq \"a\"]", "value": [{"value": "a"}]}])
        ),
        Err(unsupported(
            "members[value eq \"a\"]",
            "add and replace take the path members, without a filter"
        ))
    );
    assert_eq!(
        patch_group_members(json!([{"op": "remove", "path": "members[value eq \"a\"].display"}])),
        Err(unsupported(
            "members[value eq \"a\"].display",
            "members have no sub-attribute to change; use members or members[value eq \"id\"]"
        ))
    );
}

#[test]
fn ten_thousand_members_in_one_operation() {
    let members: Vec<Value> = (0..10_000).map(|i| json!({"value": format!("user-{i:05}")})).collect();
    let changes = patch_group_members(json!([{"op": "add", "path": "members", "value": members}])).unwrap();
    assert_eq!(changes.add.len(), 10_000);
    assert_eq!((changes.add[0].as_str(), changes.add[9_999].as_str()), ("user-00000", "user-09999"));
    let filter = (0..300).map(|i| format!("value eq \"user-{i:05}\"")).collect::<Vec<_>>().join(" or ");
    let err =
        patch_group_members(json!([{"op": "remove", "path": format!("members[{filter}]")}])).unwrap_err();
    // The PATCH path grammar bounds a path to 4 KiB and 256 comparisons; IdPs send one id per filter.
    assert!(matches!(err, PatchError::InvalidPath { .. }), "{err:?}");
}

#[test]
fn users_have_no_special_members() {
    let out = run(
        &UserSchema,
        json!({"userName": "a"}),
        body(json!([{"op": "add", "path": "members", "value": [{"value": "x"}]}])),
    )
    .unwrap();
    assert_eq!(
        out,
        (
            json!({"userName": "a", "members": [{"value": "x"}]}),
            Applied { changed: true, members: MemberChanges::default() }
        )
    );
}
