#include "net/kernel/nft.h"

#include <nftables/libnftables.h>

#include <memory>
#include <mutex>

#include "net/kernel/netns.h"

namespace kecs::net::nft {
namespace {

// libnftables contexts are not thread-safe; a context is used by one thread at a time,
// and the kernel serialises transactions anyway.
std::mutex g_mu;

struct CtxDeleter {
  void operator()(nft_ctx* c) const { nft_ctx_free(c); }
};

Result<std::string> RunInCurrentNs(const std::string& text, bool want_output, bool json = false) {
  std::unique_ptr<nft_ctx, CtxDeleter> ctx(nft_ctx_new(NFT_CTX_DEFAULT));
  if (!ctx) return Internal("nft_ctx_new failed");
  if (json) nft_ctx_output_set_flags(ctx.get(), NFT_CTX_OUTPUT_JSON);
  nft_ctx_buffer_output(ctx.get());
  nft_ctx_buffer_error(ctx.get());
  int rc = nft_run_cmd_from_buffer(ctx.get(), text.c_str());
  std::string err = nft_ctx_get_error_buffer(ctx.get());
  std::string out = nft_ctx_get_output_buffer(ctx.get());
  if (rc != 0) return Internal("nft: " + (err.empty() ? std::string("command failed") : err));
  return want_output ? out : std::string();
}

}  // namespace

Status Apply(const std::string& netns, const std::string& script) {
  std::lock_guard<std::mutex> lock(g_mu);
  return netns::Run(netns, [&]() -> Status { return RunInCurrentNs(script, false).status(); });
}

Result<std::string> Query(const std::string& netns, const std::string& command) {
  std::lock_guard<std::mutex> lock(g_mu);
  std::string out;
  Status st = netns::Run(netns, [&]() -> Status {
    auto r = RunInCurrentNs(command, true);
    if (!r.ok()) return r.status();
    out = *r;
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return out;
}

Result<Json> QueryJson(const std::string& netns, const std::string& command) {
  std::lock_guard<std::mutex> lock(g_mu);
  std::string out;
  Status st = netns::Run(netns, [&]() -> Status {
    auto r = RunInCurrentNs(command, true, /*json=*/true);
    if (!r.ok()) return r.status();
    out = *r;
    return Status::Ok();
  });
  if (!st.ok()) return st;
  auto j = ParseJson(out);
  if (!j) return Internal("nft returned malformed JSON for `" + command + "`");
  return *j;
}

Result<std::vector<Element>> ListElements(const std::string& netns, const std::string& command) {
  ASSIGN_OR_RETURN(Json doc, QueryJson(netns, command));
  std::vector<Element> out;
  const Json* items = JGet(doc, "nftables");
  if (!items || !items->is_array()) return out;
  for (const auto& item : *items) {
    const Json* obj = JGet(item, "set");
    if (!obj) obj = JGet(item, "map");
    const Json* elems = obj ? JGet(*obj, "elem") : nullptr;
    if (!elems || !elems->is_array()) continue;
    for (const auto& e : *elems) {
      // A map element is [key, value]; a key with a comment is {"elem": {"val", "comment"}}.
      const Json* key = e.is_array() ? (e.empty() ? nullptr : &e[0]) : &e;
      if (!key) continue;
      Element el;
      if (key->is_object()) {
        const Json* inner = JGet(*key, "elem");
        if (!inner || !inner->is_object()) continue;
        el.comment = JStr(*inner, "comment");
        key = JGet(*inner, "val");
        if (!key) continue;
      }
      if (key->is_string()) {
        el.text = key->get<std::string>();
      } else if (key->is_number_integer()) {
        el.number = key->get<int64_t>();
        el.text = std::to_string(el.number);
      } else {
        continue;
      }
      out.push_back(std::move(el));
    }
  }
  return out;
}

}  // namespace kecs::net::nft
