//! Sharing the work among relays on one store: who this instance is, and
//! the fleet-wide leases that let exactly one instance route events, run
//! the Graph install pass and watch liveness. With sled there is one
//! process, which always leads.

use std::time::Duration;

use crate::store::Store;

/// Fleet-wide jobs, each led by one instance at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Routing accepted events into send jobs.
    Dispatch,
    /// The Graph install pass.
    Graph,
    /// The liveness watch.
    Liveness,
}

impl Role {
    /// The lease's name in the store.
    pub fn name(self) -> &'static str {
        match self {
            Role::Dispatch => "dispatch",
            Role::Graph => "graph",
            Role::Liveness => "liveness",
        }
    }
}

/// This instance in the fleet; cheap to clone.
#[derive(Debug, Clone)]
pub struct Member {
    /// Unique per process: host, pid and 32 random bits.
    pub instance: String,
    /// How long a lease holds without renewal: the takeover time after an
    /// instance dies.
    pub lease: Duration,
}

impl Member {
    /// A new member with `lease`.
    pub fn new(lease: Duration) -> Member {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "host".into());
        let mut b = [0u8; 4];
        let _ = getrandom::fill(&mut b);
        let tag: String = b.iter().map(|x| format!("{x:02x}")).collect();
        Member {
            instance: format!("{host}:{}:{tag}", std::process::id()),
            lease,
        }
    }

    /// True while this instance leads `role` (taking or renewing the
    /// lease); a store error counts as not leading, logged.
    pub fn leads(&self, store: &Store, role: Role) -> bool {
        match store
            .backend()
            .lead(role.name(), &self.instance, self.lease)
        {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(role = role.name(), error = %e, "cannot take or renew a fleet lease; not leading until the store answers");
                false
            }
        }
    }
}

impl Member {
    /// Gives up this instance's leases at a clean stop, so the rest of the
    /// fleet takes over now rather than after the lease time.
    pub fn release(&self, store: &Store) {
        match store.backend().release(&self.instance) {
            Ok(()) => tracing::info!(instance = %self.instance, "fleet leases released"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot release the fleet leases; others take over when they lapse")
            }
        }
    }
}

impl Default for Member {
    /// A member with the default lease (`[store] lease_timeout`).
    fn default() -> Member {
        Member::new(crate::config::DEFAULT_LEASE_TIMEOUT)
    }
}
