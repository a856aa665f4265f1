/*
 * Virtio over MMIO (VIRTIO 1.2 section 4.2), one implementation of
 * include/virtio/virtio_transport.h.
 *
 * Version 2 (4.2.2, "modern"): 64-bit features through the select
 * registers, FEATURES_OK re-read, split or packed queues given by three
 * 64-bit addresses and QueueReady, QueueReset (RING_RESET), a
 * ConfigGeneration counter. Version 1 (4.2.4, legacy, QEMU's default):
 * GuestPageSize, QueueAlign and QueuePFN give a split ring in the
 * page-aligned layout; 32 feature bits; no generation, no FEATURES_OK.
 *
 * Transports are found in the ACPI DSDT (devices with _HID "LNRO0005",
 * whose _CRS gives the registers and the interrupt: QEMU microvm) and in
 * `virtio_mmio.device=<size>@<base>:<irq>[:<id>]` command-line words
 * (microvm with acpi=off, Firecracker). A malformed word, or one whose
 * range overlaps another or cannot be mapped, is logged and skipped; a
 * slot without the "virt" magic or with DeviceID 0 is skipped silently.
 *
 * Interrupts: one line per transport through the IOAPIC, with the trigger
 * and polarity the DSDT gives (microvm: level, active high); a command-
 * line IRQ below 16 is an ISA IRQ (edge, high, after overrides). The
 * handler reads InterruptStatus, writes the bits to InterruptACK and tells
 * queue from configuration interrupts, until the status reads 0 (an edge
 * line gives no second edge for a cause that came before the ACK).
 * With no line (no IOAPIC, say with acpi=off) the device is "polling".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arch/x86_64/barrier.h>
#include <arch/x86_64/irq.h>
#include <acpi/acpi.h>
#include <kernel/clock.h>
#include <lib/cmdline.h>
#include <kernel/kernel.h>
#include <kernel/mm.h>
#include <virtio/virtio.h>
#include <virtio/virtio_mmio.h>
#include <virtio/virtio_ring.h>
#include <virtio/virtio_transport.h>

#include "cfg_access.h"

/* Transports kept (QEMU microvm offers 24 with ACPI, 8 without). */
#define VM_MAX_TRANSPORTS 32
/* 4.2.4: the page size the legacy QueuePFN counts in. */
#define VM_LEGACY_PAGE 4096u

struct vm_queue {
	struct virtio_vq_info info; /* first: the core's view */
};

struct vm_dev {
	struct virtio_device vd;
	volatile struct virtio_mmio_regs *regs;
	volatile uint8_t *config; /* regs + 0x100 */
	struct virtio_mmio_res res;
	uint32_t config_len; /* size - 0x100 */
	bool has_irq;
	bool isa_irq;	    /* a command-line IRQ below 16: an ISA IRQ */
	unsigned irq_flags; /* IRQ_* as requested */
	char irq_mode[32];
	struct vm_queue *queues;
	unsigned nr_queues;
};

static struct virtio_mmio_res vm_found[VM_MAX_TRANSPORTS];
static unsigned vm_nr_found;

static struct vm_dev *to_vm(struct virtio_device *vd)
{
	return container_of(vd, struct vm_dev, vd);
}

static uint32_t rd(volatile le32 *reg)
{
	return le32_to_cpu(*reg);
}

static void wr(volatile le32 *reg, uint32_t v)
{
	*reg = cpu_to_le32(v);
}

static uint8_t vm_get_status(struct virtio_device *vd)
{
	return (uint8_t)rd(&to_vm(vd)->regs->status);
}

static void vm_set_status(struct virtio_device *vd, uint8_t status)
{
	wr(&to_vm(vd)->regs->status, status);
}

static uint32_t vm_read_status(void *vm)
{
	return rd(&((struct vm_dev *)vm)->regs->status);
}

static int vm_reset(struct virtio_device *vd)
{
	struct vm_dev *vm = to_vm(vd);

	/* 4.2.3.1: writing 0 resets; the device reads back 0 once it is done. */
	wr(&vm->regs->status, 0);
	return virtio_wait_zero(vm_read_status, vm, clock_ns, VIRTIO_RESET_TIMEOUT_NS);
}

static uint64_t vm_device_features(struct virtio_device *vd)
{
	volatile struct virtio_mmio_regs *r = to_vm(vd)->regs;
	uint64_t f;

	wr(&r->device_features_sel, 0);
	f = rd(&r->device_features);
	if (vd->legacy)
		return f; /* 4.2.4: 32 bits */
	wr(&r->device_features_sel, 1);
	return f | (uint64_t)rd(&r->device_features) << 32;
}

static int vm_finalize_features(struct virtio_device *vd, uint64_t features)
{
	volatile struct virtio_mmio_regs *r = to_vm(vd)->regs;

	wr(&r->driver_features_sel, 0);
	wr(&r->driver_features, (uint32_t)features);
	if (vd->legacy)
		return features >> 32 ? -EINVAL : 0; /* no FEATURES_OK in 4.2.4 */
	wr(&r->driver_features_sel, 1);
	wr(&r->driver_features, (uint32_t)(features >> 32));
	wr(&r->status, rd(&r->status) | VIRTIO_STATUS_FEATURES_OK);
	/* 3.1.1 step 6: the device may refuse; it then clears FEATURES_OK. */
	return (rd(&r->status) & VIRTIO_STATUS_FEATURES_OK) ? 0 : -ENODEV;
}

static uint32_t vm_generation(struct virtio_device *vd)
{
	return vd->legacy ? 0 : rd(&to_vm(vd)->regs->config_generation);
}

/* The configuration space at 0x100, each field at its natural width (4.2.2.2). */
static void vm_read_config(struct virtio_device *vd, unsigned off, void *buf, unsigned len)
{
	struct vm_dev *vm = to_vm(vd);

	if ((uint64_t)off + len > vm->config_len) {
		memset(buf, 0, len);
		return;
	}
	virtio_cfg_copy_in(buf, false, (uintptr_t)(vm->config + off), len);
}

static void vm_write_config(struct virtio_device *vd, unsigned off, const void *buf, unsigned len)
{
	struct vm_dev *vm = to_vm(vd);

	if ((uint64_t)off + len > vm->config_len)
		return;
	virtio_cfg_copy_out(false, (uintptr_t)(vm->config + off), buf, len);
}

/* 4.2.2: no queue count; queues exist while QueueNumMax reads non-zero. */
static uint16_t vm_num_queues(struct virtio_device *vd)
{
	volatile struct virtio_mmio_regs *r = to_vm(vd)->regs;
	uint16_t n = 0;

	while (n < 1024) {
		wr(&r->queue_sel, n);
		if (rd(&r->queue_num_max) == 0)
			break;
		n++;
	}
	return n;
}

static void vm_notify(struct virtqueue *vq)
{
	struct vm_queue *q = virtqueue_priv(vq);
	struct vm_dev *vm = to_vm(q->info.vd);

	/* Ring writes before the notification the device acts on. */
	wmb();
	if (vm->vd.features & VIRTIO_BIT(VIRTIO_F_NOTIFICATION_DATA))
		wr(&vm->regs->queue_notify, virtqueue_notification_data(vq));
	else
		wr(&vm->regs->queue_notify, q->info.index);
}

/* Tell the device where the (selected) queue's rings are and enable it. */
static int vm_program_queue(struct vm_dev *vm, struct virtqueue *vq)
{
	volatile struct virtio_mmio_regs *r = vm->regs;
	struct vq_ring_addrs a;

	virtqueue_ring_addrs(vq, &a);
	wr(&r->queue_num, virtqueue_num(vq));
	if (vm->vd.legacy) {
		/* 4.2.4: one page-aligned ring, its page number in 32 bits. */
		if ((a.desc & (VM_LEGACY_PAGE - 1)) || (a.desc / VM_LEGACY_PAGE) > 0xffffffffull)
			return -ENOMEM;
		wr(&r->guest_page_size, VM_LEGACY_PAGE); /* again: a reset may have cleared it */
		wr(&r->queue_align, VRING_LEGACY_ALIGN);
		wr(&r->queue_pfn, (uint32_t)(a.desc / VM_LEGACY_PAGE));
		return 0;
	}
	wr(&r->queue_desc_low, (uint32_t)a.desc);
	wr(&r->queue_desc_high, (uint32_t)(a.desc >> 32));
	wr(&r->queue_driver_low, (uint32_t)a.driver);
	wr(&r->queue_driver_high, (uint32_t)(a.driver >> 32));
	wr(&r->queue_device_low, (uint32_t)a.device);
	wr(&r->queue_device_high, (uint32_t)(a.device >> 32));
	wr(&r->queue_ready, 1);
	return 0;
}

static int vm_setup_vq(struct virtio_device *vd, unsigned index, uint32_t max_size,
		       vq_callback_t callback, struct virtqueue **vqp)
{
	struct vm_dev *vm = to_vm(vd);
	volatile struct virtio_mmio_regs *r = vm->regs;
	struct vm_queue *q;
	uint32_t dev_max;
	int rc;

	if (index >= vm->nr_queues)
		return -EINVAL; /* the core checked the index against vd->nr_queues */
	q = &vm->queues[index];
	wr(&r->queue_sel, index);
	/* 4.2.3.2: the queue must not be in use (QueuePFN / QueueReady 0). */
	if (rd(vd->legacy ? &r->queue_pfn : &r->queue_ready))
		return -ENOENT;
	dev_max = rd(&r->queue_num_max);
	if (dev_max == 0)
		return -ENOENT;
	rc = virtio_create_vq(vd, &q->info, index, virtio_vq_size(vd, dev_max, max_size), callback,
			      vm_notify, vqp);
	if (rc)
		return rc;
	rc = vm_program_queue(vm, *vqp);
	if (rc) {
		q->info.vq = NULL;
		virtqueue_destroy(*vqp);
		*vqp = NULL;
	}
	return rc;
}

static uint32_t vm_read_queue_ready(void *vm)
{
	return rd(&((struct vm_dev *)vm)->regs->queue_ready);
}

static void vm_del_vq(struct virtio_device *vd, struct virtqueue *vq)
{
	struct vm_dev *vm = to_vm(vd);
	struct vm_queue *q = virtqueue_priv(vq);

	wr(&vm->regs->queue_sel, q->info.index);
	if (vd->legacy) {
		/*
		 * QEMU takes QueuePFN 0 as a reset of the whole device: after a
		 * device reset (a driver setting its queues up again) the queue
		 * reads 0 already, and writing it would undo the negotiation.
		 */
		if (rd(&vm->regs->queue_pfn))
			wr(&vm->regs->queue_pfn, 0);
	} else {
		wr(&vm->regs->queue_ready, 0);
		(void)virtio_wait_zero(vm_read_queue_ready, vm, clock_ns, VIRTIO_RESET_TIMEOUT_NS);
	}
	q->info.vq = NULL;
	virtqueue_destroy(vq);
}

static uint32_t vm_read_queue_reset(void *vm)
{
	return rd(&((struct vm_dev *)vm)->regs->queue_reset);
}

/* 4.2.3.4 / 2.6.1: queue reset, then the queue comes back (maybe resized). */
static int vm_reset_vq(struct virtio_device *vd, struct virtqueue *vq, uint32_t num,
		       vq_recycle_t recycle)
{
	struct vm_dev *vm = to_vm(vd);
	volatile struct virtio_mmio_regs *r = vm->regs;
	struct vm_queue *q = virtqueue_priv(vq);
	int rc;

	if (vd->legacy || !(vd->features & VIRTIO_BIT(VIRTIO_F_RING_RESET)))
		return -EOPNOTSUPP;
	wr(&r->queue_sel, q->info.index);
	wr(&r->queue_reset, 1);
	/* 1 while the reset is ongoing; 0 in QueueReset and QueueReady when done. */
	if (virtio_wait_zero(vm_read_queue_reset, vm, clock_ns, VIRTIO_RESET_TIMEOUT_NS))
		return -EIO;
	if (rd(&r->queue_ready)) {
		/*
		 * QueueReset reads 0 at once and the queue is still ready: the
		 * device offered RING_RESET but has no QueueReset register
		 * (QEMU 7.2's virtio-mmio). Nothing was reset; the queue runs on.
		 */
		return -EOPNOTSUPP;
	}
	rc = virtio_vq_recycle(vq, num, rd(&r->queue_num_max), recycle);
	vm_program_queue(vm, vq);
	return rc;
}

/* Read and acknowledge the causes. Returns: VIRTIO_INT_* bits. */
static unsigned vm_ack(struct vm_dev *vm)
{
	uint32_t st = rd(&vm->regs->interrupt_status);

	if (st)
		wr(&vm->regs->interrupt_ack, st);
	return (st & VIRTIO_MMIO_INT_VRING ? VIRTIO_INT_VRING : 0) |
	       (st & VIRTIO_MMIO_INT_CONFIG ? VIRTIO_INT_CONFIG : 0);
}

static void vm_irq(void *arg)
{
	struct vm_dev *vm = arg;
	unsigned why;

	for (unsigned rounds = 0; rounds < 16 && (why = vm_ack(vm)) != 0; rounds++) {
		if (why & VIRTIO_INT_CONFIG)
			virtio_config_interrupt(&vm->vd);
		if (why & VIRTIO_INT_VRING)
			virtio_vqs_interrupt(&vm->vd);
	}
}

/*
 * The transport's line. ACPI: the GSI with the _CRS trigger and polarity.
 * Command line: IRQs below 16 are ISA IRQs (edge, high, after overrides);
 * others GSIs, level, active high (as QEMU's and Firecracker's lines behave).
 */
static const char *vm_setup_irq(struct virtio_device *vd)
{
	struct vm_dev *vm = to_vm(vd);
	uint32_t gsi = vm->res.irq;
	unsigned flags = vm->irq_flags;
	int rc;

	vm->nr_queues = vd->nr_queues;
	vm->queues = calloc(vm->nr_queues ? vm->nr_queues : 1, sizeof(*vm->queues));
	if (!vm->queues) {
		vm->nr_queues = 0;
		return "polling";
	}
	if (vm->isa_irq)
		gsi = irq_isa_to_gsi((uint8_t)gsi, &flags);
	rc = irq_request_gsi(gsi, flags | IRQ_SHARED, vm_irq, vm);
	if (rc) {
		snprintf(vm->irq_mode, sizeof(vm->irq_mode), "polling");
		return vm->irq_mode;
	}
	vm->has_irq = true;
	snprintf(vm->irq_mode, sizeof(vm->irq_mode), "GSI %u %s", gsi,
		 flags & IRQ_LEVEL ? "level" : "edge");
	return vm->irq_mode;
}

static unsigned vm_poll(struct virtio_device *vd)
{
	struct vm_dev *vm = to_vm(vd);

	return vm->has_irq ? 0 : vm_ack(vm);
}

static bool vm_vq_has_irq(struct virtqueue *vq)
{
	struct vm_queue *q = virtqueue_priv(vq);

	return to_vm(q->info.vd)->has_irq;
}

static int vm_vq_irq_entry(struct virtqueue *vq)
{
	(void)vq;
	return -1; /* no MSI-X */
}

static const struct virtio_transport_ops vm_ops = {
	.name = "modern",
	.device_features = vm_device_features,
	.finalize_features = vm_finalize_features,
	.get_status = vm_get_status,
	.set_status = vm_set_status,
	.reset = vm_reset,
	.generation = vm_generation,
	.read_config = vm_read_config,
	.write_config = vm_write_config,
	.num_queues = vm_num_queues,
	.setup_vq = vm_setup_vq,
	.del_vq = vm_del_vq,
	.reset_vq = vm_reset_vq,
	.setup_irq = vm_setup_irq,
	.poll = vm_poll,
	.vq_has_irq = vm_vq_has_irq,
	.vq_irq_entry = vm_vq_irq_entry,
};

/* The same operations; only the name differs (vd->legacy picks the registers). */
static struct virtio_transport_ops vm_legacy_ops;

/*
 * Look at one transport: map it, check the magic and the device ID,
 * hand it to the core. irq_flags: IRQ_* for the line.
 */
static bool vm_probe(const struct virtio_mmio_res *res, unsigned irq_flags, bool cmdline)
{
	const char *from = cmdline ? "command line" : "ACPI";
	volatile struct virtio_mmio_regs *regs;
	struct vm_dev *vm;
	uint32_t version, id;

	if (virtio_mmio_overlaps(res, vm_found, vm_nr_found)) {
		kprintf("virtio-mmio: %s: 0x%llx+0x%llx overlaps another transport, skipped\n",
			from, (unsigned long long)res->base, (unsigned long long)res->size);
		return false;
	}
	if (vm_nr_found == VM_MAX_TRANSPORTS) {
		kprintf("virtio-mmio: %s: more than %u transports, 0x%llx skipped\n", from,
			VM_MAX_TRANSPORTS, (unsigned long long)res->base);
		return false;
	}
	regs = ioremap(res->base, (size_t)res->size);
	if (!regs) {
		kprintf("virtio-mmio: %s: 0x%llx+0x%llx cannot be mapped (RAM?), skipped\n", from,
			(unsigned long long)res->base, (unsigned long long)res->size);
		return false;
	}
	vm_found[vm_nr_found++] = *res;
	version = rd(&regs->version);
	id = rd(&regs->device_id);
	if (rd(&regs->magic) != VIRTIO_MMIO_MAGIC || id == 0)
		return false; /* 4.2.3.1.1: no device here (an empty microvm slot) */
	if (version != 1 && version != 2) {
		kprintf("virtio-mmio: 0x%llx: version %u not supported, skipped\n",
			(unsigned long long)res->base, version);
		return false;
	}
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return false;
	vm->regs = regs;
	vm->config = (volatile uint8_t *)regs + VIRTIO_MMIO_CONFIG;
	vm->config_len = (uint32_t)(res->size - VIRTIO_MMIO_CONFIG);
	vm->res = *res;
	vm->irq_flags = irq_flags;
	vm->isa_irq = cmdline && res->irq < 16;
	vm->vd.id = (uint16_t)id;
	vm->vd.transport = vm;
	vm->vd.legacy = version == 1;
	vm->vd.ops = vm->vd.legacy ? &vm_legacy_ops : &vm_ops;
	snprintf(vm->vd.name, sizeof(vm->vd.name), "virtio-%s mmio@0x%llx", virtio_id_name(id),
		 (unsigned long long)res->base);
	/* 4.2.4: the legacy device counts QueuePFN in pages of this size. */
	if (vm->vd.legacy)
		wr(&regs->guest_page_size, VM_LEGACY_PAGE);
	virtio_add_device(&vm->vd);
	return true;
}

static unsigned acpi_irq_flags(uint16_t inti)
{
	return (ACPI_TRIGGER(inti) == ACPI_TRIGGER_LEVEL ? IRQ_LEVEL : IRQ_EDGE) |
	       (ACPI_POLARITY(inti) == ACPI_POLARITY_LOW ? IRQ_ACTIVE_LOW : IRQ_ACTIVE_HIGH);
}

void virtio_mmio_init(void)
{
	unsigned from_acpi = 0, from_cmdline = 0;

	vm_legacy_ops = vm_ops;
	vm_legacy_ops.name = "legacy";
	/* (1) The DSDT's LNRO0005 devices. */
	for (unsigned i = 0; i < acpi.nr_virtio_mmio; i++) {
		const struct acpi_virtio_mmio *m = &acpi.virtio_mmio[i];
		struct virtio_mmio_res res = {m->base, m->size, m->gsi, -1};

		if (m->size < VIRTIO_MMIO_CONFIG) {
			kprintf("virtio-mmio: ACPI: transport %u has no usable memory range, "
				"skipped\n",
				i);
			continue;
		}
		if (!m->have_irq)
			res.irq = UINT32_MAX; /* no line: polled */
		from_acpi += vm_probe(&res, acpi_irq_flags(m->irq_flags), false);
	}
	/* (2) virtio_mmio.device= words, Linux's format. */
	for (unsigned i = 0; i < kernel_cmdline.nr; i++) {
		struct virtio_mmio_res res;
		const char *why;

		if (strcmp(kernel_cmdline.key[i], "virtio_mmio.device") != 0)
			continue;
		if (virtio_mmio_parse(kernel_cmdline.value[i], &res, &why)) {
			kprintf("virtio-mmio: virtio_mmio.device=%s: %s, skipped\n",
				kernel_cmdline.value[i], why);
			continue;
		}
		from_cmdline += vm_probe(&res, IRQ_LEVEL | IRQ_ACTIVE_HIGH, true);
	}
	if (from_acpi || from_cmdline)
		kprintf("virtio-mmio: %u devices from ACPI, %u from the command line\n", from_acpi,
			from_cmdline);
}
