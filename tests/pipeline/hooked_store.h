// A db::Store that forwards to a real one and runs a hook just before CompareAndSwap, so a test
// can play the concurrent writer that changes a row between read and write-back.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "db/store.h"
#include "tests/db/forwarding_store.h"

namespace udmg::testing {

class HookedStore : public db::testing::ForwardingStore {
 public:
  HookedStore(std::unique_ptr<db::Store> inner, std::function<void()> before_cas)
      : ForwardingStore(std::move(inner)), before_cas_(std::move(before_cas)) {}

  Result<std::vector<db::CasOutcome>> CompareAndSwapChecked(
      const db::ColumnRef& column, std::span<const db::CasWrite> writes) override {
    if (before_cas_) before_cas_();
    return ForwardingStore::CompareAndSwapChecked(column, writes);
  }

 private:
  std::function<void()> before_cas_;
};

}  // namespace udmg::testing
