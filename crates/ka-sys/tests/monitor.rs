//! Link monitoring for real: `ip link set ... down/up` in the namespace (and carrier loss
//! when the veth peer goes down) produce events within a bounded wait; address add and
//! delete too.
// Test helpers outside #[test] fns unwrap too: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Pair, WAIT};
use ka_sys::{Event, Monitor, Netlink, OperState};

/// Waits (bounded) for an event matching `pred`, skipping others.
fn wait_for(rx: &mpsc::Receiver<Event>, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
    let end = Instant::now() + WAIT;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(ev) if pred(&ev) => return ev,
            Ok(_) => {}
            Err(e) => panic!("no {what} event within {WAIT:?}: {e}"),
        }
    }
}

#[test]
fn link_down_up_and_carrier_events() {
    let pair = Pair::new();
    let idx = pair.a.ifindex(&pair.a_if);
    let (ev_tx, ev_rx) = mpsc::channel::<Event>();
    let (ready_tx, ready_rx) = mpsc::channel::<bool>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::scope(|s| {
        let a = &pair.a;
        let mon = s.spawn(move || {
            a.run_async(Duration::from_secs(30), move || async move {
                let mut m = Monitor::new(true).unwrap();
                // The dump after subscribing sees the link up.
                let link = Netlink::new().unwrap().link(idx).await.unwrap().unwrap();
                ready_tx.send(link.is_up()).unwrap();
                let mut stop = stop_rx;
                loop {
                    tokio::select! {
                        ev = m.next() => match ev {
                            Some(ev) => { let _ = ev_tx.send(ev); }
                            None => break,
                        },
                        _ = &mut stop => break,
                    }
                }
            })
        });
        assert!(ready_rx.recv_timeout(WAIT).unwrap(), "link not up at start");

        let t0 = Instant::now();
        pair.a.ip(&["link", "set", "dev", &pair.a_if, "down"]);
        let ev = wait_for(
            &ev_rx,
            "admin down",
            |e| matches!(e, Event::Link(l) if l.ifindex == idx && !l.admin_up),
        );
        let Event::Link(l) = ev else { unreachable!() };
        assert_eq!(l.name, pair.a_if);
        assert!(!l.is_up());
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "down event took {:?}",
            t0.elapsed()
        );

        pair.a.ip(&["link", "set", "dev", &pair.a_if, "up"]);
        wait_for(
            &ev_rx,
            "up",
            |e| matches!(e, Event::Link(l) if l.ifindex == idx && l.is_up() && l.oper == OperState::Up),
        );

        // Carrier loss: the peer goes down, our side stays admin up but loses oper state.
        pair.b.ip(&["link", "set", "dev", &pair.b_if, "down"]);
        let ev = wait_for(
            &ev_rx,
            "carrier loss",
            |e| matches!(e, Event::Link(l) if l.ifindex == idx && l.admin_up && !l.is_up()),
        );
        let Event::Link(l) = ev else { unreachable!() };
        // veth reports oper "down" (no carrier); other drivers say lower-layer-down.
        assert!(
            matches!(l.oper, OperState::Down | OperState::LowerLayerDown),
            "{:?}",
            l.oper
        );
        assert!(!l.running);

        // Address events.
        pair.a
            .ip(&["addr", "add", "192.0.2.77/32", "dev", &pair.a_if]);
        wait_for(
            &ev_rx,
            "address added",
            |e| matches!(e, Event::AddressAdded(a) if a.ifindex == idx && a.addr.to_string() == "192.0.2.77"),
        );
        pair.a
            .ip(&["addr", "del", "192.0.2.77/32", "dev", &pair.a_if]);
        wait_for(
            &ev_rx,
            "address removed",
            |e| matches!(e, Event::AddressRemoved(a) if a.ifindex == idx && a.addr.to_string() == "192.0.2.77"),
        );

        // Deleting the veth announces the removal.
        pair.a.ip(&["link", "del", "dev", &pair.a_if]);
        wait_for(
            &ev_rx,
            "link removed",
            |e| matches!(e, Event::LinkRemoved { ifindex, .. } if *ifindex == idx),
        );

        stop_tx.send(()).unwrap();
        mon.join().unwrap();
    });
}

/// When the kernel drops events (socket buffer full while nobody reads), the monitor
/// says so with `Event::Overrun` and keeps going.
#[test]
fn overrun_is_reported_when_events_are_dropped() {
    let pair = Pair::new();
    let idx = pair.a.ifindex(&pair.a_if);
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let events = std::thread::scope(|s| {
        let a = &pair.a;
        let mon = s.spawn(move || {
            a.run_async(Duration::from_secs(30), move || async move {
                // A tiny buffer (the kernel rounds it up to its minimum).
                let mut m = Monitor::with_receive_buffer(true, 1024).unwrap();
                ready_tx.send(()).unwrap();
                // Block this runtime on purpose: nothing reads the socket meanwhile.
                go_rx.recv_timeout(WAIT).unwrap();
                let mut evs = vec![];
                let end = tokio::time::Instant::now() + WAIT;
                while let Ok(Some(ev)) = tokio::time::timeout_at(end, m.next()).await {
                    let last = matches!(&ev, Event::AddressAdded(a) if a.addr.to_string() == "192.0.2.150");
                    evs.push(ev);
                    if last {
                        break;
                    }
                }
                evs
            })
        });
        ready_rx.recv_timeout(WAIT).unwrap();
        for i in 0..20 {
            pair.a.ip(&[
                "addr",
                "add",
                &format!("192.0.2.{}/32", 100 + i),
                "dev",
                &pair.a_if,
            ]);
        }
        go_tx.send(()).unwrap();
        // A change made after the overrun must still arrive.
        std::thread::sleep(Duration::from_millis(300));
        pair.a
            .ip(&["addr", "add", "192.0.2.150/32", "dev", &pair.a_if]);
        mon.join().unwrap()
    });
    let overrun = events.iter().position(|e| *e == Event::Overrun);
    let overrun = overrun.unwrap_or_else(|| panic!("no overrun reported: {events:?}"));
    // Fewer address events than changes: some were really dropped.
    let adds = events
        .iter()
        .filter(|e| matches!(e, Event::AddressAdded(_)))
        .count();
    assert!(adds < 21, "nothing was dropped: {adds} address events");
    // The subscription goes on after the overrun.
    let last = events.last().unwrap();
    assert!(
        matches!(last, Event::AddressAdded(a) if a.ifindex == idx && a.addr.to_string() == "192.0.2.150"),
        "change after the overrun missing: {events:?}"
    );
    assert!(overrun < events.len() - 1);
}
