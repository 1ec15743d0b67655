# libvmem: memory virtualization models and trace-replay simulators.
#
#   make            library, programs and tests
#   make demo       replay a bundled real trace in all three modes, draw the plots
#   make check      every unit and end-to-end test (SANITIZE=1: under ASan + UBSan)
#   make fuzz       each libFuzzer harness of tests/fuzz for FUZZ_S seconds (default 60)
#   make coverage   line coverage (llvm-cov) of the trace readers and configuration
#                   parsers by the saved fuzzer inputs of tests/fuzz/corpus
#   make bench      throughput benchmarks, written to bench/results.txt
#   make plots      PNGs from the CSVs the demo and sweeps wrote
#   make stats-doc  docs/STATS.md, the glossary of statistics, from their descriptions
#   make install PREFIX=/usr/local    (make uninstall PREFIX=... removes it again)
#
# New sources need no edit here: libvmem/LAYER/*.c, ksm-dedup/*.c and balloon-driver/*.c go
# into the library, simulators/*.c, examples/vmem-*.c and bench/*.c each become a program, tests/test_*.c
# each become a cmocka test.

PREFIX    ?= /usr/local
CC        ?= cc
SANITIZE  ?= 0
VERSION   := 0.1.0

ifeq ($(SANITIZE),1)
BUILD     ?= build/san
SAN_FLAGS := -fsanitize=address,undefined
OPT       := -O1 $(SAN_FLAGS) -fno-sanitize-recover=all -fno-omit-frame-pointer
else
BUILD     ?= build/rel
OPT       := -O2
endif

CFLAGS    ?= -g
WARN      := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror=implicit-function-declaration
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(OPT) $(CFLAGS) $(WARN) -fPIC -Iinclude -Ilibvmem -MMD -MP
# liburcu (memb flavour) and jemalloc serve the real-RAM manager (libvmem/backend/
# ram_manager.c, metadata_arena.c) only. Debian's libjemalloc also exports malloc: -lc
# before it makes the C library's malloc the one every program binds to (and the one
# found first at run time), so jemalloc serves only the metadata arena's mallocx calls,
# and --as-needed keeps it out of the programs that make none.
LDLIBS    := -lzstd -lz -llzma -lxxhash -llz4 -lnuma -lm -pthread \
	     -Wl,--push-state,--as-needed -lurcu-memb -lc -ljemalloc -Wl,--pop-state
LDFLAGS_SAN = $(SAN_FLAGS)

LIB_SRC   := $(wildcard libvmem/*/*.c ksm-dedup/*.c balloon-driver/*.c)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
PROG_SRC  := $(wildcard simulators/*.c)
PROGS     := $(PROG_SRC:simulators/%.c=$(BUILD)/bin/%)
# Example programs (examples/vmem-*.c) are programs like the simulators: built, installed,
# their --help examples run by tests/e2e/docs.sh. Other files of examples/ are sources for
# readers (tests/e2e/install.sh builds walk_cost.c against the installed library).
EXAMPLE_PROG_SRC := $(wildcard examples/vmem-*.c)
PROGS     += $(EXAMPLE_PROG_SRC:examples/%.c=$(BUILD)/bin/%)
# vmem-vmm (vmm/; its rules are below)
PROGS     += $(BUILD)/bin/vmem-vmm
BENCH_SRC := $(wildcard bench/*.c)
BENCHES   := $(BENCH_SRC:bench/%.c=$(BUILD)/bin/%)
TEST_SRC  := $(wildcard tests/test_*.c)
TESTS     := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_HELPER_SRC := $(filter-out tests/test_%.c,$(wildcard tests/*.c))
TEST_HELPER_OBJ := $(TEST_HELPER_SRC:%.c=$(BUILD)/%.o)
# Fuzz harnesses: tests/fuzz/fuzz_NAME.c, with their saved inputs in tests/fuzz/corpus/NAME.
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
REPLAYS   := $(FUZZ_NAMES:%=$(BUILD)/tests/fuzz/replay_%)
FUZZ_HELPER_OBJ := $(BUILD)/tests/fuzz/replay.o $(BUILD)/tests/fuzz/util.o
# fuzz_cmdline also links tests/fuzz/cmdline_*.c, each a program of simulators/ compiled in.
FUZZ_CMDLINE_SRC := $(wildcard tests/fuzz/cmdline_*.c)

.PHONY: all lib progs tests deps demo check unit e2e replay fuzz coverage bench plots stats-doc install \
	uninstall clean

all: lib progs tests $(BENCHES)

lib: $(BUILD)/libvmem.a $(BUILD)/libvmem.so
progs: $(PROGS)
tests: $(TESTS) $(REPLAYS)

deps:
	@sh scripts/deps.sh

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# The version reaches the code through vmem_version() only; a new VERSION rebuilds it.
$(BUILD)/libvmem/base/common.o: ALL_CFLAGS += -DVMEM_VERSION='"$(VERSION)"'
$(BUILD)/libvmem/base/common.o: Makefile

$(BUILD)/libvmem.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# Only the vmem_ API is exported (libvmem/libvmem.map); the layers' internal functions stay
# inside the library.
$(BUILD)/libvmem.so: $(LIB_OBJ) libvmem/libvmem.map
	$(CC) -shared -Wl,-soname,libvmem.so.0 -Wl,--version-script=libvmem/libvmem.map \
		$(LDFLAGS_SAN) -o $@ $(LIB_OBJ) $(LDLIBS)

$(BUILD)/bin/%: $(BUILD)/simulators/%.o $(BUILD)/libvmem.a
	@mkdir -p $(dir $@)
	$(CC) $(OPT) $(LDFLAGS_SAN) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/%: $(BUILD)/examples/%.o $(BUILD)/libvmem.a
	@mkdir -p $(dir $@)
	$(CC) $(OPT) $(LDFLAGS_SAN) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/%: $(BUILD)/bench/%.o $(BUILD)/libvmem.a
	@mkdir -p $(dir $@)
	$(CC) $(OPT) $(LDFLAGS_SAN) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_HELPER_OBJ) $(BUILD)/libvmem.a
	@mkdir -p $(dir $@)
	$(CC) $(OPT) $(LDFLAGS_SAN) -o $@ $^ -lcmocka $(LDLIBS)

$(BUILD)/tests/fuzz/replay_%: $(BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_HELPER_OBJ) $(BUILD)/libvmem.a
	@mkdir -p $(dir $@)
	$(CC) $(OPT) $(LDFLAGS_SAN) -o $@ $(filter %.o,$^) $(BUILD)/libvmem.a $(LDLIBS)

$(BUILD)/tests/fuzz/replay_cmdline: $(FUZZ_CMDLINE_SRC:%.c=$(BUILD)/%.o)

# vmem-vmm: the VMM of vmm/*.c, with the test guest of vmm/guest/ and balloon-driver/guest/
# built freestanding with flags of its own (never sanitized, whatever SANITIZE says),
# linked at its load address, flattened to a binary and embedded (vmm/guest_image.S).
GUEST_CFLAGS := -std=c11 -O2 -g -ffreestanding -nostdlib -fno-pic -mno-red-zone -static \
	-mgeneral-regs-only -fno-stack-protector -fno-asynchronous-unwind-tables \
	-fno-tree-loop-distribute-patterns $(WARN) -Ivmm -Iinclude -Iballoon-driver/guest -MMD -MP
GUEST_OBJ := $(patsubst %.c,$(BUILD)/testguest/%.o,$(wildcard vmm/guest/*.c balloon-driver/guest/*.c)) \
	$(BUILD)/testguest/vmm/guest/entry.o
VMM_OBJ   := $(patsubst %.c,$(BUILD)/%.o,$(wildcard vmm/*.c)) $(BUILD)/vmm/guest_image.o
$(BUILD)/testguest/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -c $< -o $@
$(BUILD)/testguest/%.o: %.S
	@mkdir -p $(dir $@)
	$(CC) -c $< -o $@
$(BUILD)/testguest/test-guest.bin: $(GUEST_OBJ) vmm/guest/guest.ld
	ld -static -nostdlib --no-warn-rwx-segments -T vmm/guest/guest.ld -o $(@:.bin=.elf) $(GUEST_OBJ)
	objcopy -O binary $(@:.bin=.elf) $@
$(BUILD)/vmm/guest_image.o: vmm/guest_image.S $(BUILD)/testguest/test-guest.bin
	@mkdir -p $(dir $@)
	$(CC) -DGUEST_BIN='"$(BUILD)/testguest/test-guest.bin"' -c $< -o $@
$(BUILD)/bin/vmem-vmm: $(VMM_OBJ) $(BUILD)/libvmem.a
	@mkdir -p $(dir $@)
	$(CC) $(OPT) $(LDFLAGS_SAN) -o $@ $^ $(LDLIBS)
$(BUILD)/tests/test_vmm: $(BUILD)/vmm/page_tables.o $(BUILD)/vmm/kvm_stats.o $(BUILD)/vmm/kvm_vm.o

# make check: unit tests, end-to-end runs of the programs on the bundled traces, and every
# saved fuzzer input replayed through its harness (with this build's compiler and flags).
check: deps
	$(MAKE) all
	$(MAKE) unit e2e replay

# make check-kvm: the tests that use KVM, run against a real KVM inside QEMU (TCG emulating
# AMD SVM), once with nested paging (kvm_amd npt=1) and once with shadow paging (npt=0);
# scripts/qemu/qemu-kvm.sh, docs/KVM-QEMU.md. The kernel is fetched into build/qemu-kvm.
.PHONY: check-kvm
# The tests that open /dev/kvm.
QEMU_KVM_TESTS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(shell grep -l /dev/kvm tests/test_*.c))
check-kvm: deps
	$(MAKE) $(QEMU_KVM_TESTS) $(BUILD)/bin/vmem-vmm
	@sh scripts/qemu/qemu-kvm.sh build/qemu-kvm $(QEMU_KVM_TESTS) \
		'$(BUILD)/bin/vmem-vmm -q --memory 8m --passes 4'

replay: $(REPLAYS)
	@for n in $(FUZZ_NAMES); do $(BUILD)/tests/fuzz/replay_$$n tests/fuzz/corpus/$$n || exit 1; done

# make fuzz FUZZ_S=N: each harness under libFuzzer (clang, ASan + UBSan) for N seconds, one
# after the other, starting from its saved corpus and dictionary. New inputs go to
# build/fuzz/new/NAME, crashes to build/fuzz/artifacts/; an input that found a fault is
# then copied into tests/fuzz/corpus/NAME to stay a regression test of `make check`.
FUZZ_S    ?= 60
FUZZ_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
fuzz: deps
	$(MAKE) BUILD=build/fuzz CC=clang OPT='$(FUZZ_FLAGS) -fsanitize=fuzzer-no-link' \
		build/fuzz/libvmem.a
	@mkdir -p build/fuzz/artifacts
	@for n in $(FUZZ_NAMES); do \
		clang -std=c11 -D_GNU_SOURCE $(FUZZ_FLAGS) -fsanitize=fuzzer $(WARN) -Iinclude -Ilibvmem \
			-o build/fuzz/fuzz_$$n tests/fuzz/fuzz_$$n.c tests/fuzz/util.c \
			$$([ $$n = cmdline ] && echo $(FUZZ_CMDLINE_SRC)) \
			build/fuzz/libvmem.a $(LDLIBS) || exit 1; \
		mkdir -p build/fuzz/new/$$n; \
		dict=; [ -f tests/fuzz/$$n.dict ] && dict=-dict=tests/fuzz/$$n.dict; \
		echo "== fuzz_$$n for $(FUZZ_S) s"; \
		build/fuzz/fuzz_$$n build/fuzz/new/$$n tests/fuzz/corpus/$$n $$dict \
			-max_total_time=$(FUZZ_S) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix=build/fuzz/artifacts/$$n- || exit 1; \
	done

# make coverage: line coverage (llvm-cov) of the saved fuzzer inputs replayed through
# their harnesses, per trace reader and configuration parser (scripts/coverage.sh).
COV_BUILD := build/cov
coverage: deps
	$(MAKE) BUILD=$(COV_BUILD) CC=clang-14 OPT='-O0 -fprofile-instr-generate -fcoverage-mapping' \
		$(FUZZ_NAMES:%=$(COV_BUILD)/tests/fuzz/replay_%)
	@sh scripts/coverage.sh $(COV_BUILD)

unit: $(TESTS)
	@sh tests/run-unit.sh $(TESTS)

e2e: $(PROGS)
	@sh tests/e2e/run.sh $(BUILD)/bin

demo: deps
	$(MAKE) progs
	@sh scripts/demo.sh $(BUILD)/bin

bench: deps
	$(MAKE) SANITIZE=0 $(BENCHES) $(PROGS)
	@sh bench/run.sh $(BUILD)/bin bench/results.txt

plots:
	@sh plots/plot.sh

# docs/STATS.md from the statistics' own descriptions (tests/e2e/stats_doc.sh checks it).
stats-doc: progs
	sh scripts/stats-doc.sh $(BUILD)/bin docs/STATS.md

# Man pages, made from each program's --help (scripts/manpage.sh).
MANPAGES := $(PROGS:$(BUILD)/bin/%=$(BUILD)/man/%.1)
$(BUILD)/man/%.1: $(BUILD)/bin/% scripts/manpage.sh
	@mkdir -p $(dir $@)
	sh scripts/manpage.sh $(BUILD)/bin $* > $@.tmp && mv $@.tmp $@

install: lib progs $(MANPAGES)
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/vmem \
		$(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(BUILD)/libvmem.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libvmem.so $(DESTDIR)$(PREFIX)/lib/libvmem.so.$(VERSION)
	ln -sf libvmem.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libvmem.so.0
	ln -sf libvmem.so.0 $(DESTDIR)$(PREFIX)/lib/libvmem.so
	install -m 644 include/vmem/*.h $(DESTDIR)$(PREFIX)/include/vmem/
	install -m 755 $(PROGS) $(DESTDIR)$(PREFIX)/bin/
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 $(MANPAGES) $(DESTDIR)$(PREFIX)/share/man/man1/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' libvmem.pc.in \
		> $(DESTDIR)$(PREFIX)/lib/pkgconfig/libvmem.pc
	@# Refresh the loader's cache when installing into this system's own library path.
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && ldconfig -v -N 2>/dev/null | \
		grep -q "^$(PREFIX)/lib:"; then ldconfig; fi

INSTALLED_HEADERS := $(notdir $(wildcard include/vmem/*.h))
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/lib/libvmem.a $(DESTDIR)$(PREFIX)/lib/libvmem.so \
		$(DESTDIR)$(PREFIX)/lib/libvmem.so.0 $(DESTDIR)$(PREFIX)/lib/libvmem.so.$(VERSION) \
		$(DESTDIR)$(PREFIX)/lib/pkgconfig/libvmem.pc \
		$(addprefix $(DESTDIR)$(PREFIX)/include/vmem/,$(INSTALLED_HEADERS)) \
		$(addprefix $(DESTDIR)$(PREFIX)/bin/,$(notdir $(PROGS))) \
		$(addprefix $(DESTDIR)$(PREFIX)/share/man/man1/,$(notdir $(MANPAGES)))
	-rmdir $(DESTDIR)$(PREFIX)/include/vmem 2>/dev/null

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
