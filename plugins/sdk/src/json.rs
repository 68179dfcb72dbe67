use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::Error;

/// A config or input object, with accessors whose errors name the field.
#[derive(Debug, Clone, PartialEq)]
pub struct Json {
    value: Value,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Config,
    Input,
}

impl Json {
    pub(crate) fn parse_config(text: &str) -> Result<Self, Error> {
        let value = serde_json::from_str(text)
            .map_err(|error| Error::InvalidConfig(format!("the config is not JSON: {error}")))?;
        Ok(Json {
            value,
            kind: Kind::Config,
        })
    }

    pub(crate) fn parse_input(text: &str) -> Result<Self, Error> {
        let value = serde_json::from_str(text)
            .map_err(|error| Error::InvalidInput(format!("the input is not JSON: {error}")))?;
        Ok(Json {
            value,
            kind: Kind::Input,
        })
    }

    /// Wraps a value as an operation input, for unit tests of a connector.
    pub fn input(value: Value) -> Self {
        Json {
            value,
            kind: Kind::Input,
        }
    }

    /// Wraps a value as a resource config, for unit tests of a connector.
    pub fn config(value: Value) -> Self {
        Json {
            value,
            kind: Kind::Config,
        }
    }

    /// The whole document.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// Consumes the wrapper and returns the document.
    pub fn into_value(self) -> Value {
        self.value
    }

    /// Deserializes the whole document.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, Error> {
        T::deserialize(&self.value).map_err(|error| self.invalid(format!("{error}")))
    }

    /// Deserializes a required top-level field.
    pub fn field<T: DeserializeOwned>(&self, name: &str) -> Result<T, Error> {
        let value = self.object()?.get(name).filter(|value| !value.is_null());
        let value = value.ok_or_else(|| self.invalid(format!("the field `{name}` is missing")))?;
        T::deserialize(value).map_err(|error| self.invalid(format!("the field `{name}`: {error}")))
    }

    /// Deserializes an optional top-level field; `null` counts as absent.
    pub fn optional<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, Error> {
        match self.object()?.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => T::deserialize(value)
                .map(Some)
                .map_err(|error| self.invalid(format!("the field `{name}`: {error}"))),
        }
    }

    fn object(&self) -> Result<&Map<String, Value>, Error> {
        self.value
            .as_object()
            .ok_or_else(|| self.invalid("expected a JSON object".into()))
    }

    fn invalid(&self, message: String) -> Error {
        match self.kind {
            Kind::Config => Error::InvalidConfig(message),
            Kind::Input => Error::InvalidInput(message),
        }
    }
}
