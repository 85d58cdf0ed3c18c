/// gzip through ISA-L and zstd through libzstd: one StreamChunker that decompresses as it fills,
/// member after member and frame after frame, in whichever format each one starts with.
#include "input/decompress.h"

#include <fmt/format.h>
#include <isa-l/igzip_lib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>

namespace exfilscan::detail {

namespace {

/// How much compressed input to read at a time: `most`, or the whole file when it is smaller.
size_t compressed_read_bytes(uint64_t file_size, size_t most) {
  return file_size ? static_cast<size_t>(std::clamp<uint64_t>(file_size, 4096, most)) : most;
}

/// The format of the member or frame these bytes start: gzip, zstd (a skippable frame too:
/// libzstd skips it), or none.
Compression frame_format(std::string_view b) {
  Compression c = detect_compression(b);
  if (c != Compression::none) return c;
  auto u = [&](size_t i) { return static_cast<unsigned char>(b[i]); };
  if (b.size() >= 4 && (u(0) & 0xf0) == 0x50 && u(1) == 0x2a && u(2) == 0x4d && u(3) == 0x18)
    return Compression::zstd;
  return Compression::none;
}

/// gzip members and zstd frames one after another (`cat a.gz b.zst`, which zstd -d reads whole;
/// concatenated gzip members are one stream, as gzip -d reads them). Anything else after one
/// ends the input with an error, once the lines before it are delivered. gzip goes through
/// ISA-L's inflate: about twice zlib's speed, which is what bounds a scan of a .gz.
class CompressedChunker final : public StreamChunker {
 public:
  CompressedChunker(std::unique_ptr<RawReader> raw, const InputOptions& options, uint64_t size_hint,
                    Compression first)
      : StreamChunker(std::move(raw), options, size_hint), first_(first) {
    in_.reserve(compressed_read_bytes(size_hint, std::max<size_t>(1u << 20, ZSTD_DStreamInSize())),
                0);
  }
  ~CompressedChunker() override { ZSTD_freeDCtx(dctx_); }
  Compression compression() const override { return first_; }

 protected:
  size_t fill(char* dst, size_t cap) override {
    if (stopped_) return 0;
    cap = std::min<size_t>(cap, 1u << 30);
    size_t produced = 0;
    while (produced < cap) {
      if (current_ == Compression::none) {
        size_t have = available(4);
        if (have == 0) break;  // the end, between members or frames
        Compression next =
            frame_format(std::string_view(in_.data() + in_pos_, std::min<size_t>(have, 4)));
        if (next == Compression::none)
          return stop(
              produced,
              fmt::format("{}: neither a gzip member nor a zstd frame at compressed byte {}, "
                          "after a whole {} ({} bytes decompressed); the rest is not read",
                          raw_->name(), cursor(),
                          last_ == Compression::gzip ? "gzip member" : "zstd frame",
                          decoded_ + produced));
        start(next);
      }
      bool at_end = available(1) == 0;
      bool done = false;
      size_t n = current_ == Compression::gzip ? inflate(dst + produced, cap - produced, done)
                                               : unzstd(dst + produced, cap - produced, done);
      if (!error_.empty()) return stop(produced + n, std::move(error_));
      produced += n;
      if (done) {
        last_ = current_;
        current_ = Compression::none;
      } else if (at_end && n == 0) {
        return stop(produced, current_ == Compression::gzip
                                  ? fmt::format("{}: truncated gzip stream: input ends after {} "
                                                "compressed bytes, inside a member ({} bytes "
                                                "decompressed)",
                                                raw_->name(), raw_->consumed(), decoded_ + produced)
                                  : fmt::format("{}: truncated zstd stream: input ends after {} "
                                                "compressed bytes, inside a frame",
                                                raw_->name(), raw_->consumed()));
      }
    }
    decoded_ += produced;
    return produced;
  }

 private:
  /// The compressed byte the decoder reads next.
  uint64_t cursor() const { return raw_->consumed() - (in_len_ - in_pos_); }

  /// At least n unread compressed bytes in in_, unless the input ends first; how many there are.
  size_t available(size_t n) {
    if (in_len_ - in_pos_ >= n) return in_len_ - in_pos_;
    size_t left = in_len_ - in_pos_;
    std::memmove(in_.data(), in_.data() + in_pos_, left);
    in_pos_ = 0;
    in_len_ = left;
    while (in_len_ < n) {
      size_t r = raw_->read(in_.data() + in_len_, in_.size() - in_len_);
      if (r == 0) break;
      in_len_ += r;
    }
    return in_len_;
  }

  /// Delivers what this fill decoded, then ends the stream with `message`.
  size_t stop(size_t produced, std::string message) {
    stopped_ = true;
    decoded_ += produced;
    fail_after_decoded(std::move(message));
    return produced;
  }

  void start(Compression next) {
    current_ = next;
    if (next == Compression::gzip) {
      if (!state_) state_ = std::make_unique_for_overwrite<inflate_state>();  // set up below
      isal_inflate_init(state_.get());
      state_->crc_flag = ISAL_GZIP;
    } else if (!dctx_) {
      dctx_ = ZSTD_createDCtx();
      if (!dctx_) throw InputError(fmt::format("{}: cannot start zstd decoder", raw_->name()));
    }
  }

  size_t inflate(char* dst, size_t cap, bool& done) {
    inflate_state& st = *state_;
    st.next_in = reinterpret_cast<uint8_t*>(in_.data() + in_pos_);
    st.avail_in = static_cast<uint32_t>(in_len_ - in_pos_);
    st.next_out = reinterpret_cast<uint8_t*>(dst);
    st.avail_out = static_cast<uint32_t>(cap);
    int rc = isal_inflate(&st);
    // ISA-L gives back the bytes it read ahead past a member's end.
    in_pos_ = static_cast<size_t>(reinterpret_cast<char*>(st.next_in) - in_.data());
    if (rc < 0)
      error_ = fmt::format("{}: corrupt gzip data near compressed byte {}: {}", raw_->name(),
                           cursor(), why(rc));
    done = rc >= 0 && st.block_state == ISAL_BLOCK_FINISH;
    return cap - st.avail_out;
  }

  size_t unzstd(char* dst, size_t cap, bool& done) {
    ZSTD_inBuffer input{in_.data(), in_len_, in_pos_};
    ZSTD_outBuffer out{dst, cap, 0};
    size_t rc = ZSTD_decompressStream(dctx_, &out, &input);  // stops at a frame's end
    in_pos_ = input.pos;
    if (ZSTD_isError(rc))
      error_ = fmt::format("{}: corrupt zstd data near compressed byte {}: {}", raw_->name(),
                           cursor(), ZSTD_getErrorName(rc));
    done = !ZSTD_isError(rc) && rc == 0;
    return out.pos;
  }

  static const char* why(int rc) {
    switch (rc) {
      case ISAL_INVALID_BLOCK:
        return "invalid deflate block";
      case ISAL_INVALID_SYMBOL:
        return "invalid code";
      case ISAL_INVALID_LOOKBACK:
        return "invalid distance";
      case ISAL_INVALID_WRAPPER:
        return "not a gzip member header";
      case ISAL_UNSUPPORTED_METHOD:
        return "unsupported compression method";
      case ISAL_INCORRECT_CHECKSUM:
        return "checksum mismatch";
      default:
        return "inflate failed";
    }
  }

  Compression first_;
  Compression current_ = Compression::none;  // none: between members and frames
  Compression last_ = Compression::none;     // the format of the last whole one
  ByteBuffer in_;
  size_t in_pos_ = 0, in_len_ = 0;        // the unread compressed bytes are in_[in_pos_, in_len_)
  std::unique_ptr<inflate_state> state_;  // large: kept off the stack and out of the object
  ZSTD_DCtx* dctx_ = nullptr;
  uint64_t decoded_ = 0;
  std::string error_;  // set by a decoder that met corrupt data
  bool stopped_ = false;
};

}  // namespace

std::unique_ptr<StreamChunker> compressed_chunker(std::unique_ptr<RawReader> raw,
                                                  const InputOptions& options, uint64_t size_hint,
                                                  Compression first) {
  return std::make_unique<CompressedChunker>(std::move(raw), options, size_hint, first);
}

}  // namespace exfilscan::detail
