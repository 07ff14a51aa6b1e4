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
    tree: sled::Tree,
}

impl Store {
    /// The collection `name` (created empty on first use).
    pub fn records(&self, name: &str) -> Result<Records, StoreError> {
        Ok(Records {
            tree: self.db.open_tree(name).map_err(|e| self.err(e))?,
            store: self.clone(),
        })
    }
}

impl Records {
    /// The record under `key`, if there is one that parses as `T`; a
    /// failing read is an error, not an absent record.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        let raw = self
            .tree
            .get(key.as_bytes())
            .map_err(|e| self.store.err(e))?;
        Ok(raw.and_then(|v| serde_json::from_slice(&v).ok()))
    }

    /// Stores `value` under `key`, replacing what was there.
    pub fn put<T: Serialize>(&self, key: &str, value: &T) -> Result<(), StoreError> {
        let body = serde_json::to_vec(value).expect("serialises");
        self.tree
            .insert(key.as_bytes(), body)
            .map_err(|e| self.store.err(e))?;
        Ok(())
    }

    /// Removes the record under `key`, if any.
    pub fn remove(&self, key: &str) -> Result<(), StoreError> {
        self.tree
            .remove(key.as_bytes())
            .map_err(|e| self.store.err(e))?;
        Ok(())
    }

    /// Every key, in order.
    pub fn keys(&self) -> Vec<String> {
        self.tree
            .iter()
            .keys()
            .filter_map(Result::ok)
            .map(|k| String::from_utf8_lossy(&k).into_owned())
            .collect()
    }

    /// Every record that parses as `T`, in key order.
    pub fn all<T: DeserializeOwned>(&self) -> Vec<T> {
        self.tree
            .iter()
            .values()
            .filter_map(Result::ok)
            .filter_map(|v| serde_json::from_slice(&v).ok())
            .collect()
    }

    /// Makes every change so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.tree.flush().map_err(|e| self.store.err(e))?;
        Ok(())
    }
}
