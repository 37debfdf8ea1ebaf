#include "state/migrations.h"

#include <string>
#include <utility>
#include <vector>

#include "base/json.h"

namespace kecs::state {

const std::vector<Migration>& AllMigrations() {
  static const std::vector<Migration> kMigrations = {
      {1, "objects and sequences",
       [](Conn& c) {
         return c.Exec(R"sql(
CREATE TABLE objects(
  seq    INTEGER PRIMARY KEY AUTOINCREMENT,
  kind   TEXT NOT NULL,
  region TEXT NOT NULL,
  id     TEXT NOT NULL,
  parent TEXT NOT NULL DEFAULT '',
  name   TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT '',
  doc    TEXT NOT NULL,
  UNIQUE(kind, region, id)
);
CREATE INDEX objects_by_parent ON objects(kind, region, parent, seq);
CREATE INDEX objects_by_name ON objects(kind, region, name);
CREATE TABLE sequences(name TEXT PRIMARY KEY, value INTEGER NOT NULL);
)sql");
       }},
      {2, "address and port allocations",
       [](Conn& c) {
         // The primary keys make a double allocation impossible, whatever the callers do.
         return c.Exec(R"sql(
CREATE TABLE ip_allocations(
  region TEXT NOT NULL,
  pool   TEXT NOT NULL,      -- a subnet id (IPv4) or "<subnet id>/v6"
  ip     INTEGER NOT NULL,   -- IPv4 address, or the IPv6 interface identifier
  owner  TEXT NOT NULL,      -- the network interface holding it
  PRIMARY KEY(region, pool, ip)
);
CREATE INDEX ip_allocations_by_owner ON ip_allocations(region, owner);
CREATE TABLE port_allocations(
  pool     TEXT NOT NULL,    -- e.g. "public" (assignPublicIp host ports)
  protocol TEXT NOT NULL,
  port     INTEGER NOT NULL,
  owner    TEXT NOT NULL,    -- the task holding it
  PRIMARY KEY(pool, protocol, port)
);
CREATE INDEX port_allocations_by_owner ON port_allocations(owner);
)sql");
       }},
      {3, "index objects by status",
       [](Conn& c) {
         // The controllers scan every kind's live objects ("status <> 'STOPPED'") often.
         return c.Exec("CREATE INDEX objects_by_status ON objects(kind, status);");
       }},
      {4, "objects.internal: kecs's own part apart from the AWS document; tasks moved to it",
       [](Conn& c) {
         RETURN_IF_ERROR(c.Exec("ALTER TABLE objects ADD COLUMN internal TEXT NOT NULL DEFAULT '{}';"));
         // A task document carried kecs's members as "kecs:<name>" keys; they become the
         // members <name> of the internal column (state/records/tasks.h reads that layout).
         std::vector<std::pair<int64_t, std::string>> rows;
         {
           ASSIGN_OR_RETURN(Stmt s, c.Prepare("SELECT seq, doc FROM objects WHERE kind = 'ecs:task'"));
           while (s.Step()) rows.emplace_back(s.Int(0), s.Text(1));
           RETURN_IF_ERROR(s.status());
         }
         for (const auto& [seq, text] : rows) {
           Json doc = Json::parse(text, nullptr, false);
           // An unreadable row is left as it was: reading it names the task (DecodeTask).
           if (!doc.is_object()) continue;
           Json aws = Json::object(), internal = Json::object();
           for (auto it = doc.begin(); it != doc.end(); ++it) {
             if (it.key().starts_with("kecs:")) {
               internal[it.key().substr(5)] = it.value();
             } else {
               aws[it.key()] = it.value();
             }
           }
           ASSIGN_OR_RETURN(Stmt u, c.Prepare("UPDATE objects SET doc = ?, internal = ? WHERE seq = ?"));
           u.Bind(1, aws.dump()).Bind(2, internal.dump()).Bind(3, seq);
           RETURN_IF_ERROR(u.Run());
         }
         return Status::Ok();
       }},
  };
  return kMigrations;
}

}  // namespace kecs::state
