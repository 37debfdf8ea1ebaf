#pragma once
// Listener and rule actions and rule conditions: parsed from a request's AWS shapes into
// typed records (model::Action, model::RuleCondition) and validated as ELBv2 validates
// them, once, before a listener or rule is written. Matching requests against conditions
// is the data plane's (the HAProxy renderer); nothing here decides routing.
//
// Every refusal is an AwsError with ELBv2's code and, where a source was found, AWS's
// message (the source is cited beside each one; where none was found the comment says
// that the wording is kecs's). Functions taking a Tx run inside the caller's transaction.
// Thread-safe (no state).
#include <string>
#include <vector>

#include "base/json.h"
#include "model/elb.h"
#include "state/store.h"

namespace kecs::api::elbv2 {

// What a list of actions belongs to.
struct ActionScope {
  const model::LoadBalancer* lb = nullptr;
  model::LbProtocol listener_protocol = model::LbProtocol::kHttp;
  // The listener the actions are for; "" while it is being created.
  std::string listener_id;
  // The rule the actions are for; "" for a listener's default actions and new rules.
  std::string rule_id;
};

// The request's `Actions` / `DefaultActions` list parsed and validated: types the load
// balancer supports, each type's configuration, Order, exactly one terminal action, and
// the target groups forwarded to (existing, in the load balancer's VPC, of a protocol
// that fits the listener, used by no other load balancer).
std::vector<model::Action> ParseActions(state::Tx& tx, const std::string& region, const ActionScope& scope,
                                        const Json& list);

// Revalidates `actions` (already parsed) for a listener whose protocol changes
// (ModifyListener): target groups must still fit.
void CheckActionsForProtocol(state::Tx& tx, const std::string& region, const ActionScope& scope,
                             const std::vector<model::Action>& actions);

// The request's `Conditions` list parsed and validated: known fields, each at most once
// (http-header and query-string may repeat), values of the lengths and characters AWS
// allows, and at most 5 condition values in all.
std::vector<model::RuleCondition> ParseConditions(const Json& list);

}  // namespace kecs::api::elbv2
