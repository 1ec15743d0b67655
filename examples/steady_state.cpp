// Using libvmem from C++17: replay a trace under nested paging, let the first records warm
// the machine up, restart the statistics and print the steady-state figures.
//
//   c++ -std=c++17 steady_state.cpp $(pkg-config --cflags --libs libvmem) -o steady_state
//   ./steady_state TRACE [WARMUP_RECORDS]
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include <vmem/vmem.h>

namespace {

struct mmu_deleter {
	void operator()(vmem_mmu *m) const { vmem_mmu_destroy(m); }
};
struct reader_deleter {
	void operator()(vmem_trace_reader *r) const { vmem_trace_close(r); }
};

}  // namespace

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		std::fprintf(stderr, "usage: steady_state TRACE [WARMUP_RECORDS]\n");
		return 2;
	}
	const unsigned long long warmup = argc == 3 ? std::strtoull(argv[2], nullptr, 10) : 0;

	vmem_mmu_config cfg;
	vmem_mmu_config_default(&cfg);
	cfg.mode = VMEM_MODE_NESTED;
	vmem_mmu *raw = nullptr;
	if (vmem_mmu_create(&cfg, &raw) != 0)
		return 1;
	std::unique_ptr<vmem_mmu, mmu_deleter> mmu(raw);

	vmem_trace_reader_opts opts;
	vmem_trace_reader_opts_default(&opts);
	vmem_trace_reader *rd = nullptr;
	if (vmem_trace_open(argv[1], &opts, &rd) != 0) {
		std::fprintf(stderr, "steady_state: %s\n", rd ? vmem_trace_error(rd) : argv[1]);
		vmem_trace_close(rd);
		return 1;
	}
	std::unique_ptr<vmem_trace_reader, reader_deleter> reader(rd);

	std::vector<vmem_trace_rec> recs(4096);
	unsigned long long done = 0;
	long n;
	while ((n = vmem_trace_read(reader.get(), recs.data(), recs.size())) > 0) {
		for (long i = 0; i < n; i++) {
			if (vmem_mmu_apply(mmu.get(), &recs[i]) != 0) {
				std::fprintf(stderr, "steady_state: %s\n", vmem_mmu_error(mmu.get()));
				return 1;
			}
			if (++done == warmup)
				vmem_mmu_stats_reset(mmu.get());
		}
	}
	if (n < 0) {
		std::fprintf(stderr, "steady_state: %s\n", vmem_trace_error(reader.get()));
		return 1;
	}
	for (const char *name : { "accesses", "tlb.misses", "walk.refs_per_completed",
				  "cycles.per_access" }) {
		double v = 0;
		vmem_mmu_stat_get(mmu.get(), name, &v);
		std::printf("%s %g\n", name, v);
	}
	return 0;
}
