#pragma once
// The task controller's network hooks: an awsvpc task's ENI and addresses.
//
// provision creates the task's ENI in its chosen subnet (address from IPAM, the task's
// security groups, description "arn:aws:ecs:<region>:<account>:attachment/<id>",
// requester-managed, in-use) and records what the runtime needs in the task's
// "kecs:network.eni". release deletes the ENI and frees everything the task held.
#include "reconcile/task_controller.h"

namespace kecs::reconcile {

struct NetworkHookOptions {
  std::string bridge_cidr = "172.17.0.0/16";  // bridge-mode tasks take an address of it
  int public_port_first = 32000;               // assignPublicIp host ports
  int public_port_last = 32999;
  std::string public_ip;                       // the address reported as the ENI's public IP
  std::string bind_ip = "0.0.0.0";             // networkBindings' bindIP
  bool probe_host_ports = true;                // skip ports another program holds
};

// assignPublicIp: one host port per port mapping from the public range, durable in the
// port_allocations table (pool "public"), recorded in "kecs:network.published" for the
// runtime's DNAT and shown in DescribeTasks and the ENI's association.
Status ProvisionNetwork(state::Tx& tx, state::Object& task, double now,
                        const NetworkHookOptions& options);
Status ReleaseNetwork(state::Tx& tx, state::Object& task);

}  // namespace kecs::reconcile
