#pragma once
// EC2 instances (issue 17) as instances.cc stores them, for the instance controller, the
// ECS agent's registration and the instance metadata service.
//
// An instance is one store object of kind net::kEc2Instance ("ec2:instance"): its id the
// instance id, its parent the VPC id, its name the reservation id (RunInstances call), its
// status the state name (pending, running, stopping, stopped, shutting-down, terminated).
// Its document is EC2's Instance shape as DescribeInstances shows it, plus kecs's own
// members (prefixed "kecs:", left out of every answer):
//   kecs:userData          the UserData as given (base64), absent without
//   kecs:clientToken       RunInstances' ClientToken
//   kecs:ownerId           the account
//   kecs:disableApiTermination / kecs:disableApiStop / kecs:shutdownBehavior
//   kecs:pendingTime       when it last entered pending (epoch seconds)
//   kecs:terminatedAt      when it reached terminated (epoch seconds)
//   kecs:ecsCluster        the cluster its user data names (ECS_CLUSTER), when it does
//   kecs:containerInstance the ECS container instance id the agent registered, when any
#include <optional>
#include <string>
#include <string_view>

#include "base/json.h"
#include "model/ec2_instance.h"

namespace kecs::api::ec2 {

// State codes and names: model/ec2_instance.h.
using model::InstanceState;
using model::kTerminatedVisibleSeconds;

// The instance identity document of `instance` (its stored document), with AWS's members
// in AWS's order: accountId, architecture, availabilityZone, billingProducts,
// devpayProductCodes, marketplaceProductCodes, imageId, instanceId, instanceType, kernelId,
// pendingTime, privateIp, ramdiskId, region, version "2017-09-30". The one place it is built.
Json InstanceIdentityDocument(const Json& instance, const std::string& region, const std::string& account);
// The document as IMDS serves it (pretty-printed with two spaces, as the real one).
std::string IdentityDocumentText(const Json& document);

// The ECS cluster that decoded user data configures (ECS_CLUSTER=name written to
// /etc/ecs/ecs.config): a shell script, a cloud-init MIME multipart whose parts are
// scripts (base64 or quoted-printable parts are decoded), or cloud-config write_files /
// runcmd lines. Quotes around the name are removed. nullopt when none sets it.
std::optional<std::string> EcsClusterFromUserData(std::string_view decoded);

}  // namespace kecs::api::ec2
