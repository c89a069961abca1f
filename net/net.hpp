// weft::net: TCP, UDP, Unix and TLS streams, name resolution, buffered
// I/O with framing, and signals, on the runtime's per-worker reactors.
// The umbrella header of net/ (everything except the Asio-facing headers,
// which pull in Asio: net/use_task.hpp, the completion token for running
// Asio-based libraries in weft tasks, and net/asio.hpp, socket interop).
#pragma once

#include <net/buffered.hpp>
#include <net/endpoint.hpp>
#include <net/error.hpp>
#include <net/resolve.hpp>
#include <net/signal.hpp>
#include <net/tcp.hpp>
#include <net/tls.hpp>
#include <net/udp.hpp>
#include <net/unix.hpp>
