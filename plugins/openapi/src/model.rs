//! The specification normalized for calls: Swagger 2.0, OpenAPI 3.0 and 3.1 all become the same
//! operations, parameters, bodies, servers and security schemes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use trellis_connector_sdk::serde_json::Value;

use crate::style::Style;

/// The specification's dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Dialect {
    Swagger2,
    OpenApi30,
    OpenApi31,
}

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) enum Location {
    Path,
    Query,
    Header,
    Cookie,
}

impl Location {
    pub fn name(self) -> &'static str {
        match self {
            Location::Path => "path",
            Location::Query => "query",
            Location::Header => "header",
            Location::Cookie => "cookie",
        }
    }

    pub const ALL: [Location; 4] = [
        Location::Path,
        Location::Query,
        Location::Header,
        Location::Cookie,
    ];
}

/// One parameter of an operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Parameter {
    pub name: String,
    pub location: Location,
    pub required: bool,
    #[serde(with = "style_name")]
    pub style: Style,
    pub explode: bool,
    pub allow_reserved: bool,
    /// A parameter described with `content` instead of `schema`: its value is sent as JSON
    /// text.
    pub as_json: bool,
    pub description: String,
    /// The parameter's schema as written, `$ref`s included.
    pub schema: Value,
}

/// How one property of a form body is encoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct FieldEncoding {
    #[serde(with = "style_name")]
    pub style: Style,
    pub explode: bool,
    pub allow_reserved: bool,
}

/// One media type a request body may have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Media {
    pub content_type: String,
    pub schema: Value,
    /// Per-property encodings of form bodies.
    #[serde(default)]
    pub encoding: BTreeMap<String, FieldEncoding>,
}

/// An operation's request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Body {
    pub required: bool,
    pub description: String,
    pub media: Vec<Media>,
}

/// A server URL template and its variables' defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Server {
    pub url: String,
    pub variables: BTreeMap<String, ServerVariable>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ServerVariable {
    pub default: String,
    #[serde(default)]
    pub allowed: Vec<String>,
}

/// One set of schemes that together satisfy a security requirement, with their scopes.
pub(crate) type Requirement = Vec<(String, Vec<String>)>;

/// A security scheme of the specification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Scheme {
    ApiKey {
        name: String,
        location: Location,
    },
    Basic,
    Bearer,
    /// OAuth 2.0; `token_url` is set when the scheme has a client credentials flow.
    OAuth2 {
        token_url: Option<String>,
    },
    OpenIdConnect,
    /// A scheme this connector cannot apply, such as HTTP Digest or mutual TLS.
    Unsupported(String),
}

/// One operation, ready to be called.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Operation {
    /// `operationId`, or `METHOD path` when the operation has none.
    pub name: String,
    pub method: String,
    pub path: String,
    pub summary: String,
    pub description: String,
    pub deprecated: bool,
    pub parameters: Vec<Parameter>,
    pub body: Option<Body>,
    /// Alternatives, any one of which satisfies the operation; empty means no security.
    pub security: Vec<Requirement>,
    /// The servers of the operation, its path or the document, in that order of preference.
    pub servers: Vec<Server>,
    /// JSON pointer of the operation in the document.
    pub pointer: String,
}

impl Operation {
    /// GET and HEAD change nothing upstream.
    pub fn read_only(&self) -> bool {
        matches!(self.method.as_str(), "GET" | "HEAD")
    }
}

/// What a call needs besides the operation: the security schemes it may use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Context {
    pub dialect: Dialect,
    pub schemes: BTreeMap<String, Scheme>,
}

mod style_name {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::style::Style;

    pub fn serialize<S: Serializer>(style: &Style, serializer: S) -> Result<S::Ok, S::Error> {
        let name = match style {
            Style::Simple => "simple",
            Style::Label => "label",
            Style::Matrix => "matrix",
            Style::Form => "form",
            Style::SpaceDelimited => "spaceDelimited",
            Style::PipeDelimited => "pipeDelimited",
            Style::DeepObject => "deepObject",
            Style::TabDelimited => "tabDelimited",
        };
        serializer.serialize_str(name)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Style, D::Error> {
        let name = String::deserialize(deserializer)?;
        if name == "tabDelimited" {
            return Ok(Style::TabDelimited);
        }
        Style::parse(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown style {name}")))
    }
}
