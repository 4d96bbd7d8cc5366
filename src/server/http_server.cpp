#include "server/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <thread>

#include "models/lora.h"
#include "runtime/model_files.h"
#include "server/api.h"
#include "server/ollama_api.h"
#include "server/openai_api.h"
#include "server/web_page.h"
#include "util/error.h"

namespace exaone::server {

namespace {

std::atomic<int> g_signal{0};
void on_signal(int sig) { g_signal.store(sig); }

constexpr auto kPoll = std::chrono::milliseconds(200);

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void send_error(httplib::Response& res, const ApiError& e) {
  if (e.status == 429) res.set_header("Retry-After", "1");
  send_json(res, e.status, error_body(e.status, e.what(), e.param, e.type));
}

// Keys compared in constant time (no early exit on the first differing byte).
bool same_key(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i % (b.empty() ? 1 : b.size())]);
  return diff == 0 && !b.empty();
}

// Endpoint label for metrics: known routes by name, anything else as "other" (bounded cardinality).
std::string endpoint_label(const std::string& path) {
  static const char* known[] = {"/",           "/health",        "/metrics",      "/v1/models",     "/v1/chat/completions",
                                "/v1/completions", "/tokenize",  "/detokenize",   "/apply-template", "/api/chat",
                                "/api/generate", "/api/tags",    "/api/show",     "/api/version",   "/api/ps"};
  for (const char* k : known)
    if (path == k) return k;
  return "other";
}

class Server {
 public:
  Server(const ServerOptions& o, Model& model, const Tokenizer& tok, ServedModel served)
      : o_(o), m_(std::move(served)),
        engine_(model, tok,
                EngineOptions{o.parallel, o.context, o.kv_type, o.max_queue, o.prefill_chunk}, &metrics_) {
    m_.model = &model;
    m_.tokenizer = &tok;
    m_.config = model.config();
    m_.parameters = model.parameter_count();
    m_.weight_types = model.weight_dtype_summary();
    m_.context = engine_.context();
  }

  int run();

 private:
  // Runs `fn` turning ApiError into its status and anything else into a 500.
  template <typename Fn>
  void guarded(httplib::Response& res, Fn&& fn) {
    try {
      fn();
    } catch (const ApiError& e) {
      send_error(res, e);
    } catch (const Error& e) {
      send_error(res, ApiError(400, e.what()));
    } catch (const std::exception& e) {
      send_error(res, ApiError(500, std::string("internal error: ") + e.what()));
    }
  }
  void with_deadline(Job& job) {
    job.gen.arrival = Clock::now();
    job.gen.deadline = job.gen.arrival + std::chrono::milliseconds(static_cast<int64_t>(o_.request_timeout_s * 1000));
  }
  void routes(httplib::Server& svr);
  void chat_completions(const httplib::Request& req, httplib::Response& res, bool chat);
  void ollama_generate(const httplib::Request& req, httplib::Response& res, bool chat);
  std::map<std::string, double> gauges() const;

  ServerOptions o_;
  ServedModel m_;
  Metrics metrics_;
  Engine engine_;
};

std::map<std::string, double> Server::gauges() const {
  const Engine::Stats s = engine_.stats();
  return {{"exaone_queue_length", static_cast<double>(s.queued)},
          {"exaone_running_sequences", static_cast<double>(s.running)},
          {"exaone_parallel_slots", static_cast<double>(s.parallel)},
          {"exaone_kv_cache_bytes", static_cast<double>(s.kv_bytes)},
          {"exaone_context_length", static_cast<double>(engine_.context())}};
}

void Server::chat_completions(const httplib::Request& req, httplib::Response& res, bool chat) {
  guarded(res, [&] {
    const json body = parse_body(req.body);
    auto r = std::make_shared<openai::Request>(chat ? openai::parse_chat(m_, body)
                                                    : openai::parse_completion(m_, body));
    with_deadline(r->job);
    if (!r->stream) {
      const Completed c = run_to_end(engine_, r->job);
      send_json(res, 200, chat ? openai::chat_response(m_, *r, c) : openai::completion_response(m_, *r, c));
      return;
    }
    auto stream = std::make_shared<JobStream>(submit_job(engine_, r->job), r->job, /*stream_tool_arguments=*/true);
    auto chat_writer = std::make_shared<openai::ChatStreamWriter>(m_, *r);
    auto text_writer = std::make_shared<openai::CompletionStreamWriter>(m_, *r);
    auto started = std::make_shared<bool>(false);
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
        "text/event-stream",
        [r, stream, chat_writer, text_writer, started, chat](size_t, httplib::DataSink& sink) {
          std::string data;
          if (!*started) {
            *started = true;
            if (chat) data = chat_writer->start();
          }
          Update u;
          if (stream->next(u, kPoll)) data += chat ? chat_writer->update(u) : text_writer->update(u);
          if (!data.empty() && !sink.write(data.data(), data.size())) {
            stream->cancel();  // the client went away: free its slot now
            return false;
          }
          if (stream->finished()) sink.done();
          return true;
        },
        [stream](bool) {
          if (!stream->finished()) stream->cancel();
        });
  });
}

void Server::ollama_generate(const httplib::Request& req, httplib::Response& res, bool chat) {
  guarded(res, [&] {
    const json body = parse_body(req.body);
    bool load_only = false;
    auto r = std::make_shared<ollama::Request>(chat ? ollama::parse_chat(m_, body)
                                                    : ollama::parse_generate(m_, body, load_only));
    auto writer = std::make_shared<ollama::Writer>(m_, *r);
    if (load_only) {
      res.set_content(writer->load_line(), "application/json");
      return;
    }
    with_deadline(r->job);
    if (!r->stream) {
      const Completed c = run_to_end(engine_, r->job);
      send_json(res, 200, writer->final_object(c));
      return;
    }
    auto stream = std::make_shared<JobStream>(submit_job(engine_, r->job), r->job);
    res.set_chunked_content_provider(
        "application/x-ndjson",
        [r, stream, writer](size_t, httplib::DataSink& sink) {
          Update u;
          if (stream->next(u, kPoll)) {
            const std::string data = writer->update(u);
            if (!data.empty() && !sink.write(data.data(), data.size())) {
              stream->cancel();
              return false;
            }
          }
          if (stream->finished()) sink.done();
          return true;
        },
        [stream](bool) {
          if (!stream->finished()) stream->cancel();
        });
  });
}

void Server::routes(httplib::Server& svr) {
  svr.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(kWebPage, "text/html; charset=utf-8");
  });
  svr.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    const Engine::Stats s = engine_.stats();
    send_json(res, 200, {{"status", "ok"}, {"model", m_.name}, {"running", s.running}, {"queued", s.queued}});
  });
  svr.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.render(gauges()), "text/plain; version=0.0.4");
  });
  svr.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, openai::models_list(m_));
  });
  svr.Get(R"(/v1/models/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
    if (req.matches[1] != m_.name) return send_error(res, ApiError(404, "no model named '" + std::string(req.matches[1]) + "'", "model"));
    send_json(res, 200, openai::models_list(m_)["data"][0]);
  });
  svr.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    chat_completions(req, res, true);
  });
  svr.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    chat_completions(req, res, false);
  });
  svr.Post("/tokenize", [this](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      const json body = parse_body(req.body);
      const std::string text = field_string(body, "content").value_or("");
      const bool bos = field_bool(body, "add_special").value_or(false);
      std::vector<int> ids = m_.tokenizer->encode(text, bos && m_.tokenizer->bos_id().has_value());
      json tokens = json::array();
      if (field_bool(body, "with_pieces").value_or(false)) {
        for (int id : ids) tokens.push_back({{"id", id}, {"piece", m_.tokenizer->decode(std::vector<int>{id})}});
      } else {
        tokens = ids;
      }
      send_json(res, 200, {{"tokens", tokens}});
    });
  });
  svr.Post("/detokenize", [this](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      const json body = parse_body(req.body);
      std::vector<int> ids;
      if (auto it = body.find("tokens"); it != body.end() && !it->is_null()) {
        if (!it->is_array()) bad_request("tokens", "expected a list of token ids");
        for (size_t i = 0; i < it->size(); ++i) {
          const json& v = (*it)[i];
          if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= m_.tokenizer->vocab_size())
            bad_request("tokens[" + std::to_string(i) + "]", "expected a token id below " +
                                                               std::to_string(m_.tokenizer->vocab_size()));
          ids.push_back(v.get<int>());
        }
      }
      send_json(res, 200, {{"content", m_.tokenizer->decode(ids)}});
    });
  });
  svr.Post("/apply-template", [this](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      json body = parse_body(req.body);
      if (!body.contains("messages")) bad_request("messages", "is required");
      json render = {{"messages", body["messages"]}, {"add_generation_prompt", body.value("add_generation_prompt", true)}};
      if (body.contains("tools") && !body["tools"].is_null()) render["tools"] = validate_tools(body["tools"], "tools");
      if (body.contains("chat_template_kwargs")) {
        if (!body["chat_template_kwargs"].is_object()) bad_request("chat_template_kwargs", "expected an object");
        render["chat_template_kwargs"] = body["chat_template_kwargs"];
      }
      try {
        send_json(res, 200, {{"prompt", chat::render(m_.format, render)}});
      } catch (const Error& e) {
        std::string msg = e.what();
        if (msg.rfind("request: ", 0) == 0) msg.erase(0, 9);
        throw ApiError(400, msg, "messages");
      }
    });
  });
  svr.Post("/api/chat", [this](const httplib::Request& req, httplib::Response& res) { ollama_generate(req, res, true); });
  svr.Post("/api/generate", [this](const httplib::Request& req, httplib::Response& res) {
    ollama_generate(req, res, false);
  });
  svr.Get("/api/tags", [this](const httplib::Request&, httplib::Response& res) { send_json(res, 200, ollama::tags(m_)); });
  svr.Get("/api/ps", [this](const httplib::Request&, httplib::Response& res) {
    json t = ollama::tags(m_);
    send_json(res, 200, t);
  });
  svr.Post("/api/show", [this](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      parse_body(req.body);
      send_json(res, 200, ollama::show(m_));
    });
  });
  svr.Get("/api/version", [](const httplib::Request&, httplib::Response& res) { send_json(res, 200, ollama::version()); });
}

int Server::run() {
  httplib::Server svr;
  const size_t threads = o_.http_threads > 0 ? static_cast<size_t>(o_.http_threads)
                                             : std::max<size_t>(16, static_cast<size_t>(o_.parallel) + o_.max_queue + 8);
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  svr.set_payload_max_length(o_.max_body_bytes);
  svr.set_keep_alive_timeout(2);
  svr.set_read_timeout(30);
  svr.set_write_timeout(30);
  svr.set_tcp_nodelay(true);
  // The library listens with a backlog of 5: a burst of clients connecting at once would see resets.
  // Remember the listening socket so its backlog can be raised once it is bound.
  int listen_fd = -1;
  svr.set_socket_options([&listen_fd](socket_t sock) {
    httplib::default_socket_options(sock);
    listen_fd = sock;
  });
  const std::string key = o_.api_key;
  svr.set_pre_routing_handler([key](const httplib::Request& req, httplib::Response& res) {
    res.set_header("Access-Control-Allow-Origin", "*");
    if (req.method == "OPTIONS") {
      res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
      res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
      res.status = 204;
      return httplib::Server::HandlerResponse::Handled;
    }
    if (key.empty() || req.path == "/health" || req.path == "/") return httplib::Server::HandlerResponse::Unhandled;
    std::string given = req.get_header_value("Authorization");
    if (given.rfind("Bearer ", 0) == 0) given.erase(0, 7);
    else given = req.get_header_value("X-Api-Key");
    if (!same_key(given, key)) {
      res.status = 401;
      res.set_content(error_body(401, given.empty() ? "missing API key: send 'Authorization: Bearer <key>'"
                                                    : "invalid API key").dump(),
                      "application/json");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  routes(svr);
  const size_t max_body = o_.max_body_bytes;
  svr.set_error_handler([max_body](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string msg;
    switch (res.status) {
      case 404: msg = "no such endpoint: " + req.method + " " + req.path; break;
      case 405: msg = "method not allowed: " + req.method + " " + req.path; break;
      case 413: msg = "the request body is larger than the limit of " + std::to_string(max_body) + " bytes"; break;
      case 414: msg = "the request URI is too long"; break;
      default: msg = "request failed with status " + std::to_string(res.status);
    }
    res.set_content(error_body(res.status, msg).dump(), "application/json");
  });
  svr.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string msg = "internal error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      msg += std::string(": ") + e.what();
    } catch (...) {
    }
    res.status = 500;
    res.set_content(error_body(500, msg).dump(), "application/json");
  });
  svr.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    metrics_.count_request(endpoint_label(req.path), res.status);
  });

  int port = o_.port;
  if (port == 0) {
    port = svr.bind_to_any_port(o_.host);
    if (port < 0) fail("cannot bind " + o_.host + " (any port)");
  } else if (!svr.bind_to_port(o_.host, port)) {
    fail("cannot bind " + o_.host + ":" + std::to_string(port) + " (in use, or not an address of this machine)");
  }
  if (listen_fd >= 0) ::listen(listen_fd, 1024);
  // Signals only set a flag; this thread stops the engine (in-flight streams end with an error
  // event) and then the listener.
  std::signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!done.load() && g_signal.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (g_signal.load() != 0) std::fprintf(stderr, "exaone serve: shutting down\n");
    engine_.shutdown();
    svr.stop();
  });
  std::fprintf(stderr, "exaone serve: %s (%s) on %d slot%s, context %lld\n", m_.name.c_str(), chat::format_name(m_.format),
               o_.parallel, o_.parallel == 1 ? "" : "s", static_cast<long long>(engine_.context()));
  const std::string shown_host = o_.host.find(':') != std::string::npos ? "[" + o_.host + "]" : o_.host;
  std::fprintf(stderr, "exaone serve: listening on http://%s:%d\n", shown_host.c_str(), port);
  std::fflush(stderr);
  const bool ok = svr.listen_after_bind();
  done.store(true);
  watcher.join();
  return ok || g_signal.load() != 0 ? 0 : 1;
}

}  // namespace

int serve(const ServerOptions& o) {
  std::unique_ptr<Model> model = load_model(o.model_path, parse_lora_specs(o.lora));
  for (const std::string& line : describe_loras(*model)) std::fprintf(stderr, "exaone serve: %s\n", line.c_str());
  Tokenizer tok = load_tokenizer(o.model_path);
  ServedModel m;
  m.format = load_chat_format(o.model_path);
  m.chat_template = load_chat_template_text(o.model_path);
  m.path = o.model_path;
  m.name = o.model_name;
  if (m.name.empty()) {
    std::filesystem::path p(o.model_path);
    while (p.has_parent_path() && p.filename().empty()) p = p.parent_path();  // trailing slash
    m.name = p.filename().string();
    if (m.name.size() > 5 && m.name.substr(m.name.size() - 5) == ".gguf") m.name.resize(m.name.size() - 5);
  }
  m.max_tokens_limit = o.max_tokens_limit;
  m.created = static_cast<int64_t>(std::time(nullptr));
  Server server(o, *model, tok, std::move(m));
  return server.run();
}

}  // namespace exaone::server
