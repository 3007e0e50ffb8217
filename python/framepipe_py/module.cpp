// The Python module `framepipe`: run pipeline files, build pipelines with Python stages, and take a pipeline's frames
// in a Python loop. The user's guide is python/README.md; examples/python/ has the classic jobs.
//
// Errors: framepipe.ConfigError (a bad pipeline, option or input: nothing ran; also a ValueError), framepipe.Error
// (a source or stage failed to open), framepipe.RunError (the run failed while running; .report holds what it did).
// All are framepipe.Error, a RuntimeError.

#include "frame_handoff.hpp"
#include "numpy_image.hpp"
#include "python_stage.hpp"
#include "run_in_background.hpp"

#include <framepipe/error.hpp>
#include <framepipe/pipeline.hpp>
#include <framepipe/pipeline_file.hpp>
#include <framepipe/registry.hpp>
#include <framepipe/report_io.hpp>
#include <framepipe/version.hpp>

#include <fmt/format.h>
#include <pybind11/pybind11.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <pybind11/stl.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace py = pybind11;
using namespace framepipe;
using namespace framepipe::python;

namespace {

py::object g_run_error;  // framepipe.RunError, set when the module loads

py::object report_to_dict(const RunReport& report) {
    return py::module_::import("json").attr("loads")(report_to_json(report));
}

// A failed run: RunError with the report attached, saying where it failed (source, stage, frame) and why.
[[noreturn]] void raise_run_error(const RunReport& report) {
    py::object error = g_run_error(report.error->describe());
    error.attr("report") = report_to_dict(report);
    PyErr_SetObject(g_run_error.ptr(), error.ptr());
    throw py::error_already_set();
}

// An option as the registry reads it: the text a pipeline file would hold.
std::string option_text(py::handle value) {
    if (py::isinstance<py::bool_>(value)) return value.cast<bool>() ? "true" : "false";
    if (py::isinstance<py::str>(value)) return value.cast<std::string>();
    if (py::hasattr(value, "total_seconds"))  // datetime.timedelta
        return fmt::format("{}s", value.attr("total_seconds")().cast<double>());
    return py::str(value).cast<std::string>();
}

std::map<std::string, std::string> option_texts(const py::dict& options) {
    std::map<std::string, std::string> texts;
    for (const auto& [key, value] : options) texts[py::str(key).cast<std::string>()] = option_text(value);
    return texts;
}

EdgeOptions edge_options(const py::object& capacity, const py::object& overflow, const py::object& max_age) {
    EdgeOptions edge;
    if (!capacity.is_none()) {
        const auto value = capacity.cast<long long>();
        if (value < 1) throw ConfigError(fmt::format("capacity must be 1 or more, got {}", value));
        edge.capacity = static_cast<std::size_t>(value);
    }
    if (!overflow.is_none()) {
        const std::string text = overflow.cast<std::string>();
        edge.overflow = parse_overflow(text);
        if (!edge.overflow)
            throw ConfigError(
                fmt::format("overflow must be block, drop_oldest, drop_newest or latest, got '{}'", text));
    }
    if (!max_age.is_none()) edge.max_age = parse_duration(option_text(max_age));
    return edge;
}

// A stage from what Python gives: a type name (with options), a function, an object with process(), or a class
// with process() (made here with the options, one object per input).
std::unique_ptr<Stage> make_python_or_native_stage(py::handle what, std::string name, bool parallel,
                                                   const py::dict& options) {
    if (py::isinstance<py::str>(what)) return make_stage(what.cast<std::string>(), option_texts(options), std::move(name));
    py::object target = py::reinterpret_borrow<py::object>(what);
    if (py::isinstance<py::type>(what)) {
        target = target(**options);
    } else if (!options.empty()) {
        throw py::type_error("options are for stage types and classes; a function or an object takes none");
    }
    if (name.empty()) {
        const py::object named = py::isinstance<py::type>(what) || py::hasattr(what, "__name__")
                                     ? py::reinterpret_borrow<py::object>(what)
                                     : py::type::of(what);
        name = py::hasattr(named, "__name__") ? named.attr("__name__").cast<std::string>() : "python";
        if (name == "<lambda>") name = "lambda";
    }
    return std::make_unique<PythonStage>(std::move(name), std::move(target), parallel);
}

class PyPipeline;

// One source's chain, as Python sees it (owned by its PyPipeline).
class PyChain {
public:
    PyChain(PyPipeline& owner, Chain& chain) : owner_(owner), chain_(chain) {}
    PyChain& add(py::handle stage, const std::string& name, const py::object& capacity, const py::object& overflow,
                 const py::object& max_age, const std::string& after, bool parallel, const py::dict& options);
    Chain& chain() { return chain_; }

private:
    PyPipeline& owner_;
    Chain& chain_;
};

class FrameIterator;

class PyPipeline {
public:
    explicit PyPipeline(PipelineOptions options) : pipeline_(std::make_unique<Pipeline>(std::move(options))) {}
    explicit PyPipeline(std::unique_ptr<Pipeline> built) : pipeline_(std::move(built)) {}

    PyChain& add_source(const std::string& input, const std::string& name, const py::dict& options) {
        check_unused();
        InputEntry entry{.path = input, .name = name};
        chains_.push_back(std::make_unique<PyChain>(
            *this, pipeline_->add_source(make_source(entry, option_texts(options)))));
        return *chains_.back();
    }

    std::string describe(const std::string& format) {
        check_unused();
        if (format != "text" && format != "dot") throw ConfigError("describe: format is 'text' or 'dot'");
        const py::gil_scoped_release release;
        return pipeline_->describe(format == "dot" ? DescribeFormat::dot : DescribeFormat::text);
    }

    /// Runs to the end (Ctrl-C: KeyboardInterrupt once the run has drained). A failed run is returned, not raised.
    RunReport run_to_end() {
        check_unused();
        used_ = true;
        BackgroundRun run(*pipeline_);
        run.wait_until_ended();
        RunReport report = run.result();
        if (run.interrupts() > 0) {
            PyErr_SetNone(PyExc_KeyboardInterrupt);
            throw py::error_already_set();
        }
        return report;
    }

    py::object run() {
        const RunReport report = run_to_end();
        if (!report.ok()) raise_run_error(report);
        return report_to_dict(report);
    }

    std::unique_ptr<FrameIterator> frames(const py::object& capacity, const py::object& overflow,
                                          const py::object& max_age);

    void check_unused() const {
        if (used_) throw ConfigError("this pipeline has run; a pipeline runs once (make another)");
    }
    void mark_used() { used_ = true; }
    Pipeline& pipeline() { return *pipeline_; }
    std::vector<std::unique_ptr<PyChain>>& chains() { return chains_; }

private:
    std::unique_ptr<Pipeline> pipeline_;
    std::vector<std::unique_ptr<PyChain>> chains_;
    bool used_ = false;
};

PyChain& PyChain::add(py::handle stage, const std::string& name, const py::object& capacity,
                      const py::object& overflow, const py::object& max_age, const std::string& after, bool parallel,
                      const py::dict& options) {
    owner_.check_unused();
    chain_.add(make_python_or_native_stage(stage, name, parallel, options), edge_options(capacity, overflow, max_age),
               after);
    return *this;
}

// A frame as the loop gets it; its picture is a numpy array of the frame's own copy.
class PyFrame {
public:
    explicit PyFrame(DeliveredFrame frame) : frame_(std::move(frame)) {}
    py::object image() {
        if (!image_) image_ = to_numpy(frame_.image);
        return image_;
    }
    const DeliveredFrame& frame() const { return frame_; }

private:
    DeliveredFrame frame_;
    py::object image_;
};

// `for frame in pipeline.frames():` — runs the pipeline in the background, its chains ending in the loop.
class FrameIterator {
public:
    FrameIterator(PyPipeline& owner, std::shared_ptr<FrameHandoff> handoff)
        : handoff_(std::move(handoff)), run_(std::make_unique<BackgroundRun>(owner.pipeline())) {}
    /// The iterator owns the pipeline it runs (framepipe.frames()).
    void own(std::unique_ptr<PyPipeline> pipeline) { owned_ = std::move(pipeline); }
    ~FrameIterator() {
        try {
            close();
        } catch (...) {  // what the run threw was for the loop, which is gone; nothing may leave a destructor
        }
    }

    PyFrame next() {
        if (!run_) throw py::stop_iteration();
        DeliveredFrame frame;
        for (;;) {
            FrameHandoff::Taken taken = FrameHandoff::Taken::timeout;
            {
                const py::gil_scoped_release release;
                taken = handoff_->take(frame, std::chrono::milliseconds(100));
            }
            if (taken == FrameHandoff::Taken::frame) return PyFrame(std::move(frame));
            if (taken == FrameHandoff::Taken::finished) break;
            if (run_->wait(std::chrono::milliseconds(0))) handoff_->finish();  // ended: take what is left
            if (run_->interrupts() > 0) {  // Ctrl-C in the loop: the run drains (outputs finalised), then raise
                handoff_->close();
                run_->wait_until_ended();
                end();
                PyErr_SetNone(PyExc_KeyboardInterrupt);
                throw py::error_already_set();
            }
        }
        end();
        if (report_ && !report_->ok()) raise_run_error(*report_);
        throw py::stop_iteration();
    }

    /// Stops the run early: the sinks refuse what comes next (counted as ended), the sources stop, the run drains.
    void close() {
        if (!run_) return;
        handoff_->close();
        run_->request_stop();
        try {
            run_->wait_until_ended();
        } catch (const py::error_already_set&) {  // a signal while closing: the run is aborted by the destructor
        }
        end();
    }

    py::object report() const {
        if (!report_) return py::none();
        return report_to_dict(*report_);
    }

private:
    void end() {
        if (!run_) return;
        try {
            report_ = run_->result();
        } catch (...) {
            run_.reset();
            throw;
        }
        run_.reset();
    }

    std::unique_ptr<PyPipeline> owned_;  // destroyed after the run below
    std::shared_ptr<FrameHandoff> handoff_;
    std::unique_ptr<BackgroundRun> run_;
    std::optional<RunReport> report_;
};

std::unique_ptr<FrameIterator> PyPipeline::frames(const py::object& capacity, const py::object& overflow,
                                                  const py::object& max_age) {
    check_unused();
    if (chains_.empty()) throw ConfigError("frames(): the pipeline has no source; add_source() first");
    auto handoff = std::make_shared<FrameHandoff>();
    const EdgeOptions edge = edge_options(capacity, overflow, max_age);
    for (const auto& chain : chains_) chain->chain().add(std::make_unique<HandoffSink>("python_loop", handoff), edge);
    used_ = true;
    return std::make_unique<FrameIterator>(*this, handoff);
}

// framepipe.stage("name", parallel=False, options={...}): declares a Python function or class as a stage type that
// pipeline files (run from this process) and Chain.add name like any other. A class is made once per input, with the
// options as keyword arguments; a function takes none.
py::object declare_python_stage(const std::string& type, bool parallel, const py::dict& defaults,
                                const std::string& summary) {
    if (find_stage_spec(type) != nullptr)
        throw ConfigError(fmt::format("a stage type '{}' exists already; give yours another name", type));
    std::vector<OptionSpec> options;
    for (const auto& [key, value] : defaults) {
        OptionSpec spec{.name = py::str(key).cast<std::string>(), .default_value = option_text(value)};
        spec.kind = py::isinstance<py::bool_>(value)    ? OptionKind::boolean
                    : py::isinstance<py::int_>(value)   ? OptionKind::integer
                    : py::isinstance<py::float_>(value) ? OptionKind::number
                                                        : OptionKind::text;
        spec.help = "option of a Python stage";
        options.push_back(std::move(spec));
    }
    return py::cpp_function([=](py::object target) {
        // Kept for the life of the process (the registry outlives the interpreter's objects: never released).
        auto* kept = new py::object(target);
        const bool is_class = py::isinstance<py::type>(target);
        if (!is_class && !options.empty())
            throw ConfigError(fmt::format("stage type '{}': options are for a class (made with them per input)", type));
        StageSpec spec{
            .type = type,
            .summary = summary.empty() ? "a stage written in Python" : summary,
            .example = fmt::format("- {{ type: {} }}", type),
            .traits = {.parallel = parallel, .needs_ordered_input = !parallel},
            .options = options,
            .make = [kept, is_class, parallel](const std::string& name, const OptionValues& values) {
                const py::gil_scoped_acquire gil;
                py::object made = *kept;
                if (is_class) {
                    py::dict kwargs;
                    for (const auto& [key, value] : values.all())
                        std::visit([&](const auto& typed) {
                            using T = std::decay_t<decltype(typed)>;
                            if constexpr (std::is_same_v<T, Duration>)
                                kwargs[py::str(key)] = std::chrono::duration<double>(typed).count();
                            else
                                kwargs[py::str(key)] = typed;
                        }, value.value);
                    made = (*kept)(**kwargs);
                }
                return std::unique_ptr<Stage>(std::make_unique<PythonStage>(name, made, parallel));
            },
        };
        declare_stage(std::move(spec));
        return target;
    });
}

}  // namespace

PYBIND11_MODULE(framepipe, m) {
    m.doc() = "framepipe: a real-time frame processing pipeline (C++, oneTBB), driven from Python";
    // framepipe's messages go to standard error, as the command's do: standard output is the Python program's.
    if (auto current = spdlog::default_logger(); current && current->name().empty())
        spdlog::set_default_logger(spdlog::stderr_color_mt("framepipe"));
    m.attr("__version__") = FRAMEPIPE_VERSION;

    static py::exception<Error> error(m, "Error", PyExc_RuntimeError);
    // A ConfigError is both a framepipe.Error and a ValueError (a bad argument, in Python's terms).
    py::object config_error = py::module_::import("builtins").attr("type")(
        "ConfigError", py::make_tuple(error, py::handle(PyExc_ValueError)),
        py::dict(py::arg("__doc__") = "A bad pipeline, option or input: nothing ran.", py::arg("__module__") = "framepipe"));
    m.attr("ConfigError") = config_error;
    g_run_error = py::module_::import("builtins").attr("type")(
        "RunError", py::make_tuple(error),
        py::dict(py::arg("__doc__") = "The run failed while running; .report holds what it did.",
                 py::arg("__module__") = "framepipe", py::arg("report") = py::none()));
    m.attr("RunError") = g_run_error;
    py::register_exception_translator([](std::exception_ptr failure) {
        try {
            if (failure) std::rethrow_exception(failure);
        } catch (const ConfigError& e) {
            const py::object type = py::module_::import("framepipe").attr("ConfigError");
            PyErr_SetString(type.ptr(), e.what());
        } catch (const Error& e) {
            PyErr_SetString(error.ptr(), e.what());
        }
    });

    py::class_<PyFrame>(m, "Frame", "A frame the pipeline delivered to the loop.")
        .def_property_readonly("image", &PyFrame::image, "The picture: a uint8 numpy array (rows, cols, 3) BGR, or "
                                                         "(rows, cols) gray; the loop's own copy")
        .def_property_readonly("source", [](const PyFrame& f) { return f.frame().source; }, "The source's name")
        .def_property_readonly("input", [](const PyFrame& f) { return f.frame().input; },
                               "The source's index, in the order sources were added")
        .def_property_readonly("index", [](const PyFrame& f) { return f.frame().index; },
                               "The frame's number in its source, from 0, in capture order (a gap: frames dropped)")
        .def_property_readonly("time", [](const PyFrame& f) { return f.frame().time; }, "Media time, seconds")
        .def_property_readonly("label", [](const PyFrame& f) { return f.frame().label; },
                               "An image's file name (image folders), else empty")
        .def("__repr__", [](const PyFrame& f) {
            return fmt::format("<framepipe.Frame {} #{} at {:.3f}s {}x{}>", f.frame().source, f.frame().index,
                               f.frame().time, f.frame().image.cols, f.frame().image.rows);
        });

    py::class_<FrameIterator>(m, "FrameIterator", "Frames as the pipeline delivers them; the loop is the sink.")
        .def("__iter__", [](FrameIterator& it) -> FrameIterator& { return it; })
        .def("__next__", &FrameIterator::next)
        .def("close", &FrameIterator::close, "Stop early: the sources stop, frames in flight are drained")
        .def("__enter__", [](FrameIterator& it) -> FrameIterator& { return it; })
        .def("__exit__", [](FrameIterator& it, py::args) { it.close(); })
        .def_property_readonly("report", &FrameIterator::report, "The run's report (a dict) once the loop ended");

    py::class_<PyChain>(m, "Chain", "The stages one source's frames go through.")
        .def("add", &PyChain::add, py::arg("stage"), py::kw_only(), py::arg("name") = "",
             py::arg("capacity") = py::none(), py::arg("overflow") = py::none(), py::arg("max_age") = py::none(),
             py::arg("after") = "", py::arg("parallel") = false, py::arg("options") = py::dict(),
             py::return_value_policy::reference_internal,
             "Append a stage: a type name (\"blur\"), a function of the picture, an object with process(picture) or "
             "a class with it. capacity/overflow/max_age: the edge in front of it. after: the stage (or \"source\") "
             "whose frames it takes, for a branch. parallel: a Python stage may run on several frames at once.");

    py::class_<PyPipeline>(m, "Pipeline", "Sources, each with a chain of stages, run by one scheduler.")
        .def(py::init([](std::size_t threads, bool plan, bool profile, double profile_spacing, std::size_t capacity,
                         const std::string& frames_path, const std::string& trace_path) {
                 if (capacity == 0) throw ConfigError("capacity must be 1 or more");
                 if (!(profile_spacing >= 0))
                     throw ConfigError("profile_spacing must be 0 (time every frame) or more seconds");
                 PipelineOptions options;
                 options.worker_threads = threads;
                 options.plan = plan;
                 options.profile = profile;
                 options.profile_spacing = duration_from_seconds(profile_spacing);
                 options.default_capacity = capacity;
                 options.frames_path = frames_path;
                 options.trace_path = trace_path;
                 return std::make_unique<PyPipeline>(std::move(options));
             }),
             py::kw_only(), py::arg("threads") = 0, py::arg("plan") = true, py::arg("profile") = true,
             py::arg("profile_spacing") = 2e-6, py::arg("capacity") = 2, py::arg("frames_path") = "",
             py::arg("trace_path") = "",
             "profile_spacing: seconds; a frame captured closer than this to the last timed one is counted, not "
             "timed (0: time every frame; PipelineOptions::profile_spacing)")
        .def(
            "add_source",
            [](PyPipeline& p, const std::string& input, const std::string& name,
               const py::kwargs& options) -> PyChain& { return p.add_source(input, name, options); },
            py::arg("input"), py::kw_only(), py::arg("name") = "", py::return_value_policy::reference_internal,
            "Add an input (a video file, URL, image folder or 'synthetic'); keyword arguments are source options "
            "(realtime=True, frames=100, ...). Returns its chain.")
        .def("describe", &PyPipeline::describe, py::arg("format") = "text",
             "What run() would build: stages, edges, the planner's choices")
        .def("run", &PyPipeline::run, "Run to the end; returns the report as a dict. Raises RunError on failure.")
        .def("frames", &PyPipeline::frames, py::kw_only(), py::arg("capacity") = py::none(),
             py::arg("overflow") = py::none(), py::arg("max_age") = py::none(), py::keep_alive<0, 1>(),
             "Run in the background, every chain ending in the loop (a stage named python_loop). capacity, overflow "
             "and max_age: the edge in front of the loop, where a slow loop's frames wait (or are dropped)");

    m.def(
        "run",
        [](const std::string& pipeline_file, const std::vector<std::string>& inputs,
           const std::vector<std::string>& settings, bool plan, std::size_t threads, const std::string& report_path) {
            const PipelineFile file = load_pipeline_file(pipeline_file, settings);
            PipelineOptions options;
            options.plan = plan;
            if (threads > 0) options.worker_threads = threads;
            PyPipeline pipeline(build_pipeline(file, inputs, options));
            const RunReport report = pipeline.run_to_end();
            if (!report_path.empty()) write_report_json(report, report_path);
            if (!report.ok()) raise_run_error(report);
            return report_to_dict(report);
        },
        py::arg("pipeline"), py::arg("inputs") = std::vector<std::string>{}, py::kw_only(),
        py::arg("set") = std::vector<std::string>{}, py::arg("plan") = true, py::arg("threads") = 0,
        py::arg("report") = "",
        "Run a pipeline file (as `framepipe run`) on inputs (given inputs replace the file's); set: KEY=VALUE "
        "settings as --set takes them. Returns the report as a dict.");

    m.def(
        "frames",
        [](const py::object& inputs, const py::list& stages, const py::object& capacity, const py::object& overflow,
           std::size_t threads, bool plan, const py::kwargs& source_options) {
            PipelineOptions options;
            options.worker_threads = threads;
            options.plan = plan;
            auto pipeline = std::make_unique<PyPipeline>(std::move(options));
            std::vector<std::string> paths;
            if (py::isinstance<py::str>(inputs)) paths.push_back(inputs.cast<std::string>());
            else for (const py::handle input : inputs) paths.push_back(py::str(input).cast<std::string>());
            if (paths.empty()) throw ConfigError("frames(): give at least one input");
            for (const std::string& path : paths) {
                PyChain& chain = pipeline->add_source(path, "", source_options);
                for (const py::handle stage : stages) {
                    // "blur", ("resize", {"width": 320}), {"type": "resize", "width": 320}, a function, an object
                    if (py::isinstance<py::tuple>(stage)) {
                        const auto pair = stage.cast<py::tuple>();
                        if (pair.size() != 2) throw ConfigError("frames(): a stage as a tuple is (TYPE, {OPTIONS})");
                        chain.add(pair[0], "", py::none(), py::none(), py::none(), "", false, pair[1].cast<py::dict>());
                    } else if (py::isinstance<py::dict>(stage)) {
                        py::dict opts = py::reinterpret_borrow<py::dict>(stage).attr("copy")();
                        if (!opts.contains("type")) throw ConfigError("frames(): a stage as a dict needs 'type'");
                        const py::object type = opts.attr("pop")("type");
                        const std::string name = opts.contains("name") ? opts.attr("pop")("name").cast<std::string>() : "";
                        chain.add(type, name, py::none(), py::none(), py::none(), "", false, opts);
                    } else {
                        chain.add(stage, "", py::none(), py::none(), py::none(), "", false, py::dict());
                    }
                }
            }
            std::unique_ptr<FrameIterator> frames = pipeline->frames(capacity, overflow, py::none());
            frames->own(std::move(pipeline));
            return frames;
        },
        py::arg("inputs"), py::kw_only(), py::arg("stages") = py::list(), py::arg("capacity") = py::none(),
        py::arg("overflow") = py::none(), py::arg("threads") = 0, py::arg("plan") = true,
        "The frames of one input or several, through `stages`, as they come: the loop is the sink. A slow loop makes "
        "a file wait and a live input drop (counted). Keyword arguments are source options.");

    m.def("stage", &declare_python_stage, py::arg("type"), py::kw_only(), py::arg("parallel") = false,
          py::arg("options") = py::dict(), py::arg("summary") = "",
          "Decorator: declare a Python function or class as a stage type, usable by name in Chain.add and in "
          "pipeline files run from this process");
    m.def("stage_types", [] {
        std::vector<std::string> types;
        for (const StageSpec& spec : stage_catalog()) types.push_back(spec.type);
        return types;
    }, "Every stage type's name");
}
