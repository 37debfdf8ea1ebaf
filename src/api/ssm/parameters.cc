// The Parameter Store operations. Messages follow SSM's wording where AWS documents or is
// known to send it.
#include <algorithm>
#include <cctype>
#include <memory>
#include <set>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <fmt/format.h>

#include "api/pagination.h"
#include "api/ssm/ssm_api.h"
#include "base/log.h"
#include "base/strings.h"

namespace kecs::api::ssm {
namespace {

constexpr const char* kSecure = "SecureString";
constexpr size_t kStandardValueMax = 4096;
constexpr size_t kAdvancedValueMax = 8192;

constexpr const char* kNameRules =
    "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). If formed as a path, "
    "it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of "
    "letters, numbers and the following 3 symbols .-_";

AwsError Validation(std::string message) { return AwsError("ValidationException", std::move(message)); }
// SSM sends ParameterNotFound with no message.
AwsError NotFound() { return AwsError("ParameterNotFound", ""); }
AwsError VersionNotFound(int64_t version, const std::string& name) {
  return AwsError("ParameterVersionNotFound",
                  fmt::format("Systems Manager could not find version {} of {}. Verify the version and try again.",
                              version, name));
}

void Check(const Status& st) { ThrowIfError(st); }
template <typename T>
T Check(Result<T> r) {
  Check(r.status());
  return std::move(r).value();
}

bool StartsWithReserved(std::string_view s) {
  std::string low = ToLower(std::string(s.substr(0, 3)));
  return low == "aws" || low == "ssm";
}

bool NameChar(unsigned char c) { return std::isalnum(c) || c == '.' || c == '-' || c == '_'; }

// The segments of a name ("/a/b" -> {"a","b"}; "a" -> {"a"}).
std::vector<std::string> Segments(const std::string& name) {
  std::vector<std::string> out = Split(name.starts_with("/") ? name.substr(1) : name, '/');
  return out;
}

bool StartsWithAws(std::string_view segment) { return ToLower(std::string(segment.substr(0, 3))) == "aws"; }

// A write to a name under "aws" (any case): AWS answers AccessDeniedException, not a
// validation error (names under "ssm" are a ValidationException, from ValidateName).
void RefuseReservedAws(const std::string& name) {
  auto segs = Segments(name);
  if (!segs.empty() && StartsWithAws(segs.front())) {
    throw AwsError("AccessDeniedException", fmt::format("No access to reserved parameter name: {}.", name));
  }
}

// `reading`: a path a read names (GetParametersByPath, a Path filter), where the reserved
// prefixes are not refused: the read returns what exists there (nothing).
void ValidateName(const std::string& name, bool reading = false) {
  if (name.find('/') != std::string::npos && !name.starts_with("/")) {
    throw Validation("Parameter name must be a fully qualified name.");
  }
  if (!reading) RefuseReservedAws(name);
  auto segs = Segments(name);
  if (segs.empty() || (!reading && StartsWithReserved(segs.front()))) throw Validation(kNameRules);
  for (const auto& s : segs) {
    if (s.empty() || !std::all_of(s.begin(), s.end(), NameChar)) throw Validation(kNameRules);
  }
  if (segs.size() > static_cast<size_t>(kMaxHierarchyLevels)) {
    throw AwsError("HierarchyLevelLimitExceededException",
                   "A hierarchy can have a maximum of 15 levels. For more information, see Requirements and "
                   "constraints for parameter names in the Amazon Web Services Systems Manager User Guide.");
  }
}

// A path for GetParametersByPath and the Path filter: "/" or "/a/b" (a trailing slash is
// dropped).
std::string NormalizePath(std::string path) {
  if (!path.starts_with("/")) {
    throw Validation(
        "The parameter doesn't meet the parameter name requirements. The parameter name must begin with a "
        "forward slash \"/\". It can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). It must use "
        "only letters, numbers, or the following symbols: . (period), - (hyphen), _ (underscore). Special "
        "characters are not allowed. All sub-paths, if specified, must use the forward slash symbol \"/\". "
        "Valid example: /get/parameters2-/by1./path0_.");
  }
  while (path.size() > 1 && path.ends_with("/")) path.pop_back();
  if (path != "/") ValidateName(path, /*reading=*/true);
  return path;
}

// Whether `name` is under `path`. Path "/" also holds the names outside any hierarchy
// ("foo"), as on AWS: one level down from "/" are "/foo" and "foo".
bool InPath(const std::string& name, const std::string& path, bool recursive) {
  if (path == "/") return recursive || ParentPath(name) == "/" || ParentPath(name).empty();
  if (recursive) return name.starts_with(path + "/");
  return ParentPath(name) == path;
}

bool ValidLabel(const std::string& l) {
  if (l.empty() || l.size() > 100 || std::isdigit(static_cast<unsigned char>(l[0])) || StartsWithReserved(l)) {
    return false;
  }
  return std::all_of(l.begin(), l.end(), NameChar);
}

// A parameter's AllowedPattern, compiled per request with PCRE2: patterns come from
// clients, so a cache of them would grow without bound. Matching runs outside the store's
// write lock and under PCRE2's match, depth and heap limits, so a pattern that backtracks
// catastrophically is refused rather than stalling kecs.
constexpr uint32_t kPatternMatchLimit = 100000;
constexpr uint32_t kPatternDepthLimit = 1000;
constexpr uint32_t kPatternHeapLimitKiB = 1024;

using Code8 = std::unique_ptr<pcre2_code, decltype(&pcre2_code_free)>;
using MatchData = std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)>;
using MatchContext = std::unique_ptr<pcre2_match_context, decltype(&pcre2_match_context_free)>;

AwsError InvalidPattern(const std::string& pattern) {
  return AwsError("InvalidAllowedPatternException",
                  fmt::format("The allowed pattern {} is not a valid regular expression.", pattern));
}

Code8 CompilePattern(const std::string& pattern) {
  int err = 0;
  PCRE2_SIZE offset = 0;
  Code8 code(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF, &err,
                           &offset, nullptr),
             &pcre2_code_free);
  if (!code) throw InvalidPattern(pattern);
  return code;
}

// The refusal when `value` does not match all of `pattern` (anchored at both ends), nullopt
// when it does. A match that hits a PCRE2 limit is refused as a mismatch; no value is echoed.
std::optional<AwsError> PatternRefusal(const std::string& pattern, const std::string& value) {
  Code8 code = CompilePattern(pattern);
  MatchData md(pcre2_match_data_create_from_pattern(code.get(), nullptr), &pcre2_match_data_free);
  MatchContext mc(pcre2_match_context_create(nullptr), &pcre2_match_context_free);
  if (!md || !mc) throw std::bad_alloc();
  pcre2_set_match_limit(mc.get(), kPatternMatchLimit);
  pcre2_set_depth_limit(mc.get(), kPatternDepthLimit);
  pcre2_set_heap_limit(mc.get(), kPatternHeapLimitKiB);
  int rc = pcre2_match(code.get(), reinterpret_cast<PCRE2_SPTR>(value.data()), value.size(), 0,
                       PCRE2_ANCHORED | PCRE2_ENDANCHORED, md.get(), mc.get());
  if (rc >= 0) return std::nullopt;
  if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT) {
    return AwsError("ParameterPatternMismatchException",
                   fmt::format("Parameter value, cannot be validated against allowedPattern: {} (the match "
                               "exceeded kecs's pattern-matching limits)",
                               pattern));
  }
  return AwsError("ParameterPatternMismatchException",
                  fmt::format("Parameter value, cannot be validated against allowedPattern: {}", pattern));
}

std::optional<Parameter> Load(state::Tx& tx, const std::string& region, const std::string& name) {
  auto row = Check(tx.Get(kParameterKind, region, name));
  if (!row) return std::nullopt;
  return Check(DecodeParameter(*row));
}

// The parameter a request names ("name", "name:3", "name:label" or its ARN) and the
// version it selects; nullopt parameter when there is none. A name from an ARN
// ("parameter/x") may be "/x" or "x".
struct Resolved {
  std::optional<Parameter> parameter;
  const ParameterVersion* version = nullptr;
  NameSelector sel;
};
Resolved Resolve(state::Tx& tx, const std::string& region, const std::string& text) {
  Resolved r;
  r.sel = ParseSelector(text);
  r.parameter = Load(tx, region, r.sel.name);
  if (!r.parameter && text.starts_with("arn:") && r.sel.name.starts_with("/")) {
    r.parameter = Load(tx, region, r.sel.name.substr(1));
  }
  if (!r.parameter) return r;
  if (r.sel.version) {
    r.version = r.parameter->Find(*r.sel.version);
  } else if (r.sel.label) {
    r.version = r.parameter->FindLabel(*r.sel.label);
  } else {
    r.version = &r.parameter->current();
  }
  return r;
}

std::vector<Parameter> LoadAll(state::Tx& tx, const std::string& region, std::optional<std::string> name_prefix) {
  state::Query q{kParameterKind, region};
  q.name_prefix = std::move(name_prefix);
  std::vector<Parameter> out;
  for (const auto& row : Check(tx.List(q))) out.push_back(Check(DecodeParameter(row)));
  std::sort(out.begin(), out.end(), [](const Parameter& a, const Parameter& b) { return a.name < b.name; });
  return out;
}

// One ParameterStringFilter (or a legacy ParametersFilter, as Name/BeginsWith and
// Type/KeyId Equals).
struct Filter {
  std::string key;
  std::string option;
  std::vector<std::string> values;
};

std::vector<Filter> ParseParameterFilters(const Json& list, const std::set<std::string>& keys) {
  std::vector<Filter> out;
  for (const auto& f : list) {
    Filter filter{JStr(f, "Key"), JStr(f, "Option"), {}};
    for (const auto& v : f.value("Values", Json::array())) filter.values.push_back(v.get<std::string>());
    bool tag = filter.key.starts_with("tag:");
    if (!keys.count(tag ? "tag:" : filter.key) || filter.key == "tag:") {
      std::vector<std::string> valid(keys.begin(), keys.end());
      for (auto& k : valid) {
        if (k == "tag:") k = "tag:<key>";
      }
      throw AwsError("InvalidFilterKey", fmt::format("The following filter key is not valid: {}. Valid filter keys "
                                                     "include: [{}].",
                                                     filter.key, Join(valid, ", ")));
    }
    if (filter.option.empty()) filter.option = filter.key == "Path" ? "OneLevel" : "Equals";
    // AWS: Equals and BeginsWith for every key; Name adds Contains; Path takes Recursive
    // and OneLevel; Label takes Equals only.
    std::set<std::string> options = {"Equals", "BeginsWith"};
    if (filter.key == "Name") options = {"Equals", "BeginsWith", "Contains"};
    if (filter.key == "Label") options = {"Equals"};
    if (filter.key == "Path") options = {"Recursive", "OneLevel"};
    if (!options.count(filter.option)) {
      throw AwsError("InvalidFilterOption",
                     "The filter option is not valid. Valid options are Equals and BeginsWith. For Path filter, "
                     "valid options are Recursive and OneLevel.");
    }
    if (filter.values.empty() && !tag) {
      throw AwsError("InvalidFilterValue",
                     fmt::format("The following filter values are missing : null for filter key {}.", filter.key));
    }
    std::set<std::string> allowed;
    if (filter.key == "Type") allowed = {"String", "StringList", "SecureString"};
    if (filter.key == "Tier") allowed = {"Standard", "Advanced", "Intelligent-Tiering"};
    for (auto& v : filter.values) {
      if (!allowed.empty() && filter.option == "Equals" && !allowed.count(v)) {
        throw AwsError("InvalidFilterValue",
                       fmt::format("The following filter value is not valid: {}. Valid values include: [{}].", v,
                                   Join(std::vector<std::string>(allowed.begin(), allowed.end()), ", ")));
      }
      if (filter.key == "Path") v = NormalizePath(v);
    }
    out.push_back(std::move(filter));
  }
  return out;
}

bool MatchValue(const Filter& f, const std::string& actual) {
  for (const auto& v : f.values) {
    if (f.option == "Equals" && actual == v) return true;
    if (f.option == "BeginsWith" && actual.starts_with(v)) return true;
    if (f.option == "Contains" && actual.find(v) != std::string::npos) return true;
  }
  return false;
}

// Whether `p` passes every filter; a Label filter also picks the version shown.
bool Matches(const Parameter& p, const std::vector<Filter>& filters, const ParameterVersion** shown) {
  *shown = &p.current();
  const ParameterVersion& v = p.current();
  for (const auto& f : filters) {
    bool ok = false;
    if (f.key == "Name") {
      // SSM compares Name filters on the name without its leading slash, too.
      ok = MatchValue(f, p.name) || (p.name.starts_with("/") && MatchValue(f, p.name.substr(1)));
    } else if (f.key == "Type") {
      ok = MatchValue(f, v.type);
    } else if (f.key == "KeyId") {
      ok = !v.key_id.empty() && MatchValue(f, v.key_id);
    } else if (f.key == "Tier") {
      ok = MatchValue(f, v.tier);
    } else if (f.key == "DataType") {
      ok = MatchValue(f, v.data_type);
    } else if (f.key == "Path") {
      for (const auto& path : f.values) ok = ok || InPath(p.name, path, f.option == "Recursive");
    } else if (f.key == "Label") {
      for (const auto& l : f.values) {
        if (const ParameterVersion* lv = p.FindLabel(l)) {
          ok = true;
          *shown = lv;
        }
      }
    } else if (f.key.starts_with("tag:")) {
      std::string key = f.key.substr(4);
      for (const auto& t : p.tags) ok = ok || (t.key == key && (f.values.empty() || MatchValue(f, t.value)));
    }
    if (!ok) return false;
  }
  return true;
}

int64_t MaxResults(const Json& in, int64_t def) { return JOptInt(in, "MaxResults").value_or(def); }

std::pair<size_t, size_t> PageOf(const std::vector<std::string>& keys, const Json& in, int64_t def, Json& out) {
  auto page = Paginate(keys, JOptStr(in, "NextToken"), static_cast<size_t>(MaxResults(in, def)));
  if (!page) throw AwsError("InvalidNextToken", "The specified token isn't valid.");
  if (page->next_token) out["NextToken"] = *page->next_token;
  return {page->begin, page->end};
}

std::vector<Tag> TagsFrom(const Json& list) {
  std::vector<Tag> out;
  for (const auto& t : list) out.push_back({JStr(t, "Key"), JStr(t, "Value")});
  return out;
}

void MergeTags(std::vector<Tag>& tags, const std::vector<Tag>& add) {
  for (const auto& t : add) {
    auto it = std::find_if(tags.begin(), tags.end(), [&](const Tag& x) { return x.key == t.key; });
    if (it != tags.end()) {
      it->value = t.value;
    } else {
      tags.push_back(t);
    }
  }
  if (tags.size() > 50) throw AwsError("TooManyTagsError", "The Tags parameter contains more than 50 tags.");
}

std::string LastModifiedUser(const RequestContext& ctx) {
  return fmt::format("arn:aws:iam::{}:root", ctx.account_id);
}

}  // namespace

std::string SealContext(const std::string& region, const std::string& name, int64_t version) {
  return fmt::format("{}\n{}\n{}", region, name, version);
}

namespace {

// A SecureString the server cannot open or seal: a lost, replaced or unreadable key file or
// a corrupted row. A server fault (HTTP 500), never the client's; no value is quoted.
AwsError ServerFault(std::string message) { return AwsError("InternalServerError", std::move(message), 500); }

// Whether any parameter, in any region, has a SecureString version.
bool AnySecureString(state::Tx& tx) {
  state::Query q{kParameterKind, ""};
  q.any_region = true;
  for (const auto& row : Check(tx.List(q))) {
    Parameter p = Check(DecodeParameter(row));
    for (const auto& v : p.versions) {
      if (v.type == kSecure) return true;
    }
  }
  return false;
}

}  // namespace

const ValueCipher& SsmApi::Cipher(state::Tx& tx) {
  auto cipher = cipher_.Get([&] { return AnySecureString(tx); });
  if (!cipher.ok()) throw ServerFault(cipher.status().message());
  return **cipher;
}

std::string SsmApi::Shown(state::Tx& tx, const Parameter& p, const ParameterVersion& v, bool decrypt) {
  if (v.type != kSecure || !decrypt) return v.value;
  auto plain = Cipher(tx).Unseal(v.value, SealContext(p.region, p.name, v.version));
  if (!plain.ok()) {
    throw ServerFault(fmt::format("Version {} of SecureString parameter {} does not open under the key in {}: the "
                                  "key file was replaced or the stored row is corrupted.",
                                  v.version, p.name, cipher_.path()));
  }
  return std::move(*plain);
}

Json SsmApi::PutParameter(RequestContext& ctx, const Json& in) {
  const std::string name = JStr(in, "Name");
  ValidateName(name);
  const std::string value = JStr(in, "Value");
  if (value.empty()) {
    throw Validation("1 validation error detected: Value '' at 'value' failed to satisfy constraint: Member must "
                     "have length greater than or equal to 1.");
  }
  const bool overwrite = in.value("Overwrite", false);
  if (overwrite && in.contains("Tags") && !in.at("Tags").empty()) {
    throw Validation("Invalid request: tags and overwrite can't be used together. To create a parameter with "
                     "tags, please remove overwrite flag. To update tags for an existing parameter, please use "
                     "AddTagsToResource or RemoveTagsFromResource.");
  }
  auto type = JOptStr(in, "Type");
  auto data_type = JOptStr(in, "DataType");
  if (data_type && *data_type != "text" && *data_type != "aws:ec2:image" && *data_type != "aws:ssm:integration") {
    throw Validation(fmt::format("The following data type is not supported: {} (Data type names are all "
                                 "lowercase.)",
                                 *data_type));
  }
  auto pattern = JOptStr(in, "AllowedPattern");
  if (pattern && !pattern->empty()) CompilePattern(*pattern);
  std::vector<Tag> tags = TagsFrom(in.value("Tags", Json::array()));
  if (tags.size() > 50) throw AwsError("TooManyTagsError", "The Tags parameter contains more than 50 tags.");

  // The pattern this version must match is the request's or, without one, the current
  // version's: read it and match outside the write lock, then check in the write that it
  // has not changed meanwhile (else match again, at most three times).
  ParameterVersion v;
  for (int attempt = 0;; ++attempt) {
    std::string matched = pattern.value_or("");
    if (!pattern) {
      Check(store_.Read([&](state::Tx& tx) {
        if (auto p = Load(tx, ctx.region, name)) matched = p->current().allowed_pattern;
        return Status::Ok();
      }));
    }
    std::optional<AwsError> refusal;  // raised in the write, where the old match was checked
    if (!matched.empty()) refusal = PatternRefusal(matched, value);
    bool raced = false;
    Check(store_.Write([&](state::Tx& tx) {
      std::optional<Parameter> existing = Load(tx, ctx.region, name);
      if (existing && !overwrite) {
        throw AwsError("ParameterAlreadyExists",
                       "The parameter already exists. To overwrite this value, set the overwrite option in the "
                       "request to true.");
      }
      if (!existing && !type) throw Validation("A parameter type is required when you create a parameter.");
      const ParameterVersion* prev = existing ? &existing->current() : nullptr;
      v.version = prev ? prev->version + 1 : 1;
      v.type = type ? *type : prev->type;
      if (v.type == kSecure) {
        v.key_id = JOptStr(in, "KeyId").value_or(prev && prev->type == kSecure ? prev->key_id : kDefaultKeyId);
      }
      v.description = JOptStr(in, "Description").value_or(prev ? prev->description : "");
      v.allowed_pattern = pattern.value_or(prev ? prev->allowed_pattern : "");
      v.data_type = data_type.value_or(prev ? prev->data_type : "text");
      std::string tier = JOptStr(in, "Tier").value_or(prev ? prev->tier : "Standard");
      bool was_advanced = prev && prev->tier == "Advanced";
      if (tier == "Intelligent-Tiering") tier = (was_advanced || value.size() > kStandardValueMax) ? "Advanced" : "Standard";
      if (tier == "Standard" && was_advanced) {
        throw Validation("This parameter uses the advanced-parameter tier. You can't downgrade a parameter from "
                         "the advanced-parameter tier to the standard-parameter tier. If necessary, you can delete "
                         "the advanced parameter and recreate it as a standard parameter.");
      }
      if (tier == "Standard" && value.size() > kStandardValueMax) {
        throw Validation("Standard tier parameters support a maximum parameter value of 4096 characters. To create "
                         "a larger parameter value, upgrade the parameter to use the advanced-parameter tier. For "
                         "more information, see https://docs.aws.amazon.com/systems-manager/latest/userguide/"
                         "parameter-store-advanced-parameters.html");
      }
      if (value.size() > kAdvancedValueMax) {
        throw Validation("Advanced tier parameters support a maximum parameter value of 8192 characters.");
      }
      v.tier = tier;
      if (v.allowed_pattern != matched) {
        raced = true;
        return Status::Ok();
      }
      if (refusal) throw *refusal;
      v.last_modified = ctx.now;
      v.last_modified_user = LastModifiedUser(ctx);
      v.value = v.type == kSecure ? Check(Cipher(tx).Seal(value, SealContext(ctx.region, name, v.version))) : value;

      Parameter p = existing ? std::move(*existing) : Parameter{ctx.region, name, {}, tags, 0};
      if (p.versions.size() >= static_cast<size_t>(kMaxVersions)) {
        const ParameterVersion& oldest = p.versions.front();
        if (!oldest.labels.empty()) {
          throw AwsError("ParameterMaxVersionLimitExceeded",
                         fmt::format("You attempted to create a new version of {} by calling the PutParameter API "
                                     "with the overwrite flag. Version {}, the oldest version, can't be deleted "
                                     "because it has a label associated with it. Move the label to another version "
                                     "of the parameter, and try again.",
                                     name, oldest.version));
        }
        p.versions.erase(p.versions.begin());
      }
      p.versions.push_back(v);
      return tx.Put(EncodeParameter(p, ctx.account_id));
    }));
    if (!raced) break;
    if (attempt >= 2) {
      throw AwsError("TooManyUpdates",
                     "There are concurrent updates for a resource that supports one update at a time.");
    }
  }
  return {{"Version", v.version}, {"Tier", v.tier}};
}

Json SsmApi::GetParameter(RequestContext& ctx, const Json& in) {
  const std::string text = JStr(in, "Name");
  const bool decrypt = in.value("WithDecryption", false);
  Json out;
  Check(store_.Read([&](state::Tx& tx) {
    Resolved r = Resolve(tx, ctx.region, text);
    if (!r.parameter) throw NotFound();
    if (!r.version) {
      if (r.sel.version) throw VersionNotFound(*r.sel.version, r.parameter->name);
      throw NotFound();
    }
    out["Parameter"] = ParameterToAws(*r.parameter, *r.version, Shown(tx, *r.parameter, *r.version, decrypt),
                                      ctx.account_id, r.sel.selector);
    return Status::Ok();
  }));
  return out;
}

Json SsmApi::GetParameters(RequestContext& ctx, const Json& in) {
  const bool decrypt = in.value("WithDecryption", false);
  Json found = Json::array();
  Json invalid = Json::array();
  std::set<std::string> seen;
  Check(store_.Read([&](state::Tx& tx) {
    for (const auto& n : in.at("Names")) {
      std::string text = n.get<std::string>();
      if (!seen.insert(text).second) continue;
      Resolved r = Resolve(tx, ctx.region, text);
      if (!r.parameter || !r.version) {
        invalid.push_back(text);
        continue;
      }
      found.push_back(ParameterToAws(*r.parameter, *r.version, Shown(tx, *r.parameter, *r.version, decrypt),
                                     ctx.account_id, r.sel.selector));
    }
    return Status::Ok();
  }));
  // Alphabetical by name, as the model says (one name asked with two selectors keeps the
  // request's order).
  std::stable_sort(found.begin(), found.end(), [](const Json& a, const Json& b) {
    return a["Name"].get_ref<const std::string&>() < b["Name"].get_ref<const std::string&>();
  });
  return {{"Parameters", found}, {"InvalidParameters", invalid}};
}

Json SsmApi::GetParametersByPath(RequestContext& ctx, const Json& in) {
  const std::string path = NormalizePath(JStr(in, "Path"));
  const bool recursive = in.value("Recursive", false);
  const bool decrypt = in.value("WithDecryption", false);
  auto filters = ParseParameterFilters(in.value("ParameterFilters", Json::array()), {"Type", "KeyId", "Label"});
  std::vector<std::string> keys;
  std::vector<Json> items;
  Check(store_.Read([&](state::Tx& tx) {
    for (const auto& p : LoadAll(tx, ctx.region, path == "/" ? std::nullopt : std::optional<std::string>(path + "/"))) {
      const ParameterVersion* shown = nullptr;
      if (!InPath(p.name, path, recursive) || !Matches(p, filters, &shown)) continue;
      keys.push_back(p.name);
      items.push_back(ParameterToAws(p, *shown, Shown(tx, p, *shown, decrypt), ctx.account_id));
    }
    return Status::Ok();
  }));
  Json out = Json::object();
  auto [begin, end] = PageOf(keys, in, 10, out);
  out["Parameters"] = std::vector<Json>(items.begin() + static_cast<long>(begin), items.begin() + static_cast<long>(end));
  return out;
}

Json SsmApi::DescribeParameters(RequestContext& ctx, const Json& in) {
  const Json legacy = in.value("Filters", Json::array());
  const Json modern = in.value("ParameterFilters", Json::array());
  if (!legacy.empty() && !modern.empty()) {
    throw Validation("You can use either Filters or ParameterFilters in a single request.");
  }
  std::vector<Filter> filters;
  for (const auto& f : legacy) {
    Filter filter{JStr(f, "Key"), "Equals", {}};
    for (const auto& v : f.at("Values")) filter.values.push_back(v.get<std::string>());
    if (filter.key == "Name") filter.option = "BeginsWith";
    filters.push_back(std::move(filter));
  }
  auto more = ParseParameterFilters(modern, {"Name", "Type", "KeyId", "Path", "Tier", "DataType", "tag:"});
  filters.insert(filters.end(), more.begin(), more.end());
  std::vector<std::string> keys;
  std::vector<Json> items;
  Check(store_.Read([&](state::Tx& tx) {
    for (const auto& p : LoadAll(tx, ctx.region, std::nullopt)) {
      const ParameterVersion* shown = nullptr;
      if (!Matches(p, filters, &shown)) continue;
      keys.push_back(p.name);
      items.push_back(MetadataToAws(p, ctx.account_id));
    }
    return Status::Ok();
  }));
  Json out = Json::object();
  auto [begin, end] = PageOf(keys, in, 10, out);
  out["Parameters"] = std::vector<Json>(items.begin() + static_cast<long>(begin), items.begin() + static_cast<long>(end));
  return out;
}

Json SsmApi::GetParameterHistory(RequestContext& ctx, const Json& in) {
  const bool decrypt = in.value("WithDecryption", false);
  std::vector<std::string> keys;
  std::vector<Json> items;
  Check(store_.Read([&](state::Tx& tx) {
    Resolved r = Resolve(tx, ctx.region, JStr(in, "Name"));
    if (!r.parameter || !r.sel.selector.empty()) throw NotFound();
    for (const auto& v : r.parameter->versions) {
      keys.push_back(fmt::format("{:06d}", v.version));
      items.push_back(HistoryToAws(*r.parameter, v, Shown(tx, *r.parameter, v, decrypt)));
    }
    return Status::Ok();
  }));
  Json out = Json::object();
  auto [begin, end] = PageOf(keys, in, 50, out);
  out["Parameters"] = std::vector<Json>(items.begin() + static_cast<long>(begin), items.begin() + static_cast<long>(end));
  return out;
}

Json SsmApi::LabelParameterVersion(RequestContext& ctx, const Json& in) {
  const std::string name = JStr(in, "Name");
  std::vector<std::string> valid;
  Json invalid = Json::array();
  for (const auto& l : in.at("Labels")) {
    std::string label = l.get<std::string>();
    if (!ValidLabel(label)) {
      invalid.push_back(label);
    } else if (std::find(valid.begin(), valid.end(), label) == valid.end()) {
      valid.push_back(label);
    }
  }
  int64_t version = 0;
  Check(store_.Write([&](state::Tx& tx) {
    Resolved r = Resolve(tx, ctx.region, name);
    if (!r.parameter || !r.sel.selector.empty()) throw NotFound();
    Parameter& p = *r.parameter;
    version = JOptInt(in, "ParameterVersion").value_or(p.current().version);
    auto target = std::find_if(p.versions.begin(), p.versions.end(),
                               [&](const ParameterVersion& v) { return v.version == version; });
    if (target == p.versions.end()) throw VersionNotFound(version, p.name);
    for (auto& v : p.versions) {
      if (v.version == version) continue;
      std::erase_if(v.labels, [&](const std::string& l) {
        return std::find(valid.begin(), valid.end(), l) != valid.end();
      });
    }
    for (const auto& l : valid) {
      if (std::find(target->labels.begin(), target->labels.end(), l) == target->labels.end()) {
        target->labels.push_back(l);
      }
    }
    if (target->labels.size() > static_cast<size_t>(kMaxLabelsPerVersion)) {
      throw AwsError("ParameterVersionLabelLimitExceeded",
                     "A parameter version can have maximum 10 labels.Move one or more labels to another version "
                     "and try again.");
    }
    return tx.Put(EncodeParameter(p, ctx.account_id));
  }));
  return {{"InvalidLabels", invalid}, {"ParameterVersion", version}};
}

Json SsmApi::DeleteParameter(RequestContext& ctx, const Json& in) {
  const std::string text = JStr(in, "Name");
  RefuseReservedAws(ParseSelector(text).name);
  Check(store_.Write([&](state::Tx& tx) {
    Resolved r = Resolve(tx, ctx.region, text);
    if (!r.parameter || !r.sel.selector.empty()) throw NotFound();
    return tx.Delete(kParameterKind, ctx.region, r.parameter->name).status();
  }));
  return Json::object();
}

Json SsmApi::DeleteParameters(RequestContext& ctx, const Json& in) {
  Json deleted = Json::array();
  Json invalid = Json::array();
  std::set<std::string> seen;
  Check(store_.Write([&](state::Tx& tx) {
    for (const auto& n : in.at("Names")) {
      std::string text = n.get<std::string>();
      if (!seen.insert(text).second) continue;
      Resolved r = Resolve(tx, ctx.region, text);
      if (!r.parameter || !r.sel.selector.empty()) {
        invalid.push_back(text);
        continue;
      }
      Check(tx.Delete(kParameterKind, ctx.region, r.parameter->name).status());
      deleted.push_back(text);
    }
    return Status::Ok();
  }));
  return {{"DeletedParameters", deleted}, {"InvalidParameters", invalid}};
}

namespace {

// The parameter a tagging request names (ResourceType Parameter, ResourceId its name or ARN).
Parameter TagTarget(state::Tx& tx, const RequestContext& ctx, const Json& in) {
  std::string type = JStr(in, "ResourceType");
  if (type != "Parameter") {
    throw AwsError("InvalidResourceType",
                   fmt::format("kecs serves the Parameter Store only: resource type {} is not supported.", type));
  }
  std::string id = JStr(in, "ResourceId");
  Resolved r = Resolve(tx, ctx.region, id);
  if (!r.parameter || !r.sel.selector.empty()) {
    throw AwsError("InvalidResourceId", "The resource ID is not valid. Verify the ID and try again.");
  }
  return std::move(*r.parameter);
}

}  // namespace

Json SsmApi::AddTagsToResource(RequestContext& ctx, const Json& in) {
  std::vector<Tag> add = TagsFrom(in.at("Tags"));
  Check(store_.Write([&](state::Tx& tx) {
    Parameter p = TagTarget(tx, ctx, in);
    MergeTags(p.tags, add);
    return tx.Put(EncodeParameter(p, ctx.account_id));
  }));
  return Json::object();
}

Json SsmApi::RemoveTagsFromResource(RequestContext& ctx, const Json& in) {
  std::set<std::string> keys;
  for (const auto& k : in.at("TagKeys")) keys.insert(k.get<std::string>());
  Check(store_.Write([&](state::Tx& tx) {
    Parameter p = TagTarget(tx, ctx, in);
    std::erase_if(p.tags, [&](const Tag& t) { return keys.count(t.key) > 0; });
    return tx.Put(EncodeParameter(p, ctx.account_id));
  }));
  return Json::object();
}

Json SsmApi::ListTagsForResource(RequestContext& ctx, const Json& in) {
  Json out;
  Check(store_.Read([&](state::Tx& tx) {
    out["TagList"] = TagsToAws(TagTarget(tx, ctx, in).tags);
    return Status::Ok();
  }));
  return out;
}

Result<std::string> SsmApi::ResolveParameter(std::string_view name_or_arn, std::string_view region,
                                             std::string_view account) {
  const std::string text(name_or_arn);
  std::string where(region);
  if (text.starts_with("arn:")) {
    // arn:<partition>:ssm:<region>:<account>:parameter/<name>
    std::vector<std::string> parts = Split(text, ':');
    if (parts.size() < 6 || parts[2] != "ssm" || parts[3].empty() || !parts[5].starts_with("parameter/") ||
        parts[5].size() == std::string("parameter/").size()) {
      return kecs::InvalidArgument(fmt::format("{} is not an SSM parameter ARN", text));
    }
    where = parts[3];
  } else if (text.empty()) {
    return kecs::InvalidArgument("the parameter name is empty");
  }
  (void)account;  // one account per daemon: the ARN's account names the same store
  std::string value;
  try {
    Status st = store_.Read([&](state::Tx& tx) {
      Resolved r = Resolve(tx, where, text);
      if (!r.parameter) return kecs::NotFound(fmt::format("parameter {} not found", text));
      if (!r.version) return kecs::NotFound(fmt::format("parameter {} has no version or label {}", text, r.sel.selector));
      value = Shown(tx, *r.parameter, *r.version, true);
      return Status::Ok();
    });
    if (!st.ok()) return st;
  } catch (const AwsError& e) {
    return kecs::Internal(fmt::format("parameter {}: {}", text, e.message()));
  } catch (const StatusError& e) {
    return Status(e.status().code(), fmt::format("parameter {}: {}", text, e.status().message()));
  }
  return value;
}

void SsmApi::RegisterAll(Service& s) {
#define KECS_OP(name) \
  s.Register(#name, [this](RequestContext& ctx, const Json& in) { return name(ctx, in); })
  KECS_OP(PutParameter);
  KECS_OP(GetParameter);
  KECS_OP(GetParameters);
  KECS_OP(GetParametersByPath);
  KECS_OP(DescribeParameters);
  KECS_OP(GetParameterHistory);
  KECS_OP(LabelParameterVersion);
  KECS_OP(DeleteParameter);
  KECS_OP(DeleteParameters);
  KECS_OP(AddTagsToResource);
  KECS_OP(RemoveTagsFromResource);
  KECS_OP(ListTagsForResource);
#undef KECS_OP
}

}  // namespace kecs::api::ssm
