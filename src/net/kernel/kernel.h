#pragma once
// net/kernel: the kernel plumbing that makes the VPC model real on this host. The
// contract of this half of net/ (the model itself is net/domain).
//
// What lives here: named network namespaces and work inside them (netns.h); links,
// addresses and routes over rtnetlink (netlink.h); the nftables executor that applies a
// script as one atomic transaction (nft.h); host-port reservations and probes
// (host_ports.h); the per-VPC DNS resolver's sockets (dns_server.h).
//
// Rules every file here keeps (CNI plugins are the model):
// - Acting needs root; the builders of what to apply (rule text, addresses) live in
//   net/domain and are tested without it. Everything here is tested as root in
//   tests/privileged/.
// - Every call is idempotent: creating what exists finds it, deleting what is gone
//   succeeds, so a repeat after a crash or restart carries on.
// - Every kernel object carries its owner (a name prefix, a link alias, an nft comment),
//   so garbage collection removes exactly kecs's own objects.
// - Namespace work runs on a dedicated thread that enters the namespace (setns is per
//   thread) and never returns a thread to a pool in the wrong namespace.
// - No dependency on the store: the kernel side takes values (from net/domain), and
//   library errors (libnl, libnftables, errno) stop here as Status values with context.
#include "net/kernel/dns_server.h"  // IWYU pragma: export
#include "net/kernel/host_ports.h"  // IWYU pragma: export
#include "net/kernel/metadata_listener.h"  // IWYU pragma: export
#include "net/kernel/netlink.h"     // IWYU pragma: export
#include "net/kernel/netns.h"       // IWYU pragma: export
#include "net/kernel/nft.h"         // IWYU pragma: export
