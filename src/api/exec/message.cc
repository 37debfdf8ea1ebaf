#include "api/exec/message.h"

#include <openssl/sha.h>

#include <fmt/format.h>

#include "base/ids.h"

namespace kecs::api::exec {
namespace {

constexpr size_t kTypeOffset = 4, kTypeLength = 32;
constexpr size_t kSchemaOffset = 36, kCreatedOffset = 40, kSequenceOffset = 48, kFlagsOffset = 56;
constexpr size_t kIdOffset = 64, kDigestOffset = 80, kDigestLength = 32;
constexpr size_t kPayloadTypeOffset = 112, kPayloadLengthOffset = 116;

template <typename T>
void Put(std::string& out, size_t at, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) {
    out[at + sizeof(T) - 1 - i] = static_cast<char>(static_cast<uint64_t>(v) >> (8 * i) & 0xff);
  }
}

template <typename T>
T Get(std::string_view in, size_t at) {
  uint64_t v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v = v << 8 | static_cast<uint8_t>(in[at + i]);
  return static_cast<T>(v);
}

std::string Sha256(std::string_view data) {
  std::string d(kDigestLength, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), reinterpret_cast<unsigned char*>(d.data()));
  return d;
}

}  // namespace

std::string Encode(const ClientMessage& m) {
  std::string out(kPayloadOffset + m.payload.size(), '\0');
  Put<uint32_t>(out, 0, kHeaderLength);
  // The plugin blanks the field with spaces before writing the type (putString).
  std::string type = m.message_type.substr(0, kTypeLength);
  type.resize(kTypeLength, ' ');
  out.replace(kTypeOffset, kTypeLength, type);
  Put<uint32_t>(out, kSchemaOffset, m.schema_version);
  Put<uint64_t>(out, kCreatedOffset, m.created_date);
  Put<int64_t>(out, kSequenceOffset, m.sequence_number);
  Put<uint64_t>(out, kFlagsOffset, m.flags);
  // putUuid: the low half first, then the high half.
  for (size_t i = 0; i < 8; ++i) {
    out[kIdOffset + i] = static_cast<char>(m.message_id[8 + i]);
    out[kIdOffset + 8 + i] = static_cast<char>(m.message_id[i]);
  }
  out.replace(kDigestOffset, kDigestLength, Sha256(m.payload));
  Put<uint32_t>(out, kPayloadTypeOffset, m.payload_type);
  Put<uint32_t>(out, kPayloadLengthOffset, static_cast<uint32_t>(m.payload.size()));
  out.replace(kPayloadOffset, m.payload.size(), m.payload);
  return out;
}

Result<ClientMessage> Decode(std::string_view f) {
  if (f.size() < kPayloadOffset) {
    return InvalidArgument(fmt::format("message of {} bytes is shorter than its {}-byte header", f.size(), kPayloadOffset));
  }
  uint32_t hl = Get<uint32_t>(f, 0);
  if (hl != kHeaderLength) return InvalidArgument(fmt::format("header length {} is not {}", hl, kHeaderLength));
  ClientMessage m;
  std::string_view type = f.substr(kTypeOffset, kTypeLength);
  // getString trims NULs and white space.
  size_t end = type.find_last_not_of(std::string_view(" \0\t\r\n", 5));
  size_t begin = type.find_first_not_of(std::string_view(" \0\t\r\n", 5));
  if (end == std::string_view::npos) return InvalidArgument("message type is missing");
  m.message_type = std::string(type.substr(begin, end - begin + 1));
  m.schema_version = Get<uint32_t>(f, kSchemaOffset);
  m.created_date = Get<uint64_t>(f, kCreatedOffset);
  m.sequence_number = Get<int64_t>(f, kSequenceOffset);
  m.flags = Get<uint64_t>(f, kFlagsOffset);
  for (size_t i = 0; i < 8; ++i) {
    m.message_id[8 + i] = static_cast<uint8_t>(f[kIdOffset + i]);
    m.message_id[i] = static_cast<uint8_t>(f[kIdOffset + 8 + i]);
  }
  m.payload_type = Get<uint32_t>(f, kPayloadTypeOffset);
  uint32_t length = Get<uint32_t>(f, kPayloadLengthOffset);
  if (length != f.size() - kPayloadOffset) {
    return InvalidArgument(fmt::format("payload length {} disagrees with the {} bytes after the header", length,
                                       f.size() - kPayloadOffset));
  }
  m.payload = std::string(f.substr(kPayloadOffset));
  if (!m.payload.empty() && Sha256(m.payload) != f.substr(kDigestOffset, kDigestLength)) {
    return InvalidArgument("payload digest does not match the payload");
  }
  return m;
}

MessageId NewMessageId() {
  MessageId id{};
  std::string hex = Uuid4();
  size_t j = 0;
  for (size_t i = 0; i + 1 < hex.size() && j < id.size();) {
    if (hex[i] == '-') {
      ++i;
      continue;
    }
    id[j++] = static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16));
    i += 2;
  }
  return id;
}

std::string MessageIdString(const MessageId& id) {
  std::string s;
  for (size_t i = 0; i < id.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += fmt::format("{:02x}", id[i]);
  }
  return s;
}

ClientMessage AcknowledgementOf(const ClientMessage& m, uint64_t now_ms) {
  ClientMessage ack;
  ack.message_type = std::string(kAcknowledge);
  ack.created_date = now_ms;
  ack.message_id = NewMessageId();
  // message.AcknowledgeContent's JSON names.
  ack.payload = Json{{"AcknowledgedMessageType", m.message_type},
                     {"AcknowledgedMessageId", MessageIdString(m.message_id)},
                     {"AcknowledgedMessageSequenceNumber", m.sequence_number},
                     {"IsSequentialMessage", true}}
                    .dump();
  return ack;
}

ClientMessage StreamData(std::string_view type, int64_t sequence, PayloadType payload_type, std::string payload,
                         uint64_t now_ms) {
  ClientMessage m;
  m.message_type = std::string(type);
  m.created_date = now_ms;
  m.sequence_number = sequence;
  m.message_id = NewMessageId();
  m.payload_type = static_cast<uint32_t>(payload_type);
  m.payload = std::move(payload);
  return m;
}

Result<int64_t> AcknowledgedSequence(const ClientMessage& ack) {
  Json j = Json::parse(ack.payload, nullptr, false);
  if (!j.is_object() || !j.contains("AcknowledgedMessageSequenceNumber") ||
      !j["AcknowledgedMessageSequenceNumber"].is_number_integer()) {
    return InvalidArgument("acknowledge message without AcknowledgedMessageSequenceNumber");
  }
  return j["AcknowledgedMessageSequenceNumber"].get<int64_t>();
}

}  // namespace kecs::api::exec
