#include "state/migrations.h"

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
  };
  return kMigrations;
}

}  // namespace kecs::state
