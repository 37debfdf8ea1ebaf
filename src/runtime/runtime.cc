#include "runtime/runtime.h"

#include <algorithm>

namespace kecs::runtime {

Status Runtime::StartContainers(const TaskSpec& task) {
  std::set<std::string> names;
  for (const auto& c : task.containers) names.insert(c.name);
  return StartContainers(task, names);
}

std::vector<std::vector<std::string>> StopOrder(const TaskSpec& task) {
  std::vector<std::vector<std::string>> waves;
  std::set<std::string> left;
  for (const auto& c : task.containers) left.insert(c.name);
  while (!left.empty()) {
    // The containers no remaining container depends on stop now.
    std::vector<std::string> wave;
    for (const auto& c : task.containers) {
      if (!left.count(c.name)) continue;
      bool needed = false;
      for (const auto& other : task.containers) {
        if (!left.count(other.name) || other.name == c.name) continue;
        for (const auto& d : other.depends_on) needed = needed || d.container_name == c.name;
      }
      if (!needed) wave.push_back(c.name);
    }
    if (wave.empty()) {  // a cycle: the rest together
      for (const auto& c : task.containers) {
        if (left.count(c.name)) wave.push_back(c.name);
      }
    }
    for (const auto& n : wave) left.erase(n);
    waves.push_back(std::move(wave));
  }
  return waves;
}

}  // namespace kecs::runtime
