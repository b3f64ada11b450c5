// SPDX-License-Identifier: GPL-2.0
/*
 * atls.ko: attested TLS opt-in for TCP sockets, with kTLS record encryption.
 *
 * Module entry points only: init and exit order the subsystems. Today the
 * module only announces itself; the ULP, the gate and the netlink upcall
 * grow from here.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/printk.h>

#ifndef ATLS_VERSION
#define ATLS_VERSION "unknown"
#endif

static int __init atls_init(void)
{
	pr_info("version %s loaded\n", ATLS_VERSION);
	return 0;
}

static void __exit atls_exit(void)
{
	pr_info("version %s unloaded\n", ATLS_VERSION);
}

module_init(atls_init);
module_exit(atls_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Attested TLS: setsockopt opt-in, TPM-attested handshakes, kTLS");
MODULE_VERSION(ATLS_VERSION);
