#include "state/migrations.h"

#include <string>
#include <utility>
#include <vector>

#include "base/json.h"
#include "state/records/services.h"

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
      {5, "services: kecs's bookkeeping moved from the document to the internal column",
       [](Conn& c) {
         // "kecs:steady", "kecs:clientToken", ... become members of the row's internal
         // column (state/records/services.h). A row that is not JSON stays as it is:
         // reading it reports its id.
         std::vector<std::pair<int64_t, std::string>> rows;
         {
           ASSIGN_OR_RETURN(Stmt s, c.Prepare("SELECT seq, doc FROM objects WHERE kind = 'ecs:service'"));
           while (s.Step()) rows.emplace_back(s.Int(0), s.Text(1));
           RETURN_IF_ERROR(s.status());
         }
         for (const auto& [seq, text] : rows) {
           Json doc = Json::parse(text, nullptr, false);
           if (!doc.is_object()) continue;
           records::SplitService split = records::SplitLegacyServiceDocument(doc);
           ASSIGN_OR_RETURN(Stmt u, c.Prepare("UPDATE objects SET doc = ?, internal = ? WHERE seq = ?"));
           u.Bind(1, split.doc.dump()).Bind(2, split.internal.dump()).Bind(3, seq);
           RETURN_IF_ERROR(u.Run());
         }
         return Status::Ok();
       }},
      {6, "index the members task lists filter on",
       [](Conn& c) {
         // ListTasks pages through one cluster's tasks of one desired status (or one
         // startedBy) in seq order, and the retention sweep deletes STOPPED tasks by
         // stoppedAt. Partial expression indexes over the task document serve both, so a
         // page reads only its rows and the sweep parses no document. The expressions must
         // stay exactly as Tx::List (json_extract(doc, '$."member"')) and
         // Tx::DeleteStoppedTasksBefore write them, or SQLite will not use the index. The
         // stoppedAt index repeats kind and status as columns: with two equalities and a
         // range it outranks objects_by_status(kind, status) for the planner.
         return c.Exec(R"sql(
CREATE INDEX objects_tasks_by_desired_status ON objects(
  region, parent, json_extract(doc, '$."desiredStatus"'), seq) WHERE kind = 'ecs:task';
CREATE INDEX objects_tasks_by_started_by ON objects(
  region, parent, json_extract(doc, '$."startedBy"'), seq) WHERE kind = 'ecs:task';
CREATE INDEX objects_tasks_stopped_at ON objects(
  kind, status, coalesce(json_extract(doc, '$."stoppedAt"'), 0))
  WHERE kind = 'ecs:task' AND status = 'STOPPED';
)sql");
       }},
      {7, "CloudWatch Logs: log groups, log streams and their events",
       [](Conn& c) {
         // Groups and streams have their own tables (not objects): PutLogEvents updates a
         // stream's timestamps on every call. Events are ordered by (timestamp, id); the two
         // indexes carry the rowid, so a group's or a stream's events in that order are one
         // index range (FilterLogEvents, GetLogEvents, the retention sweep). A deleted group
         // or stream leaves a log_purges row; its events are deleted by the sweep in
         // bounded batches, and reads never see them (ids are never reused).
         return c.Exec(R"sql(
CREATE TABLE log_groups(
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  region        TEXT NOT NULL,
  name          TEXT NOT NULL,
  creation_time INTEGER NOT NULL,
  retention     INTEGER,             -- days; NULL: never expire
  class         TEXT NOT NULL DEFAULT 'STANDARD',
  kms_key_id    TEXT NOT NULL DEFAULT '',
  tags          TEXT NOT NULL DEFAULT '{}',
  stored_bytes  INTEGER NOT NULL DEFAULT 0,
  UNIQUE(region, name)
);
CREATE TABLE log_streams(
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  group_id       INTEGER NOT NULL,
  name           TEXT NOT NULL,
  creation_time  INTEGER NOT NULL,
  first_event    INTEGER,
  last_event     INTEGER,
  last_ingestion INTEGER,
  stored_bytes   INTEGER NOT NULL DEFAULT 0,
  uploads        INTEGER NOT NULL DEFAULT 0,
  UNIQUE(group_id, name)
);
CREATE TABLE log_events(
  id        INTEGER PRIMARY KEY AUTOINCREMENT,
  group_id  INTEGER NOT NULL,
  stream_id INTEGER NOT NULL,
  ts        INTEGER NOT NULL,
  ingestion INTEGER NOT NULL,
  message   TEXT NOT NULL
);
CREATE INDEX log_events_by_group ON log_events(group_id, ts);
CREATE INDEX log_events_by_stream ON log_events(stream_id, ts);
CREATE TABLE log_purges(
  kind TEXT NOT NULL,                -- 'group' | 'stream'
  id   INTEGER NOT NULL,
  PRIMARY KEY(kind, id)
);
)sql");
       }},
      {8, "index tasks by family and by service",
       [](Conn& c) {
         // Issue 19: ListTasks by family or serviceName (with its desiredStatus) reads one
         // index range, as the default ListTasks does since migration 6. The service
         // controller reads a service's tasks that can still change its decisions: those
         // not STOPPED, and the STOPPED ones whose failure is not yet counted
         // (records::ListServiceTasks, whose where_sql repeats the partial index's term
         // word for word: SQLite uses a partial index only when the query spells it so).
         // The expressions are those Tx::List writes (json_extract(<column>, '$."m"')).
         return c.Exec(R"sql(
CREATE INDEX objects_tasks_by_family ON objects(
  region, parent, name, json_extract(doc, '$."desiredStatus"'), seq) WHERE kind = 'ecs:task';
CREATE INDEX objects_tasks_by_service ON objects(
  region, parent, json_extract(internal, '$."service"'), json_extract(doc, '$."desiredStatus"'), seq)
  WHERE kind = 'ecs:task';
CREATE INDEX objects_tasks_open_by_service ON objects(
  region, parent, json_extract(internal, '$."service"'), seq)
  WHERE kind = 'ecs:task' AND (status <> 'STOPPED' OR coalesce(json_extract(internal, '$."counted"'), 0) = 0);
)sql");
       }},
      {9, "IPAM: the free ranges of each pool beside ip_allocations",
       [](Conn& c) {
         // Issue 19 (design.md 17.4): ipam_pools records a pool's universe [lo, hi] once IPAM
         // has allocated from it, and ipam_free the pool's maximal free runs of that
         // universe, so the lowest free address is one indexed read. Both change in the
         // transaction that changes ip_allocations and hold only what it implies: a pool
         // not recorded here (every pool of a database from before this migration) is
         // rebuilt from ip_allocations when IPAM first touches it.
         return c.Exec(R"sql(
CREATE TABLE ipam_pools(
  region TEXT NOT NULL, pool TEXT NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL,
  PRIMARY KEY(region, pool)) WITHOUT ROWID;
CREATE TABLE ipam_free(
  region TEXT NOT NULL, pool TEXT NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL,
  PRIMARY KEY(region, pool, first)) WITHOUT ROWID;
)sql");
       }},
  };
  return kMigrations;
}

}  // namespace kecs::state
