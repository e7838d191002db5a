//! Path-less values whose keys are value paths. Entra's provisioning service sends a path-less
//! `Replace` whose value object mixes plain, dotted and schema-qualified keys with whole value
//! paths: `{"name.givenName": "Ann", "emails[type eq \"work\"].value": "ann@example.com"}`.
//! Dotted and qualified keys are nested (normalize.rs); a value-path key cannot be, so it
//! becomes an operation of its own with the key as its path, and is applied exactly like one.

use serde_json::{Map, Value};

use super::super::filter::{PatchPath, parse_patch_path};
use super::error::PatchError;
use super::json::find_key;
use super::normalize::{fix_path_value, is_password};
use super::request::{OpKind, PatchOp, Quirk};
use super::schema::is_core_urn;

/// Entra's path-less `replace`/`add` whose value has a key that is a whole value path,
/// `{"emails[type eq \"work\"].value": "ann@example.com", "name.givenName": "Ann"}`. RFC 7644
/// §3.5.2.1/§3.5.2.3 read a path-less value as "a set of attributes", each applied as if it
/// were the path; a value-path key cannot be nested into an object like a dotted one, so it
/// becomes an operation of its own with that path. Returns the other keys and those operations.
pub(super) fn split_value_paths(
    index: usize,
    op: OpKind,
    map: Map<String, Value>,
    quirks: &mut Vec<Quirk>,
) -> Result<(Map<String, Value>, Vec<PatchOp>), PatchError> {
    let mut rest = Map::new();
    let mut ops = Vec::new();
    for (key, mut value) in map {
        if !key.contains('[') {
            rest.insert(key, value);
            continue;
        }
        let path = parse_patch_path(&key).map_err(|source| PatchError::InvalidPath {
            index,
            path: key.clone(),
            source,
        })?;
        if is_password(&path.attr) {
            quirks.push(Quirk::PasswordDropped { index });
            continue;
        }
        quirks.push(Quirk::PathKey { index, key: key.clone() });
        fix_path_value(index, &path, &mut value, quirks);
        ops.push(PatchOp { op, path: Some(path), value: Some(value) });
    }
    Ok((rest, ops))
}

/// Whether the nested value also sets the attribute a value-path key targets (`emails` and
/// `emails[type eq "work"].value` in one object): which one wins would be a guess.
pub(super) fn clashes(path: &PatchPath, nested: &Map<String, Value>) -> bool {
    let slot = match path.attr.urn.as_deref() {
        Some(urn) if !is_core_urn(urn) => match find_key(nested, urn).and_then(|k| nested.get(&k)) {
            Some(Value::Object(ext)) => ext,
            _ => return false,
        },
        _ => nested,
    };
    find_key(slot, &path.attr.attr).is_some()
}
