#pragma once
// The ordered schema migrations of kecs.db. A migration is never edited once it has
// shipped: a change to the schema is a new migration at the end of the list, with a test in
// tests/unit/state/migrations_test.cc.
#include <vector>

#include "state/db.h"

namespace kecs::state {

const std::vector<Migration>& AllMigrations();

}  // namespace kecs::state
