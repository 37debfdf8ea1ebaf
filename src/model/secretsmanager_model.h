#pragma once
// The Secrets Manager model compiled into this binary (kept out of shapes.h so that adding
// a service does not rebuild everything that includes it).
#include "model/shapes.h"

namespace kecs::model {

const ServiceModel& SecretsManagerModel();

}  // namespace kecs::model
