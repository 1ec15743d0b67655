/*
 * The test guest: a freestanding 64-bit program that vmem-vmm runs at CPL3 on every vCPU.
 * Each vCPU asks the VMM for a command (VMM_PORT_COMMAND), carries it out on its own
 * slice of the data region and reports (VMM_PORT_RESULT), until told to stop. The memory
 * pattern is vmm/pattern.h's, so every page's content is known and checked: a page the
 * host lost, mixed up or left stale is counted with the first bad address.
 */
#include <stdint.h>

#include "guest_abi.h"
#include "pattern.h"

#include "balloon_driver.h"
#include "port_io.h"

/* The compiler may call these for struct copies even in a freestanding program. */
void *memset(void *d, int c, unsigned long n);
void *memcpy(void *d, const void *s, unsigned long n);
void guest_main(uint32_t vcpu, struct vmm_vcpu_block *b);

void *memset(void *d, int c, unsigned long n)
{
	unsigned char *p = d;

	while (n--)
		*p++ = (unsigned char)c;
	return d;
}

void *memcpy(void *d, const void *s, unsigned long n)
{
	unsigned char *p = d;
	const unsigned char *q = s;

	while (n--)
		*p++ = *q++;
	return d;
}

static void console(const char *line)
{
	port_out32(VMM_PORT_CONSOLE, (uint32_t)(uintptr_t)line);
}

static uint64_t *page_addr(const struct vmm_vcpu_block *b, uint64_t global_page)
{
	return (uint64_t *)(uintptr_t)(b->data_gva + global_page * VMM_PAGE_BYTES);
}

static void check_page(struct vmm_vcpu_block *b, uint64_t global_page, uint32_t gen)
{
	const volatile uint64_t *p = page_addr(b, global_page);
	uint64_t seed = vmm_page_seed(global_page, gen, b->dup_every);

	for (uint32_t w = 0; w < VMM_PAGE_WORDS; w++) {
		uint64_t want = vmm_pattern_word(seed, w), got = p[w];

		if (got != want) {
			if (b->words_bad++ == 0) {
				b->first_bad_gva = (uint64_t)(uintptr_t)&p[w];
				b->first_bad_seen = got;
				b->first_bad_expected = want;
			}
		}
	}
	b->pages_checked++;
}

static void write_page(struct vmm_vcpu_block *b, uint64_t global_page, uint32_t gen)
{
	volatile uint64_t *p = page_addr(b, global_page);
	uint64_t seed = vmm_page_seed(global_page, gen, b->dup_every);

	for (uint32_t w = 0; w < VMM_PAGE_WORDS; w++)
		p[w] = vmm_pattern_word(seed, w);
	b->pages_written++;
}

static void fill(struct vmm_vcpu_block *b, uint32_t *gen)
{
	for (uint64_t i = 0; i < b->pages; i++) {
		write_page(b, b->first_page + i, 0);
		gen[i] = 0;
	}
}

static void pass(struct vmm_vcpu_block *b, uint32_t *gen, uint32_t p)
{
	uint64_t start = vmm_window_start(p, b->step, b->pages);

	for (uint64_t j = 0; j < b->window; j++) {
		uint64_t i = (start + j) % b->pages, page = b->first_page + i;

		check_page(b, page, gen[i]);
		if (!vmm_page_is_shared(page, b->dup_every)) {
			write_page(b, page, p);
			gen[i] = p;
		}
	}
}

static void verify(struct vmm_vcpu_block *b, const uint32_t *gen)
{
	for (uint64_t i = 0; i < b->pages; i++)
		check_page(b, b->first_page + i, gen[i]);
}

/* The guest's page allocator: a stack of free pfns over the pool pages (vCPU 0). */
struct pool {
	uint32_t *stack;
	uint32_t count;
	uint32_t cap;
};

static int pool_alloc(void *ctx, uint32_t *pfn)
{
	struct pool *p = ctx;

	if (p->count == 0)
		return -1;
	*pfn = p->stack[--p->count];
	return 0;
}

static void pool_free(void *ctx, uint32_t pfn)
{
	struct pool *p = ctx;

	if (p->count < p->cap)
		p->stack[p->count++] = pfn;
}

static uint32_t pool_list_free(void *ctx, uint32_t *out, uint32_t max)
{
	struct pool *p = ctx;
	uint32_t n = p->count < max ? p->count : max;

	for (uint32_t i = 0; i < n; i++)
		out[i] = p->stack[i];
	return n;
}

static uint64_t pool_free_pages(void *ctx)
{
	return ((struct pool *)ctx)->count;
}

static struct pool pool;
static struct balloon_page_allocator pool_allocator;
static struct balloon_driver balloon;

/* The pool's pages start as used memory that was freed: each is written once. */
static void pool_init(struct vmm_vcpu_block *b)
{
	pool.stack = (uint32_t *)(uintptr_t)b->pool_stack_gva;
	pool.cap = (uint32_t)b->pool_pages;
	pool.count = 0;
	for (uint64_t i = b->pool_pages; i-- > 0;) {
		uint64_t page = b->pool_first_page + i;
		volatile uint64_t *p = page_addr(b, page);

		for (uint32_t w = 0; w < VMM_PAGE_WORDS; w += 8)
			p[w] = page;
		pool.stack[pool.count++] = (uint32_t)((b->data_gva >> 12) + page);
	}
	pool_allocator = (struct balloon_page_allocator){
		.ctx = &pool, .alloc = pool_alloc, .free = pool_free,
		.list_free = pool_list_free, .free_pages = pool_free_pages,
		.total_pages = b->pool_pages,
	};
	balloon_driver_init(&balloon, (void *)(uintptr_t)VMM_BALLOON_REQ_GPA,
			    (uint32_t)VMM_BALLOON_REQ_BYTES,
			    (uint32_t *)(uintptr_t)b->balloon_pfns_gva, (uint32_t)b->pool_pages,
			    &pool_allocator);
}

static int balloon_command(struct vmm_vcpu_block *b)
{
	uint64_t stats[VMEM_BCH_S_NR] = { 0 };
	int st;

	st = balloon_driver_adjust(&balloon);
	if (st == 0)
		st = balloon_driver_report_free(&balloon);
	if (st == 0) {
		uint64_t total = (b->pages + b->pool_pages) * VMM_PAGE_BYTES;
		uint64_t free = pool.count * (uint64_t)VMM_PAGE_BYTES;

		/* The guest never swaps nor takes a fault of its own: those tags are 0. */
		stats[VMEM_BCH_S_MEMTOT] = total;
		stats[VMEM_BCH_S_MEMFREE] = free;
		stats[VMEM_BCH_S_AVAIL] = free;
		stats[VMEM_BCH_S_CACHES] = 0;
		st = balloon_driver_send_stats(&balloon, stats);
	}
	b->balloon_pages = balloon.held_count;
	b->free_pages = pool.count;
	if (st != 0) {
		b->balloon_status = st;
		b->error = VMM_GERR_BALLOON;
	}
	return st;
}

void guest_main(uint32_t vcpu, struct vmm_vcpu_block *b)
{
	uint32_t *gen = (uint32_t *)(uintptr_t)b->gen_table_gva;

	if (b->pages == 0 || b->window > b->pages) {
		b->error = VMM_GERR_BAD_BLOCK;
		port_out32(VMM_PORT_RESULT, VMM_EV_ERROR);
		return;
	}
	if (vcpu == 0 && b->pool_pages)
		pool_init(b);
	console("test guest running at CPL3");
	for (;;) {
		uint32_t cmd = port_in32(VMM_PORT_COMMAND);
		uint32_t ev = VMM_EV_DONE;

		b->pages_checked = b->pages_written = b->words_bad = 0;
		b->first_bad_gva = b->first_bad_seen = b->first_bad_expected = 0;
		b->error = VMM_GERR_NONE;
		switch (cmd) {
		case VMM_CMD_FILL:
			fill(b, gen);
			break;
		case VMM_CMD_PASS:
			pass(b, gen, b->cmd_arg);
			break;
		case VMM_CMD_VERIFY:
			verify(b, gen);
			break;
		case VMM_CMD_PING:
			for (uint32_t i = 0; i < b->cmd_arg; i++)
				port_out32(VMM_PORT_PING, i);
			break;
		case VMM_CMD_BALLOON:
			if (vcpu != 0 || b->pool_pages == 0 || balloon_command(b) != 0)
				ev = VMM_EV_ERROR;
			if (ev == VMM_EV_ERROR && b->error == VMM_GERR_NONE)
				b->error = VMM_GERR_BAD_COMMAND;
			break;
		case VMM_CMD_STOP:
			return;
		default:
			b->error = VMM_GERR_BAD_COMMAND;
			ev = VMM_EV_ERROR;
			break;
		}
		port_out32(VMM_PORT_RESULT, ev);
	}
}
