/*
 * libFuzzer harnesses of libvmem (tests/fuzz/fuzz_*.c). Each defines the libFuzzer entry
 * point; `make fuzz` links it with libFuzzer (clang -fsanitize=fuzzer), `make check`
 * with replay.c, which feeds it every saved input of tests/fuzz/corpus/NAME/.
 */
#ifndef VMEM_TESTS_FUZZ_H
#define VMEM_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * A path that reads as the given bytes: an anonymous in-memory file (memfd), named
 * through /proc/self/fd so that path-based APIs can open it. Close fd when done.
 */
int fuzz_memfile(const uint8_t *data, size_t size, char *path, size_t len);

#endif
