#include "detectors/template_shapes.h"

#include "detectors/segments.h"

#include <algorithm>
#include <cmath>

namespace exfilscan::detail {

double ShapePrompts::Counts::median_completion() const {
  return answers ? std::expm1(log_completion / static_cast<double>(answers)) : 0;
}

void TemplateShapes::observe(const Event& ev, const Settings& settings, size_t max_shapes,
                             const TemplateMiner& miner, int index) {
  if (max_shapes == 0) return;
  uint64_t system = system_id(ev);
  uint64_t shape = traffic_shape(ev, system);
  auto at = std::find_if(shapes.begin(), shapes.end(),
                         [&](const ShapePrompts& s) { return s.shape == shape; });
  if (at == shapes.end()) {
    if (shapes.size() < max_shapes) {
      shapes.emplace_back();
      at = shapes.end() - 1;
    } else {
      // The quietest over its life makes way (ties: the earlier); the templates filled from
      // it would be judged against counts that start again: they are the application's now.
      at = std::min_element(shapes.begin(), shapes.end(), [](const auto& x, const auto& y) {
        return x.life.prompts < y.life.prompts;
      });
      for (TemplateShape& t : templates)
        if (t.shape == at->shape) t.mixed = true;
      *at = ShapePrompts{};
    }
    at->shape = shape;
    at->with_system = system != 0;
    at->with_end_users = !ev.end_user.empty();
  }
  size_t fill = index >= 0 ? miner.last_fill_bytes() : 0;
  for (ShapePrompts::Counts* c : {&at->window, &at->life}) {
    ++c->prompts;
    if (fill > 0 && ev.completion_tokens)
      c->slot.add(fill, *ev.completion_tokens, settings.answer_input_ratio);
    if (ev.completion_tokens) {
      double completion = static_cast<double>(std::max<int64_t>(0, *ev.completion_tokens));
      double asked = static_cast<double>(ev.prompt_tokens.value_or(0));
      ++c->answers;
      c->log_completion += std::log1p(completion);
      if (completion >= static_cast<double>(settings.min_answer_tokens) &&
          completion >= settings.answer_input_ratio * asked)
        ++c->product;
    }
  }
  // A key of one shape is judged whole: nothing to tag.
  if (index < 0 || shapes.size() < 2) return;
  if (templates.size() < miner.size()) templates.resize(miner.size());
  TemplateShape& t = templates[static_cast<size_t>(index)];
  if (t.identity != miner.identity(index)) {
    // Counted from here. A template learnt with this prompt (from it and a recent partner,
    // the miner's two matches) counts its partner too; one with a history counts none of it.
    uint64_t counted = miner.lifetime_matches(index) <= 2 ? miner.lifetime_matches(index) : 1;
    t = TemplateShape{miner.identity(index),
                      shape,
                      false,
                      at->life.prompts > counted ? at->life.prompts - counted : 0,
                      std::min(counted, miner.matches(index)),
                      counted};
    return;
  }
  if (t.shape != shape) t.mixed = true;
  ++t.window_matches;
  ++t.life_matches;
}

void TemplateShapes::realign(const TemplateMiner& miner) {
  if (templates.empty()) return;
  std::vector<TemplateShape> kept(miner.size());
  for (size_t i = 0; i < miner.size(); ++i)
    for (const TemplateShape& t : templates)
      if (t.identity == miner.identity(static_cast<int>(i))) {
        kept[i] = t;
        break;
      }
  templates = std::move(kept);
}

void TemplateShapes::close_window() {
  for (ShapePrompts& s : shapes) s.window = ShapePrompts::Counts{};
  for (TemplateShape& t : templates) t.window_matches = 0;
}

const TemplateShape* TemplateShapes::only_from(const TemplateMiner& miner, int index,
                                               uint64_t shape) const {
  if (index < 0 || static_cast<size_t>(index) >= templates.size()) return nullptr;
  const TemplateShape& t = templates[static_cast<size_t>(index)];
  bool mine = t.identity == miner.identity(index) && !t.mixed && t.shape == shape;
  return mine ? &t : nullptr;
}

void SlotAnswers::add(size_t fill_bytes, int64_t completion_tokens, double answer_input_ratio) {
  double fill = static_cast<double>(fill_bytes) / 4;
  double answer = static_cast<double>(std::max<int64_t>(0, completion_tokens));
  lengths.add(fill, answer);
  ++answers;
  if (answer >= answer_input_ratio * fill) ++product;
}

void SlotAnswers::save(StateWriter& w) const {
  lengths.save(w);
  w.u64(answers);
  w.u64(product);
}

void SlotAnswers::load(StateReader& r) {
  lengths.load(r);
  answers = r.u64();
  product = std::min(r.u64(), answers);
}

namespace {

void save_counts(StateWriter& w, const ShapePrompts::Counts& c) {
  w.u64(c.prompts);
  w.u64(c.answers);
  w.u64(c.product);
  w.f64(c.log_completion);
  c.slot.save(w);
}

void load_counts(StateReader& r, ShapePrompts::Counts& c) {
  c.prompts = r.u64();
  c.answers = std::min(r.u64(), c.prompts);
  c.product = std::min(r.u64(), c.answers);
  c.log_completion = r.f64();
  if (!std::isfinite(c.log_completion) || c.log_completion < 0) c.log_completion = 0;
  c.slot = SlotAnswers{};
  if (r.version() >= 13) c.slot.load(r);  // (format 12 and older: counted from the next prompt)
}

}  // namespace

void TemplateShapes::save(StateWriter& w) const {
  w.u64(shapes.size());
  for (const ShapePrompts& s : shapes) {
    w.u64(s.shape);
    w.u8(static_cast<uint8_t>((s.with_system ? 1 : 0) | (s.with_end_users ? 2 : 0)));
    save_counts(w, s.window);
    save_counts(w, s.life);
  }
  w.u64(templates.size());
  for (const TemplateShape& t : templates) {
    w.u64(t.identity);
    w.u64(t.shape);
    w.u8(t.mixed ? 1 : 0);
    w.u64(t.base);
    w.u64(t.window_matches);
    w.u64(t.life_matches);
  }
}

void TemplateShapes::load(StateReader& r, size_t max_shapes, size_t max_templates) {
  shapes.assign(r.count(std::max<size_t>(max_shapes, 1)), ShapePrompts{});
  for (ShapePrompts& s : shapes) {
    s.shape = r.u64();
    uint8_t flags = r.u8();
    s.with_system = flags & 1;
    s.with_end_users = flags & 2;
    load_counts(r, s.window);
    load_counts(r, s.life);
  }
  templates.assign(r.count(max_templates), TemplateShape{});
  for (TemplateShape& t : templates) {
    t.identity = r.u64();
    t.shape = r.u64();
    t.mixed = r.u8() != 0;
    t.base = r.u64();
    t.window_matches = r.u64();
    t.life_matches = r.u64();
    t.window_matches = std::min(t.window_matches, t.life_matches);
  }
}

}  // namespace exfilscan::detail
