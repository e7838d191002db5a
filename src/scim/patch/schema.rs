//! What `apply` needs to know about a resource type's schema, and the two built-in ones: the
//! core User with the enterprise extension (RFC 7643 §4.1, §4.3) and the core Group (§4.2).
//!
//! Attribute names match ASCII case-insensitively (RFC 7643 §2.1: "Attribute names are case
//! insensitive"). `resolve` turns a path as the client wrote it into the schema's spelling and
//! scope: a core-schema URN prefix is dropped (`urn:...:core:2.0:User:userName` is `userName`)
//! and an unqualified name that only an extension defines gets that extension's URN (Entra sends
//! `"path": "manager"`). Attributes a schema does not know are kept, as read-write, single-valued,
//! case-insensitive strings: "attributes the server does not model are kept and returned".

use std::fmt;

use super::super::filter::{AttrPath, CORE_SCHEMA_PREFIX};

/// The enterprise User extension (RFC 7643 §4.3).
pub const ENTERPRISE_USER_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Extension schemas whose URN is recognised as a key of a path-less value even when their
/// attributes are unknown. Other `urn:` keys are told apart from qualified attribute names by
/// shape; see `normalize`.
pub const KNOWN_EXTENSIONS: [&str; 1] = [ENTERPRISE_USER_URN];

/// RFC 7643 §2.2 `mutability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mutability {
    /// May not be modified (`id`, `meta`, `groups`).
    ReadOnly,
    /// May be updated and read.
    ReadWrite,
    /// May be set once, when it has no value.
    Immutable,
    /// May be set but never returned (`password`); this server does not store it at all.
    WriteOnly,
}

impl fmt::Display for Mutability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        })
    }
}

/// Schema facts `apply` consults. Paths passed to every method except `resolve` have already
/// been through `resolve`; a sub-attribute question is asked as `attr.sub`
/// (`emails.primary`, `urn:...:enterprise:2.0:User:manager.value`).
pub trait SchemaInfo {
    /// Whether the attribute is multi-valued (RFC 7643 §2.4).
    fn is_multi_valued(&self, path: &AttrPath) -> bool;
    /// Whether the attribute or sub-attribute is of type boolean.
    fn is_boolean(&self, path: &AttrPath) -> bool;
    /// Whether string comparisons on it are case-sensitive (RFC 7643 §2.2 `caseExact`).
    fn case_exact(&self, path: &AttrPath) -> bool;
    /// Its mutability (RFC 7643 §2.2).
    fn mutability(&self, path: &AttrPath) -> Mutability;
    /// Whether it is required, so that removing it is refused (RFC 7644 §3.5.2.2).
    fn is_required(&self, _path: &AttrPath) -> bool {
        false
    }
    /// Whether this is a Group's `members`, which the caller keeps outside the resource JSON:
    /// `apply` reports changes to it in `Applied::members` and never writes it.
    fn is_members(&self, _path: &AttrPath) -> bool {
        false
    }
    /// The path in the schema's own spelling and scope. The default only drops a core-schema
    /// URN prefix.
    fn resolve(&self, path: &AttrPath) -> AttrPath {
        let mut out = path.clone();
        if out.urn.as_deref().is_some_and(is_core_urn) {
            out.urn = None;
        }
        out
    }
}

/// Whether `urn` names a core schema (`urn:ietf:params:scim:schemas:core:...`), whose attributes
/// live at the top level of a resource.
pub fn is_core_urn(urn: &str) -> bool {
    urn.get(..CORE_SCHEMA_PREFIX.len()).is_some_and(|p| p.eq_ignore_ascii_case(CORE_SCHEMA_PREFIX))
}

/// The core User schema plus the enterprise extension.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserSchema;

/// The core Group schema; `members` is kept by the caller, outside the resource.
#[derive(Debug, Clone, Copy, Default)]
pub struct GroupSchema;

/// One attribute of a schema table.
struct Attr {
    name: &'static str,
    multi: bool,
    boolean: bool,
    case_exact: bool,
    mutability: Mutability,
    required: bool,
    subs: &'static [Sub],
}

/// One sub-attribute of a complex attribute.
struct Sub {
    name: &'static str,
    boolean: bool,
    case_exact: bool,
    mutability: Mutability,
}

const fn attr(name: &'static str) -> Attr {
    Attr {
        name,
        multi: false,
        boolean: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        required: false,
        subs: &[],
    }
}

const fn sub(name: &'static str) -> Sub {
    Sub { name, boolean: false, case_exact: false, mutability: Mutability::ReadWrite }
}

const fn read_only(mut a: Attr) -> Attr {
    a.mutability = Mutability::ReadOnly;
    a
}

const fn exact(mut a: Attr) -> Attr {
    a.case_exact = true;
    a
}

const fn multi(mut a: Attr, subs: &'static [Sub]) -> Attr {
    a.multi = true;
    a.subs = subs;
    a
}

const fn complex(mut a: Attr, subs: &'static [Sub]) -> Attr {
    a.subs = subs;
    a
}

const PRIMARY: Sub =
    Sub { name: "primary", boolean: true, case_exact: false, mutability: Mutability::ReadWrite };
const RO_DISPLAY: Sub =
    Sub { name: "display", boolean: false, case_exact: false, mutability: Mutability::ReadOnly };
/// `value`, `display`, `type`, `primary`: the sub-attributes of most multi-valued attributes.
const MULTI_SUBS: [Sub; 4] = [sub("value"), sub("display"), sub("type"), PRIMARY];
const EXACT_MULTI_SUBS: [Sub; 4] = [
    Sub { name: "value", boolean: false, case_exact: true, mutability: Mutability::ReadWrite },
    sub("display"),
    sub("type"),
    PRIMARY,
];
const NAME_SUBS: [Sub; 6] = [
    sub("formatted"),
    sub("familyName"),
    sub("givenName"),
    sub("middleName"),
    sub("honorificPrefix"),
    sub("honorificSuffix"),
];
const ADDRESS_SUBS: [Sub; 8] = [
    sub("formatted"),
    sub("streetAddress"),
    sub("locality"),
    sub("region"),
    sub("postalCode"),
    sub("country"),
    sub("type"),
    PRIMARY,
];
const RO: Mutability = Mutability::ReadOnly;
const GROUPS_SUBS: [Sub; 4] = [
    Sub { name: "value", boolean: false, case_exact: false, mutability: RO },
    Sub { name: "$ref", boolean: false, case_exact: false, mutability: RO },
    RO_DISPLAY,
    Sub { name: "type", boolean: false, case_exact: false, mutability: RO },
];
const META_SUBS: [Sub; 5] = [
    Sub { name: "resourceType", boolean: false, case_exact: true, mutability: RO },
    Sub { name: "created", boolean: false, case_exact: false, mutability: RO },
    Sub { name: "lastModified", boolean: false, case_exact: false, mutability: RO },
    Sub { name: "location", boolean: false, case_exact: true, mutability: RO },
    Sub { name: "version", boolean: false, case_exact: true, mutability: RO },
];
const MANAGER_SUBS: [Sub; 3] = [
    sub("value"),
    sub("$ref"),
    Sub { name: "displayName", boolean: false, case_exact: false, mutability: Mutability::ReadOnly },
];

/// Attributes every resource has (RFC 7643 §3.1), plus `schemas`.
const COMMON: [Attr; 4] = [
    read_only(exact(attr("id"))),
    exact(attr("externalId")),
    read_only(complex(attr("meta"), &META_SUBS)),
    read_only(exact(multi(attr("schemas"), &[]))),
];

const USER_CORE: [Attr; 21] = [
    Attr { required: true, ..attr("userName") },
    complex(attr("name"), &NAME_SUBS),
    attr("displayName"),
    attr("nickName"),
    attr("profileUrl"),
    attr("title"),
    attr("userType"),
    attr("preferredLanguage"),
    attr("locale"),
    attr("timezone"),
    Attr { boolean: true, ..attr("active") },
    Attr { mutability: Mutability::WriteOnly, case_exact: true, ..attr("password") },
    multi(attr("emails"), &MULTI_SUBS),
    multi(attr("phoneNumbers"), &MULTI_SUBS),
    multi(attr("ims"), &MULTI_SUBS),
    multi(attr("photos"), &MULTI_SUBS),
    multi(attr("addresses"), &ADDRESS_SUBS),
    read_only(multi(attr("groups"), &GROUPS_SUBS)),
    multi(attr("entitlements"), &MULTI_SUBS),
    multi(attr("roles"), &MULTI_SUBS),
    multi(attr("x509Certificates"), &EXACT_MULTI_SUBS),
];

const ENTERPRISE: [Attr; 6] = [
    attr("employeeNumber"),
    attr("costCenter"),
    attr("organization"),
    attr("division"),
    attr("department"),
    complex(attr("manager"), &MANAGER_SUBS),
];

const GROUP_SUBS: [Sub; 4] = [exact_sub("value"), exact_sub("$ref"), RO_DISPLAY, sub("type")];
const GROUP_CORE: [Attr; 2] =
    [Attr { required: true, ..attr("displayName") }, multi(attr("members"), &GROUP_SUBS)];

const fn exact_sub(name: &'static str) -> Sub {
    Sub { name, boolean: false, case_exact: true, mutability: Mutability::Immutable }
}

/// A resource type's attributes: core ones at the top level, then extensions by URN.
struct Table {
    core: &'static [&'static [Attr]],
    extensions: &'static [(&'static str, &'static [&'static [Attr]])],
}

const USER_TABLE: Table =
    Table { core: &[&COMMON, &USER_CORE], extensions: &[(ENTERPRISE_USER_URN, &[&ENTERPRISE])] };
const GROUP_TABLE: Table = Table { core: &[&COMMON, &GROUP_CORE], extensions: &[] };

impl Table {
    /// The attribute lists of schema `urn` (`None`: core), with the URN's canonical spelling.
    fn scope(&self, urn: Option<&str>) -> Option<(Option<&'static str>, &'static [&'static [Attr]])> {
        match urn {
            None => Some((None, self.core)),
            Some(urn) => {
                self.extensions.iter().find(|(u, _)| u.eq_ignore_ascii_case(urn)).map(|(u, a)| (Some(*u), *a))
            }
        }
    }

    /// The attribute (and sub-attribute) `path` names, if the table knows it.
    fn find(&self, path: &AttrPath) -> Option<(&'static Attr, Option<&'static Sub>)> {
        let (_, attrs) = self.scope(path.urn.as_deref())?;
        let attr = attrs.iter().flat_map(|a| a.iter()).find(|a| a.name.eq_ignore_ascii_case(&path.attr))?;
        match &path.sub_attr {
            None => Some((attr, None)),
            Some(s) => Some((attr, attr.subs.iter().find(|x| x.name.eq_ignore_ascii_case(s)))),
        }
    }

    fn resolve(&self, path: &AttrPath) -> AttrPath {
        let mut out = path.clone();
        if out.urn.as_deref().is_some_and(is_core_urn) {
            out.urn = None;
        }
        if out.urn.is_none() && self.find(&out).is_none() {
            // Not a core attribute: an extension attribute written without its URN, if exactly
            // one extension defines it. RFC 7644 §3.10: clients "MAY omit core schema attribute
            // URN prefixes but SHOULD fully qualify extended attributes"; Entra sends a bare
            // `manager`.
            let mut owners = self.extensions.iter().filter(|(_, lists)| {
                lists.iter().flat_map(|a| a.iter()).any(|a| a.name.eq_ignore_ascii_case(&out.attr))
            });
            if let (Some((urn, _)), None) = (owners.next(), owners.next()) {
                out.urn = Some((*urn).to_string());
            }
        }
        if let Some((canonical_urn, _)) = self.scope(out.urn.as_deref()) {
            out.urn = canonical_urn.map(str::to_string);
        }
        if let Some((attr, sub)) = self.find(&out) {
            out.attr = attr.name.to_string();
            if let Some(sub) = sub {
                out.sub_attr = Some(sub.name.to_string());
            }
        }
        out
    }

    fn is_multi_valued(&self, path: &AttrPath) -> bool {
        path.sub_attr.is_none() && self.find(path).is_some_and(|(a, _)| a.multi)
    }

    fn is_boolean(&self, path: &AttrPath) -> bool {
        match self.find(path) {
            Some((_, Some(sub))) => sub.boolean,
            Some((attr, None)) => path.sub_attr.is_none() && attr.boolean,
            None => false,
        }
    }

    fn case_exact(&self, path: &AttrPath) -> bool {
        match self.find(path) {
            Some((_, Some(sub))) => sub.case_exact,
            Some((attr, None)) => path.sub_attr.is_none() && attr.case_exact,
            None => false,
        }
    }

    fn mutability(&self, path: &AttrPath) -> Mutability {
        match self.find(path) {
            // A sub-attribute of a read-only attribute is read-only whatever it says.
            Some((attr, _)) if attr.mutability != Mutability::ReadWrite => attr.mutability,
            Some((_, Some(sub))) => sub.mutability,
            _ => Mutability::ReadWrite,
        }
    }

    fn is_required(&self, path: &AttrPath) -> bool {
        path.sub_attr.is_none() && self.find(path).is_some_and(|(a, _)| a.required)
    }
}

impl SchemaInfo for UserSchema {
    fn is_multi_valued(&self, path: &AttrPath) -> bool {
        USER_TABLE.is_multi_valued(path)
    }
    fn is_boolean(&self, path: &AttrPath) -> bool {
        USER_TABLE.is_boolean(path)
    }
    fn case_exact(&self, path: &AttrPath) -> bool {
        USER_TABLE.case_exact(path)
    }
    fn mutability(&self, path: &AttrPath) -> Mutability {
        USER_TABLE.mutability(path)
    }
    fn is_required(&self, path: &AttrPath) -> bool {
        USER_TABLE.is_required(path)
    }
    fn resolve(&self, path: &AttrPath) -> AttrPath {
        USER_TABLE.resolve(path)
    }
}

impl SchemaInfo for GroupSchema {
    fn is_multi_valued(&self, path: &AttrPath) -> bool {
        GROUP_TABLE.is_multi_valued(path)
    }
    fn is_boolean(&self, path: &AttrPath) -> bool {
        GROUP_TABLE.is_boolean(path)
    }
    fn case_exact(&self, path: &AttrPath) -> bool {
        GROUP_TABLE.case_exact(path)
    }
    fn mutability(&self, path: &AttrPath) -> Mutability {
        GROUP_TABLE.mutability(path)
    }
    fn is_required(&self, path: &AttrPath) -> bool {
        GROUP_TABLE.is_required(path)
    }
    fn is_members(&self, path: &AttrPath) -> bool {
        path.urn.is_none() && path.attr.eq_ignore_ascii_case("members")
    }
    fn resolve(&self, path: &AttrPath) -> AttrPath {
        GROUP_TABLE.resolve(path)
    }
}
