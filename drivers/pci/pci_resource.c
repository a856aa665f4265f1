/*
 * PCI resource assignment, for when firmware left BARs unassigned (qboot,
 * microvm): BARs get space from the host bridge windows and the bridges
 * above them get their windows programmed (PCI Local Bus 3.0, 6.2.5.1;
 * PCI-to-PCI Bridge Architecture 1.2, 3.2.5.6-9). Portable: hardware is
 * reached only through the config accessors, so the host tests run it.
 *
 * Three steps, and nothing is written until the last:
 *  1. keep: BARs on bus 0 that firmware put in a host window, clear of the
 *     reserved ranges and of each other, and bridge subtrees whose open
 *     windows lie in the host windows and cover every BAR behind them.
 *     What is kept is reserved.
 *  2. size, depth-first: in a subtree not kept, the BARs and child windows
 *     behind a bridge are packed at offsets of its windows, largest
 *     alignment first; a window is rounded up to its granularity and
 *     aligned to its largest member.
 *  3. place: the bus-0 BARs and the windows of subtrees not kept go into
 *     the host windows, largest alignment first, first fit; the offsets
 *     then give every address below. If something does not fit, the
 *     device asking the most of those that did not is left disabled and
 *     placement starts over. Then registers are written, with decoding
 *     off, and decoding turned on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pci/pci.h>

#define FOUR_GIB    0x100000000ull
#define SIZE_LIMIT  (1ull << 62) /* a sum past this cannot fit anywhere: no overflow */
#define ITEM_WINDOW 6		 /* item.bar: 0-5 a BAR, ITEM_WINDOW + k bridge window k */

/* Where an item may go on the host bus. */
enum place {
	PLACE_IO,
	PLACE_LOW,	  /* below 4 GiB only */
	PLACE_HIGH_FIRST, /* 64-bit prefetchable: above 4 GiB if there is room */
	PLACE_LOW_FIRST,  /* 64-bit: below 4 GiB if there is room */
};

/* A BAR, or a bridge window, to be given an address. */
struct item {
	struct pci_dev *dev;	/* the BAR's device, or the bridge of the window */
	struct pci_dev *parent; /* the bridge whose window holds it, NULL: the host bus */
	int bar;		/* 0-5, or ITEM_WINDOW + k */
	enum pci_win win;	/* in the parent's window */
	enum place place;	/* on the host bus */
	uint64_t size, align, offset, addr;
	bool wide; /* may live at or above 4 GiB */
	bool placed, failed;
};

/* A bridge whose windows are assigned afresh. */
struct bnode {
	struct pci_dev *dev;
	uint64_t size[PCI_NR_WIN], align[PCI_NR_WIN], base[PCI_NR_WIN];
	bool open[PCI_NR_WIN];
	bool wide; /* the prefetchable window may go above 4 GiB */
};

struct dstate {
	struct pci_dev *dev;
	bool kept[6];	   /* the BAR firmware assigned stays */
	bool subtree_kept; /* bridges: everything behind stays as firmware set it */
	bool failed;
};

/* A range taken: reserved by the caller, kept from firmware, or assigned. */
struct span {
	uint64_t base, limit;
	bool reserved;
};

struct assign {
	pci_log_fn log;
	void *log_ctx;
	struct pci_dev *list;
	unsigned ndev;
	struct dstate *ds;
	struct pci_range io[PCI_MAX_WINDOWS], low[PCI_MAX_WINDOWS], high[PCI_MAX_WINDOWS];
	unsigned nio, nlow, nhigh;
	uint64_t io_floor, mem_floor;
	struct span *used; /* sorted by base */
	unsigned nused, capused;
	struct item *items;
	unsigned nitems, capitems;
	struct bnode *br;
	unsigned nbr;
	unsigned kept, assigned, bridges, io_skipped, disabled;
};

static const uint64_t granularity[PCI_NR_WIN] = {
	PCI_IO_WINDOW_GRANULARITY, PCI_MEM_WINDOW_GRANULARITY, PCI_MEM_WINDOW_GRANULARITY};
static const char *const win_name[PCI_NR_WIN] = {"I/O", "mem", "mem pref"};

#define LOG(a, ...) ((a)->log ? (a)->log((a)->log_ctx, __VA_ARGS__) : (void)0)

static const char *bar_name(const struct pci_bar *b)
{
	switch (b->type) {
	case PCI_BAR_IO: return "I/O";
	case PCI_BAR_MEM32: return b->prefetch ? "mem32 pref" : "mem32";
	case PCI_BAR_MEM64: return b->prefetch ? "mem64 pref" : "mem64";
	default: return "none";
	}
}

/* "32 bytes", "4 KiB", "1 MiB", "8 GiB" (sizes are powers of two or window multiples). */
static const char *size_str(char *buf, size_t len, uint64_t size)
{
	static const char *const unit[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
	unsigned u = 0;

	while (u < 4 && size >= 1024 && size % 1024 == 0) {
		size /= 1024;
		u++;
	}
	snprintf(buf, len, "%llu %s", (unsigned long long)size, unit[u]);
	return buf;
}

static struct dstate *state(struct assign *a, const struct pci_dev *d)
{
	for (unsigned i = 0; i < a->ndev; i++)
		if (a->ds[i].dev == d)
			return &a->ds[i];
	return &a->ds[0]; /* not reached: every device is in the list */
}

static struct bnode *bnode_of(struct assign *a, const struct pci_dev *d)
{
	for (unsigned i = 0; i < a->nbr; i++)
		if (a->br[i].dev == d)
			return &a->br[i];
	return NULL;
}

/* Is [base, base + size) inside r? */
static bool inside(const struct pci_range *r, uint64_t base, uint64_t size)
{
	return size && r->base <= r->limit && base >= r->base && base <= r->limit &&
	       size - 1 <= r->limit - base;
}

static bool in_any(const struct pci_range *w, unsigned n, uint64_t base, uint64_t size)
{
	for (unsigned i = 0; i < n; i++)
		if (inside(&w[i], base, size))
			return true;
	return false;
}

static bool in_host(const struct assign *a, bool io, uint64_t base, uint64_t size)
{
	if (io)
		return in_any(a->io, a->nio, base, size);
	return in_any(a->low, a->nlow, base, size) || in_any(a->high, a->nhigh, base, size);
}

/*
 * Does [base, base + size) overlap what firmware or we assigned? Reserved
 * ranges only keep new assignments out: a firmware memory map may well
 * list the MMIO firmware put BARs in.
 */
static bool overlaps_assigned(const struct assign *a, uint64_t base, uint64_t size)
{
	uint64_t end = base + size - 1;

	for (unsigned i = 0; i < a->nused; i++)
		if (!a->used[i].reserved && a->used[i].base <= end && base <= a->used[i].limit)
			return true;
	return false;
}

static void use(struct assign *a, uint64_t base, uint64_t limit, bool reserved)
{
	unsigned i = a->nused;

	if (a->nused == a->capused || base > limit)
		return; /* not reached: capacity is counted up front */
	while (i > 0 && a->used[i - 1].base > base) {
		a->used[i] = a->used[i - 1];
		i--;
	}
	a->used[i] = (struct span){base, limit, reserved};
	a->nused++;
}

/* x rounded up to align (a power of two). Returns: false on overflow. */
static bool align_up(uint64_t x, uint64_t align, uint64_t *out)
{
	if (x > UINT64_MAX - (align - 1))
		return false;
	*out = (x + align - 1) & ~(align - 1);
	return true;
}

/* First fit of size at align in w, clear of everything used; reserves it. */
static bool alloc_in(struct assign *a, const struct pci_range *w, uint64_t floor, uint64_t size,
		     uint64_t align, uint64_t *out)
{
	uint64_t cand;

	if (!size || size > SIZE_LIMIT || w->base > w->limit ||
	    !align_up(w->base > floor ? w->base : floor, align, &cand))
		return false;
	for (unsigned i = 0; i < a->nused; i++) {
		const struct span *u = &a->used[i];

		if (cand > w->limit || size - 1 > w->limit - cand)
			return false;
		if (u->limit < cand)
			continue;
		if (cand + size - 1 < u->base)
			break; /* fits before u, and every later range starts after u */
		if (u->limit == UINT64_MAX || !align_up(u->limit + 1, align, &cand))
			return false;
	}
	if (cand > w->limit || size - 1 > w->limit - cand)
		return false;
	use(a, cand, cand + size - 1, false);
	*out = cand;
	return true;
}

static bool alloc_any(struct assign *a, const struct pci_range *w, unsigned n, struct item *it)
{
	uint64_t floor = w == a->io ? a->io_floor : a->mem_floor;

	for (unsigned i = 0; i < n; i++)
		if (alloc_in(a, &w[i], floor, it->size, it->align, &it->addr))
			return true;
	return false;
}

static bool place(struct assign *a, struct item *it)
{
	switch (it->place) {
	case PLACE_IO: return alloc_any(a, a->io, a->nio, it);
	case PLACE_LOW: return alloc_any(a, a->low, a->nlow, it);
	case PLACE_HIGH_FIRST:
		return alloc_any(a, a->high, a->nhigh, it) || alloc_any(a, a->low, a->nlow, it);
	case PLACE_LOW_FIRST:
		return alloc_any(a, a->low, a->nlow, it) || alloc_any(a, a->high, a->nhigh, it);
	}
	return false;
}

static struct item *add_item(struct assign *a, struct pci_dev *dev, struct pci_dev *parent, int bar,
			     enum pci_win win, uint64_t size, uint64_t align)
{
	struct item *it = &a->items[a->nitems++]; /* capacity: 9 per device, counted up front */

	memset(it, 0, sizeof(*it));
	it->dev = dev;
	it->parent = parent;
	it->bar = bar;
	it->win = win;
	it->size = size;
	it->align = align;
	return it;
}

static void skip_io(struct assign *a, struct pci_dev *d, int i)
{
	char sz[32];

	LOG(a, "pci: %02x:%02x.%u BAR%d I/O %s left unassigned: no I/O window\n", d->bus, d->dev,
	    d->fn, i, size_str(sz, sizeof(sz), d->bar[i].size));
	d->bar[i].addr = 0;
	a->io_skipped++;
}

/* BAR i of d as a host-bus item. */
static void host_bar_item(struct assign *a, struct pci_dev *d, int i)
{
	const struct pci_bar *b = &d->bar[i];
	struct item *it = add_item(a, d, NULL, i, PCI_WIN_MEM, b->size, b->size);

	if (b->type == PCI_BAR_IO)
		it->place = PLACE_IO;
	else if (b->type == PCI_BAR_MEM64)
		it->place = b->prefetch ? PLACE_HIGH_FIRST : PLACE_LOW_FIRST;
	else
		it->place = PLACE_LOW;
}

/* Does a BAR of a device behind bridge br decode inside br's windows? */
static bool bar_behind_ok(const struct pci_dev *br, const struct pci_bar *b)
{
	if (b->type == PCI_BAR_IO)
		return b->addr ? inside(&br->window[PCI_WIN_IO], b->addr, b->size)
			       : br->window[PCI_WIN_IO].base > br->window[PCI_WIN_IO].limit;
	if (!b->addr)
		return false;
	return inside(&br->window[PCI_WIN_MEM], b->addr, b->size) ||
	       (b->prefetch && inside(&br->window[PCI_WIN_PREF], b->addr, b->size));
}

/*
 * Can the subtree below bridge br stay as firmware set it? Its open windows
 * must lie in the host windows, clear of what is used (bus 0), or in the
 * parent bridge's (deeper), and every BAR behind it must decode in them.
 */
static bool subtree_ok(struct assign *a, const struct pci_dev *br, const struct pci_dev *parent,
		       unsigned *bars)
{
	for (int k = 0; k < PCI_NR_WIN; k++) {
		const struct pci_range *w = &br->window[k];
		uint64_t size = w->limit - w->base + 1;

		if (w->base > w->limit)
			continue;
		if (!parent) {
			if (!in_host(a, k == PCI_WIN_IO, w->base, size) ||
			    overlaps_assigned(a, w->base, size))
				return false;
		} else if (!inside(&parent->window[k], w->base, size) &&
			   !(k == PCI_WIN_PREF &&
			     inside(&parent->window[PCI_WIN_MEM], w->base, size))) {
			return false;
		}
	}
	for (struct pci_dev *d = a->list; d; d = d->next) {
		if (d->upstream != br)
			continue;
		for (int i = 0; i < 6; i++) {
			if (d->bar[i].type == PCI_BAR_NONE)
				continue;
			if (!bar_behind_ok(br, &d->bar[i]))
				return false;
			*bars += d->bar[i].addr != 0;
		}
		if (d->header_type == PCI_HEADER_BRIDGE && !subtree_ok(a, d, br, bars))
			return false;
	}
	return true;
}

static int cmp_items(const void *x, const void *y)
{
	const struct item *p = *(struct item *const *)x, *q = *(struct item *const *)y;

	if (p->align != q->align)
		return p->align < q->align ? 1 : -1;
	if (p->size != q->size)
		return p->size < q->size ? 1 : -1;
	return p < q ? -1 : p > q; /* then device order: deterministic */
}

/*
 * Size the windows of bridge br (assigned afresh) from what is behind it,
 * depth-first. io_ok: every bridge above forwards I/O.
 */
static struct bnode *size_bridge(struct assign *a, struct pci_dev *br, bool io_ok)
{
	struct bnode *n = &a->br[a->nbr++]; /* capacity: one per device */
	struct item **members;

	memset(n, 0, sizeof(*n));
	n->dev = br;
	io_ok = io_ok && br->has_io_window;
	for (struct pci_dev *d = a->list; d; d = d->next) {
		if (d->upstream != br)
			continue;
		for (int i = 0; i < 6; i++) {
			const struct pci_bar *b = &d->bar[i];
			enum pci_win k = PCI_WIN_MEM;
			struct item *it;

			if (b->type == PCI_BAR_NONE)
				continue;
			if (b->type == PCI_BAR_IO) {
				if (!io_ok) {
					skip_io(a, d, i);
					continue;
				}
				k = PCI_WIN_IO;
			} else if (b->prefetch && br->has_pref_window) {
				k = PCI_WIN_PREF;
			}
			it = add_item(a, d, br, i, k, b->size, b->size);
			it->wide = b->type == PCI_BAR_MEM64;
		}
		if (d->header_type == PCI_HEADER_BRIDGE) {
			struct bnode *c = size_bridge(a, d, io_ok);

			for (int k = 0; k < PCI_NR_WIN; k++) {
				enum pci_win in = k == PCI_WIN_PREF && !br->has_pref_window
							  ? PCI_WIN_MEM
							  : (enum pci_win)k;
				struct item *it;

				if (!c->size[k])
					continue;
				it = add_item(a, d, br, ITEM_WINDOW + k, in, c->size[k],
					      c->align[k]);
				it->wide = k == PCI_WIN_PREF && c->wide;
			}
		}
	}
	members = calloc(a->nitems + 1, sizeof(*members));
	for (int k = 0; k < PCI_NR_WIN; k++) {
		uint64_t off = 0, align = granularity[k];
		bool wide = k == PCI_WIN_PREF && br->pref64;
		unsigned nm = 0;

		if (!members) {
			n->size[k] = SIZE_LIMIT + 1; /* cannot sort: let placement fail cleanly */
			n->align[k] = align;
			continue;
		}
		for (unsigned i = 0; i < a->nitems; i++)
			if (a->items[i].parent == br && a->items[i].win == (enum pci_win)k)
				members[nm++] = &a->items[i];
		qsort(members, nm, sizeof(*members), cmp_items);
		for (unsigned i = 0; i < nm; i++) {
			struct item *it = members[i];

			if (!align_up(off, it->align, &off) || off > SIZE_LIMIT ||
			    it->size > SIZE_LIMIT - off)
				off = SIZE_LIMIT + 1; /* too big for anything: placement fails */
			it->offset = off;
			if (off <= SIZE_LIMIT)
				off += it->size;
			if (it->align > align)
				align = it->align;
			wide = wide && it->wide;
		}
		n->size[k] = 0;
		if (off && !align_up(off, granularity[k], &n->size[k]))
			n->size[k] = SIZE_LIMIT + 1;
		n->align[k] = align;
		if (k == PCI_WIN_PREF)
			n->wide = wide && nm;
	}
	free(members);
	return n;
}

/* An item that cannot get space: its device (a bridge: and what is behind it) stays off. */
static void fail_item(struct assign *a, struct item *it, const char *why, uint64_t total)
{
	struct pci_dev *d = it->dev;
	char sz[32], all[32];
	bool bigger = false; /* another BAR of the device took the room: say how much in all */

	for (unsigned i = 0; i < a->nitems; i++)
		if (a->items[i].dev == d && a->items[i].parent == it->parent &&
		    a->items[i].size > it->size)
			bigger = true;
	it->failed = true;
	if (state(a, d)->failed)
		return;
	state(a, d)->failed = true;
	if (it->bar >= ITEM_WINDOW)
		LOG(a,
		    "pci: %02x:%02x.%u bridge window %s %s %s: the bridge and what is behind it "
		    "left disabled\n",
		    d->bus, d->dev, d->fn, win_name[it->bar - ITEM_WINDOW],
		    size_str(sz, sizeof(sz), it->size), why);
	else if (!bigger)
		LOG(a, "pci: %02x:%02x.%u BAR%d %s %s %s: device left disabled\n", d->bus, d->dev,
		    d->fn, it->bar, bar_name(&d->bar[it->bar]), size_str(sz, sizeof(sz), it->size),
		    why);
	else
		LOG(a,
		    "pci: %02x:%02x.%u BAR%d %s %s %s (the device needs %s in all): device left "
		    "disabled\n",
		    d->bus, d->dev, d->fn, it->bar, bar_name(&d->bar[it->bar]),
		    size_str(sz, sizeof(sz), it->size), why, size_str(all, sizeof(all), total));
}

/* Behind a disabled bridge nothing is reachable: disable it all. */
static void fail_behind(struct assign *a, const struct pci_dev *br)
{
	for (struct pci_dev *d = a->list; d; d = d->next) {
		if (d->upstream != br)
			continue;
		if (!state(a, d)->failed)
			LOG(a,
			    "pci: %02x:%02x.%u is behind a disabled bridge: device left disabled\n",
			    d->bus, d->dev, d->fn);
		state(a, d)->failed = true;
		if (d->header_type == PCI_HEADER_BRIDGE)
			fail_behind(a, d);
	}
}

/* Addresses below a placed bridge: its base plus each member's offset. */
static void resolve(struct assign *a, struct bnode *n)
{
	for (unsigned i = 0; i < a->nitems; i++) {
		struct item *it = &a->items[i];

		if (it->parent != n->dev)
			continue;
		if (!n->open[it->win]) {
			fail_item(a, it, "has no bridge window to go in", it->size);
			continue;
		}
		it->addr = n->base[it->win] + it->offset;
		it->placed = true;
	}
	for (unsigned i = 0; i < a->nitems; i++) {
		struct item *it = &a->items[i];
		struct bnode *c;

		if (it->parent != n->dev || it->bar < ITEM_WINDOW || !(c = bnode_of(a, it->dev)))
			continue;
		c->base[it->bar - ITEM_WINDOW] = it->addr;
		c->open[it->bar - ITEM_WINDOW] = it->placed;
	}
	for (struct pci_dev *d = a->list; d; d = d->next) {
		struct bnode *c;

		if (d->upstream == n->dev && (c = bnode_of(a, d)))
			resolve(a, c);
	}
}

static void write_bar(struct pci_dev *d, int i, uint64_t addr)
{
	uint16_t off = (uint16_t)(PCI_BAR0 + 4 * i);

	pci_write32(d, off, (uint32_t)addr);
	if (d->bar[i].type == PCI_BAR_MEM64)
		pci_write32(d, (uint16_t)(off + 4), (uint32_t)(addr >> 32));
	d->bar[i].addr = addr;
}

static void program_bridge(struct assign *a, struct bnode *n)
{
	struct pci_dev *d = n->dev;
	uint16_t cmd = pci_read16(d, PCI_COMMAND);
	struct pci_range w[PCI_NR_WIN];
	char sz[32];

	pci_write16(d, PCI_COMMAND, cmd & (uint16_t) ~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY));
	for (int k = 0; k < PCI_NR_WIN; k++) {
		w[k] = (struct pci_range){1, 0};
		if (n->open[k] && n->size[k]) {
			w[k] = (struct pci_range){n->base[k], n->base[k] + n->size[k] - 1};
			LOG(a, "pci: %02x:%02x.%u bridge window %s %s at 0x%llx-0x%llx\n", d->bus,
			    d->dev, d->fn, win_name[k], size_str(sz, sizeof(sz), n->size[k]),
			    (unsigned long long)w[k].base, (unsigned long long)w[k].limit);
		}
		d->window[k] = w[k];
	}
	/* Closed: base above limit. */
	if (w[PCI_WIN_IO].base <= w[PCI_WIN_IO].limit) {
		pci_write16(d, PCI_IO_BASE_UPPER, (uint16_t)(w[PCI_WIN_IO].base >> 16));
		pci_write16(d, PCI_IO_LIMIT_UPPER, (uint16_t)(w[PCI_WIN_IO].limit >> 16));
		pci_write8(d, PCI_IO_BASE, (uint8_t)(w[PCI_WIN_IO].base >> 8 & PCI_IO_RANGE_MASK));
		pci_write8(d, PCI_IO_LIMIT,
			   (uint8_t)(w[PCI_WIN_IO].limit >> 8 & PCI_IO_RANGE_MASK));
		cmd |= PCI_COMMAND_IO;
	} else if (d->has_io_window) {
		pci_write8(d, PCI_IO_BASE, PCI_IO_RANGE_MASK);
		pci_write8(d, PCI_IO_LIMIT, 0);
		pci_write16(d, PCI_IO_BASE_UPPER, 0);
		pci_write16(d, PCI_IO_LIMIT_UPPER, 0);
		cmd &= (uint16_t)~PCI_COMMAND_IO;
	}
	if (w[PCI_WIN_MEM].base <= w[PCI_WIN_MEM].limit) {
		pci_write16(d, PCI_MEM_BASE,
			    (uint16_t)(w[PCI_WIN_MEM].base >> 16 & PCI_MEM_RANGE_MASK));
		pci_write16(d, PCI_MEM_LIMIT,
			    (uint16_t)(w[PCI_WIN_MEM].limit >> 16 & PCI_MEM_RANGE_MASK));
	} else {
		pci_write16(d, PCI_MEM_BASE, PCI_MEM_RANGE_MASK);
		pci_write16(d, PCI_MEM_LIMIT, 0);
	}
	if (w[PCI_WIN_PREF].base <= w[PCI_WIN_PREF].limit) {
		pci_write32(d, PCI_PREF_BASE_UPPER, (uint32_t)(w[PCI_WIN_PREF].base >> 32));
		pci_write32(d, PCI_PREF_LIMIT_UPPER, (uint32_t)(w[PCI_WIN_PREF].limit >> 32));
		pci_write16(d, PCI_PREF_MEM_BASE,
			    (uint16_t)(w[PCI_WIN_PREF].base >> 16 & PCI_MEM_RANGE_MASK));
		pci_write16(d, PCI_PREF_MEM_LIMIT,
			    (uint16_t)(w[PCI_WIN_PREF].limit >> 16 & PCI_MEM_RANGE_MASK));
	} else if (d->has_pref_window) {
		pci_write16(d, PCI_PREF_MEM_BASE, PCI_MEM_RANGE_MASK);
		pci_write16(d, PCI_PREF_MEM_LIMIT, 0);
		if (d->pref64) {
			pci_write32(d, PCI_PREF_BASE_UPPER, 0);
			pci_write32(d, PCI_PREF_LIMIT_UPPER, 0);
		}
	}
	if (w[PCI_WIN_MEM].base <= w[PCI_WIN_MEM].limit ||
	    w[PCI_WIN_PREF].base <= w[PCI_WIN_PREF].limit)
		cmd |= PCI_COMMAND_MEMORY;
	else
		cmd &= (uint16_t)~PCI_COMMAND_MEMORY;
	/* Bus mastering on a bridge forwards its devices' DMA upstream. */
	pci_write16(d, PCI_COMMAND, cmd | PCI_COMMAND_MASTER);
	a->bridges++;
}

/* Write every placed BAR of d, with decoding off, then turn decoding on. */
static void program_device(struct assign *a, struct pci_dev *d)
{
	uint16_t cmd = pci_read16(d, PCI_COMMAND);
	bool any = false;
	char sz[32];

	for (unsigned i = 0; i < a->nitems; i++) {
		struct item *it = &a->items[i];

		if (it->dev != d || it->bar >= ITEM_WINDOW || !it->placed)
			continue;
		if (!any)
			pci_write16(d, PCI_COMMAND,
				    cmd & (uint16_t) ~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY));
		any = true;
		write_bar(d, it->bar, it->addr);
		LOG(a, "pci: %02x:%02x.%u BAR%d %s %s at 0x%llx\n", d->bus, d->dev, d->fn, it->bar,
		    bar_name(&d->bar[it->bar]), size_str(sz, sizeof(sz), it->size),
		    (unsigned long long)it->addr);
		a->assigned++;
	}
	if (!any)
		return;
	if (d->header_type == PCI_HEADER_BRIDGE)
		pci_write16(d, PCI_COMMAND, cmd); /* its windows forward as they did */
	pci_enable(d);
}

/* A device whose BARs do not all fit: nothing decodes, no driver will take it. */
static void disable_device(struct assign *a, struct pci_dev *d)
{
	uint16_t cmd = pci_read16(d, PCI_COMMAND);

	pci_write16(d, PCI_COMMAND,
		    cmd & (uint16_t) ~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER));
	for (unsigned i = 0; i < a->nitems; i++)
		if (a->items[i].dev == d && a->items[i].bar < ITEM_WINDOW)
			d->bar[a->items[i].bar].addr = 0; /* never written: not ours to show */
	d->disabled = true;
	a->disabled++;
}

/* The host windows, memory split at 4 GiB. */
static void split_windows(struct assign *a, const struct pci_resources *res)
{
	for (unsigned i = 0; i < res->nr_windows && i < PCI_MAX_WINDOWS; i++) {
		const struct pci_window *w = &res->window[i];

		if (w->base > w->limit)
			continue;
		if (w->io) {
			a->io[a->nio++] = (struct pci_range){w->base, w->limit};
			continue;
		}
		if (w->base < FOUR_GIB)
			a->low[a->nlow++] = (struct pci_range){
				w->base, w->limit < FOUR_GIB ? w->limit : FOUR_GIB - 1};
		if (w->limit >= FOUR_GIB)
			a->high[a->nhigh++] = (struct pci_range){
				w->base > FOUR_GIB ? w->base : FOUR_GIB, w->limit};
	}
}

static void summary(struct assign *a)
{
	LOG(a,
	    "pci: resources: %u BAR%s assigned, %u bridge%s programmed, %u kept from firmware, "
	    "%u I/O BAR%s left unassigned, %u device%s disabled\n",
	    a->assigned, a->assigned == 1 ? "" : "s", a->bridges, a->bridges == 1 ? "" : "s",
	    a->kept, a->io_skipped, a->io_skipped == 1 ? "" : "s", a->disabled,
	    a->disabled == 1 ? "" : "s");
}

/* Step 1 on bus 0: firmware BARs in a window, then bridge subtrees that fit. */
static void keep_firmware(struct assign *a)
{
	for (struct pci_dev *d = a->list; d; d = d->next) {
		struct dstate *st = state(a, d);

		if (d->upstream)
			continue;
		for (int i = 0; i < 6; i++) {
			const struct pci_bar *b = &d->bar[i];

			if (b->type == PCI_BAR_NONE || !b->addr ||
			    !in_host(a, b->type == PCI_BAR_IO, b->addr, b->size) ||
			    overlaps_assigned(a, b->addr, b->size))
				continue;
			use(a, b->addr, b->addr + b->size - 1, false);
			st->kept[i] = true;
			a->kept++;
		}
	}
	for (struct pci_dev *d = a->list; d; d = d->next) {
		unsigned bars = 0;

		if (d->upstream || d->header_type != PCI_HEADER_BRIDGE ||
		    !subtree_ok(a, d, NULL, &bars))
			continue;
		for (int k = 0; k < PCI_NR_WIN; k++)
			if (d->window[k].base <= d->window[k].limit)
				use(a, d->window[k].base, d->window[k].limit, false);
		state(a, d)->subtree_kept = true;
		a->kept += bars;
	}
}

/* Step 2 on bus 0: items for the BARs not kept and the bridges to assign afresh. */
static void collect(struct assign *a)
{
	for (struct pci_dev *d = a->list; d; d = d->next) {
		struct dstate *st = state(a, d);

		if (d->upstream)
			continue;
		for (int i = 0; i < 6; i++) {
			if (d->bar[i].type == PCI_BAR_NONE || st->kept[i])
				continue;
			if (d->bar[i].type == PCI_BAR_IO && !a->nio)
				skip_io(a, d, i);
			else
				host_bar_item(a, d, i);
		}
		if (d->header_type == PCI_HEADER_BRIDGE && !st->subtree_kept) {
			struct bnode *n = size_bridge(a, d, a->nio > 0);

			for (int k = 0; k < PCI_NR_WIN; k++) {
				struct item *it;

				if (!n->size[k])
					continue;
				it = add_item(a, d, NULL, ITEM_WINDOW + k, PCI_WIN_MEM, n->size[k],
					      n->align[k]);
				it->place = k == PCI_WIN_IO    ? PLACE_IO
					    : k == PCI_WIN_MEM ? PLACE_LOW
					    : n->wide	       ? PLACE_HIGH_FIRST
							       : PLACE_LOW;
			}
		}
	}
}

/* Step 3: bus-0 items into the host windows, then everything below. */
/* What a device asks of the host bus in all: its BARs there, or a bridge's windows. */
static uint64_t demand(const struct assign *a, const struct pci_dev *d)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < a->nitems; i++)
		if (a->items[i].dev == d && !a->items[i].parent)
			sum += a->items[i].size > SIZE_LIMIT ? SIZE_LIMIT : a->items[i].size;
	return sum;
}

/*
 * Step 3: bus-0 items into the host windows, then everything below. When
 * something does not fit, the device asking the most of all those that did
 * not is disabled and placement starts over without it, so one device too
 * big for the windows does not starve the rest. Each round disables one
 * device: at most ndev rounds.
 */
static int place_all(struct assign *a, unsigned base_used)
{
	struct item **host = calloc(a->nitems + 1, sizeof(*host));
	struct span *base = calloc(base_used + 1, sizeof(*base));
	unsigned n = 0;

	if (!host || !base) {
		free(host);
		free(base);
		return -ENOMEM;
	}
	memcpy(base, a->used, base_used * sizeof(*base));
	for (unsigned i = 0; i < a->nitems; i++)
		if (!a->items[i].parent)
			host[n++] = &a->items[i];
	qsort(host, n, sizeof(*host), cmp_items);
	for (unsigned round = 0; round <= a->ndev; round++) {
		struct item *victim = NULL;
		uint64_t worst = 0;

		/* Reserved and firmware's only: placement starts afresh (use() keeps the order). */
		memcpy(a->used, base, base_used * sizeof(*base));
		a->nused = base_used;
		for (unsigned i = 0; i < n; i++) {
			struct item *it = host[i];
			uint64_t want;

			it->placed = false;
			if (state(a, it->dev)->failed)
				continue;
			it->placed = place(a, it);
			if (it->placed || (victim && (want = demand(a, it->dev)) <= worst))
				continue;
			victim = it;
			worst = demand(a, it->dev);
		}
		if (!victim)
			break;
		fail_item(a, victim, "does not fit in any window", worst);
	}
	for (unsigned i = 0; i < n; i++) {
		struct item *it = host[i];
		struct bnode *b;

		if (it->bar >= ITEM_WINDOW && (b = bnode_of(a, it->dev))) {
			b->base[it->bar - ITEM_WINDOW] = it->addr;
			b->open[it->bar - ITEM_WINDOW] = it->placed;
		}
	}
	free(host);
	free(base);
	for (struct pci_dev *d = a->list; d; d = d->next) {
		struct bnode *b;

		if (d->upstream || !(b = bnode_of(a, d)))
			continue;
		if (state(a, d)->failed)
			fail_behind(a, d);
		else
			resolve(a, b);
	}
	return 0;
}

int pci_assign_resources(struct pci_dev *list, const struct pci_resources *res, pci_log_fn log,
			 void *log_ctx)
{
	struct assign a = {.log = log, .log_ctx = log_ctx, .list = list};
	unsigned i = 0;
	int rc = -ENOMEM;

	for (struct pci_dev *d = list; d; d = d->next)
		a.ndev++;
	if (!a.ndev || !res)
		return 0;
	split_windows(&a, res);
	a.io_floor = res->io_floor;
	a.mem_floor = res->mem_floor;
	if (!a.nio && !a.nlow && !a.nhigh) {
		LOG(&a, "pci: no host bridge windows: BARs left as firmware set them\n");
		return 0;
	}
	a.capitems = 9 * a.ndev;		       /* 6 BARs and 3 windows each */
	a.capused = PCI_MAX_RESERVED + 2 * a.capitems; /* kept and placed */
	a.ds = calloc(a.ndev, sizeof(*a.ds));
	a.items = calloc(a.capitems, sizeof(*a.items));
	a.used = calloc(a.capused, sizeof(*a.used));
	a.br = calloc(a.ndev, sizeof(*a.br));
	if (!a.ds || !a.items || !a.used || !a.br)
		goto out;
	for (struct pci_dev *d = list; d; d = d->next)
		a.ds[i++].dev = d;
	for (i = 0; i < res->nr_reserved && i < PCI_MAX_RESERVED; i++)
		use(&a, res->reserved[i].base, res->reserved[i].limit, true);

	keep_firmware(&a);
	collect(&a);
	rc = place_all(&a, a.nused);
	if (rc)
		goto out;

	/* 4. Write: nothing of a failed device, every placed BAR and window of the rest. */
	for (struct pci_dev *d = list; d; d = d->next)
		if (d->header_type == PCI_HEADER_BRIDGE && state(&a, d)->failed)
			fail_behind(&a, d);
	for (struct pci_dev *d = list; d; d = d->next)
		if (state(&a, d)->failed)
			disable_device(&a, d);
	for (i = 0; i < a.nbr; i++)
		if (!state(&a, a.br[i].dev)->failed)
			program_bridge(&a, &a.br[i]);
	for (struct pci_dev *d = list; d; d = d->next)
		if (!state(&a, d)->failed)
			program_device(&a, d);
	summary(&a);
	rc = (int)a.disabled;
out:
	free(a.br);
	free(a.used);
	free(a.items);
	free(a.ds);
	return rc;
}
