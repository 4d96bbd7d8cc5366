// exaone_comply._core: pybind11 bindings of src/comply. Python-facing names and docstrings are
// in exaone_comply/__init__.py; this file only converts types and releases the GIL around the
// C++ work (batch functions run on their own threads).
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "comply/dedup.h"
#include "comply/detect.h"
#include "comply/normalize.h"
#include "comply/pipeline.h"
#include "comply/sha256.h"
#include "comply/transform.h"
#include "util/error.h"

namespace py = pybind11;
using namespace exaone::comply;
using exaone::json;

namespace {

// Code-point offset of byte offset `b` in valid UTF-8 `s`, walking on from (pb, pc).
size_t char_offset(std::string_view s, size_t b, size_t& pb, size_t& pc) {
  if (b < pb) pb = pc = 0;
  for (; pb < b && pb < s.size(); ++pb)
    if ((static_cast<unsigned char>(s[pb]) & 0xC0) != 0x80) ++pc;
  return pc;
}

struct PyFinding {
  std::string type, rule;
  size_t start, end, char_start, char_end;
  double confidence;
};

std::vector<PyFinding> to_py_findings(std::string_view text, const std::vector<Finding>& fs) {
  std::vector<PyFinding> out;
  out.reserve(fs.size());
  size_t pb = 0, pc = 0;
  for (const Finding& f : fs) {
    PyFinding p{std::string(f.type), std::string(f.rule), f.start, f.end, 0, 0, f.confidence};
    p.char_start = char_offset(text, f.start, pb, pc);
    p.char_end = char_offset(text, f.end, pb, pc);
    out.push_back(std::move(p));
  }
  return out;
}

std::string_view utf8_of(const py::handle& s) {
  Py_ssize_t n = 0;
  const char* p = PyUnicode_AsUTF8AndSize(s.ptr(), &n);
  if (!p) throw py::error_already_set();
  return {p, static_cast<size_t>(n)};
}

ScanOptions options_from(const py::dict& d) {
  ScanOptions o;
  auto get = [&](const char* k) -> py::object { return d.contains(k) ? py::object(d[k]) : py::none(); };
  if (auto v = get("input"); !v.is_none()) o.input = v.cast<std::string>();
  if (auto v = get("out"); !v.is_none()) o.out_dir = v.cast<std::string>();
  if (auto v = get("policy"); !v.is_none()) o.policy_path = v.cast<std::string>();
  if (auto v = get("cards"); !v.is_none()) o.card_paths = v.cast<std::vector<std::string>>();
  if (auto v = get("action"); !v.is_none()) o.action = parse_action(v.cast<std::string>());
  if (auto v = get("key"); !v.is_none()) o.key = v.cast<std::string>();
  if (auto v = get("force"); !v.is_none()) o.force = v.cast<bool>();
  if (auto v = get("resume"); !v.is_none()) o.resume = v.cast<bool>();
  if (auto v = get("exact_dedup"); !v.is_none()) o.dedup.exact = v.cast<bool>();
  if (auto v = get("near_dedup"); !v.is_none()) o.dedup.near = v.cast<bool>();
  if (auto v = get("near_threshold"); !v.is_none()) o.dedup.threshold = v.cast<double>();
  if (auto v = get("drop_near_duplicates"); !v.is_none()) o.drop_near_duplicates = v.cast<bool>();
  if (auto v = get("drop_threshold"); !v.is_none()) o.drop_threshold = v.cast<int>();
  if (auto v = get("shard_mb"); !v.is_none()) o.shard_bytes = static_cast<size_t>(v.cast<double>() * (1 << 20));
  if (auto v = get("threads"); !v.is_none()) o.threads = v.cast<int>();
  return o;
}

py::dict summary_dict(const ScanSummary& s) {
  py::dict d;
  d["documents"] = s.documents;
  d["kept"] = s.kept;
  d["quarantined"] = s.quarantined;
  d["excluded"] = s.excluded;
  d["dropped"] = s.dropped;
  d["duplicates"] = s.duplicates;
  d["errors"] = s.errors;
  d["bytes"] = s.bytes;
  d["seconds"] = s.seconds;
  d["complete"] = s.complete;
  return d;
}

py::object json_to_py(const json& j) {
  return py::module_::import("json").attr("loads")(j.dump(-1, ' ', false, json::error_handler_t::replace));
}

// Runs fn(i) for i in [0, n) on `threads` threads (0: all cores), the GIL released.
template <class Fn>
void parallel_for(size_t n, int threads, Fn&& fn) {
  size_t t = threads > 0 ? size_t(threads) : std::max(1u, std::thread::hardware_concurrency());
  t = std::min(t, n);
  std::atomic<size_t> next{0};
  std::vector<std::exception_ptr> errors(t);
  auto body = [&](size_t w) {
    try {
      for (size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n;) fn(i);
    } catch (...) {
      errors[w] = std::current_exception();
      next.store(n);
    }
  };
  py::gil_scoped_release release;
  std::vector<std::thread> pool;
  for (size_t w = 1; w < t; ++w) pool.emplace_back(body, w);
  if (t) body(0);
  for (auto& th : pool) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

// Texts of a batch: either a list of str, or Arrow-style (data bytes, offsets int32/int64).
struct TextViews {
  std::vector<std::string_view> v;
  py::object keep;  // what owns the bytes
};

TextViews views_of(py::object texts, py::object offsets) {
  TextViews tv;
  if (offsets.is_none()) {
    py::sequence seq = texts.cast<py::sequence>();
    tv.v.reserve(seq.size());
    for (py::handle h : seq) {
      if (!PyUnicode_Check(h.ptr())) throw py::type_error("texts: every item must be str");
      tv.v.push_back(utf8_of(h));
    }
    tv.keep = seq;
    return tv;
  }
  py::buffer_info data = py::buffer(texts).request();
  py::buffer_info off = py::buffer(offsets).request();
  const char* base = static_cast<const char*>(data.ptr);
  size_t size = static_cast<size_t>(data.size * data.itemsize);
  if (off.ndim != 1 || off.shape[0] < 1) throw py::value_error("offsets: need n+1 entries");
  size_t n = static_cast<size_t>(off.shape[0] - 1);
  tv.v.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t a, b;
    if (off.itemsize == 8) {
      a = static_cast<const int64_t*>(off.ptr)[i];
      b = static_cast<const int64_t*>(off.ptr)[i + 1];
    } else if (off.itemsize == 4) {
      a = static_cast<const int32_t*>(off.ptr)[i];
      b = static_cast<const int32_t*>(off.ptr)[i + 1];
    } else {
      throw py::value_error("offsets: must be int32 or int64");
    }
    if (a < 0 || b < a || size_t(b) > size) throw py::value_error("offsets: entry " + std::to_string(i) + " out of range");
    tv.v.emplace_back(base + a, size_t(b - a));
  }
  tv.keep = py::make_tuple(texts, offsets);
  return tv;
}

// A column of strings as Arrow wants them: (offsets int64[n+1], data bytes).
py::tuple string_column(const std::vector<std::string>& items) {
  py::array_t<int64_t> off(items.size() + 1);
  auto o = off.mutable_unchecked<1>();
  size_t total = 0;
  o(0) = 0;
  for (size_t i = 0; i < items.size(); ++i) o(i + 1) = int64_t(total += items[i].size());
  PyObject* b = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(total));
  if (!b) throw py::error_already_set();
  char* p = PyBytes_AS_STRING(b);
  for (const auto& s : items) {
    std::memcpy(p, s.data(), s.size());
    p += s.size();
  }
  return py::make_tuple(off, py::reinterpret_steal<py::bytes>(b));
}

// The per-document work of a scan over a batch of texts, as columns.
py::dict process_batch(py::object texts, py::object offsets, const std::string& action_name_, const std::string& key,
                       double min_confidence, bool want_output, bool want_dedup, int num_perm, int threads) {
  TextViews tv = views_of(texts, offsets);
  const size_t n = tv.v.size();
  Action action = parse_action(action_name_);
  if (action == Action::Pseudonymize && key.empty()) throw exaone::Error("action pseudonymize needs a key");
  DedupConfig dedup;
  dedup.exact = dedup.near = want_dedup;
  dedup.num_perm = num_perm;
  std::vector<std::vector<Finding>> findings(n);
  std::vector<std::string> outputs(want_output ? n : 0), sha_in(n), sha_out(n), errors(n);
  std::vector<ExactKey> keys(want_dedup ? n : 0);
  std::vector<uint32_t> sigs(want_dedup ? n * size_t(num_perm) : 0);
  parallel_for(n, threads, [&](size_t i) {
    std::string_view text = tv.v[i];
    if (size_t bad = find_invalid_utf8(text); bad != std::string::npos) {
      errors[i] = "invalid UTF-8 at byte " + std::to_string(bad);
      sha_in[i] = sha256_hex(text);
      return;
    }
    ProcessedText p = process_text(text, action, key, min_confidence, dedup);
    findings[i] = std::move(p.findings);
    sha_in[i] = std::move(p.sha_in);
    sha_out[i] = std::move(p.sha_out);
    if (want_output) outputs[i] = p.output_is_input ? std::string(text) : std::move(p.output);
    if (want_dedup) {
      keys[i] = p.key;
      std::memcpy(sigs.data() + i * num_perm, p.signature.data(), size_t(num_perm) * 4);
    }
  });
  size_t total = 0;
  for (auto& f : findings) total += f.size();
  py::array_t<int64_t> doc(total), start(total), end(total), cstart(total), cend(total), count(n);
  py::array_t<double> conf(total);
  py::list types, rules;
  {
    auto d = doc.mutable_unchecked<1>(), s = start.mutable_unchecked<1>(), e = end.mutable_unchecked<1>(),
         cs = cstart.mutable_unchecked<1>(), ce = cend.mutable_unchecked<1>(), c = count.mutable_unchecked<1>();
    auto cf = conf.mutable_unchecked<1>();
    std::vector<std::pair<std::string_view, py::str>> names;  // one str object per type and rule
    auto name = [&](std::string_view v) -> py::str {
      for (auto& [k, o] : names)
        if (k.data() == v.data() && k.size() == v.size()) return o;
      names.emplace_back(v, py::str(v.data(), v.size()));
      return names.back().second;
    };
    size_t k = 0;
    for (size_t i = 0; i < n; ++i) {
      c(i) = int64_t(findings[i].size());
      size_t pb = 0, pc = 0;
      for (const Finding& f : findings[i]) {
        d(k) = int64_t(i);
        s(k) = int64_t(f.start);
        e(k) = int64_t(f.end);
        cs(k) = int64_t(char_offset(tv.v[i], f.start, pb, pc));
        ce(k) = int64_t(char_offset(tv.v[i], f.end, pb, pc));
        cf(k) = f.confidence;
        types.append(name(f.type));
        rules.append(name(f.rule));
        ++k;
      }
    }
  }
  py::dict findings_cols;
  findings_cols["doc"] = doc;
  findings_cols["type"] = types;
  findings_cols["start"] = start;
  findings_cols["end"] = end;
  findings_cols["char_start"] = cstart;
  findings_cols["char_end"] = cend;
  findings_cols["confidence"] = conf;
  findings_cols["rule"] = rules;
  py::dict out;
  out["findings"] = findings_cols;
  out["num_findings"] = count;
  out["sha256_input"] = sha_in;
  out["sha256_output"] = sha_out;
  out["error"] = errors;
  if (want_output) out["output"] = string_column(outputs);
  if (want_dedup) {
    py::array_t<uint64_t> kk({n, size_t(2)});
    auto m = kk.mutable_unchecked<2>();
    for (size_t i = 0; i < n; ++i) m(i, 0) = keys[i].a, m(i, 1) = keys[i].b;
    py::array_t<uint32_t> sg({n, size_t(num_perm)});
    if (n) std::memcpy(sg.mutable_data(), sigs.data(), sigs.size() * 4);
    out["exact_key"] = kk;
    out["minhash"] = sg;
  }
  return out;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "C++ core of exaone_comply (src/comply of exaone.cpp)";
  py::register_exception<exaone::Error>(m, "ComplyError", PyExc_ValueError);
  m.attr("RULES_VERSION") = kRulesVersion;
  m.attr("MINHASH_SCHEME") = kMinhashScheme;

  py::class_<PyFinding>(m, "Finding")
      .def_readonly("type", &PyFinding::type)
      .def_readonly("start", &PyFinding::start)
      .def_readonly("end", &PyFinding::end)
      .def_readonly("char_start", &PyFinding::char_start)
      .def_readonly("char_end", &PyFinding::char_end)
      .def_readonly("confidence", &PyFinding::confidence)
      .def_readonly("rule", &PyFinding::rule)
      .def("__eq__", [](const PyFinding& a, const PyFinding& b) {
        return a.type == b.type && a.start == b.start && a.end == b.end && a.rule == b.rule && a.confidence == b.confidence;
      })
      .def("__repr__", [](const PyFinding& f) {
        return "Finding(type='" + f.type + "', start=" + std::to_string(f.start) + ", end=" + std::to_string(f.end) +
               ", confidence=" + py::repr(py::float_(f.confidence)).cast<std::string>() + ", rule='" + f.rule + "')";
      });

  m.def("finding_types", [] { return finding_types(); });

  m.def("detect", [](py::str text, double min_confidence) {
    std::string_view t = utf8_of(text);
    std::vector<Finding> fs;
    {
      py::gil_scoped_release release;
      DetectOptions o;
      o.min_confidence = min_confidence;
      fs = detect(t, o);
    }
    return to_py_findings(t, fs);
  }, py::arg("text"), py::arg("min_confidence") = 0.5);

  m.def("transform", [](py::str text, const std::string& action, const std::string& key, double min_confidence) {
    std::string_view t = utf8_of(text);
    Action a = parse_action(action);
    if (a == Action::Pseudonymize && key.empty()) throw exaone::Error("action pseudonymize needs a key");
    std::string out;
    {
      py::gil_scoped_release release;
      DetectOptions o;
      o.min_confidence = min_confidence;
      out = apply_action(t, detect(t, o), a == Action::Drop ? Action::Mask : a, key);
    }
    return py::str(out);
  }, py::arg("text"), py::arg("action"), py::arg("key"), py::arg("min_confidence"));

  m.def("process_batch", &process_batch, py::arg("texts"), py::arg("offsets"), py::arg("action"), py::arg("key"),
        py::arg("min_confidence"), py::arg("want_output"), py::arg("want_dedup"), py::arg("num_perm"),
        py::arg("threads"));

  m.def("scan", [](const py::dict& opts, py::object results) {
    ScanOptions o = options_from(opts);
    if (!results.is_none()) {
      o.external_results = [results](std::string& out) {
        py::gil_scoped_acquire acquire;
        py::object r = results();
        if (r.is_none()) return false;
        out = r.cast<std::string>();
        return true;
      };
    }
    ScanSummary s;
    {
      py::gil_scoped_release release;
      s = scan(o);
    }
    return summary_dict(s);
  }, py::arg("options"), py::arg("results") = py::none());

  m.def("verify_manifest", [](const std::string& dir) {
    py::gil_scoped_release release;
    return verify_manifest(dir);
  });

  py::class_<ScanPlan>(m, "ScanPlan")
      .def(py::init([](const py::dict& opts) { return std::make_unique<ScanPlan>(options_from(opts)); }))
      .def_property_readonly("files", [](const ScanPlan& p) {
        py::list l;
        for (const auto& f : p.files()) l.append(py::make_tuple(f.path, f.rel, f.jsonl, f.size));
        return l;
      })
      .def("count_range", [](const ScanPlan& p, size_t file, uint64_t begin, uint64_t end) {
        uint64_t lines = 0, docs = 0;
        {
          py::gil_scoped_release release;
          p.count_range(file, begin, end, lines, docs);
        }
        return py::make_tuple(lines, docs);
      })
      .def("process_range", [](const ScanPlan& p, size_t file, uint64_t begin, uint64_t end, uint64_t first_line,
                               uint64_t first_ordinal) {
        std::string out;
        {
          py::gil_scoped_release release;
          p.process_range(file, begin, end, first_line, first_ordinal, out);
        }
        return py::bytes(out);
      })
      .def("scan_document", [](const ScanPlan& p, py::str text, py::dict fields, const std::string& file) {
        json f = json::object();
        for (auto [k, v] : fields) {
          if (v.is_none()) continue;
          std::string key = py::str(k);
          if (py::isinstance<py::int_>(v) && !py::isinstance<py::bool_>(v)) f[key] = v.cast<int64_t>();
          else f[key] = v.cast<std::string>();
        }
        std::string_view t = utf8_of(text);
        json rec;
        {
          py::gil_scoped_release release;
          rec = p.scan_document(t, f, file);
        }
        return json_to_py(rec);
      });
}
