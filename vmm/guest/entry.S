/*
 * The test guest's entry. vmem-vmm starts every vCPU here in 64-bit mode at CPL3 with
 * rsp at the top of the vCPU's stack, rdi = the vCPU's index and rsi = its parameter
 * block. There is no IDT: the guest ends with an `out`, never `hlt` (a CPL3 `hlt` is a
 * #GP, and any exception here is a triple fault).
 */
	.section .text.entry, "ax"
	.globl _start
	.type _start, @function
_start:
	andq	$-16, %rsp
	call	guest_main
1:	movl	$2, %eax		/* VMM_EV_STOPPED */
	movw	$0x504, %dx		/* VMM_PORT_RESULT */
	outl	%eax, %dx
	jmp	1b
	.size _start, . - _start
	.section .note.GNU-stack, "", @progbits
