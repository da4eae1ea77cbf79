//! VRRP and neighbour-discovery codecs.
//!
//! Model: a zero-copy view over received bytes is decoded into a small owned value
//! ([`vrrp::VrrpPacket`]); encoding turns that value back into the exact bytes.
//! Decoding is total: every byte string yields a value or a typed error, never a panic.

pub mod vrrp;
