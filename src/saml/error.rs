//! Why a SAML login was refused. Each variant carries the values that explain
//! it (logged, never shown to the browser) and a short `reason()` code that is
//! counted in `idbridge_refusals{surface="saml"}`. The HTTP status of a
//! refusal is the edge's part (`routes::status`).

/// A refused SAML message.
#[derive(Debug, thiserror::Error)]
pub enum SamlError {
    /// The posted form or the decoded XML is larger than the cap.
    #[error("message of {len} bytes exceeds the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    /// SAMLResponse missing, not base64 or not UTF-8.
    #[error("SAMLResponse is missing or not base64-encoded UTF-8: {detail}")]
    BadEncoding { detail: String },
    /// A DOCTYPE or ENTITY declaration (billion laughs, XXE).
    #[error("document contains a {what} declaration")]
    Doctype { what: &'static str },
    /// A processing instruction other than the XML declaration.
    #[error("document contains a processing instruction")]
    ProcessingInstruction,
    /// The XML does not parse.
    #[error("malformed XML: {detail}")]
    Malformed { detail: String },
    /// The root is not a SAML 2.0 protocol Response.
    #[error("root element is {got}, not samlp:Response")]
    NotAResponse { got: String },
    /// Version other than 2.0.
    #[error("{element} Version is {got:?}, not 2.0")]
    BadVersion { element: &'static str, got: String },
    /// No Assertion (nor EncryptedAssertion).
    #[error("the response carries no assertion")]
    NoAssertion,
    /// More than one Assertion/EncryptedAssertion anywhere in the document.
    #[error("the document carries {count} assertions; exactly one is accepted")]
    MultipleAssertions { count: usize },
    /// An element where the SAML schema does not put it (signature wrapping).
    #[error("misplaced element: {what}")]
    Misplaced { what: String },
    /// Two elements share an ID.
    #[error("duplicate ID {id:?}")]
    DuplicateId { id: String },
    /// A comment inside the assertion (NameID comment-injection).
    #[error("comment inside the assertion")]
    CommentInAssertion,
    /// A signature's Reference is not `#<ID of its parent element>`.
    #[error("signature Reference URI {got:?} is not the signed element's ID {expected:?}")]
    ReferenceMismatch { expected: String, got: String },
    /// A transform outside enveloped-signature and canonicalization.
    #[error("signature transform {algorithm} is not allowed")]
    DisallowedTransform { algorithm: String },
    /// SHA-1 (or another weak algorithm) while the connection does not allow it.
    #[error("signature algorithm {algorithm} is not allowed for this connection")]
    WeakAlgorithm { algorithm: String },
    /// Neither the Response nor the Assertion is signed.
    #[error("neither the response nor the assertion is signed")]
    Unsigned,
    /// The signature does not verify with any trusted certificate.
    #[error("signature does not verify with the connection's trusted certificates: {detail}")]
    SignatureInvalid { detail: String },
    /// What xmlsec verified is not the element the values are read from.
    #[error("the verified content is not the consumed element: {detail}")]
    SignedElementMismatch { detail: String },
    /// The EncryptedAssertion could not be decrypted.
    #[error("cannot decrypt the assertion: {detail}")]
    Decrypt { detail: String },
    /// Top-level StatusCode is not Success.
    #[error("IdP status is {code}")]
    StatusNotSuccess { code: String },
    /// Issuer other than the connection's IdP.
    #[error("{element} Issuer {got:?} is not the connection's IdP {expected:?}")]
    IssuerMismatch { element: &'static str, expected: String, got: String },
    /// Response Destination other than this ACS.
    #[error("Destination {got:?} is not this ACS {expected:?}")]
    DestinationMismatch { expected: String, got: String },
    /// No AudienceRestriction naming this SP.
    #[error("audience {got:?} does not include this SP {expected:?}")]
    AudienceMismatch { expected: String, got: Vec<String> },
    /// No bearer SubjectConfirmation.
    #[error("no bearer SubjectConfirmation")]
    NoBearerConfirmation,
    /// SubjectConfirmationData Recipient other than this ACS.
    #[error("Recipient {got:?} is not this ACS {expected:?}")]
    RecipientMismatch { expected: String, got: String },
    /// A time window has passed.
    #[error("{what} NotOnOrAfter {at} has passed (clock skew {skew}s)")]
    Expired { what: &'static str, at: String, skew: i64 },
    /// A time window has not started.
    #[error("{what} NotBefore {at} is in the future (clock skew {skew}s)")]
    NotYetValid { what: &'static str, at: String, skew: i64 },
    /// A required attribute or element is absent or invalid.
    #[error("missing or invalid {what}")]
    Missing { what: &'static str },
    /// InResponseTo values disagree inside the message.
    #[error("InResponseTo {response:?} on the Response and {assertion:?} in the assertion disagree")]
    InResponseToMismatch { response: Option<String>, assertion: Option<String> },
    /// InResponseTo names no AuthnRequest this connection issued (or it was used or expired).
    #[error("InResponseTo {id:?} is not a live request of this connection")]
    UnknownRequest { id: String },
    /// The browser posting an answer to an SP-initiated request is not the
    /// one that started it (its binding cookie is missing or wrong).
    #[error("InResponseTo {id:?} is bound to another browser: binding cookie missing or wrong")]
    BrowserMismatch { id: String },
    /// IdP-initiated login is turned off for the connection.
    #[error("IdP-initiated login is disabled for this connection")]
    IdpInitiatedDisabled,
    /// The assertion ID was already used.
    #[error("assertion {id:?} was already used")]
    Replay { id: String },
    /// The root is not the logout message expected (SAML Core 3.7).
    #[error("root element is {got}, not samlp:{expected}")]
    NotLogoutMessage { expected: &'static str, got: String },
    /// A logout message without the signature SAML Profiles 4.4.4.1/4.4.4.2 require.
    #[error("the {what} is not signed")]
    MessageUnsigned { what: &'static str },
    /// A logout message ID seen before.
    #[error("message {id:?} was already used")]
    MessageReplay { id: String },
    /// A LogoutResponse answering no LogoutRequest this connection sent (or it was used or expired).
    #[error("LogoutResponse InResponseTo {id:?} is not a live LogoutRequest of this connection")]
    UnknownLogoutRequest { id: String },
    /// The connection cannot be used (config or keys unreadable).
    #[error("connection misconfigured: {detail}")]
    Misconfigured { detail: String },
    /// No such SAML connection.
    #[error("no SAML connection {id:?}")]
    UnknownConnection { id: String },
    /// The connection has no IdP metadata yet: set-up is unfinished.
    #[error("connection {id:?} is pending: no IdP metadata has been added yet")]
    Pending { id: String },
    /// The store failed.
    #[error("store: {0}")]
    Store(String),
    /// The database cannot be reached now (503; retry shortly).
    #[error("store: {0}")]
    Unavailable(String),
}

impl SamlError {
    /// The precise reason code that is logged and counted.
    pub fn reason(&self) -> &'static str {
        use SamlError::*;
        match self {
            TooLarge { .. } => "too_large",
            BadEncoding { .. } => "bad_encoding",
            Doctype { .. } => "doctype",
            ProcessingInstruction => "processing_instruction",
            Malformed { .. } => "malformed_xml",
            NotAResponse { .. } => "not_a_response",
            BadVersion { .. } => "bad_version",
            NoAssertion => "no_assertion",
            MultipleAssertions { .. } => "multiple_assertions",
            Misplaced { .. } => "misplaced_element",
            DuplicateId { .. } => "duplicate_id",
            CommentInAssertion => "comment_in_assertion",
            ReferenceMismatch { .. } => "reference_mismatch",
            DisallowedTransform { .. } => "disallowed_transform",
            WeakAlgorithm { .. } => "weak_algorithm",
            Unsigned => "unsigned",
            SignatureInvalid { .. } => "signature_invalid",
            SignedElementMismatch { .. } => "signed_element_mismatch",
            Decrypt { .. } => "decrypt_failed",
            StatusNotSuccess { .. } => "status_not_success",
            IssuerMismatch { .. } => "issuer_mismatch",
            DestinationMismatch { .. } => "destination_mismatch",
            AudienceMismatch { .. } => "audience_mismatch",
            NoBearerConfirmation => "no_bearer_confirmation",
            RecipientMismatch { .. } => "recipient_mismatch",
            Expired { .. } => "expired",
            NotYetValid { .. } => "not_yet_valid",
            Missing { .. } => "missing_element",
            InResponseToMismatch { .. } => "in_response_to_mismatch",
            UnknownRequest { .. } => "unknown_in_response_to",
            BrowserMismatch { .. } => "browser_mismatch",
            IdpInitiatedDisabled => "idp_initiated_disabled",
            Replay { .. } => "replay",
            NotLogoutMessage { .. } => "not_a_logout_message",
            MessageUnsigned { .. } => "unsigned",
            MessageReplay { .. } => "replay",
            UnknownLogoutRequest { .. } => "unknown_in_response_to",
            Misconfigured { .. } => "misconfigured",
            UnknownConnection { .. } => "unknown_connection",
            Pending { .. } => "connection_pending",
            Store(_) => "internal",
            Unavailable(_) => "database_unavailable",
        }
    }

    /// The short message shown to the person (the precise reason is logged).
    pub fn public_message(&self) -> &'static str {
        use SamlError::*;
        match self {
            TooLarge { .. }
            | BadEncoding { .. }
            | Doctype { .. }
            | ProcessingInstruction
            | Malformed { .. } => "The sign-in message from your identity provider could not be read.",
            Expired { .. } | NotYetValid { .. } => {
                "The sign-in message has expired or is not yet valid. Please sign in again."
            }
            Replay { .. } | UnknownRequest { .. } => {
                "This sign-in message was already used or has expired. Please sign in again."
            }
            StatusNotSuccess { .. } => "Your identity provider did not sign you in.",
            BrowserMismatch { .. } => "This sign-in was started in another browser. Please sign in again.",
            IdpInitiatedDisabled => {
                "Start the sign-in from this application, not from the identity provider."
            }
            UnknownConnection { .. } => "This sign-in connection does not exist.",
            Pending { .. } => {
                "Sign-in through this connection is not set up yet: its set-up is unfinished. \
                 Please try again once your administrator has completed it."
            }
            Misconfigured { .. } | Store(_) | Unavailable(_) => "Sign-in is not available right now.",
            _ => "The sign-in message from your identity provider was not accepted.",
        }
    }
}

impl From<crate::store::StoreError> for SamlError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Unavailable(_) => SamlError::Unavailable(e.to_string()),
            other => SamlError::Store(other.to_string()),
        }
    }
}

impl From<crate::error::Error> for SamlError {
    fn from(e: crate::error::Error) -> Self {
        match e {
            crate::error::Error::Store(inner) => inner.into(),
            other => SamlError::Store(other.to_string()),
        }
    }
}
