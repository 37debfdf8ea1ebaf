#pragma once
// DNS messages on the wire for resolver tests (ldns): a query to send, an answer to read.
#include <ldns/ldns.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace kecs::testing {

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using Pkt = std::unique_ptr<ldns_pkt, PktFree>;

// A recursive query for `name` of `type`, with EDNS (4096 bytes) when `edns`.
inline std::vector<uint8_t> Query(const std::string& name, ldns_rr_type type, uint16_t id = 4242, bool edns = false) {
  ldns_pkt* q = ldns_pkt_query_new(ldns_dname_new_frm_str(name.c_str()), type, LDNS_RR_CLASS_IN, LDNS_RD);
  ldns_pkt_set_id(q, id);
  if (edns) ldns_pkt_set_edns_udp_size(q, 4096);
  uint8_t* wire = nullptr;
  size_t size = 0;
  EXPECT_EQ(ldns_pkt2wire(&wire, q, &size), LDNS_STATUS_OK);
  std::vector<uint8_t> out(wire, wire + size);
  free(wire);  // NOLINT
  ldns_pkt_free(q);
  return out;
}

inline Pkt Parse(const std::vector<uint8_t>& wire) {
  ldns_pkt* p = nullptr;
  EXPECT_EQ(ldns_wire2pkt(&p, wire.data(), wire.size()), LDNS_STATUS_OK);
  return Pkt(p);
}

}  // namespace kecs::testing
