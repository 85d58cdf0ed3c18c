/// gzip through ISA-L and zstd through libzstd, each a StreamChunker that decompresses as it fills.
#include "input/decompress.h"

#include <fmt/format.h>
#include <isa-l/igzip_lib.h>
#include <zstd.h>

#include <algorithm>

namespace exfilscan::detail {

namespace {

/// How much compressed input to read at a time: `most`, or the whole file when it is smaller.
size_t compressed_read_bytes(uint64_t file_size, size_t most) {
  return file_size ? static_cast<size_t>(std::clamp<uint64_t>(file_size, 4096, most)) : most;
}

/// gzip through ISA-L's inflate: about twice zlib's speed, which is what bounds a scan of a .gz.
class GzipChunker final : public StreamChunker {
 public:
  GzipChunker(std::unique_ptr<RawReader> raw, const InputOptions& options, uint64_t size_hint)
      : StreamChunker(std::move(raw), options, size_hint),
        state_(std::make_unique_for_overwrite<inflate_state>()) {  // set up by isal_inflate_init
    in_.reserve(compressed_read_bytes(size_hint, 1u << 20), 0);
    isal_inflate_init(state_.get());
  }
  Compression compression() const override { return Compression::gzip; }

 protected:
  size_t fill(char* dst, size_t cap) override {
    inflate_state& st = *state_;
    st.next_out = reinterpret_cast<uint8_t*>(dst);
    st.avail_out = static_cast<uint32_t>(std::min<size_t>(cap, 1u << 30));
    uint32_t asked = st.avail_out;
    while (st.avail_out > 0) {
      if (st.avail_in == 0) {
        size_t n = raw_->read(in_.data(), in_.size());
        if (n == 0) {
          if (in_member_ && st.avail_out == asked)
            return fail_after_decoded(fmt::format(
                "{}: truncated gzip stream: input ends after {} compressed bytes, inside a member "
                "({} bytes decompressed)",
                raw_->name(), raw_->consumed(), decoded_));
          break;
        }
        st.next_in = reinterpret_cast<uint8_t*>(in_.data());
        st.avail_in = static_cast<uint32_t>(n);
      }
      if (!in_member_) {
        // Concatenated members (cat a.gz b.gz) are one stream, as gzip -d treats them.
        uint8_t *next_in = st.next_in, *next_out = st.next_out;
        uint32_t avail_in = st.avail_in, avail_out = st.avail_out;
        isal_inflate_reset(&st);
        st.crc_flag = ISAL_GZIP;
        st.next_in = next_in;
        st.avail_in = avail_in;
        st.next_out = next_out;
        st.avail_out = avail_out;
        in_member_ = true;
      }
      int rc = isal_inflate(&st);
      if (rc < 0)
        throw InputError(fmt::format("{}: corrupt gzip data near compressed byte {}: {}",
                                     raw_->name(), raw_->consumed() - st.avail_in, why(rc)));
      if (st.block_state == ISAL_BLOCK_FINISH) in_member_ = false;
    }
    size_t produced = asked - st.avail_out;
    decoded_ += produced;
    return produced;
  }

 private:
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
  ByteBuffer in_;
  std::unique_ptr<inflate_state> state_;  // large: kept off the stack and out of the object
  bool in_member_ = false;
  uint64_t decoded_ = 0;
};

class ZstdChunker final : public StreamChunker {
 public:
  ZstdChunker(std::unique_ptr<RawReader> raw, const InputOptions& options, uint64_t size_hint)
      : StreamChunker(std::move(raw), options, size_hint), dctx_(ZSTD_createDCtx()) {
    if (!dctx_) throw InputError(fmt::format("{}: cannot start zstd decoder", raw_->name()));
    in_.reserve(compressed_read_bytes(size_hint, ZSTD_DStreamInSize()), 0);
  }
  ~ZstdChunker() override { ZSTD_freeDCtx(dctx_); }
  Compression compression() const override { return Compression::zstd; }

 protected:
  size_t fill(char* dst, size_t cap) override {
    ZSTD_outBuffer out{dst, cap, 0};
    while (out.pos < out.size) {
      if (input_.pos == input_.size) {
        size_t n = raw_->read(in_.data(), in_.size());
        if (n == 0) {
          if (frame_open_ && out.pos == 0)
            return fail_after_decoded(fmt::format(
                "{}: truncated zstd stream: input ends after {} compressed bytes, inside a frame",
                raw_->name(), raw_->consumed()));
          break;
        }
        input_ = ZSTD_inBuffer{in_.data(), n, 0};
      }
      size_t rc = ZSTD_decompressStream(dctx_, &out, &input_);
      if (ZSTD_isError(rc))
        throw InputError(fmt::format("{}: corrupt zstd data near compressed byte {}: {}",
                                     raw_->name(), raw_->consumed() - (input_.size - input_.pos),
                                     ZSTD_getErrorName(rc)));
      frame_open_ = rc != 0;
    }
    return out.pos;
  }

 private:
  ZSTD_DCtx* dctx_;
  ByteBuffer in_;
  ZSTD_inBuffer input_{nullptr, 0, 0};
  bool frame_open_ = false;
};

}  // namespace

std::unique_ptr<StreamChunker> gzip_chunker(std::unique_ptr<RawReader> raw,
                                            const InputOptions& options, uint64_t size_hint) {
  return std::make_unique<GzipChunker>(std::move(raw), options, size_hint);
}

std::unique_ptr<StreamChunker> zstd_chunker(std::unique_ptr<RawReader> raw,
                                            const InputOptions& options, uint64_t size_hint) {
  return std::make_unique<ZstdChunker>(std::move(raw), options, size_hint);
}

}  // namespace exfilscan::detail
