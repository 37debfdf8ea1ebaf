#include "base/ids.h"

#include <openssl/rand.h>

#include <array>
#include <cstdio>
#include <stdexcept>

namespace kecs {
namespace {

void Fill(unsigned char* buf, size_t n) {
  if (RAND_bytes(buf, static_cast<int>(n)) != 1) {
    // OpenSSL's CSPRNG only fails when the OS has no entropy source; nothing sane to do.
    throw std::runtime_error("RAND_bytes failed");
  }
}

constexpr char kHex[] = "0123456789abcdef";

}  // namespace

std::string RandomHex(size_t n) {
  std::string bytes((n + 1) / 2, '\0');
  Fill(reinterpret_cast<unsigned char*>(bytes.data()), bytes.size());
  std::string out;
  out.reserve(n);
  for (unsigned char b : bytes) {
    out.push_back(kHex[b >> 4]);
    if (out.size() < n) out.push_back(kHex[b & 15]);
  }
  return out;
}

std::string Ec2Id(std::string_view prefix) {
  std::string out(prefix);
  out += '-';
  out += RandomHex(17);
  return out;
}

std::string Uuid4() {
  std::array<unsigned char, 16> b{};
  Fill(b.data(), b.size());
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  std::string out;
  for (size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 15]);
  }
  return out;
}

std::string RandomMac() {
  std::array<unsigned char, 5> b{};
  Fill(b.data(), b.size());
  char buf[18];
  std::snprintf(buf, sizeof buf, "02:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4]);
  return buf;
}

std::string TaskIdString() { return RandomHex(32); }

uint64_t RandomU64() {
  uint64_t v = 0;
  Fill(reinterpret_cast<unsigned char*>(&v), sizeof v);
  return v;
}

}  // namespace kecs
