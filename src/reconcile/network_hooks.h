#pragma once
// The task controller's network hooks: an awsvpc task's ENI and addresses, a bridge task's
// address on the host bridge, and the host address its published ports show.
//
// provision creates an awsvpc task's ENI in the first of its subnets with room (address
// from IPAM, the task's security groups, description
// "arn:aws:ecs:<region>:<account>:attachment/<id>", requester-managed, in-use) and records
// what the runtime needs in task.internal.network.eni; a bridge task gets an address of the
// bridge CIDR (internal.network.bridge_ip). Every task's networkBindings show
// NetworkHookOptions.bind_ip (--publish-address). A repeated call finds the resources
// already recorded and does nothing. release deletes the ENI and frees everything the task
// held; repeating it is harmless. Both run in the caller's write transaction.
#include <string>

#include "base/status.h"
#include "model/task.h"
#include "state/store.h"

namespace kecs::reconcile {

struct NetworkHookOptions {
  std::string bridge_cidr = "172.17.0.0/16";  // bridge-mode tasks take an address of it
  int public_port_first = 32000;               // assignPublicIp host ports
  int public_port_last = 32999;
  std::string public_ip;                       // the address reported as the ENI's public IP
  std::string bind_ip = "0.0.0.0";             // networkBindings' bindIP (--publish-address)
  bool probe_host_ports = true;                // skip ports another program holds
};

// assignPublicIp: one host port per port mapping from the public range, durable in the
// port_allocations table (pool "public"), recorded in internal.network.published for the
// runtime's DNAT and shown in DescribeTasks and the ENI's association.
// Errors are worded "ResourceInitializationError: ..." (ResourceExhausted when a subnet or
// the port range is full, NotFound when the subnet is gone).
//
// A bridge- or host-mode task placed on a container instance whose ec2InstanceId names an
// EC2 instance kecs runs (issue 17) records that instance and its primary address in
// internal.network.instance (the instance must be running: FailedPrecondition otherwise);
// a bridge task's address then comes from the instance's own pool (BridgePool), and its
// networkBindings show 0.0.0.0.
Status ProvisionNetwork(state::Tx& tx, model::Task& task, double now, const NetworkHookOptions& options);
// The IPAM pool (region "local") of the bridge inside EC2 instance `instance_id`.
std::string BridgePool(const std::string& instance_id);
Status ReleaseNetwork(state::Tx& tx, model::Task& task);

// What the runtime needs of network interface `eni` (an ec2:eni row) in `subnet` (its
// ec2:subnet row) to plumb it: its MAC and addresses, the subnet's CIDR and gateway, the
// VPC's CIDRs and resolver, and the VPC's transit slot (assigned on first use, so this
// may write). A task's ENI and a load balancer node's are described alike. Internal when
// the subnet has no valid CIDR; NotFound when the VPC is gone.
Result<model::TaskEni> EniFacts(state::Tx& tx, const std::string& region, const state::Object& eni,
                                const state::Object& subnet);

}  // namespace kecs::reconcile
