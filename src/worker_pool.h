#pragma once
/// Internal: a fixed set of threads that run one job at a time on every index at once, the
/// caller's thread taking index 0, and wait for all of them. Jobs are short (a batch of events,
/// a chunk of lines): the threads sleep between them.

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace exfilscan::detail {

class WorkerPool {
 public:
  explicit WorkerPool(size_t size) {
    for (size_t i = 1; i < size; ++i) workers_.emplace_back([this, i] { work(i); });
  }
  ~WorkerPool() {
    {
      std::lock_guard lock(mutex_);
      quit_ = true;
    }
    start_.notify_all();
    for (std::thread& t : workers_) t.join();
  }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  size_t size() const { return workers_.size() + 1; }

  /// Runs job(i) for every i in [0, size()) at once and returns when all are done; the first
  /// exception thrown (the caller's first) is rethrown here.
  void run(const std::function<void(size_t)>& job) {
    if (workers_.empty()) return job(0);
    start(job);
    std::exception_ptr mine;
    try {
      job(0);
    } catch (...) {
      mine = std::current_exception();
    }
    wait();
    if (mine) std::rethrow_exception(mine);
  }

  /// Runs job(i) for every i in [0, size()) one after the other on the calling thread: for a
  /// job too small to be worth waking the threads for.
  void run_here(const std::function<void(size_t)>& job) {
    for (size_t i = 0; i < size(); ++i) job(i);
  }

  /// Starts job(i) for every i in [1, size()), the pool's own threads, and returns at once: the
  /// caller does something else meanwhile, then wait()s. `job` must live until then.
  void start(const std::function<void(size_t)>& job) {
    {
      std::lock_guard lock(mutex_);
      job_ = &job;
      pending_ = workers_.size();
      ++generation_;
      error_ = nullptr;
    }
    start_.notify_all();
  }
  /// Waits for the job start() began; rethrows the first exception it threw.
  void wait() {
    std::unique_lock lock(mutex_);
    done_.wait(lock, [&] { return pending_ == 0; });
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }

 private:
  void work(size_t index) {
    uint64_t seen = 0;
    for (;;) {
      const std::function<void(size_t)>* job;
      {
        std::unique_lock lock(mutex_);
        start_.wait(lock, [&] { return quit_ || generation_ != seen; });
        if (quit_) return;
        seen = generation_;
        job = job_;
      }
      std::exception_ptr error;
      try {
        (*job)(index);
      } catch (...) {
        error = std::current_exception();
      }
      std::lock_guard lock(mutex_);
      if (error && !error_) error_ = error;
      if (--pending_ == 0) done_.notify_one();
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable start_, done_;
  const std::function<void(size_t)>* job_ = nullptr;
  size_t pending_ = 0;
  uint64_t generation_ = 0;
  bool quit_ = false;
  std::exception_ptr error_;
};

}  // namespace exfilscan::detail
