#pragma once
// The parts of a join (Pipeline::add_join): a hub the inputs hand their pictures to, a stage at the end of a branch of
// each input chain that hands them over, and the source of the joined chain that matches them (JoinPolicy) into frames
// carrying one picture per input (JoinedPictures).

#include <framepipe/pipeline.hpp>
#include <framepipe/source.hpp>
#include <framepipe/stage.hpp>

#include <cstddef>
#include <memory>
#include <string>

namespace framepipe::detail {

class JoinHub;

std::shared_ptr<JoinHub> make_join_hub(const JoinOptions& options, std::size_t inputs);
/// The stage ending input `index`'s branch: read-only; with JoinPolicy::timestamp it waits (on a thread of its own)
/// while the join has 4 of that input's pictures it has not matched yet, and gives up when the join has ended or the
/// run is aborted (the picture then counts as unwritten).
std::unique_ptr<Stage> make_join_input(std::shared_ptr<JoinHub> hub, std::size_t index, std::string name);
/// The joined chain's source. Ends once every input has ended and its last picture was joined, or on stop (latest).
std::unique_ptr<Source> make_join_source(std::shared_ptr<JoinHub> hub);

}  // namespace framepipe::detail
