#pragma once
// Finding a stage in a run's report by name, failing the test case (naming it) when there is none.

#include <framepipe/report.hpp>

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

namespace framepipe::test {

inline const StageReport& stage_named(const SourceReport& source, const std::string& name) {
    for (const StageReport& stage : source.stages)
        if (stage.name == name) return stage;
    FAIL("no stage named " << name);
    throw std::logic_error("unreachable");
}

}  // namespace framepipe::test
