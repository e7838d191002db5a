//! How the model's typed values are stored: each as the TEXT it always was.
//! An unknown stored value fails the read as a conversion error, which
//! `StoreError::from` reports as `Corrupt` (never a panic).

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use crate::model::{ConnectionId, ConnectionKind, OrgId, Origin, ProjectId, UserId};

/// Ids are stored as the TEXT they wrap.
macro_rules! text_id {
    ($($name:ident),*) => {$(
        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                String::column_result(value).map($name::from)
            }
        }
    )*};
}

text_id!(OrgId, ProjectId, UserId, ConnectionId);

impl ToSql for ConnectionKind {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for ConnectionKind {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        ConnectionKind::parse(value.as_str()?).map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

impl ToSql for Origin {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for Origin {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        Origin::parse(value.as_str()?).map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use crate::model::{ConnectionKind, Origin};
    use crate::store::StoreError;

    #[test]
    fn typed_values_are_stored_as_text_and_unknown_ones_are_corrupt() {
        let c = Connection::open_in_memory().unwrap();
        let s: String = c.query_row("SELECT ?1", [ConnectionKind::Saml], |r| r.get(0)).unwrap();
        assert_eq!(s, "saml");
        let s: String = c.query_row("SELECT ?1", [Origin::Manual], |r| r.get(0)).unwrap();
        assert_eq!(s, "manual");
        let k: ConnectionKind = c.query_row("SELECT 'oidc'", [], |r| r.get(0)).unwrap();
        assert_eq!(k, ConnectionKind::Oidc);
        let o: Origin = c.query_row("SELECT 'scim'", [], |r| r.get(0)).unwrap();
        assert_eq!(o, Origin::Scim);
        let bad = c.query_row("SELECT 'ldap'", [], |r| r.get::<_, ConnectionKind>(0));
        let e = StoreError::from(bad.unwrap_err());
        assert!(matches!(e, StoreError::Corrupt { .. }), "{e:?}");
        let bad = c.query_row("SELECT 'nobody'", [], |r| r.get::<_, Origin>(0));
        let e = StoreError::from(bad.unwrap_err());
        assert!(matches!(e, StoreError::Corrupt { .. }), "{e:?}");
    }
}
