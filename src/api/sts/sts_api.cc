#include "api/sts/sts_api.h"

#include <fmt/format.h>

namespace kecs::api::sts {

void RegisterAll(Service& service) {
  service.Register("GetCallerIdentity", [](RequestContext& ctx, const Json&) {
    return Json{{"UserId", ctx.account_id},
                {"Account", ctx.account_id},
                {"Arn", fmt::format("arn:aws:iam::{}:root", ctx.account_id)}};
  });
  // AWS answers the account that owns the key, for any well-formed key id (the model
  // checks its length and characters); every key kecs accepts is its one account's.
  service.Register("GetAccessKeyInfo", [](RequestContext& ctx, const Json&) {
    return Json{{"Account", ctx.account_id}};
  });
}

}  // namespace kecs::api::sts
