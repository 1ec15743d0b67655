/* Helpers shared by the harnesses (tests/fuzz/fuzz_*.c): see fuzz.h. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"

int fuzz_memfile(const uint8_t *data, size_t size, char *path, size_t len)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC);

	if (fd < 0) {
		perror("memfd_create");
		abort();
	}
	while (size > 0) {
		ssize_t k = write(fd, data, size);

		if (k <= 0) {
			perror("write");
			abort();
		}
		data += k;
		size -= (size_t)k;
	}
	snprintf(path, len, "/proc/self/fd/%d", fd);
	return fd;
}
