// SPDX-License-Identifier: GPL-2.0
/*
 * atls.ko: attested TLS opt-in for TCP sockets, with kTLS record encryption.
 *
 * Module entry points only: init and exit order the subsystems. The ULP is
 * registered last, so no socket can opt in before the upcall exists, and
 * unregistered first. Unload is safe while sockets exist because it cannot
 * happen: every atls socket holds a reference on this module through its
 * ULP (tcp_set_ulp), and every request holds its socket.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/printk.h>

#include "atls.h"

#ifndef ATLS_VERSION
#define ATLS_VERSION "unknown"
#endif

static int __init atls_init(void)
{
	int err;

	err = atls_rekey_init();
	if (err)
		return err;
	err = atls_stats_init();
	if (err)
		return err;
	err = atls_req_init();
	if (err)
		goto stats_exit;
	err = atls_listen_init();
	if (err)
		goto req_exit;
	err = atls_genl_init();
	if (err)
		goto listen_exit;
	err = atls_ulp_register();
	if (err)
		goto genl_exit;
	pr_info("version %s loaded\n", ATLS_VERSION);
	return 0;

genl_exit:
	atls_genl_exit();
listen_exit:
	atls_listen_exit();
req_exit:
	atls_req_exit();
stats_exit:
	atls_stats_exit();
	return err;
}

static void __exit atls_exit(void)
{
	atls_ulp_unregister();
	atls_genl_exit();
	atls_listen_exit();
	atls_req_exit();
	atls_stats_exit();
	atls_rekey_exit();
	pr_info("version %s unloaded\n", ATLS_VERSION);
}

module_init(atls_init);
module_exit(atls_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Attested TLS: setsockopt opt-in, TPM-attested handshakes, kTLS");
MODULE_VERSION(ATLS_VERSION);
