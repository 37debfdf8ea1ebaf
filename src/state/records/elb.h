#pragma once
// The store converter for Elastic Load Balancing: model::LoadBalancer, Listener, Rule and
// TargetGroup to and from their rows, and to the AWS shapes the ELBv2 API shows.
//
// Rows (kinds in model/elb.h):
//   elb:lb        id = lb id, parent = VPC id, name = LoadBalancerName, status = State.Code;
//                 doc = the AWS LoadBalancer shape; internal = {attributes, tags}
//   elb:listener  id = listener id, parent = lb id, name = port; doc = the AWS Listener
//                 shape; internal = {defaultRuleId, attributes, tags, hostPort}
//   elb:rule      id = rule id, parent = listener id, name = priority (5 digits, so names
//                 sort by priority); doc = the AWS Rule shape; internal = {tags}
//   elb:tg        id = tg id, parent = VPC id, name = TargetGroupName; doc = the AWS
//                 TargetGroup shape without LoadBalancerArns (derived at read time);
//                 internal = {attributes, tags, targets}
// Decoding is strict: a row that does not parse, or has a member of the wrong type, is
// Internal naming the resource. Functions taking a Tx run inside the caller's transaction.
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/status.h"
#include "model/elb.h"
#include "state/store.h"

namespace kecs::state::records {

Result<model::LoadBalancer> DecodeLoadBalancer(const Object& row);
Object EncodeLoadBalancer(const model::LoadBalancer& lb);
// The AWS LoadBalancer shape (DescribeLoadBalancers). `host_address`, when set, is shown
// as each zone's LoadBalancerAddresses[].IpAddress (the host address listeners are
// published on); PrivateIPv4Address is the node's ENI address.
Json LoadBalancerToAws(const model::LoadBalancer& lb, const std::string& host_address = "");

Result<model::Listener> DecodeListener(const Object& row);
Object EncodeListener(const model::Listener& l);
Json ListenerToAws(const model::Listener& l);

Result<model::Rule> DecodeRule(const Object& row);
Object EncodeRule(const model::Rule& r);
Json RuleToAws(const model::Rule& r);
// The listener's default rule as DescribeRules shows it (Priority "default", IsDefault).
Json DefaultRuleToAws(const model::Listener& l, const std::string& rule_arn);

Result<model::TargetGroup> DecodeTargetGroup(const Object& row);
Object EncodeTargetGroup(const model::TargetGroup& tg);
// The AWS TargetGroup shape; `load_balancer_arns` are the load balancers whose listeners
// or rules forward to it.
Json TargetGroupToAws(const model::TargetGroup& tg, const std::vector<std::string>& load_balancer_arns);

// Actions and conditions in AWS's shapes, and back. FromAws functions return
// InvalidArgument naming the member when a member has the wrong type or an unknown enum
// value (the API validates the model's constraints before).
Json ActionToAws(const model::Action& a);
Result<model::Action> ActionFromAws(const Json& j);
Json ActionsToAws(const std::vector<model::Action>& actions);
Result<std::vector<model::Action>> ActionsFromAws(const Json& j);
Json ConditionToAws(const model::RuleCondition& c);
Result<model::RuleCondition> ConditionFromAws(const Json& j);
// The XxxConfig member of a condition field ("PathPatternConfig" for "path-pattern"), or
// nullptr for a field AWS does not have.
const char* ConditionConfigMember(const std::string& field);
Json KeyValuesToAws(const model::KeyValues& kv);  // [{"Key":..,"Value":..}]
Result<model::KeyValues> KeyValuesFromAws(const Json& j);

// ---- Lookups (nullopt / empty when there is none) ----
Result<std::optional<model::LoadBalancer>> GetLoadBalancer(Tx& tx, const std::string& region, const std::string& id);
Result<std::optional<model::Listener>> GetListener(Tx& tx, const std::string& region, const std::string& id);
Result<std::optional<model::Rule>> GetRule(Tx& tx, const std::string& region, const std::string& id);
Result<std::optional<model::TargetGroup>> GetTargetGroup(Tx& tx, const std::string& region, const std::string& id);
Status PutLoadBalancer(Tx& tx, const model::LoadBalancer& lb);
Status PutListener(Tx& tx, const model::Listener& l);
Status PutRule(Tx& tx, const model::Rule& r);
Status PutTargetGroup(Tx& tx, const model::TargetGroup& tg);

// In creation order; `any_region` lists every region's (the controllers' scans).
Result<std::vector<model::LoadBalancer>> ListLoadBalancers(Tx& tx, const std::string& region, bool any_region = false);
Result<std::vector<model::Listener>> ListListeners(Tx& tx, const std::string& region, const std::string& lb_id);
// Ordered by priority.
Result<std::vector<model::Rule>> ListRules(Tx& tx, const std::string& region, const std::string& listener_id);
Result<std::vector<model::TargetGroup>> ListTargetGroups(Tx& tx, const std::string& region, bool any_region = false);

// The target group ids a listener's default actions and rules forward to.
std::vector<std::string> ForwardedTargetGroupIds(const std::vector<model::Action>& actions);
// The ids of the load balancers that forward to target group `tg_id` (through a listener's
// default actions or a rule), in creation order.
Result<std::vector<std::string>> LoadBalancersOfTargetGroup(Tx& tx, const std::string& region,
                                                            const std::string& tg_id);

// The ids of every target group some load balancer of `region` forwards to: one scan of
// the load balancers, listeners and rules, for callers that would otherwise ask
// LoadBalancersOfTargetGroup once per group.
Result<std::set<std::string>> TargetGroupsInUse(Tx& tx, const std::string& region);

// What a load balancer's DNS name means inside VPC `vpc_id` of `region`: its nodes'
// addresses (A: IPv4, AAAA: IPv6), or nullopt when the name is no load balancer of that
// VPC's region (the VPC resolver then tries Cloud Map, then forwards). Internet-facing
// load balancers resolve from every VPC, internal ones only from their own.
struct LbDnsAnswer {
  std::vector<std::string> ipv4;
  std::vector<std::string> ipv6;
};
Result<std::optional<LbDnsAnswer>> LookupLoadBalancerDns(Tx& tx, const std::string& region,
                                                        const std::string& vpc_id, const std::string& name);

}  // namespace kecs::state::records
