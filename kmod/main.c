// SPDX-License-Identifier: GPL-2.0
/*
 * atls.ko: attested TLS opt-in for TCP sockets, with kTLS record encryption.
 *
 * Module entry points only: init and exit order the subsystems. The pernet
 * data (struct atls_net) exists before the upcall and the ULP that use it.
 * The ULP is registered last, so no socket can opt in before the upcall
 * exists, and unregistered first. Unload is safe while sockets exist because it cannot
 * happen: every atls socket holds a reference on this module through its
 * ULP (tcp_set_ulp), and every request holds its socket.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/printk.h>
#include <net/net_namespace.h>

#include "atls.h"

#ifndef ATLS_VERSION
#define ATLS_VERSION "unknown"
#endif

unsigned int atls_net_id __read_mostly;

static __net_init int atls_net_init(struct net *net)
{
	atls_genl_net_init(atls_net(net));
	return 0;
}

static __net_exit void atls_net_exit(struct net *net)
{
	atls_genl_net_exit(atls_net(net));
}

static struct pernet_operations atls_net_ops = {
	.init	= atls_net_init,
	.exit	= atls_net_exit,
	.id	= &atls_net_id,
	.size	= sizeof(struct atls_net),
};

static int __init atls_init(void)
{
	int err;

	err = atls_rekey_init();
	if (err)
		return err;
	err = atls_stats_init();
	if (err)
		return err;
	err = register_pernet_subsys(&atls_net_ops);
	if (err)
		goto stats_exit;
	err = atls_req_init();
	if (err)
		goto pernet_exit;
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
pernet_exit:
	unregister_pernet_subsys(&atls_net_ops);
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
	unregister_pernet_subsys(&atls_net_ops);
	atls_stats_exit();
	atls_rekey_exit();
	pr_info("version %s unloaded\n", ATLS_VERSION);
}

module_init(atls_init);
module_exit(atls_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Attested TLS: setsockopt opt-in, TPM-attested handshakes, kTLS");
MODULE_VERSION(ATLS_VERSION);
