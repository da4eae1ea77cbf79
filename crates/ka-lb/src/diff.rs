//! From what the data plane holds to what it should hold: an ordered list of operations.

use crate::table::{Op, Owned, Table};

/// The operations that turn `observed` into `desired`, in an order that never breaks
/// the data plane more than the change requires:
///
/// 1. For each service of `desired` (in key order): `AddService` if it is missing, else
///    `EditService` if its scheduler, flags or persistence differ (in place: existing
///    connections and destinations stay); then its new destinations (`AddDest`), its
///    changed ones (`EditDest`: one operation per destination, a weight change is one
///    edit), and only then the destinations it no longer has (`DelDest`), so a service
///    swapping its real servers for the sorry server is never empty in between.
/// 2. Then each service of `observed` that `desired` lacks and that is in `owned`:
///    its destinations (`DelDest`), then the service (`DelService`).
///
/// Services `desired` lacks and `owned` does not list are never touched (another
/// program's services). A service `desired` has is managed whoever created it, so a
/// restarted daemon takes its old services back (as keepalived does, which adds and
/// ignores "exists").
///
/// `diff(x, x, _)` is empty, and applying the result to `observed` with
/// [`Table::apply`] succeeds at every step and yields `desired` plus the untouched
/// foreign services (property-tested).
pub fn diff(observed: &Table, desired: &Table, owned: &Owned) -> Vec<Op> {
    let mut ops = Vec::new();
    for (key, want) in &desired.services {
        match observed.services.get(key) {
            None => {
                ops.push(Op::AddService {
                    key: *key,
                    attrs: want.attrs.clone(),
                });
                for (d, params) in &want.dests {
                    ops.push(Op::AddDest {
                        service: *key,
                        dest: *d,
                        params: *params,
                    });
                }
            }
            Some(have) => {
                if have.attrs != want.attrs {
                    ops.push(Op::EditService {
                        key: *key,
                        attrs: want.attrs.clone(),
                    });
                }
                for (d, params) in &want.dests {
                    if !have.dests.contains_key(d) {
                        ops.push(Op::AddDest {
                            service: *key,
                            dest: *d,
                            params: *params,
                        });
                    }
                }
                for (d, params) in &want.dests {
                    if let Some(old) = have.dests.get(d) {
                        if old != params {
                            ops.push(Op::EditDest {
                                service: *key,
                                dest: *d,
                                params: *params,
                            });
                        }
                    }
                }
                for d in have.dests.keys() {
                    if !want.dests.contains_key(d) {
                        ops.push(Op::DelDest {
                            service: *key,
                            dest: *d,
                        });
                    }
                }
            }
        }
    }
    for (key, have) in &observed.services {
        if desired.services.contains_key(key) || !owned.contains(key) {
            continue;
        }
        for d in have.dests.keys() {
            ops.push(Op::DelDest {
                service: *key,
                dest: *d,
            });
        }
        ops.push(Op::DelService { key: *key });
    }
    ops
}
