/*
 * Memory barriers. x86-64 is TSO: loads are not reordered with loads nor
 * stores with stores, so the SMP/virtio barriers only stop the compiler.
 * mb() orders stores before later loads, which TSO does not (needed when a
 * driver writes the ring then reads the device's event index).
 */
#ifndef ARCH_X86_64_BARRIER_H
#define ARCH_X86_64_BARRIER_H

#define barrier() __asm__ volatile("" ::: "memory")
#define mb()	  __asm__ volatile("mfence" ::: "memory")
#define rmb()	  __asm__ volatile("lfence" ::: "memory")
#define wmb()	  __asm__ volatile("sfence" ::: "memory")

#ifdef VIRT_MB_HOOK
/*
 * Host tests only (tests/host/vq_sim.c): the simulated device may act at
 * each full barrier of the ring code, between the driver's stores before
 * it and its loads after it, as a device running beside the CPU would.
 */
void virt_mb_hook(void);
#define virt_mb()                                                                          \
	do {                                                                               \
		virt_mb_hook();                                                            \
		__asm__ volatile("lock; addl $0,-4(%%rsp)" ::: "memory", "cc");            \
	} while (0)
#else
#define virt_mb()  __asm__ volatile("lock; addl $0,-4(%%rsp)" ::: "memory", "cc")
#endif
#define virt_rmb() barrier()
#define virt_wmb() barrier()

#endif
