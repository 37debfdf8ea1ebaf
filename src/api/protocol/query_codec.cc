#include "api/protocol/query_codec.h"

#include <cmath>
#include <cstdlib>
#include <ctime>
#include <set>

#include <fmt/format.h>

#include "base/clock.h"
#include "base/strings.h"
#include "base/utc_time.h"

namespace kecs::api::protocol {
namespace {

using model::MemberDesc;
using model::ShapeDesc;
using model::ShapeType;

bool IsAuthParam(std::string_view k) {
  return k == "Action" || k == "Version" || k.starts_with("X-Amz-") || k == "AWSAccessKeyId" ||
         k == "Signature" || k == "SignatureMethod" || k == "SignatureVersion" ||
         k == "Timestamp" || k == "Expires" || k == "SecurityToken";
}

// Parses an ISO 8601 timestamp (or epoch seconds) into epoch seconds.
bool ParseTimestamp(const std::string& s, double* out) {
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (end && *end == '\0' && !s.empty()) {
    *out = d;
    return true;
  }
  return ParseIso8601(s, out);
}

// The length of the UTF-8 sequence at s[i] and its code point; 0 when it is not valid.
size_t Utf8At(std::string_view s, size_t i, char32_t* cp) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t n = 0;
  char32_t v = 0, min = 0;
  if ((c & 0xE0) == 0xC0) { n = 2; v = c & 0x1F; min = 0x80; }
  else if ((c & 0xF0) == 0xE0) { n = 3; v = c & 0x0F; min = 0x800; }
  else if ((c & 0xF8) == 0xF0) { n = 4; v = c & 0x07; min = 0x10000; }
  else return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b(i + k) & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return n;
}

class Decoder {
 public:
  Decoder(const model::ServiceModel& m, QueryFlavor f, const FormParams& p)
      : m_(m), flavor_(f), params_(p) {}

  bool Decode(int shape, Json* out, DecodeError* err) {
    err_ = err;
    *out = Json::object();
    // Handlers and the store keep strings as JSON, which must be UTF-8.
    for (const auto& [k, v] : params_) {
      if (IsValidUtf8(k) && IsValidUtf8(v)) continue;
      err->param = k;
      err->message = fmt::format("The value for parameter {} is not valid UTF-8.", k);
      return false;
    }
    if (shape >= 0 && !Struct(m_.shape(shape), "", out)) return false;
    for (const auto& [k, v] : params_) {
      if (IsAuthParam(k) || used_.count(k)) continue;
      err->param = k;
      err->message = fmt::format("The parameter {} is not recognized", k);
      err->unknown = true;
      return false;
    }
    return true;
  }

 private:
  // Whether any parameter equals `key` or starts with `key.`.
  bool Present(const std::string& key) const {
    auto it = params_.lower_bound(key);
    if (it == params_.end()) return false;
    return it->first == key || (it->first.size() > key.size() && it->first.starts_with(key) &&
                                it->first[key.size()] == '.');
  }

  bool Struct(const ShapeDesc& s, const std::string& prefix, Json* out) {
    for (const MemberDesc& mem : m_.MembersOf(s)) {
      std::string key = prefix.empty() ? RequestName(mem, flavor_)
                                       : prefix + "." + RequestName(mem, flavor_);
      if (!Present(key)) continue;
      Json v;
      if (!Value(mem.shape, key, mem.flattened, &v)) return false;
      (*out)[std::string(mem.name)] = std::move(v);
    }
    return true;
  }

  bool Value(int idx, const std::string& key, bool member_flattened, Json* out) {
    const ShapeDesc& s = m_.shape(idx);
    switch (s.type) {
      case ShapeType::kStructure:
        *out = Json::object();
        return Struct(s, key, out);
      case ShapeType::kList: {
        *out = Json::array();
        std::string base = key;
        if (flavor_ == QueryFlavor::kQuery && !s.flattened && !member_flattened) {
          std::string item = s.list_member_location.empty() ? "member"
                                                            : std::string(s.list_member_location);
          base = key + "." + item;
        }
        // An empty list is sent as the bare key with an empty value.
        if (params_.count(key) && params_.at(key).empty()) used_.insert(key);
        for (int i = 1;; ++i) {
          std::string k = fmt::format("{}.{}", base, i);
          if (!Present(k)) break;
          Json e;
          if (!Value(s.list_member, k, false, &e)) return false;
          out->push_back(std::move(e));
        }
        return true;
      }
      case ShapeType::kMap: {
        *out = Json::object();
        std::string base = (s.flattened || member_flattened) ? key : key + ".entry";
        std::string kname = s.map_key_location.empty() ? "key" : std::string(s.map_key_location);
        std::string vname =
            s.map_value_location.empty() ? "value" : std::string(s.map_value_location);
        for (int i = 1;; ++i) {
          std::string k = fmt::format("{}.{}", base, i);
          if (!Present(k)) break;
          Json kj, vj;
          if (!Value(s.map_key, k + "." + kname, false, &kj)) return false;
          if (!Value(s.map_value, k + "." + vname, false, &vj)) return false;
          if (kj.is_string()) (*out)[kj.get<std::string>()] = std::move(vj);
        }
        return true;
      }
      default:
        break;
    }
    auto it = params_.find(key);
    if (it == params_.end()) {
      // A scalar with only sub-keys (e.g. "MaxResults.1"): nothing a scalar can take.
      err_->param = key;
      err_->message = fmt::format("The parameter {} is not recognized", key);
      err_->unknown = true;
      return false;
    }
    used_.insert(key);
    const std::string& raw = it->second;
    auto bad = [&](const char* what) {
      err_->param = key;
      err_->message = fmt::format("Value ({}) for parameter {} is invalid. {}", raw, key, what);
      return false;
    };
    switch (s.type) {
      case ShapeType::kString:
      case ShapeType::kBlob:
        *out = raw;
        return true;
      case ShapeType::kInteger:
      case ShapeType::kLong: {
        char* end = nullptr;
        errno = 0;
        long long n = std::strtoll(raw.c_str(), &end, 10);
        if (raw.empty() || *end != '\0' || errno == ERANGE) return bad("Expected an integer.");
        *out = n;
        return true;
      }
      case ShapeType::kBoolean: {
        std::string l = ToLower(raw);
        if (l == "true") *out = true;
        else if (l == "false") *out = false;
        else return bad("Expected a boolean.");
        return true;
      }
      case ShapeType::kDouble:
      case ShapeType::kFloat: {
        char* end = nullptr;
        double d = std::strtod(raw.c_str(), &end);
        if (raw.empty() || *end != '\0') return bad("Expected a number.");
        *out = d;
        return true;
      }
      case ShapeType::kTimestamp: {
        double d = 0;
        if (!ParseTimestamp(raw, &d)) return bad("Expected an ISO 8601 timestamp.");
        *out = d;
        return true;
      }
      default:
        *out = raw;
        return true;
    }
  }

  const model::ServiceModel& m_;
  QueryFlavor flavor_;
  const FormParams& params_;
  std::set<std::string> used_;
  DecodeError* err_ = nullptr;
};

std::string FormatDouble(double d) {
  if (std::floor(d) == d && std::fabs(d) < 1e15) return fmt::format("{}", static_cast<long long>(d));
  return fmt::format("{}", d);
}

class XmlWriter {
 public:
  XmlWriter(const model::ServiceModel& m, QueryFlavor f) : m_(m), flavor_(f) {}

  void Struct(const ShapeDesc& s, const Json& v) {
    for (const MemberDesc& mem : m_.MembersOf(s)) {
      auto it = v.find(mem.name);
      if (it == v.end() || it->is_null()) continue;
      std::string name = mem.location_name.empty() ? std::string(mem.name)
                                                   : std::string(mem.location_name);
      Member(mem.shape, name, *it, mem.flattened);
    }
  }

  void Member(int idx, const std::string& name, const Json& v, bool flattened) {
    const ShapeDesc& s = m_.shape(idx);
    switch (s.type) {
      case ShapeType::kStructure:
        Open(name);
        if (v.is_object()) Struct(s, v);
        Close(name);
        return;
      case ShapeType::kList: {
        if (!v.is_array()) return;
        bool flat = flattened || s.flattened;
        std::string item = s.list_member_location.empty()
                               ? (flavor_ == QueryFlavor::kEc2 ? "item" : "member")
                               : std::string(s.list_member_location);
        if (flat) {
          for (const auto& e : v) Member(s.list_member, name, e, false);
          return;
        }
        Open(name);
        for (const auto& e : v) Member(s.list_member, item, e, false);
        Close(name);
        return;
      }
      case ShapeType::kMap: {
        if (!v.is_object()) return;
        std::string kname = s.map_key_location.empty() ? "key" : std::string(s.map_key_location);
        std::string vname =
            s.map_value_location.empty() ? "value" : std::string(s.map_value_location);
        Open(name);
        for (auto it = v.begin(); it != v.end(); ++it) {
          Open("entry");
          Member(s.map_key, kname, Json(it.key()), false);
          Member(s.map_value, vname, it.value(), false);
          Close("entry");
        }
        Close(name);
        return;
      }
      default:
        break;
    }
    std::string text;
    switch (s.type) {
      case ShapeType::kBoolean:
        text = v.is_boolean() ? (v.get<bool>() ? "true" : "false") : v.dump();
        break;
      case ShapeType::kTimestamp:
        text = v.is_number() ? Iso8601(v.get<double>()) : (v.is_string() ? v.get<std::string>() : "");
        break;
      case ShapeType::kDouble:
      case ShapeType::kFloat:
        text = v.is_number() ? FormatDouble(v.get<double>()) : v.dump();
        break;
      default:
        text = v.is_string() ? v.get<std::string>() : v.dump();
    }
    out_ += "<" + name + ">" + XmlText(text) + "</" + name + ">";
  }

  void Open(const std::string& n) { out_ += "<" + n + ">"; }
  void Close(const std::string& n) { out_ += "</" + n + ">"; }
  std::string& out() { return out_; }

 private:
  const model::ServiceModel& m_;
  QueryFlavor flavor_;
  std::string out_;
};

}  // namespace

bool ParseForm(std::string_view body, FormParams* out) {
  out->clear();
  if (body.empty()) return true;
  for (const std::string& pair : Split(body, '&')) {
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string k, v;
    if (!UrlDecode(std::string_view(pair).substr(0, eq), &k)) return false;
    if (eq != std::string::npos && !UrlDecode(std::string_view(pair).substr(eq + 1), &v)) {
      return false;
    }
    (*out)[k] = v;
  }
  return true;
}

bool IsValidUtf8(std::string_view s) {
  char32_t cp = 0;
  for (size_t i = 0; i < s.size();) {
    size_t n = Utf8At(s, i, &cp);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string XmlText(std::string_view s) {
  constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  std::string clean;
  clean.reserve(s.size());
  char32_t cp = 0;
  for (size_t i = 0; i < s.size();) {
    size_t n = Utf8At(s, i, &cp);
    bool xml_char = n > 0 && (cp == 0x9 || cp == 0xA || cp == 0xD ||
                              (cp >= 0x20 && cp != 0xFFFE && cp != 0xFFFF));
    if (xml_char) {
      clean.append(s.substr(i, n));
    } else {
      clean += kReplacement;
    }
    i += n > 0 ? n : 1;
  }
  return XmlEscape(clean);
}

std::string RequestName(const MemberDesc& mem, QueryFlavor flavor) {
  if (flavor == QueryFlavor::kEc2) {
    if (!mem.query_name.empty()) return std::string(mem.query_name);
    if (!mem.location_name.empty()) {
      std::string n(mem.location_name);
      n[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(n[0])));
      return n;
    }
    return std::string(mem.name);
  }
  return std::string(mem.name);
}

bool DecodeQuery(const model::ServiceModel& m, int input_shape, QueryFlavor flavor,
                 const FormParams& params, Json* out, DecodeError* err) {
  Decoder d(m, flavor, params);
  return d.Decode(input_shape, out, err);
}

std::string EncodeXml(const model::ServiceModel& m, const model::OperationDesc& op,
                      QueryFlavor flavor, const Json& output, const std::string& request_id) {
  XmlWriter w(m, flavor);
  std::string& o = w.out();
  o = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  std::string root = std::string(op.name) + "Response";
  std::string ns(m.xml_namespace);
  if (!ns.empty() && ns.back() != '/') ns += '/';  // AWS sends it with the slash
  o += "<" + root + " xmlns=\"" + ns + "\">";
  if (flavor == QueryFlavor::kEc2) {
    o += "<requestId>" + request_id + "</requestId>";
    if (op.output >= 0 && output.is_object()) {
      w.Struct(m.shape(op.output), output);
    } else if (op.output < 0) {
      // Actions with no modelled output (DeleteVpc, CreateTags, ...) answer this on EC2.
      o += "<return>true</return>";
    }
  } else {
    std::string result = op.result_wrapper.empty() ? std::string(op.name) + "Result"
                                                   : std::string(op.result_wrapper);
    if (op.output >= 0) {
      o += "<" + result + ">";
      if (output.is_object()) w.Struct(m.shape(op.output), output);
      o += "</" + result + ">";
    }
    o += "<ResponseMetadata><RequestId>" + request_id + "</RequestId></ResponseMetadata>";
  }
  o += "</" + root + ">";
  return std::move(o);
}

}  // namespace kecs::api::protocol
