#pragma once
// The version of framepipe these headers belong to. CMakeLists.txt checks that it equals project(VERSION).

#define FRAMEPIPE_VERSION "0.2.0"
