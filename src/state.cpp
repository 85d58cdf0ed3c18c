#include <exfilscan/hash.h>
#include <exfilscan/state.h>
#include <exfilscan/timestamp.h>

#include <fmt/format.h>

#include <cstring>

namespace exfilscan {

namespace {
constexpr std::string_view magic = "EXFSTATE";
constexpr size_t header_size = 8 + 4 + 8 + 8;  // magic, version, fingerprint, payload length
}  // namespace

void StateWriter::u64(uint64_t v) {
  for (int i = 0; i < 8; ++i) buf_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void StateWriter::f64(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  u64(bits);
}

void StateWriter::str(std::string_view s) {
  u64(s.size());
  buf_.append(s);
}

void StateReader::need(size_t n) {
  if (data_.size() - pos_ < n) throw StateError("the state ends early");
}

uint8_t StateReader::u8() {
  need(1);
  return static_cast<uint8_t>(data_[pos_++]);
}

int64_t StateReader::time() {
  int64_t t = i64();
  if (t < 0 || t >= timestamp_end_s * 1'000'000'000)
    throw StateError("a time in the state is out of range");
  return t;
}

uint64_t StateReader::u64() {
  need(8);
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= static_cast<uint64_t>(static_cast<unsigned char>(data_[pos_ + i])) << (8 * i);
  pos_ += 8;
  return v;
}

double StateReader::f64() {
  uint64_t bits = u64();
  double v;
  std::memcpy(&v, &bits, 8);
  return v;
}

std::string StateReader::str() {
  size_t n = count(data_.size());
  need(n);
  std::string s(data_.substr(pos_, n));
  pos_ += n;
  return s;
}

size_t StateReader::count(size_t max) {
  uint64_t n = u64();
  if (n > max || n > data_.size())
    throw StateError(fmt::format("a count of {} is out of range", n));
  return static_cast<size_t>(n);
}

std::string encode_state(uint64_t fingerprint, std::string_view payload) {
  std::string out(magic);
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<char>((state_format_version >> (8 * i)) & 0xff));
  StateWriter rest;
  rest.u64(fingerprint);
  rest.u64(payload.size());
  out.append(rest.data());
  out.append(payload);
  StateWriter sum;
  sum.u64(hash_bytes(out));
  out.append(sum.data());
  return out;
}

std::string decode_state(std::string_view path, std::string_view all, uint64_t fingerprint,
                         uint32_t& version) {
  const std::string reset = " (it is left as it is; --state-reset starts over)";
  if (all.size() < header_size + 8 || all.substr(0, 8) != magic)
    throw StateError(fmt::format("{}: not an exfilscan state file{}", path, reset));
  version = 0;
  for (int i = 0; i < 4; ++i)
    version |= static_cast<uint32_t>(static_cast<unsigned char>(all[8 + i])) << (8 * i);
  if (version < oldest_state_format_version || version > state_format_version)
    throw StateError(fmt::format("{}: state format {} is not one this exfilscan reads ({} to {}){}",
                                 path, version, oldest_state_format_version, state_format_version,
                                 reset));
  StateReader sum(all.substr(all.size() - 8));
  if (sum.u64() != hash_bytes(all.substr(0, all.size() - 8)))
    throw StateError(
        fmt::format("{}: the state is corrupt or truncated (checksum mismatch){}", path, reset));
  StateReader rest(all.substr(12, 16));
  uint64_t stored_fingerprint = rest.u64();
  uint64_t length = rest.u64();
  if (length != all.size() - header_size - 8)
    throw StateError(fmt::format("{}: the state is truncated{}", path, reset));
  if (stored_fingerprint != fingerprint)
    throw StateError(fmt::format(
        "{}: the state was written with other accounts or windows (--group-by, --max-skew, "
        "the rules' window, a threshold rule's id, key, window, filter or measure); its "
        "baselines would not mean the same{}",
        path, reset));
  return std::string(all.substr(header_size, length));
}

}  // namespace exfilscan
