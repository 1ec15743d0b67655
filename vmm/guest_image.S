/*
 * The test guest (vmm/guest/), built freestanding and flattened to a binary by the
 * Makefile, embedded in vmem-vmm. GUEST_BIN is its path.
 */
	.section .rodata
	.globl vmm_guest_image
	.globl vmm_guest_image_end
	.balign 4096
vmm_guest_image:
	.incbin GUEST_BIN
vmm_guest_image_end:
	.section .note.GNU-stack, "", @progbits
