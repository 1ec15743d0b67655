/*
 * Port I/O for the freestanding guest: 32-bit `in` and `out`. At CPL3 they need IOPL 3
 * (RFLAGS bits 12-13), which vmem-vmm sets; each one exits to the VMM.
 */
#ifndef BALLOON_GUEST_PORT_IO_H
#define BALLOON_GUEST_PORT_IO_H

#include <stdint.h>

static inline void port_out32(uint16_t port, uint32_t value)
{
	__asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port) : "memory");
}

static inline uint32_t port_in32(uint16_t port)
{
	uint32_t value;

	__asm__ volatile("inl %1, %0" : "=a"(value) : "Nd"(port) : "memory");
	return value;
}

#endif
