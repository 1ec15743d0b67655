/*
 * A vCPU's thread: KVM_RUN in a loop, each exit served here (Documentation/virt/kvm/api.rst,
 * 4.10 "KVM_RUN" and "struct kvm_run"). The guest only exits through port I/O; the data of
 * an `out` and the value an `in` returns are in the kvm_run page at io.data_offset.
 *
 * The vCPU's commands follow a script (enum vmm_step): fill its slice, check it, check it
 * again after the host evicted all of it (--swap), measure exit round trips (vCPU 0),
 * inflate the balloon (vCPU 0, --balloon), run the passes while the evictor works, deflate,
 * check everything, stop.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include "vmm.h"

uint64_t vmm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void vmm_print_figure(FILE *f, const char *key, uint64_t v)
{
	fprintf(f, "%s %" PRIu64 "\n", key, v);
}

void *vmm_guest_range(struct vmm *m, uint64_t gpa, uint64_t len)
{
	unsigned n = vmem_guest_ram_regions(m->ram);

	for (unsigned i = 0; i < n; i++) {
		struct vmem_ram_region r;

		if (vmem_guest_ram_region(m->ram, i, &r) < 0)
			continue;
		if (gpa >= r.gpa && gpa - r.gpa <= r.size && len <= r.size - (gpa - r.gpa))
			return (uint8_t *)r.hva + (gpa - r.gpa);
	}
	return NULL;
}

static int vcpu_fail(struct vmm_vcpu_ctx *c, const char *what)
{
	snprintf(c->error, sizeof(c->error), "vCPU %u: %s", c->vcpu.index, what);
	c->failed = true;
	return -1;
}

/* A console line: printed whole, prefixed with the vCPU. */
static int console_line(struct vmm_vcpu_ctx *c, uint32_t gpa)
{
	char line[VMM_CONSOLE_MAX + 1];
	size_t n = 0;

	for (; n < VMM_CONSOLE_MAX; n++) {
		const char *p = vmm_guest_range(c->m, gpa + n, 1);

		if (!p)
			return vcpu_fail(c, "console line outside guest RAM");
		if (*p == 0)
			break;
		line[n] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
	}
	line[n] = 0;
	if (!c->m->o.quiet) {
		pthread_mutex_lock(&c->m->console_lock);
		printf("guest[%u]: %s%s\n", c->vcpu.index, line,
		       n == VMM_CONSOLE_MAX ? " [cut at 256 bytes]" : "");
		fflush(stdout);
		pthread_mutex_unlock(&c->m->console_lock);
	}
	return 0;
}

/* Whether step applies to this vCPU and these options. */
static bool step_applies(const struct vmm_vcpu_ctx *c, enum vmm_step s)
{
	const struct vmm_options *o = &c->m->o;

	/* A restored guest checks its slice (the restore's "ready") and stops. */
	if (o->restore && s != STEP_VERIFY_RESIDENT && s < STEP_STOP)
		return false;
	switch (s) {
	case STEP_EVICT_ALL:
	case STEP_VERIFY_EVICTED:
		return o->swap;
	case STEP_PING:
		return c->vcpu.index == 0 && o->pings > 0;
	case STEP_BALLOON_INFLATE:
	case STEP_BALLOON_DEFLATE:
		return c->vcpu.index == 0 && o->balloon_pages > 0;
	case STEP_PASSES:
		return o->passes > 0;
	default:
		return true;
	}
}

/* The evictor starts once every vCPU has reached its passes (or ended). */
static void reached_passes(struct vmm_vcpu_ctx *c)
{
	if (!c->counted_in_passes) {
		c->counted_in_passes = true;
		atomic_fetch_add(&c->m->vcpus_in_passes, 1);
	}
}

static void advance(struct vmm_vcpu_ctx *c)
{
	do
		c->step++;
	while (c->step < STEP_DONE && !step_applies(c, c->step));
	if (c->step >= STEP_PASSES)
		reached_passes(c);
	if (c->step > STEP_PASSES)
		__atomic_store_n(&c->past_passes, true, __ATOMIC_RELEASE);
}

/* --pass-interval: the guest's passes start at most that often, so it dirties its window's
 * new pages (--step of them) at a known rate. */
static void pass_pace(struct vmm_vcpu_ctx *c)
{
	uint64_t gap = (uint64_t)c->m->o.pass_interval_us * 1000, now = vmm_now_ns();

	if (gap && c->last_pass_ns && now < c->last_pass_ns + gap) {
		uint64_t ns = c->last_pass_ns + gap - now;
		struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };

		nanosleep(&ts, NULL);
	}
	c->last_pass_ns = vmm_now_ns();
}

/* The command for the current step; host-side steps are done here first. */
static uint32_t next_command(struct vmm_vcpu_ctx *c)
{
	struct vmm *m = c->m;
	struct vmm_vcpu_block *b = c->block;

	for (;;) {
		switch (c->step) {
		case STEP_FILL:
			return VMM_CMD_FILL;
		case STEP_VERIFY_RESIDENT:
		case STEP_VERIFY_EVICTED:
		case STEP_VERIFY_FINAL:
			return VMM_CMD_VERIFY;
		case STEP_EVICT_ALL:
			c->evicted_before_verify = vmm_evict_slice(m, c);
			advance(c);
			continue;
		case STEP_PING:
			b->cmd_arg = m->o.pings;
			return VMM_CMD_PING;
		case STEP_BALLOON_INFLATE:
			vmm_balloon_set_target(m, (uint32_t)(m->o.balloon_pages / 2));
			m->balloon.rss_before_inflate = vmm_data_resident_pages(m);
			return VMM_CMD_BALLOON;
		case STEP_BALLOON_DEFLATE:
			vmm_balloon_set_target(m, 0);
			return VMM_CMD_BALLOON;
		case STEP_PASSES:
			pass_pace(c);
			b->cmd_arg = c->pass + 1;
			__atomic_store_n(&c->passes_started, c->pass + 1, __ATOMIC_RELEASE);
			return VMM_CMD_PASS;
		case STEP_STOP:
		case STEP_DONE:
			return VMM_CMD_STOP;
		}
	}
}

static void add_result(struct vmm_cmd_result *r, const struct vmm_vcpu_block *b, uint64_t ns)
{
	r->ns += ns;
	r->pages_checked += b->pages_checked;
	r->pages_written += b->pages_written;
	r->words_bad += b->words_bad;
}

/* Faults the pager has served so far (0 without one). */
static uint64_t pager_faults(struct vmm *m)
{
	struct vmem_pager_stats ps;

	if (!m->pager)
		return 0;
	vmem_pager_stats(m->pager, &ps);
	return ps.faults;
}

/* The guest finished the current command. */
static int command_done(struct vmm_vcpu_ctx *c)
{
	struct vmm *m = c->m;
	const struct vmm_vcpu_block *b = c->block;
	uint64_t ns = vmm_now_ns() - c->cmd_start_ns;

	if (b->words_bad) {
		if (c->words_bad == 0) {
			c->first_bad_gva = b->first_bad_gva;
			c->first_bad_seen = b->first_bad_seen;
			c->first_bad_expected = b->first_bad_expected;
		}
		c->words_bad += b->words_bad;
	}
	if (m->o.dirty_log) {
		uint64_t got = vmm_dirty_log_fetch(m);
		uint64_t want = vmm_dirty_expected(c, c->step, c->pass + 1, !c->dirty_fetched);

		uint64_t refaults = pager_faults(m) - c->pager_faults_at_start;

		if (got == UINT64_MAX)
			return vcpu_fail(c, "KVM_GET_DIRTY_LOG failed");
		c->dirty_fetched = true;
		c->dirty_logged += got;
		c->dirty_expected += want;
		c->dirty_refaults += refaults;
		/* A page the pager brought back is logged dirty even when the guest only read
		 * it: KVM's shadow MMU makes a writable shadow entry on a read fault through a
		 * guest PTE that is writable and dirty, and logs the page (docs/KVM.md). */
		c->dirty_mismatches += got < want || got > want + refaults;
	}
	switch (c->step) {
	case STEP_FILL:
		add_result(&c->fill, b, ns);
		if (m->o.corrupt_page >= 0) {
			uint64_t page = (uint64_t)m->o.corrupt_page;

			if (page >= b->first_page && page < b->first_page + b->pages) {
				/* Deliberately damage one word: the guest's check must see it. */
				volatile uint64_t *w = (uint64_t *)(m->data_hva + page * 4096) + 7;

				*w ^= 0x100;
			}
		}
		break;
	case STEP_VERIFY_RESIDENT:
		add_result(&c->verify_resident, b, ns);
		vmm_snapshot_guest_ready(m);
		break;
	case STEP_VERIFY_EVICTED:
		add_result(&c->verify_evicted, b, ns);
		break;
	case STEP_VERIFY_FINAL:
		add_result(&c->verify_final, b, ns);
		break;
	case STEP_PING:
		c->pings = m->o.pings;
		c->ping_ns = ns;
		break;
	case STEP_BALLOON_INFLATE:
		m->balloon.rss_inflated = vmm_data_resident_pages(m);
		break;
	case STEP_BALLOON_DEFLATE:
		m->balloon.rss_deflated = vmm_data_resident_pages(m);
		break;
	case STEP_PASSES:
		add_result(&c->passes, b, ns);
		__atomic_store_n(&c->passes_done, c->pass + 1, __ATOMIC_RELEASE);
		if (++c->pass < m->o.passes)
			return 0;
		break;
	default:
		return vcpu_fail(c, "guest reported a result without a command");
	}
	advance(c);
	return 0;
}

static int handle_io(struct vmm_vcpu_ctx *c)
{
	struct kvm_run *run = c->vcpu.run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool write = run->io.direction == KVM_EXIT_IO_OUT;
	uint16_t port = run->io.port;
	uint32_t value = 0;
	char msg[128];

	if (c->io_exits++ == 0)
		vmm_snapshot_first_exit(c->m);
	if (run->io.size != 4 || run->io.count != 1 ||
	    run->io.data_offset + 4 > c->vcpu.run_bytes) {
		snprintf(msg, sizeof(msg), "port 0x%x: %u-byte access x%u, expected one 32-bit one",
			 port, run->io.size, run->io.count);
		return vcpu_fail(c, msg);
	}
	if (write)
		memcpy(&value, data, 4);
	switch (port) {
	case VMM_PORT_PING:
		if (!write)
			break;
		return 0;
	case VMM_PORT_CONSOLE:
		if (!write)
			break;
		return console_line(c, value);
	case VMM_PORT_COMMAND:
		if (write)
			break;
		if (c->cmd)
			return vcpu_fail(c, "guest asked for a command before reporting the last one");
		if (c->m->o.precopy)
			vmm_precopy_checkpoint(c->m);
		value = next_command(c);
		c->cmd = value;
		c->pager_faults_at_start = pager_faults(c->m);
		c->cmd_start_ns = vmm_now_ns();
		memcpy(data, &value, 4);
		return 0;
	case VMM_PORT_RESULT:
		if (!write)
			break;
		if (value == VMM_EV_STOPPED) {
			c->stopped = true;
			if (c->cmd != VMM_CMD_STOP)
				return vcpu_fail(c, "guest stopped before it was told to");
			return 0;
		}
		if (value == VMM_EV_ERROR) {
			snprintf(msg, sizeof(msg), "guest failed command %u: error %u "
				 "(balloon status %d)", c->cmd, c->block->error,
				 c->block->balloon_status);
			return vcpu_fail(c, msg);
		}
		if (value != VMM_EV_DONE || !c->cmd)
			return vcpu_fail(c, "guest reported an unknown event");
		c->cmd = 0;
		return command_done(c);
	default:
		if (vmm_balloon_port(c->m, c, port, write, &value) == 0) {
			if (!write)
				memcpy(data, &value, 4);
			return 0;
		}
		if (c->failed)
			return -1;
		snprintf(msg, sizeof(msg), "%s of port 0x%x, which no device serves",
			 write ? "write" : "read", port);
		return vcpu_fail(c, msg);
	}
	snprintf(msg, sizeof(msg), "%s of port 0x%x, which is %s-only", write ? "write" : "read",
		 port, write ? "read" : "write");
	return vcpu_fail(c, msg);
}

void *vmm_vcpu_thread(void *arg)
{
	struct vmm_vcpu_ctx *c = arg;
	char msg[160];

	if (c->m->o.pin) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpus > 0 ? (int)(c->vcpu.index % (unsigned long)cpus) : 0, &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	while (!c->stopped && !c->failed) {
		if (ioctl(c->vcpu.fd, KVM_RUN, 0) < 0) {
			if ((errno == EINTR || errno == EAGAIN) && !atomic_load(&c->m->timed_out))
				continue;
			if (atomic_load(&c->m->timed_out)) {
				snprintf(msg, sizeof(msg), "the guest did not finish within %u s "
					 "(--timeout)", c->m->o.timeout_s);
				vcpu_fail(c, msg);
				break;
			}
			snprintf(msg, sizeof(msg), "KVM_RUN: %s", strerror(errno));
			vcpu_fail(c, msg);
			break;
		}
		if (c->vcpu.run->exit_reason == KVM_EXIT_IO) {
			if (handle_io(c) < 0)
				break;
			continue;
		}
		{
			struct kvm_regs regs;

			memset(&regs, 0, sizeof(regs));
			ioctl(c->vcpu.fd, KVM_GET_REGS, &regs);
			snprintf(msg, sizeof(msg), "exit %s at rip 0x%llx (rsp 0x%llx)",
				 vmm_exit_name(c->vcpu.run->exit_reason), regs.rip, regs.rsp);
			vcpu_fail(c, msg);
		}
	}
	reached_passes(c);
	__atomic_store_n(&c->past_passes, true, __ATOMIC_RELEASE);
	atomic_fetch_add(&c->m->vcpus_done, 1);
	if (c->m->o.precopy)
		vmm_precopy_vcpu_done(c->m);
	return NULL;
}
