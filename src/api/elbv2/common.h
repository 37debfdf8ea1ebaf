#pragma once
// Helpers shared by the ELBv2 handlers: AWS's error codes, lookups by ARN, Marker paging.
// Every function that takes a Tx runs inside the caller's transaction; lookups throw
// AwsError with ELBv2's NotFound code. Thread-safe (no state).
#include <string>
#include <vector>

#include "api/errors.h"
#include "base/json.h"
#include "base/status.h"
#include "model/elb.h"
#include "state/store.h"

namespace kecs::api::elbv2 {

// An ELBv2 error (Query protocol, HTTP 400 unless given).
AwsError ElbError(std::string code, std::string message, int http_status = 400);
// ValidationError, ELBv2's code for a request that breaks a rule of the API.
AwsError ValidationError(std::string message);
// A lower layer's failure, as the router's one error table words it (api/errors.h).
void Check(const Status& st);
template <typename T>
T Check(Result<T> r) {
  Check(r.status());
  return std::move(r).value();
}

// The resource an ARN names, or AWS's NotFound error: LoadBalancerNotFound "One or more
// load balancers not found", ListenerNotFound "One or more listeners not found",
// RuleNotFound "One or more rules not found", TargetGroupNotFound "One or more target
// groups not found". A malformed ARN is ValidationError "'<arn>' is not a valid ... ARN".
model::LoadBalancer RequireLoadBalancer(state::Tx& tx, const std::string& region, const std::string& arn);
model::Listener RequireListener(state::Tx& tx, const std::string& region, const std::string& arn);
model::Rule RequireRule(state::Tx& tx, const std::string& region, const std::string& arn);
model::TargetGroup RequireTargetGroup(state::Tx& tx, const std::string& region, const std::string& arn);

// Marker/PageSize paging (ELBv2's): `keys` ascending (SeqKey of each item). Returns the
// [begin, end) slice and writes NextMarker into `out` when more remain. A Marker kecs did
// not issue is ValidationError "Invalid Marker".
std::pair<size_t, size_t> PageByMarker(const std::vector<std::string>& keys, const Json& in, Json& out);

}  // namespace kecs::api::elbv2
