//! End-to-end tests: every example filter of RFC 7644 §3.4.2.2 parsed to its exact tree,
//! printed back, and evaluated against two users; then the probes Entra ID and Okta send.

use serde_json::{Value, json};

use super::*;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

fn path(text: &str) -> AttrPath {
    match text.split_once('.') {
        Some((attr, sub)) => AttrPath::new(attr).with_sub(sub),
        None => AttrPath::new(text),
    }
}

fn cmp(attr: &str, op: CompareOp, value: &str) -> Filter {
    Filter::Compare { path: path(attr), op, value: CompValue::String(value.into()) }
}

fn pr(attr: &str) -> Filter {
    Filter::Present(path(attr))
}

fn and(l: Filter, r: Filter) -> Filter {
    Filter::And(Box::new(l), Box::new(r))
}

fn or(l: Filter, r: Filter) -> Filter {
    Filter::Or(Box::new(l), Box::new(r))
}

fn value_path(attr: &str, filter: Filter) -> Filter {
    Filter::ValuePath { path: path(attr), filter: Box::new(filter) }
}

/// RFC 7643 §8.2-style user: an Employee with a title, a work address at example.com.
fn bjensen() -> Value {
    json!({
        "schemas": [CORE_USER, ENTERPRISE],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "bjensen",
        "userName": "bjensen",
        "name": {"familyName": "Jensen", "givenName": "Barbara"},
        "title": "Tour Guide",
        "userType": "Employee",
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "ims": [{"value": "someaimhandle", "type": "aim"}],
        "meta": {"lastModified": "2011-08-01T18:29:49.793Z"},
        ENTERPRISE: {"employeeNumber": "701984"}
    })
}

/// An Intern without a title, last modified exactly at the RFC's timestamp.
fn jomalley() -> Value {
    json!({
        "schemas": [CORE_USER],
        "userName": "JOMalley",
        "name": {"familyName": "O'Malley"},
        "userType": "Intern",
        "emails": [{"value": "jo@example.net", "type": "work"}],
        "ims": [{"value": "jo@foo.com", "type": "xmpp"}],
        "meta": {"lastModified": "2011-05-13T04:42:34Z"}
    })
}

/// RFC 7643 §4.1: `id` and `externalId` are caseExact; the other attributes used here are not.
fn case_exact(path: &AttrPath) -> bool {
    path.urn.is_none() && path.sub_attr.is_none() && ["id", "externalId"].contains(&path.attr.as_str())
}

/// Parses `text`, checks the tree, checks `Display` gives `canonical`, and returns whether it
/// matches (bjensen, jomalley).
fn check(text: &str, tree: Filter, canonical: &str) -> (bool, bool) {
    let parsed = parse_filter(text).unwrap();
    assert_eq!(parsed, tree, "{text}");
    assert_eq!(parsed.to_string(), canonical, "{text}");
    assert_eq!(parse_filter(canonical).unwrap(), parsed, "{canonical}");
    (matches(&parsed, &bjensen(), &case_exact), matches(&parsed, &jomalley(), &case_exact))
}

fn same(text: &str, tree: Filter) -> (bool, bool) {
    check(text, tree, text)
}

#[test]
fn rfc_7644_attribute_examples() {
    use CompareOp::*;
    assert_eq!(same(r#"userName eq "bjensen""#, cmp("userName", Eq, "bjensen")), (true, false));
    assert_eq!(
        same(r#"name.familyName co "O'Malley""#, cmp("name.familyName", Co, "O'Malley")),
        (false, true)
    );
    assert_eq!(same(r#"userName sw "J""#, cmp("userName", Sw, "J")), (false, true));
    let core = Filter::Compare {
        path: AttrPath::new("userName").with_urn(CORE_USER),
        op: Sw,
        value: CompValue::String("J".into()),
    };
    assert_eq!(same(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#, core), (false, true));
    assert_eq!(same("title pr", pr("title")), (true, false));
    let at = "2011-05-13T04:42:34Z";
    let when = |op| cmp("meta.lastModified", op, at);
    assert_eq!(same(r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, when(Gt)), (true, false));
    assert_eq!(same(r#"meta.lastModified ge "2011-05-13T04:42:34Z""#, when(Ge)), (true, true));
    assert_eq!(same(r#"meta.lastModified lt "2011-05-13T04:42:34Z""#, when(Lt)), (false, false));
    assert_eq!(same(r#"meta.lastModified le "2011-05-13T04:42:34Z""#, when(Le)), (false, true));
}

#[test]
fn rfc_7644_logical_examples() {
    use CompareOp::*;
    let tree = and(pr("title"), cmp("userType", Eq, "Employee"));
    assert_eq!(same(r#"title pr and userType eq "Employee""#, tree), (true, false));
    let tree = or(pr("title"), cmp("userType", Eq, "Intern"));
    assert_eq!(same(r#"title pr or userType eq "Intern""#, tree), (true, true));
    let tree = cmp("schemas", Eq, ENTERPRISE);
    let text = r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#;
    assert_eq!(same(text, tree), (true, false));
    let emails = || or(cmp("emails", Co, "example.com"), cmp("emails.value", Co, "example.org"));
    let text = r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#;
    assert_eq!(same(text, and(cmp("userType", Eq, "Employee"), emails())), (true, false));
    let text = r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#;
    let tree = and(cmp("userType", Ne, "Employee"), Filter::Not(Box::new(emails())));
    assert_eq!(same(text, tree), (false, true));
    let text = r#"userType eq "Employee" and (emails.type eq "work")"#;
    let tree = and(cmp("userType", Eq, "Employee"), cmp("emails.type", Eq, "work"));
    assert_eq!(check(text, tree, r#"userType eq "Employee" and emails.type eq "work""#), (true, false));
}

#[test]
fn rfc_7644_value_path_examples() {
    use CompareOp::*;
    let work = || and(cmp("type", Eq, "work"), cmp("value", Co, "@example.com"));
    let text = r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#;
    let tree = and(cmp("userType", Eq, "Employee"), value_path("emails", work()));
    assert_eq!(same(text, tree), (true, false));
    let text = r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#;
    let xmpp = and(cmp("type", Eq, "xmpp"), cmp("value", Co, "@foo.com"));
    let tree = or(value_path("emails", work()), value_path("ims", xmpp));
    assert_eq!(same(text, tree), (true, true));
}

#[test]
fn value_path_conditions_hold_for_one_element_not_across_elements() {
    let same_element = parse_filter(r#"emails[type eq "home" and value co "example.com"]"#).unwrap();
    let any_elements = parse_filter(r#"emails.type eq "home" and emails.value co "example.com""#).unwrap();
    assert!(!matches(&same_element, &bjensen(), &case_exact));
    assert!(matches(&any_elements, &bjensen(), &case_exact));
}

#[test]
fn entra_id_probes() {
    let guid = "a6f8e1d2-3b4c-4d5e-8f90-1a2b3c4d5e6f";
    assert_eq!(parse_filter(&format!("userName eq \"{guid}\"")), Ok(cmp("userName", CompareOp::Eq, guid)));
    assert_eq!(
        parse_filter(&format!("externalId eq \"{guid}\"")),
        Ok(cmp("externalId", CompareOp::Eq, guid))
    );
    let group = parse_filter(r#"displayName eq "Group Name""#).unwrap();
    assert_eq!(group, cmp("displayName", CompareOp::Eq, "Group Name"));
    assert!(matches(&group, &json!({"displayName": "group name"}), &case_exact));
    // Entra capitalises operators now and then.
    assert_eq!(
        parse_filter(r#"userName Eq "AdeleV@contoso.com""#),
        Ok(cmp("userName", CompareOp::Eq, "AdeleV@contoso.com"))
    );
    // userName is not caseExact; externalId is (RFC 7643 §4.1).
    let by_user = parse_filter(r#"userName eq "BJENSEN""#).unwrap();
    let by_ext = parse_filter(r#"externalId eq "BJENSEN""#).unwrap();
    assert!(matches(&by_user, &bjensen(), &case_exact));
    assert!(!matches(&by_ext, &bjensen(), &case_exact));
    let patch = parse_patch_path(r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#).unwrap();
    assert_eq!(patch.filter, Some(cmp("value", CompareOp::Eq, "2819c223-7f76-453a-919d-413861904646")));
    let manager = parse_patch_path(&format!("{ENTERPRISE}:manager")).unwrap();
    assert_eq!(manager.attr, AttrPath::new("manager").with_urn(ENTERPRISE));
    // Entra's matching attribute when it is the work email: the work email's value, not any.
    let by_work = parse_filter(r#"emails[type eq "work"].value eq "Ann@Acme.test""#).unwrap();
    let work = json!({"emails": [{"type": "home", "value": "x@home.test"}, {"type": "work", "value": "ann@acme.test"}]});
    let home = json!({"emails": [{"type": "home", "value": "ann@acme.test"}, {"type": "work", "value": "x@acme.test"}]});
    assert!(matches(&by_work, &work, &case_exact), "emails.value is not caseExact");
    assert!(!matches(&by_work, &home, &case_exact), "the home email does not count");
    assert!(!matches(&by_work, &json!({"emails": []}), &case_exact));
    let not = parse_filter(r#"not (emails[type eq "work"].value eq "ann@acme.test")"#).unwrap();
    assert!(!matches(&not, &work, &case_exact) && matches(&not, &home, &case_exact));
}

#[test]
fn entra_value_path_with_sub_attribute() {
    // Entra's `valuePath.subAttr op value`: the element that matches the value filter has
    // the sub-attribute compared (the tree of `emails[type eq "work" and value eq "x"]`).
    let work = cmp("type", CompareOp::Eq, "work");
    let value_x = cmp("value", CompareOp::Eq, "x");
    let entra = Filter::ValuePath {
        path: AttrPath::new("emails"),
        filter: Box::new(Filter::And(Box::new(work), Box::new(value_x))),
    };
    assert_eq!(parse_filter(r#"emails[type eq "work"].value eq "x""#), Ok(entra.clone()));
    assert_eq!(parse_filter(r#"emails[type eq "work"] . value Eq "x""#), Ok(entra.clone()));
    assert_eq!(parse_filter(&entra.to_string()), Ok(entra));
    let or = parse_filter(r#"emails[type eq "work"].value pr or userName eq "a""#).unwrap();
    assert_eq!(or.to_string(), r#"emails[type eq "work" and value pr] or userName eq "a""#);
    let grouped = parse_filter(r#"emails[type eq "work" or primary eq true].value sw "a""#).unwrap();
    assert_eq!(grouped.to_string(), r#"emails[(type eq "work" or primary eq true) and value sw "a"]"#);
    assert!(matches!(
        parse_filter(r#"emails[type eq "work"].value.x eq "x""#),
        Err(FilterError::InvalidAttrPath { pos: 23, .. })
    ));
    assert!(matches!(
        parse_filter(r#"emails[type eq "work"]. eq "x""#),
        Err(FilterError::Unexpected { pos: 24, .. })
    ));
    assert!(matches!(
        parse_filter(r#"emails[type eq "work"].value"#),
        Err(FilterError::Unexpected { pos: 28, .. })
    ));
}

#[test]
fn okta_probes() {
    let filter = parse_filter(r#"userName eq "x@y.com""#).unwrap();
    assert_eq!(filter, cmp("userName", CompareOp::Eq, "x@y.com"));
    assert!(matches(&filter, &json!({"userName": "X@Y.com"}), &case_exact));
    assert!(!matches(&filter, &json!({"userName": "x@y.co"}), &case_exact));
    let group = parse_filter(r#"displayName eq "Engineering""#).unwrap();
    assert_eq!(group, cmp("displayName", CompareOp::Eq, "Engineering"));
}

#[test]
fn errors_map_to_scim_types() {
    let err = parse_filter(r#"userName eq "x"#).unwrap_err();
    assert_eq!(err, FilterError::UnterminatedString { pos: 12 });
    assert_eq!(err.scim_type(Grammar::Filter), "invalidFilter");
    let err = parse_patch_path("emails[type eq]").unwrap_err();
    assert_eq!(err, FilterError::MissingValue { pos: 14, op: CompareOp::Eq, found: "']'".into() });
    assert_eq!(err.scim_type(Grammar::PatchPath), "invalidPath");
}
