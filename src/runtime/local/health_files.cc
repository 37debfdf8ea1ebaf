#include "runtime/local/health_files.h"

#include <charconv>
#include <cstdio>

namespace kecs::runtime::local::health {
namespace {

std::string Escape(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char ch : v) {
    switch (ch) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      default: out += ch;
    }
  }
  return out;
}

std::string Unescape(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] != '\\' || i + 1 == v.size()) {
      out += v[i];
      continue;
    }
    char next = v[++i];
    out += next == 'n' ? '\n' : next == 'r' ? '\r' : next;
  }
  return out;
}

void Line(std::string& out, std::string_view key, std::string_view value) {
  out.append(key);
  out += ' ';
  out += Escape(value);
  out += '\n';
}

template <typename T>
bool ParseInt(std::string_view s, T& out, int base = 10) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return ec == std::errc() && p == s.data() + s.size();
}

bool ParseDouble(std::string_view s, double& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string Seconds(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

// Calls fn(key, unescaped value) for each line; false when fn refuses one.
template <typename F>
bool ForEachLine(std::string_view text, F fn) {
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.empty()) continue;
    size_t sp = line.find(' ');
    std::string_view key = line.substr(0, sp);
    std::string value = sp == std::string_view::npos ? std::string() : Unescape(line.substr(sp + 1));
    if (!fn(key, value)) return false;
  }
  return true;
}

}  // namespace

std::string EncodeConfig(const Config& c) {
  std::string out;
  for (const auto& a : c.argv) Line(out, "arg", a);
  Line(out, "interval_ms", std::to_string(c.interval_ms));
  Line(out, "timeout_ms", std::to_string(c.timeout_ms));
  Line(out, "start_period_ms", std::to_string(c.start_period_ms));
  Line(out, "retries", std::to_string(c.retries));
  Line(out, "uid", std::to_string(c.uid));
  Line(out, "gid", std::to_string(c.gid));
  for (uint32_t g : c.groups) Line(out, "group", std::to_string(g));
  Line(out, "cwd", c.cwd);
  for (const auto& e : c.env) Line(out, "env", e);
  Line(out, "cap_bounding", Hex(c.cap_bounding));
  Line(out, "cap_effective", Hex(c.cap_effective));
  Line(out, "cap_permitted", Hex(c.cap_permitted));
  Line(out, "cap_inheritable", Hex(c.cap_inheritable));
  Line(out, "cap_ambient", Hex(c.cap_ambient));
  Line(out, "no_new_privs", c.no_new_privs ? "1" : "0");
  for (const auto& r : c.rlimits) {
    Line(out, "rlimit", std::to_string(r.resource) + " " + std::to_string(r.soft) + " " + std::to_string(r.hard));
  }
  return out;
}

std::optional<Config> DecodeConfig(std::string_view text) {
  Config c;
  c.cwd.clear();
  bool ok = ForEachLine(text, [&](std::string_view key, const std::string& v) {
    if (key == "arg") c.argv.push_back(v);
    else if (key == "env") c.env.push_back(v);
    else if (key == "cwd") c.cwd = v;
    else if (key == "interval_ms") return ParseInt(v, c.interval_ms) && c.interval_ms > 0;
    else if (key == "timeout_ms") return ParseInt(v, c.timeout_ms) && c.timeout_ms > 0;
    else if (key == "start_period_ms") return ParseInt(v, c.start_period_ms) && c.start_period_ms >= 0;
    else if (key == "retries") return ParseInt(v, c.retries) && c.retries > 0;
    else if (key == "uid") return ParseInt(v, c.uid);
    else if (key == "gid") return ParseInt(v, c.gid);
    else if (key == "group") {
      uint32_t g = 0;
      if (!ParseInt(v, g)) return false;
      c.groups.push_back(g);
    } else if (key == "cap_bounding") return ParseInt(v, c.cap_bounding, 16);
    else if (key == "cap_effective") return ParseInt(v, c.cap_effective, 16);
    else if (key == "cap_permitted") return ParseInt(v, c.cap_permitted, 16);
    else if (key == "cap_inheritable") return ParseInt(v, c.cap_inheritable, 16);
    else if (key == "cap_ambient") return ParseInt(v, c.cap_ambient, 16);
    else if (key == "no_new_privs") c.no_new_privs = v == "1";
    else if (key == "rlimit") {
      Rlimit r;
      size_t a = v.find(' '), b = a == std::string::npos ? a : v.find(' ', a + 1);
      if (b == std::string::npos) return false;
      std::string_view sv(v);
      if (!ParseInt(sv.substr(0, a), r.resource) || !ParseInt(sv.substr(a + 1, b - a - 1), r.soft) ||
          !ParseInt(sv.substr(b + 1), r.hard)) {
        return false;
      }
      c.rlimits.push_back(r);
    }
    return true;
  });
  if (!ok || c.argv.empty()) return std::nullopt;
  if (c.cwd.empty()) c.cwd = "/";
  return c;
}

std::string_view ToString(Status s) {
  switch (s) {
    case Status::kStarting: return "starting";
    case Status::kHealthy: return "healthy";
    case Status::kUnhealthy: return "unhealthy";
  }
  return "starting";
}

std::string EncodeState(const State& s) {
  std::string out;
  Line(out, "status", ToString(s.status));
  Line(out, "failing_streak", std::to_string(s.failing_streak));
  if (s.exit_code) Line(out, "exit_code", std::to_string(*s.exit_code));
  Line(out, "changed_at", Seconds(s.changed_at));
  Line(out, "checked_at", Seconds(s.checked_at));
  Line(out, "output", s.output);
  return out;
}

std::optional<State> DecodeState(std::string_view text) {
  State s;
  bool have_status = false;
  bool ok = ForEachLine(text, [&](std::string_view key, const std::string& v) {
    if (key == "status") {
      have_status = true;
      if (v == "starting") s.status = Status::kStarting;
      else if (v == "healthy") s.status = Status::kHealthy;
      else if (v == "unhealthy") s.status = Status::kUnhealthy;
      else return false;
    } else if (key == "failing_streak") {
      return ParseInt(v, s.failing_streak);
    } else if (key == "exit_code") {
      int code = 0;
      if (!ParseInt(v, code)) return false;
      s.exit_code = code;
    } else if (key == "changed_at") {
      return ParseDouble(v, s.changed_at);
    } else if (key == "checked_at") {
      return ParseDouble(v, s.checked_at);
    } else if (key == "output") {
      s.output = v;
    }
    return true;
  });
  if (!ok || !have_status) return std::nullopt;
  return s;
}

void Apply(State& s, const Result& r, double container_started, const Config& c) {
  Status before = s.status;
  s.exit_code = r.exit_code;
  s.output = r.output.size() > kMaxOutput ? r.output.substr(0, kMaxOutput) : r.output;
  s.checked_at = r.ended;
  if (r.exit_code == 0) {
    s.failing_streak = 0;
    s.status = Status::kHealthy;
  } else {
    bool counts = true;
    if (s.status == Status::kStarting && (r.started - container_started) * 1000.0 < static_cast<double>(c.start_period_ms)) {
      counts = false;
    }
    if (counts) {
      ++s.failing_streak;
      if (s.failing_streak >= c.retries) s.status = Status::kUnhealthy;
    }
  }
  if (s.status != before) s.changed_at = r.ended;
}

std::string GoDuration(int64_t ms) {
  int64_t m = ms / 60000;
  int64_t rest = ms % 60000;
  std::string secs = std::to_string(rest / 1000);
  if (rest % 1000 != 0) {
    char frac[8];
    std::snprintf(frac, sizeof frac, "%03lld", static_cast<long long>(rest % 1000));
    std::string f(frac);
    while (!f.empty() && f.back() == '0') f.pop_back();
    secs += "." + f;
  }
  if (m == 0) return secs + "s";
  int64_t h = m / 60;
  m %= 60;
  std::string out = h > 0 ? std::to_string(h) + "h" : "";
  return out + std::to_string(m) + "m" + secs + "s";
}

}  // namespace kecs::runtime::local::health
