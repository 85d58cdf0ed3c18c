// libFuzzer target: one line through the parser, in every format (sniffed, and each forced).
#include <exfilscan/parse/line_parser.h>

#include <cstddef>
#include <cstdint>
#include <string>

using namespace exfilscan;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const InputFormat formats[] = {
      InputFormat::auto_detect,  InputFormat::canonical,  InputFormat::litellm,
      InputFormat::bedrock,      InputFormat::helicone,   InputFormat::langfuse,
      InputFormat::portkey,      InputFormat::azure,      InputFormat::azure_apim,
      InputFormat::openai_batch, InputFormat::openrouter, InputFormat::kong,
      InputFormat::envoy,        InputFormat::vertex,     InputFormat::cloudflare};
  // The parser reads up to padding bytes past the line, as the reader guarantees.
  std::string padded(reinterpret_cast<const char*>(data), size);
  padded.resize(size + 64, '\0');
  for (InputFormat f : formats) {
    ParserOptions options;
    options.format = f;
    options.read_prompt_text = true;
    options.read_turns = true;
    LineParser parser(options);
    Event event;
    ParseError error;
    parser.parse(std::string_view(padded.data(), size), event, error);
  }
  return 0;
}
