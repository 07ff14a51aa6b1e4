//! Named collections of JSON records keyed by a string (install reports,
//! the liveness watch's open alerts): what modules outside the store keep,
//! without seeing how the store keeps it.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{Store, StoreError};

/// One named collection inside the store; cheap to clone.
#[derive(Clone)]
pub struct Records {
    store: Store,
    name: String,
}

impl Store {
    /// The collection `name` (empty until something is put in it).
    pub fn records(&self, name: &str) -> Records {
        Records {
            store: self.clone(),
            name: name.to_string(),
        }
    }
}

impl Records {
    /// The record under `key`, if there is one that parses as `T`; a
    /// failing read is an error, not an absent record.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        let raw = self.store.backend().record(&self.name, key)?;
        Ok(raw.and_then(|v| serde_json::from_value(v).ok()))
    }

    /// Stores `value` under `key`, replacing what was there.
    pub fn put<T: Serialize>(&self, key: &str, value: &T) -> Result<(), StoreError> {
        let value = serde_json::to_value(value).expect("serialises");
        self.store.backend().put_record(&self.name, key, &value)
    }

    /// Removes the record under `key`, if any.
    pub fn remove(&self, key: &str) -> Result<(), StoreError> {
        self.store.backend().remove_record(&self.name, key)
    }

    /// Every key, in order.
    pub fn keys(&self) -> Result<Vec<String>, StoreError> {
        let all = self.store.backend().records(&self.name)?;
        Ok(all.into_iter().map(|(k, _)| k).collect())
    }

    /// Every record that parses as `T`, with its key, in key order.
    pub fn entries<T: DeserializeOwned>(&self) -> Result<Vec<(String, T)>, StoreError> {
        let all = self.store.backend().records(&self.name)?;
        Ok(all
            .into_iter()
            .filter_map(|(k, v)| Some((k, serde_json::from_value(v).ok()?)))
            .collect())
    }

    /// Every record that parses as `T`, in key order.
    pub fn all<T: DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        let all = self.store.backend().records(&self.name)?;
        Ok(all
            .into_iter()
            .filter_map(|(_, v)| serde_json::from_value(v).ok())
            .collect())
    }

    /// Makes every change so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.store.backend().flush()
    }
}
