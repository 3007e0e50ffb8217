#pragma once
// Errors that cross the public API. The split decides the command's exit code:
//   ConfigError -> 2 (bad usage or configuration: the user must change what they asked for),
//   Error       -> 1 (runtime failure: the input, the disk or a stage failed while running).
// Messages are written for the user: they name the file, stage, option or frame, and say what to do.

#include <stdexcept>
#include <string>

namespace framepipe {

class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class ConfigError : public Error {
public:
    using Error::Error;
};

}  // namespace framepipe
