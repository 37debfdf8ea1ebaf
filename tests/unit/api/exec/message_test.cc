#include "api/exec/message.h"

#include <gtest/gtest.h>

#include "base/json.h"

namespace kecs::api::exec {
namespace {

// dd01e56b-ff48-483e-a508-b5f073f31b16, the message id of the plugin's messageparser_test.go.
MessageId TestId() {
  return {0xdd, 0x01, 0xe5, 0x6b, 0xff, 0x48, 0x48, 0x3e, 0xa5, 0x08, 0xb5, 0xf0, 0x73, 0xf3, 0x1b, 0x16};
}

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int v : b) s += static_cast<char>(v);
  return s;
}

// The frame the plugin's SerializeClientMessage writes for an input_stream_data message
// (schema 1, created 1503434274948, sequence 2, flags 1, payload type Output, "payload"),
// written out field by field from clientmessage.go's offsets.
std::string PluginFrame() {
  std::string f;
  f += Bytes({0, 0, 0, 116});                               // HeaderLength
  f += std::string("input_stream_data") + std::string(15, ' ');  // MessageType, space padded
  f += Bytes({0, 0, 0, 1});                                 // SchemaVersion
  f += Bytes({0, 0, 0x01, 0x5e, 0x0b, 0xaa, 0x78, 0x84});   // CreatedDate 1503434274948
  f += Bytes({0, 0, 0, 0, 0, 0, 0, 2});                     // SequenceNumber
  f += Bytes({0, 0, 0, 0, 0, 0, 0, 1});                     // Flags (SYN)
  f += Bytes({0xa5, 0x08, 0xb5, 0xf0, 0x73, 0xf3, 0x1b, 0x16,  // MessageId: low half,
              0xdd, 0x01, 0xe5, 0x6b, 0xff, 0x48, 0x48, 0x3e}); // then high half
  // SHA-256("payload")
  f += Bytes({0x23, 0x9f, 0x59, 0xed, 0x55, 0xe7, 0x37, 0xc7, 0x71, 0x47, 0xcf, 0x55, 0xad, 0x0c, 0x1b, 0x03,
              0x0b, 0x6d, 0x7e, 0xe7, 0x48, 0xa7, 0x42, 0x69, 0x52, 0xf9, 0xb8, 0x52, 0xd5, 0xa9, 0x35, 0xe5});
  f += Bytes({0, 0, 0, 1});  // PayloadType Output
  f += Bytes({0, 0, 0, 7});  // PayloadLength
  f += "payload";
  return f;
}

ClientMessage PluginMessage() {
  ClientMessage m;
  m.message_type = "input_stream_data";
  m.schema_version = 1;
  m.created_date = 1503434274948;
  m.sequence_number = 2;
  m.flags = 1;
  m.message_id = TestId();
  m.payload_type = 1;
  m.payload = "payload";
  return m;
}

TEST(ExecMessage, EncodesThePluginsByteLayout) {
  std::string f = Encode(PluginMessage());
  ASSERT_EQ(f.size(), kPayloadOffset + 7);
  EXPECT_EQ(f, PluginFrame());
}

TEST(ExecMessage, DecodesThePluginsByteLayout) {
  auto m = Decode(PluginFrame());
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->message_type, "input_stream_data");
  EXPECT_EQ(m->schema_version, 1u);
  EXPECT_EQ(m->created_date, 1503434274948u);
  EXPECT_EQ(m->sequence_number, 2);
  EXPECT_EQ(m->flags, 1u);
  EXPECT_EQ(m->message_id, TestId());
  EXPECT_EQ(MessageIdString(m->message_id), "dd01e56b-ff48-483e-a508-b5f073f31b16");
  EXPECT_EQ(m->payload_type, 1u);
  EXPECT_EQ(m->payload, "payload");
}

TEST(ExecMessage, RoundTripsAnEmptyPayloadAndNegativeSequence) {
  ClientMessage m = PluginMessage();
  m.payload.clear();
  m.sequence_number = -1;
  auto back = Decode(Encode(m));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->payload, "");
  EXPECT_EQ(back->sequence_number, -1);
}

TEST(ExecMessage, RefusesAPayloadThatDoesNotMatchItsDigest) {
  std::string f = PluginFrame();
  f.back() = 'X';
  auto m = Decode(f);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("digest"), std::string::npos);
}

TEST(ExecMessage, RefusesTruncatedAndMislabelledFrames) {
  std::string f = PluginFrame();
  EXPECT_FALSE(Decode(f.substr(0, 100)).ok());          // shorter than the header
  EXPECT_FALSE(Decode(f.substr(0, f.size() - 1)).ok());  // payload shorter than its length
  std::string bad_hl = f;
  bad_hl[3] = 100;
  EXPECT_FALSE(Decode(bad_hl).ok());
  std::string no_type = f;
  no_type.replace(4, 32, std::string(32, ' '));
  EXPECT_FALSE(Decode(no_type).ok());
}

TEST(ExecMessage, AcknowledgementNamesTheMessageAndItsSequence) {
  ClientMessage ack = AcknowledgementOf(PluginMessage(), 1700000000000);
  EXPECT_EQ(ack.message_type, "acknowledge");
  EXPECT_EQ(ack.created_date, 1700000000000u);
  Json j = Json::parse(ack.payload);
  EXPECT_EQ(j["AcknowledgedMessageType"], "input_stream_data");
  EXPECT_EQ(j["AcknowledgedMessageId"], "dd01e56b-ff48-483e-a508-b5f073f31b16");
  EXPECT_EQ(j["AcknowledgedMessageSequenceNumber"], 2);
  EXPECT_EQ(j["IsSequentialMessage"], true);
  auto seq = AcknowledgedSequence(*Decode(Encode(ack)));
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, 2);
  ClientMessage not_ack = PluginMessage();
  EXPECT_FALSE(AcknowledgedSequence(not_ack).ok());
}

TEST(ExecMessage, StreamDataCarriesItsSequenceAndAFreshId) {
  ClientMessage a = StreamData(kOutputStreamData, 5, PayloadType::kOutput, "hi", 1);
  ClientMessage b = StreamData(kOutputStreamData, 6, PayloadType::kOutput, "hi", 1);
  EXPECT_EQ(a.sequence_number, 5);
  EXPECT_EQ(a.payload_type, 1u);
  EXPECT_NE(a.message_id, b.message_id);
  std::string id = MessageIdString(a.message_id);
  ASSERT_EQ(id.size(), 36u);
  EXPECT_EQ(id[14], '4');  // version 4
}

}  // namespace
}  // namespace kecs::api::exec
