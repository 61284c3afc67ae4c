#include "http/message.h"

namespace medulla::http {

std::string_view Request::path() const {
  std::string_view t = target;
  size_t q = t.find('?');
  return q == std::string_view::npos ? t : t.substr(0, q);
}

std::string_view Request::query() const {
  std::string_view t = target;
  size_t q = t.find('?');
  return q == std::string_view::npos ? std::string_view() : t.substr(q + 1);
}

std::string_view Request::Header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers)
    if (k == lower_name) return v;
  return {};
}

bool Request::HasHeader(std::string_view lower_name) const {
  for (const auto& [k, v] : headers)
    if (k == lower_name) return true;
  return false;
}

Response Response::Text(int status, std::string body, std::string content_type) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

Responder::~Responder() {
  if (sink_) sink_->Complete(Response::Text(500, "the request was dropped by its handler\n"));
}

void Responder::Send(Response response) {
  if (!sink_) return;
  auto sink = std::move(sink_);
  sink->Complete(std::move(response));
}

}  // namespace medulla::http
