#pragma once
// AWS STS (Query protocol, Version 2011-06-15; the router picks it by the signing name sts):
// GetCallerIdentity, which Terraform, the CDK and most tools call before anything else, and
// GetAccessKeyInfo.
//
// kecs has no IAM: every caller, signed by any key (or by a key of --auth-keys when those are
// set, which the router checks before this), is the account's root user, as AWS reports a
// request signed with the root user's keys: UserId is the account id and Arn is
// arn:aws:iam::<account>:root. Stateless.
#include "api/router.h"

namespace kecs::api::sts {

// Registers GetCallerIdentity and GetAccessKeyInfo on `service` (the STS model's).
void RegisterAll(Service& service);

}  // namespace kecs::api::sts
