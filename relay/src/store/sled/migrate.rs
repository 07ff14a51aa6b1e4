//! A whole sled store as a snapshot, for `migrate --from-sled`.

use sled::Tree;

use super::queue::split_delivery_key;
use super::{from_json, seq_of, SledBackend, FIXED_TREES};
use crate::store::backend::{Intake, Keeping, Snapshot};
use crate::store::model::SeenEvent;
use crate::store::StoreError;

impl SledBackend {
    fn keyed<T: serde::de::DeserializeOwned>(
        &self,
        tree: &Tree,
    ) -> Result<Vec<(Vec<u8>, T)>, StoreError> {
        let mut out = Vec::new();
        for kv in tree.iter() {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            if let Some(t) = from_json(&v) {
                out.push((k.to_vec(), t));
            }
        }
        Ok(out)
    }
}

fn text(k: &[u8]) -> String {
    String::from_utf8_lossy(k).into_owned()
}

impl SledBackend {
    /// Everything kept, for `migrate --from-sled`.
    pub fn export(&self) -> Result<Snapshot, StoreError> {
        let mut s = Snapshot {
            gateways: self.gateways()?,
            conversations: self.conversations()?,
            ..Snapshot::default()
        };
        s.events = self
            .keyed::<SeenEvent>(&self.events)?
            .into_iter()
            .map(|(k, v)| (text(&k), v))
            .collect();
        s.pending = self
            .keyed(&self.pending)?
            .into_iter()
            .filter_map(|(k, v)| Some((seq_of(&k)?, v)))
            .collect();
        s.heartbeats = self
            .keyed(&self.beats)?
            .into_iter()
            .map(|(k, v)| (text(&k), v))
            .collect();
        s.jobs = self
            .keyed(&self.jobs)?
            .into_iter()
            .filter_map(|(k, v)| Some((seq_of(&k)?, v)))
            .collect();
        s.deliveries = self
            .keyed(&self.deliveries)?
            .into_iter()
            .filter_map(|(k, v)| {
                let (ep, conv) = split_delivery_key(&k)?;
                Some((ep, conv, v))
            })
            .collect();
        s.open = self
            .keyed(&self.open)?
            .into_iter()
            .map(|(k, v)| (text(&k), v))
            .collect();
        for name in self.db.tree_names() {
            let name = text(&name);
            if name.starts_with("__sled") || FIXED_TREES.contains(&name.as_str()) {
                continue;
            }
            for (key, value) in self.records(&name)? {
                s.records.push((name.clone(), key, value));
            }
        }
        Ok(s)
    }
}
