//! AF_PACKET for real: gratuitous ARP and unsolicited NA frames built by ka-wire are
//! sent from namespace a and captured on b byte for byte; a paced burst keeps its spacing.
// Test helpers outside #[test] fns unwrap too: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Pair, WAIT};
use ka_sys::packet::{ETH_P_ALL, PACKET_OUTGOING};
use ka_sys::PacketSocket;
use ka_wire::arp::garp_frame;
use ka_wire::nd::una_frame;

/// The VRRP virtual MAC of VRID 51: no kernel traffic carries it, so the capture can
/// pick our frames out of the kernel's own (MLD reports and the like).
const VMAC: [u8; 6] = [0x00, 0x00, 0x5e, 0x00, 0x01, 51];

#[test]
fn garp_and_una_arrive_byte_exact_and_paced() {
    let pair = Pair::new();
    let a_idx = pair.a.ifindex(&pair.a_if);
    let b_idx = pair.b.ifindex(&pair.b_if);
    let garp = garp_frame(VMAC, "192.0.2.100".parse().unwrap());
    let una = una_frame(VMAC, "2001:db8::100".parse().unwrap());
    assert_eq!((garp.len(), una.len()), (42, 86));
    let burst: Vec<Vec<u8>> = (1..=3)
        .map(|i| garp_frame(VMAC, format!("192.0.2.{}", 110 + i).parse().unwrap()))
        .collect();
    let gap = Duration::from_millis(60);
    let want: Vec<Vec<u8>> = [garp.clone(), una.clone()]
        .into_iter()
        .chain(burst.iter().cloned())
        .collect();

    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let got = std::thread::scope(|s| {
        let want_n = want.len();
        let rx = s.spawn(move || {
            pair.b.run_async(WAIT, move || async move {
                let cap = PacketSocket::open_capture(b_idx, ETH_P_ALL).unwrap();
                ready_tx.send(()).unwrap();
                let mut got = vec![];
                while got.len() < want_n {
                    let f = cap.recv().await.unwrap();
                    if f.data.get(6..12) == Some(&VMAC[..]) {
                        got.push((f, Instant::now()));
                    }
                }
                got
            })
        });
        let (garp, una, burst) = (&garp, &una, &burst);
        pair.a.run_async(WAIT, move || async move {
            ready_rx.recv_timeout(WAIT).unwrap();
            let tx = PacketSocket::open_tx(a_idx).unwrap();
            tx.send(garp).await.unwrap();
            tx.send(una).await.unwrap();
            tx.send_paced(burst, gap).await.unwrap();
        });
        rx.join().unwrap()
    });

    let frames: Vec<Vec<u8>> = got.iter().map(|(f, _)| f.data.clone()).collect();
    assert_eq!(frames, want, "frames changed on the way");
    let (g, _) = &got[0];
    assert_eq!(
        (g.protocol, g.pkttype, g.ifindex),
        (0x0806, 1, b_idx),
        "broadcast ARP"
    );
    let (n, _) = &got[1];
    assert_eq!((n.protocol, n.pkttype), (0x86dd, 2), "multicast NA");
    assert!(got.iter().all(|(f, _)| f.pkttype != PACKET_OUTGOING));
    for w in got[2..].windows(2) {
        let d = w[1].1 - w[0].1;
        assert!(
            d >= gap - Duration::from_millis(20),
            "burst not paced: {d:?}"
        );
    }
}
