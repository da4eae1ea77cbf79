//! VRRP and neighbour-discovery codecs.
//!
//! Model: received bytes are decoded into small owned values ([`vrrp::VrrpPacket`],
//! [`arp::ArpPacket`], [`nd::NeighborAdvert`]); encoding turns a value back into the
//! exact bytes. Decoding is total: every byte string yields a value or a typed
//! [`Error`], never a panic.
//!
//! Call order on receive: [`ip::parse_vrrp_ip`] (IP header, optional AH) gives the
//! source, destination, TTL and the VRRP bytes; [`vrrp::VrrpPacket::decode`] decodes
//! them; [`vrrp::verify_checksum`] checks the checksum with the actual destination.
//! On send: build a `VrrpPacket`, [`vrrp::VrrpPacket::encode_for_send`], then
//! [`ip::build_ipv4`] when the socket uses `IP_HDRINCL`.
//! keepalived's VRRPv2 `auth_type AH`: [`ip::keepalived_ipv4_ah`] builds the packet
//! (HMAC-MD5-96 ICV), [`ip::verify_keepalived_ah`] checks a received one.
//! Announcements on becoming master: [`arp::garp_frame`], [`nd::una_frame`].
//! Captures: [`pcap::Pcap`] reads classic pcap files from memory and
//! [`frame::classify`] sorts link-layer frames into VRRP, ARP, NA and other.

pub mod arp;
pub mod checksum;
mod error;
pub mod ethernet;
pub mod frame;
pub mod ip;
pub mod md5;
pub mod nd;
pub mod pcap;
pub mod vrrp;

pub use error::{Error, Result};
