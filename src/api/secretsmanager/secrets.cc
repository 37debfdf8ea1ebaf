// The Secrets Manager operations. Messages follow Secrets Manager's wording where AWS
// documents or is known to send it.
#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <set>

#include <fmt/format.h>

#include "api/pagination.h"
#include "api/secretsmanager/secretsmanager_api.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/strings.h"

namespace kecs::api::secretsmanager {
namespace {

constexpr size_t kMaxValueBytes = 65536;
constexpr const char* kNotFoundMessage = "Secrets Manager can't find the specified secret.";
constexpr const char* kMarkedForDeletion =
    "You can't perform this operation on the secret because it was marked for deletion.";

AwsError InvalidParameter(std::string message) { return AwsError("InvalidParameterException", std::move(message)); }
AwsError InvalidRequest(std::string message) { return AwsError("InvalidRequestException", std::move(message)); }
AwsError NoSuchSecret(std::string message = kNotFoundMessage) {
  return AwsError("ResourceNotFoundException", std::move(message));
}
// A value the server cannot seal or open: a lost, replaced or unreadable key file or a
// corrupted row. A server fault (HTTP 500); no value is quoted.
AwsError ServerFault(std::string message) { return AwsError("InternalServiceError", std::move(message), 500); }

void Check(const Status& st) { ThrowIfError(st); }
template <typename T>
T Check(Result<T> r) {
  Check(r.status());
  return std::move(r).value();
}

bool Expired(const Secret& s, double now) { return s.scheduled() && s.deletion_date <= now; }

bool NameChar(unsigned char c) {
  return std::isalnum(c) || c == '/' || c == '_' || c == '+' || c == '=' || c == '.' || c == '@' || c == '-';
}

void ValidateName(const std::string& name) {
  if (name.empty() || !std::all_of(name.begin(), name.end(), NameChar)) {
    throw InvalidParameter(
        "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: "
        "-/_+=.@!");
  }
}

// The row of the secret `id` names, in `region`, as `account` sees it; nullopt when there
// is none (or it is past its deletion date).
std::optional<Secret> Load(state::Tx& tx, const std::string& region, const std::string& account,
                           std::string_view id_text, double now) {
  SecretIdParts id = ParseSecretId(id_text);
  if (id.arn && id.region != region) return std::nullopt;
  std::vector<std::string> candidates = {id.name};
  // A full ARN's name part ends with "-" and six characters AWS added.
  if (id.arn && id.name.size() > 7 && id.name[id.name.size() - 7] == '-') {
    candidates.push_back(id.name.substr(0, id.name.size() - 7));
  }
  for (const auto& name : candidates) {
    auto row = Check(tx.Get(kSecretKind, region, name));
    if (!row) continue;
    Secret s = Check(DecodeSecret(*row));
    if (Names(s, id, account) && !Expired(s, now)) return s;
  }
  return std::nullopt;
}

Secret MustLoad(state::Tx& tx, const RequestContext& ctx, const std::string& id) {
  auto s = Load(tx, ctx.region, ctx.account_id, id, ctx.now);
  if (!s) throw NoSuchSecret();
  return std::move(*s);
}

// Removes the rows of secrets whose deletion date has passed (every write calls it, so a
// window's end really deletes).
void Purge(state::Tx& tx, double now) {
  state::Query q{kSecretKind, ""};
  q.any_region = true;
  q.status = "DELETING";
  for (const auto& row : Check(tx.List(q))) {
    Secret s = Check(DecodeSecret(row));
    if (Expired(s, now)) Check(tx.Delete(kSecretKind, s.region, s.name).status());
  }
}

std::vector<Tag> TagsFrom(const Json& list) {
  std::vector<Tag> out;
  for (const auto& t : list) out.push_back({JStr(t, "Key"), JStr(t, "Value")});
  return out;
}

void MergeTags(std::vector<Tag>& tags, const std::vector<Tag>& add) {
  for (const auto& t : add) {
    if (t.key.empty()) throw InvalidParameter("You can't use an empty tag key.");
    if (t.key.starts_with("aws:")) throw InvalidParameter("Tag keys can't begin with the reserved prefix aws:.");
    auto it = std::find_if(tags.begin(), tags.end(), [&](const Tag& x) { return x.key == t.key; });
    if (it != tags.end()) {
      it->value = t.value;
    } else {
      tags.push_back(t);
    }
  }
  if (tags.size() > kMaxTags) {
    throw AwsError("LimitExceededException", "You can't add more than 50 tags to a secret.");
  }
}

// The value a write request carries: SecretString or SecretBinary (base64 on the wire),
// at most one, within Secrets Manager's 65,536 bytes. nullopt when neither is given.
struct Value {
  std::string text;  // the SecretString, or the SecretBinary's base64 text
  bool binary = false;
};
std::optional<Value> ValueFrom(const Json& in) {
  auto str = JOptStr(in, "SecretString");
  auto bin = JOptStr(in, "SecretBinary");
  if (str && bin) {
    throw InvalidParameter("You can't specify both a binary secret value and a string secret value in the same "
                           "secret.");
  }
  if (str) {
    if (str->size() > kMaxValueBytes) {
      throw AwsError("LimitExceededException", "The secret value exceeds the maximum size of 65,536 bytes.");
    }
    return Value{*str, false};
  }
  if (bin) {
    auto raw = Base64Decode(*bin);
    if (!raw.ok()) throw InvalidParameter("SecretBinary must be base64-encoded binary data.");
    if (raw->size() > kMaxValueBytes) {
      throw AwsError("LimitExceededException", "The secret value exceeds the maximum size of 65,536 bytes.");
    }
    return Value{*bin, true};
  }
  return std::nullopt;
}

Json ValueEntry(const Secret& s, const SecretVersion& v, const std::string& plain) {
  Json j = {{"ARN", s.arn}, {"Name", s.name}, {"VersionId", v.id}, {"VersionStages", v.stages},
            {"CreatedDate", v.created}};
  j[v.binary ? "SecretBinary" : "SecretString"] = plain;
  return j;
}

// Whether any secret, in any region, holds a sealed value.
bool AnySealedValue(state::Tx& tx) {
  state::Query q{kSecretKind, ""};
  q.any_region = true;
  for (const auto& row : Check(tx.List(q))) {
    if (!Check(DecodeSecret(row)).versions.empty()) return true;
  }
  return false;
}

}  // namespace

const ValueCipher& SecretsManagerApi::Cipher(state::Tx& tx) {
  auto cipher = cipher_.Get([&] { return AnySealedValue(tx); });
  if (!cipher.ok()) throw ServerFault(cipher.status().message());
  return **cipher;
}

std::string SecretsManagerApi::Open(state::Tx& tx, const Secret& s, const SecretVersion& v) {
  auto plain = Cipher(tx).Unseal(v.sealed, SealContext(s.arn, v.id));
  if (!plain.ok()) {
    throw ServerFault(fmt::format("Version {} of secret {} does not open under the key in {}: the key file was "
                                  "replaced or the stored row is corrupted.",
                                  v.id, s.name, cipher_.path()));
  }
  return std::move(*plain);
}

std::string SecretsManagerApi::Seal(state::Tx& tx, const Secret& s, const std::string& version_id,
                                    const std::string& plain) {
  return Check(Cipher(tx).Seal(plain, SealContext(s.arn, version_id)));
}

bool SecretsManagerApi::AddVersion(state::Tx& tx, Secret& s, const std::string& version_id,
                                   const std::string& value, bool binary, std::vector<std::string> stages,
                                   double now) {
  if (SecretVersion* existing = s.Find(version_id)) {
    if (existing->binary == binary && Open(tx, s, *existing) == value) return false;
    throw AwsError("ResourceExistsException",
                   "You can't modify an existing version, you can only create a new version.");
  }
  SecretVersion* old_current = s.WithStage(kCurrent);
  bool moves_current = std::find(stages.begin(), stages.end(), kCurrent) != stages.end();
  for (auto& v : s.versions) {
    std::erase_if(v.stages, [&](const std::string& st) {
      return std::find(stages.begin(), stages.end(), st) != stages.end();
    });
  }
  if (moves_current && old_current) {
    for (auto& v : s.versions) std::erase(v.stages, std::string(kPrevious));
    old_current->stages.push_back(kPrevious);
  }
  SecretVersion v;
  v.id = version_id;
  v.sealed = Seal(tx, s, version_id, value);
  v.binary = binary;
  v.stages = std::move(stages);
  v.created = now;
  s.versions.push_back(std::move(v));
  // Versions without stages are deprecated; the oldest of them go past 100 versions.
  while (s.versions.size() > kMaxVersions) {
    auto it = std::find_if(s.versions.begin(), s.versions.end(),
                           [](const SecretVersion& x) { return x.stages.empty(); });
    if (it == s.versions.end()) break;
    s.versions.erase(it);
  }
  s.last_changed = now;
  return true;
}

Json SecretsManagerApi::CreateSecret(RequestContext& ctx, const Json& in) {
  const std::string name = JStr(in, "Name");
  ValidateName(name);
  std::optional<Value> value = ValueFrom(in);
  std::vector<Tag> tags;
  MergeTags(tags, TagsFrom(in.value("Tags", Json::array())));
  if (in.contains("AddReplicaRegions") && !in.at("AddReplicaRegions").empty()) {
    throw InvalidRequest("kecs does not replicate secrets to other Regions.");
  }
  const std::string version_id = JOptStr(in, "ClientRequestToken").value_or(Uuid4());
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    Purge(tx, ctx.now);
    auto row = Check(tx.Get(kSecretKind, ctx.region, name));
    if (row) {
      Secret s = Check(DecodeSecret(*row));
      if (s.scheduled()) {
        throw InvalidRequest("You can't create this secret because a secret with this name is already scheduled "
                             "for deletion.");
      }
      // A retry with the same token and value is answered as the first call was.
      SecretVersion* v = in.contains("ClientRequestToken") ? s.Find(version_id) : nullptr;
      if (v && value && v->binary == value->binary && Open(tx, s, *v) == value->text) {
        out = {{"ARN", s.arn}, {"Name", s.name}, {"VersionId", v->id}};
        return Status::Ok();
      }
      throw AwsError("ResourceExistsException",
                     fmt::format("The operation failed because the secret {} already exists.", name));
    }
    Secret s;
    s.region = ctx.region;
    s.name = name;
    s.arn = NewSecretArn(ctx.region, ctx.account_id, name);
    s.description = JStr(in, "Description");
    s.kms_key_id = JStr(in, "KmsKeyId");
    s.created = ctx.now;
    s.last_changed = ctx.now;
    s.tags = tags;
    out = {{"ARN", s.arn}, {"Name", s.name}};
    if (value) {
      AddVersion(tx, s, version_id, value->text, value->binary, {kCurrent}, ctx.now);
      out["VersionId"] = version_id;
    }
    return tx.Put(EncodeSecret(s));
  }));
  return out;
}

Json SecretsManagerApi::ValueOf(state::Tx& tx, const Secret& s, const std::optional<std::string>& version_id,
                                const std::optional<std::string>& stage) {
  if (s.scheduled()) throw InvalidRequest(kMarkedForDeletion);
  const SecretVersion* v = nullptr;
  if (version_id) {
    v = s.Find(*version_id);
    if (!v) {
      throw NoSuchSecret(fmt::format("Secrets Manager can't find the specified secret value for VersionId: {}",
                                 *version_id));
    }
    if (stage && !v->Has(*stage)) {
      throw InvalidRequest(fmt::format("You provided a VersionStage that is not associated to the provided "
                                       "VersionId."));
    }
  } else {
    std::string st = stage.value_or(kCurrent);
    v = s.WithStage(st);
    if (!v) {
      throw NoSuchSecret(fmt::format("Secrets Manager can't find the specified secret value for staging label: {}", st));
    }
  }
  return ValueEntry(s, *v, Open(tx, s, *v));
}

Json SecretsManagerApi::GetSecretValue(RequestContext& ctx, const Json& in) {
  Json out;
  Check(store_.Read([&](state::Tx& tx) {
    Secret s = MustLoad(tx, ctx, JStr(in, "SecretId"));
    out = ValueOf(tx, s, JOptStr(in, "VersionId"), JOptStr(in, "VersionStage"));
    return Status::Ok();
  }));
  return out;
}

namespace {

std::vector<std::string> StagesFrom(const Json& in) {
  if (!in.contains("VersionStages")) return {kCurrent};
  std::vector<std::string> out;
  for (const auto& s : in.at("VersionStages")) {
    std::string st = s.get<std::string>();
    if (std::find(out.begin(), out.end(), st) == out.end()) out.push_back(st);
  }
  return out;
}

}  // namespace

Json SecretsManagerApi::PutSecretValue(RequestContext& ctx, const Json& in) {
  std::optional<Value> value = ValueFrom(in);
  if (!value) throw InvalidRequest("You must provide either SecretString or SecretBinary.");
  std::vector<std::string> stages = StagesFrom(in);
  const std::string version_id = JOptStr(in, "ClientRequestToken").value_or(Uuid4());
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    Purge(tx, ctx.now);
    Secret s = MustLoad(tx, ctx, JStr(in, "SecretId"));
    if (s.scheduled()) throw InvalidRequest(kMarkedForDeletion);
    bool added = AddVersion(tx, s, version_id, value->text, value->binary, stages, ctx.now);
    const SecretVersion* v = s.Find(version_id);
    out = {{"ARN", s.arn}, {"Name", s.name}, {"VersionId", version_id}, {"VersionStages", v->stages}};
    return added ? tx.Put(EncodeSecret(s)) : Status::Ok();
  }));
  return out;
}

Json SecretsManagerApi::UpdateSecret(RequestContext& ctx, const Json& in) {
  std::optional<Value> value = ValueFrom(in);
  const std::string version_id = JOptStr(in, "ClientRequestToken").value_or(Uuid4());
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    Purge(tx, ctx.now);
    Secret s = MustLoad(tx, ctx, JStr(in, "SecretId"));
    if (s.scheduled()) throw InvalidRequest(kMarkedForDeletion);
    if (auto d = JOptStr(in, "Description")) s.description = *d;
    if (auto k = JOptStr(in, "KmsKeyId")) s.kms_key_id = *k;
    s.last_changed = ctx.now;
    out = {{"ARN", s.arn}, {"Name", s.name}};
    if (value) {
      AddVersion(tx, s, version_id, value->text, value->binary, {kCurrent}, ctx.now);
      out["VersionId"] = version_id;
    }
    return tx.Put(EncodeSecret(s));
  }));
  return out;
}

Json SecretsManagerApi::UpdateSecretVersionStage(RequestContext& ctx, const Json& in) {
  const std::string stage = JStr(in, "VersionStage");
  auto remove_from = JOptStr(in, "RemoveFromVersionId");
  auto move_to = JOptStr(in, "MoveToVersionId");
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    Purge(tx, ctx.now);
    Secret s = MustLoad(tx, ctx, JStr(in, "SecretId"));
    if (s.scheduled()) throw InvalidRequest(kMarkedForDeletion);
    SecretVersion* holder = s.WithStage(stage);
    SecretVersion* target = nullptr;
    if (move_to) {
      target = s.Find(*move_to);
      if (!target) {
        throw NoSuchSecret(fmt::format("Secrets Manager can't find the specified secret value for VersionId: {}", *move_to));
      }
    }
    if (remove_from) {
      if (!s.Find(*remove_from)) {
        throw NoSuchSecret(fmt::format("Secrets Manager can't find the specified secret value for VersionId: {}",
                                   *remove_from));
      }
      if (!holder || holder->id != *remove_from) {
        throw InvalidParameter(fmt::format("The staging label {} is not attached to version {}.", stage, *remove_from));
      }
    }
    if (!move_to && !remove_from) {
      throw InvalidParameter("You must specify MoveToVersionId, RemoveFromVersionId or both.");
    }
    if (holder && move_to && holder != target && !remove_from) {
      throw InvalidParameter(fmt::format("The staging label {} is currently attached to version {}. You must "
                                         "specify RemoveFromVersionId to move it.",
                                         stage, holder->id));
    }
    if (stage == kCurrent && remove_from && !move_to) {
      throw InvalidParameter("You can't remove the staging label AWSCURRENT from a version without moving it to "
                             "another version.");
    }
    if (holder && (remove_from || holder != target)) std::erase(holder->stages, stage);
    if (target && !target->Has(stage)) {
      if (target->stages.size() >= 20) {
        throw AwsError("LimitExceededException", "A version can have at most 20 staging labels.");
      }
      target->stages.push_back(stage);
      if (stage == kCurrent && holder && holder != target) {
        for (auto& v : s.versions) std::erase(v.stages, std::string(kPrevious));
        holder->stages.push_back(kPrevious);
      }
    }
    s.last_changed = ctx.now;
    out = {{"ARN", s.arn}, {"Name", s.name}};
    return tx.Put(EncodeSecret(s));
  }));
  return out;
}

namespace {

int64_t MaxResults(const Json& in, int64_t def) { return JOptInt(in, "MaxResults").value_or(def); }

std::pair<size_t, size_t> PageOf(const std::vector<std::string>& keys, const Json& in, int64_t def, Json& out) {
  auto page = Paginate(keys, JOptStr(in, "NextToken"), static_cast<size_t>(MaxResults(in, def)));
  if (!page) throw AwsError("InvalidNextTokenException", "The NextToken value is invalid.");
  if (page->next_token) out["NextToken"] = *page->next_token;
  return {page->begin, page->end};
}

}  // namespace

Json SecretsManagerApi::ListSecretVersionIds(RequestContext& ctx, const Json& in) {
  const bool deprecated = in.value("IncludeDeprecated", false);
  std::vector<std::string> keys;
  std::vector<Json> items;
  Json out = Json::object();
  Check(store_.Read([&](state::Tx& tx) {
    Secret s = MustLoad(tx, ctx, JStr(in, "SecretId"));
    if (s.scheduled()) throw InvalidRequest(kMarkedForDeletion);
    out["ARN"] = s.arn;
    out["Name"] = s.name;
    size_t i = 0;
    for (const auto& v : s.versions) {
      ++i;
      if (v.stages.empty() && !deprecated) continue;
      keys.push_back(fmt::format("{:06d}", i));
      Json j = {{"VersionId", v.id}, {"VersionStages", v.stages}, {"CreatedDate", v.created}};
      j["KmsKeyIds"] = Json::array({s.kms_key_id.empty() ? "DefaultEncryptionKey" : s.kms_key_id});
      items.push_back(j);
    }
    return Status::Ok();
  }));
  auto [begin, end] = PageOf(keys, in, 100, out);
  out["Versions"] = std::vector<Json>(items.begin() + static_cast<long>(begin), items.begin() + static_cast<long>(end));
  return out;
}

Json SecretsManagerApi::DescribeSecret(RequestContext& ctx, const Json& in) {
  Json out;
  Check(store_.Read([&](state::Tx& tx) {
    out = DescribeToAws(MustLoad(tx, ctx, JStr(in, "SecretId")));
    return Status::Ok();
  }));
  return out;
}

namespace {

struct Filter {
  std::string key;
  std::vector<std::string> values;
};

std::vector<Filter> ParseFilters(const Json& list) {
  std::vector<Filter> out;
  for (const auto& f : list) {
    Filter filter{JStr(f, "Key"), {}};
    for (const auto& v : f.value("Values", Json::array())) filter.values.push_back(v.get<std::string>());
    if (filter.values.empty()) {
      throw InvalidParameter(fmt::format("Invalid filter values for key: {}. Filter values can't be empty.",
                                         filter.key));
    }
    for (const auto& v : filter.values) {
      bool ok = std::all_of(v.begin(), v.end(), [](unsigned char c) {
        return std::isalnum(c) || std::string_view(" :_@/+=.-!").find(static_cast<char>(c)) != std::string_view::npos;
      });
      if (!ok || v.empty() || v == "!" || (v.size() > 1 && v.find('!', 1) != std::string::npos)) {
        throw InvalidParameter(fmt::format("Invalid filter values for key: {}.", filter.key));
      }
    }
    out.push_back(std::move(filter));
  }
  return out;
}

bool PrefixOf(std::string_view value, std::string_view text, bool fold) {
  if (!fold) return text.starts_with(value);
  return ToLower(text).starts_with(ToLower(value));
}

// The words of `text` for the "all" key: split at anything but letters and digits.
std::vector<std::string> Words(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      cur.push_back(c);
    } else if (!cur.empty()) {
      out.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

// Whether one (positive) value of a filter matches `s`.
bool MatchOne(const Secret& s, const std::string& key, const std::string& value) {
  if (key == "name") return PrefixOf(value, s.name, false);
  if (key == "description") return PrefixOf(value, s.description, true);
  if (key == "primary-region") return PrefixOf(value, s.region, false);
  if (key == "owning-service") return false;  // kecs's secrets have no owning service
  if (key == "tag-key") {
    return std::any_of(s.tags.begin(), s.tags.end(), [&](const Tag& t) { return PrefixOf(value, t.key, false); });
  }
  if (key == "tag-value") {
    return std::any_of(s.tags.begin(), s.tags.end(), [&](const Tag& t) { return PrefixOf(value, t.value, false); });
  }
  // "all": each word of the value prefixes a word (or the whole) of some attribute,
  // case-insensitively.
  std::vector<std::string> attrs = {s.name, s.description, s.region};
  for (const auto& t : s.tags) {
    attrs.push_back(t.key);
    attrs.push_back(t.value);
  }
  for (const auto& w : Words(value)) {
    bool found = false;
    for (const auto& a : attrs) {
      if (PrefixOf(w, a, true)) found = true;
      for (const auto& aw : Words(a)) found = found || PrefixOf(w, aw, true);
    }
    if (!found) return false;
  }
  return true;
}

// Filters are ANDed; a filter's values are ORed, and a value "!x" excludes what "x" matches.
bool Matches(const Secret& s, const std::vector<Filter>& filters) {
  for (const auto& f : filters) {
    bool any_positive = false, positive_hit = false;
    for (const auto& v : f.values) {
      if (v.starts_with("!")) {
        if (MatchOne(s, f.key, v.substr(1))) return false;
      } else {
        any_positive = true;
        positive_hit = positive_hit || MatchOne(s, f.key, v);
      }
    }
    if (any_positive && !positive_hit) return false;
  }
  return true;
}

// The secrets of `region` that pass `filters`, in the order SortBy/SortOrder ask, with
// their pagination keys.
std::vector<Secret> ListMatching(state::Tx& tx, const RequestContext& ctx, const std::vector<Filter>& filters,
                                 bool include_deleted) {
  std::vector<Secret> out;
  for (const auto& row : Check(tx.List(state::Query{kSecretKind, ctx.region}))) {
    Secret s = Check(DecodeSecret(row));
    if (Expired(s, ctx.now) || (s.scheduled() && !include_deleted) || !Matches(s, filters)) continue;
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

Json SecretsManagerApi::ListSecrets(RequestContext& ctx, const Json& in) {
  auto filters = ParseFilters(in.value("Filters", Json::array()));
  const bool include_deleted = in.value("IncludePlannedDeletion", false);
  const std::string sort_by = JOptStr(in, "SortBy").value_or("created-date");
  const bool asc = JOptStr(in, "SortOrder").value_or("desc") == "asc";
  std::vector<Secret> secrets;
  Check(store_.Read([&](state::Tx& tx) {
    secrets = ListMatching(tx, ctx, filters, include_deleted);
    return Status::Ok();
  }));
  // Keys order the list ascending; a descending list pages over the reversed keys.
  auto key_of = [&](const Secret& s) {
    double at = sort_by == "last-changed-date" ? s.last_changed : s.created;
    std::string primary = sort_by == "name" ? s.name : fmt::format("{:020.6f}", at);
    return primary + '\x1f' + s.name;
  };
  std::sort(secrets.begin(), secrets.end(), [&](const Secret& a, const Secret& b) {
    return asc ? key_of(a) < key_of(b) : key_of(a) > key_of(b);
  });
  std::vector<std::string> keys;
  for (const auto& s : secrets) keys.push_back(key_of(s));
  auto page = Paginate(keys, JOptStr(in, "NextToken"), static_cast<size_t>(MaxResults(in, 100)), !asc);
  if (!page) throw AwsError("InvalidNextTokenException", "The NextToken value is invalid.");
  Json out = Json::object();
  if (page->next_token) out["NextToken"] = *page->next_token;
  Json list = Json::array();
  for (size_t i = page->begin; i < page->end; ++i) list.push_back(ListEntryToAws(secrets[i]));
  out["SecretList"] = list;
  return out;
}

Json SecretsManagerApi::BatchGetSecretValue(RequestContext& ctx, const Json& in) {
  const bool by_ids = in.contains("SecretIdList");
  const bool by_filters = in.contains("Filters");
  if (by_ids == by_filters) {
    throw InvalidParameter("Either SecretIdList or Filters must be provided, but not both.");
  }
  if (by_ids && in.contains("MaxResults")) {
    throw InvalidParameter("MaxResults can be used only with Filters, not with SecretIdList.");
  }
  Json values = Json::array();
  Json errors = Json::array();
  Json out = Json::object();
  Check(store_.Read([&](state::Tx& tx) {
    if (by_ids) {
      std::set<std::string> seen;
      for (const auto& j : in.at("SecretIdList")) {
        std::string id = j.get<std::string>();
        if (!seen.insert(id).second) continue;
        try {
          Secret s = MustLoad(tx, ctx, id);
          values.push_back(ValueOf(tx, s, std::nullopt, std::nullopt));
        } catch (const AwsError& e) {
          if (e.server_fault()) throw;
          errors.push_back({{"SecretId", id}, {"ErrorCode", e.code()}, {"Message", e.message()}});
        }
      }
      return Status::Ok();
    }
    auto filters = ParseFilters(in.at("Filters"));
    std::vector<Secret> secrets = ListMatching(tx, ctx, filters, false);
    std::sort(secrets.begin(), secrets.end(), [](const Secret& a, const Secret& b) { return a.name < b.name; });
    std::vector<std::string> keys;
    for (const auto& s : secrets) keys.push_back(s.name);
    auto [begin, end] = PageOf(keys, in, 20, out);
    for (size_t i = begin; i < end; ++i) {
      try {
        values.push_back(ValueOf(tx, secrets[i], std::nullopt, std::nullopt));
      } catch (const AwsError& e) {
        if (e.server_fault()) throw;
        errors.push_back({{"SecretId", secrets[i].arn}, {"ErrorCode", e.code()}, {"Message", e.message()}});
      }
    }
    return Status::Ok();
  }));
  out["SecretValues"] = values;
  out["Errors"] = errors;
  return out;
}

Json SecretsManagerApi::DeleteSecret(RequestContext& ctx, const Json& in) {
  auto window = JOptInt(in, "RecoveryWindowInDays");
  const bool force = in.value("ForceDeleteWithoutRecovery", false);
  if (window && force) {
    throw InvalidParameter("You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.");
  }
  if (window && (*window < 7 || *window > 30)) {
    throw InvalidParameter("The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).");
  }
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    Purge(tx, ctx.now);
    Secret s = MustLoad(tx, ctx, JStr(in, "SecretId"));
    if (force) {
      out = {{"ARN", s.arn}, {"Name", s.name}, {"DeletionDate", ctx.now}};
      return tx.Delete(kSecretKind, s.region, s.name).status();
    }
    if (s.scheduled()) throw InvalidRequest(kMarkedForDeletion);
    s.deleted_at = ctx.now;
    s.deletion_date = ctx.now + 86400.0 * static_cast<double>(window.value_or(30));
    out = {{"ARN", s.arn}, {"Name", s.name}, {"DeletionDate", s.deletion_date}};
    return tx.Put(EncodeSecret(s));
  }));
  return out;
}

Json SecretsManagerApi::RestoreSecret(RequestContext& ctx, const Json& in) {
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    Purge(tx, ctx.now);
    Secret s = MustLoad(tx, ctx, JStr(in, "SecretId"));
    out = {{"ARN", s.arn}, {"Name", s.name}};
    if (!s.scheduled()) return Status::Ok();
    s.deleted_at = 0;
    s.deletion_date = 0;
    s.last_changed = ctx.now;
    return tx.Put(EncodeSecret(s));
  }));
  return out;
}

namespace {

// A uniform index in [0, n) from OpenSSL's RAND_bytes, by rejection (no modulo bias).
size_t UniformIndex(size_t n) {
  const uint32_t limit = UINT32_MAX - (UINT32_MAX % static_cast<uint32_t>(n));
  for (;;) {
    uint32_t r = 0;
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&r), sizeof r) != 1) {
      throw ServerFault("kecs cannot draw random bytes for a password.");
    }
    if (r < limit) return r % static_cast<uint32_t>(n);
  }
}

}  // namespace

Json SecretsManagerApi::GetRandomPassword(RequestContext&, const Json& in) {
  const int64_t length = JOptInt(in, "PasswordLength").value_or(32);
  if (length < 1 || length > 4096) {
    throw InvalidParameter("Password length must be between 1 and 4096 characters.");
  }
  const std::string exclude = JStr(in, "ExcludeCharacters");
  const bool require_each = in.value("RequireEachIncludedType", true);
  std::vector<std::string> types;
  auto add = [&](bool excluded, std::string chars) {
    if (excluded) return;
    std::erase_if(chars, [&](char c) { return exclude.find(c) != std::string::npos; });
    if (!chars.empty()) types.push_back(std::move(chars));
  };
  add(in.value("ExcludeLowercase", false), "abcdefghijklmnopqrstuvwxyz");
  add(in.value("ExcludeUppercase", false), "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
  add(in.value("ExcludeNumbers", false), "0123456789");
  add(in.value("ExcludePunctuation", false), "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~");
  add(!in.value("IncludeSpace", false), " ");
  if (types.empty()) {
    throw InvalidParameter("The password can't be generated: every character type is excluded.");
  }
  if (require_each && static_cast<size_t>(length) < types.size()) {
    throw InvalidParameter(fmt::format("The password length {} is too short to include a character of each of the "
                                       "{} included types.",
                                       length, types.size()));
  }
  std::string all;
  for (const auto& t : types) all += t;
  std::string password;
  // One character of each type first when each is required, the rest from all of them,
  // then a Fisher-Yates shuffle so the required ones sit anywhere.
  if (require_each) {
    for (const auto& t : types) password.push_back(t[UniformIndex(t.size())]);
  }
  while (password.size() < static_cast<size_t>(length)) password.push_back(all[UniformIndex(all.size())]);
  for (size_t i = password.size() - 1; i > 0; --i) std::swap(password[i], password[UniformIndex(i + 1)]);
  return {{"RandomPassword", password}};
}

Json SecretsManagerApi::TagResource(RequestContext& ctx, const Json& in) {
  std::vector<Tag> add = TagsFrom(in.at("Tags"));
  Check(store_.Write([&](state::Tx& tx) {
    Purge(tx, ctx.now);
    Secret s = MustLoad(tx, ctx, JStr(in, "SecretId"));
    if (s.scheduled()) throw InvalidRequest(kMarkedForDeletion);
    MergeTags(s.tags, add);
    return tx.Put(EncodeSecret(s));
  }));
  return Json::object();
}

Json SecretsManagerApi::UntagResource(RequestContext& ctx, const Json& in) {
  std::set<std::string> keys;
  for (const auto& k : in.at("TagKeys")) keys.insert(k.get<std::string>());
  Check(store_.Write([&](state::Tx& tx) {
    Purge(tx, ctx.now);
    Secret s = MustLoad(tx, ctx, JStr(in, "SecretId"));
    if (s.scheduled()) throw InvalidRequest(kMarkedForDeletion);
    std::erase_if(s.tags, [&](const Tag& t) { return keys.count(t.key) > 0; });
    return tx.Put(EncodeSecret(s));
  }));
  return Json::object();
}

Result<std::string> SecretsManagerApi::ResolveReference(std::string_view value_from, std::string_view region,
                                                        std::string_view account) {
  // Split off ":json-key:version-stage:version-id": names have no ':', so the id is
  // everything up to the first ':' after an ARN's "secret:" (or a name's start).
  const std::string ref(value_from);
  size_t id_start = 0;
  if (ref.starts_with("arn:")) {
    size_t at = ref.find(":secret:");
    if (at == std::string::npos) return InvalidArgument(fmt::format("{} is not a Secrets Manager secret ARN", ref));
    id_start = at + 8;
  }
  size_t colon = ref.find(':', id_start);
  std::string id = ref.substr(0, colon);
  std::vector<std::string> rest;
  if (colon != std::string::npos) rest = Split(std::string_view(ref).substr(colon + 1), ':');
  if (rest.size() > 3 || id.size() == id_start) {
    return InvalidArgument(fmt::format(
        "secret reference {} is malformed: expected <arn or name>[:json-key[:version-stage[:version-id]]]", ref));
  }
  rest.resize(3);
  const std::string& json_key = rest[0];
  std::optional<std::string> stage, version_id;
  if (!rest[1].empty()) stage = rest[1];
  if (!rest[2].empty()) version_id = rest[2];

  std::string lookup_region(region);
  SecretIdParts parts = ParseSecretId(id);
  if (parts.arn) {
    if (parts.account != account) return NotFound(fmt::format("secret {} was not found", ref));
    lookup_region = parts.region;
  }
  std::string plain;
  Status st = Status::Ok();
  try {
  st = store_.Read([&](state::Tx& tx) -> Status {
    auto s = Load(tx, lookup_region, std::string(account), id, clock_->Now());
    if (!s) return NotFound(fmt::format("secret {} was not found", ref));
    if (s->scheduled()) return InvalidArgument(fmt::format("secret {} is scheduled for deletion", ref));
    const SecretVersion* v = nullptr;
    if (version_id) {
      v = s->Find(*version_id);
      if (!v) return NotFound(fmt::format("secret {} has no version {}", ref, *version_id));
      if (stage && !v->Has(*stage)) {
        return NotFound(fmt::format("secret {}: version {} does not have the stage {}", ref, *version_id, *stage));
      }
    } else {
      v = s->WithStage(stage.value_or(kCurrent));
      if (!v) return NotFound(fmt::format("secret {} has no version with the stage {}", ref, stage.value_or(kCurrent)));
    }
    if (v->binary) return InvalidArgument(fmt::format("secret {} holds a SecretBinary, not a SecretString", ref));
    try {
      plain = Open(tx, *s, *v);
    } catch (const AwsError& e) {
      return Internal(e.message());
    }
    return Status::Ok();
  });
  } catch (const StatusError& e) {
    return e.status();
  } catch (const AwsError& e) {
    return Internal(e.message());
  }
  if (!st.ok()) return st;
  if (json_key.empty()) return plain;
  Json doc = Json::parse(plain, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) {
    return InvalidArgument(fmt::format("secret {} is not a JSON object, so its json-key {} cannot be read", ref, json_key));
  }
  auto it = doc.find(json_key);
  if (it == doc.end()) return NotFound(fmt::format("json-key {} was not found in secret {}", json_key, ref));
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

void SecretsManagerApi::RegisterAll(Service& s) {
#define KECS_OP(name) \
  s.Register(#name, [this](RequestContext& ctx, const Json& in) { return name(ctx, in); })
  KECS_OP(CreateSecret);
  KECS_OP(GetSecretValue);
  KECS_OP(PutSecretValue);
  KECS_OP(UpdateSecret);
  KECS_OP(UpdateSecretVersionStage);
  KECS_OP(ListSecretVersionIds);
  KECS_OP(DescribeSecret);
  KECS_OP(ListSecrets);
  KECS_OP(BatchGetSecretValue);
  KECS_OP(DeleteSecret);
  KECS_OP(RestoreSecret);
  KECS_OP(GetRandomPassword);
  KECS_OP(TagResource);
  KECS_OP(UntagResource);
#undef KECS_OP
}

}  // namespace kecs::api::secretsmanager
