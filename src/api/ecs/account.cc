// ECS account settings: PutAccountSetting, PutAccountSettingDefault, DeleteAccountSetting,
// ListAccountSettings. Stored per principal: "root/<name>" for the caller (kecs has one
// principal, the account root) and "default/<name>" for the account default.
#include <map>

#include <fmt/format.h>

#include "api/ecs/common.h"
#include "api/ecs/ecs_api.h"
#include "api/pagination.h"

namespace kecs::api::ecs {
namespace {

// AWS's defaults for an account that never set anything.
const std::map<std::string, std::string>& AwsDefaults() {
  static const std::map<std::string, std::string> kDefaults = {
      {"serviceLongArnFormat", "enabled"},     {"taskLongArnFormat", "enabled"},
      {"containerInstanceLongArnFormat", "enabled"}, {"awsvpcTrunking", "disabled"},
      {"containerInsights", "disabled"},       {"dualStackIPv6", "disabled"},
      {"fargateFIPSMode", "disabled"},         {"tagResourceAuthorization", "on"},
      {"fargateTaskRetirementWaitPeriod", "7"}, {"guardDutyActivate", "off"},
      {"defaultLogDriverMode", "blocking"},    {"fargateEventWindows", "disabled"},
  };
  return kDefaults;
}

void ValidateValue(const std::string& name, const std::string& value) {
  bool ok;
  if (name == "containerInsights") {
    ok = value == "enabled" || value == "disabled" || value == "enhanced";
  } else if (name == "fargateTaskRetirementWaitPeriod") {
    ok = value == "0" || value == "7" || value == "14";
  } else if (name == "tagResourceAuthorization" || name == "guardDutyActivate") {
    ok = value == "on" || value == "off";
  } else if (name == "defaultLogDriverMode") {
    ok = value == "blocking" || value == "non-blocking";
  } else {
    ok = value == "enabled" || value == "disabled";
  }
  if (!ok) throw InvalidParameter("Invalid setting 'value'");
}

std::string RootArn(const RequestContext& ctx) {
  return fmt::format("arn:aws:iam::{}:root", ctx.account_id);
}

// The principal key for a principalArn: kecs's only principal is the account root, and
// any IAM user or role ARN of this account is stored under its own ARN.
std::string PrincipalKey(const RequestContext& ctx, const std::string& principal) {
  if (principal.empty() || principal == RootArn(ctx)) return "root";
  return principal;
}

Json Put(state::Store& store, RequestContext& ctx, const std::string& key_prefix,
         const std::string& name, const std::string& value, const std::string& principal_arn) {
  ValidateValue(name, value);
  Json setting = {{"name", name}, {"value", value}, {"principalArn", principal_arn},
                  {"type", "user"}};
  Check(store.Write([&](state::Tx& tx) {
    Check(tx.Put({kAccountSetting, ctx.region, key_prefix + "/" + name, key_prefix, name, "", 0,
                  setting}));
    return Status::Ok();
  }));
  return {{"setting", setting}};
}

}  // namespace

Json EcsApi::PutAccountSetting(RequestContext& ctx, const Json& in) {
  std::string principal = JStr(in, "principalArn", RootArn(ctx));
  return Put(store_, ctx, PrincipalKey(ctx, principal), JStr(in, "name"), JStr(in, "value"),
             principal);
}

Json EcsApi::PutAccountSettingDefault(RequestContext& ctx, const Json& in) {
  return Put(store_, ctx, "default", JStr(in, "name"), JStr(in, "value"), RootArn(ctx));
}

Json EcsApi::DeleteAccountSetting(RequestContext& ctx, const Json& in) {
  std::string name = JStr(in, "name");
  std::string principal = JStr(in, "principalArn", RootArn(ctx));
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    std::string key = PrincipalKey(ctx, principal) + "/" + name;
    auto o = Check(tx.Get(kAccountSetting, ctx.region, key));
    Json setting = o ? o->doc : Json{{"name", name}, {"value", AwsDefaults().count(name) ? AwsDefaults().at(name) : ""},
                                     {"principalArn", principal}, {"type", "user"}};
    Check(tx.Delete(kAccountSetting, ctx.region, key));
    out = {{"setting", setting}};
    return Status::Ok();
  }));
  return out;
}

Json EcsApi::ListAccountSettings(RequestContext& ctx, const Json& in) {
  size_t max = static_cast<size_t>(JInt(in, "maxResults", 10));
  if (max < 1 || max > 10) throw InvalidParameter("maxResults must be between 1 and 10.");
  std::optional<std::string> name = JOptStr(in, "name"), value = JOptStr(in, "value");
  std::string principal = JStr(in, "principalArn", RootArn(ctx));
  bool effective = JBool(in, "effectiveSettings");
  std::map<std::string, Json> settings;  // by name
  Check(store_.Read([&](state::Tx& tx) {
    if (effective) {
      for (const auto& [n, v] : AwsDefaults()) {
        settings[n] = {{"name", n}, {"value", v}, {"principalArn", principal}, {"type", "aws_managed"}};
      }
      for (const auto& o : Check(tx.List({kAccountSetting, ctx.region, std::string("default")}))) {
        Json s = o.doc;
        s["principalArn"] = principal;
        settings[o.name] = s;
      }
    }
    for (const auto& o : Check(tx.List({kAccountSetting, ctx.region, PrincipalKey(ctx, principal)}))) {
      settings[o.name] = o.doc;
    }
    return Status::Ok();
  }));
  std::vector<std::string> keys;
  std::vector<Json> rows;
  for (const auto& [n, s] : settings) {
    if (name && n != *name) continue;
    if (value && JStr(s, "value") != *value) continue;
    keys.push_back(n);
    rows.push_back(s);
  }
  auto page = Paginate(keys, JOptStr(in, "nextToken"), max);
  if (!page) BadToken();
  Json out = {{"settings", std::vector<Json>(rows.begin() + page->begin, rows.begin() + page->end)}};
  if (page->next_token) out["nextToken"] = *page->next_token;
  return out;
}

}  // namespace kecs::api::ecs
