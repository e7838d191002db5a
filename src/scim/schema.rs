//! What the server implements, as data: the attribute definitions of the
//! core User (with the enterprise extension) and Group schemas (used for
//! caseExact in filters and for /Schemas), /ServiceProviderConfig and /ResourceTypes.

use serde_json::{Value, json};

use super::filter::AttrPath;

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// Largest page; also the advertised filter maxResults.
pub const MAX_RESULTS: i64 = 1000;
/// The page size when a list names no `count` (both paging methods).
pub const DEFAULT_PAGE_SIZE: i64 = 100;
/// Bulk limits advertised in /ServiceProviderConfig.
pub const BULK_MAX_OPERATIONS: usize = 1000;

#[derive(Clone, Copy)]
pub struct Attr {
    pub name: &'static str,
    pub ty: &'static str,
    pub multi: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: &'static str,
    pub returned: &'static str,
    pub uniqueness: &'static str,
    pub sub: &'static [Attr],
    /// referenceTypes of a reference attribute.
    pub refs: &'static [&'static str],
}

const fn a(name: &'static str, ty: &'static str) -> Attr {
    Attr {
        name,
        ty,
        multi: false,
        required: false,
        case_exact: false,
        mutability: "readWrite",
        returned: "default",
        uniqueness: "none",
        sub: &[],
        refs: &["external"],
    }
}

const fn multi(name: &'static str, sub: &'static [Attr]) -> Attr {
    Attr { multi: true, sub, ..a(name, "complex") }
}

const fn complex(name: &'static str, sub: &'static [Attr]) -> Attr {
    Attr { sub, ..a(name, "complex") }
}

/// value, display, type, primary: the usual sub-attributes of multi-valued attributes.
const MV: &[Attr] =
    &[a("value", "string"), a("display", "string"), a("type", "string"), a("primary", "boolean")];

const NAME: &[Attr] = &[
    a("formatted", "string"),
    a("familyName", "string"),
    a("givenName", "string"),
    a("middleName", "string"),
    a("honorificPrefix", "string"),
    a("honorificSuffix", "string"),
];

const ADDRESS: &[Attr] = &[
    a("formatted", "string"),
    a("streetAddress", "string"),
    a("locality", "string"),
    a("region", "string"),
    a("postalCode", "string"),
    a("country", "string"),
    a("type", "string"),
    a("primary", "boolean"),
];

const GROUP_REF: &[Attr] = &[
    Attr { mutability: "readOnly", ..a("value", "string") },
    Attr { mutability: "readOnly", refs: &["Group"], ..a("$ref", "reference") },
    Attr { mutability: "readOnly", ..a("display", "string") },
    Attr { mutability: "readOnly", ..a("type", "string") },
];

pub const USER_ATTRS: &[Attr] = &[
    Attr { required: true, uniqueness: "server", ..a("userName", "string") },
    complex("name", NAME),
    a("displayName", "string"),
    a("nickName", "string"),
    Attr { case_exact: true, ..a("profileUrl", "reference") },
    a("title", "string"),
    a("userType", "string"),
    a("preferredLanguage", "string"),
    a("locale", "string"),
    a("timezone", "string"),
    a("active", "boolean"),
    Attr { mutability: "writeOnly", returned: "never", ..a("password", "string") },
    multi("emails", MV),
    multi("phoneNumbers", MV),
    multi("ims", MV),
    multi("photos", MV),
    multi("addresses", ADDRESS),
    Attr { mutability: "readOnly", ..multi("groups", GROUP_REF) },
    multi("entitlements", MV),
    multi("roles", MV),
    multi("x509Certificates", MV),
];

const MANAGER: &[Attr] = &[
    Attr { case_exact: true, ..a("value", "string") },
    Attr { refs: &["User"], ..a("$ref", "reference") },
    Attr { mutability: "readOnly", ..a("displayName", "string") },
];

pub const ENTERPRISE_ATTRS: &[Attr] = &[
    a("employeeNumber", "string"),
    a("costCenter", "string"),
    a("organization", "string"),
    a("division", "string"),
    a("department", "string"),
    complex("manager", MANAGER),
];

const MEMBER: &[Attr] = &[
    Attr { mutability: "immutable", case_exact: true, ..a("value", "string") },
    Attr { mutability: "immutable", refs: &["User"], ..a("$ref", "reference") },
    Attr { mutability: "immutable", ..a("display", "string") },
    Attr { mutability: "immutable", ..a("type", "string") },
];

pub const GROUP_ATTRS: &[Attr] =
    &[Attr { required: true, uniqueness: "server", ..a("displayName", "string") }, multi("members", MEMBER)];

/// Which resource a path is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    User,
    Group,
}

fn find<'a>(attrs: &'a [Attr], name: &str) -> Option<&'a Attr> {
    attrs.iter().find(|x| x.name.eq_ignore_ascii_case(name))
}

/// The definition a path names, if any (common attributes id/externalId/meta included).
pub fn lookup(kind: Kind, path: &AttrPath) -> Option<Attr> {
    const COMMON: &[Attr] = &[
        Attr { case_exact: true, mutability: "readOnly", returned: "always", ..a("id", "string") },
        Attr { case_exact: true, ..a("externalId", "string") },
    ];
    let urn = path.urn.as_deref().unwrap_or("");
    let top = if urn.eq_ignore_ascii_case(ENTERPRISE_SCHEMA) {
        find(ENTERPRISE_ATTRS, &path.attr)
    } else {
        let base = if kind == Kind::User { USER_ATTRS } else { GROUP_ATTRS };
        find(base, &path.attr).or_else(|| find(COMMON, &path.attr))
    };
    let top = top.copied()?;
    match &path.sub_attr {
        None => Some(top),
        Some(sub) => find(top.sub, sub).copied(),
    }
}

/// caseExact of a path (RFC 7643 §2.2 default false for unknown attributes;
/// meta dates compare as strings).
pub fn case_exact(kind: Kind, path: &AttrPath) -> bool {
    if path.attr.eq_ignore_ascii_case("meta") {
        return true;
    }
    lookup(kind, path).map(|x| x.case_exact).unwrap_or(false)
}

fn attr_json(x: &Attr) -> Value {
    let mut v = json!({
        "name": x.name, "type": x.ty, "multiValued": x.multi, "description": "",
        "required": x.required, "caseExact": x.case_exact, "mutability": x.mutability,
        "returned": x.returned, "uniqueness": x.uniqueness,
    });
    if !x.sub.is_empty() {
        v["subAttributes"] = Value::Array(x.sub.iter().map(attr_json).collect());
    }
    if x.ty == "reference" {
        v["referenceTypes"] = json!(x.refs);
    }
    v
}

fn schema_json(base: &str, id: &str, name: &str, attrs: &[Attr]) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": id, "name": name, "description": format!("{name} schema"),
        "attributes": attrs.iter().map(attr_json).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{id}")},
    })
}

pub fn schemas(base: &str) -> Vec<Value> {
    vec![
        schema_json(base, USER_SCHEMA, "User", USER_ATTRS),
        schema_json(base, ENTERPRISE_SCHEMA, "EnterpriseUser", ENTERPRISE_ATTRS),
        schema_json(base, GROUP_SCHEMA, "Group", GROUP_ATTRS),
    ]
}

pub fn resource_types(base: &str) -> Vec<Value> {
    let rt = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
    vec![
        json!({"schemas": [rt], "id": "User", "name": "User", "endpoint": "/Users", "description": "User Account",
               "schema": USER_SCHEMA,
               "schemaExtensions": [{"schema": ENTERPRISE_SCHEMA, "required": false}],
               "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")}}),
        json!({"schemas": [rt], "id": "Group", "name": "Group", "endpoint": "/Groups", "description": "Group",
               "schema": GROUP_SCHEMA, "schemaExtensions": [],
               "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group")}}),
    ]
}

pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/idbridge/idbridge/blob/main/docs/scim.md",
        "patch": {"supported": true},
        "bulk": {"supported": true, "maxOperations": BULK_MAX_OPERATIONS, "maxPayloadSize": super::auth::MAX_BODY},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        // RFC 9865 §4. Index paging stays the default: clients written for
        // RFC 7644 send neither parameter and expect index pages (§2.4).
        "pagination": {
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": DEFAULT_PAGE_SIZE,
            "maxPageSize": MAX_RESULTS,
            "cursorTimeout": super::cursor::CURSOR_TIMEOUT_SECS,
        },
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken", "name": "OAuth Bearer Token", "primary": true,
            "description": "A per-organization bearer token issued by the idbridge operator",
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_exactness_follows_rfc_7643() {
        assert!(!case_exact(Kind::User, &AttrPath::new("userName")));
        assert!(case_exact(Kind::User, &AttrPath::new("externalId")));
        assert!(case_exact(Kind::User, &AttrPath::new("id")));
        assert!(!case_exact(Kind::User, &AttrPath::new("emails").with_sub("value")));
        assert!(!case_exact(Kind::Group, &AttrPath::new("displayName")));
        assert!(case_exact(Kind::Group, &AttrPath::new("members").with_sub("value")));
        assert!(lookup(Kind::User, &AttrPath::new("groups")).is_some_and(|x| x.mutability == "readOnly"));
        let mgr = AttrPath::new("manager").with_sub("value").with_urn(ENTERPRISE_SCHEMA);
        assert!(case_exact(Kind::User, &mgr));
    }
}
