#pragma once
// The data channel messages of AWS Session Manager, as ECS Exec's client (the
// session-manager-plugin) speaks them over the stream URL's WebSocket.
//
// Every binary frame is one ClientMessage: a 120-byte header, then the payload. Layout
// (aws/session-manager-plugin src/message/clientmessage.go and messageparser.go), all
// integers big-endian:
//   offset   0  HeaderLength   uint32  = 116 (the header up to PayloadLength)
//   offset   4  MessageType    32 bytes, UTF-8, padded with spaces
//   offset  36  SchemaVersion  uint32
//   offset  40  CreatedDate    uint64  epoch milliseconds
//   offset  48  SequenceNumber int64
//   offset  56  Flags          uint64  (bit 0 SYN, bit 1 FIN)
//   offset  64  MessageId      16 bytes: the UUID's low 8 bytes, then its high 8 bytes
//   offset  80  PayloadDigest  32 bytes, SHA-256 of the payload
//   offset 112  PayloadType    uint32
//   offset 116  PayloadLength  uint32
//   offset 120  Payload
// The plugin reads the payload from HeaderLength + 4 and checks the digest when the
// payload is not empty; Decode does the same. Pure functions, thread-safe.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/json.h"
#include "base/status.h"

namespace kecs::api::exec {

inline constexpr uint32_t kHeaderLength = 116;
inline constexpr size_t kPayloadOffset = 120;

inline constexpr std::string_view kInputStreamData = "input_stream_data";
inline constexpr std::string_view kOutputStreamData = "output_stream_data";
inline constexpr std::string_view kAcknowledge = "acknowledge";
inline constexpr std::string_view kChannelClosed = "channel_closed";

// clientmessage.go's PayloadType.
enum class PayloadType : uint32_t {
  kOutput = 1,
  kError = 2,
  kSize = 3,
  kParameter = 4,
  kHandshakeRequest = 5,
  kHandshakeResponse = 6,
  kHandshakeComplete = 7,
  kEncChallengeRequest = 8,
  kEncChallengeResponse = 9,
  kFlag = 10,
  kStdErr = 11,
  kExitCode = 12,
};

// clientmessage.go's PayloadTypeFlag (the payload of a kFlag message, a big-endian uint32).
inline constexpr uint32_t kFlagTerminateSession = 2;

using MessageId = std::array<uint8_t, 16>;  // the UUID in its usual byte order

struct ClientMessage {
  std::string message_type;
  uint32_t schema_version = 1;
  uint64_t created_date = 0;  // epoch milliseconds
  int64_t sequence_number = 0;
  uint64_t flags = 0;
  MessageId message_id{};
  uint32_t payload_type = 0;
  std::string payload;
};

// The wire form; the header length, digest and payload length are computed.
std::string Encode(const ClientMessage& m);
// Parses one frame. InvalidArgument when it is shorter than its header, its header length
// or payload length disagree with its size, its message type is empty, or a non-empty
// payload does not match its digest.
Result<ClientMessage> Decode(std::string_view frame);

// A random (version 4) UUID, and its canonical text form (8-4-4-4-12, lowercase).
MessageId NewMessageId();
std::string MessageIdString(const MessageId& id);

// The acknowledgement of a stream data message: an "acknowledge" message whose payload is
// AcknowledgeContent (clientmessage.go) naming it.
ClientMessage AcknowledgementOf(const ClientMessage& m, uint64_t now_ms);
// A stream data message (`type` kInputStreamData or kOutputStreamData).
ClientMessage StreamData(std::string_view type, int64_t sequence, PayloadType payload_type,
                         std::string payload, uint64_t now_ms);

// The acknowledged message's sequence number, from an acknowledge message's payload.
Result<int64_t> AcknowledgedSequence(const ClientMessage& ack);

}  // namespace kecs::api::exec
