// The engine's string-keyed table against std::unordered_map, through random inserts, lookups
// and erasures (erase_if included), with values that must stay put while they are in it.
#include "engine/string_table.h"

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <unordered_map>

using exfilscan::detail::StringTable;

TEST_CASE("the string table holds what a map holds, through inserts and erasures", "[table]") {
  StringTable<int> table;
  std::unordered_map<std::string, int> model;
  std::unordered_map<std::string, const int*> where;  // values must not move
  std::mt19937_64 rng(7);
  for (int step = 0; step < 200000; ++step) {
    std::string key = fmt::format("k{}", rng() % 3000);
    switch (rng() % 8) {
      case 0:
      case 1:
      case 2: {
        auto [value, added] = table.try_emplace(key);
        CHECK(added == !model.count(key));
        if (added) {
          *value = step;
          model[key] = step;
          where[key] = value;
        }
        CHECK(where[key] == value);
        break;
      }
      case 3:
        table.erase(key);
        model.erase(key);
        where.erase(key);
        break;
      case 4:
        if (step % 5000 == 4) {  // now and then, drop a third of everything
          table.erase_if([](const std::string& k, int) { return k.size() % 3 == 0; });
          std::erase_if(model, [](const auto& kv) { return kv.first.size() % 3 == 0; });
          std::erase_if(where, [](const auto& kv) { return kv.first.size() % 3 == 0; });
        }
        break;
      default: {
        const int* value = table.find(key);
        REQUIRE((value != nullptr) == (model.count(key) == 1));
        if (value) {
          CHECK(*value == model[key]);
          CHECK(value == where[key]);
        }
      }
    }
    REQUIRE(table.size() == model.size());
  }
  std::map<std::string, int> listed;
  for (const auto& [k, v] : table) listed[k] = v;
  CHECK(listed == std::map<std::string, int>(model.begin(), model.end()));
  table.clear();
  CHECK(table.empty());
  CHECK(table.find("k1") == nullptr);
}
