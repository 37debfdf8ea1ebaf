#pragma once
// The EC2 and Query protocols, driven by the service model.
//
// DecodeQuery turns form parameters (Action=...&Filter.1.Name=...) into the JSON document
// of the operation's input shape, member names as in the model, so handlers see the same
// structure whatever the protocol. The naming rules follow botocore's serializers:
//   EC2:   queryName, else locationName with its first letter upper-cased, else the member
//          name; every list is flattened (`Name.1`, `Name.1.Field`).
//   Query: the member name (or locationName); lists are `Name.member.N` unless flattened,
//          maps `Name.entry.N.key` / `.value`.
// EncodeXml renders a handler's JSON output in the operation's output shape: EC2 wraps it
// in <OpResponse xmlns=...><requestId>, Query in <OpResponse><OpResult>...
// <ResponseMetadata><RequestId>. Thread-safe and stateless.
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/json.h"
#include "model/shapes.h"

namespace kecs::api::protocol {

enum class QueryFlavor { kEc2, kQuery };

using FormParams = std::map<std::string, std::string>;

// Parses an application/x-www-form-urlencoded body (or query string). Returns false on a
// malformed escape.
bool ParseForm(std::string_view body, FormParams* out);

struct DecodeError {
  std::string param;    // the wire name, e.g. "Filter.1.Value.1" or "MaxResults"
  std::string message;  // why
  bool unknown = false; // the parameter names no member of the input shape
};

// Decodes every parameter except Action and Version (and SigV4 query auth parameters).
// On failure returns false and fills `err` with the first problem.
bool DecodeQuery(const model::ServiceModel& m, int input_shape, QueryFlavor flavor,
                 const FormParams& params, Json* out, DecodeError* err);

std::string EncodeXml(const model::ServiceModel& m, const model::OperationDesc& op,
                      QueryFlavor flavor, const Json& output, const std::string& request_id);

// Whether `s` is well-formed UTF-8 (no overlong forms, surrogates or code points past
// U+10FFFF).
bool IsValidUtf8(std::string_view s);

// `s` as XML 1.0 character data: &<>"' escaped, and every byte sequence that is not valid
// UTF-8 or not an XML character (C0 controls but tab, LF and CR; U+FFFE, U+FFFF) replaced
// by U+FFFD, so a response that echoes client input is always well-formed.
std::string XmlText(std::string_view s);

// The wire name of a structure member when sent as a request parameter.
std::string RequestName(const model::MemberDesc& mem, QueryFlavor flavor);

}  // namespace kecs::api::protocol
