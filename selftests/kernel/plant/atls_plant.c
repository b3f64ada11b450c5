// SPDX-License-Identifier: GPL-2.0
/*
 * atls_plant: a test-only module that commits one memory error on purpose,
 * so the memory-error detection of the test VMs (tools/vm/memdbg.sh) and the
 * kernel-log scan (tools/vm/kmsg-scan.sh) can be shown to catch it.  Never
 * part of atls.ko: scripts/build-kmod.sh builds it apart, into
 * build/kmod/<kver>/plant/, and only selftests/memdbg_test.sh loads it.
 *
 * Loading it plants nothing.  Writing a kind to its parameter
 * (/sys/module/atls_plant/parameters/plant) commits that error at once:
 *   none         allocate, use and free correctly (must leave no report)
 *   redzone      write one byte past an object, then free it (SLUB red zone)
 *   double-free  free an object twice (SLUB "Object already free")
 *   uaf-write    write into a freed object (SLUB poison; reported when the
 *                cache is validated: /sys/kernel/slab/atls_plant_uaf/validate)
 *   list         delete a list entry whose neighbour was corrupted
 *                (DEBUG_LIST; BUG_ON_DATA_CORRUPTION turns it into a BUG)
 *   kfence       read a freed KFENCE object (needs CONFIG_KFENCE and
 *                kfence.sample_interval > 0; EOPNOTSUPP otherwise)
 * A write fails with the kind's errno if it could not be planted (EINVAL for
 * an unknown kind).  After a plant the cache holds damaged objects: the
 * module is meant to stay loaded until the VM powers off (unloading it would
 * only add reports of the cache's shutdown).
 * Each SLUB kind has a cache of its own (atls_plant_<kind>), so only the
 * module's objects are damaged and one kind's damage (6.1 marks a slab it
 * found inconsistent as full) cannot hide the next; objects KFENCE happened
 * to sample are skipped there, so each kind is caught by the detector it is
 * meant for.
 */
#include <linux/delay.h>
#include <linux/jiffies.h>
#include <linux/kfence.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/string.h>

#define PLANT_SIZE 48

/* The cache of the kind being planted (set under the parameter lock). */
static struct kmem_cache *plant_cache;

/* An object of our cache that is not a KFENCE one (see the top comment). */
static u8 *plant_alloc(void)
{
	u8 *kept[8];
	u8 *p = NULL;
	int i, n = 0;

	for (i = 0; i < ARRAY_SIZE(kept); i++) {
		p = kmem_cache_alloc(plant_cache, GFP_KERNEL);
		if (!p || !is_kfence_address(p))
			break;
		kept[n++] = p;
		p = NULL;
	}
	while (n--)
		kmem_cache_free(plant_cache, kept[n]);
	return p;
}

static int plant_none(void)
{
	u8 *p = plant_alloc();
	LIST_HEAD(head);
	struct list_head a, b;

	if (!p)
		return -ENOMEM;
	memset(p, 0x5c, PLANT_SIZE);
	kmem_cache_free(plant_cache, p);
	list_add(&a, &head);
	list_add(&b, &head);
	list_del(&a);
	list_del(&b);
	return 0;
}

static int plant_redzone(void)
{
	u8 *p = plant_alloc();

	if (!p)
		return -ENOMEM;
	((volatile u8 *)p)[PLANT_SIZE] = 0x42;	/* one byte past the object */
	kmem_cache_free(plant_cache, p);
	return 0;
}

/*
 * A neighbour stays allocated, as in real life: with the slab otherwise empty
 * SLUB reports the second free by its count ("Slab has 0 allocated objects
 * but 1 are to be freed") before it looks for the object on the freelist.
 */
static int plant_double_free(void)
{
	u8 *neighbour = plant_alloc();
	u8 *p = plant_alloc();

	if (!neighbour || !p)
		return -ENOMEM;
	kmem_cache_free(plant_cache, p);
	kmem_cache_free(plant_cache, p);
	return 0;	/* the neighbour stays: the cache is damaged for good */
}

static int plant_uaf_write(void)
{
	u8 *p = plant_alloc();

	if (!p)
		return -ENOMEM;
	kmem_cache_free(plant_cache, p);
	((volatile u8 *)p)[PLANT_SIZE / 2] = 0x42;
	return 0;
}

static int plant_list(void)
{
	LIST_HEAD(head);
	struct list_head a, b;

	list_add_tail(&a, &head);
	list_add_tail(&b, &head);
	WRITE_ONCE(b.prev, &b);		/* a's successor no longer points back */
	list_del(&a);
	return 0;
}

/*
 * KFENCE serves one allocation per sample interval: allocate until one is
 * a KFENCE object (a few intervals at most on an idle guest), free it, read it.
 */
static int plant_kfence(void)
{
	unsigned long end = jiffies + 10 * HZ;
	u8 *p;

	if (!IS_ENABLED(CONFIG_KFENCE))
		return -EOPNOTSUPP;
	while (time_before(jiffies, end)) {
		p = kmalloc(PLANT_SIZE, GFP_KERNEL);
		if (!p)
			return -ENOMEM;
		if (is_kfence_address(p)) {
			kfree(p);
			pr_info("atls_plant: reading a freed KFENCE object\n");
			(void)READ_ONCE(p[0]);
			return 0;
		}
		kfree(p);
		usleep_range(200, 400);
	}
	pr_info("atls_plant: no KFENCE object in 10 s (sampling off?)\n");
	return -EOPNOTSUPP;
}

static struct {
	const char *name;
	int (*run)(void);
	const char *cache_name;	/* NULL: the kind needs no cache */
	struct kmem_cache *cache;
} plants[] = {
	{ "none", plant_none, "atls_plant_none" },
	{ "redzone", plant_redzone, "atls_plant_redzone" },
	{ "double-free", plant_double_free, "atls_plant_dfree" },
	{ "uaf-write", plant_uaf_write, "atls_plant_uaf" },
	{ "list", plant_list, NULL },
	{ "kfence", plant_kfence, NULL },
};

/* Writes are serialised by the module parameter lock (kernel_param_lock). */
static int plant_set(const char *val, const struct kernel_param *kp)
{
	size_t len = strcspn(val, "\n");
	int i;

	if (!plants[0].cache)	/* given to insmod: init has not run yet */
		return -EBUSY;
	for (i = 0; i < ARRAY_SIZE(plants); i++) {
		if (strlen(plants[i].name) == len && !strncmp(val, plants[i].name, len)) {
			pr_info("atls_plant: planting '%s'\n", plants[i].name);
			plant_cache = plants[i].cache;
			return plants[i].run();
		}
	}
	return -EINVAL;
}

static const struct kernel_param_ops plant_ops = {
	.set = plant_set,
};
module_param_cb(plant, &plant_ops, NULL, 0200);
MODULE_PARM_DESC(plant, "write a kind to commit that memory error: none, redzone, double-free, uaf-write, list, kfence");

static void plant_destroy_caches(void)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(plants); i++) {
		kmem_cache_destroy(plants[i].cache);	/* NULL is a no-op */
		plants[i].cache = NULL;
	}
}

static int __init atls_plant_init(void)
{
	int i;

	/* Last to first: plants[0].cache set means init is done (plant_set). */
	for (i = ARRAY_SIZE(plants) - 1; i >= 0; i--) {
		if (!plants[i].cache_name)
			continue;
		plants[i].cache = kmem_cache_create(plants[i].cache_name,
						    PLANT_SIZE, 0, 0, NULL);
		if (!plants[i].cache) {
			plant_destroy_caches();
			return -ENOMEM;
		}
	}
	return 0;
}

static void __exit atls_plant_exit(void)
{
	plant_destroy_caches();
}

module_init(atls_plant_init);
module_exit(atls_plant_exit);
MODULE_DESCRIPTION("atls test only: commits a chosen memory error on purpose");
MODULE_LICENSE("GPL");
