//! VRRP and neighbour-discovery codecs (see docs/ARCHITECTURE.md).
