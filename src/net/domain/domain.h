#pragma once
// net/domain: the VPC and Cloud Map model as kecs stores it. The contract of this half of
// net/ (the other half, net/kernel, makes it real on the host).
//
// What lives here: address values and CIDR arithmetic (ip.h); IP address management and
// host-port pools over the allocation tables (ipam.h); VPCs, subnets, security groups,
// network interfaces, gateways, route tables and network ACLs as store objects with the
// rules that tie them together (vpc.h); the security-group/ACL packet filter as nftables
// text built from a VpcPolicy (sg_policy.h); the Cloud Map model and its DNS lookup
// (discovery.h).
//
// Rules every file here keeps:
// - Pure logic over the store: functions take a state::Tx (so they run inside the
//   caller's transaction and commit or roll back with it) or plain values. Nothing here
//   opens a socket, enters a namespace, spawns a process or needs root, so all of it is
//   unit-tested without privileges.
// - Errors are Status codes with their context; wording AWS's errors is the API layer's
//   job. Inputs are assumed validated by the API handlers.
// - Allocation is durable: the database's unique keys refuse a second holder, so
//   concurrent writers can never share an address or a port.
// - Thread safety: free functions over a Tx; a Tx belongs to one thread.
#include "net/domain/discovery.h"  // IWYU pragma: export
#include "net/domain/ip.h"         // IWYU pragma: export
#include "net/domain/ipam.h"       // IWYU pragma: export
#include "net/domain/sg_policy.h"  // IWYU pragma: export
#include "net/domain/vpc.h"        // IWYU pragma: export
